#!/usr/bin/env bash
# PromQL latency side by side: loads the same data into Debian's Prometheus and lookout (both
# through remote write) and times a set of range queries against both over HTTP.
#
#   benches/scripts/promql_vs_prometheus.sh [--series 10000] [--iterations 5] [--prometheus PATH]
#
# Prints a table: median latency per query for Prometheus and lookout, and their ratio
# (>1 means lookout is faster).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE/../.."
exec cargo run --release -q -p lookout-benches --bin promql_compare -- "$@"
