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
    /// Bytes handed out so far, for the record.
    objects: u64,
    index: usize,
}

type WitResult = Result<Vec<Object>, wit::CmdletError>;

/// When an admitted call of a batch started, and how it ended.
type Ran = (Instant, Result<Vec<Object>, CmdletError>);

impl RunState {
    /// The gate and the budget. On success the call is counted.
    fn admit(&mut self, call: &Call) -> Result<(), CmdletError> {
        let ctx = &mut self.ctx;
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
            });
            return Err(error);
        }
        ctx.calls_made += 1;
        Ok(())
    }

    fn finish(&mut self, call: Call, started: Instant, result: &Result<Vec<Object>, CmdletError>) {
        let outcome = match result {
            Ok(objects) => Ok(objects.len() as u64),
            Err(e) => Err(e.clone()),
        };
        self.ctx.record(CallRecord {
            call,
            decision: Decision::Allowed,
            outcome,
            elapsed: started.elapsed(),
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
        let call = call_from_wit(c);
        if let Err(e) = self.admit(&call) {
            return Ok(Err(error_to_wit(e)));
        }
        let started = Instant::now();
        let backend = self.ctx.backend.clone();
        let budget = self.ctx.result_byte_budget;
        let result = match backend.open_pages(&call).await {
            Ok(pages) => collect_bounded(pages, budget).await,
            Err(e) => Err(e),
        };
        self.finish(call, started, &result);
        Ok(result.map_err(error_to_wit))
    }

    async fn open_pages(
        &mut self,
        c: wit::Call,
    ) -> wasmtime::Result<Result<Resource<PageReader>, wit::CmdletError>> {
        let call = call_from_wit(c);
        if let Err(e) = self.admit(&call) {
            return Ok(Err(error_to_wit(e)));
        }
        let started = Instant::now();
        let backend = self.ctx.backend.clone();
        match backend.open_pages(&call).await {
            Ok(stream) => {
                let index = self.ctx.record(CallRecord {
                    call,
                    decision: Decision::Allowed,
                    outcome: Ok(0),
                    elapsed: started.elapsed(),
                });
                let reader = PageReader {
                    stream,
                    objects: 0,
                    index,
                };
                // A full table means the plugin holds too many open readers:
                // that is its own fault, so it gets an error, not the host.
                match self.table.push(reader) {
                    Ok(handle) => Ok(Ok(handle)),
                    Err(e) => Ok(Err(error_to_wit(CmdletError::LimitExceeded {
                        message: format!("too many open resources: {e}"),
                    }))),
                }
            }
            Err(e) => {
                self.finish(call, started, &Err(e.clone()));
                Ok(Err(error_to_wit(e)))
            }
        }
    }

    async fn invoke_many(&mut self, calls: Vec<wit::Call>) -> wasmtime::Result<Vec<WitResult>> {
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
                    let started = Instant::now();
                    let result = match backend.open_pages(&call).await {
                        Ok(pages) => collect_bounded(pages, budget).await,
                        Err(e) => Err(e),
                    };
                    Some((started, result))
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
                (Ok(()), Some((started, mut result))) => {
                    if let Ok(objects) = &result {
                        total_bytes += objects.iter().map(|o| o.len() as u64).sum::<u64>();
                        if total_bytes > budget {
                            result = Err(CmdletError::LimitExceeded {
                                message: format!(
                                    "the batch's results exceed the plugin's memory limit ({budget} bytes); send smaller batches"
                                ),
                            });
                        }
                    }
                    self.finish(call, started, &result);
                    out.push(result.map_err(error_to_wit));
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
        let (index, objects) = (reader.index, reader.objects);
        self.ctx.update_objects(index, objects, page.as_ref().err());
        Ok(page.map_err(error_to_wit))
    }

    async fn drop(&mut self, handle: Resource<PageReader>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl crate::bindings::exorun::automation::types::Host for RunState {}
