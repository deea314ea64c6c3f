//! Leader election against the API server stand-in: one replica leads, a follower waits and takes
//! over within the lease duration when the leader dies, at once when it releases the lease, and a
//! leader whose lease is taken learns it has lost.

use std::time::Duration;

use waybill_kube::leader::{LeaseOptions, acquire};
use waybill_testsupport::kubeapi::KubeApi;

fn options(identity: &str) -> LeaseOptions {
    LeaseOptions {
        duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1200),
        retry: Duration::from_millis(200),
        ..LeaseOptions::new("default", identity)
    }
}

fn client(api: &KubeApi) -> kube::Client {
    kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_waits_while_the_leader_renews_and_takes_over_within_the_lease_duration_when_it_dies() {
    let api = KubeApi::start().await;
    let a = acquire(client(&api), options("a")).await;
    let lease = api.get("Lease", "default", "waybill-controller-leader").expect("the lease exists");
    assert_eq!(lease["spec"]["holderIdentity"], "a");

    let follower = tokio::spawn(acquire(client(&api), options("b")));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!follower.is_finished(), "the follower waits while the leader renews (longer than the lease duration)");

    let died = tokio::time::Instant::now();
    drop(a);
    let b =
        tokio::time::timeout(Duration::from_secs(5), follower).await.expect("the follower takes over").expect("join");
    let waited = died.elapsed();
    assert!(waited <= Duration::from_millis(2600), "taken over within the lease duration and a retry: {waited:?}");
    let lease = api.get("Lease", "default", "waybill-controller-leader").expect("the lease");
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    b.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_at_once() {
    let api = KubeApi::start().await;
    let a = acquire(client(&api), options("a")).await;
    let follower = tokio::spawn(acquire(client(&api), options("b")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let released = tokio::time::Instant::now();
    a.release().await;
    tokio::time::timeout(Duration::from_secs(1), follower)
        .await
        .expect("taken without waiting for expiry")
        .expect("join");
    assert!(released.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stops_leading() {
    let api = KubeApi::start().await;
    let mut a = acquire(client(&api), options("a")).await;
    api.modify("Lease", "default", "waybill-controller-leader", |lease| {
        lease["spec"]["holderIdentity"] = "intruder".into();
    });
    tokio::time::timeout(Duration::from_secs(2), a.lost()).await.expect("the leader learns it lost the lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_before_the_lease_expires() {
    let api = KubeApi::start().await;
    let mut a = acquire(client(&api), options("a")).await;
    let cut = tokio::time::Instant::now();
    api.fail_next(&[503; 1000]);
    tokio::time::timeout(Duration::from_secs(3), a.lost()).await.expect("the leader gives up");
    let led = cut.elapsed();
    assert!(led < Duration::from_secs(2), "it stopped leading before the lease could expire for others: {led:?}");
}
