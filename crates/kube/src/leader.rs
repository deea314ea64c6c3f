//! Leader election on a `coordination.k8s.io/v1` Lease, as Kubernetes' own controllers do it: one
//! replica holds the Lease and renews it; the others wait, and take it over once it has not been
//! renewed for its duration. The holder counts itself leader only until `renew_deadline` after its
//! last successful renewal, which is shorter than the duration: it stops before anyone can start.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Settings of an election.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease holds without renewal before another replica may take it.
    pub duration: Duration,
    /// How long the holder keeps leading without a successful renewal; less than `duration`.
    pub renew_deadline: Duration,
    /// How often the holder renews and a follower retries.
    pub retry: Duration,
}

impl LeaseOptions {
    /// Kubernetes' defaults (15 s, 10 s, 2 s) for `identity`.
    pub fn new(namespace: &str, identity: &str) -> Self {
        LeaseOptions {
            namespace: namespace.to_string(),
            name: "waybill-controller-leader".to_string(),
            identity: identity.to_string(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

fn lease_resource() -> ApiResource {
    ApiResource {
        group: "coordination.k8s.io".into(),
        version: "v1".into(),
        api_version: "coordination.k8s.io/v1".into(),
        kind: "Lease".into(),
        plural: "leases".into(),
    }
}

fn micro_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Holding the Lease: [`Leadership::lost`] resolves when it can no longer be renewed in time.
pub struct Leadership {
    lost: watch::Receiver<bool>,
    renewer: tokio::task::JoinHandle<()>,
    api: Api<DynamicObject>,
    options: LeaseOptions,
}

impl Leadership {
    /// Resolves once this replica may no longer act as leader.
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Gives the Lease up at once (a clean stop), so a follower need not wait for it to expire.
    pub async fn release(self) {
        self.renewer.abort();
        let (api, options) = (self.api.clone(), self.options.clone());
        drop(self);
        let (api, options) = (&api, &options);
        let patch = json!({"spec": {"holderIdentity": null, "renewTime": null, "acquireTime": null}});
        if let Ok(current) = api.get(&options.name).await
            && holder(&current.data) == Some(options.identity.as_str())
        {
            let _ = api.patch(&options.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // No longer held by anyone here: stop renewing (a follower takes over once it expires).
        self.renewer.abort();
    }
}

fn holder(lease: &Value) -> Option<&str> {
    lease["spec"]["holderIdentity"].as_str().filter(|h| !h.is_empty())
}

/// Whether the Lease is held by someone who renewed it within its duration.
fn held_by_other(lease: &Value, me: &str, now: DateTime<Utc>) -> bool {
    let Some(who) = holder(lease) else { return false };
    if who == me {
        return false;
    }
    let renewed = lease["spec"]["renewTime"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let seconds = lease["spec"]["leaseDurationSeconds"].as_i64().unwrap_or(15);
    renewed.is_some_and(|r| now < r.with_timezone(&Utc) + chrono::Duration::seconds(seconds))
}

/// Waits until this replica holds the Lease, then keeps renewing it in the background.
pub async fn acquire(client: kube::Client, options: LeaseOptions) -> Leadership {
    let api: Api<DynamicObject> = Api::namespaced_with(client, &options.namespace, &lease_resource());
    let mut announced = false;
    loop {
        match try_acquire(&api, &options).await {
            Ok(true) => break,
            Ok(false) => {
                if !announced {
                    tracing::info!(lease = %options.name, "another replica leads; waiting for the lease");
                    announced = true;
                }
            }
            Err(e) => tracing::warn!(lease = %options.name, "failed to acquire the lease, retrying: {e}"),
        }
        tokio::time::sleep(options.retry).await;
    }
    tracing::info!(lease = %options.name, identity = %options.identity, "acquired the lease: leading");
    let (tx, lost) = watch::channel(false);
    let renewer = tokio::spawn(renew(api.clone(), options.clone(), tx));
    Leadership { lost, renewer, api, options }
}

/// One attempt: creates the Lease, renews our own, or takes over an expired one.
async fn try_acquire(api: &Api<DynamicObject>, options: &LeaseOptions) -> Result<bool, kube::Error> {
    let now = Utc::now();
    let spec = |transitions: i64| {
        json!({
            "holderIdentity": options.identity,
            "leaseDurationSeconds": options.duration.as_secs(),
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        })
    };
    let Some(current) = api.get_opt(&options.name).await? else {
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": options.name, "namespace": options.namespace},
            "spec": spec(0),
        });
        let obj: DynamicObject = serde_json::from_value(lease).map_err(kube::Error::SerdeError)?;
        return match api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    if held_by_other(&current.data, &options.identity, now) {
        return Ok(false);
    }
    let transitions = current.data["spec"]["leaseTransitions"].as_i64().unwrap_or(0)
        + i64::from(holder(&current.data) != Some(options.identity.as_str()));
    // The resourceVersion makes the takeover conditional: of two followers, one wins.
    let patch = json!({"metadata": {"resourceVersion": current.metadata.resource_version}, "spec": spec(transitions)});
    match api.patch(&options.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Renews every `retry`; reports the lease lost once no renewal succeeded for `renew_deadline` or
/// another replica holds it.
async fn renew(api: Api<DynamicObject>, options: LeaseOptions, lost: watch::Sender<bool>) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(options.retry).await;
        let attempt = async {
            let current = api.get(&options.name).await?;
            if holder(&current.data) != Some(options.identity.as_str()) {
                return Ok(false);
            }
            let patch = json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "spec": {"renewTime": micro_time(Utc::now())},
            });
            api.patch(&options.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| true)
        };
        let renewed = tokio::time::timeout(options.retry, attempt).await;
        match renewed {
            Ok(Ok(true)) => last_renewed = tokio::time::Instant::now(),
            Ok(Ok(false)) => {
                tracing::error!(lease = %options.name, "another replica took the lease: stopping");
                let _ = lost.send(true);
                return;
            }
            Ok(Err(e)) => tracing::warn!(lease = %options.name, "failed to renew the lease: {e}"),
            Err(_) => tracing::warn!(lease = %options.name, "renewing the lease timed out"),
        }
        if last_renewed.elapsed() >= options.renew_deadline {
            tracing::error!(lease = %options.name, "could not renew the lease in time: stopping");
            let _ = lost.send(true);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::held_by_other;

    #[test]
    fn a_lease_is_held_by_another_only_while_its_renewal_is_recent() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:20Z").expect("time").to_utc();
        let lease = |holder: &str, renewed: &str| json!({"spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 15}});
        assert!(held_by_other(&lease("a", "2026-01-01T00:00:10.000000Z"), "b", now), "renewed 10 s ago");
        assert!(!held_by_other(&lease("a", "2026-01-01T00:00:04.000000Z"), "b", now), "expired 1 s ago");
        assert!(!held_by_other(&lease("b", "2026-01-01T00:00:10.000000Z"), "b", now), "our own");
        assert!(!held_by_other(&lease("", "2026-01-01T00:00:10.000000Z"), "b", now), "released");
    }
}
