//! Feeds the log tailer's pod-label map ([`crate::logs::PodLabels`]) from the pod watch that
//! discovery already runs for this node (field selector `spec.nodeName`).
//!
//! The task waits for every pod store's first complete list, then every [`INTERVAL`] applies
//! the stores' contents as the complete set of live pods: new and relabelled pods are
//! upserted, pods gone from the stores are marked deleted (their labels stay for
//! `keep_deleted`, see the map). The reflector swaps a store only after a complete relist, so
//! a watch error or `410 Gone` never makes live pods look deleted. While this task runs the
//! map is `active` (the tailer waits a bounded time for unknown pods); it clears the flag
//! when discovery stops.
//!
//! Cost: one pass over the node's pods (about a hundred) per interval; a pod's label list is
//! rebuilt only when its labels changed.

use crate::logs::PodLabels;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch as channel;

/// How often the stores are applied to the map.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// Runs until `stop`.
pub async fn run(stores: Vec<Store<Pod>>, map: Arc<PodLabels>, mut stop: channel::Receiver<bool>) {
    map.set_active(true);
    for s in &stores {
        tokio::select! {
            r = s.wait_until_ready() => if r.is_err() { map.set_active(false); return; },
            _ = stop.wait_for(|s| *s) => { map.set_active(false); return; }
        }
    }
    let empty = BTreeMap::new();
    loop {
        let pods: Vec<Arc<Pod>> = stores.iter().flat_map(|s| s.state()).collect();
        map.sync(
            pods.iter().filter_map(|p| {
                let uid = p.metadata.uid.as_deref()?;
                Some((uid, p.metadata.labels.as_ref().unwrap_or(&empty)))
            }),
            Instant::now(),
        );
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    map.set_active(false);
}
