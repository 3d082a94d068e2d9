"""The DaemonSet: on every node, the node name from the downward API, read-only log mounts, the
data directory, probes and ports that match, a tight securityContext, rolling updates, and a
config checksum that rolls the pods exactly when the config changes."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import VALUE_SETS, Rendered, read_values, render, render_set


def pod_spec(r: Rendered) -> dict[str, Any]:
    return r.daemonset["spec"]["template"]["spec"]


def mounts(r: Rendered) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in r.container["volumeMounts"]}


def volumes(r: Rendered) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(r)["volumes"]}


def args(r: Rendered) -> dict[str, str]:
    out = {}
    for a in r.container["args"][1:]:
        name, _, value = a.partition("=")
        out.setdefault(name, value)
    return out


def test_runs_lookout_agent_with_the_flags_the_program_defines() -> None:
    c = render_set("default").container
    assert c["args"][0] == "agent"
    a = args(render_set("default"))
    assert a == {
        "--config": "/etc/lookout/lookout.yaml",
        "--data-dir": "/var/lib/lookout",
        "--listen": "0.0.0.0:9470",
        "--log-level": "info",
        "--log-format": "json",
    }
    full = render_set("full")
    assert args(full)["--listen"] == "[::]:9555"
    assert full.container["args"][-1] == "--log-level=debug"  # extraArgs come last
    assert full.container["image"] == ("registry.example.com/lookout@sha256:"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert render_set("default").container["image"] == "lookout:0.1.0"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_node_including_the_control_plane(value_set: str) -> None:
    r = render_set(value_set)
    spec = pod_spec(r)
    tolerations = spec.get("tolerations", [])
    if value_set == "full":
        assert tolerations == [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                "effect": "NoSchedule"}]
    else:
        # One toleration without key or effect and operator Exists matches every taint.
        assert tolerations == [{"operator": "Exists"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_node_name_and_friends_come_from_the_downward_api(value_set: str) -> None:
    env = {e["name"]: e for e in render_set(value_set).container["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_log_mounts_are_read_only_host_paths() -> None:
    r = render_set("default")
    m, v = mounts(r), volumes(r)
    assert m["/var/log/pods"]["readOnly"] is True
    assert v[m["/var/log/pods"]["name"]]["hostPath"] == {"path": "/var/log/pods", "type": "Directory"}
    assert "/var/log" not in m and "/var/lib/docker/containers" not in m

    full = render_set("full")
    m, v = mounts(full), volumes(full)
    for path in ["/var/log/pods", "/var/log", "/var/lib/docker/containers"]:
        assert m[path]["readOnly"] is True, path
        assert v[m[path]["name"]]["hostPath"]["path"] == path

    empty = render_set("emptydir")
    assert not any(p.startswith("/var/log") for p in mounts(empty))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_only_the_data_and_tmp_mounts_are_writable(value_set: str) -> None:
    r = render_set(value_set)
    writable = {p for p, m in mounts(r).items() if not m.get("readOnly")}
    assert writable == {"/var/lib/lookout", "/tmp"}
    assert args(r)["--data-dir"] == "/var/lib/lookout"


def test_data_directory_host_path_or_empty_dir() -> None:
    v = volumes(render_set("default"))["data"]
    assert v == {"name": "data", "hostPath": {"path": "/var/lib/lookout", "type": "DirectoryOrCreate"}}
    assert volumes(render_set("full"))["data"]["hostPath"]["path"] == "/var/lib/lookout-prod"
    assert volumes(render_set("emptydir"))["data"] == {"name": "data", "emptyDir": {"sizeLimit": "5Gi"}}
    assert volumes(render_set("nonroot"))["data"] == {"name": "data", "emptyDir": {}}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_probes_and_ports_fit_together(value_set: str) -> None:
    r = render_set(value_set)
    c = r.container
    (port,) = c["ports"]
    listen_port = int(args(r)["--listen"].rsplit(":", 1)[1])
    assert port["containerPort"] == listen_port
    for probe, path in [("startupProbe", "/-/healthy"), ("livenessProbe", "/-/healthy"),
                        ("readinessProbe", "/-/ready")]:
        get = c[probe]["httpGet"]
        assert get == {"path": path, "port": port["name"]}, probe
    # The liveness probe must not kill an agent that is still replaying its WAL.
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 120
    svc = r.one("Service")
    (sp,) = svc["spec"]["ports"]
    assert sp["targetPort"] == port["name"]
    # The Service selects exactly the agent pods.
    pod_labels = r.daemonset["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert r.daemonset["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_security_context_is_tight(value_set: str) -> None:
    r = render_set(value_set)
    sc = r.container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    psc = pod_spec(r)["securityContext"]
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    spec = pod_spec(r)
    for host_ns in ["hostNetwork", "hostPID", "hostIPC"]:
        assert not spec.get(host_ns), host_ns
    if value_set == "nonroot":
        assert psc["runAsUser"] == 65534 and psc["runAsNonRoot"] is True
    else:
        # Root for reading root-owned 0640 logs, as documented; but with nothing else.
        assert psc["runAsUser"] == 0


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rolling_updates_one_agent_per_node(value_set: str) -> None:
    r = render_set(value_set)
    strategy = r.daemonset["spec"]["updateStrategy"]
    assert strategy["type"] == "RollingUpdate"
    # Two agents on one node would share the data directory.
    assert strategy["rollingUpdate"]["maxSurge"] == 0
    expected = "10%" if value_set == "full" else 1
    assert strategy["rollingUpdate"]["maxUnavailable"] == expected
    grace = pod_spec(r)["terminationGracePeriodSeconds"]
    assert grace >= 30
    assert grace == (120 if value_set == "full" else 60)


def test_resources_are_requested_and_memory_is_limited() -> None:
    res = render_set("default").container["resources"]
    assert res == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    assert render_set("full").container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}


def checksum(r: Rendered) -> str:
    return r.daemonset["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_config_checksum_rolls_pods_on_config_or_rule_change_only() -> None:
    base = checksum(render_set("default"))
    assert len(base) == 64
    assert checksum(render()) == base
    changed_config = render({"config": {"global": {"scrape_interval": "20s"}}})
    assert checksum(changed_config) != base
    changed_rules = render({"rules": {"files": {"extra": {"groups": []}}}})
    assert checksum(changed_rules) != base
    # Not part of the config: no roll.
    assert checksum(render({"service": {"port": 9999}})) == base
    assert checksum(render({"agent": {"logLevel": "debug"}})) == base


def test_extra_env_labels_annotations_and_scheduling_pass_through() -> None:
    r = render_set("full")
    spec = pod_spec(r)
    env = {e["name"]: e for e in r.container["env"]}
    assert env["RUST_BACKTRACE"] == {"name": "RUST_BACKTRACE", "value": "1"}
    meta = r.daemonset["spec"]["template"]["metadata"]
    assert meta["labels"]["tier"] == "observability" and meta["labels"]["team"] == "platform"
    assert meta["annotations"]["example.com/scrape"] == "false"
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert spec["affinity"] == read_values("full")["agent"]["affinity"]
    assert r.daemonset["spec"]["minReadySeconds"] == 5
