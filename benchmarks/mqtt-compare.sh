#!/usr/bin/env bash
# MQTT ingest only, side by side: the edgelog agent with --fsync always,
# Mosquitto with persistence, and NATS with MQTT + JetStream, each started
# fresh for every run (scenario 1 of the suite; run-all.sh runs them all).
#
#   benchmarks/mqtt-compare.sh [ROUNDS]
set -euo pipefail
exec "$(dirname "$0")/run-all.sh" -scenarios ingest -rounds "${1:-3}"
