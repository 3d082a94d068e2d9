//! What the discovery code asks of the API server, checked against the Helm chart's one
//! authoritative list of RBAC rules (`deploy/helm/lookout/files/rbac-rules.yaml`, embedded
//! here). A test fails when the code makes a request the file does not grant, or when the
//! file grants something no code uses, so the two cannot drift apart.
//!
//! Cost: none at run time (the list is a constant; the file is parsed in tests only).

/// Where a request is scoped: the whole cluster (ClusterRole) or the agent's namespace (Role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Cluster,
    Namespaced,
}

/// One kind of request: API group, resource, verbs, scope.
pub type Request = (&'static str, &'static str, &'static [&'static str], Scope);

/// Every request Kubernetes discovery makes (watchers list+watch; Secrets and Leases by name;
/// the kubelet authorizes `/metrics*` as `get` on `nodes/metrics`).
pub const REQUESTS: &[Request] = &[
    ("", "pods", &["list", "watch"], Scope::Cluster),
    ("", "services", &["list", "watch"], Scope::Cluster),
    ("", "namespaces", &["list", "watch"], Scope::Cluster),
    ("", "secrets", &["get"], Scope::Cluster),
    ("", "nodes/metrics", &["get"], Scope::Cluster),
    (
        "discovery.k8s.io",
        "endpointslices",
        &["list", "watch"],
        Scope::Cluster,
    ),
    (
        "monitoring.coreos.com",
        "servicemonitors",
        &["list", "watch"],
        Scope::Cluster,
    ),
    (
        "monitoring.coreos.com",
        "podmonitors",
        &["list", "watch"],
        Scope::Cluster,
    ),
    (
        "monitoring.coreos.com",
        "prometheusrules",
        &["list", "watch"],
        Scope::Cluster,
    ),
    (
        "coordination.k8s.io",
        "leases",
        &["get", "create", "update"],
        Scope::Namespaced,
    ),
];

/// Requests the file grants for other parts of lookout (not this module), with who uses them.
pub const OTHER_USERS: &[(Request, &str)] = &[];

/// The chart's RBAC rules file.
pub const RBAC_RULES_YAML: &str =
    include_str!("../../../../deploy/helm/lookout/files/rbac-rules.yaml");

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeSet;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Rule {
        api_groups: Vec<String>,
        resources: Vec<String>,
        verbs: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct File {
        cluster_rules: Vec<Rule>,
        namespaced_rules: Vec<Rule>,
    }

    type Grant = (Scope, String, String, String);

    fn expand(rules: &[Rule], scope: Scope, out: &mut BTreeSet<Grant>) {
        for r in rules {
            for g in &r.api_groups {
                for res in &r.resources {
                    for v in &r.verbs {
                        out.insert((scope, g.clone(), res.clone(), v.clone()));
                    }
                }
            }
        }
    }

    fn wanted(reqs: impl Iterator<Item = Request>) -> BTreeSet<Grant> {
        let mut out = BTreeSet::new();
        for (g, r, verbs, scope) in reqs {
            for v in verbs {
                out.insert((scope, g.to_string(), r.to_string(), v.to_string()));
            }
        }
        out
    }

    #[test]
    fn code_requests_equal_the_chart_rbac_file() {
        let f: File = serde_yaml_ng::from_str(RBAC_RULES_YAML).expect("rbac-rules.yaml parses");
        let mut granted = BTreeSet::new();
        expand(&f.cluster_rules, Scope::Cluster, &mut granted);
        expand(&f.namespaced_rules, Scope::Namespaced, &mut granted);
        let mine = wanted(REQUESTS.iter().copied());
        let others = wanted(OTHER_USERS.iter().map(|(r, _)| *r));
        let missing: Vec<_> = mine.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "requests not granted by rbac-rules.yaml: {missing:?}"
        );
        let all: BTreeSet<_> = mine.union(&others).cloned().collect();
        let extra: Vec<_> = granted.difference(&all).collect();
        assert!(
            extra.is_empty(),
            "rbac-rules.yaml grants what no code uses: {extra:?}"
        );
        assert!(
            !granted
                .iter()
                .any(|(_, g, r, v)| g == "*" || r == "*" || v == "*")
        );
    }

    #[test]
    fn the_check_would_catch_a_missing_grant() {
        let f: File = serde_yaml_ng::from_str(RBAC_RULES_YAML).expect("parses");
        let mut granted = BTreeSet::new();
        expand(&f.cluster_rules, Scope::Cluster, &mut granted);
        let extra = wanted(std::iter::once((
            "",
            "configmaps",
            &["get"][..],
            Scope::Cluster,
        )));
        assert!(!extra.is_subset(&granted));
    }
}
