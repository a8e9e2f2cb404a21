//! `[outputs]`: a fresh, capped folder preopened at `/outputs`
//! ([`crate::outputs`]), behind a filesystem that meters every write and
//! refuses links ([`crate::host::filesystem`]).

use wasmtime::component::Linker;

use super::{HostCapability, Setup};
use crate::error::RunError;
use crate::host::filesystem::{GuardedFilesystem, GuardedFs};
use crate::outputs::OutputsFolder;
use crate::report::RunReport;
use crate::state::RunState;

pub(crate) struct OutputsHost;

impl HostCapability for OutputsHost {
    /// `wasi:filesystem/types` again, over wasmtime-wasi's own: the same
    /// implementation with the meter and the link refusal in front. Every
    /// plugin gets it; one without `[outputs]` has no folder to reach.
    fn link(&self, linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::filesystem::types::add_to_linker::<RunState, GuardedFilesystem>(
            linker,
            |state| {
                let meter = state.extensions.get::<OutputsFolder>().map(|o| o.meter());
                GuardedFs {
                    inner: wasmtime_wasi::filesystem::WasiFilesystemView::filesystem(state),
                    meter,
                }
            },
        )?;
        linker.allow_shadowing(false);
        Ok(())
    }

    fn prepare(&self, setup: &mut Setup<'_>) -> Result<(), RunError> {
        let Some(spec) = setup.manifest.outputs() else {
            return Ok(());
        };
        let folder = setup.request.outputs_dir.clone().unwrap_or_else(|| {
            crate::outputs::unique_folder(&setup.config.outputs_root, &setup.manifest.plugin.name)
        });
        let outputs = OutputsFolder::create(spec, folder.clone())
            .map_err(|e| RunError::Outputs(format!("{}: {e}", folder.display())))?;
        outputs
            .add_to(setup.wasi)
            .map_err(|e| RunError::Outputs(format!("{}: {e:#}", folder.display())))?;
        setup.extensions.insert(outputs);
        Ok(())
    }

    /// Stops the plugin once a write to its folder was refused for crossing
    /// the cap (in case its runtime caught that error and went on).
    fn tick(&self, state: &mut RunState) -> wasmtime::Result<()> {
        match state.extensions.get::<OutputsFolder>() {
            Some(outputs) => outputs.check().map_err(wasmtime::Error::new),
            None => Ok(()),
        }
    }

    fn finish(&self, state: &mut RunState, report: &mut RunReport) {
        let Some(outputs) = state.extensions.get::<OutputsFolder>() else {
            return;
        };
        let (listing, check) = outputs.finish();
        report.outputs = Some(listing);
        if let Err(exceeded) = check
            && !matches!(report.outcome, Err(RunError::OutputsLimit(_)))
        {
            report.outcome = Err(RunError::OutputsLimit(exceeded));
        }
    }
}
