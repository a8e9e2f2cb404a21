//! Conversions between the generated WIT types and the shared vocabulary of
//! `exorun-cmdlet`. Kept apart so the host logic reads in domain terms.
//!
//! [`error_to_wit`] is the one mapping of a host error to the WIT
//! `cmdlet-error`. bindgen's `trappable_error_type` is not used for it:
//! three of the four functions that return a `cmdlet-error` are linked by
//! hand (`host::boundary`, which measures a call before copying it), where
//! that conversion does not apply, so it would only add a second path for
//! `pages.next`.

use exorun_cmdlet::{Call, CmdletError, Leaf, Value};

use crate::bindings::exorun::automation::types as wit;

pub fn call_from_wit(call: wit::Call) -> Call {
    Call {
        cmdlet: call.cmdlet,
        parameters: call
            .parameters
            .into_iter()
            .map(|(name, value)| (name, value_from_wit(value)))
            .collect(),
    }
}

fn value_from_wit(value: wit::Value) -> Value {
    match value {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Bool(b),
        wit::Value::Integer(i) => Value::Int(i),
        wit::Value::Text(s) => Value::Text(s),
        wit::Value::Texts(v) => Value::Texts(v),
        wit::Value::Table(entries) => Value::Table(
            entries
                .into_iter()
                .map(|(k, leaf)| (k, leaf_from_wit(leaf)))
                .collect(),
        ),
    }
}

fn leaf_from_wit(leaf: wit::Leaf) -> Leaf {
    match leaf {
        wit::Leaf::Null => Leaf::Null,
        wit::Leaf::Boolean(b) => Leaf::Bool(b),
        wit::Leaf::Integer(i) => Leaf::Int(i),
        wit::Leaf::Text(s) => Leaf::Text(s),
        wit::Leaf::Texts(v) => Leaf::Texts(v),
    }
}

pub fn error_to_wit(error: CmdletError) -> wit::CmdletError {
    match error {
        CmdletError::Denied { rule, message } => {
            wit::CmdletError::Denied(wit::Denial { rule, message })
        }
        CmdletError::NotFound { message } => wit::CmdletError::NotFound(message),
        CmdletError::Ambiguous { message } => wit::CmdletError::Ambiguous(message),
        CmdletError::InvalidParameter { message } => wit::CmdletError::InvalidParameter(message),
        CmdletError::Forbidden { message } => wit::CmdletError::Forbidden(message),
        CmdletError::Throttled { retry_after_ms } => wit::CmdletError::Throttled(retry_after_ms),
        CmdletError::OutcomeUnknown { message } => wit::CmdletError::OutcomeUnknown(message),
        CmdletError::LimitExceeded { message } => wit::CmdletError::LimitExceeded(message),
        CmdletError::Failed { code, message } => {
            wit::CmdletError::Failed(wit::Failure { code, message })
        }
    }
}
