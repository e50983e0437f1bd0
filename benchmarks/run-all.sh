#!/usr/bin/env bash
# The side-by-side benchmark suite: edgelog against Mosquitto and NATS on
# this machine, every system started fresh on loopback for each
# measurement. Installs the Debian packages mosquitto and nats-server when
# they are missing (as root), builds edgelog, runs benchmarks/cmd/compare
# and writes benchmarks/results/*.json, benchmarks/results/report.md and
# benchmarks/plots/*.png. Arguments go to compare, e.g.:
#
#   benchmarks/run-all.sh                        # everything, 3 rounds (about 40 minutes on 2 cores)
#   benchmarks/run-all.sh -quick                 # a one-round smoke run with small sizes
#   benchmarks/run-all.sh -scenarios loss,drain -rounds 5
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or they are skipped" >&2
  fi
fi
# Debian installs both under /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin"
# The suite's brokers must not be started by the packages' own services.
for svc in mosquitto nats-server; do
  systemctl is-active --quiet "$svc" 2>/dev/null && echo "note: the $svc service is running; the suite uses its own instances on other ports" >&2
done

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/edgelog" ./cmd/edgelog
go build -o "$bin/compare" ./benchmarks/cmd/compare
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$bin/compare" -edgelog "$bin/edgelog" -command "benchmarks/run-all.sh $*" "$@"
