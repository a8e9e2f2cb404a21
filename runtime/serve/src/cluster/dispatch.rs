//! The service's side of the NATS queue: queueing runs for the workers,
//! taking their events into the history, cancelling, and the dead letters.

use std::sync::Arc;
use std::time::Duration;

use exorun_nats::{Work, WorkError};

use super::events::{DeadRun, Event, RunEvent, RunOrder};
use super::seal::{Kind, QueueKey};
use crate::audit::Action;
use crate::config::ServeConfig;
use crate::queue::QueuedRun;
use crate::service::Service;

/// The queue on NATS, as the service uses it.
pub struct Dispatch {
    work: Work,
    key: QueueKey,
}

/// The largest plan an apply takes to the workers; a larger one is
/// applied by the service itself (a NATS message holds 1 MiB by default).
pub const MAX_PLAN_BYTES: u64 = 768 * 1024;

/// A dead letter as the API and the dashboard show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeadLetterView {
    pub sequence: u64,
    pub time: String,
    #[serde(flatten)]
    pub run: DeadRun,
}

impl Dispatch {
    /// Connects to serve.toml's `[queue]` and makes each tenant's consumer
    /// (with its limit) so that workers find it.
    pub async fn connect(config: &ServeConfig) -> anyhow::Result<Option<Arc<Dispatch>>> {
        let Some(queue) = &config.queue else {
            return Ok(None);
        };
        let (key, made) = QueueKey::load_or_create(&queue.key_file).map_err(anyhow::Error::msg)?;
        if made {
            tracing::warn!(
                key = %queue.key_file.display(),
                "made the queue key; copy it (mode 600) to every worker, which needs it to take runs"
            );
        }
        let opening =
            |e: WorkError| anyhow::anyhow!("opening the run queue at {}: {e}", queue.nats);
        let work = Work::connect(&queue.nats, "exorun serve", queue.delivery.clone())
            .await
            .map_err(opening)?;
        for tenant in &config.tenants {
            work.tenant_consumer(&tenant.name, tenant.max_concurrent_runs)
                .await
                .map_err(opening)?;
        }
        Ok(Some(Arc::new(Dispatch { work, key })))
    }

    /// Whether the workers take this run: a plain run or an apply (its plan
    /// read when it is queued, [`MAX_PLAN_BYTES`] at most) that holds no
    /// sensitive value: those never leave the service.
    pub fn takes(run: &QueuedRun, sensitive: bool) -> bool {
        match run.kind {
            crate::queue::RunKind::Run | crate::queue::RunKind::Apply { .. } => !sensitive,
            crate::queue::RunKind::WhatIf => false,
        }
    }

    /// Queues the run (an apply with its plan file's text), retrying until
    /// NATS stores it or the service stops
    /// (its history row stays queued, and the next start queues it again:
    /// NATS stores a run published twice within an hour once, and a
    /// worker given a run that ended already only acknowledges it).
    pub async fn submit(
        &self,
        run: &QueuedRun,
        plan: Option<String>,
        stop: &exorun_sandbox::CancelRun,
    ) {
        let body = match serde_json::to_vec(&RunOrder::of(run, plan)) {
            Ok(b) => self.key.seal(Kind::Order, &b),
            Err(e) => {
                tracing::error!(run_id = %run.id, error = %e, "cannot encode the run");
                return;
            }
        };
        let mut wait = Duration::from_millis(250);
        let mut warned = false;
        loop {
            match self
                .work
                .publish_run(&run.tenant, &run.id, body.clone().into())
                .await
            {
                Ok(()) => {
                    if warned {
                        tracing::info!(run_id = %run.id, "the run is queued on NATS now");
                    }
                    return;
                }
                Err(e) => {
                    if !warned {
                        tracing::error!(run_id = %run.id, error = %e, "cannot queue the run on NATS; retrying (it stays queued in the history)");
                        warned = true;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// Marks the run cancelled for the workers: one that has not started
    /// it leaves it, one running it ends it.
    pub async fn cancel(&self, run_id: &str, reason: &str) -> Result<(), WorkError> {
        self.work.cancel(run_id, reason).await
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterView>, WorkError> {
        Ok(self
            .work
            .dead_letters(limit)
            .await?
            .into_iter()
            .filter_map(|d| {
                let body = self.key.open(Kind::Dead, &d.payload).ok()?;
                Some(DeadLetterView {
                    sequence: d.sequence,
                    time: d.time,
                    run: serde_json::from_slice(body).ok()?,
                })
            })
            .collect())
    }

    /// Takes the workers' events into the history until the service stops.
    /// Services sharing a history share the consumer: each event is
    /// applied by one, and acknowledged only once applied.
    pub async fn project(self: Arc<Self>, service: Arc<Service>) {
        let mut warned = false;
        'open: loop {
            let feed = match self.work.history_feed().await {
                Ok(f) => f,
                Err(e) => {
                    if !warned {
                        tracing::error!(error = %e, "cannot read the workers' events; retrying");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                let batch = match feed.next_batch(256, Duration::from_secs(2)).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the workers' events; opening the feed again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue 'open;
                    }
                };
                warned = false;
                for message in batch {
                    let event = self
                        .key
                        .open(Kind::Event, &message.payload)
                        .map_err(|e| e.to_string())
                        .and_then(|body| {
                            serde_json::from_slice::<RunEvent>(body).map_err(|e| e.to_string())
                        });
                    let applied = match event {
                        Ok(event) => apply(&service, event).await,
                        Err(e) => {
                            tracing::warn!(subject = %message.subject, error = %e, "a run event refused; skipped");
                            true
                        }
                    };
                    if applied {
                        let _ = message.done().await;
                    }
                }
            }
        }
    }
}

/// Writes one event into the history; `false` when the history cannot be
/// written now (the event is delivered again).
async fn apply(service: &Service, e: RunEvent) -> bool {
    let run = e.run.clone();
    let written = match e.event {
        Event::Started {
            plugin_version,
            plugin_sha256,
        } => {
            let worker = e.worker.clone();
            let claimed = service
                .store
                .call(move |c| {
                    crate::store::runs::claim_run_by_worker(
                        c,
                        &run,
                        &worker,
                        &plugin_version,
                        &plugin_sha256,
                    )
                })
                .await;
            if let Ok(true) = claimed {
                let actor = format!("worker:{}", e.worker);
                service
                    .audit_quiet(Action {
                        actor: &actor,
                        action: "run.worker",
                        run_id: Some(&e.run),
                        reference: Some(format!("run/{}", e.run)),
                        message: Some(format!("attempt {} runs on worker {}", e.attempt, e.worker)),
                        ..Action::default()
                    })
                    .await;
            }
            claimed.map(|_| ())
        }
        Event::Progress {
            counts,
            logs,
            denials,
            ..
        } => {
            service
                .store
                .call(move |c| {
                    crate::store::runs::record_progress(c, &run, &counts, &logs, &denials)
                })
                .await
        }
        Event::Intent { .. } => Ok(()),
        Event::Ended { end } => {
            service
                .store
                .call(move |c| crate::store::runs::finish_run(c, &run, &end))
                .await
        }
    };
    match written {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(run_id = %e.run, error = %err, "cannot write a worker's event into the history; it comes again");
            false
        }
    }
}
