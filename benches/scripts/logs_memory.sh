#!/usr/bin/env bash
# Memory (and CPU) of the real `lookout` binary while it tails pod logs written at a fixed
# rate (the issue's goal: under 200 MB while ingesting 20 MB/s).
#
#   benches/scripts/logs_memory.sh [--rate BYTES_PER_S] [--duration S] [--pods N]
#                                  [--writer-memory SIZE] [--no-build]
#
# Builds `lookout` and `log_writer` in release, starts lookout with log tailing on a temp
# pods root (Kubernetes discovery off), runs `log_writer` for DURATION seconds, samples
# lookout's VmRSS, RssAnon (heap, stacks) and RssFile (mapped files: tantivy mmaps its
# segments, so pages of index files read by searches and merges count here) every second,
# then waits (up to 120 s) until lookout has read every byte
# written (`lookout_log_bytes_read_total`) and reports peak RSS (VmHWM), CPU seconds, the
# bytes read during the write phase, and how long the catch-up took. Writes
# target/bench-results/logs_memory.json.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(bench_repo_root)"

RATE=20000000
DURATION=60
PODS=4
BUILD=1
WRITER_MEMORY=
PORT=${LOOKOUT_PORT:-19393}
while [ $# -gt 0 ]; do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --pods) PODS=$2; shift 2 ;;
    --writer-memory) WRITER_MEMORY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) bench_die "unknown argument $1" ;;
  esac
done

TARGET=$(bench_target_dir)
if [ "$BUILD" = 1 ]; then
  bench_log "building lookout and log_writer (release)"
  cargo build --release -q -p lookout-collector --bin lookout
  cargo build --release -q -p lookout-benches --bin log_writer
fi
LOOKOUT=${LOOKOUT_BIN:-$TARGET/release/lookout}
WRITER=${LOG_WRITER_BIN:-$TARGET/release/log_writer}
[ -x "$LOOKOUT" ] || bench_die "no $LOOKOUT"
[ -x "$WRITER" ] || bench_die "no $WRITER"

WORK=$(mktemp -d -t lookout-logs-mem-XXXXXX)
trap 'stop_process "${LPID:-0}" 10; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/pods"
cat >"$WORK/lookout.yaml" <<YAML
scrape_configs: []
kubernetes:
  enabled: false
logs:
  enabled: true
  pods_root: $WORK/pods
  node: bench
YAML
if [ -n "$WRITER_MEMORY" ]; then
  printf '  index:\n    writer_memory: %s\n' "$WRITER_MEMORY" >>"$WORK/lookout.yaml"
fi

"$LOOKOUT" agent --config "$WORK/lookout.yaml" --data-dir "$WORK/data" \
  --listen "127.0.0.1:$PORT" >"$WORK/lookout.log" 2>&1 &
LPID=$!
wait_for_http "http://127.0.0.1:$PORT/-/ready" 30 "$LPID" || {
  cat "$WORK/lookout.log" >&2
  bench_die "lookout did not start"
}
bytes_read() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk '$1 == "lookout_log_bytes_read_total" { print $2 }'
}
rss0=$(proc_rss_kib "$LPID")
cpu0=$(proc_cpu_seconds "$LPID")
bench_log "lookout pid $LPID RSS $(kib_to_mib "$rss0") MiB; writing $RATE B/s for ${DURATION}s into $PODS pods"

"$WRITER" --pods-root "$WORK/pods" --rate "$RATE" --duration "$DURATION" --pods "$PODS" >"$WORK/writer.out" &
WPID=$!
max_rss=0 max_anon=0 max_file=0
sample() {
  local r a f
  r=$(proc_rss_kib "$LPID" || echo 0)
  a=$(proc_status_kib "$LPID" RssAnon || echo 0)
  f=$(proc_status_kib "$LPID" RssFile || echo 0)
  [ "$r" -gt "$max_rss" ] && max_rss=$r
  [ "$a" -gt "$max_anon" ] && max_anon=$a
  [ "$f" -gt "$max_file" ] && max_file=$f
  return 0
}
while kill -0 "$WPID" 2>/dev/null; do
  sample
  sleep 1
done
wait "$WPID"
read_at_end=$(bytes_read)
written=$(awk '/^wrote/ { print $4 }' "$WORK/writer.out")
bench_log "writer: $(grep wrote "$WORK/writer.out"); lookout read $read_at_end bytes by then"
t_end=$(date +%s.%N)
caught_up=null
for _ in $(seq 1 240); do
  sample
  if [ "$(bytes_read)" -ge "$written" ]; then
    caught_up=$(awk -v a="$(date +%s.%N)" -v b="$t_end" 'BEGIN { printf "%.1f", a - b }')
    break
  fi
  sleep 0.5
done
hwm=$(proc_peak_rss_kib "$LPID")
cpu1=$(proc_cpu_seconds "$LPID")
cpu=$(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN { printf "%.1f", a - b }')
mbps=$(awk -v b="$read_at_end" -v d="$DURATION" 'BEGIN { printf "%.1f", b / d / 1e6 }')
index_mb=$(du -sm "$WORK/data/logs/index" | awk '{ print $1 }')

printf '\n%-40s %s\n' "rate asked (MB/s)" "$(awk -v r="$RATE" 'BEGIN { printf "%.1f", r / 1e6 }')"
printf '%-40s %s\n' "bytes written" "$written"
printf '%-40s %s\n' "read during the write phase (MB/s)" "$mbps"
printf '%-40s %s\n' "catch-up after the writer stopped (s)" "$caught_up"
printf '%-40s %s\n' "peak RSS VmHWM (MiB)" "$(kib_to_mib "$hwm")"
printf '%-40s %s\n' "max sampled VmRSS (MiB)" "$(kib_to_mib "$max_rss")"
printf '%-40s %s\n' "max sampled RssAnon (MiB)" "$(kib_to_mib "$max_anon")"
printf '%-40s %s\n' "max sampled RssFile (MiB)" "$(kib_to_mib "$max_file")"
printf '%-40s %s\n' "CPU seconds (write + catch-up)" "$cpu"
printf '%-40s %s\n' "index on disk (MB)" "$index_mb"
printf '%-40s %s\n' "machine load average" "$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$TARGET/bench-results"
cat >"$TARGET/bench-results/logs_memory.json" <<JSON
{"rate": $RATE, "duration_s": $DURATION, "pods": $PODS, "bytes_written": $written,
 "read_mb_per_s_during_write": $mbps, "catch_up_s": $caught_up, "vmhwm_kib": $hwm,
 "max_vmrss_kib": $max_rss, "max_rssanon_kib": $max_anon, "max_rssfile_kib": $max_file, "cpu_s": $cpu, "index_mb": $index_mb}
JSON
[ "$caught_up" != null ] || bench_die "lookout did not read everything within 120 s after the writer stopped"
