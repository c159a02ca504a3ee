use super::*;

#[test]
fn delays_double_from_one_second_up_to_thirty_and_reset() {
    let mut backoff = Backoff::new();
    let secs: Vec<u64> = (0..8).map(|_| backoff.next_delay().as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    backoff.reset();
    assert_eq!(backoff.next_delay(), Duration::from_secs(1));
}
