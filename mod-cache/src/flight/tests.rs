use super::*;
use agtp_core::{Response, Status};
use tokio::time::Instant;

fn key() -> Arc<Key> {
    Arc::new(Key::new("QUERY", "/p", None, None))
}

fn roles(flights: &Arc<Flights>) -> (Leader, Follower) {
    let Role::Leader(leader) = flights.join(&key()) else {
        panic!("the first miss leads")
    };
    let Role::Follower(follower) = flights.join(&key()) else {
        panic!("the second miss follows")
    };
    (leader, follower)
}

#[tokio::test]
async fn a_follower_gets_what_the_leader_stored() {
    let flights = Arc::new(Flights::default());
    let (leader, follower) = roles(&flights);
    let waiting = tokio::spawn(follower.wait(Duration::from_secs(5)));
    let stored = Arc::new(Stored {
        response: Response::new(Status::OK),
        expires: Instant::now(),
    });
    leader.finish(Some(stored.clone()));
    let got = waiting.await.unwrap().expect("the leader's answer");
    assert!(Arc::ptr_eq(&got, &stored));
    assert_eq!(flights.len(), 0);
}

#[tokio::test]
async fn a_dropped_leader_releases_its_followers_at_once() {
    let flights = Arc::new(Flights::default());
    let (leader, follower) = roles(&flights);
    let waiting = tokio::spawn(follower.wait(Duration::from_secs(60)));
    drop(leader);
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert!(got.expect("released, not timed out").unwrap().is_none());
    assert!(matches!(flights.join(&key()), Role::Leader(_)));
}

#[tokio::test(start_paused = true)]
async fn a_follower_stops_waiting_at_the_lock_timeout() {
    let flights = Arc::new(Flights::default());
    let (_leader, follower) = roles(&flights);
    let started = tokio::time::Instant::now();
    assert!(follower.wait(Duration::from_millis(300)).await.is_none());
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[test]
fn invalidating_a_path_marks_only_its_flights() {
    let flights = Arc::new(Flights::default());
    let (leader, _follower) = roles(&flights);
    let Role::Leader(other) = flights.join(&Arc::new(Key::new("QUERY", "/q", None, None))) else {
        panic!("another key leads its own flight")
    };
    flights.invalidate_path("/p");
    assert!(leader.is_invalidated());
    assert!(!other.is_invalidated());
}
