//! Time, injectable: the executor never reads the system clock or sleeps except through
//! a [`Clock`].
//!
//! [`SystemClock`] is real time (tokio timers). [`VirtualClock`] is for tests: sleeping
//! returns at once and moves virtual time forward, every requested sleep is recorded, and
//! nothing ever waits, so a test of a six-attempt exponential backoff runs in
//! microseconds and can assert the exact waits.
//!
//! Task timeouts go through [`Clock::timeout`]. Under the system clock the task's future
//! is raced against a timer and dropped when the timer wins. Under the virtual clock a task
//! always runs to completion and has timed out if the virtual time *it* slept (through
//! [`crate::TaskContext::clock`]) exceeds the limit; time other tasks sleep concurrently
//! does not count, so virtual timeouts are deterministic.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::future::{select, Either};

/// A boxed, sendable future: what the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The source of time for an execution.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Runs `work`, giving up after `limit`. Returns `true` if `work` finished in time.
    ///
    /// The default races `work` against [`Clock::sleep`] and drops `work` if the sleep wins.
    fn timeout<'a>(&'a self, limit: Duration, work: BoxFuture<'a, ()>) -> BoxFuture<'a, bool> {
        let timer = self.sleep(limit);
        Box::pin(async move {
            match select(work, timer).await {
                Either::Left(((), _)) => true,
                Either::Right(((), _)) => false,
            }
        })
    }
}

/// Real time: `chrono::Utc::now()` and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Simulated time for tests. Cloning shares the same timeline.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<Timeline>>,
}

#[derive(Debug)]
struct Timeline {
    now: DateTime<Utc>,
    sleeps: Vec<Duration>,
}

/// The virtual time a [`VirtualClock::timeout`] scope (and its enclosing scopes) has slept.
#[derive(Debug)]
struct Scope {
    slept_nanos: AtomicU64,
    parent: Option<Arc<Scope>>,
}

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

impl Default for VirtualClock {
    /// A clock starting at 2024-01-01T00:00:00Z.
    fn default() -> Self {
        VirtualClock::starting_at(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap())
    }
}

impl VirtualClock {
    /// A clock starting at `start`.
    pub fn starting_at(start: DateTime<Utc>) -> VirtualClock {
        VirtualClock {
            inner: Arc::new(Mutex::new(Timeline {
                now: start,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Every sleep requested so far, in order (retry waits, Wait states, task sleeps).
    pub fn sleeps(&self) -> Vec<Duration> {
        self.timeline().sleeps.clone()
    }

    /// Moves time forward without recording a sleep.
    pub fn advance(&self, duration: Duration) {
        let mut timeline = self.timeline();
        timeline.now = add(timeline.now, duration);
    }

    fn timeline(&self) -> std::sync::MutexGuard<'_, Timeline> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.timeline().now
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Accounted when first polled, so the sleep counts in the timeout scope that
        // awaits it, wherever the future was created.
        let clock = self.clone();
        Box::pin(async move {
            {
                let mut timeline = clock.timeline();
                timeline.now = add(timeline.now, duration);
                timeline.sleeps.push(duration);
            }
            let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
            let _ = SCOPE.try_with(|scope| {
                let mut current = Some(scope);
                while let Some(s) = current {
                    s.slept_nanos.fetch_add(nanos, Ordering::Relaxed);
                    current = s.parent.as_ref();
                }
            });
        })
    }

    fn timeout<'a>(&'a self, limit: Duration, work: BoxFuture<'a, ()>) -> BoxFuture<'a, bool> {
        let scope = Arc::new(Scope {
            slept_nanos: AtomicU64::new(0),
            parent: SCOPE.try_with(Arc::clone).ok(),
        });
        Box::pin(async move {
            SCOPE.scope(Arc::clone(&scope), work).await;
            let slept = Duration::from_nanos(scope.slept_nanos.load(Ordering::Relaxed));
            slept <= limit
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleep_records_and_advances() {
        let clock = VirtualClock::default();
        let start = clock.now();
        clock.sleep(Duration::from_secs(2)).await;
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(2), Duration::from_millis(500)]
        );
        assert_eq!(clock.now() - start, chrono::Duration::milliseconds(2500));
    }

    #[tokio::test]
    async fn virtual_timeout_counts_only_its_own_sleeps() {
        let clock = VirtualClock::default();
        let slow = clock.timeout(
            Duration::from_secs(2),
            Box::pin(clock.sleep(Duration::from_secs(3))),
        );
        assert!(!slow.await);
        clock.sleep(Duration::from_secs(100)).await;
        let quick = clock.timeout(
            Duration::from_secs(2),
            Box::pin(async {
                clock.sleep(Duration::from_secs(1)).await;
                clock.sleep(Duration::from_secs(1)).await;
            }),
        );
        assert!(quick.await, "exactly at the limit is in time");
    }

    #[tokio::test]
    async fn system_timeout_drops_slow_work() {
        let clock = SystemClock;
        assert!(
            !clock
                .timeout(Duration::from_millis(5), Box::pin(std::future::pending()))
                .await
        );
        assert!(clock.timeout(Duration::from_secs(5), Box::pin(async {})).await);
    }
}
