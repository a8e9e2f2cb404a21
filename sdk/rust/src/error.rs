//! Why a call failed. Match on the variant, not on the message.

use crate::bindings::exorun::automation::types::CmdletError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The plugin's manifest does not allow the call; it never left the host.
    Denied {
        rule: String,
        message: String,
    },
    NotFound(String),
    Ambiguous(String),
    InvalidParameter(String),
    /// The tenant's own RBAC refused the app.
    Forbidden(String),
    /// The tenant is busy even after the host's retries; wait this long.
    Throttled {
        retry_after_ms: u32,
    },
    /// A write was sent but its outcome is unknown: check before retrying.
    OutcomeUnknown(String),
    /// A limit of this run is exhausted.
    LimitExceeded(String),
    Failed {
        code: String,
        message: String,
    },
    /// An output object did not have the expected shape.
    Parse(String),
    /// The automation's own failure.
    Other(String),
}

impl Error {
    pub fn other(message: impl Into<String>) -> Self {
        Error::Other(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Denied { rule, message } => write!(f, "denied ({rule}): {message}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Ambiguous(m) => write!(f, "ambiguous: {m}"),
            Error::InvalidParameter(m) => write!(f, "invalid parameter: {m}"),
            Error::Forbidden(m) => write!(f, "forbidden by the tenant: {m}"),
            Error::Throttled { retry_after_ms } => {
                write!(f, "throttled: retry after {retry_after_ms} ms")
            }
            Error::OutcomeUnknown(m) => write!(f, "outcome unknown: {m}"),
            Error::LimitExceeded(m) => write!(f, "limit exceeded: {m}"),
            Error::Failed { code, message } => write!(f, "failed ({code}): {message}"),
            Error::Parse(m) => write!(f, "unexpected output: {m}"),
            Error::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<CmdletError> for Error {
    fn from(e: CmdletError) -> Self {
        match e {
            CmdletError::Denied(d) => Error::Denied {
                rule: d.rule,
                message: d.message,
            },
            CmdletError::NotFound(m) => Error::NotFound(m),
            CmdletError::Ambiguous(m) => Error::Ambiguous(m),
            CmdletError::InvalidParameter(m) => Error::InvalidParameter(m),
            CmdletError::Forbidden(m) => Error::Forbidden(m),
            CmdletError::Throttled(ms) => Error::Throttled { retry_after_ms: ms },
            CmdletError::OutcomeUnknown(m) => Error::OutcomeUnknown(m),
            CmdletError::LimitExceeded(m) => Error::LimitExceeded(m),
            CmdletError::Failed(f) => Error::Failed {
                code: f.code,
                message: f.message,
            },
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Parse(e.to_string())
    }
}

impl From<String> for Error {
    fn from(m: String) -> Self {
        Error::Other(m)
    }
}

impl From<&str> for Error {
    fn from(m: &str) -> Self {
        Error::Other(m.to_owned())
    }
}
