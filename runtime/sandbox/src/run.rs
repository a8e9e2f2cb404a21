//! One run: a fresh store with its own limits, WASI context and log, the
//! plugin's `run` export called under a wall-clock deadline, and a report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::admit::CallBudget;
use crate::capability::{self, Setup};
use crate::engine::Sandbox;
use crate::error::RunError;
use crate::host::cmdlets::{AuditUnavailable, PolicyViolation};
use crate::limits::{MemoryLimitExceeded, RunLimiter, TableLimitExceeded};
use crate::outputs::OutputsLimitExceeded;
use crate::plugin::Plugin;
use crate::report::{NoObserver, RunReport};
use crate::request::RunRequest;
use crate::run_log::{LogLimitExceeded, LogSink};
use crate::state::{Extensions, RunContext, RunState};

/// Raised by the epoch callback when the wall-clock deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

/// Raised by the epoch callback once the run was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
struct Cancelled;

impl Sandbox {
    /// Runs a plugin once. Never panics and never fails the host: every way
    /// a run can end is in the report's `outcome`.
    pub async fn run(&self, plugin: &Plugin, mut request: RunRequest) -> RunReport {
        let started = Instant::now();
        let inner = plugin.inner.clone();
        let manifest = &inner.manifest;
        let mut report = RunReport {
            plugin: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            sha256: inner.sha256.clone(),
            outcome: Ok(String::new()),
            log: Vec::new(),
            calls: Vec::new(),
            progress: None,
            elapsed: Duration::ZERO,
            outputs: None,
            scope_lookups: 0,
        };
        let observer = request
            .observer
            .take()
            .unwrap_or_else(|| Arc::new(NoObserver));
        let config = self.config();
        let limits = manifest.limits();
        let memory_bytes = limits.memory_mib.saturating_mul(1 << 20);
        let log = LogSink::new(config.max_log_bytes, observer.clone());

        let mut wasi = WasiCtxBuilder::new();
        wasi.args(&[manifest.plugin.name.as_str()])
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let mut extensions = Extensions::default();
        let mut setup = Setup {
            manifest,
            request: &mut request,
            config,
            wasi: &mut wasi,
            log: &log,
            extensions: &mut extensions,
        };
        if let Err(e) = capability::REGISTRY
            .iter()
            .try_for_each(|unit| unit.prepare(&mut setup))
        {
            report.outcome = Err(e);
            return report;
        }
        let wasi = wasi.build();
        // The run's own pace first, so the scope's lookups keep it too.
        let paced = crate::rate::rated(request.backend, limits.calls_per_second);
        let scoped = crate::scope::scoped(paced, manifest);
        let lookups = scoped.lookups.clone();
        let mut table = ResourceTable::new();
        table.set_max_capacity(config.max_resources);
        let state = RunState {
            wasi,
            table,
            limiter: RunLimiter::new(usize::try_from(memory_bytes).unwrap_or(usize::MAX), 100_000),
            ctx: RunContext {
                manifest: inner.manifest.clone(),
                backend: scoped.backend,
                budget: CallBudget::new(limits.max_calls, config.max_refusals)
                    .lowered_by(
                        manifest
                            .policy()
                            .and_then(|p| p.lowered("limits.max-calls"))
                            .map(|n| n.origin.to_string()),
                    )
                    .with_lookups(scoped.lookups),
                result_byte_budget: memory_bytes,
                invoke_many_concurrency: config.invoke_many_concurrency,
                log: log.clone(),
                observer,
                records: Vec::new(),
                open_reads: Vec::new(),
                progress: None,
                what_if: request.what_if,
            },
            extensions,
            checkpoint: capability::tick_all,
        };
        let mut store = Store::new(self.engine(), state);
        store.limiter_async(|state| &mut state.limiter);
        let deadline = started + limits.timeout;
        let cancel = request.cancel.clone().unwrap_or_default();
        let cancel_tick = cancel.clone();
        store.set_epoch_deadline(1);
        // Each tick either yields (so other runs on this thread progress) or,
        // past the deadline, stops the plugin.
        store.epoch_deadline_callback(move |mut store| {
            if Instant::now() >= deadline {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            if cancel_tick.is_cancelled() {
                return Err(wasmtime::Error::new(Cancelled));
            }
            store.data_mut().check_capabilities()?;
            Ok(UpdateDeadline::Yield(1))
        });

        let execution = async {
            let instance = inner
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (true, e))?;
            instance.call_run(&mut store).await.map_err(|e| (false, e))
        };
        // The epoch callback cannot fire while the plugin waits on a host
        // call, so the deadline is enforced here too.
        // Calls see the deadline too: a throttled call waits for the
        // tenant only as long as the run can still afford.
        let execution = exorun_cmdlet::within_deadline(deadline, execution);
        // And their run's share of the tenant's budget, for the limiter's
        // fair order.
        let execution =
            exorun_cmdlet::within_share(exorun_cmdlet::RunShare::new_run(limits.weight), execution);
        // A cancel while the plugin waits on a host call ends it here; one
        // while it computes, at its next epoch tick.
        let execution = async {
            tokio::select! {
                done = execution => Some(done),
                () = cancel.cancelled() => None,
            }
        };
        let cancelled = || RunError::Cancelled {
            reason: cancel.reason().unwrap_or_else(|| "cancelled".to_owned()),
        };
        let outcome = match tokio::time::timeout(limits.timeout, execution).await {
            Ok(None) => Err(cancelled()),
            Ok(Some(Err((_, e)))) if e.downcast_ref::<Cancelled>().is_some() => Err(cancelled()),
            Err(_elapsed) => Err(RunError::Timeout {
                seconds: limits.timeout.as_secs(),
            }),
            Ok(Some(Err((instantiating, e)))) => Err(classify(e, instantiating, &limits)),
            Ok(Some(Ok(Err(message)))) => Err(RunError::Plugin(truncate(message, 64 * 1024))),
            Ok(Some(Ok(Ok(output)))) if output.len() as u64 > config.max_output_bytes => {
                Err(RunError::OutputTooLarge {
                    bytes: output.len() as u64,
                    limit: config.max_output_bytes,
                })
            }
            Ok(Some(Ok(Ok(output)))) => Ok(output),
        };
        report.outcome = outcome;
        let state = store.data_mut();
        for unit in capability::REGISTRY {
            unit.finish(state, &mut report);
        }
        report.elapsed = started.elapsed();
        report.scope_lookups = lookups.map_or(0, |l| l.load(std::sync::atomic::Ordering::Relaxed));
        tracing::info!(
            plugin = %report.plugin,
            sha256 = %report.sha256,
            calls = report.calls.len(),
            outcome = report.outcome.as_ref().err().map_or("ok", |e| e.kind()),
            elapsed_ms = report.elapsed.as_millis() as u64,
            "run finished"
        );
        report
    }
}

/// Maps a wasmtime error to the one [`RunError`] that explains it.
fn classify(
    error: wasmtime::Error,
    instantiating: bool,
    limits: &exorun_policy::Limits,
) -> RunError {
    if error.downcast_ref::<MemoryLimitExceeded>().is_some()
        || error.downcast_ref::<TableLimitExceeded>().is_some()
    {
        return RunError::MemoryLimit {
            mib: limits.memory_mib,
        };
    }
    if let Some(e) = error.downcast_ref::<OutputsLimitExceeded>() {
        return RunError::OutputsLimit(e.clone());
    }
    if let Some(e) = error.downcast_ref::<PolicyViolation>() {
        return RunError::PolicyViolation {
            refusals: e.refusals,
        };
    }
    if let Some(e) = error.downcast_ref::<AuditUnavailable>() {
        return RunError::Audit(e.0.clone());
    }
    if let Some(e) = error.downcast_ref::<LogLimitExceeded>() {
        return RunError::LogLimit { bytes: e.limit };
    }
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return RunError::Timeout {
            seconds: limits.timeout.as_secs(),
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>()
        && *trap == Trap::StackOverflow
    {
        return RunError::StackOverflow;
    }
    let message = format!("{error:#}");
    if instantiating {
        RunError::Instantiate(message)
    } else {
        RunError::Trap(truncate(message, 4096))
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}
