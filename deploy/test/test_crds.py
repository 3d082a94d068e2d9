"""The optional Prometheus Operator CRDs (our own minimal ones) and the optional ServiceMonitor
for lookout itself."""

from __future__ import annotations

import helm_python as helm
import pytest

from conftest import NAMESPACE, read_values, render, render_set

CRDS = {"servicemonitors": "ServiceMonitor", "podmonitors": "PodMonitor",
        "prometheusrules": "PrometheusRule"}

# Field names of the Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1) that the
# chart may write: a typo here would be silently ignored by a preserve-unknown-fields CRD.
SERVICE_MONITOR_SPEC = {"jobLabel", "targetLabels", "podTargetLabels", "endpoints", "selector",
                        "namespaceSelector", "sampleLimit", "targetLimit", "labelLimit"}
SERVICE_MONITOR_ENDPOINT = {"port", "targetPort", "path", "scheme", "params", "interval",
                            "scrapeTimeout", "tlsConfig", "bearerTokenSecret", "authorization",
                            "honorLabels", "honorTimestamps", "basicAuth", "metricRelabelings",
                            "relabelings", "proxyUrl", "followRedirects", "enableHttp2"}


def test_no_crds_by_default() -> None:
    assert not render_set("default").of_kind("CustomResourceDefinition")


def test_crds_are_ours_minimal_and_kept_on_uninstall() -> None:
    crds = {c["metadata"]["name"]: c for c in render_set("crds").of_kind("CustomResourceDefinition")}
    assert set(crds) == {f"{p}.monitoring.coreos.com" for p in CRDS}
    for plural, kind in CRDS.items():
        crd = crds[f"{plural}.monitoring.coreos.com"]
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        spec = crd["spec"]
        assert spec["group"] == "monitoring.coreos.com" and spec["scope"] == "Namespaced"
        assert spec["names"]["kind"] == kind and spec["names"]["plural"] == plural
        assert spec["names"]["singular"] == kind.lower()
        (version,) = spec["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["required"] == ["spec"]
        # Honest about it: the spec is not validated by the API server.
        assert schema["properties"]["spec"] == {
            "description": schema["properties"]["spec"]["description"],
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_service_monitor_selects_the_service_port() -> None:
    r = render_set("full")
    sm = r.one("ServiceMonitor")
    svc = r.one("Service")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["namespace"] == NAMESPACE
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus"
    spec = sm["spec"]
    assert set(spec) <= SERVICE_MONITOR_SPEC
    assert spec["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (ep,) = spec["endpoints"]
    assert set(ep) <= SERVICE_MONITOR_ENDPOINT
    assert ep["port"] == svc["spec"]["ports"][0]["name"]
    assert ep["path"] == "/metrics" and ep["scheme"] == "http"
    assert ep["interval"] == "15s" and ep["scrapeTimeout"] == "5s"
    assert not render_set("default").of_kind("ServiceMonitor")


def test_service_monitor_and_crds_in_one_install_fail_clearly() -> None:
    values = {"prometheusOperatorCrds": {"install": True}, "serviceMonitor": {"enabled": True}}
    with pytest.raises(helm.HelmRenderError, match="cannot both be set on the first install"):
        render(values)
    # On an upgrade the CRDs exist already, so both are fine.
    r = render(values, install=False)
    assert len(r.of_kind("CustomResourceDefinition")) == 3
    assert r.one("ServiceMonitor")


def test_crds_value_set_is_only_the_crds() -> None:
    assert read_values("crds") == {"prometheusOperatorCrds": {"install": True}}
