# Shared shell helpers for the comparison scripts in benches/scripts/.
# Source it (`. "$(dirname "$0")/lib.sh"`); it defines functions only and changes no options.
#
# Process measurements read /proc (Linux only):
#   proc_cpu_seconds PID   utime+stime of PID in seconds (children not included)
#   proc_peak_rss_kib PID  VmHWM (peak resident set) of PID in KiB
#   proc_rss_kib PID       VmRSS (current resident set) of PID in KiB
#   machine_busy_seconds   non-idle CPU seconds of the whole machine since boot

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bench_die() {
  printf '\nERROR: %s\n\n' "$*" >&2
  exit 1
}

# Root of the cargo workspace that holds this script.
bench_repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }

# Cargo's target directory (honours CARGO_TARGET_DIR).
bench_target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    printf '%s\n' "$CARGO_TARGET_DIR"
  else
    printf '%s/target\n' "$(bench_repo_root)"
  fi
}

proc_cpu_seconds() {
  local pid=$1 stat rest
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # Field 2 (comm) may hold spaces and parentheses: cut after the last ')'.
  rest=${stat##*) }
  # rest starts at field 3 (state); utime and stime are fields 14 and 15.
  awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($12 + $13) / tck }' <<<"$rest"
}

# machine_busy_seconds: non-idle CPU time of the whole machine since boot, all cores summed
# (user+nice+system+irq+softirq+steal from /proc/stat), to tell how busy others kept it.
machine_busy_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / tck; exit }' /proc/stat
}

proc_status_kib() {
  local pid=$1 key=$2
  awk -v k="$key:" '$1 == k { print $2; found = 1 } END { exit !found }' "/proc/$pid/status" 2>/dev/null
}

proc_peak_rss_kib() { proc_status_kib "$1" VmHWM; }
proc_rss_kib() { proc_status_kib "$1" VmRSS; }

# kib_to_mib KIB -> MiB with one decimal.
kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }

# ratio A B -> A/B with three decimals, or "null" when B is 0 or either is empty/null.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || a == "null" || b == "null" || b + 0 == 0) { print "null" }
    else { printf "%.3f\n", a / b } }'
}

# wait_for_line FILE PATTERN TIMEOUT_S PID: wait until FILE has a line matching PATTERN
# (grep -E); fails early if PID exits first.
wait_for_line() {
  local file=$1 pattern=$2 timeout=$3 pid=$4 waited=0
  while ! grep -Eq "$pattern" "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
    waited=$((waited + 1))
    if [ "$waited" -ge $((timeout * 5)) ]; then return 1; fi
  done
  return 0
}

# wait_for_http URL TIMEOUT_S PID: wait until URL answers 2xx; fails early if PID exits.
wait_for_http() {
  local url=$1 timeout=$2 pid=$3 waited=0
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
    waited=$((waited + 1))
    if [ "$waited" -ge $((timeout * 2)) ]; then return 1; fi
  done
  return 0
}

# stop_process PID [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 30), then SIGKILL.
# Works for children of this shell and for other processes alike.
stop_process() {
  local pid=$1 timeout=${2:-30} waited=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    # A zombie child of ours counts as stopped; `wait` below reaps it.
    if [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
    sleep 0.2
    waited=$((waited + 1))
    if [ "$waited" -ge $((timeout * 5)) ]; then
      bench_log "pid $pid ignored SIGTERM for ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
  done
  wait "$pid" 2>/dev/null || true
  return 0
}

# ensure_debian_package COMMAND PACKAGE: apt-get install PACKAGE when COMMAND is missing.
# Runs `apt-get update` at most once per script run.
ensure_debian_package() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || bench_die "$cmd is missing and apt-get is not available to install $pkg"
  if [ -z "${BENCH_APT_UPDATED:-}" ]; then
    bench_log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || bench_die "apt-get update failed"
    BENCH_APT_UPDATED=1
  fi
  bench_log "apt-get install -y $pkg"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null || bench_die "apt-get install $pkg failed"
  command -v "$cmd" >/dev/null 2>&1 || bench_die "installed $pkg but $cmd is still missing"
}

# raise_nofile WANT: raise the soft open-files limit to WANT, or as far as the hard limit allows.
raise_nofile() {
  local want=$1 hard
  ulimit -n "$want" 2>/dev/null && return 0
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    ulimit -n "$hard"
    bench_log "open-files limit capped at $hard (hard limit) instead of $want"
  fi
}
