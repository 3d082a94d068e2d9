#!/usr/bin/env bash
# Alert notification latency end to end: the real `lookout` binary scrapes N loopback targets
# that go down one after another; the rule `up == 0` with `for` fires; a loopback webhook
# receiver timestamps each alert's first firing message. Reports the distribution of
# (arrival − (condition began + for)) against the bound "one evaluation interval + 1 s".
#
#   benches/scripts/alert_latency.sh [--alerts 50] [--for 5] [--eval-interval 2] \
#       [--scrape-interval-ms 1000] [--stagger 10] [--listen 127.0.0.1:19092]
#
# Builds both binaries in release (skip with --no-build; LOOKOUT_BIN overrides the binary) and
# writes target/bench-results/alert_latency.json (or --out FILE).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
cd "$HERE/../.."
TARGET=$(bench_target_dir)
build=1
out=(--out "$TARGET/bench-results/alert_latency.json")
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --out | --out=*) out=(); args+=("$a") ;;
    *) args+=("$a") ;;
  esac
done
if [ "$build" = 1 ]; then
  bench_log "building lookout and alert_latency (release)"
  cargo build --release -q -p lookout-collector --bin lookout -p lookout-benches --bin alert_latency
fi
LOOKOUT_BIN=${LOOKOUT_BIN:-$TARGET/release/lookout}
[ -x "$LOOKOUT_BIN" ] || bench_die "no lookout binary at $LOOKOUT_BIN"
exec "$TARGET/release/alert_latency" --lookout "$LOOKOUT_BIN" "${out[@]}" "${args[@]}"
