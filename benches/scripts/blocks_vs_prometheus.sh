#!/usr/bin/env bash
# Bytes per sample of lookout's blocks next to Prometheus' on the same samples.
#
#   benches/scripts/blocks_vs_prometheus.sh [--sets "a a1 b"] [--restart "SERIES HOURS"]
#                                           [--no-build] [--keep]
#
# Data sets (from ../shared, see shared/README.md):
#   a   fixtures/node-exporter-6h.prom.gz: 507 real node-exporter series x 1,440 scrapes,
#       15 s apart with +-3 ms of jitter
#   a1  the same with the jitter removed (exact 15 s stamps)
#   b   tools/gen_series.py 20 500 6: 10,000 synthetic series x 6 h
# Prometheus: Debian's promtool (2.42) `tsdb create-blocks-from openmetrics` (2 h blocks) on
# the OpenMetrics form (tools/prom_to_om.py). lookout: the `block_size` binary writes 2 h
# blocks as the head cut does, then merges them into one block as compaction does.
# Bytes are the chunk files plus the index of every block (meta.json, tombstones excluded).
# --restart "SERIES HOURS" also times `Db::open` after SERIES series x HOURS through the WAL.
# Results: a table on stdout and target/bench-results/blocks_vs_prometheus.json.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SETS="a a1 b"
RESTART=""
BUILD=1
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sets) SETS=$2; shift 2 ;;
    --restart) RESTART=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    *) bench_die "unknown argument $1" ;;
  esac
done

ROOT=$(bench_repo_root)
SHARED=${SHARED:-$ROOT/../shared}
[ -d "$SHARED/fixtures" ] || SHARED=/work/shared
TARGET=$(bench_target_dir)
command -v promtool >/dev/null || bench_die "promtool not found (apt-get install prometheus)"
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p lookout-benches --bin block_size)
fi
BIN=${BLOCK_SIZE_BIN:-$TARGET/release/block_size}
[ -x "$BIN" ] || bench_die "$BIN missing (build it or drop --no-build)"

WORK=$(mktemp -d)
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$TARGET/bench-results"
OUT=$TARGET/bench-results/blocks_vs_prometheus.json
echo "[" >"$OUT"
SEP=""

dejitter() {
  python3 -c '
import sys
base = 1_700_000_000_000
for line in sys.stdin:
    key, val, ts = line.rstrip("\n").rsplit(" ", 2)
    t = base + round((int(ts) - base) / 15000) * 15000
    sys.stdout.write(f"{key} {val} {t}\n")
'
}

printf '%-4s %10s %8s %12s %12s %8s %12s %8s\n' set samples series prom_B/smp lk2h_B/smp ratio lkcmp_B/smp ratio
for set in $SETS; do
  d=$WORK/$set
  mkdir -p "$d"
  case "$set" in
    a) zcat "$SHARED/fixtures/node-exporter-6h.prom.gz" >"$d/data.prom" ;;
    a1) zcat "$SHARED/fixtures/node-exporter-6h.prom.gz" | dejitter >"$d/data.prom" ;;
    b) python3 "$SHARED/tools/gen_series.py" 20 500 6 >"$d/data.prom" ;;
    *) bench_die "unknown set $set" ;;
  esac
  python3 "$SHARED/tools/prom_to_om.py" <"$d/data.prom" >"$d/data.om"
  bench_log "set $set: promtool create-blocks-from openmetrics"
  promtool tsdb create-blocks-from openmetrics -q "$d/data.om" "$d/prom" >/dev/null
  prom_bytes=$(find "$d/prom" -path '*/chunks/*' -type f -printf '%s\n' -o -name index -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  prom_samples=$(cat "$d"/prom/*/meta.json | python3 -c '
import sys, json, re
text = sys.stdin.read()
total = sum(int(m) for m in re.findall(r"\"numSamples\":\s*(\d+)", text))
print(total)')
  bench_log "set $set: lookout blocks"
  "$BIN" size "$d/data.prom" "$d/lookout" >"$d/lookout.jsonl"
  read -r lk_samples lk_series lk2h_bytes lkc_bytes < <(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
s = {r["stage"]: r for r in rows}
print(s["2h"]["samples"], s["2h"]["series"], s["2h"]["bytes"], s["compacted"]["bytes"])' "$d/lookout.jsonl")
  [ "$lk_samples" = "$prom_samples" ] || bench_log "WARNING: sample counts differ: lookout $lk_samples, prometheus $prom_samples"
  python3 - "$set" "$prom_samples" "$prom_bytes" "$lk_samples" "$lk_series" "$lk2h_bytes" "$lkc_bytes" "$OUT" "$SEP" <<'PY'
import sys, json
set_, ps, pb, ls, lser, l2, lc, out, sep = sys.argv[1:]
ps, pb, ls, lser, l2, lc = int(ps), int(pb), int(ls), int(lser), int(l2), int(lc)
p, a, c = pb / ps, l2 / ls, lc / ls
print(f"{set_:<4} {ls:>10} {lser:>8} {p:>12.3f} {a:>12.3f} {a / p:>8.3f} {c:>12.3f} {c / p:>8.3f}")
row = dict(set=set_, samples=ls, series=lser, prometheus_bytes=pb, prometheus_samples=ps,
           prometheus_bytes_per_sample=round(p, 4), lookout_2h_bytes=l2,
           lookout_2h_bytes_per_sample=round(a, 4), lookout_2h_ratio=round(a / p, 4),
           lookout_compacted_bytes=lc, lookout_compacted_bytes_per_sample=round(c, 4),
           lookout_compacted_ratio=round(c / p, 4))
with open(out, "a") as f:
    f.write(sep + json.dumps(row) + "\n")
PY
  SEP=","
done

if [ -n "$RESTART" ]; then
  # shellcheck disable=SC2086
  set -- $RESTART
  bench_log "restart: $1 series x $2 h through the WAL, then Db::open"
  r=$("$BIN" restart "$WORK/restart" "$1" "$2")
  echo "$r"
  echo "$SEP$r" >>"$OUT"
fi
echo "]" >>"$OUT"
bench_log "wrote $OUT"
