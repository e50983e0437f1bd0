#!/usr/bin/env bash
# Side-by-side MQTT ingest benchmark, all brokers in one run on this machine:
# the edgelog agent with --fsync always, Mosquitto with persistence, and NATS
# with MQTT + JetStream, each started fresh for every run, under the same
# pipelined QoS 1 load (10 clients × 20,000 and 100 clients × 2,000 messages,
# 200-byte payloads, 100 in flight per client). Prints a Markdown table for
# benchmarks/RESULTS.md; progress goes to stderr.
#
#   apt-get install mosquitto nats-server   # brokers missing are skipped
#   benchmarks/mqtt-compare.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/edgelog" ./cmd/edgelog
go build -o "$bin/mqttload" ./benchmarks/mqttload
"$bin/mqttload" -compare -edgelog "$bin/edgelog" -rounds "$rounds" \
  -qos 1 -size 200 -inflight 100
