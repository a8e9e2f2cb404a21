//! `exorun:automation/cmdlets`: every call checked by the gate and carried
//! to the tenant ([`crate::host::cmdlets`]), measured at the boundary
//! before it is copied ([`crate::host::boundary`]).

use wasmtime::component::{HasSelf, Linker};

use super::HostCapability;
use crate::bindings::exorun::automation::{cmdlets, types};
use crate::report::RunReport;
use crate::state::RunState;

pub(crate) struct CmdletsHost;

impl HostCapability for CmdletsHost {
    fn link(&self, linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
        types::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
        cmdlets::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
        // The calls again, measured in the plugin's memory before they are
        // copied; these shadow the bindgen definitions just linked.
        crate::host::boundary::add_to_linker(linker)
    }

    /// Every call of the run, paged reads the plugin left open included.
    fn finish(&self, state: &mut RunState, report: &mut RunReport) {
        let ctx = &mut state.ctx;
        ctx.close_all_reads();
        report.calls = std::mem::take(&mut ctx.records);
    }
}
