//! Leader election with a `coordination.k8s.io/v1` Lease, choosing the one agent that scrapes
//! targets without a node (the API server's endpoints, endpoints without a `targetRef`).
//!
//! Protocol (client-go's, written from its documented behaviour): every `retry` the agent
//! reads the Lease. Missing → create it holding it. Held by us → renew (`renewTime`). Held by
//! another → take it over only if the Lease record has not changed for `lease_duration` as
//! observed on *our* clock (so clock skew between nodes does not matter). Writes carry the
//! read `resourceVersion`, so of two agents racing for an expired Lease exactly one wins (the
//! other gets 409 Conflict). A holder that cannot renew within 2/3 of `lease_duration` steps
//! down by itself before anyone else can take over, so two leaders never overlap as long as
//! clocks run at the same rate. On shutdown the holder releases the Lease (empties
//! `holderIdentity`) so another agent takes over at its next retry instead of waiting.
//!
//! Failover time: at most `lease_duration + retry` after the holder dies (15s + 2s default);
//! at most `retry` after a clean shutdown. Errors (RBAC denial, API down) count as "not
//! leader" for a non-holder and are counted in `lookout_kubernetes_lease_errors_total`.
//! Cost: one GET (+ one write while leading) per `retry`.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Settings of one elector.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub retry: Duration,
}

impl LeaseConfig {
    /// `retry` as client-go's defaults relate it to the duration (15s → 2s).
    pub fn default_retry(lease_duration: Duration) -> Duration {
        (lease_duration / 7).max(Duration::from_millis(200))
    }
}

/// What identifies a Lease record: holder and renew time.
type Record = (Option<String>, Option<String>);

struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The last record seen (holder, renewTime) and when we first saw it.
    observed: Option<(Record, Instant)>,
    last_renew: Option<Instant>,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Elector {
    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(self.cfg.lease_duration.as_secs().max(1) as i32),
            acquire_time: Some(acquired.unwrap_or_else(now)),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One round: returns whether we hold the Lease afterwards.
    async fn round(&mut self) -> Result<bool, kube::Error> {
        let lease = match self.api.get(&self.cfg.name).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => {
                let l = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.name.clone()),
                        namespace: Some(self.cfg.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(0, None)),
                };
                return match self.api.create(&PostParams::default(), &l).await {
                    Ok(_) => Ok(true),
                    Err(e) if is_conflict(&e) => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| t.0.to_string()),
        );
        let first_seen = match &self.observed {
            Some((r, at)) if *r == record => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((record, at));
                at
            }
        };
        let mine = holder.as_deref() == Some(self.cfg.identity.as_str());
        let expired = holder.is_none() || first_seen.elapsed() >= self.cfg.lease_duration;
        if !mine && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        let mut next = lease.clone();
        next.spec = Some(self.spec(transitions, acquired));
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Empties the holder if it is us (on shutdown).
    async fn release(&self) {
        let Ok(mut lease) = self.api.get(&self.cfg.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        let _ = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await;
    }
}

/// Runs the elector until `stop` turns true, publishing leadership on `tx`.
pub async fn run(
    client: kube::Client,
    cfg: LeaseConfig,
    tx: watch::Sender<bool>,
    telemetry: Arc<super::KubeTelemetry>,
    mut stop: watch::Receiver<bool>,
) {
    let retry = cfg.retry;
    let mut e = Elector {
        api: Api::namespaced(client, &cfg.namespace),
        cfg,
        observed: None,
        last_renew: None,
    };
    loop {
        let leading = match e.round().await {
            Ok(true) => {
                e.last_renew = Some(Instant::now());
                telemetry.status.lease(None);
                true
            }
            Ok(false) => {
                telemetry.status.lease(None);
                false
            }
            Err(err) => {
                telemetry.lease_errors.fetch_add(1, Relaxed);
                telemetry.status.lease(Some(super::describe_error(&err)));
                tracing::warn!(lease = %e.cfg.name, namespace = %e.cfg.namespace, error = %err, "leader election");
                // Keep leading only while our last renewal is surely still valid.
                e.last_renew
                    .is_some_and(|t| t.elapsed() < e.cfg.lease_duration * 2 / 3)
            }
        };
        if !leading {
            e.last_renew = None;
        }
        if *tx.borrow() != leading {
            tracing::info!(identity = %e.cfg.identity, leading, "leadership changed");
            telemetry.leader.store(u64::from(leading), Relaxed);
        }
        tx.send_if_modified(|v| std::mem::replace(v, leading) != leading);
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if *tx.borrow() {
        e.release().await;
        let _ = tx.send(false);
        telemetry.leader.store(0, Relaxed);
    }
}
