#!/usr/bin/env bash
# Benchmarks exposition parsing on a live node_exporter scrape of this machine.
#
# Installs Debian's prometheus-node-exporter if missing, runs it on loopback
# (127.0.0.1:9910), saves one /metrics body to a temp file, stops it, then runs
#   LOOKOUT_BENCH_NODE_EXPORTER=<file> cargo bench -p lookout-benches --bench parse
# and prints MB/s and samples/s for lookout vs prometheus-parse, with the ratio.
# Extra arguments go to criterion (e.g. `-- --measurement-time 10`).
set -euo pipefail
cd "$(dirname "$0")/../.."

ADDR=127.0.0.1:9910
BIN=prometheus-node-exporter

if ! command -v "$BIN" >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$BIN" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq "$BIN"
  }
fi

body=$(mktemp -t node-exporter-XXXXXX.prom)
log=$(mktemp -t node-exporter-XXXXXX.log)
"$BIN" --web.listen-address="$ADDR" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 50); do
  if curl -fsS -H 'Accept: text/plain;version=0.0.4' "http://$ADDR/metrics" -o "$body" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ ! -s "$body" ]; then
  echo "could not scrape node_exporter on $ADDR; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "scraped $(wc -c <"$body") bytes, $(grep -vc '^#' "$body") sample lines into $body"

bench_log=$(mktemp -t parse-bench-XXXXXX.log)
LOOKOUT_BENCH_NODE_EXPORTER="$body" cargo bench -p lookout-benches --bench parse -- "$@" 2>&1 | tee "$bench_log"

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
python3 - "$bench_log" "$target_dir/criterion" <<'EOF'
import json, os, re, sys
log, root = sys.argv[1], sys.argv[2]
sizes = {}
for m in re.finditer(r"parse bench payload (\S+): (\d+) bytes, (\d+) samples", open(log).read()):
    sizes[m.group(1)] = (int(m.group(2)), int(m.group(3)))
for payload, (nbytes, nsamples) in sizes.items():
    print(f"\n{payload}: {nbytes} bytes, {nsamples} samples (time per parse)")
    rates = {}
    for variant in ("lookout", "lookout_cache_miss", "prometheus_parse"):
        path = os.path.join(root, f"parse_{payload}", variant, "new", "estimates.json")
        try:
            est = json.load(open(path))
        except OSError:
            continue
        # criterion's headline figure: the slope for linear sampling, else the mean.
        ns = (est.get("slope") or est["mean"])["point_estimate"]
        secs = ns * 1e-9
        rates[variant] = nbytes / secs
        print(f"  {variant:20} {ns / 1e3:10.1f} us  {nbytes / secs / 1e6:8.1f} MB/s"
              f"  {nsamples / secs / 1e6:7.2f} M samples/s")
    if "lookout" in rates and "prometheus_parse" in rates:
        print(f"  lookout / prometheus-parse: {rates['lookout'] / rates['prometheus_parse']:.1f}x")
EOF
