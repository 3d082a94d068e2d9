#!/usr/bin/env bash
# Memory (and CPU) of the real `lookout` binary while it tails pod logs written at a fixed
# rate (the issue's goal: under 200 MB while ingesting 20 MB/s).
#
#   benches/scripts/logs_memory.sh [--rate BYTES_PER_S] [--duration S] [--pods N]
#                                  [--writer-memory SIZE] [--no-build]
#                                  [--rotate-bytes N] [--keep-rotated N]
#                                  [--release-timeout DURATION] [--max-deleted-backlog SIZE]
#                                  [--catchup-timeout S]
#
# Builds `lookout` and `log_writer` in release, starts lookout with log tailing on a temp
# pods root (Kubernetes discovery off), runs `log_writer` for DURATION seconds, samples
# lookout's VmRSS, RssAnon (heap, stacks) and RssFile (mapped files: tantivy mmaps its
# segments, so pages of index files read by searches and merges count here) every second,
# then waits (up to --catchup-timeout, 120 s) until every byte written is accounted for: read
# (`lookout_log_bytes_read_total`) or counted as lost (`lookout_log_bytes_lost_total`, by
# the limits `logs.release_timeout` and `logs.max_deleted_backlog`), and reports peak RSS
# (VmHWM), CPU seconds, the bytes read during the write phase, how long the catch-up took,
# and the "nothing dropped silently" check: written == read + lost. The writer rotates every
# --rotate-bytes (default 50 MB) and keeps --keep-rotated (default 2) rotated files; the
# kubelet's defaults are 10Mi and 4 (containerLogMaxFiles 5 counts the live file). Writes
# target/bench-results/logs_memory.json.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(bench_repo_root)"

RATE=20000000
DURATION=60
PODS=4
BUILD=1
WRITER_MEMORY=
ROTATE_BYTES=50000000
KEEP_ROTATED=2
RELEASE_TIMEOUT=
MAX_DELETED_BACKLOG=
CATCHUP_TIMEOUT=120
PORT=${LOOKOUT_PORT:-19393}
while [ $# -gt 0 ]; do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --pods) PODS=$2; shift 2 ;;
    --writer-memory) WRITER_MEMORY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --rotate-bytes) ROTATE_BYTES=$2; shift 2 ;;
    --keep-rotated) KEEP_ROTATED=$2; shift 2 ;;
    --release-timeout) RELEASE_TIMEOUT=$2; shift 2 ;;
    --max-deleted-backlog) MAX_DELETED_BACKLOG=$2; shift 2 ;;
    --catchup-timeout) CATCHUP_TIMEOUT=$2; shift 2 ;;
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
if [ -n "$RELEASE_TIMEOUT" ]; then
  printf '  release_timeout: %s\n' "$RELEASE_TIMEOUT" >>"$WORK/lookout.yaml"
fi
if [ -n "$MAX_DELETED_BACKLOG" ]; then
  printf '  max_deleted_backlog: %s\n' "$MAX_DELETED_BACKLOG" >>"$WORK/lookout.yaml"
fi
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
metric() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }'
}
bytes_read() { metric lookout_log_bytes_read_total; }
bytes_lost() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" |
    awk 'index($1, "lookout_log_bytes_lost_total{") == 1 { s += $2 } END { printf "%.0f\n", s }'
}
rss0=$(proc_rss_kib "$LPID")
cpu0=$(proc_cpu_seconds "$LPID")
load0=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "lookout pid $LPID RSS $(kib_to_mib "$rss0") MiB; writing $RATE B/s for ${DURATION}s into $PODS pods (rotate every $ROTATE_BYTES B, keep $KEEP_ROTATED); load $load0"

"$WRITER" --pods-root "$WORK/pods" --rate "$RATE" --duration "$DURATION" --pods "$PODS" \
  --rotate-bytes "$ROTATE_BYTES" --keep-rotated "$KEEP_ROTATED" >"$WORK/writer.out" &
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
lost_at_end=$(bytes_lost)
written=$(awk '/^wrote/ { print $4 }' "$WORK/writer.out")
bench_log "writer: $(grep wrote "$WORK/writer.out"); lookout read $read_at_end bytes by then, counted $lost_at_end lost"
t_end=$(date +%s.%N)
caught_up=null
for _ in $(seq 1 $((CATCHUP_TIMEOUT * 2))); do
  sample
  if [ $(($(bytes_read) + $(bytes_lost))) -ge "$written" ]; then
    caught_up=$(awk -v a="$(date +%s.%N)" -v b="$t_end" 'BEGIN { printf "%.1f", a - b }')
    break
  fi
  sleep 0.5
done
sleep 2 # a scan after the last release: settles files that vanished before they were opened
read_final=$(bytes_read)
lost_final=$(bytes_lost)
lost_by_reason=$(curl -fsS "http://127.0.0.1:$PORT/metrics" |
  awk 'index($1, "lookout_log_bytes_lost_total{") == 1 { sub(/.*reason="/, "", $1); sub(/".*/, "", $1); printf "%s%s=%s", sep, $1, $2; sep = " " }')
unaccounted=$((written - read_final - lost_final))
files_opened=$(metric lookout_log_files_opened_total)
hwm=$(proc_peak_rss_kib "$LPID")
cpu1=$(proc_cpu_seconds "$LPID")
cpu=$(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN { printf "%.1f", a - b }')
mbps=$(awk -v b="$read_at_end" -v d="$DURATION" 'BEGIN { printf "%.1f", b / d / 1e6 }')
index_mb=$(du -sm "$WORK/data/logs/index" | awk '{ print $1 }')

printf '\n%-40s %s\n' "rate asked (MB/s)" "$(awk -v r="$RATE" 'BEGIN { printf "%.1f", r / 1e6 }')"
printf '%-40s %s\n' "bytes written" "$written"
printf '%-40s %s\n' "read during the write phase (MB/s)" "$mbps"
printf '%-40s %s\n' "catch-up after the writer stopped (s)" "$caught_up"
printf '%-40s %s\n' "bytes read (indexed)" "$read_final"
printf '%-40s %s\n' "bytes counted lost" "$lost_final ($lost_by_reason)"
printf '%-40s %s\n' "written - read - lost (silent loss)" "$unaccounted"
printf '%-40s %s\n' "files opened" "$files_opened"
printf '%-40s %s\n' "peak RSS VmHWM (MiB)" "$(kib_to_mib "$hwm")"
printf '%-40s %s\n' "max sampled VmRSS (MiB)" "$(kib_to_mib "$max_rss")"
printf '%-40s %s\n' "max sampled RssAnon (MiB)" "$(kib_to_mib "$max_anon")"
printf '%-40s %s\n' "max sampled RssFile (MiB)" "$(kib_to_mib "$max_file")"
printf '%-40s %s\n' "CPU seconds (write + catch-up)" "$cpu"
printf '%-40s %s\n' "index on disk (MB)" "$index_mb"
printf '%-40s %s\n' "machine load average (start -> end)" "$load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$TARGET/bench-results"
cat >"$TARGET/bench-results/logs_memory.json" <<JSON
{"rate": $RATE, "duration_s": $DURATION, "pods": $PODS, "bytes_written": $written,
 "rotate_bytes": $ROTATE_BYTES, "keep_rotated": $KEEP_ROTATED, "bytes_read": $read_final,
 "bytes_lost": $lost_final, "bytes_unaccounted": $unaccounted,
 "read_mb_per_s_during_write": $mbps, "catch_up_s": $caught_up, "vmhwm_kib": $hwm,
 "max_vmrss_kib": $max_rss, "max_rssanon_kib": $max_anon, "max_rssfile_kib": $max_file, "cpu_s": $cpu, "index_mb": $index_mb}
JSON
[ "$caught_up" != null ] || bench_die "read + lost did not reach the bytes written within ${CATCHUP_TIMEOUT} s after the writer stopped"
[ "$unaccounted" = 0 ] || bench_die "$unaccounted bytes written were neither read nor counted as lost"
