//! `exorun:automation/cmdlets`: where every cmdlet call a plugin makes is
//! checked and, only if allowed, carried to the tenant.
//!
//! Order of checks for each call (each call of an `invoke-many` batch on its
//! own; a paged read once, when it opens), all in [`RunState::admit`]:
//! the audit trail is still writable, the run's call budget (every attempt
//! counts, denied ones too), the size cap and the policy gate (manifest).
//! A refusal is an answer to the plugin, recorded and logged, and never
//! reaches the backend; a plugin that keeps calling after
//! [`crate::SandboxConfig::max_refusals`] refusals is ended
//! (`policy-violation`). A call that is not read-only is sent only after the
//! observers have durably recorded its intent ([`crate::Observer::before_write`]);
//! if they cannot, it is not sent and the run ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use exorun_cmdlet::{Call, CmdletError, Object, PageStream};
use futures::StreamExt;
use wasmtime::component::Resource;

use super::boundary::Lifted;
use super::convert::{call_from_wit, error_to_wit};
use crate::admit::Verdict;
use crate::bindings::exorun::automation::cmdlets::{Host, HostPages};
use crate::bindings::exorun::automation::types as wit;
use crate::pages::PageReader;
use crate::report::{CallRecord, Decision};
use crate::state::RunState;

type WitResult = Result<Vec<Object>, wit::CmdletError>;

/// Ends a run that keeps calling after being refused: a plugin that probes
/// its grants call after call is hostile or broken, and each refusal costs
/// the host a record.
#[derive(Debug, thiserror::Error)]
#[error(
    "the plugin kept calling after {refusals} of its calls were refused (denied by the manifest or the operator policy, or over its budget); the run was ended"
)]
pub struct PolicyViolation {
    pub refusals: u64,
}

/// Ends a run whose audit trail cannot record what it is about to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuditUnavailable(pub String);

/// How an admitted call ended: when it started, its client-request-id and
/// its result.
struct Ran {
    started: Instant,
    request_id: Option<String>,
    result: Result<Vec<Object>, CmdletError>,
}

/// Bytes of results one call or one batch may still bring into the host,
/// charged page by page as they arrive, so the host never holds more on a
/// plugin's behalf than the plugin itself could.
struct Budget {
    left: AtomicU64,
    spent: AtomicBool,
    limit: u64,
}

impl Budget {
    fn new(limit: u64) -> Budget {
        Budget {
            left: AtomicU64::new(limit),
            spent: AtomicBool::new(false),
            limit,
        }
    }

    /// Takes `bytes`, or marks the budget spent and says no.
    fn take(&self, bytes: u64) -> bool {
        let taken = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(bytes)
            })
            .is_ok();
        if !taken {
            self.spent.store(true, Ordering::SeqCst);
        }
        taken
    }

    fn is_spent(&self) -> bool {
        self.spent.load(Ordering::SeqCst)
    }

    fn exceeded(&self) -> CmdletError {
        CmdletError::LimitExceeded {
            message: format!(
                "the results exceed the plugin's memory limit ({} bytes); read large results with open-pages and send smaller batches",
                self.limit
            ),
        }
    }
}

/// The `call denied` event (tracing target `exorun::denial`), for the
/// gate's refusals and the object scope's alike. Plugin text is escaped.
fn log_denial(plugin: &str, call: &Call, parameter: Option<&str>, rule: &str, layer: &str) {
    tracing::warn!(
        target: "exorun::denial",
        plugin = %exorun_cmdlet::Escaped(plugin),
        cmdlet = %exorun_cmdlet::Escaped(&call.cmdlet),
        parameter = %exorun_cmdlet::Escaped(parameter.unwrap_or("")),
        rule = %exorun_cmdlet::Escaped(rule),
        layer,
        "call denied"
    );
}

/// Runs one admitted call to its end: opens it and reads every page,
/// charging `budget`. A call whose budget is already spent is not sent.
async fn run_call(backend: &dyn exorun_cmdlet::Backend, call: &Call, budget: &Budget) -> Ran {
    let started = Instant::now();
    if budget.is_spent() {
        return Ran {
            started,
            request_id: None,
            result: Err(budget.exceeded()),
        };
    }
    match backend.open_pages(call).await {
        Ok(pages) => {
            let request_id = pages.client_request_id();
            Ran {
                started,
                request_id,
                result: collect_bounded(pages, budget).await,
            }
        }
        Err(e) => Ran {
            started,
            request_id: None,
            result: Err(e),
        },
    }
}

impl RunState {
    /// Everything a call must pass before it may be sent. `Ok(Err(_))` is
    /// a refusal the plugin is told of; `Err(_)` ends the run.
    fn admit(&mut self, lifted: &Lifted) -> wasmtime::Result<Result<(), CmdletError>> {
        let call = match lifted {
            Lifted::Call(call) => call,
            Lifted::TooLarge { cmdlet, budget } => {
                // Recorded by its name alone: its values were never copied.
                let stub = Call::new(cmdlet.clone());
                return self.admit_oversized(&stub, *budget);
            }
        };
        let ctx = &mut self.ctx;
        let observer = ctx.observer.clone();
        let verdict = ctx
            .budget
            .admit(|| observer.blocked(), ctx.manifest.capabilities(), call);
        match verdict {
            Verdict::Allowed => Ok(Ok(())),
            Verdict::End { refusals } => Err(wasmtime::Error::new(PolicyViolation { refusals })),
            Verdict::Blocked(reason) => {
                let error = CmdletError::failed("AuditUnavailable", reason.clone());
                ctx.record(CallRecord::refused(call, Decision::Allowed, error));
                Err(wasmtime::Error::new(AuditUnavailable(reason)))
            }
            Verdict::OverBudget(error) => {
                ctx.record(CallRecord::refused(call, Decision::Allowed, error.clone()));
                Ok(Err(error))
            }
            Verdict::Denied(denial) => {
                log_denial(
                    ctx.plugin_name(),
                    call,
                    denial.parameter.as_deref(),
                    &denial.rule(),
                    match denial.layer {
                        exorun_policy::Layer::Manifest => "manifest",
                        exorun_policy::Layer::Policy(_) => "policy",
                    },
                );
                let error = CmdletError::Denied {
                    rule: denial.rule(),
                    message: denial.message.clone(),
                };
                ctx.record(CallRecord::refused(
                    call,
                    Decision::Denied {
                        rule: denial.rule(),
                        message: denial.message,
                    },
                    error.clone(),
                ));
                Ok(Err(error))
            }
        }
    }

    /// A call whose parameters were larger than the boundary allows: an
    /// attempt, refused like a denial (`call-too-large`).
    fn admit_oversized(
        &mut self,
        stub: &Call,
        budget: usize,
    ) -> wasmtime::Result<Result<(), CmdletError>> {
        let ctx = &mut self.ctx;
        if let Err(refusals) = ctx.budget.admit_oversized() {
            return Err(wasmtime::Error::new(PolicyViolation { refusals }));
        }
        let rule = format!("call-too-large:{}", stub.cmdlet);
        let message = format!(
            "the call's parameters take more than the {budget} bytes one call may send (or this batch may still bring in)"
        );
        let error = CmdletError::Denied {
            rule: rule.clone(),
            message: message.clone(),
        };
        ctx.record(CallRecord::refused(
            stub,
            Decision::Denied { rule, message },
            error.clone(),
        ));
        Ok(Err(error))
    }

    /// How many more calls of a batch can matter: every one past this is
    /// sure to be refused, and the run ends before the last of them.
    pub(crate) fn calls_that_can_matter(&self) -> usize {
        self.ctx.budget.calls_that_can_matter()
    }

    /// Has the intents of the admitted calls that change the tenant
    /// recorded durably before any of them is sent. If they cannot be,
    /// none is sent and the run ends.
    fn record_intents(&mut self, calls: &[&Call]) -> wasmtime::Result<()> {
        let writes: Vec<&Call> = calls
            .iter()
            .copied()
            .filter(|c| !c.is_read_only())
            .collect();
        if writes.is_empty() {
            return Ok(());
        }
        if let Err(reason) = self.ctx.observer.before_write(&writes) {
            let message = format!(
                "the audit trail cannot record the intent of a write ({reason}); it was not sent and the run ends"
            );
            for call in writes {
                let error = CmdletError::failed("AuditUnavailable", message.clone());
                self.ctx
                    .record(CallRecord::refused(call, Decision::Allowed, error));
            }
            return Err(wasmtime::Error::new(AuditUnavailable(message)));
        }
        Ok(())
    }

    fn finish(&mut self, call: Call, ran: &Ran) {
        let outcome = match &ran.result {
            Ok(objects) => Ok(objects.len() as u64),
            Err(e) => Err(e.clone()),
        };
        // A refusal from behind the gate (the object scope, which must
        // resolve the target first: `crate::scope`) is a refusal like the
        // gate's: recorded with its rule and counted toward the run's end.
        let decision = match &ran.result {
            Err(CmdletError::Denied { rule, message }) => {
                self.ctx.budget.refusals += 1;
                log_denial(self.ctx.plugin_name(), &call, None, rule, "scope");
                Decision::Denied {
                    rule: rule.clone(),
                    message: message.clone(),
                }
            }
            _ => Decision::Allowed,
        };
        self.ctx.record(CallRecord {
            call,
            decision,
            outcome,
            elapsed: ran.started.elapsed(),
            client_request_id: ran.request_id.clone(),
        });
    }
}

/// Reads all pages, charging each to `budget` as it arrives; once the
/// budget is spent the call ends in `limit-exceeded` and what it read is
/// dropped.
async fn collect_bounded(
    mut pages: Box<dyn PageStream>,
    budget: &Budget,
) -> Result<Vec<Object>, CmdletError> {
    let mut all = Vec::new();
    while let Some(page) = pages.next_page().await? {
        let bytes = page.iter().map(|o| o.len() as u64).sum::<u64>();
        if !budget.take(bytes) {
            return Err(budget.exceeded());
        }
        all.extend(page);
    }
    Ok(all)
}

impl RunState {
    /// `invoke`, on a call already measured at the boundary.
    pub(crate) async fn invoke_lifted(&mut self, lifted: Lifted) -> wasmtime::Result<WitResult> {
        self.check_capabilities()?;
        if let Err(e) = self.admit(&lifted)? {
            return Ok(Err(error_to_wit(e)));
        }
        let Lifted::Call(call) = lifted else {
            unreachable_refusal()?
        };
        self.record_intents(&[&call])?;
        let backend = self.ctx.backend.clone();
        let budget = Budget::new(self.ctx.result_byte_budget);
        let ran = run_call(backend.as_ref(), &call, &budget).await;
        self.finish(call, &ran);
        Ok(ran.result.map_err(error_to_wit))
    }

    /// `open-pages`, on a call already measured at the boundary.
    pub(crate) async fn open_pages_lifted(
        &mut self,
        lifted: Lifted,
    ) -> wasmtime::Result<Result<Resource<PageReader>, wit::CmdletError>> {
        self.check_capabilities()?;
        if let Err(e) = self.admit(&lifted)? {
            return Ok(Err(error_to_wit(e)));
        }
        let Lifted::Call(call) = lifted else {
            unreachable_refusal()?
        };
        self.record_intents(&[&call])?;
        let started = Instant::now();
        let backend = self.ctx.backend.clone();
        match backend.open_pages(&call).await {
            Ok(stream) => {
                let index = self.ctx.open_read(CallRecord {
                    call,
                    decision: Decision::Allowed,
                    outcome: Ok(0),
                    elapsed: started.elapsed(),
                    client_request_id: stream.client_request_id(),
                });
                let reader = PageReader {
                    stream,
                    objects: 0,
                    index,
                    started,
                };
                // A full table means the plugin holds too many open readers:
                // that is its own fault, so it gets an error, not the host.
                match self.table.push(reader) {
                    Ok(handle) => Ok(Ok(handle)),
                    Err(e) => {
                        let error = CmdletError::LimitExceeded {
                            message: format!("too many open resources: {e}"),
                        };
                        self.ctx
                            .update_read(index, 0, Some(&error), started.elapsed());
                        self.ctx.close_read(index);
                        Ok(Err(error_to_wit(error)))
                    }
                }
            }
            Err(e) => {
                let ran = Ran {
                    started,
                    request_id: None,
                    result: Err(e.clone()),
                };
                self.finish(call, &ran);
                Ok(Err(error_to_wit(e)))
            }
        }
    }

    /// `invoke-many`, on calls already measured at the boundary.
    pub(crate) async fn invoke_many_lifted(
        &mut self,
        calls: Vec<Lifted>,
    ) -> wasmtime::Result<Vec<WitResult>> {
        self.check_capabilities()?;
        // Decide every call first, in order, so that denials and the budget
        // are deterministic whatever the concurrency.
        let mut admitted = Vec::with_capacity(calls.len());
        for lifted in &calls {
            admitted.push(self.admit(lifted)?);
        }
        let calls: Vec<Option<Call>> = calls
            .into_iter()
            .map(|lifted| match lifted {
                Lifted::Call(call) => Some(call),
                Lifted::TooLarge { .. } => None,
            })
            .collect();
        let writes: Vec<&Call> = calls
            .iter()
            .zip(&admitted)
            .filter(|(_, a)| a.is_ok())
            .filter_map(|(c, _)| c.as_ref())
            .collect();
        self.record_intents(&writes)?;
        let backend = self.ctx.backend.clone();
        // One budget for the whole batch, charged as pages arrive, and at
        // most `concurrency` calls in flight.
        let budget = Arc::new(Budget::new(self.ctx.result_byte_budget));
        let concurrency = self.ctx.invoke_many_concurrency.max(1);
        let jobs: Vec<_> = calls
            .iter()
            .zip(&admitted)
            .map(|(call, admitted)| {
                let backend = backend.clone();
                let budget = budget.clone();
                let call = call.clone().filter(|_| admitted.is_ok());
                async move {
                    let call = call?;
                    Some(run_call(backend.as_ref(), &call, &budget).await)
                }
            })
            .collect();
        let results: Vec<Option<Ran>> = futures::stream::iter(jobs)
            .buffered(concurrency)
            .collect()
            .await;
        let mut out = Vec::with_capacity(calls.len());
        for ((call, admitted), result) in calls.into_iter().zip(admitted).zip(results) {
            match (admitted, call, result) {
                (Err(e), _, _) => out.push(Err(error_to_wit(e))),
                (Ok(()), Some(call), Some(ran)) => {
                    self.finish(call, &ran);
                    out.push(ran.result.map_err(error_to_wit));
                }
                // Cannot happen (an admitted call always runs), but a wrong
                // answer is better than a panic in the host.
                _ => out.push(Err(error_to_wit(CmdletError::failed(
                    "internal",
                    "the call was admitted but not run",
                )))),
            }
        }
        Ok(out)
    }
}

/// An oversized call is always refused by `admit`; reaching past it would
/// be a bug, answered as a trap rather than a panic.
fn unreachable_refusal<T>() -> wasmtime::Result<T> {
    Err(wasmtime::Error::msg(
        "internal: an oversized call was admitted",
    ))
}

/// bindgen's bindings, shadowed at link time by [`crate::host::boundary`]
/// (which measures a call before copying it); kept so the generated trait
/// is complete and behaves the same if called.
impl Host for RunState {
    async fn invoke(&mut self, c: wit::Call) -> wasmtime::Result<WitResult> {
        self.invoke_lifted(Lifted::Call(call_from_wit(c))).await
    }

    async fn open_pages(
        &mut self,
        c: wit::Call,
    ) -> wasmtime::Result<Result<Resource<PageReader>, wit::CmdletError>> {
        self.open_pages_lifted(Lifted::Call(call_from_wit(c))).await
    }

    async fn invoke_many(&mut self, calls: Vec<wit::Call>) -> wasmtime::Result<Vec<WitResult>> {
        let calls = calls
            .into_iter()
            .map(|c| Lifted::Call(call_from_wit(c)))
            .collect();
        self.invoke_many_lifted(calls).await
    }
}

impl HostPages for RunState {
    async fn next(
        &mut self,
        handle: Resource<PageReader>,
    ) -> wasmtime::Result<Result<Option<Vec<Object>>, wit::CmdletError>> {
        let reader = self.table.get_mut(&handle)?;
        let page = reader.stream.next_page().await;
        if let Ok(Some(objects)) = &page {
            reader.objects += objects.len() as u64;
        }
        let (index, objects, elapsed) = (reader.index, reader.objects, reader.started.elapsed());
        self.ctx
            .update_read(index, objects, page.as_ref().err(), elapsed);
        if !matches!(page, Ok(Some(_))) {
            self.ctx.close_read(index);
        }
        Ok(page.map_err(error_to_wit))
    }

    async fn drop(&mut self, handle: Resource<PageReader>) -> wasmtime::Result<()> {
        let reader = self.table.delete(handle)?;
        self.ctx.close_read(reader.index);
        Ok(())
    }
}

impl crate::bindings::exorun::automation::types::Host for RunState {}
