"""RBAC: the rendered ClusterRole and Role are exactly files/rbac-rules.yaml (the list lookout's
discovery code is to embed), that list stays narrow, and the bindings point at the agents'
ServiceAccount."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import CHART, NAMESPACE, load_yaml, render_set

RULES_FILE = CHART / "files" / "rbac-rules.yaml"
READ_VERBS = {"get", "list", "watch"}
RULE_KEYS = {"apiGroups", "resources", "verbs"}


@pytest.fixture(scope="module")
def rbac() -> dict[str, list[dict[str, Any]]]:
    data = load_yaml(RULES_FILE.read_text())
    assert set(data) == {"clusterRules", "namespacedRules"}
    return data


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


def test_rules_file_is_a_plain_list_of_policy_rules(rbac: dict[str, list[dict[str, Any]]]) -> None:
    for scope, rules in rbac.items():
        assert rules, scope
        for rule in rules:
            assert set(rule) == RULE_KEYS, rule
            for key in RULE_KEYS:
                assert isinstance(rule[key], list) and rule[key], (scope, rule)
                assert all(isinstance(x, str) for x in rule[key])


def test_no_wildcards_and_no_duplicates(rbac: dict[str, list[dict[str, Any]]]) -> None:
    for scope, rules in rbac.items():
        flat = [(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]
                for v in rule["verbs"]]
        assert len(flat) == len(set(flat)), f"{scope}: a grant is listed twice"
        for g, r, v in flat:
            assert "*" not in g and "*" not in r and "*" not in v, (scope, g, r, v)


def test_cluster_wide_access_is_read_only_and_secrets_are_get_only(
        rbac: dict[str, list[dict[str, Any]]]) -> None:
    cluster = grants(rbac["clusterRules"])
    assert {v for _, _, v in cluster} <= READ_VERBS
    secrets = {v for g, r, v in cluster if (g, r) == ("", "secrets")}
    assert secrets == {"get"}, "listing or watching Secrets cluster-wide would expose all of them"
    # The kubelet's metrics need nodes/metrics; nodes/proxy would allow exec and more.
    assert ("", "nodes/metrics", "get") in cluster
    assert not any(r in {"nodes/proxy", "nodes", "pods/exec", "pods/log"} for _, r, _ in cluster)


def test_cluster_rules_cover_what_discovery_and_rules_watch(rbac: dict[str, list[dict[str, Any]]]) -> None:
    # The objects issues 5 and 7 name; this is the contract the discovery code will test its
    # own requests against, so each watched kind must be listed and watched.
    cluster = grants(rbac["clusterRules"])
    for group, resource in [("", "pods"), ("", "services"), ("", "namespaces"),
                            ("discovery.k8s.io", "endpointslices"),
                            ("monitoring.coreos.com", "servicemonitors"),
                            ("monitoring.coreos.com", "podmonitors"),
                            ("monitoring.coreos.com", "prometheusrules")]:
        assert (group, resource, "list") in cluster and (group, resource, "watch") in cluster, resource


def test_leases_are_namespaced_only(rbac: dict[str, list[dict[str, Any]]]) -> None:
    assert grants(rbac["namespacedRules"]) == {("coordination.k8s.io", "leases", v)
                                               for v in ["get", "create", "update"]}
    assert not any(r == "leases" for _, r, _ in grants(rbac["clusterRules"]))


@pytest.mark.parametrize("value_set", ["default", "full", "crds", "nonroot"])
def test_rendered_roles_equal_the_rules_file(value_set: str, rbac: dict[str, list[dict[str, Any]]]) -> None:
    r = render_set(value_set)
    assert r.one("ClusterRole")["rules"] == rbac["clusterRules"]
    role = r.one("Role")
    assert role["rules"] == rbac["namespacedRules"]
    assert role["metadata"]["namespace"] == NAMESPACE
    sa = r.one("ServiceAccount")
    assert sa["automountServiceAccountToken"] is True
    pod = r.daemonset["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True
    for kind, role_kind in [("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")]:
        b = r.one(kind)
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                "name": r.one(role_kind)["metadata"]["name"]}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                  "namespace": NAMESPACE}]


def test_without_rbac_and_with_an_existing_service_account() -> None:
    r = render_set("emptydir")
    for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"]:
        assert not r.of_kind(kind), kind
    assert r.daemonset["spec"]["template"]["spec"]["serviceAccountName"] == "observability-agent"
