//! `exorun:automation/inputs`: the operator's inputs, typed against the
//! manifest's `[inputs]` once, before the plugin starts
//! ([`crate::host::inputs`]).

use exorun_policy::ResolvedInputs;
use wasmtime::component::{HasSelf, Linker};

use super::{HostCapability, Setup};
use crate::bindings::exorun::automation::inputs;
use crate::error::RunError;
use crate::state::RunState;

pub(crate) struct InputsHost;

impl HostCapability for InputsHost {
    fn link(&self, linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
        inputs::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
    }

    fn prepare(&self, setup: &mut Setup<'_>) -> Result<(), RunError> {
        let resolved = match setup.request.resolved.take() {
            Some(inputs) => inputs,
            None => ResolvedInputs::resolve(setup.manifest.inputs(), &setup.request.inputs)
                .map_err(|e| RunError::Inputs(e.to_string()))?,
        };
        setup.extensions.insert(resolved);
        Ok(())
    }
}
