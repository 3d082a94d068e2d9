"""The rendered container runs: the real lookout binary is started with the DaemonSet's own
arguments (only container paths are mapped to a temporary directory), serves the probe paths,
scrapes itself through the chart's self-scrape job, exposes every self-metric the dashboards and
rules use, and stops cleanly on SIGTERM within the grace period."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Rendered, render
from metric_names import metric_names_in_dashboards, metric_names_in_rules
from test_config import container_path, materialize


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


class Agent:
    def __init__(self, r: Rendered, proc: subprocess.Popen[str], port: int, log: Path):
        self.r, self.proc, self.port, self.log = r, proc, port, log


@pytest.fixture(scope="module")
def agent(lookout_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    port = free_port()
    # The chart as installed, except: bind to loopback on a free port, scrape every second.
    r = render({"agent": {"port": port, "listenHost": "127.0.0.1", "logFormat": "text"},
                "config": {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}}})
    root = tmp_path_factory.mktemp("pod")
    mapping = materialize(r, root)
    argv = [str(lookout_bin)]
    for a in r.container["args"]:
        name, eq, value = a.partition("=")
        if eq and name in {"--config", "--data-dir"}:
            a = f"{name}={container_path(mapping, value)}"
        argv.append(a)
    log = root / "agent.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={"PATH": "/usr/bin:/bin", "NODE_NAME": "node-1"})
    a = Agent(r, proc, port, log)
    try:
        wait_for("the HTTP server", lambda: proc.poll() is None and get(port, "/-/healthy")[0] == 200)
        yield a
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_probe_paths_answer_ok(agent: Agent) -> None:
    c = agent.r.container
    for probe in ["startupProbe", "livenessProbe"]:
        status, _ = get(agent.port, c[probe]["httpGet"]["path"])
        assert status == 200, probe
    path = c["readinessProbe"]["httpGet"]["path"]
    wait_for("readiness", lambda: get(agent.port, path)[0] == 200)


def test_unknown_path_is_not_ok(agent: Agent) -> None:
    # The probe check above can fail: a path the program does not serve is a 404.
    assert get(agent.port, "/-/nonexistent")[0] == 404


def test_self_scrape_job_is_up(agent: Agent) -> None:
    def up() -> bool:
        status, body = get(agent.port, "/api/v1/targets")
        if status != 200:
            return False
        targets = json.loads(body)["data"]["activeTargets"]
        return any(t["labels"].get("job") == "lookout" and t["health"] == "up" for t in targets)
    wait_for("the self-scrape target to be up", up)


@pytest.fixture(scope="module")
def self_metrics(agent: Agent) -> set[str]:
    status, body = get(agent.port, "/metrics")
    assert status == 200
    names = set()
    for line in body.splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    assert "lookout_scrapes_total" in names
    return names


def test_dashboards_use_real_self_metrics(self_metrics: set[str]) -> None:
    used = {n for n in metric_names_in_dashboards(render()) if n.startswith("lookout_")}
    assert len(used) >= 8
    assert used <= self_metrics, sorted(used - self_metrics)


def test_rules_use_real_self_metrics(self_metrics: set[str]) -> None:
    used = metric_names_in_rules(render())
    assert used and all(n.startswith("lookout_") for n in used)
    assert used <= self_metrics, sorted(used - self_metrics)


def test_sigterm_stops_within_the_grace_period(agent: Agent) -> None:
    grace = agent.r.daemonset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    agent.proc.send_signal(signal.SIGTERM)
    try:
        code = agent.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pytest.fail(f"lookout did not stop within {grace}s of SIGTERM")
    assert code == 0, agent.log.read_text()[-2000:]
