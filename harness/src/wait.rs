//! Waiting for a condition instead of sleeping for a guessed time.

use std::future::Future;
use std::time::Duration;

/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(10);

/// Checks `probe` until it returns `Some`, at most for `limit`; panics naming `what`
/// when it never does.
pub async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a condition checked without awaiting.
pub async fn until_true(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    until(what, limit, || {
        std::future::ready(condition().then_some(()))
    })
    .await;
}

/// [`until`] on a blocking thread's terms: for tests that are not async.
pub fn blocking_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        if std::time::Instant::now() >= deadline {
            panic!("{what}: not within {limit:?}");
        }
        std::thread::sleep(POLL);
    }
}
