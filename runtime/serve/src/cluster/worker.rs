//! `exorun worker`: takes runs from the NATS queue, one tenant consumer
//! each, and runs them as the service would, reporting every step back as
//! events. See the module above for what a delivery guarantees.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use exorun_nats::Work;
use exorun_nats::work::Delivered;
use exorun_policy::ResolvedInputs;
use exorun_runner::{Identity, Mode, RunJob};
use exorun_sandbox::{CancelRun, Observer};
use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::events::{DeadRun, Earlier, Event, RunEvent, RunOrder, describe};
use super::seal::{Kind, QueueKey};
use crate::config::ServeConfig;
use crate::plugins::Plugins;
use crate::store::{RunCounts, RunEnd, RunStatus};
use crate::tenants::{Connector, Tenants};
use crate::watch::{FLUSH_EVERY, RunWatch};

/// How a worker calls itself and what it may take on.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Named in its events, the history and the audit trail's file name.
    pub name: String,
    /// Runs at once on this worker, over all tenants.
    pub max_runs: u32,
    /// Its own audit chain (one per worker; `exorun audit verify` checks
    /// each).
    pub audit_log: PathBuf,
}

/// How long a worker waits before taking a tenant's runs again after it
/// could not run one for want of the plugin: another worker may have it.
const STEP_ASIDE: Duration = Duration::from_secs(5);

pub struct Worker {
    options: WorkerOptions,
    config: ServeConfig,
    work: Work,
    key: QueueKey,
    tenants: Arc<Tenants>,
    plugins: Plugins,
    running: Mutex<HashMap<String, CancelRun>>,
    stopping: AtomicBool,
    stop: CancelRun,
    slots: Arc<Semaphore>,
    runs_done: Notify,
}

impl Worker {
    /// Connects to serve.toml's `[queue]`; takes no run yet.
    pub async fn connect(
        config: ServeConfig,
        options: WorkerOptions,
        connector: Arc<dyn Connector>,
        sandbox: Arc<exorun_sandbox::Sandbox>,
    ) -> anyhow::Result<Arc<Worker>> {
        let Some(queue) = config.queue.clone() else {
            anyhow::bail!(
                "{} has no [queue] with the NATS server to take runs from: add `[queue]` with `nats = \"nats://host:4222\"`",
                config.path.display()
            );
        };
        if config.tenants.is_empty() {
            anyhow::bail!(
                "{} declares no [[tenant]]: a worker runs only the tenants its config declares",
                config.path.display()
            );
        }
        let key = QueueKey::load(&queue.key_file).map_err(anyhow::Error::msg)?;
        let work = Work::connect(
            &queue.nats,
            &format!("exorun worker {}", options.name),
            queue.delivery.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("opening the run queue at {}: {e}", queue.nats))?;
        Ok(Arc::new(Worker {
            tenants: Arc::new(Tenants::new(config.tenants.clone(), connector)),
            plugins: Plugins::new(config.plugins_dir.clone(), sandbox),
            slots: Arc::new(Semaphore::new(options.max_runs.max(1) as usize)),
            options,
            config,
            work,
            key,
            running: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            stop: CancelRun::new(),
            runs_done: Notify::new(),
        }))
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// Takes runs until `shutdown` resolves, then lets running runs finish
    /// within `grace`; a run still running after it is handed back to the
    /// queue for another worker (which decides as for a dead worker's).
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
        grace: Duration,
    ) {
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(self.clone().listen_for_cancels()));
        for tenant in &self.config.tenants {
            tasks.push(tokio::spawn(
                self.clone()
                    .take_runs(tenant.name.clone(), tenant.max_concurrent_runs),
            ));
        }
        shutdown.await;
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.cancel("the worker is stopping");
        let deadline = tokio::time::Instant::now() + grace;
        let idle = || self.running.lock().is_empty();
        crate::service::wait_until(&self.runs_done, deadline, idle).await;
        let left: Vec<CancelRun> = self.running.lock().values().cloned().collect();
        for cancel in left {
            cancel.cancel("the worker stopped and its grace period ran out");
        }
        let end_by = tokio::time::Instant::now() + Duration::from_secs(10);
        crate::service::wait_until(&self.runs_done, end_by, idle).await;
        for task in tasks {
            task.abort();
        }
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    async fn listen_for_cancels(self: Arc<Self>) {
        let subject = format!("{}>", exorun_nats::work::CANCEL_PREFIX);
        loop {
            match self.work.client().subscribe(subject.clone()).await {
                Ok(mut subscription) => {
                    use futures::StreamExt;
                    while let Some(message) = subscription.next().await {
                        let reason: String = String::from_utf8_lossy(&message.payload)
                            .chars()
                            .take(512)
                            .collect();
                        let cancel = self
                            .running
                            .lock()
                            .iter()
                            .find(|(id, _)| {
                                exorun_nats::work::cancel_subject(id) == message.subject.as_str()
                            })
                            .map(|(_, c)| c.clone());
                        if let Some(cancel) = cancel {
                            cancel.cancel(reason);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for cancellations; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// One tenant's runs: a free slot of this worker first, then the next
    /// run the tenant's consumer gives (which holds the tenant's limit
    /// across all workers).
    async fn take_runs(self: Arc<Self>, tenant: String, max_at_once: u32) {
        let mut warned = false;
        'open: loop {
            let feed = match self.work.tenant_consumer(&tenant, max_at_once).await {
                Ok(feed) => feed,
                Err(e) => {
                    if !warned {
                        tracing::warn!(tenant, error = %e, "cannot open the tenant's queue; retrying");
                        warned = true;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue 'open,
                        () = self.stop.cancelled() => return,
                    }
                }
            };
            warned = false;
            loop {
                if self.is_stopping() {
                    return;
                }
                let permit = tokio::select! {
                    p = self.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                    () = self.stop.cancelled() => return,
                };
                let next = tokio::select! {
                    n = feed.next(Duration::from_secs(2)) => n,
                    () = self.stop.cancelled() => return,
                };
                match next {
                    Ok(None) => {}
                    Ok(Some(delivered)) => {
                        let stepped_aside = self.clone().take(&tenant, delivered, permit).await;
                        if stepped_aside {
                            tokio::select! {
                                () = tokio::time::sleep(STEP_ASIDE) => {}
                                () = self.stop.cancelled() => return,
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(tenant, error = %e, "cannot take runs from the queue; opening it again");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue 'open,
                            () = self.stop.cancelled() => return,
                        }
                    }
                }
            }
        }
    }

    /// Decides what to do with one delivery; starts the run in its own
    /// task when it is to run. `true` when this worker lacks the plugin
    /// and steps aside for a while.
    async fn take(
        self: Arc<Self>,
        tenant: &str,
        delivered: Delivered,
        permit: OwnedSemaphorePermit,
    ) -> bool {
        let order = match self
            .key
            .open(Kind::Order, &delivered.payload)
            .map_err(|e| e.to_string())
            .and_then(|body| serde_json::from_slice::<RunOrder>(body).map_err(|e| e.to_string()))
        {
            Ok(order) if order.tenant == tenant => order,
            refused => {
                let why = match refused {
                    Err(e) => e,
                    Ok(_) => "the run is for another tenant".to_owned(),
                };
                tracing::error!(
                    tenant,
                    "a message in the run queue was refused ({why}); it goes to the dead letters and is not run"
                );
                let dead = DeadRun {
                    run: String::new(),
                    plugin: String::new(),
                    tenant: tenant.to_owned(),
                    requested_by: String::new(),
                    worker: self.options.name.clone(),
                    attempts: delivered.attempt,
                    reason: format!("refused, not run: {why}"),
                };
                if self.dead_letter(tenant, &dead).await {
                    let _ = delivered.give_up().await;
                }
                return false;
            }
        };
        match self.work.cancelled(&order.id).await {
            // The service recorded the cancellation already.
            Ok(Some(_)) => {
                let _ = delivered.done().await;
                return false;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(run_id = %order.id, error = %e, "cannot read the run's cancellation mark; it is delivered again later");
                let _ = delivered.retry_after(Duration::from_secs(2)).await;
                return false;
            }
        }
        let earlier = match self.work.events_of(&order.id).await {
            Ok(events) => Earlier::read(&events, &self.key),
            Err(e) => {
                // What an earlier attempt did cannot be known: not run.
                tracing::warn!(run_id = %order.id, error = %e, "cannot read the run's earlier events; it is delivered again later");
                let _ = delivered.retry_after(Duration::from_secs(2)).await;
                return false;
            }
        };
        if earlier.ended {
            let _ = delivered.done().await;
            return false;
        }
        // Counted from the run's own events: NATS's delivery count can
        // go back (see `Delivered::attempt`).
        let attempt = earlier.started.iter().map(|(a, _)| *a).max().unwrap_or(0) + 1;
        // An apply whose earlier attempt stopped between two steps, every
        // write it intended with its outcome known, goes on from the next.
        let resume_at = match &order.apply {
            Some(_)
                if !earlier.intents.is_empty()
                    && earlier.intents.len() as i64 == earlier.writes_done =>
            {
                earlier.intents.len()
            }
            _ => 0,
        };
        if resume_at == 0
            && let Some(why) = earlier.needs_decision()
        {
            let end = RunEnd {
                status: RunStatus::Interrupted,
                error_kind: Some("operator-decision".to_owned()),
                ..RunEnd::failed("operator-decision", why, RunCounts::default())
            };
            if self.report_end(&order.id, attempt, end).await {
                let _ = delivered.done().await;
            }
            return false;
        }
        let plugin = match self.plugins.load(&order.plugin).await {
            Ok(plugin) => plugin,
            Err(e) => {
                let max = self.work.delivery().max_deliver;
                if delivered.attempt >= max {
                    let reason = format!(
                        "after {} deliveries no worker could run it; the last, {}, said: {e:#}",
                        delivered.attempt, self.options.name
                    );
                    let dead = DeadRun {
                        run: order.id.clone(),
                        plugin: order.plugin.clone(),
                        tenant: order.tenant.clone(),
                        requested_by: order.requested_by.clone(),
                        worker: self.options.name.clone(),
                        attempts: delivered.attempt,
                        reason: reason.clone(),
                    };
                    if self.dead_letter(tenant, &dead).await
                        && self
                            .report_end(
                                &order.id,
                                attempt,
                                RunEnd::failed("dead-letter", reason, RunCounts::default()),
                            )
                            .await
                    {
                        let _ = delivered.give_up().await;
                    }
                    return false;
                }
                tracing::warn!(run_id = %order.id, plugin = %order.plugin, "this worker cannot run the plugin ({e:#}); the run goes back to the queue for another worker");
                let _ = delivered.retry_after(Duration::from_millis(200)).await;
                return true;
            }
        };
        let started = Event::Started {
            plugin_version: plugin.manifest().plugin.version.to_string(),
            plugin_sha256: plugin.sha256().to_owned(),
        };
        if let Err(e) = self.publish(&order.id, attempt, started).await {
            tracing::warn!(run_id = %order.id, error = %e, "cannot report the run's start; it is delivered again later");
            let _ = delivered.retry_after(Duration::from_secs(2)).await;
            return false;
        }
        let cancel = CancelRun::new();
        self.running.lock().insert(order.id.clone(), cancel.clone());
        // A cancellation announced before the run was listed here.
        if let Ok(Some(reason)) = self.work.cancelled(&order.id).await {
            cancel.cancel(reason);
        }
        let worker = self.clone();
        tokio::spawn(async move {
            worker
                .execute(order, plugin, delivered, attempt, cancel, resume_at)
                .await;
            drop(permit);
        });
        false
    }

    async fn execute(
        self: Arc<Self>,
        order: RunOrder,
        plugin: exorun_sandbox::Plugin,
        delivered: Delivered,
        attempt: u32,
        cancel: CancelRun,
        resume_at: usize,
    ) {
        let delivered = Arc::new(delivered);
        let watch = RunWatch::for_attempt(&order.id, attempt);
        if resume_at > 0 {
            watch.note(&format!(
                "attempt {attempt}: an earlier attempt stopped between two steps with the outcome of all {resume_at} change(s) it sent known; the apply resumes at step {} on {}",
                resume_at + 1,
                self.options.name
            ));
        } else if attempt > 1 {
            watch.note(&format!(
                "attempt {attempt}: an earlier attempt stopped before its end was on record, and recorded no write; the run runs again on {}",
                self.options.name
            ));
        }
        let intents = Arc::new(IntentRecorder {
            work: self.work.clone(),
            key: self.key.clone(),
            run_id: order.id.clone(),
            worker: self.options.name.clone(),
            attempt,
            cancel: cancel.clone(),
            pending: AtomicI64::new(0),
            done: AtomicI64::new(0),
        });
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let pump = tokio::spawn(self.clone().pump(
            order.id.clone(),
            attempt,
            watch.clone(),
            intents.clone(),
            delivered.clone(),
            done_rx,
        ));
        let end = match &order.apply {
            None => {
                self.run_order(&order, attempt, plugin, cancel, watch.clone(), intents)
                    .await
            }
            Some(apply) => {
                self.apply_order(
                    &order,
                    apply,
                    attempt,
                    resume_at,
                    plugin,
                    cancel,
                    watch.clone(),
                    intents,
                )
                .await
            }
        };
        let _ = done_tx.send(());
        let _ = pump.await;
        let handed_back = self.is_stopping() && end.status == RunStatus::Interrupted;
        if handed_back {
            // Another worker takes it and decides as for a dead worker's.
            let _ = delivered.retry_after(Duration::ZERO).await;
        } else if self.report_end(&order.id, attempt, end).await
            && let Err(e) = delivered.done().await
        {
            tracing::warn!(run_id = %order.id, error = %e, "the run's end is on record but its message was not acknowledged; a redelivery will find the end and stop");
        }
        self.running.lock().remove(&order.id);
        self.runs_done.notify_waiters();
    }

    /// Reports progress every flush interval and tells NATS the run is
    /// alive every third of `ack_wait`, until the run ends; then reports
    /// what is left.
    async fn pump(
        self: Arc<Self>,
        run_id: String,
        attempt: u32,
        watch: Arc<RunWatch>,
        intents: Arc<IntentRecorder>,
        delivered: Arc<Delivered>,
        done: tokio::sync::oneshot::Receiver<()>,
    ) {
        let beat = (self.work.delivery().ack_wait / 3).max(Duration::from_millis(500));
        let mut last_beat = tokio::time::Instant::now();
        tokio::pin!(done);
        loop {
            let ended = tokio::select! {
                _ = &mut done => true,
                () = tokio::time::sleep(FLUSH_EVERY) => false,
            };
            if let Some((counts, logs, denials)) = watch.take_changes() {
                let event = Event::Progress {
                    counts,
                    writes_done: intents.done.load(Ordering::SeqCst),
                    logs,
                    denials,
                };
                if let Err(e) = self.publish(&run_id, attempt, event).await {
                    tracing::warn!(run_id, error = %e, "cannot report the run's progress");
                }
            }
            if ended {
                return;
            }
            if last_beat.elapsed() >= beat {
                if let Err(e) = delivered.in_progress().await {
                    tracing::warn!(run_id, error = %e, "cannot tell NATS the run is still running");
                }
                last_beat = tokio::time::Instant::now();
            }
        }
    }

    async fn run_order(
        &self,
        order: &RunOrder,
        attempt: u32,
        plugin: exorun_sandbox::Plugin,
        cancel: CancelRun,
        watch: Arc<RunWatch>,
        intents: Arc<IntentRecorder>,
    ) -> RunEnd {
        let connected = match self.tenants.get(&order.tenant).await {
            Ok(c) => c,
            Err(e) => {
                watch.note(&format!("cannot connect to tenant {}: {e:#}", order.tenant));
                return RunEnd::failed("connection", format!("{e:#}"), watch.counts());
            }
        };
        let plugin = plugin.narrowed(&connected.policy);
        let given: Vec<String> = order
            .inputs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let inputs = match ResolvedInputs::resolve(plugin.manifest().inputs(), &given) {
            Ok(i) => i,
            Err(e) => return RunEnd::failed("inputs", e.to_string(), watch.counts()),
        };
        // A later attempt writes its files apart: the first attempt's
        // (partial) files stay as they were, for whoever looks into it.
        let outputs_root = match attempt {
            1 => self.config.outputs_dir(),
            n => self.config.outputs_dir().join(format!("attempt-{n}")),
        };
        let job = RunJob {
            plugin: &plugin,
            target: &connected.target,
            inputs,
            mode: Mode::Run,
            audit_log: self.options.audit_log.clone(),
            outputs_root,
            observers: vec![watch.clone(), intents as Arc<dyn Observer>],
            identity: Identity {
                run_id: Some(order.id.clone()),
                operator: Some(order.requested_by.clone()),
            },
            cancel: Some(cancel),
        };
        match exorun_runner::run(self.plugins.sandbox(), job).await {
            Ok(finished) => crate::service::end_of_run(&finished, &watch, self.is_stopping()),
            Err(e) => RunEnd::failed("not-started", e.to_string(), watch.counts()),
        }
    }

    /// Applies an approved plan, from step `resume_at + 1` when an earlier
    /// attempt applied the steps before. A cancellation (or the worker
    /// stopping) takes effect between two steps.
    #[allow(clippy::too_many_arguments)]
    async fn apply_order(
        &self,
        order: &RunOrder,
        apply: &super::events::ApplyOrder,
        attempt: u32,
        resume_at: usize,
        plugin: exorun_sandbox::Plugin,
        cancel: CancelRun,
        watch: Arc<RunWatch>,
        intents: Arc<IntentRecorder>,
    ) -> RunEnd {
        let plan_id = apply.plan_sha256.as_str();
        let failed = |kind: &str, message: String, counts: RunCounts| RunEnd {
            plan_id: Some(plan_id.to_owned()),
            ..RunEnd::failed(kind, message, counts)
        };
        let connected = match self.tenants.get(&order.tenant).await {
            Ok(c) => c,
            Err(e) => {
                watch.note(&format!("cannot connect to tenant {}: {e:#}", order.tenant));
                return failed("connection", format!("{e:#}"), watch.counts());
            }
        };
        let plugin = plugin.narrowed(&connected.policy);
        let read = match exorun_plan::Plan::from_bytes(apply.plan.as_bytes(), "the approved plan") {
            Ok(read) => read,
            Err(e) => return failed("plan", e.to_string(), watch.counts()),
        };
        let mut end = crate::service::apply_plan(crate::service::PlanApply {
            read: &read,
            approved_sha256: plan_id,
            approved_by: &apply.approved_by,
            plugin: &plugin,
            connected: &connected,
            audit_log: &self.options.audit_log,
            // The service applies each approved plan once; an attempt after
            // the first may find this worker's own earlier start.
            again: attempt > 1,
            limits: &self.config.limits,
            ceilings: &self.plugins.sandbox().config().ceilings,
            identity: Identity {
                run_id: Some(order.id.clone()),
                operator: Some(order.requested_by.clone()),
            },
            observers: vec![watch.clone(), intents],
            done_before: resume_at,
            watch: &watch,
        })
        .await;
        // Stopped between two steps because the run was ended.
        if end.error_kind.as_deref() == Some("apply-stopped") && cancel.is_cancelled() {
            end.status = if self.is_stopping() {
                RunStatus::Interrupted
            } else {
                RunStatus::Cancelled
            };
            end.error_kind = Some("cancelled".to_owned());
        }
        end
    }

    async fn publish(
        &self,
        run_id: &str,
        attempt: u32,
        event: Event,
    ) -> Result<(), exorun_nats::WorkError> {
        let body = serde_json::to_vec(&RunEvent {
            run: run_id.to_owned(),
            worker: self.options.name.clone(),
            attempt,
            event,
        })
        .unwrap_or_default();
        let sealed = self.key.seal(Kind::Event, &body);
        self.work.publish_event(run_id, sealed.into()).await
    }

    /// Records a run's end, retrying while NATS cannot store it (until the
    /// worker stops). Whether it is on record: only then is the run acked.
    async fn report_end(&self, run_id: &str, attempt: u32, end: RunEnd) -> bool {
        let mut wait = Duration::from_millis(250);
        loop {
            match self
                .publish(run_id, attempt, Event::Ended { end: end.clone() })
                .await
            {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(run_id, error = %e, "cannot record the run's end; retrying");
                    if self.stop.is_cancelled() && wait >= Duration::from_secs(4) {
                        return false;
                    }
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    async fn dead_letter(&self, tenant: &str, dead: &DeadRun) -> bool {
        let body = serde_json::to_vec(dead).unwrap_or_default();
        let sealed = self.key.seal(Kind::Dead, &body);
        match self.work.publish_dead(tenant, sealed.into()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot record a dead letter; the run stays in the queue");
                false
            }
        }
    }
}

/// Records each write's intent in NATS before it is sent: a worker that
/// dies after this leaves a record that the write may have happened, and
/// the run is not run again blindly. When NATS cannot store it, the write
/// is not sent.
struct IntentRecorder {
    work: Work,
    key: QueueKey,
    run_id: String,
    worker: String,
    attempt: u32,
    /// The run's; once cancelled, no further call starts (an apply stops
    /// between two steps).
    cancel: CancelRun,
    /// Writes whose intent is recorded and whose outcome has not come back.
    pending: AtomicI64,
    /// Writes whose intent was recorded and whose outcome came back.
    done: AtomicI64,
}

impl Observer for IntentRecorder {
    fn blocked(&self) -> Option<String> {
        self.cancel
            .is_cancelled()
            .then(|| "the run was ended; no further call is sent".to_owned())
    }

    fn call(&self, record: &exorun_sandbox::CallRecord) {
        // A write refused before its intent (blocked) has no outcome to
        // count: only those whose intent was recorded.
        if !record.call.is_read_only()
            && matches!(record.decision, exorun_sandbox::Decision::Allowed)
            && self
                .pending
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n > 0).then(|| n - 1)
                })
                .is_ok()
        {
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn before_write(&self, calls: &[&exorun_cmdlet::Call]) -> Result<(), String> {
        let body = serde_json::to_vec(&RunEvent {
            run: self.run_id.clone(),
            worker: self.worker.clone(),
            attempt: self.attempt,
            event: Event::Intent {
                calls: calls.iter().map(|c| describe(c)).collect(),
            },
        })
        .unwrap_or_default();
        let body = self.key.seal(Kind::Event, &body);
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => h,
            _ => {
                return Err(
                    "the write's intent cannot be recorded from here (no multi-threaded runtime); it was not sent"
                        .to_owned(),
                );
            }
        };
        let work = self.work.clone();
        let run_id = self.run_id.clone();
        let recorded = tokio::task::block_in_place(move || {
            handle.block_on(async move { work.publish_event(&run_id, body.into()).await })
        })
        .map_err(|e| {
            format!("the write's intent could not be recorded in NATS ({e}); it was not sent")
        });
        if recorded.is_ok() {
            self.pending.fetch_add(calls.len() as i64, Ordering::SeqCst);
        }
        recorded
    }
}
