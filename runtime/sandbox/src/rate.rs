//! `[limits] calls-per-second`: a run's own pace, below whatever the
//! tenant allows. It is a [`Backend`] in front of the tenant. Each request
//! the run makes waits for its turn: a call, each further page of a paged
//! read, and each lookup of the object scope. Turns are spaced evenly at
//! 1 ÷ rate apart, and time not used is not saved up, so there are no
//! bursts. A run that never waits never notices.
//!
//! The tenant's own budget is shared between runs by the client's limiter
//! (`exorun_exchange`, `limiter::fair`); this cap is per run and holds even
//! when the tenant has room, so one plugin can be kept gentle on purpose.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, Object, PageStream};
use parking_lot::Mutex;
use tokio::time::Instant;

/// Spaces a run's requests evenly.
pub(crate) struct Pace {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    pub fn per_second(calls: u64) -> Pace {
        Pace {
            interval: Duration::from_secs(1) / u32::try_from(calls.max(1)).unwrap_or(u32::MAX),
            next: Mutex::new(None),
        }
    }

    /// Waits for this request's turn.
    pub async fn turn(&self) {
        let now = Instant::now();
        let at = {
            let mut next = self.next.lock();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// The run's backend, paced.
pub(crate) struct RatedBackend {
    inner: Arc<dyn Backend>,
    pace: Arc<Pace>,
}

/// Puts the run's pace in front of `backend` when its limits set one.
pub(crate) fn rated(backend: Arc<dyn Backend>, calls_per_second: Option<u64>) -> Arc<dyn Backend> {
    match calls_per_second {
        Some(rate) => Arc::new(RatedBackend {
            inner: backend,
            pace: Arc::new(Pace::per_second(rate)),
        }),
        None => backend,
    }
}

#[async_trait]
impl Backend for RatedBackend {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        self.pace.turn().await;
        let pages = self.inner.open_pages(call).await?;
        Ok(Box::new(RatedPages {
            pages,
            pace: self.pace.clone(),
            first: true,
        }))
    }
}

/// A paged read whose pages after the first wait for their turn too: each
/// is a request to the tenant.
struct RatedPages {
    pages: Box<dyn PageStream>,
    pace: Arc<Pace>,
    /// The first page is the request the call's own turn paid for.
    first: bool,
}

#[async_trait]
impl PageStream for RatedPages {
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        if !std::mem::take(&mut self.first) {
            self.pace.turn().await;
        }
        self.pages.next_page().await
    }

    fn client_request_id(&self) -> Option<String> {
        self.pages.client_request_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn turns_are_spaced_evenly_and_unused_time_is_not_saved() {
        let pace = Pace::per_second(10);
        let start = Instant::now();
        for _ in 0..5 {
            pace.turn().await;
        }
        // Turns at 0, 100, 200, 300, 400 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        // A pause does not buy a burst afterwards.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let resumed = Instant::now();
        pace.turn().await;
        pace.turn().await;
        assert_eq!(resumed.elapsed(), Duration::from_millis(100));
    }
}
