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
# VictoriaMetrics: Debian's victoria-metrics (1.79), the Prometheus text imported through
# /api/v1/import/prometheus, then /internal/force_flush and /internal/force_merge, stopped
# cleanly; its bytes are data/ (samples) and indexdb/ (index), reported apart and summed.
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
command -v victoria-metrics >/dev/null ||
  bench_die "victoria-metrics not found (apt-get install victoria-metrics)"
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

# vm_load DIR FILE: imports FILE into a fresh VictoriaMetrics under DIR/vm, merges, stops it;
# prints "data_bytes indexdb_bytes rows".
vm_load() {
  local dir=$1 file=$2 port pid url rows i
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  url=http://127.0.0.1:$port
  victoria-metrics -storageDataPath="$dir/vm" -httpListenAddr="127.0.0.1:$port" \
    -retentionPeriod=100y -loggerLevel=ERROR >"$dir/vm.log" 2>&1 &
  pid=$!
  for i in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.2; done
  split -l 500000 "$file" "$dir/vmpart."
  for part in "$dir"/vmpart.*; do
    curl -sf --data-binary @"$part" "$url/api/v1/import/prometheus" || bench_die "VictoriaMetrics import failed"
    rm -f "$part"
  done
  curl -sf "$url/internal/force_flush" >/dev/null
  sleep 2
  curl -sf "$url/internal/force_merge" >/dev/null
  # Wait for the merges to finish: no active merges and the row count steady.
  local prev=""
  for i in $(seq 300); do
    sleep 2
    local m
    m=$(curl -sf "$url/metrics")
    rows=$(awk '/^vm_rows\{type="storage\// { s += $2 } END { print s + 0 }' <<<"$m")
    local active
    active=$(awk '/^vm_active_merges\{type="storage\// { s += $2 } END { print s + 0 }' <<<"$m")
    [ "$active" = 0 ] && [ "$rows" = "$prev" ] && break
    prev=$rows
  done
  kill -INT "$pid"; wait "$pid" || true
  local data idx
  data=$(find "$dir/vm/data" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  idx=$(find "$dir/vm/indexdb" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  echo "$data $idx $rows"
}

printf '%-4s %10s %8s %10s %16s %12s %8s %8s %12s %8s %8s\n' set samples series prom_B/smp vm_B/smp+idx lk2h_B/smp /prom /vm lkcmp_B/smp /prom /vm
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
  bench_log "set $set: VictoriaMetrics import + force_merge"
  read -r vm_data vm_idx vm_rows < <(vm_load "$d" "$d/data.prom")
  [ "$vm_rows" = "$prom_samples" ] || bench_log "WARNING: sample counts differ: victoria-metrics $vm_rows, prometheus $prom_samples"
  bench_log "set $set: lookout blocks"
  "$BIN" size "$d/data.prom" "$d/lookout" >"$d/lookout.jsonl"
  read -r lk_samples lk_series lk2h_bytes lkc_bytes < <(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
s = {r["stage"]: r for r in rows}
print(s["2h"]["samples"], s["2h"]["series"], s["2h"]["bytes"], s["compacted"]["bytes"])' "$d/lookout.jsonl")
  [ "$lk_samples" = "$prom_samples" ] || bench_log "WARNING: sample counts differ: lookout $lk_samples, prometheus $prom_samples"
  python3 - "$set" "$prom_samples" "$prom_bytes" "$lk_samples" "$lk_series" "$lk2h_bytes" "$lkc_bytes" "$OUT" "$SEP" "$vm_data" "$vm_idx" "$vm_rows" <<'PY'
import sys, json
set_, ps, pb, ls, lser, l2, lc, out, sep, vd, vi, vr = sys.argv[1:]
ps, pb, ls, lser, l2, lc, vd, vi, vr = map(int, (ps, pb, ls, lser, l2, lc, vd, vi, vr))
p, a, c = pb / ps, l2 / ls, lc / ls
v, vx = vd / vr, (vd + vi) / vr
vtxt = f"{v:.3f}+{vx - v:.3f}"
print(f"{set_:<4} {ls:>10} {lser:>8} {p:>10.3f} {vtxt:>16} {a:>12.3f} {a / p:>8.3f} {a / vx:>8.3f}"
      f" {c:>12.3f} {c / p:>8.3f} {c / vx:>8.3f}")
row = dict(set=set_, samples=ls, series=lser, prometheus_bytes=pb, prometheus_samples=ps,
           prometheus_bytes_per_sample=round(p, 4),
           vm_data_bytes=vd, vm_indexdb_bytes=vi, vm_samples=vr,
           vm_bytes_per_sample=round(v, 4), vm_bytes_per_sample_with_index=round(vx, 4),
           lookout_2h_bytes=l2,
           lookout_2h_bytes_per_sample=round(a, 4), lookout_2h_ratio=round(a / p, 4),
           lookout_2h_ratio_vm=round(a / vx, 4),
           lookout_compacted_bytes=lc, lookout_compacted_bytes_per_sample=round(c, 4),
           lookout_compacted_ratio=round(c / p, 4), lookout_compacted_ratio_vm=round(c / vx, 4),
           lookout_compacted_ratio_vm_data_only=round(c / v, 4))
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
