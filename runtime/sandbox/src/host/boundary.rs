//! The size cap at the boundary: a plugin's calls are measured in its own
//! memory *before* the host copies them.
//!
//! Why not let wasmtime lift `call` as bindgen does: a WIT string is a
//! pointer and a length, and nothing stops a plugin from pointing a hundred
//! thousand parameter values (or a million calls of a batch) at the same
//! megabyte of its memory. Lifting copies each one, so a plugin with 32 MiB
//! could make the host allocate terabytes before any check ran. Here the
//! `cmdlets` functions take the call as [`WasmStr`]/[`WasmList`] views into
//! the plugin's memory, count its bytes with an early exit, and only then
//! copy it: one call at most [`MAX_CALL_BYTES`], one `invoke-many` batch at
//! most the plugin's memory limit, however the plugin aliased its memory.
//!
//! These definitions shadow the ones bindgen generated for
//! `exorun:automation/cmdlets`; the behaviour behind them is the same
//! ([`crate::host::cmdlets`]).

use exorun_cmdlet::{Call, Leaf, Value};
use exorun_policy::MAX_CALL_BYTES;
use wasmtime::component::{ComponentType, Lift, Linker, Resource, WasmList, WasmStr};
use wasmtime::{AsContextMut, StoreContextMut};

use crate::pages::PageReader;
use crate::state::RunState;

/// `types.call`, not yet copied out of the plugin's memory.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct RawCall {
    cmdlet: WasmStr,
    parameters: WasmList<(WasmStr, RawValue)>,
}

/// `types.value`, not yet copied.
#[derive(ComponentType, Lift)]
#[component(variant)]
pub enum RawValue {
    #[component(name = "null")]
    Null,
    #[component(name = "boolean")]
    Boolean(bool),
    #[component(name = "integer")]
    Integer(i64),
    #[component(name = "text")]
    Text(WasmStr),
    #[component(name = "texts")]
    Texts(WasmList<WasmStr>),
    #[component(name = "table")]
    Table(WasmList<(WasmStr, RawLeaf)>),
}

/// `types.leaf`, not yet copied.
#[derive(ComponentType, Lift)]
#[component(variant)]
pub enum RawLeaf {
    #[component(name = "null")]
    Null,
    #[component(name = "boolean")]
    Boolean(bool),
    #[component(name = "integer")]
    Integer(i64),
    #[component(name = "text")]
    Text(WasmStr),
    #[component(name = "texts")]
    Texts(WasmList<WasmStr>),
}

/// What every scalar, name and list item counts for at least, so that a
/// call of a million empty parameters is as large as it is costly.
const ITEM_OVERHEAD: usize = 16;

/// A call as the host may hold it.
pub enum Lifted {
    Call(Call),
    /// Larger than its budget: only its cmdlet name (capped) was copied.
    TooLarge {
        cmdlet: String,
        budget: usize,
    },
}

/// Counts bytes against a budget; `None` once it is spent.
struct Meter {
    left: usize,
}

impl Meter {
    fn take(&mut self, bytes: usize) -> Option<()> {
        self.left = self.left.checked_sub(bytes.saturating_add(ITEM_OVERHEAD))?;
        Some(())
    }
}

/// Copies a call out of the plugin's memory if it fits in `budget` bytes
/// (counted as it goes, so an oversized call is never copied whole).
/// Errors are the plugin's own malformed data (a bad string), and trap.
pub fn lift_call(
    mut store: impl AsContextMut<Data = RunState>,
    raw: &RawCall,
    budget: usize,
) -> wasmtime::Result<Lifted> {
    let mut store = store.as_context_mut();
    let mut meter = Meter { left: budget };
    let cmdlet = raw.cmdlet.to_str(&store)?;
    let too_large = |cmdlet: &str| Lifted::TooLarge {
        cmdlet: cmdlet.chars().take(256).collect(),
        budget,
    };
    if meter.take(cmdlet.len()).is_none() {
        return Ok(too_large(&cmdlet));
    }
    let cmdlet = cmdlet.into_owned();
    let mut parameters = Vec::new();
    for index in 0..raw.parameters.len() {
        let Some(item) = raw.parameters.get(&mut store, index) else {
            break;
        };
        let (name, value) = item?;
        let Some(name) = text(&mut store, &name, &mut meter)? else {
            return Ok(too_large(&cmdlet));
        };
        let Some(value) = lift_value(&mut store, &value, &mut meter)? else {
            return Ok(too_large(&cmdlet));
        };
        parameters.push((name, value));
    }
    Ok(Lifted::Call(Call { cmdlet, parameters }))
}

fn text(
    store: &mut StoreContextMut<'_, RunState>,
    raw: &WasmStr,
    meter: &mut Meter,
) -> wasmtime::Result<Option<String>> {
    let text = raw.to_str(&*store)?;
    Ok(meter.take(text.len()).map(|()| text.into_owned()))
}

fn texts(
    store: &mut StoreContextMut<'_, RunState>,
    raw: &WasmList<WasmStr>,
    meter: &mut Meter,
) -> wasmtime::Result<Option<Vec<String>>> {
    let mut out = Vec::new();
    for index in 0..raw.len() {
        let Some(item) = raw.get(&mut *store, index) else {
            break;
        };
        match text(store, &item?, meter)? {
            Some(t) => out.push(t),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn lift_value(
    store: &mut StoreContextMut<'_, RunState>,
    raw: &RawValue,
    meter: &mut Meter,
) -> wasmtime::Result<Option<Value>> {
    Ok(match raw {
        RawValue::Null => meter.take(0).map(|()| Value::Null),
        RawValue::Boolean(b) => meter.take(0).map(|()| Value::Bool(*b)),
        RawValue::Integer(i) => meter.take(0).map(|()| Value::Int(*i)),
        RawValue::Text(s) => text(store, s, meter)?.map(Value::Text),
        RawValue::Texts(list) => texts(store, list, meter)?.map(Value::Texts),
        RawValue::Table(entries) => {
            let mut out = Vec::new();
            for index in 0..entries.len() {
                let Some(item) = entries.get(&mut *store, index) else {
                    break;
                };
                let (key, leaf) = item?;
                let Some(key) = text(store, &key, meter)? else {
                    return Ok(None);
                };
                let leaf = match &leaf {
                    RawLeaf::Null => meter.take(0).map(|()| Leaf::Null),
                    RawLeaf::Boolean(b) => meter.take(0).map(|()| Leaf::Bool(*b)),
                    RawLeaf::Integer(i) => meter.take(0).map(|()| Leaf::Int(*i)),
                    RawLeaf::Text(s) => text(store, s, meter)?.map(Leaf::Text),
                    RawLeaf::Texts(list) => texts(store, list, meter)?.map(Leaf::Texts),
                };
                let Some(leaf) = leaf else {
                    return Ok(None);
                };
                out.push((key, leaf));
            }
            Some(Value::Table(out))
        }
    })
}

const INTERFACE: &str = "exorun:automation/cmdlets@0.1.0";

/// Shadows bindgen's `invoke`, `open-pages` and `invoke-many` with the
/// measuring versions. Call after the generated `add_to_linker`.
pub fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut cmdlets = linker.instance(INTERFACE)?;
    cmdlets.func_wrap_async(
        "invoke",
        |mut store: StoreContextMut<'_, RunState>, (raw,): (RawCall,)| {
            Box::new(async move {
                let lifted = lift_call(&mut store, &raw, MAX_CALL_BYTES)?;
                Ok((store.data_mut().invoke_lifted(lifted).await?,))
            })
        },
    )?;
    cmdlets.func_wrap_async(
        "open-pages",
        |mut store: StoreContextMut<'_, RunState>, (raw,): (RawCall,)| {
            Box::new(async move {
                let lifted = lift_call(&mut store, &raw, MAX_CALL_BYTES)?;
                let opened: Result<Resource<PageReader>, _> =
                    store.data_mut().open_pages_lifted(lifted).await?;
                Ok((opened,))
            })
        },
    )?;
    cmdlets.func_wrap_async(
        "invoke-many",
        |mut store: StoreContextMut<'_, RunState>, (raw,): (WasmList<RawCall>,)| {
            Box::new(async move {
                // The batch together may bring into the host at most what
                // the plugin itself may hold.
                let mut batch_left = usize::try_from(store.data().ctx.result_byte_budget)
                    .unwrap_or(usize::MAX)
                    .max(MAX_CALL_BYTES);
                // Past this many, every call is refused and the run ends
                // before the last: the rest are not even looked at.
                let matter = store.data().calls_that_can_matter();
                let mut calls = Vec::with_capacity(raw.len().min(matter).min(4096));
                for index in 0..raw.len().min(matter) {
                    let Some(item) = raw.get(&mut store, index) else {
                        break;
                    };
                    let item = item?;
                    let lifted = lift_call(&mut store, &item, MAX_CALL_BYTES.min(batch_left))?;
                    if let Lifted::Call(call) = &lifted {
                        batch_left = batch_left
                            .saturating_sub(exorun_policy::call_bytes(call) + ITEM_OVERHEAD);
                    }
                    calls.push(lifted);
                }
                Ok((store.data_mut().invoke_many_lifted(calls).await?,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
