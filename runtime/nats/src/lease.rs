//! A lease in a JetStream key-value bucket: at most one holder at a time,
//! taken over by another once the holder stops renewing it. The service
//! instances elect the one that fires schedules with it.
//!
//! The bucket's `max_age` is the lease's length: an entry not renewed in
//! that time expires, and whoever creates the key next holds it. The
//! holder renews by compare-and-swap on the revision it wrote, so a holder
//! that lost the key (it expired while the holder was paused, and another
//! took it) learns so on its next renewal instead of overwriting it. A
//! holder counts itself the holder only while its last renewal is younger
//! than two thirds of the lease, so it steps down before another can take
//! over. (The history's one row per schedule slot keeps a slot from firing
//! twice even if two ever overlapped.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::work::WorkError;

pub const LEASE_BUCKET: &str = "exorun_leases";

pub struct Lease {
    holder: String,
    held_since_renewal: Mutex<Option<tokio::time::Instant>>,
    ttl: Duration,
    changed: tokio::sync::Notify,
    stopped: AtomicBool,
}

impl Lease {
    /// Connects to `url` and campaigns for `key` as `holder` until
    /// [`Lease::stop`]; the lease lasts `ttl` unless renewed.
    pub async fn campaign(
        url: &str,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Arc<Lease>, WorkError> {
        let client = crate::connect(url, &format!("exorun lease {holder}")).await?;
        let js = async_nats::jetstream::new(client);
        let lease = Arc::new(Lease {
            holder: holder.to_owned(),
            held_since_renewal: Mutex::new(None),
            ttl,
            changed: tokio::sync::Notify::new(),
            stopped: AtomicBool::new(false),
        });
        let key = key.to_owned();
        let task = lease.clone();
        tokio::spawn(async move { task.keep(js, key).await });
        Ok(lease)
    }

    /// Whether this holder holds the lease now.
    pub fn held(&self) -> bool {
        self.held_since_renewal
            .lock()
            .is_some_and(|at| at.elapsed() < self.ttl * 2 / 3)
    }

    /// Resolves when the lease is taken or lost.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Stops renewing (a stopping service hands over at once).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        *self.held_since_renewal.lock() = None;
    }

    async fn keep(self: Arc<Self>, js: async_nats::jetstream::Context, key: String) {
        let every = (self.ttl / 4).max(Duration::from_millis(100));
        let mut store = None;
        let mut revision: Option<u64> = None;
        let mut held = false;
        while !self.stopped.load(Ordering::SeqCst) {
            if store.is_none() {
                store = crate::open_bucket(
                    &js,
                    LEASE_BUCKET,
                    "exorun: leases (which service instance fires schedules)",
                    async_nats::jetstream::stream::StorageType::Memory,
                    self.ttl,
                )
                .await
                .map_err(|e| tracing::warn!(error = %e, "cannot open the lease bucket"))
                .ok();
            }
            let value = Bytes::copy_from_slice(self.holder.as_bytes());
            let outcome = match (&store, revision) {
                (None, _) => Err(()),
                (Some(kv), Some(r)) => tokio::time::timeout(every, kv.update(&key, value, r))
                    .await
                    .map_err(|_| ())
                    .and_then(|r| r.map_err(|_| ())),
                (Some(kv), None) => tokio::time::timeout(every, kv.create(&key, value))
                    .await
                    .map_err(|_| ())
                    .and_then(|r| r.map_err(|_| ())),
            };
            let now_held = match outcome {
                Ok(r) => {
                    revision = Some(r);
                    *self.held_since_renewal.lock() = Some(tokio::time::Instant::now());
                    true
                }
                Err(()) => {
                    // Lost, never had it, or NATS is away: campaign anew.
                    if revision.is_some() {
                        store = None;
                    }
                    revision = None;
                    *self.held_since_renewal.lock() = None;
                    false
                }
            };
            if now_held != held {
                held = now_held;
                if held {
                    tracing::info!(holder = %self.holder, key, "this instance holds the lease now");
                } else {
                    tracing::info!(holder = %self.holder, key, "this instance no longer holds the lease");
                }
                self.changed.notify_waiters();
            }
            tokio::time::sleep(every).await;
        }
    }
}
