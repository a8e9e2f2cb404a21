//! The run queue across machines: JetStream streams and consumers, and
//! nothing of what a run is (the service crate says that).
//!
//! - `EXORUN_RUNS`, a work-queue stream, one subject per tenant
//!   (`exorun.runs.<tenant>`). Each tenant has one durable pull consumer
//!   that every worker shares; its `max_ack_pending` is the tenant's limit
//!   of runs at once, whichever workers run them. A message is acked only
//!   once its run's end is on record, so a worker that dies leaves its run
//!   to be delivered again after `ack_wait`; a worker alive says so with
//!   in-progress acks.
//! - `EXORUN_EVENTS`, what workers report of each run
//!   (`exorun.events.<run id>`): started, progress, the intent of each
//!   write before it is sent, the end. The service projects it into its
//!   history; a worker given a run again reads it to learn what the first
//!   attempt did.
//! - `EXORUN_DEAD`, runs given up on after `max_deliver` attempts
//!   (`exorun.dead.<tenant>`), for people to see.
//! - The `exorun_runs` key-value bucket: cancellation marks that a worker
//!   checks before and while it runs a run.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures::StreamExt;

pub const RUNS_STREAM: &str = "EXORUN_RUNS";
pub const EVENTS_STREAM: &str = "EXORUN_EVENTS";
pub const DEAD_STREAM: &str = "EXORUN_DEAD";
pub const RUNS_BUCKET: &str = "exorun_runs";
/// The durable consumer through which the services project events into
/// their history (shared: each event is applied by one of them).
pub const HISTORY_CONSUMER: &str = "exorun-history";
/// Core NATS subject prefix on which a cancellation is announced to the
/// workers at once (the bucket's mark covers a worker that missed it).
pub const CANCEL_PREFIX: &str = "exorun.cancel.";

/// How long events are kept: long enough for a service down over a
/// weekend to catch up, and for a late redelivery to read what happened.
const EVENTS_MAX_AGE: Duration = Duration::from_secs(14 * 86_400);
/// Within this window a run published twice (a service restarted before
/// it learned the first publish landed) is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("connecting to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("NATS JetStream: {0}")]
    JetStream(String),
    #[error("NATS did not answer within {0:?}")]
    TimedOut(Duration),
}

/// How deliveries of a run are retried.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// A worker that has not acked (or said "in progress") for this long
    /// is taken for gone, and the run is delivered again.
    pub ack_wait: Duration,
    /// Deliveries of one run before it goes to the dead letters.
    pub max_deliver: u32,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            ack_wait: Duration::from_secs(30),
            max_deliver: 4,
        }
    }
}

/// A subject token for a tenant name: the name itself (`t-` before it)
/// unless it holds a `.`, which NATS reads as a separator (then `x-` and
/// its hex).
pub fn tenant_token(tenant: &str) -> String {
    if tenant
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        format!("t-{tenant}")
    } else {
        format!("x-{}", hex::encode(tenant))
    }
}

pub fn run_subject(tenant: &str) -> String {
    format!("exorun.runs.{}", tenant_token(tenant))
}

pub fn event_subject(run_id: &str) -> String {
    format!("exorun.events.{}", hex_if_needed(run_id))
}

pub fn dead_subject(tenant: &str) -> String {
    format!("exorun.dead.{}", tenant_token(tenant))
}

pub fn cancel_subject(run_id: &str) -> String {
    format!("{CANCEL_PREFIX}{}", hex_if_needed(run_id))
}

fn cancel_key(run_id: &str) -> String {
    format!("cancel.{}", hex_if_needed(run_id))
}

/// Run ids are UUIDs; anything else is hex-encoded so that it cannot add
/// subject tokens or wildcards.
fn hex_if_needed(id: &str) -> String {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        id.to_owned()
    } else {
        format!("x-{}", hex::encode(id))
    }
}

/// A connection to the run queue, its streams made if missing.
#[derive(Clone)]
pub struct Work {
    client: async_nats::Client,
    js: jetstream::Context,
    runs: stream::Stream,
    events: stream::Stream,
    dead: stream::Stream,
    marks: kv::Store,
    delivery: Delivery,
}

/// One delivery of a run to a worker.
pub struct Delivered {
    pub payload: Bytes,
    /// Deliveries so far as NATS counts them: 1 for the first. Not exact:
    /// NATS takes a delivery back when the pull request it went to has
    /// gone (a worker that stopped), so count attempts from the run's own
    /// events; this is for giving up after `max_deliver`.
    pub attempt: u32,
    message: jetstream::Message,
}

impl Delivered {
    /// Tells NATS the worker is still at it (resets `ack_wait`).
    pub async fn in_progress(&self) -> Result<(), WorkError> {
        self.message
            .ack_with(jetstream::AckKind::Progress)
            .await
            .map_err(|e| WorkError::JetStream(e.to_string()))
    }

    /// The run is done with (its end is on record): it leaves the queue.
    /// Waits for the server to confirm.
    pub async fn done(&self) -> Result<(), WorkError> {
        ask("acknowledging the run", self.message.double_ack()).await
    }

    /// Not now: deliver it again (to any worker) after `delay`.
    pub async fn retry_after(&self, delay: Duration) -> Result<(), WorkError> {
        self.message
            .ack_with(jetstream::AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| WorkError::JetStream(e.to_string()))
    }

    /// Never again.
    pub async fn give_up(&self) -> Result<(), WorkError> {
        self.message
            .ack_with(jetstream::AckKind::Term)
            .await
            .map_err(|e| WorkError::JetStream(e.to_string()))
    }
}

/// One request to NATS, bounded by [`PATIENCE`]; `what` names it in errors.
async fn ask<T, E: std::fmt::Display>(
    what: &str,
    request: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, WorkError> {
    timed(request)
        .await?
        .map_err(|e| WorkError::JetStream(format!("{what}: {e}")))
}

async fn timed<T>(f: impl std::future::Future<Output = T>) -> Result<T, WorkError> {
    tokio::time::timeout(PATIENCE, f)
        .await
        .map_err(|_| WorkError::TimedOut(PATIENCE))
}

impl Work {
    /// Connects to `url` as `name` and makes the streams and the bucket
    /// the queue needs (file storage: queued runs survive a NATS restart).
    pub async fn connect(url: &str, name: &str, delivery: Delivery) -> Result<Work, WorkError> {
        let client = crate::connect(url, name).await?;
        let js = jetstream::new(client.clone());
        let stream = |name: &str, subjects: &str, retention, max_age| stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            retention,
            max_age,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            allow_direct: true,
            num_replicas: 1,
            ..Default::default()
        };
        let runs = ask(
            "creating the runs stream",
            js.get_or_create_stream(stream(
                RUNS_STREAM,
                "exorun.runs.>",
                stream::RetentionPolicy::WorkQueue,
                Duration::ZERO,
            )),
        )
        .await?;
        let events = ask(
            "creating the events stream",
            js.get_or_create_stream(stream(
                EVENTS_STREAM,
                "exorun.events.>",
                stream::RetentionPolicy::Limits,
                EVENTS_MAX_AGE,
            )),
        )
        .await?;
        let dead = ask(
            "creating the dead-letter stream",
            js.get_or_create_stream(stream(
                DEAD_STREAM,
                "exorun.dead.>",
                stream::RetentionPolicy::Limits,
                EVENTS_MAX_AGE,
            )),
        )
        .await?;
        let marks = crate::open_bucket(
            &js,
            RUNS_BUCKET,
            "exorun: cancellation marks of queued and running runs",
            stream::StorageType::File,
            EVENTS_MAX_AGE,
        )
        .await
        .map_err(WorkError::JetStream)?;
        Ok(Work {
            client,
            js,
            runs,
            events,
            dead,
            marks,
            delivery,
        })
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The tenant's shared consumer, made (or remade when its limit
    /// changed) with `max_at_once` as its `max_ack_pending`.
    pub async fn tenant_consumer(
        &self,
        tenant: &str,
        max_at_once: u32,
    ) -> Result<TenantFeed, WorkError> {
        let name = format!("runs-{}", tenant_token(tenant));
        let config = consumer::pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!("exorun: runs for tenant {tenant}")),
            filter_subject: run_subject(tenant),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.delivery.ack_wait,
            max_deliver: i64::from(self.delivery.max_deliver.max(1)),
            max_ack_pending: i64::from(max_at_once.max(1)),
            ..Default::default()
        };
        let existing = timed(self.runs.get_consumer::<consumer::pull::Config>(&name)).await?;
        if let Ok(mut found) = existing {
            let info = ask("reading a tenant's consumer", found.info()).await?;
            let c = &info.config;
            if c.max_ack_pending == config.max_ack_pending
                && c.ack_wait == config.ack_wait
                && c.max_deliver == config.max_deliver
                && c.filter_subject == config.filter_subject
            {
                return Ok(TenantFeed { consumer: found });
            }
            // NATS 2.9 cannot edit a consumer: made anew. Runs in flight
            // are delivered again, as after a worker's death.
            tracing::info!(
                tenant,
                "the tenant's limits changed; its queue consumer is made anew"
            );
            ask(
                "replacing a tenant's consumer",
                self.runs.delete_consumer(&name),
            )
            .await?;
        }
        let consumer = ask(
            "creating a tenant's consumer",
            self.runs.create_consumer(config),
        )
        .await?;
        Ok(TenantFeed { consumer })
    }

    /// Queues a run. `id` makes a second publish of the same run within
    /// an hour a no-op.
    pub async fn publish_run(&self, tenant: &str, id: &str, body: Bytes) -> Result<(), WorkError> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        let ack = ask(
            "queueing the run",
            self.js
                .publish_with_headers(run_subject(tenant), headers, body),
        )
        .await?;
        ask(
            "queueing the run",
            std::future::IntoFuture::into_future(ack),
        )
        .await?;
        Ok(())
    }

    /// Records one event of a run, once the server has stored it.
    pub async fn publish_event(&self, run_id: &str, body: Bytes) -> Result<(), WorkError> {
        let ack = ask(
            "recording a run event",
            self.js.publish(event_subject(run_id), body),
        )
        .await?;
        ask(
            "recording a run event",
            std::future::IntoFuture::into_future(ack),
        )
        .await?;
        Ok(())
    }

    /// Every event recorded for a run, oldest first.
    pub async fn events_of(&self, run_id: &str) -> Result<Vec<Bytes>, WorkError> {
        let subject = event_subject(run_id);
        let mut out = Vec::new();
        let mut next = 0u64;
        // Direct gets, one per event: a run has few events besides its
        // progress, and this needs no consumer to clean up.
        loop {
            let got = timed(
                self.events
                    .direct_get_next_for_subject(&subject, Some(next + 1)),
            )
            .await?;
            match got {
                Ok(message) => {
                    next = message.sequence;
                    out.push(message.payload);
                }
                Err(e)
                    if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound =>
                {
                    return Ok(out);
                }
                Err(e) => return Err(WorkError::JetStream(format!("reading a run's events: {e}"))),
            }
        }
    }

    /// The consumer the services share to project events into history.
    pub async fn history_feed(&self) -> Result<EventFeed, WorkError> {
        let config = consumer::pull::Config {
            durable_name: Some(HISTORY_CONSUMER.to_owned()),
            description: Some("exorun serve: run events into the history".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        };
        let consumer = ask(
            "opening the history consumer",
            self.events.get_or_create_consumer(HISTORY_CONSUMER, config),
        )
        .await?;
        Ok(EventFeed { consumer })
    }

    /// Gives a run up: its message goes to the dead letters.
    pub async fn publish_dead(&self, tenant: &str, body: Bytes) -> Result<(), WorkError> {
        let ack = ask(
            "recording a dead letter",
            self.js.publish(dead_subject(tenant), body),
        )
        .await?;
        ask(
            "recording a dead letter",
            std::future::IntoFuture::into_future(ack),
        )
        .await?;
        Ok(())
    }

    /// The newest dead letters (at most `limit`), newest first, with their
    /// stream sequence and time.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, WorkError> {
        let mut dead = self.dead.clone();
        let info = ask("reading the dead letters", dead.info()).await?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        let mut seq = last;
        while seq >= first && seq > 0 && out.len() < limit {
            match timed(self.dead.direct_get(seq)).await? {
                Ok(m) => out.push(DeadLetter {
                    sequence: m.sequence,
                    time: m.time.to_string(),
                    payload: m.payload,
                }),
                Err(e)
                    if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {}
                Err(e) => {
                    return Err(WorkError::JetStream(format!(
                        "reading the dead letters: {e}"
                    )));
                }
            }
            seq -= 1;
        }
        Ok(out)
    }

    /// Marks a run cancelled and tells the workers at once.
    pub async fn cancel(&self, run_id: &str, reason: &str) -> Result<(), WorkError> {
        ask(
            "marking the run cancelled",
            self.marks.put(
                cancel_key(run_id),
                Bytes::copy_from_slice(reason.as_bytes()),
            ),
        )
        .await?;
        let _ = self
            .client
            .publish(
                cancel_subject(run_id),
                Bytes::copy_from_slice(reason.as_bytes()),
            )
            .await;
        Ok(())
    }

    /// Why a run was cancelled, if it was.
    pub async fn cancelled(&self, run_id: &str) -> Result<Option<String>, WorkError> {
        let got = ask(
            "reading a cancellation mark",
            self.marks.get(cancel_key(run_id)),
        )
        .await?;
        Ok(got.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Runs waiting and in flight per tenant consumer, for the dashboard.
    pub async fn tenant_load(&self, tenant: &str) -> Result<(u64, u64), WorkError> {
        let name = format!("runs-{}", tenant_token(tenant));
        let mut c = ask(
            "reading a tenant's consumer",
            self.runs.get_consumer::<consumer::pull::Config>(&name),
        )
        .await?;
        let info = ask("reading a tenant's consumer", c.info()).await?;
        Ok((info.num_pending, info.num_ack_pending as u64))
    }
}

/// A tenant's runs, as one worker takes them.
pub struct TenantFeed {
    consumer: consumer::Consumer<consumer::pull::Config>,
}

impl TenantFeed {
    /// The next run, waiting at most `wait`; `None` when none came.
    pub async fn next(&self, wait: Duration) -> Result<Option<Delivered>, WorkError> {
        let mut batch = ask(
            "asking for a run",
            self.consumer
                .batch()
                .max_messages(1)
                .expires(wait)
                .messages(),
        )
        .await?;
        let next = tokio::time::timeout(wait + PATIENCE, batch.next())
            .await
            .map_err(|_| WorkError::TimedOut(wait + PATIENCE))?;
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(WorkError::JetStream(format!("receiving a run: {e}"))),
            Some(Ok(message)) => {
                let attempt = message
                    .info()
                    .map(|i| i.delivered.clamp(1, i64::from(u32::MAX)) as u32)
                    .unwrap_or(1);
                Ok(Some(Delivered {
                    payload: message.payload.clone(),
                    attempt,
                    message,
                }))
            }
        }
    }
}

/// Run events, as the services take them into their history.
pub struct EventFeed {
    consumer: consumer::Consumer<consumer::pull::Config>,
}

/// One event to apply, then ack.
pub struct EventMessage {
    pub payload: Bytes,
    /// The run id, from the subject.
    pub subject: String,
    message: jetstream::Message,
}

impl EventMessage {
    pub async fn done(&self) -> Result<(), WorkError> {
        self.message
            .ack()
            .await
            .map_err(|e| WorkError::JetStream(e.to_string()))
    }
}

impl EventFeed {
    /// Up to `max` events, waiting at most `wait` for the first.
    pub async fn next_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<EventMessage>, WorkError> {
        let mut batch = ask(
            "reading run events",
            self.consumer
                .batch()
                .max_messages(max)
                .expires(wait)
                .messages(),
        )
        .await?;
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(wait + PATIENCE, batch.next()).await {
                Err(_) | Ok(None) => return Ok(out),
                Ok(Some(Err(e))) => {
                    if out.is_empty() {
                        return Err(WorkError::JetStream(format!("reading run events: {e}")));
                    }
                    return Ok(out);
                }
                Ok(Some(Ok(message))) => out.push(EventMessage {
                    payload: message.payload.clone(),
                    subject: message.subject.to_string(),
                    message,
                }),
            }
        }
    }
}

/// A run given up on.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub sequence: u64,
    pub time: String,
    pub payload: Bytes,
}
