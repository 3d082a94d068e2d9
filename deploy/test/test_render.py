"""Rendering with real Helm: every value set renders, passes Helm's lint and validates against
the Kubernetes 1.30 schemas in strict mode; objects carry the standard labels."""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import pytest

from conftest import (KUBE_VERSION, NAMESPACE, RELEASE, VALUE_SETS, Rendered, lint, read_values,
                      render, render_set)

# Kinds with no schema in kubernetes-validate: the Prometheus Operator's, checked field by field
# in test_crds.py instead.
OPERATOR_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def test_kubernetes_validate_knows_1_30() -> None:
    assert "1.30.0" in kubernetes_validate.utils.all_versions()


def test_helm_is_v4_sdk() -> None:
    assert helm.helm_sdk_version().startswith("v4."), helm.helm_sdk_version()


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_lint_has_no_errors_or_warnings(value_set: str) -> None:
    report = lint(read_values(value_set))
    assert report["total_charts_linted"] == 1
    bad = [m for m in report["messages"] if m["severity"] >= 2]
    assert not bad, bad
    assert not report["errors"], report["errors"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_objects_validate_strictly_against_kubernetes_1_30(value_set: str) -> None:
    r = render_set(value_set)
    assert r.objects
    for i, obj in enumerate(r.objects):
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_KINDS:
            continue
        where = f"{r.source[i]}: {obj['kind']}/{obj['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{where}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{where}: {e.message}")


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_standard_labels_names_and_namespaces(value_set: str) -> None:
    r = render_set(value_set)
    seen = set()
    for obj in r.objects:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace"), meta["name"])
        assert key not in seen, f"two objects {key}"
        seen.add(key)
        labels = meta["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "lookout"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["helm.sh/chart"] == "lookout-0.1.0"
        assert labels["app.kubernetes.io/name"]
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, key
        elif not (obj["kind"] == "ConfigMap" and meta["name"].endswith(("-grafana-datasources", "-grafana-dashboards"))):
            assert meta["namespace"] == NAMESPACE, key
        if obj["kind"] not in {"CustomResourceDefinition", "ConfigMap"}:
            assert len(meta["name"]) <= 63, key


def test_release_name_shapes_the_object_names() -> None:
    assert render_set("default").daemonset["metadata"]["name"] == "lookout"
    r = render(name="obs", namespace="x")
    assert r.daemonset["metadata"]["name"] == "obs-lookout"
    assert r.daemonset["metadata"]["namespace"] == "x"
    assert render_set("emptydir").daemonset["metadata"]["name"] == "agent"
    assert render_set("nonroot").daemonset["metadata"]["name"] == "lookout-observer"


def test_duplicate_yaml_keys_would_be_caught() -> None:
    # The strict loader the tests parse with: the API server rejects duplicate keys too.
    with pytest.raises(Exception, match="duplicate key"):
        Rendered({"x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, name: b}\n"})


def test_notes_say_how_to_reach_the_api_and_add_grafana() -> None:
    notes = render_set("default").notes
    assert "port-forward service/lookout 9470" in notes
    assert "/api/v1/query" in notes and "/loki/api/v1" in notes
    assert "grafana_datasource=1" in notes and "grafana_dashboard=1" in notes
    assert "searchNamespace=ALL" in notes
    full = render_set("full").notes
    assert "port-forward service/lookout 9090" in full
    assert "Secret lookout-webhooks" in full
    assert "my_dashboards=yes" in full
    empty = render_set("emptydir").notes
    assert "emptyDir" in empty and "switched off" in empty
