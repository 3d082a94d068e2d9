"""Grafana hook-up: the data source ConfigMap points a Prometheus and a Loki data source at the
lookout Service; the dashboards are valid JSON whose queries parse (promtool) and use metric
names that exist: lookout's own (checked against the running binary in test_agent.py) and the
kubelet's and cAdvisor's (the reference list below)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import CHART, NAMESPACE, dashboards, load_yaml, render_set, run
from metric_names import (all_panels, dashboard_queries, grafana_to_promql, metric_names,
                          metric_names_in_dashboards)

# What lookout gets by scraping the node's kubelet (issue 5): names as cAdvisor documents them
# (google/cadvisor docs/storage/prometheus.md, served by the kubelet at /metrics/cadvisor), the
# kubelet's own /metrics, and /metrics/resource.
CADVISOR = {
    "container_cpu_usage_seconds_total", "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total", "container_memory_working_set_bytes",
    "container_memory_rss", "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total", "container_fs_usage_bytes",
    "container_fs_limit_bytes", "machine_cpu_cores", "machine_memory_bytes",
}
KUBELET = {"kubelet_running_pods", "kubelet_running_containers"}
KUBELET_RESOURCE = {"node_cpu_usage_seconds_total", "node_memory_working_set_bytes",
                    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                    "pod_cpu_usage_seconds_total", "pod_memory_working_set_bytes"}
EXPECTED_FILES = {"lookout-node.json", "lookout-pods.json", "lookout-agent.json"}


def datasources(value_set: str) -> dict[str, dict]:
    r = render_set(value_set)
    cm = next(o for o in r.of_kind("ConfigMap") if o["metadata"]["name"].endswith("-grafana-datasources"))
    doc = load_yaml(cm["data"]["lookout-datasources.yaml"])
    assert doc["apiVersion"] == 1
    return {d["type"]: d for d in doc["datasources"]}


def test_datasources_point_at_the_service() -> None:
    r = render_set("default")
    svc = r.one("Service")
    url = f"http://{svc['metadata']['name']}.{NAMESPACE}.svc:{svc['spec']['ports'][0]['port']}"
    ds = datasources("default")
    assert set(ds) == {"prometheus", "loki"}
    for d in ds.values():
        assert d["url"] == url and d["access"] == "proxy"
    assert ds["prometheus"]["uid"] == "lookout-prometheus"
    assert ds["loki"]["uid"] == "lookout-loki"
    assert ds["prometheus"]["jsonData"]["timeInterval"] == "15s"
    full = datasources("full")
    assert full["prometheus"]["url"] == f"http://lookout.{NAMESPACE}.svc:9090"
    assert full["prometheus"]["isDefault"] is True and full["prometheus"]["name"] == "lookout-prod"


def test_sidecar_labels_and_namespace() -> None:
    r = render_set("default")
    for suffix, label in [("-grafana-datasources", "grafana_datasource"), ("-grafana-dashboards", "grafana_dashboard")]:
        cm = r.one("ConfigMap", "lookout" + suffix)
        assert cm["metadata"]["labels"][label] == "1"
        assert cm["metadata"]["namespace"] == NAMESPACE
    full = render_set("full")
    cm = full.one("ConfigMap", "lookout-grafana-dashboards")
    assert cm["metadata"]["labels"]["my_dashboards"] == "yes"
    assert cm["metadata"]["namespace"] == "grafana"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "lookout"}
    assert not any(o["metadata"]["name"].startswith("agent-grafana") for o in render_set("emptydir").objects)


def test_dashboards_are_shipped_and_well_formed() -> None:
    boards = dashboards(render_set("default"))
    assert set(boards) == EXPECTED_FILES
    assert {p.name for p in (CHART / "files" / "dashboards").glob("*.json")} == EXPECTED_FILES
    uids = set()
    for name, b in boards.items():
        assert b["uid"] not in uids
        uids.add(b["uid"])
        assert b["title"].startswith("lookout / ")
        assert isinstance(b["schemaVersion"], int) and b["schemaVersion"] >= 36
        ids = [p["id"] for p in b["panels"]]
        assert len(ids) == len(set(ids)), name
        variables = {v["name"]: v for v in b["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["current"]["value"] == "lookout-prometheus"
        for p in all_panels(b):
            ds = p["datasource"]
            # Panels follow the data source variables, never a fixed uid.
            assert ds["uid"] in {"${datasource}", "${logs}"}, (name, p["title"])
            assert p["targets"], (name, p["title"])
            pos = p["gridPos"]
            assert pos["x"] + pos["w"] <= 24
        text = yaml.safe_dump(b)
        assert "@@" not in text, f"{name}: a placeholder was not replaced"


def test_dashboard_datasource_defaults_follow_the_configured_uids() -> None:
    boards = dashboards(render_set("full"))
    pods = boards["lookout-pods.json"]
    variables = {v["name"]: v for v in pods["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == "lookout-prod-metrics"
    assert variables["logs"]["current"]["value"] == "lookout-prod-logs"


def test_pods_dashboard_has_a_logs_panel_on_the_loki_source() -> None:
    pods = dashboards(render_set("default"))["lookout-pods.json"]
    logs = [p for p in all_panels(pods) if p["type"] == "logs"]
    assert len(logs) == 1
    assert logs[0]["datasource"] == {"type": "loki", "uid": "${logs}"}
    assert logs[0]["targets"][0]["expr"].startswith('{namespace="$namespace"')


def test_kubelet_and_cadvisor_metric_names_are_real() -> None:
    used = metric_names_in_dashboards(render_set("default"))
    foreign = {n for n in used if not n.startswith("lookout_")}
    assert foreign, "the node and pod dashboards use kubelet/cAdvisor metrics"
    assert foreign <= CADVISOR | KUBELET | KUBELET_RESOURCE, sorted(foreign - CADVISOR - KUBELET - KUBELET_RESOURCE)


def test_container_sums_exclude_the_kubelet_resource_duplicates() -> None:
    # /metrics/resource exposes container_cpu_usage_seconds_total and
    # container_memory_working_set_bytes too, without `image`; cAdvisor's have it.
    for name, where, q in dashboard_queries(render_set("default")):
        for metric in ["container_cpu_usage_seconds_total", "container_memory_working_set_bytes"]:
            for m in re.finditer(re.escape(metric) + r"(\{[^}]*\})?", q):
                assert m.group(1) and 'image!=""' in m.group(1), (name, where, q)


def test_metric_name_scanner() -> None:
    assert metric_names('sum by (pod) (rate(a_total{x="y{z}"}[5m])) / on (pod) b') == {"a_total", "b"}
    assert metric_names("topk(10, x) > 1e9 and ignoring (le) y:z") == {"x", "y:z"}
    assert metric_names(grafana_to_promql('rate(c{n=~"$node"}[$__rate_interval])')) == {"c"}


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries(render_set("default"))
    assert len(queries) >= 25
    # promtool parses PromQL when it checks rule files: one recording rule per query.
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"q{i}", "expr": grafana_to_promql(q)} for i, (_, _, q) in enumerate(queries)]}]}
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    out = run([promtool, "check", "rules", path])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(queries)} rules found" in out.stdout


@pytest.mark.parametrize("value_set", ["default", "full"])
def test_dashboards_configmap_fits(value_set: str) -> None:
    # A ConfigMap holds at most 1 MiB.
    cm = render_set(value_set).one("ConfigMap", "lookout-grafana-dashboards")
    assert sum(len(v) for v in cm["data"].values()) < 512 * 1024
