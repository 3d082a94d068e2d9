#!/usr/bin/env bash
# Scrape + append, side by side: lookout and Debian's Prometheus scrape the same synthetic
# targets (benches/src/bin/fake_targets.rs) with the same scrape config, one after the other
# for DURATION seconds each, and we compare CPU seconds and peak RSS.
#
#   benches/scripts/scrape_vs_prometheus.sh [--targets N] [--series M] [--duration SECONDS]
#       [--interval 15s] [--timeout 10s] [--only both|prometheus|lookout]
#       [--addr-mode ports|ips] [--base-port P] [--prom-port P] [--lookout-port P]
#       [--no-build] [--keep] [--out FILE]
#
# Defaults: 1000 targets x 1000 series, 300 s each, 15 s interval (the issue's setup).
# Binaries can be overridden with FAKE_TARGETS_BIN, LOOKOUT_BIN and PROMETHEUS_BIN.
# Writes the table to stdout and JSON to target/bench-results/scrape_vs_prometheus.json.
# Exit status: 0 when every phase that ran scraped all targets, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
ROOT=$(bench_repo_root)
TARGET_DIR=$(bench_target_dir)

TARGETS=1000
SERIES=1000
DURATION=300
INTERVAL=15s
TIMEOUT=
ONLY=both
ADDR_MODE=ports
BASE_PORT=20000
PROM_PORT=19090
LOOKOUT_PORT=19091
BUILD=1
KEEP=0
OUT="$TARGET_DIR/bench-results/scrape_vs_prometheus.json"

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || bench_die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case $1 in
    --targets) need_value "$@"; TARGETS=$2; shift 2 ;;
    --series) need_value "$@"; SERIES=$2; shift 2 ;;
    --duration) need_value "$@"; DURATION=$2; shift 2 ;;
    --interval) need_value "$@"; INTERVAL=$2; shift 2 ;;
    --timeout) need_value "$@"; TIMEOUT=$2; shift 2 ;;
    --only) need_value "$@"; ONLY=$2; shift 2 ;;
    --addr-mode) need_value "$@"; ADDR_MODE=$2; shift 2 ;;
    --base-port) need_value "$@"; BASE_PORT=$2; shift 2 ;;
    --prom-port) need_value "$@"; PROM_PORT=$2; shift 2 ;;
    --lookout-port) need_value "$@"; LOOKOUT_PORT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) bench_die "unknown argument '$1' (see --help)" ;;
  esac
done

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in TARGETS SERIES DURATION BASE_PORT PROM_PORT LOOKOUT_PORT; do
  is_uint "${!v}" || bench_die "--$(tr '[:upper:]_' '[:lower:]-' <<<"$v") must be a whole number, got '${!v}'"
done
[ "$TARGETS" -ge 1 ] || bench_die "--targets must be at least 1"
[ "$DURATION" -ge 10 ] || bench_die "--duration must be at least 10 seconds"
case $ONLY in both | prometheus | lookout) ;; *) bench_die "--only must be both, prometheus or lookout" ;; esac
case $ADDR_MODE in ports | ips) ;; *) bench_die "--addr-mode must be ports or ips" ;; esac

# "15s" / "1m" -> seconds.
duration_secs() {
  case $1 in
    *ms) bench_die "durations below a second are not supported here: '$1'" ;;
    *s) is_uint "${1%s}" && echo "${1%s}" && return ;;
    *m) is_uint "${1%m}" && echo $((${1%m} * 60)) && return ;;
  esac
  bench_die "duration must look like 15s or 1m, got '$1'"
}
INTERVAL_S=$(duration_secs "$INTERVAL")
[ "$INTERVAL_S" -ge 1 ] || bench_die "--interval must be at least 1s"
if [ -z "$TIMEOUT" ]; then
  if [ "$INTERVAL_S" -ge 10 ]; then TIMEOUT=10s; else TIMEOUT=$INTERVAL; fi
fi
[ "$(duration_secs "$TIMEOUT")" -le "$INTERVAL_S" ] || bench_die "--timeout must not exceed --interval"

run_prom=0
run_lookout=0
[ "$ONLY" != lookout ] && run_prom=1
[ "$ONLY" != prometheus ] && run_lookout=1

raise_nofile 65536
ensure_debian_package python3 python3
ensure_debian_package curl curl

# ---------------------------------------------------------------- binaries
PROM_VERSION=null
if [ "$run_prom" = 1 ]; then
  if [ -z "${PROMETHEUS_BIN:-}" ]; then
    ensure_debian_package prometheus prometheus
    PROMETHEUS_BIN=/usr/bin/prometheus
    [ -x "$PROMETHEUS_BIN" ] || PROMETHEUS_BIN=$(command -v prometheus)
  fi
  PROM_VERSION=$("$PROMETHEUS_BIN" --version 2>&1 | head -n1)
  bench_log "Prometheus: $PROM_VERSION ($PROMETHEUS_BIN)"
fi

cd "$ROOT"
if [ -z "${FAKE_TARGETS_BIN:-}" ]; then
  if [ "$BUILD" = 1 ]; then
    bench_log "cargo build --release -p lookout-benches --bin fake_targets"
    cargo build --release -p lookout-benches --bin fake_targets ||
      bench_die "building fake_targets failed (see cargo output above)"
  fi
  FAKE_TARGETS_BIN="$TARGET_DIR/release/fake_targets"
fi
[ -x "$FAKE_TARGETS_BIN" ] || bench_die "fake_targets binary not found at $FAKE_TARGETS_BIN"

LOOKOUT_VERSION=null
if [ "$run_lookout" = 1 ]; then
  if [ -z "${LOOKOUT_BIN:-}" ]; then
    if [ "$BUILD" = 1 ]; then
      bench_log "cargo build --release -p lookout-collector --bin lookout"
      cargo build --release -p lookout-collector --bin lookout ||
        bench_die "building the lookout binary failed (see cargo output above); run with --only prometheus to measure Prometheus alone"
    fi
    LOOKOUT_BIN="$TARGET_DIR/release/lookout"
  fi
  [ -x "$LOOKOUT_BIN" ] ||
    bench_die "lookout binary not found at $LOOKOUT_BIN; build it (cargo build --release -p lookout-collector --bin lookout) or run with --only prometheus"
  LOOKOUT_VERSION=$("$LOOKOUT_BIN" --version 2>/dev/null | head -n1 || true)
  [ -n "$LOOKOUT_VERSION" ] || LOOKOUT_VERSION="lookout (no --version)"
  bench_log "lookout: $LOOKOUT_VERSION ($LOOKOUT_BIN)"
fi

# ---------------------------------------------------------------- work dir, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scrape-vs-prom.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_process "$pid" 10; done
  if [ "$KEEP" = 1 ]; then
    bench_log "kept work dir $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS="$WORK/results.env"
: >"$RESULTS"
put() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }

# ---------------------------------------------------------------- targets and config
bench_log "starting fake_targets: $TARGETS targets x $SERIES series ($ADDR_MODE from port $BASE_PORT)"
"$FAKE_TARGETS_BIN" --targets "$TARGETS" --series "$SERIES" --addr-mode "$ADDR_MODE" \
  --base-port "$BASE_PORT" --targets-file "$WORK/targets.txt" >"$WORK/fake.out" 2>"$WORK/fake.err" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
wait_for_line "$WORK/fake.out" '^ready$' 60 "$FAKE_PID" ||
  bench_die "fake_targets did not print 'ready': $(tail -n5 "$WORK/fake.err")"
bench_log "$(tail -n1 "$WORK/fake.err")"
FIRST_TARGET=$(head -n1 "$WORK/targets.txt")
FAKE_BYTES=$(curl -fsS "http://$FIRST_TARGET/metrics" | wc -c)
curl -fsS -o /dev/null "http://$FIRST_TARGET/stats/reset"

CONFIG="$WORK/scrape.yml"
{
  printf 'global:\n  scrape_interval: %s\n  scrape_timeout: %s\n' "$INTERVAL" "$TIMEOUT"
  printf 'scrape_configs:\n  - job_name: fake\n    static_configs:\n      - targets:\n'
  sed 's/^/          - /' "$WORK/targets.txt"
} >"$CONFIG"
bench_log "scrape config: $CONFIG ($(wc -l <"$WORK/targets.txt") targets, every $INTERVAL, timeout $TIMEOUT)"

# ---------------------------------------------------------------- queries
# api_query BASE QUERY MODE: prints a number, or "null" (and why, on stderr) when the API
# did not answer with a success vector. MODE: value (first result's value, 0 when empty),
# count_ones (results whose value is 1), sum (sum of values), count (number of results).
api_query() {
  local base=$1 query=$2 mode=$3 body
  body=$(curl -fsS --max-time 30 -G "$base/api/v1/query" --data-urlencode "query=$query" 2>&1) || {
    bench_log "query '$query' at $base failed: $body"
    echo null
    return
  }
  python3 -c '
import json, sys
mode, query = sys.argv[1], sys.argv[2]
try:
    doc = json.load(sys.stdin)
    assert doc.get("status") == "success", doc.get("error", "status is not success")
    data = doc["data"]
    assert data["resultType"] == "vector", "resultType is %r" % data["resultType"]
    vals = [float(r["value"][1]) for r in data["result"]]
except Exception as e:
    print("query %r: unexpected answer: %s" % (query, e), file=sys.stderr)
    print("null"); sys.exit(0)
if mode == "value": out = vals[0] if vals else 0
elif mode == "count_ones": out = sum(1 for v in vals if v == 1)
elif mode == "sum": out = sum(vals)
else: out = len(vals)
print(int(out) if float(out).is_integer() else out)
' "$mode" "$query" <<<"$body"
}

# metric_value URL NAME: sum of NAME's samples (all label sets) in a /metrics page, or null.
metric_value() {
  curl -fsS --max-time 10 "$1" 2>/dev/null |
    awk -v n="$2" '{ name = $1; sub(/\{.*/, "", name) }
      name == n { sum += $NF; found = 1 }
      END { if (found) printf "%.0f\n", sum; else print "null" }' ||
    echo null
}

fake_stats() {
  curl -fsS --max-time 5 "http://$FIRST_TARGET/stats/reset" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["targets_seen"])'
}

# ---------------------------------------------------------------- one phase
FAILED=()

# run_phase NAME PORT LOG CMD...: runs CMD for DURATION seconds, measures, verifies, stops it.
run_phase() {
  local name=$1 port=$2 log=$3
  shift 3
  local base="http://127.0.0.1:$port" pid start fake_cpu0 busy0 code waited=0 now cpu hwm rss fake_cpu
  bench_log "== $name: running for ${DURATION}s"
  fake_stats >/dev/null
  fake_cpu0=$(proc_cpu_seconds "$FAKE_PID")
  busy0=$(machine_busy_seconds)
  start=$(date +%s)
  "$@" >"$log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  put "$name.ran" true

  # Up: the HTTP port answers anything at all.
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/" 2>/dev/null || true)
    [ "$code" != 000 ] && [ -n "$code" ] && break
    if ! kill -0 "$pid" 2>/dev/null || [ "$waited" -ge 120 ]; then
      put "$name.error" "\"did not start listening on $base\""
      printf '\nERROR: %s did not start listening on %s. Last lines of %s:\n' "$name" "$base" "$log" >&2
      tail -n 20 "$log" >&2
      FAILED+=("$name: did not start")
      stop_process "$pid" 10
      return
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  bench_log "$name listening on $base after $(($(date +%s) - start))s"

  while :; do
    now=$(date +%s)
    [ $((now - start)) -ge "$DURATION" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      put "$name.error" "\"exited after $((now - start))s\""
      printf '\nERROR: %s exited after %ss. Last lines of %s:\n' "$name" $((now - start)) "$log" >&2
      tail -n 20 "$log" >&2
      FAILED+=("$name: exited early")
      return
    fi
    sleep $((DURATION - (now - start) < 5 ? DURATION - (now - start) : 5))
  done

  # Measure before querying, so the queries' own cost is not counted.
  cpu=$(proc_cpu_seconds "$pid")
  hwm=$(proc_peak_rss_kib "$pid")
  rss=$(proc_rss_kib "$pid")
  put "$name.cpu_seconds" "$cpu"
  put "$name.peak_rss_mib" "$(kib_to_mib "$hwm")"
  put "$name.end_rss_mib" "$(kib_to_mib "$rss")"
  put "$name.wall_seconds" "$(($(date +%s) - start))"
  fake_cpu=$(awk -v a="$fake_cpu0" -v b="$(proc_cpu_seconds "$FAKE_PID")" 'BEGIN { printf "%.2f", b - a }')
  put "$name.fake_targets_cpu_seconds" "$fake_cpu"
  # CPU that neither the system under test nor fake_targets used: other work on the machine
  # that may have disturbed the run (builds, other benchmarks).
  put "$name.other_cpu_seconds" "$(awk -v b0="$busy0" -v b1="$(machine_busy_seconds)" -v c="$cpu" -v f="$fake_cpu" \
    'BEGIN { o = b1 - b0 - c - f; printf "%.2f", (o < 0 ? 0 : o) }')"
  put "$name.loadavg_end" "\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  read -r served seen < <(fake_stats)
  put "$name.scrapes_served" "$served"
  put "$name.targets_seen" "$seen"

  local up samples
  if [ "$name" = prometheus ]; then
    up=$(api_query "$base" 'count(up == 1)' value)
    samples=$(api_query "$base" 'sum(scrape_samples_scraped)' value)
    put "$name.head_series" "$(metric_value "$base/metrics" prometheus_tsdb_head_series)"
    put "$name.samples_appended" "$(metric_value "$base/metrics" prometheus_tsdb_head_samples_appended_total)"
  else
    # lookout's API answers plain selectors; count and sum here.
    up=$(api_query "$base" 'up' count_ones)
    samples=$(api_query "$base" 'scrape_samples_scraped' sum)
  fi
  put "$name.targets_up" "$up"
  put "$name.samples_scraped" "$samples"
  put "$name.data_dir_mib" "$(kib_to_mib "$(du -sk "$WORK/$name-data" 2>/dev/null | cut -f1 || echo 0)")"

  if [ "$up" = null ] || [ "$up" = 0 ]; then
    printf '\nERROR: %s returned no data for `up` at %s/api/v1/query (targets up: %s).\n' "$name" "$base" "$up" >&2
    printf 'Last lines of %s:\n' "$log" >&2
    tail -n 20 "$log" >&2
    put "$name.error" "\"no data for up\""
    FAILED+=("$name: no data")
  elif [ "$up" -lt "$TARGETS" ]; then
    bench_log "WARNING: only $up of $TARGETS targets up in $name"
    FAILED+=("$name: $up of $TARGETS targets up")
  fi
  bench_log "$name: cpu ${cpu}s, peak rss $(kib_to_mib "$hwm") MiB, targets up $up, samples in last scrape $samples, scrapes served $served"
  stop_process "$pid" 60
}

if [ "$run_prom" = 1 ]; then
  mkdir -p "$WORK/prometheus-data"
  run_phase prometheus "$PROM_PORT" "$WORK/prometheus.log" \
    "$PROMETHEUS_BIN" --config.file="$CONFIG" --storage.tsdb.path="$WORK/prometheus-data" \
    --web.listen-address="127.0.0.1:$PROM_PORT"
fi
if [ "$run_lookout" = 1 ]; then
  mkdir -p "$WORK/lookout-data"
  [ "$run_prom" = 1 ] && sleep 5 # let the machine settle after Prometheus' shutdown
  run_phase lookout "$LOOKOUT_PORT" "$WORK/lookout.log" \
    "$LOOKOUT_BIN" agent --config "$CONFIG" --data-dir "$WORK/lookout-data" \
    --listen "127.0.0.1:$LOOKOUT_PORT"
fi

# ---------------------------------------------------------------- report
mkdir -p "$(dirname "$OUT")"
GIT_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
export TARGETS SERIES DURATION INTERVAL TIMEOUT ADDR_MODE FAKE_BYTES PROM_VERSION LOOKOUT_VERSION GIT_COMMIT OUT
python3 - "$RESULTS" <<'PY'
import json, os, sys
vals = {}
for line in open(sys.argv[1]):
    key, _, raw = line.rstrip("\n").partition("=")
    try:
        v = json.loads(raw)
    except ValueError:
        v = raw
    sys_name, _, field = key.partition(".")
    vals.setdefault(sys_name, {})[field] = v

def side(name, version):
    d = {"ran": False, "version": None if version == "null" else version,
         "cpu_seconds": None, "peak_rss_mib": None, "end_rss_mib": None, "targets_up": None,
         "samples_scraped": None, "scrapes_served": None, "targets_seen": None,
         "fake_targets_cpu_seconds": None, "other_cpu_seconds": None, "loadavg_end": None,
         "data_dir_mib": None, "wall_seconds": None,
         "error": None}
    d.update(vals.get(name, {}))
    return d

env = os.environ
prom = side("prometheus", env["PROM_VERSION"])
look = side("lookout", env["LOOKOUT_VERSION"])

def ratio(a, b):
    return round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None

ratios = {"cpu": ratio(look["cpu_seconds"], prom["cpu_seconds"]),
          "peak_rss": ratio(look["peak_rss_mib"], prom["peak_rss_mib"])}
# The goal is only judged when both sides scraped every target.
targets = int(env["TARGETS"])
comparable = all(d["ran"] and d["error"] is None and d["targets_up"] == targets for d in (prom, look))
met = None
if comparable and ratios["cpu"] is not None and ratios["peak_rss"] is not None:
    met = ratios["cpu"] <= 0.5 and ratios["peak_rss"] <= 0.5
ncpu = os.cpu_count()
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal:")), None)
doc = {
    "benchmark": "scrape_vs_prometheus",
    "git_commit": env["GIT_COMMIT"],
    "host": {"cpus": ncpu, "mem_total_mib": mem},
    "params": {"targets": int(env["TARGETS"]), "series_per_target": int(env["SERIES"]),
               "duration_seconds": int(env["DURATION"]), "scrape_interval": env["INTERVAL"],
               "scrape_timeout": env["TIMEOUT"], "addr_mode": env["ADDR_MODE"],
               "bytes_per_scrape": int(env["FAKE_BYTES"])},
    "prometheus": prom,
    "lookout": look,
    "ratios_lookout_over_prometheus": ratios,
    "goal": {"cpu_ratio_max": 0.5, "peak_rss_ratio_max": 0.5, "comparable": comparable,
             "met": met},
}
with open(env["OUT"], "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")

def cell(v):
    return "-" if v is None else str(v)
print()
print("scrape + append: %s targets x %s series, every %s, %s s per system"
      % (env["TARGETS"], env["SERIES"], env["INTERVAL"], env["DURATION"]))
rows = [("CPU seconds", "cpu_seconds", "cpu"), ("peak RSS MiB", "peak_rss_mib", "peak_rss"),
        ("RSS at end MiB", "end_rss_mib", None), ("targets up", "targets_up", None),
        ("samples in last scrape", "samples_scraped", None),
        ("scrapes served", "scrapes_served", None), ("data dir MiB", "data_dir_mib", None),
        ("fake_targets CPU s", "fake_targets_cpu_seconds", None),
        ("other processes CPU s", "other_cpu_seconds", None)]
print("%-24s %14s %14s %16s" % ("", "prometheus", "lookout", "lookout/prom"))
for label, key, rkey in rows:
    r = ratios.get(rkey) if rkey else ratio(look[key], prom[key])
    print("%-24s %14s %14s %16s" % (label, cell(prom[key]), cell(look[key]), cell(r)))
for name, d in (("prometheus", prom), ("lookout", look)):
    if d["ran"] and d["error"] is None and not d["data_dir_mib"]:
        print("note: %s left its data dir empty (no WAL or blocks written): its figures leave out"
              " the cost of durability" % name)
verdict = {True: "met", False: "NOT met", None: "n/a (needs both runs with every target up)"}
print("goal (both ratios <= 0.5): %s" % verdict[met])
print("results: %s" % env["OUT"])
PY

if [ "${#FAILED[@]}" -gt 0 ]; then
  printf '\nFAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
