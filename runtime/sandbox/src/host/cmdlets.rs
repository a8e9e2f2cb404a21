//! `exorun:automation/cmdlets`: where every cmdlet call a plugin makes is
//! checked and, only if allowed, carried to the tenant.
//!
//! Order of checks for each call (each call of an `invoke-many` batch on its
//! own; a paged read once, when it opens): the policy gate (manifest), then
//! the run's call budget. A refusal is an answer to the plugin, recorded and
//! logged, and never reaches the backend.

use std::time::Instant;

use exorun_cmdlet::{Call, CmdletError, Object, PageStream};
use futures::StreamExt;
use wasmtime::component::Resource;

use super::convert::{call_from_wit, error_to_wit};
use crate::bindings::exorun::automation::cmdlets::{Host, HostPages};
use crate::bindings::exorun::automation::types as wit;
use crate::run::{CallRecord, Decision, RunState};

/// An open paged read, owned by the plugin through a `pages` handle.
pub struct PageReader {
    stream: Box<dyn PageStream>,
    /// Objects handed out so far, for the record.
    objects: u64,
    index: usize,
    started: Instant,
}

type WitResult = Result<Vec<Object>, wit::CmdletError>;

/// How an admitted call ended: when it started, its client-request-id and
/// its result.
struct Ran {
    started: Instant,
    request_id: Option<String>,
    result: Result<Vec<Object>, CmdletError>,
}

/// Runs one admitted call to its end: opens it and reads every page.
async fn run_call(backend: &dyn exorun_cmdlet::Backend, call: &Call, budget: u64) -> Ran {
    let started = Instant::now();
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
    /// The gate and the budget. On success the call is counted.
    fn admit(&mut self, call: &Call) -> Result<(), CmdletError> {
        let ctx = &mut self.ctx;
        if let Some(reason) = ctx.observer.blocked() {
            let error = CmdletError::failed("AuditUnavailable", reason);
            ctx.record(CallRecord {
                call: call.clone(),
                decision: Decision::Allowed,
                outcome: Err(error.clone()),
                elapsed: Default::default(),
                client_request_id: None,
            });
            return Err(error);
        }
        if let Err(denial) = exorun_policy::check(ctx.capabilities(), call) {
            tracing::warn!(
                plugin = %ctx.plugin_name(),
                cmdlet = %call.cmdlet,
                parameter = denial.parameter.as_deref().unwrap_or(""),
                rule = %denial.rule(),
                "call denied by the manifest"
            );
            let error = CmdletError::Denied {
                rule: denial.rule(),
                message: denial.message.clone(),
            };
            ctx.record(CallRecord {
                call: call.clone(),
                decision: Decision::Denied {
                    rule: denial.rule(),
                    message: denial.message,
                },
                outcome: Err(error.clone()),
                elapsed: Default::default(),
                client_request_id: None,
            });
            return Err(error);
        }
        if ctx.calls_made >= ctx.max_calls {
            let error = CmdletError::LimitExceeded {
                message: format!(
                    "this run may make at most {} cmdlet calls ([limits] max-calls)",
                    ctx.max_calls
                ),
            };
            ctx.record(CallRecord {
                call: call.clone(),
                decision: Decision::Allowed,
                outcome: Err(error.clone()),
                elapsed: Default::default(),
                client_request_id: None,
            });
            return Err(error);
        }
        ctx.calls_made += 1;
        Ok(())
    }

    fn finish(&mut self, call: Call, ran: &Ran) {
        let outcome = match &ran.result {
            Ok(objects) => Ok(objects.len() as u64),
            Err(e) => Err(e.clone()),
        };
        self.ctx.record(CallRecord {
            call,
            decision: Decision::Allowed,
            outcome,
            elapsed: ran.started.elapsed(),
            client_request_id: ran.request_id.clone(),
        });
    }
}

/// Reads all pages, but stops with `limit-exceeded` once the result is
/// larger than the plugin could hold: the host must not buffer without
/// bound on a plugin's behalf.
async fn collect_bounded(
    mut pages: Box<dyn PageStream>,
    byte_budget: u64,
) -> Result<Vec<Object>, CmdletError> {
    let mut all = Vec::new();
    let mut bytes = 0u64;
    while let Some(page) = pages.next_page().await? {
        bytes += page.iter().map(|o| o.len() as u64).sum::<u64>();
        if bytes > byte_budget {
            return Err(CmdletError::LimitExceeded {
                message: format!(
                    "the result is larger than the plugin's memory limit ({byte_budget} bytes); read it with open-pages"
                ),
            });
        }
        all.extend(page);
    }
    Ok(all)
}

impl Host for RunState {
    async fn invoke(&mut self, c: wit::Call) -> wasmtime::Result<WitResult> {
        self.check_outputs()?;
        let call = call_from_wit(c);
        if let Err(e) = self.admit(&call) {
            return Ok(Err(error_to_wit(e)));
        }
        let backend = self.ctx.backend.clone();
        let ran = run_call(backend.as_ref(), &call, self.ctx.result_byte_budget).await;
        self.finish(call, &ran);
        Ok(ran.result.map_err(error_to_wit))
    }

    async fn open_pages(
        &mut self,
        c: wit::Call,
    ) -> wasmtime::Result<Result<Resource<PageReader>, wit::CmdletError>> {
        self.check_outputs()?;
        let call = call_from_wit(c);
        if let Err(e) = self.admit(&call) {
            return Ok(Err(error_to_wit(e)));
        }
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

    async fn invoke_many(&mut self, calls: Vec<wit::Call>) -> wasmtime::Result<Vec<WitResult>> {
        self.check_outputs()?;
        let calls: Vec<Call> = calls.into_iter().map(call_from_wit).collect();
        // Decide every call first, in order, so that denials and the budget
        // are deterministic whatever the concurrency.
        let admitted: Vec<Result<(), CmdletError>> = calls.iter().map(|c| self.admit(c)).collect();
        let backend = self.ctx.backend.clone();
        let budget = self.ctx.result_byte_budget;
        let concurrency = self.ctx.invoke_many_concurrency.max(1);
        // Owned futures (each with its own copy of the call): a batch is
        // small, and this keeps the futures free of borrows of `self`.
        let jobs: Vec<_> = calls
            .iter()
            .zip(&admitted)
            .map(|(call, admitted)| {
                let backend = backend.clone();
                let call = admitted.is_ok().then(|| call.clone());
                async move {
                    let call = call?;
                    Some(run_call(backend.as_ref(), &call, budget).await)
                }
            })
            .collect();
        let results: Vec<Option<Ran>> = futures::stream::iter(jobs)
            .buffered(concurrency)
            .collect()
            .await;
        let mut out = Vec::with_capacity(calls.len());
        let mut total_bytes = 0u64;
        for ((call, admitted), result) in calls.into_iter().zip(admitted).zip(results) {
            match (admitted, result) {
                (Err(e), _) => out.push(Err(error_to_wit(e))),
                (Ok(()), Some(mut ran)) => {
                    if let Ok(objects) = &ran.result {
                        total_bytes += objects.iter().map(|o| o.len() as u64).sum::<u64>();
                        if total_bytes > budget {
                            ran.result = Err(CmdletError::LimitExceeded {
                                message: format!(
                                    "the batch's results exceed the plugin's memory limit ({budget} bytes); send smaller batches"
                                ),
                            });
                        }
                    }
                    self.finish(call, &ran);
                    out.push(ran.result.map_err(error_to_wit));
                }
                // Cannot happen (an admitted call always runs), but a wrong
                // answer is better than a panic in the host.
                (Ok(()), None) => out.push(Err(error_to_wit(CmdletError::failed(
                    "internal",
                    "the call was admitted but not run",
                )))),
            }
        }
        Ok(out)
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
