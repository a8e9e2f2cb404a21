//! The service's parts put together: the queue feeding runs to the
//! runner, the scheduler feeding slots to the queue, the housekeeping that
//! expires plans and forgets old history, and the actions the API takes
//! (start, cancel, approve, reject), each checked and audited here so the
//! API and the dashboard cannot differ.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use exorun_policy::ResolvedInputs;
use exorun_runner::{ApplyJob, Identity, Mode, RunJob};
use exorun_sandbox::{CancelRun, RunError};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::audit::{Action, ServiceAudit};
use crate::config::{Approval, ServeConfig};
use crate::plugins::Plugins;
use crate::queue::{LocalQueue, QueuedRun, RunKind, RunQueue};
use crate::schedule::{Clock, Leader};
use crate::store::{
    FireOutcome, NewRun, PlanRow, PlanStatus, RunCounts, RunEnd, RunRow, RunStatus, Store,
    StoreError, now_text, time_text,
};
use crate::tenants::{Connector, Tenants};
use crate::watch::RunWatch;

/// Why an action was refused or failed, with what the API answers.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The request is wrong: say what to fix (400).
    #[error("{0}")]
    Invalid(String),
    /// Not allowed for this person (403), with the refusal's rule.
    #[error("{message}")]
    Refused { rule: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    /// The object changed meanwhile (409).
    #[error("{0}")]
    Conflict(String),
    /// The service cannot do it now (503): the database or the audit
    /// trail cannot be written, or the service is stopping.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ActionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ActionError::NotFound(m),
            StoreError::Conflict(m) => ActionError::Conflict(m),
            other => ActionError::Unavailable(other.to_string()),
        }
    }
}

/// A run someone asks for.
#[derive(Clone, Debug)]
pub struct StartRun {
    pub plugin: String,
    pub tenant: String,
    pub inputs: Vec<(String, String)>,
    pub what_if: bool,
}

/// The person (or schedule) acting, as records name them.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub role: crate::store::Role,
}

impl Actor {
    pub fn label(&self) -> String {
        format!("user:{}", self.name)
    }

    /// The refusal for someone below `needed`, saying what `doing` needs.
    pub fn require(&self, needed: crate::store::Role, doing: &str) -> Result<(), ActionError> {
        if self.role >= needed {
            return Ok(());
        }
        let or_higher = if needed < crate::store::Role::Admin {
            " or higher"
        } else {
            ""
        };
        Err(ActionError::Refused {
            rule: "role",
            message: format!(
                "{} has the role {}; {doing} needs the {needed} role{or_higher}",
                self.name, self.role
            ),
        })
    }
}

pub struct Service {
    pub config: ServeConfig,
    pub store: Store,
    pub queue: Arc<dyn RunQueue>,
    /// With serve.toml's `[queue]`: plain runs go to `exorun worker`s
    /// through NATS instead of [`Service::queue`].
    pub cluster: Option<Arc<crate::cluster::Dispatch>>,
    pub tenants: Arc<Tenants>,
    pub plugins: Plugins,
    pub audit: ServiceAudit,
    /// Plugin installs and upgrades waiting on their consent screens.
    pub consents: crate::consent::Consents,
    pub clock: Arc<dyn Clock>,
    leader: Arc<dyn Leader>,
    /// `serve:<instance>`: the runner named in the history for runs this
    /// instance runs itself, when several instances share the history.
    runner: Option<String>,
    running: Mutex<HashMap<String, (CancelRun, Arc<RunWatch>)>>,
    stopping: AtomicBool,
    stop: CancelRun,
    /// Ends the audit streamer after its last poll, once runs have ended.
    stream_stop: CancelRun,
    streamer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    wake_scheduler: Notify,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    runs_done: Notify,
}

/// The queue's limits: serve.toml's, and each tenant's own (also of a
/// tenant added through the API).
struct ConfigLimits {
    config: ServeConfig,
    tenants: Arc<Tenants>,
}

impl crate::queue::Limits for ConfigLimits {
    fn total(&self) -> u32 {
        self.config.limits.max_concurrent_runs
    }
    fn per_tenant(&self, tenant: &str) -> u32 {
        self.tenants
            .max_concurrent_runs(tenant)
            .unwrap_or(self.config.limits.per_tenant)
    }
    fn per_plugin(&self, plugin: &str) -> u32 {
        self.config
            .plugin(plugin)
            .max_concurrent_runs
            .unwrap_or(self.config.limits.per_plugin)
    }
}

/// What the embedding binary provides besides the config.
pub struct Parts {
    pub connector: Arc<dyn Connector>,
    pub sandbox: Arc<exorun_sandbox::Sandbox>,
    pub clock: Arc<dyn Clock>,
    pub leader: Arc<dyn Leader>,
    /// This instance's name when several share the history (`[queue]`):
    /// runs it runs itself are claimed in its name, and only those are
    /// taken for interrupted when it starts again.
    pub instance: Option<String>,
}

impl Service {
    /// Opens the history, recovers from the last stop (runs left running
    /// are marked interrupted, never started again; queued runs resume)
    /// and syncs the config's schedules. Starts nothing yet.
    pub async fn open(config: ServeConfig, parts: Parts) -> anyhow::Result<Arc<Service>> {
        for dir in [
            config.data_dir.clone(),
            config.plans_dir(),
            config.outputs_dir(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        }
        let store = Store::open(&config.history_path())?;
        let cluster = crate::cluster::Dispatch::connect(&config).await?;
        let tenants = Arc::new(Tenants::new(
            crate::tenant_admin::served_tenants(&config, &store)?,
            parts.connector,
        ));
        let queue: Arc<dyn RunQueue> = Arc::new(LocalQueue::new(Arc::new(ConfigLimits {
            config: config.clone(),
            tenants: tenants.clone(),
        })));
        let service = Arc::new(Service {
            tenants,
            plugins: Plugins::new(config.plugins_dir.clone(), parts.sandbox),
            audit: ServiceAudit::new(&config.audit.log),
            consents: crate::consent::Consents::default(),
            store,
            queue,
            cluster,
            clock: parts.clock,
            leader: parts.leader,
            runner: parts.instance.map(|i| format!("serve:{i}")),
            running: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            stop: CancelRun::new(),
            stream_stop: CancelRun::new(),
            streamer: Mutex::new(None),
            wake_scheduler: Notify::new(),
            tasks: Mutex::new(Vec::new()),
            runs_done: Notify::new(),
            config,
        });
        service.recover().await?;
        Ok(service)
    }

    async fn recover(&self) -> anyhow::Result<()> {
        let runner = self.runner.clone();
        let interrupted = self
            .store
            .call(move |c| crate::store::runs::interrupt_running(c, runner.as_deref()))
            .await?;
        for id in &interrupted {
            self.audit_quiet(Action {
                actor: "service",
                action: "run.interrupted",
                run_id: Some(id),
                message: Some(
                    "the service stopped while the run was running; it is not started again"
                        .to_owned(),
                ),
                ..Action::default()
            })
            .await;
        }
        let rows = crate::schedule::config_rows(&self.config);
        let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
        self.store
            .call(move |c| {
                for row in &rows {
                    crate::store::schedules::put_schedule(c, row)?;
                }
                crate::store::schedules::remove_config_schedules_except(c, &names)?;
                Ok(())
            })
            .await?;
        let queued = self
            .store
            .call(|c| crate::store::runs::queued_runs(c))
            .await?;
        for row in queued {
            match self.requeue(&row).await {
                // An apply stays here: it goes to a worker only with the
                // plan checked at its approval.
                Ok(run) => self.enqueue(run, false, None),
                Err(why) => {
                    let id = row.id.clone();
                    let message = why.clone();
                    self.store
                        .call(move |c| {
                            crate::store::runs::finish_run(
                                c,
                                &id,
                                &RunEnd::failed("not-resumed", message, RunCounts::default()),
                            )
                        })
                        .await?;
                    tracing::warn!(run_id = %row.id, "{why}");
                }
            }
        }
        Ok(())
    }

    /// A queued run from its history row, after a restart. Its inputs are
    /// those the history kept; a sensitive one was never written there, so
    /// such a run cannot resume and says so.
    async fn requeue(&self, row: &RunRow) -> Result<QueuedRun, String> {
        let inputs = crate::store::runs::input_pairs(&row.inputs);
        if inputs.iter().any(|(_, v)| v == exorun_audit::REDACTED) {
            return Err(
                "the run was queued with a sensitive input, which is kept only in memory; the service restarted before it started, so start it again"
                    .to_owned(),
            );
        }
        let kind = match row.mode.as_str() {
            "what-if" => RunKind::WhatIf,
            "apply" => {
                let plan = row
                    .apply_of
                    .clone()
                    .ok_or("an apply run without its plan")?;
                let id = plan.clone();
                let decided = self
                    .store
                    .call(move |c| crate::store::runs::get_plan(c, &id))
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|p| p.decided_by)
                    .unwrap_or_default();
                RunKind::Apply {
                    plan,
                    approved_by: decided,
                }
            }
            _ => RunKind::Run,
        };
        Ok(QueuedRun {
            id: row.id.clone(),
            plugin: row.plugin.clone(),
            tenant: row.tenant.clone(),
            kind,
            requested_by: row.requested_by.clone(),
            inputs,
            schedule: row.schedule.clone(),
        })
    }

    /// Starts the dispatcher, the scheduler and the housekeeping.
    pub fn start(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock();
        tasks.push(tokio::spawn(self.clone().dispatch()));
        tasks.push(tokio::spawn(self.clone().schedule_loop()));
        tasks.push(tokio::spawn(self.clone().housekeeping()));
        if let Some(cluster) = &self.cluster {
            tasks.push(tokio::spawn(cluster.clone().project(self.clone())));
        }
        if let Some(sink) = crate::audit::StreamSink::from_config(&self.config.audit) {
            // Opened here, not in the task: every record from the start on
            // is streamed, the service's own first records included.
            match exorun_audit::Follower::from_end(&self.config.audit.log) {
                Ok(follower) => {
                    *self.streamer.lock() = Some(tokio::spawn(crate::audit::stream(
                        follower,
                        sink,
                        self.stream_stop.clone(),
                    )));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot follow the audit log; records are not streamed")
                }
            }
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    async fn dispatch(self: Arc<Self>) {
        loop {
            let run = tokio::select! {
                run = self.queue.next() => run,
                () = self.stop.cancelled() => return,
            };
            if self.is_stopping() {
                // Back in line for the next start; its row is still queued.
                self.queue.done(&run);
                return;
            }
            let service = self.clone();
            tokio::spawn(async move {
                service.execute(&run).await;
                service.queue.done(&run);
                service.runs_done.notify_waiters();
            });
        }
    }

    async fn schedule_loop(self: Arc<Self>) {
        loop {
            if self.is_stopping() {
                return;
            }
            let mut wake = self
                .clock
                .now()
                .checked_add(jiff::SignedDuration::from_secs(30))
                .unwrap_or(self.clock.now());
            if !self.leader.is_leader().await {
                // Another instance fires them; look again soon, to take
                // over quickly when it is gone.
                wake = self
                    .clock
                    .now()
                    .checked_add(jiff::SignedDuration::from_secs(1))
                    .unwrap_or(wake);
            } else {
                match crate::schedule::tick(&self.store, self.clock.now()).await {
                    Ok((fired, next)) => {
                        wake = next;
                        for f in fired {
                            self.after_fire(f).await;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the scheduler cannot read or write the history")
                    }
                }
            }
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                () = self.wake_scheduler.notified() => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    async fn after_fire(&self, fired: crate::schedule::Fired) {
        let actor = format!("schedule:{}", fired.schedule);
        let slot = time_text(fired.slot);
        match fired.outcome {
            FireOutcome::AlreadyHandled => {}
            FireOutcome::Missed => {
                self.audit_quiet(Action {
                    actor: &actor,
                    action: "schedule.missed",
                    reference: Some(format!("schedule/{}", fired.schedule)),
                    message: Some(format!(
                        "{} slot(s) up to {slot} passed while the service was down, beyond the catch-up window; none ran",
                        fired.missed
                    )),
                    ..Action::default()
                })
                .await;
            }
            FireOutcome::Skipped => {
                let run = fired.run.as_ref();
                self.audit_quiet(Action {
                    actor: &actor,
                    action: "schedule.skip",
                    run_id: run.map(|r| r.id.as_str()),
                    plugin: run.map(|r| r.plugin.as_str()),
                    tenant: run.map(|r| r.tenant.as_str()),
                    reference: Some(format!("schedule/{}", fired.schedule)),
                    message: Some(format!(
                        "slot {slot} skipped: the schedule's previous run is still queued or running (overlap = skip)"
                    )),
                    ..Action::default()
                })
                .await;
            }
            FireOutcome::Queued => {
                let Some(run) = fired.run else { return };
                for old in &fired.replaces {
                    self.cancel_any(
                        old,
                        &format!("replaced by slot {slot} of schedule {}", fired.schedule),
                    )
                    .await;
                }
                self.audit_quiet(Action {
                    actor: &actor,
                    action: "schedule.fire",
                    run_id: Some(&run.id),
                    plugin: Some(&run.plugin),
                    tenant: Some(&run.tenant),
                    reference: Some(format!("schedule/{}", fired.schedule)),
                    message: Some(format!("slot {slot}")),
                    ..Action::default()
                })
                .await;
                self.enqueue(
                    QueuedRun {
                        id: run.id.clone(),
                        plugin: run.plugin.clone(),
                        tenant: run.tenant.clone(),
                        kind: RunKind::Run,
                        requested_by: run.requested_by.clone(),
                        inputs: run.inputs_shown.clone(),
                        schedule: run.schedule.clone(),
                    },
                    false,
                    None,
                );
            }
        }
    }

    /// Puts a run in line: on NATS for the workers when the service has a
    /// `[queue]` and the workers take it, else in the service's own queue.
    /// `sensitive`: its inputs or plan hold a sensitive value; `plan`: an
    /// apply's plan, as checked at approval.
    fn enqueue(&self, run: QueuedRun, sensitive: bool, plan: Option<String>) {
        let plan = plan.filter(|p| p.len() as u64 <= crate::cluster::dispatch::MAX_PLAN_BYTES);
        let is_apply = matches!(run.kind, RunKind::Apply { .. });
        match &self.cluster {
            // An apply goes only with its plan.
            Some(cluster)
                if crate::cluster::Dispatch::takes(&run, sensitive)
                    && (!is_apply || plan.is_some()) =>
            {
                let cluster = cluster.clone();
                let stop = self.stop.clone();
                tokio::spawn(async move { cluster.submit(&run, plan, &stop).await });
            }
            _ => self.queue.push(run),
        }
    }

    /// Tells the scheduler its schedules changed.
    pub fn schedules_changed(&self) {
        self.wake_scheduler.notify_one();
    }

    async fn housekeeping(self: Arc<Self>) {
        loop {
            let now = now_text();
            match self
                .store
                .call(move |c| crate::store::runs::expire_plans(c, &now))
                .await
            {
                Ok(expired) => {
                    for plan in expired {
                        self.audit_quiet(Action {
                            actor: "service",
                            action: "plan.expire",
                            run_id: Some(&plan.run_id),
                            plugin: Some(&plan.plugin),
                            tenant: Some(&plan.tenant),
                            reference: Some(format!("plan/{}", plan.id)),
                            message: Some("nobody decided before the plan expired".to_owned()),
                            ..Action::default()
                        })
                        .await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot expire plans"),
            }
            let keep = self.config.limits.keep;
            let before = jiff::Timestamp::now()
                .checked_sub(jiff::SignedDuration::try_from(keep).unwrap_or_default())
                .map(time_text)
                .unwrap_or_default();
            if let Err(e) = self
                .store
                .call(move |c| crate::store::runs::purge(c, &before))
                .await
            {
                tracing::warn!(error = %e, "cannot forget old runs");
            }
            self.rotate_audit_if_large().await;
            self.expire_consents().await;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    /// Closes the active audit file as a segment once it passes the
    /// configured size; the chain goes on in a new file.
    async fn rotate_audit_if_large(&self) {
        let log = self.config.audit.log.clone();
        let limit = self.config.audit.rotate_bytes;
        let rotated = tokio::task::spawn_blocking(move || match std::fs::metadata(&log) {
            Ok(meta) if meta.len() >= limit => {
                exorun_audit::rotate(&log).map_err(|e| e.to_string())
            }
            _ => Ok(None),
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match rotated {
            Ok(Some(segment)) => {
                tracing::info!(segment = %segment.display(), "audit log rotated");
                self.audit_quiet(Action {
                    actor: "service",
                    action: "audit.rotate",
                    reference: Some(segment.display().to_string()),
                    ..Action::default()
                })
                .await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot rotate the audit log"),
        }
    }

    /// Records an action the service takes on its own; a failure is
    /// logged (the action has happened already).
    pub(crate) async fn audit_quiet(&self, action: Action<'_>) {
        if let Err(e) = self.audit.record(action).await {
            tracing::error!(error = %e, "cannot write the audit trail");
        }
    }

    /// Records an action about to be taken; when the trail cannot be
    /// written the action is not taken.
    pub async fn audit_or_refuse(&self, action: Action<'_>) -> Result<(), ActionError> {
        self.audit.record(action).await.map_err(|e| {
            ActionError::Unavailable(format!(
                "the audit trail cannot be written ({e}); nothing was done"
            ))
        })
    }

    /// Checks that `actor` is an admin; otherwise records the refusal of
    /// `action` (its actor filled in) and returns it. The actor's label.
    pub async fn require_admin(
        &self,
        actor: &Actor,
        doing: &str,
        action: Action<'_>,
    ) -> Result<String, ActionError> {
        let label = actor.label();
        if let Err(e) = actor.require(crate::store::Role::Admin, doing) {
            return Err(self
                .refuse(
                    Action {
                        actor: &label,
                        ..action
                    },
                    e,
                )
                .await);
        }
        Ok(label)
    }

    /// Records a refusal, then returns it.
    pub async fn refuse(&self, action: Action<'_>, error: ActionError) -> ActionError {
        let rule = match &error {
            ActionError::Refused { rule, .. } => *rule,
            ActionError::Invalid(_) => "invalid",
            ActionError::NotFound(_) => "not-found",
            ActionError::Conflict(_) => "conflict",
            ActionError::Unavailable(_) => "unavailable",
        };
        self.audit_quiet(Action {
            refused: Some(rule),
            message: Some(error.to_string()),
            ..action
        })
        .await;
        error
    }

    // ----- Actions -----------------------------------------------------

    /// Queues a run for `actor`. A plugin configured for two-person
    /// approval always starts as a what-if run.
    pub async fn start_run(&self, actor: &Actor, request: StartRun) -> Result<RunRow, ActionError> {
        let label = actor.label();
        let action = Action {
            actor: &label,
            action: if request.what_if {
                "run.what-if"
            } else {
                "run.start"
            },
            plugin: Some(&request.plugin),
            tenant: Some(&request.tenant),
            ..Action::default()
        };
        if let Err(e) = actor.require(crate::store::Role::Operator, "starting runs") {
            return Err(self.refuse(action, e).await);
        }
        if self.is_stopping() {
            return Err(ActionError::Unavailable(
                "the service is shutting down; start the run again once it is back".to_owned(),
            ));
        }
        if self.tenants.config(&request.tenant).is_none() {
            let known = self.tenants.names();
            let e = ActionError::Invalid(format!(
                "the service has no tenant '{}'; it serves: {}",
                request.tenant,
                known.join(", ")
            ));
            return Err(self.refuse(action, e).await);
        }
        let manifest = match self.plugins.manifest(&request.plugin).await {
            Ok(m) => m,
            Err(e) => {
                let e = ActionError::Invalid(format!("{e:#}"));
                return Err(self.refuse(action, e).await);
            }
        };
        let given: Vec<String> = request
            .inputs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Err(e) = ResolvedInputs::resolve(manifest.inputs(), &given) {
            let e = ActionError::Invalid(e.to_string().replace("pass --input", "give the input"));
            return Err(self.refuse(action, e).await);
        }
        let shown: Vec<(String, String)> = request
            .inputs
            .iter()
            .map(|(k, v)| {
                let sensitive = manifest
                    .inputs()
                    .iter()
                    .any(|s| s.name == *k && s.sensitive);
                let shown = if sensitive {
                    exorun_audit::REDACTED.to_owned()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect();
        let two_person = self.config.plugin(&request.plugin).approval == Approval::TwoPerson
            && !manifest.capabilities().is_read_only();
        let kind = if request.what_if || two_person {
            RunKind::WhatIf
        } else {
            RunKind::Run
        };
        let new = NewRun {
            id: uuid::Uuid::new_v4().to_string(),
            plugin: request.plugin.clone(),
            tenant: request.tenant.clone(),
            mode: kind.mode().to_owned(),
            requested_by: label.clone(),
            schedule: None,
            slot: None,
            inputs_shown: shown,
            apply_of: None,
        };
        self.audit_or_refuse(Action {
            run_id: Some(&new.id),
            reference: Some(format!("run/{}", new.id)),
            message: two_person.then(|| {
                "two-person approval: the run plans its writes for an approver".to_owned()
            }),
            ..action
        })
        .await?;
        let insert = new.clone();
        self.store
            .call(move |c| crate::store::runs::insert_run(c, &insert, RunStatus::Queued))
            .await?;
        let sensitive = new
            .inputs_shown
            .iter()
            .any(|(_, v)| v == exorun_audit::REDACTED);
        self.enqueue(
            QueuedRun {
                id: new.id.clone(),
                plugin: new.plugin.clone(),
                tenant: new.tenant.clone(),
                kind,
                requested_by: label,
                inputs: request.inputs,
                schedule: None,
            },
            sensitive,
            None,
        );
        self.run(&new.id).await
    }

    pub async fn run(&self, id: &str) -> Result<RunRow, ActionError> {
        let owned = id.to_owned();
        self.store
            .read(move |c| crate::store::runs::get_run(c, &owned))
            .await?
            .ok_or_else(|| ActionError::NotFound(format!("there is no run '{id}'")))
    }

    /// Cancels a run: taken out of the queue if it waits, ended if it runs.
    pub async fn cancel(&self, actor: &Actor, id: &str) -> Result<RunRow, ActionError> {
        let label = actor.label();
        let row = self.run(id).await?;
        let action = Action {
            actor: &label,
            action: "run.cancel",
            run_id: Some(id),
            plugin: Some(&row.plugin),
            tenant: Some(&row.tenant),
            reference: Some(format!("run/{id}")),
            ..Action::default()
        };
        if let Err(e) = actor.require(crate::store::Role::Operator, "cancelling runs") {
            return Err(self.refuse(action, e).await);
        }
        if row.status.is_final() || row.status == RunStatus::AwaitingApproval {
            let e = ActionError::Conflict(format!(
                "run {id} is {}; only a queued or running run can be cancelled{}",
                row.status.as_str(),
                if row.status == RunStatus::AwaitingApproval {
                    " (reject its plan instead)"
                } else {
                    ""
                }
            ));
            return Err(self.refuse(action, e).await);
        }
        self.audit_or_refuse(action).await?;
        self.cancel_any(id, &format!("cancelled by {}", actor.name))
            .await;
        self.run(id).await
    }

    /// Ends a queued or running run, whoever asks (a person, a replacing
    /// slot, the shutdown).
    async fn cancel_any(&self, id: &str, reason: &str) {
        if self.queue.remove(id) || !self.running.lock().contains_key(id) {
            let owned = id.to_owned();
            let by = reason.to_owned();
            let _ = self
                .store
                .call(move |c| crate::store::runs::cancel_queued(c, &owned, &by))
                .await;
        }
        if let Some(cluster) = &self.cluster
            && let Err(e) = cluster.cancel(id, reason).await
        {
            tracing::error!(run_id = id, error = %e, "cannot tell the workers the run is cancelled");
        }
        let handle = self.running.lock().get(id).map(|(c, _)| c.clone());
        if let Some(cancel) = handle {
            let owned = id.to_owned();
            let by = reason.to_owned();
            let _ = self
                .store
                .call(move |c| crate::store::runs::mark_cancel_requested(c, &owned, &by))
                .await;
            cancel.cancel(reason);
        }
    }

    /// The plan with this id (its SHA-256) and its calls.
    pub async fn plan(&self, id: &str) -> Result<(PlanRow, exorun_plan::ReadPlan), ActionError> {
        let owned = id.to_owned();
        let row = self
            .store
            .call(move |c| crate::store::runs::get_plan(c, &owned))
            .await?
            .ok_or_else(|| ActionError::NotFound(format!("there is no plan '{id}'")))?;
        let path = self.plan_path(&row.run_id);
        let read = tokio::task::spawn_blocking(move || exorun_plan::Plan::read(&path))
            .await
            .map_err(|e| ActionError::Unavailable(e.to_string()))?
            .map_err(|e| ActionError::Conflict(format!("the plan file cannot be read: {e}")))?;
        Ok((row, read))
    }

    fn plan_path(&self, run_id: &str) -> std::path::PathBuf {
        self.config.plans_dir().join(format!("{run_id}.plan.json"))
    }

    /// Approves a plan: checked, audited, and its apply queued. `seen` is
    /// the SHA-256 the approver reviewed; the file must still have it.
    pub async fn approve(
        &self,
        actor: &Actor,
        id: &str,
        seen: &str,
    ) -> Result<RunRow, ActionError> {
        self.decide(actor, id, Some(seen), true, None).await
    }

    pub async fn reject(
        &self,
        actor: &Actor,
        id: &str,
        reason: Option<String>,
    ) -> Result<RunRow, ActionError> {
        self.decide(actor, id, None, false, reason).await
    }

    async fn decide(
        &self,
        actor: &Actor,
        id: &str,
        seen: Option<&str>,
        approve: bool,
        reason: Option<String>,
    ) -> Result<RunRow, ActionError> {
        let label = actor.label();
        let verb = if approve {
            "plan.approve"
        } else {
            "plan.reject"
        };
        let owned = id.to_owned();
        let row = self
            .store
            .call(move |c| crate::store::runs::get_plan(c, &owned))
            .await?;
        let action = Action {
            actor: &label,
            action: verb,
            run_id: row.as_ref().map(|r| r.run_id.as_str()),
            plugin: row.as_ref().map(|r| r.plugin.as_str()),
            tenant: row.as_ref().map(|r| r.tenant.as_str()),
            reference: Some(format!("plan/{id}")),
            ..Action::default()
        };
        let Some(row) = row.clone() else {
            let e = ActionError::NotFound(format!("there is no plan '{id}'"));
            return Err(self.refuse(action, e).await);
        };
        if let Err(e) = actor.require(crate::store::Role::Approver, "deciding on plans") {
            return Err(self.refuse(action, e).await);
        }
        if approve && row.requested_by == label {
            let e = ActionError::Refused {
                rule: "own-plan",
                message: format!(
                    "{} asked for this plan and may not approve it; a second person must",
                    actor.name
                ),
            };
            return Err(self.refuse(action, e).await);
        }
        if row.status != PlanStatus::Pending {
            let e =
                ActionError::Conflict(format!("plan {id} is {}, not pending", row.status.as_str()));
            return Err(self.refuse(action, e).await);
        }
        if row.expires_at.as_str() <= now_text().as_str() {
            let e = ActionError::Conflict(format!("plan {id} expired at {}", row.expires_at));
            return Err(self.refuse(action, e).await);
        }
        let mut apply = None;
        // Whether the plan holds a sensitive value (it holds the values the
        // calls send): such an apply never leaves the service.
        let mut plan_sensitive = true;
        let mut plan_text = None;
        if approve {
            let seen = seen.unwrap_or_default().trim().to_ascii_lowercase();
            if seen != row.id {
                let e = ActionError::Refused {
                    rule: "plan-changed",
                    message: format!(
                        "the plan reviewed has sha256 {seen}, not {}: review the plan again",
                        row.id
                    ),
                };
                return Err(self.refuse(action, e).await);
            }
            // The file must still be the one submitted.
            let path = self.plan_path(&row.run_id);
            let file = tokio::task::spawn_blocking(move || {
                let bytes = exorun_plan::Plan::read_bytes(&path)?;
                let read = exorun_plan::Plan::from_bytes(&bytes, &path.display().to_string())?;
                Ok::<_, exorun_plan::PlanError>((read, bytes))
            })
            .await
            .map_err(|e| ActionError::Unavailable(e.to_string()))?;
            match file {
                Ok((read, bytes)) if read.sha256 == row.id => {
                    plan_sensitive = self.plan_has_sensitive_values(&row.plugin, &read).await;
                    // The bytes just checked are the ones a worker applies.
                    plan_text = String::from_utf8(bytes).ok();
                }
                Ok((read, _)) => {
                    let e = ActionError::Refused {
                        rule: "plan-changed",
                        message: format!(
                            "the plan file was changed after it was submitted (sha256 {} now, {} submitted); it will not be applied",
                            read.sha256, row.id
                        ),
                    };
                    return Err(self.refuse(action, e).await);
                }
                Err(err) => {
                    let e = ActionError::Refused {
                        rule: "plan-changed",
                        message: format!(
                            "the plan file cannot be read any more ({err}); it will not be applied"
                        ),
                    };
                    return Err(self.refuse(action, e).await);
                }
            }
            apply = Some(NewRun {
                id: uuid::Uuid::new_v4().to_string(),
                plugin: row.plugin.clone(),
                tenant: row.tenant.clone(),
                mode: "apply".to_owned(),
                requested_by: row.requested_by.clone(),
                schedule: None,
                slot: None,
                inputs_shown: Vec::new(),
                apply_of: Some(row.id.clone()),
            });
        }
        self.audit_or_refuse(Action {
            message: reason
                .clone()
                .or_else(|| apply.as_ref().map(|a| format!("applied as run {}", a.id))),
            ..action
        })
        .await?;
        let status = if approve {
            PlanStatus::Approved
        } else {
            PlanStatus::Rejected
        };
        let plan_id = row.id.clone();
        let by = label.clone();
        let apply_copy = apply.clone();
        self.store
            .call(move |c| {
                crate::store::runs::decide_plan(
                    c,
                    &plan_id,
                    status,
                    &by,
                    reason.as_deref(),
                    apply_copy.as_ref(),
                )
            })
            .await?;
        match apply {
            Some(apply) => {
                self.enqueue(
                    QueuedRun {
                        id: apply.id.clone(),
                        plugin: apply.plugin.clone(),
                        tenant: apply.tenant.clone(),
                        kind: RunKind::Apply {
                            plan: row.id.clone(),
                            approved_by: label,
                        },
                        requested_by: apply.requested_by.clone(),
                        inputs: Vec::new(),
                        schedule: None,
                    },
                    plan_sensitive,
                    plan_text,
                );
                self.run(&apply.id).await
            }
            None => self.run(&row.run_id).await,
        }
    }

    /// Whether any call of the plan sends a sensitive value (a parameter
    /// the plugin's manifest marks sensitive, or one named like a secret).
    /// `true` when the manifest cannot be read.
    async fn plan_has_sensitive_values(&self, plugin: &str, read: &exorun_plan::ReadPlan) -> bool {
        let Ok(manifest) = self.plugins.manifest(plugin).await else {
            return true;
        };
        let capabilities = manifest.capabilities();
        read.plan.calls.iter().any(|call| {
            let rule = capabilities.cmdlet(&call.cmdlet);
            call.parameters.iter().any(|(name, _)| {
                exorun_audit::is_sensitive_name(name)
                    || rule
                        .and_then(|r| r.parameter(name))
                        .is_some_and(|p| p.sensitive)
            })
        })
    }

    // ----- Running -----------------------------------------------------

    async fn fail(&self, id: &str, kind: &str, message: String, counts: RunCounts) {
        self.record_end(id, RunEnd::failed(kind, message, counts))
            .await;
    }

    async fn execute(&self, run: &QueuedRun) {
        let plugin = match self.plugins.load(&run.plugin).await {
            Ok(plugin) => plugin,
            Err(e) => {
                let owned = run.id.clone();
                // Only a run still queued fails here; a cancelled one stays so.
                if let Ok(Some(row)) = self
                    .store
                    .read(move |c| crate::store::runs::get_run(c, &owned))
                    .await
                    && row.status == RunStatus::Queued
                {
                    self.fail(
                        &run.id,
                        "plugin-unavailable",
                        format!("{e:#}"),
                        RunCounts::default(),
                    )
                    .await;
                }
                return;
            }
        };
        let (id, version, sha, runner) = (
            run.id.clone(),
            plugin.manifest().plugin.version.to_string(),
            plugin.sha256().to_owned(),
            self.runner.clone(),
        );
        match self
            .store
            .call(move |c| crate::store::runs::claim_run(c, &id, &version, &sha, runner.as_deref()))
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(run_id = %run.id, error = %e, "cannot start the run: the history cannot be written; it stays queued");
                return;
            }
        }
        let cancel = CancelRun::new();
        let watch = RunWatch::new(&run.id);
        self.running
            .lock()
            .insert(run.id.clone(), (cancel.clone(), watch.clone()));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let flusher = tokio::spawn(watch.clone().flush_until(self.store.clone(), done_rx));

        let end = self
            .execute_claimed(run, plugin, cancel.clone(), watch.clone())
            .await;

        let _ = done_tx.send(());
        let _ = flusher.await;
        // Recorded before the run leaves `running`, so that a shutdown
        // waits for its end to reach the history too.
        self.record_end(&run.id, end).await;
        self.running.lock().remove(&run.id);
    }

    /// Writes a run's end to the history, retrying while it cannot be
    /// written (a full disk): the run stays `running` in the history
    /// meanwhile, and its end is written once space returns, so no ended
    /// run is later taken for one the service was stopped in. The audit
    /// trail has the end already.
    async fn record_end(&self, run_id: &str, end: RunEnd) {
        let mut wait = Duration::from_millis(500);
        let mut warned = false;
        loop {
            let owned = run_id.to_owned();
            let end_copy = end.clone();
            match self
                .store
                .call(move |c| crate::store::runs::finish_run(c, &owned, &end_copy))
                .await
            {
                Ok(()) => {
                    if warned {
                        tracing::info!(run_id, "the run's end is recorded in the history now");
                    }
                    return;
                }
                Err(e) => {
                    if !warned {
                        tracing::error!(run_id, error = %e, status = end.status.as_str(), "cannot record the run's end in the history; retrying until it can be (the audit trail has it)");
                        warned = true;
                    }
                    if self.stop.is_cancelled() && wait > Duration::from_secs(4) {
                        tracing::error!(run_id, error = %e, "the service stops before the run's end could be recorded in the history; the audit trail has it, and the next start marks the run interrupted");
                        return;
                    }
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }

    async fn execute_claimed(
        &self,
        run: &QueuedRun,
        plugin: exorun_sandbox::Plugin,
        cancel: CancelRun,
        watch: Arc<RunWatch>,
    ) -> RunEnd {
        let failed = RunEnd::failed;
        let connected = match self.tenants.get(&run.tenant).await {
            Ok(c) => c,
            Err(e) => {
                watch.note(&format!("cannot connect to tenant {}: {e:#}", run.tenant));
                return failed("connection", format!("{e:#}"), watch.counts());
            }
        };
        let plugin = plugin.narrowed(&connected.policy);
        let identity = Identity {
            run_id: Some(run.id.clone()),
            operator: Some(run.requested_by.clone()),
        };
        match &run.kind {
            RunKind::Run | RunKind::WhatIf => {
                let given: Vec<String> =
                    run.inputs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let inputs = match ResolvedInputs::resolve(plugin.manifest().inputs(), &given) {
                    Ok(i) => i,
                    Err(e) => return failed("inputs", e.to_string(), watch.counts()),
                };
                let what_if = run.kind == RunKind::WhatIf;
                let job = RunJob {
                    plugin: &plugin,
                    target: &connected.target,
                    inputs,
                    mode: if what_if {
                        Mode::WhatIf {
                            plan: Some(self.plan_path(&run.id)),
                        }
                    } else {
                        Mode::Run
                    },
                    audit_log: self.config.audit.log.clone(),
                    outputs_root: self.config.outputs_dir(),
                    observers: vec![watch.clone()],
                    identity,
                    cancel: Some(cancel.clone()),
                };
                let finished = match exorun_runner::run(self.plugins.sandbox(), job).await {
                    Ok(f) => f,
                    Err(e) => return failed("not-started", e.to_string(), watch.counts()),
                };
                let mut end = end_of_run(&finished, &watch, self.is_stopping());
                if let (Some(plan), RunStatus::Succeeded) = (&finished.plan, end.status) {
                    if plan.calls > 0 {
                        self.submit_plan(run, plan, &mut end).await;
                    } else {
                        watch.note(
                            "the what-if run planned no changes; there is nothing to approve",
                        );
                    }
                }
                end
            }
            RunKind::Apply { plan, approved_by } => {
                self.apply(run, &plugin, &connected, plan, approved_by, identity, watch)
                    .await
            }
        }
    }

    async fn submit_plan(
        &self,
        run: &QueuedRun,
        plan: &exorun_runner::WrittenPlan,
        end: &mut RunEnd,
    ) {
        let expires = jiff::Timestamp::now()
            .checked_add(
                jiff::SignedDuration::try_from(self.config.limits.plan_expiry).unwrap_or_default(),
            )
            .map(time_text)
            .unwrap_or_default();
        let row = PlanRow {
            id: plan.sha256.clone(),
            run_id: run.id.clone(),
            plugin: run.plugin.clone(),
            tenant: run.tenant.clone(),
            requested_by: run.requested_by.clone(),
            calls: plan.calls as i64,
            created_at: now_text(),
            expires_at: expires,
            status: PlanStatus::Pending,
            decided_by: None,
            decided_at: None,
            reason: None,
            apply_run_id: None,
        };
        let insert = row.clone();
        match self
            .store
            .call(move |c| crate::store::runs::insert_plan(c, &insert))
            .await
        {
            Ok(()) => {
                end.status = RunStatus::AwaitingApproval;
                end.plan_id = Some(row.id.clone());
                self.audit_quiet(Action {
                    actor: &run.requested_by,
                    action: "plan.submit",
                    run_id: Some(&run.id),
                    plugin: Some(&run.plugin),
                    tenant: Some(&run.tenant),
                    reference: Some(format!("plan/{}", row.id)),
                    message: Some(format!(
                        "{} change(s) wait for a second person until {}",
                        row.calls, row.expires_at
                    )),
                    ..Action::default()
                })
                .await;
            }
            Err(e) => {
                end.status = RunStatus::Failed;
                end.error_kind = Some("plan".to_owned());
                end.error_message =
                    Some(format!("the plan could not be submitted for approval: {e}"));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        run: &QueuedRun,
        plugin: &exorun_sandbox::Plugin,
        connected: &crate::tenants::Connected,
        plan_id: &str,
        approved_by: &str,
        identity: Identity,
        watch: Arc<RunWatch>,
    ) -> RunEnd {
        let failed = |kind: &str, message: String, counts: RunCounts| RunEnd {
            plan_id: Some(plan_id.to_owned()),
            ..RunEnd::failed(kind, message, counts)
        };
        let owned = plan_id.to_owned();
        let row = match self
            .store
            .call(move |c| crate::store::runs::get_plan(c, &owned))
            .await
        {
            Ok(Some(row)) if row.status == PlanStatus::Approved => row,
            Ok(_) => {
                return failed(
                    "not-approved",
                    format!("plan {plan_id} is not approved"),
                    watch.counts(),
                );
            }
            Err(e) => return failed("history", e.to_string(), watch.counts()),
        };
        let path = self.plan_path(&row.run_id);
        let read = match tokio::task::spawn_blocking(move || exorun_plan::Plan::read(&path)).await {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => return failed("plan", e.to_string(), watch.counts()),
            Err(e) => return failed("plan", e.to_string(), watch.counts()),
        };
        let _ = run;
        apply_plan(PlanApply {
            read: &read,
            approved_sha256: plan_id,
            approved_by,
            plugin,
            connected,
            audit_log: &self.config.audit.log,
            again: false,
            limits: &self.config.limits,
            ceilings: &self.plugins.sandbox().config().ceilings,
            identity,
            observers: vec![watch.clone()],
            done_before: 0,
            watch: &watch,
        })
        .await
    }

    /// Runs running now by tenant: the service's own queue knows its own;
    /// with workers, the history knows them all.
    pub async fn running_by_tenant(&self) -> HashMap<String, u32> {
        if self.cluster.is_none() {
            return self.queue.running_by_tenant();
        }
        self.store
            .read(crate::store::runs::running_by_tenant)
            .await
            .unwrap_or_else(|_| self.queue.running_by_tenant())
    }

    /// Live counts of a running run (the history lags by a flush).
    pub fn live_counts(&self, id: &str) -> Option<RunCounts> {
        self.running.lock().get(id).map(|(_, w)| w.counts())
    }

    // ----- Shutdown ----------------------------------------------------

    /// Stops scheduling and starting runs, lets running runs finish within
    /// `grace`, then ends them (a write in flight is recorded as of
    /// unknown outcome). Queued runs stay queued for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.cancel("the service is shutting down");
        let deadline = tokio::time::Instant::now() + grace;
        wait_until(&self.runs_done, deadline, || self.running.lock().is_empty()).await;
        let left: Vec<(String, CancelRun)> = self
            .running
            .lock()
            .iter()
            .map(|(id, (c, _))| (id.clone(), c.clone()))
            .collect();
        for (id, cancel) in &left {
            tracing::warn!(run_id = %id, "ending the run: the shutdown's grace period is over");
            cancel.cancel(format!(
                "the service shut down and its grace period of {} s ran out",
                grace.as_secs()
            ));
        }
        // Ended runs record their end; give them a moment to.
        let end_by = tokio::time::Instant::now() + Duration::from_secs(10);
        wait_until(&self.runs_done, end_by, || self.running.lock().is_empty()).await;
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock());
        for task in tasks {
            task.abort();
        }
        // Last, so that the runs' final records reach the SIEM too.
        self.stream_stop.cancel("the service is shutting down");
        let streamer = self.streamer.lock().take();
        if let Some(streamer) = streamer
            && tokio::time::timeout(Duration::from_secs(10), streamer)
                .await
                .is_err()
        {
            tracing::warn!("the audit streamer did not finish its last records");
        }
    }
}

/// Waits until `done` holds (checked each time `changed` is notified) or
/// `deadline` passes: a shutdown waiting for its runs.
pub(crate) async fn wait_until(
    changed: &Notify,
    deadline: tokio::time::Instant,
    done: impl Fn() -> bool,
) {
    loop {
        let notified = changed.notified();
        if done() || tokio::time::timeout_at(deadline, notified).await.is_err() {
            return;
        }
    }
}

/// How a plain or what-if run ended, from what the runner reports: a
/// cancelled run is `interrupted` when the service (or worker) was
/// stopping, a failed plan or audit record fails the run.
pub(crate) fn end_of_run(
    finished: &exorun_runner::Finished,
    watch: &RunWatch,
    stopping: bool,
) -> RunEnd {
    let mut end = RunEnd {
        status: RunStatus::Succeeded,
        counts: watch.counts(),
        error_kind: None,
        error_message: None,
        output: None,
        outputs_folder: finished
            .report
            .outputs
            .as_ref()
            .map(|o| o.folder.display().to_string()),
        plan_id: None,
    };
    match &finished.report.outcome {
        Ok(output) => end.output = Some(cap(output)),
        Err(e) => {
            end.status = match e {
                RunError::Cancelled { .. } if stopping => RunStatus::Interrupted,
                RunError::Cancelled { .. } => RunStatus::Cancelled,
                _ => RunStatus::Failed,
            };
            end.error_kind = Some(e.kind().to_owned());
            end.error_message = Some(e.to_string());
            if end.counts.writes_unknown > 0 {
                watch.note(&format!(
                    "{} write(s) were on their way when the run ended: their outcome is unknown (the audit trail has their intent)",
                    end.counts.writes_unknown
                ));
            }
        }
    }
    if let Some(e) = &finished.plan_error {
        end.status = RunStatus::Failed;
        end.error_kind = Some("plan".to_owned());
        end.error_message = Some(format!("the plan was not written: {e}"));
    }
    if let Some(f) = &finished.audit_failure {
        end.status = RunStatus::Failed;
        end.error_kind = Some("audit-unavailable".to_owned());
        end.error_message = Some(format!("the audit trail is incomplete: {f}"));
    }
    end
}

/// An approved plan to apply, as the service and its workers apply it.
pub(crate) struct PlanApply<'a> {
    pub read: &'a exorun_plan::ReadPlan,
    /// The SHA-256 approved: the plan's bytes must still have it.
    pub approved_sha256: &'a str,
    pub approved_by: &'a str,
    pub plugin: &'a exorun_sandbox::Plugin,
    pub connected: &'a crate::tenants::Connected,
    pub audit_log: &'a std::path::Path,
    /// Apply even when this audit trail shows an earlier apply of the plan
    /// (a worker taking up its own earlier attempt).
    pub again: bool,
    pub limits: &'a crate::config::Limits,
    pub ceilings: &'a exorun_policy::Ceilings,
    pub identity: Identity,
    pub observers: Vec<Arc<dyn exorun_sandbox::Observer>>,
    /// Steps an earlier attempt applied (with their outcomes known): the
    /// apply resumes after them.
    pub done_before: usize,
    pub watch: &'a RunWatch,
}

/// Checks the plan against the approved digest, the plugin and the tenant,
/// sends its calls (from step `done_before + 1`) and says how it ended.
pub(crate) async fn apply_plan(job: PlanApply<'_>) -> RunEnd {
    let PlanApply { read, watch, .. } = job;
    let plan_id = job.approved_sha256;
    let total = read.plan.calls.len();
    let failed = |kind: &str, message: String| RunEnd {
        plan_id: Some(plan_id.to_owned()),
        ..RunEnd::failed(kind, message, watch.counts())
    };
    if job.done_before == 0 {
        watch.note(&format!(
            "applying plan {plan_id} ({total} change(s)) approved by {}",
            job.approved_by
        ));
    }
    let checked = exorun_runner::check_apply(ApplyJob {
        plan: read,
        manifest: job.plugin.manifest(),
        target: &job.connected.target,
        audit_log: job.audit_log,
        again: job.again,
        expect_sha256: Some(plan_id),
        max_age: job.limits.plan_expiry + Duration::from_secs(3600),
        ceilings: job.ceilings,
        identity: job.identity,
    });
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            watch.note(&format!("the plan was not applied: {e}"));
            return failed("refused", e.to_string());
        }
    };
    let applied = match checked.send_from(job.observers, job.done_before).await {
        Ok(a) => a,
        Err(e) => return failed("not-started", e.to_string()),
    };
    let mut end = RunEnd {
        status: RunStatus::Succeeded,
        counts: watch.counts(),
        error_kind: None,
        error_message: None,
        output: Some(format!(
            "applied {} of {total} change(s)",
            job.done_before as u64 + applied.report.calls.len() as u64 - applied.failed()
        )),
        outputs_folder: None,
        plan_id: Some(plan_id.to_owned()),
    };
    if let Some(step) = applied.report.stopped_at {
        end.status = RunStatus::Failed;
        end.error_kind = Some("apply-stopped".to_owned());
        end.error_message = Some(format!("stopped at step {step} of {total}"));
    }
    if let Some(f) = &applied.audit_failure {
        end.status = RunStatus::Failed;
        end.error_kind = Some("audit-unavailable".to_owned());
        end.error_message = Some(format!("the audit trail is incomplete: {f}"));
    }
    end
}

/// The run's output as the history keeps it (the dashboard offers it for
/// download): at most 1 MiB.
fn cap(output: &str) -> String {
    const MAX: usize = 1024 * 1024;
    if output.len() <= MAX {
        return output.to_owned();
    }
    let mut cut = MAX;
    while !output.is_char_boundary(cut) {
        cut -= 1;
    }
    output[..cut].to_owned()
}
