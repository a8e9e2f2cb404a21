//! `exorun:automation/inputs`: the operator's inputs, typed as declared.

use exorun_policy::InputValue;

use crate::bindings::exorun::automation::inputs::{Host, InputValue as WitInput};
use crate::run::RunState;

impl Host for RunState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Option<WitInput>> {
        Ok(self.ctx.inputs.get(&name).map(|value| match value {
            InputValue::Text(s) => WitInput::Text(s.clone()),
            InputValue::Integer(i) => WitInput::Integer(*i),
            InputValue::Boolean(b) => WitInput::Boolean(*b),
            InputValue::Texts(v) => WitInput::Texts(v.clone()),
        }))
    }
}
