#!/usr/bin/env bash
# A/B of the logs ingest bench "on one core": runs each given bench binary in turn, N rounds,
# alternating, and prints the wall MB/s / MB per CPU-second of its three `logs/ingest run`
# lines plus the process's task-clock (perf stat), then the median task-clock per binary.
#
#   cargo bench -p lookout-benches --bench logs --no-run     # prints target/release/deps/logs-<hash>
#   cp target/release/deps/logs-<hash> /tmp/logs-a            # one copy per variant
#   benches/scripts/logs_ingest_ab.sh [--runs N] [--quota] /tmp/logs-a /tmp/logs-b
#
# --runs N   rounds (default 4)
# --quota    instead of pinning to CPU 0 (taskset -c 0), run under a CPU quota of one core
#            spread over all CPUs (what `limits.cpu: 1` gives a container): a cgroup with
#            quota = period = 100 ms (cgroup v1 `cpu` controller or v2 `cpu.max`; needs root)
#
# Binaries must be copies: the next `cargo bench` build overwrites target/release/deps.
set -euo pipefail

runs=4
quota=0
bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --quota) quota=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) bins+=("$1"); shift ;;
  esac
done
[ ${#bins[@]} -gt 0 ] || { echo "usage: $0 [--runs N] [--quota] BIN..." >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is required (apt-get install linux-perf)" >&2; exit 1; }

cg=""
if [ "$quota" = 1 ]; then
  if [ -d /sys/fs/cgroup/cpu ] && [ -w /sys/fs/cgroup/cpu ]; then
    cg=/sys/fs/cgroup/cpu/lookout-ab
    mkdir -p "$cg"
    echo 100000 > "$cg/cpu.cfs_period_us"
    echo 100000 > "$cg/cpu.cfs_quota_us"
    tasks=$cg/tasks
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    cg=/sys/fs/cgroup/lookout-ab
    mkdir -p "$cg"
    echo "100000 100000" > "$cg/cpu.max"
    tasks=$cg/cgroup.procs
  else
    echo "no writable cgroup cpu controller for --quota" >&2
    exit 1
  fi
fi

run_one() {
  local bin=$1 out
  if [ -n "$cg" ]; then
    out=$(LOGS_BENCH_SEARCH_LINES=30000 bash -c "echo \$\$ > $tasks; exec perf stat -x, -e task-clock $bin --bench nomatch" 2>&1)
  else
    out=$(LOGS_BENCH_SEARCH_LINES=30000 perf stat -x, -e task-clock taskset -c 0 "$bin" --bench nomatch 2>&1)
  fi
  local figs clock
  figs=$(grep "ingest run" <<<"$out" | sed -E 's/.*= ([0-9.]+) MB\/s, .* = ([0-9.]+) MB per CPU-second.*/\1\/\2/' | tr '\n' ' ')
  clock=$(awk -F, '/task-clock/{printf "%.0f", $1}' <<<"$out")
  echo "$figs|$clock"
}

declare -A clocks
for ((r = 1; r <= runs; r++)); do
  for b in "${bins[@]}"; do
    res=$(run_one "$b")
    printf '%-28s round %d: wall/CPU MB/s %s task-clock %s ms\n' "$(basename "$b")" "$r" "${res%|*}" "${res#*|}"
    clocks[$b]="${clocks[$b]:-} ${res#*|}"
  done
done
for b in "${bins[@]}"; do
  sorted=$(tr ' ' '\n' <<<"${clocks[$b]}" | grep -v '^$' | sort -n)
  median=$(awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}' <<<"$sorted")
  echo "$(basename "$b"): task-clock ms $(tr '\n' ' ' <<<"$sorted")median $median"
done
