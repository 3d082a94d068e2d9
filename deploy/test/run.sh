#!/usr/bin/env bash
# Chart tests: render deploy/helm/lookout with real Helm (the PyPI package helm-python-sdk, which
# embeds Helm v4's Go SDK; no helm binary), lint it, validate every object against the Kubernetes
# 1.30 schemas in strict mode (kubernetes-validate), and assert what matters (RBAC, probes, ports,
# config accepted by `lookout check config`, rules by promtool and `lookout check rules`, secrets
# only referenced, bad values refused with the schema's message).
#
# Needs: python3 (with venv or pip), network access to PyPI the first time, promtool (Debian
# package `prometheus`, or PROMTOOL=/path), and the lookout binary: LOOKOUT_BIN (default
# target/debug/lookout, built here when missing and LOOKOUT_BIN is not set).
# Any missing tool fails the run. Extra arguments go to pytest (e.g. -k rbac, -x).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

log() { printf '=== chart tests: %s\n' "$*"; }

if [ -z "${LOOKOUT_BIN:-}" ]; then
  LOOKOUT_BIN="target/debug/lookout"
  if [ ! -x "$LOOKOUT_BIN" ]; then
    log "building $LOOKOUT_BIN"
    cargo build -q -p lookout-collector --bin lookout
  fi
fi
case "$LOOKOUT_BIN" in /*) ;; *) LOOKOUT_BIN="$root/$LOOKOUT_BIN" ;; esac
if [ ! -x "$LOOKOUT_BIN" ]; then
  echo "chart tests: the lookout binary $LOOKOUT_BIN is missing" >&2
  exit 1
fi
export LOOKOUT_BIN

# Python packages: a venv under TMPDIR, reused between runs and refreshed when the requirements
# change; where venv is unavailable, pip --target into the same place.
base="${TMPDIR:-/tmp}/lookout-chart-tests"
stamp="$(sha256sum "$here/requirements.txt" | cut -c1-16)"
python=""
venv_ok() { "$base/venv/bin/python" -m pip --version >/dev/null 2>&1; }
# (Debian's python3 without python3-venv leaves a venv without pip behind: start over, then
# fall back.)
if venv_ok || { rm -rf "$base/venv"; python3 -m venv "$base/venv" >/dev/null 2>&1 && venv_ok; }; then
  python="$base/venv/bin/python"
  if [ "$(cat "$base/venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "installing $(grep -c '==' "$here/requirements.txt") Python packages into $base/venv"
    "$python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$stamp" > "$base/venv/.stamp"
  fi
else
  rm -rf "$base/venv"
  python="python3"
  if [ "$(cat "$base/site/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "python3 -m venv unavailable; pip --target $base/site"
    python3 -m pip install --quiet --disable-pip-version-check --target "$base/site" -r "$here/requirements.txt"
    echo "$stamp" > "$base/site/.stamp"
  fi
  export PYTHONPATH="$base/site${PYTHONPATH:+:$PYTHONPATH}"
fi

log "pytest (lookout: $LOOKOUT_BIN)"
cd "$here"
exec "$python" -m pytest -q -rs -p no:cacheprovider "$@"
