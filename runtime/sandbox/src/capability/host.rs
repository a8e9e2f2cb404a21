//! `exorun:automation/host`: the run log, progress and whether the run is
//! a what-if run ([`crate::host::log`]); the plugin's stdout and stderr
//! join the same size-capped log ([`crate::host::stdio`]).

use wasmtime::component::{HasSelf, Linker};

use super::{HostCapability, Setup};
use crate::bindings::exorun::automation::host;
use crate::error::RunError;
use crate::report::{LogSource, RunReport};
use crate::run_log::StdioPipe;
use crate::state::RunState;

pub(crate) struct HostInterface;

impl HostCapability for HostInterface {
    fn link(&self, linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
        host::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
    }

    fn prepare(&self, setup: &mut Setup<'_>) -> Result<(), RunError> {
        setup
            .wasi
            .stdout(StdioPipe::new(setup.log.clone(), LogSource::Stdout))
            .stderr(StdioPipe::new(setup.log.clone(), LogSource::Stderr));
        Ok(())
    }

    fn finish(&self, state: &mut RunState, report: &mut RunReport) {
        report.progress = state.ctx.progress;
        report.log = state.ctx.log.finish();
    }
}
