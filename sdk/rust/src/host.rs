//! Logging, progress, the operator's inputs, and whether the run is a
//! what-if run.

use crate::bindings::exorun::automation::{host, inputs};

/// Writes one line to the run log.
pub mod log {
    use super::host;

    pub fn debug(message: &str) {
        host::log(host::Level::Debug, message);
    }
    pub fn info(message: &str) {
        host::log(host::Level::Info, message);
    }
    pub fn warn(message: &str) {
        host::log(host::Level::Warn, message);
    }
    pub fn error(message: &str) {
        host::log(host::Level::Error, message);
    }
}

/// Reports progress: `done` of `total` (if known). The CLI shows a bar.
pub fn progress(done: u64, total: Option<u64>) {
    host::progress(done, total);
}

/// True in a what-if run (`exorun run --what-if`): every call that would
/// change the tenant is recorded in a plan instead of being sent, and
/// answers as if it had succeeded. Report such changes as planned, not
/// done.
pub fn what_if() -> bool {
    host::what_if()
}

/// An operator-supplied input, typed as the manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Text(String),
    Integer(i64),
    Boolean(bool),
    Texts(Vec<String>),
}

impl Input {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Input::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Input::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Input::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_texts(&self) -> Option<&[String]> {
        match self {
            Input::Texts(v) => Some(v),
            _ => None,
        }
    }
}

/// The value of a declared input (or its default); `None` when it is
/// optional and not given.
pub fn input(name: &str) -> Option<Input> {
    inputs::get(name).map(|v| match v {
        inputs::InputValue::Text(s) => Input::Text(s),
        inputs::InputValue::Integer(i) => Input::Integer(i),
        inputs::InputValue::Boolean(b) => Input::Boolean(b),
        inputs::InputValue::Texts(t) => Input::Texts(t),
    })
}
