//! `exorun:automation/inputs`: the operator's inputs, typed as declared.

use exorun_policy::{InputValue, ResolvedInputs};

use crate::bindings::exorun::automation::inputs::{Host, InputValue as WitInput};
use crate::state::RunState;

impl Host for RunState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Option<WitInput>> {
        let inputs = self.extensions.get::<ResolvedInputs>();
        Ok(inputs
            .and_then(|inputs| inputs.get(&name))
            .map(|value| match value {
                InputValue::Text(s) => WitInput::Text(s.clone()),
                InputValue::Integer(i) => WitInput::Integer(*i),
                InputValue::Boolean(b) => WitInput::Boolean(*b),
                InputValue::Texts(v) => WitInput::Texts(v.clone()),
            }))
    }
}
