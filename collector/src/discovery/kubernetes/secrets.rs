//! The Secrets monitors reference: fetched one by one with a namespaced `get` (the agent may
//! not list or watch Secrets), cached, and re-fetched every [`REFRESH`] so a rotated password
//! reaches the scrape jobs without a restart.
//!
//! A failed fetch (missing Secret, RBAC denial, API error) is cached as an error too, so the
//! job that needs it is refused with that error until the next refresh; it never blocks other
//! jobs. Cost: one GET per referenced Secret per refresh period.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How often cached Secrets are fetched again.
pub const REFRESH: Duration = Duration::from_secs(60);

type Key = (String, String);

struct Entry {
    fetched: Instant,
    value: Result<BTreeMap<String, Vec<u8>>, String>,
}

/// The cache of referenced Secrets, keyed by namespace and name.
#[derive(Default)]
pub struct SecretCache {
    entries: BTreeMap<Key, Entry>,
}

impl SecretCache {
    /// Fetches the Secrets in `wanted` that are missing or older than [`REFRESH`], forgets
    /// the ones no longer wanted. Returns whether any cached content changed.
    pub async fn refresh(
        &mut self,
        client: &kube::Client,
        wanted: &BTreeSet<Key>,
        errors: &super::KubeTelemetry,
    ) -> bool {
        let before = self.entries.len();
        self.entries.retain(|k, _| wanted.contains(k));
        let mut changed = self.entries.len() != before;
        for key in wanted {
            if self
                .entries
                .get(key)
                .is_some_and(|e| e.fetched.elapsed() < REFRESH)
            {
                continue;
            }
            let api: Api<Secret> = Api::namespaced(client.clone(), &key.0);
            let value = match api.get(&key.1).await {
                Ok(s) => Ok(s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect()),
                Err(e) => {
                    errors
                        .secret_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(namespace = %key.0, secret = %key.1, error = %e, "cannot read secret");
                    Err(super::describe_error(&e))
                }
            };
            let same = self.entries.get(key).is_some_and(|old| old.value == value);
            changed |= !same;
            self.entries.insert(
                key.clone(),
                Entry {
                    fetched: Instant::now(),
                    value,
                },
            );
        }
        changed
    }

    /// The value of `key` in Secret `ns/name`, as UTF-8 text.
    pub fn get(&self, ns: &str, name: &str, key: &str) -> Result<String, String> {
        let e = self
            .entries
            .get(&(ns.to_string(), name.to_string()))
            .ok_or_else(|| format!("secret {ns}/{name} not fetched yet"))?;
        let data = e
            .value
            .as_ref()
            .map_err(|err| format!("secret {ns}/{name}: {err}"))?;
        let bytes = data
            .get(key)
            .ok_or_else(|| format!("secret {ns}/{name} has no key {key:?}"))?;
        String::from_utf8(bytes.clone())
            .map_err(|_| format!("secret {ns}/{name} key {key:?} is not UTF-8"))
    }

    /// A fingerprint of what is cached for `ns/name` (changes when its content does).
    pub fn fingerprint(&self, ns: &str, name: &str, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        match self.entries.get(&(ns.to_string(), name.to_string())) {
            None => 0u8.hash(h),
            Some(Entry { value: Ok(d), .. }) => d.hash(h),
            Some(Entry { value: Err(e), .. }) => e.hash(h),
        }
    }
}
