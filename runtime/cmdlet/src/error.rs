use serde::{Deserialize, Serialize};

/// How a cmdlet call can fail, as a plugin sees it.
///
/// The variants mirror the WIT `cmdlet-error` variant one to one, so a plugin
/// can match on the cause (retry on `Throttled`, skip on `NotFound`, stop on
/// `Denied`) instead of parsing message text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CmdletError {
    /// The plugin's manifest does not allow this call; it never left the host.
    #[error("denied by {rule}: {message}")]
    Denied { rule: String, message: String },
    /// The object named by Identity (or similar) does not exist.
    #[error("not found: {message}")]
    NotFound { message: String },
    /// The identity matched more than one object.
    #[error("ambiguous: {message}")]
    Ambiguous { message: String },
    /// Exchange refused a parameter or its value.
    #[error("invalid parameter: {message}")]
    InvalidParameter { message: String },
    /// Exchange's own RBAC refused the app (its Entra role is too narrow).
    #[error("forbidden by the tenant: {message}")]
    Forbidden { message: String },
    /// The tenant's budget is spent; retrying after the delay may succeed.
    #[error("throttled: retry after {retry_after_ms} ms")]
    Throttled { retry_after_ms: u32 },
    /// A write was sent but its outcome is unknown (timeout or reset after
    /// sending). Not retried blindly: the plugin or operator must check.
    #[error("outcome unknown: {message}")]
    OutcomeUnknown { message: String },
    /// A limit of this run (for example `max-calls`) is exhausted.
    #[error("limit exceeded: {message}")]
    LimitExceeded { message: String },
    /// Anything else, with Exchange's error code when there is one.
    #[error("failed ({code}): {message}")]
    Failed { code: String, message: String },
}

impl CmdletError {
    /// A stable, kebab-case name of the variant, for logs and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            CmdletError::Denied { .. } => "denied",
            CmdletError::NotFound { .. } => "not-found",
            CmdletError::Ambiguous { .. } => "ambiguous",
            CmdletError::InvalidParameter { .. } => "invalid-parameter",
            CmdletError::Forbidden { .. } => "forbidden",
            CmdletError::Throttled { .. } => "throttled",
            CmdletError::OutcomeUnknown { .. } => "outcome-unknown",
            CmdletError::LimitExceeded { .. } => "limit-exceeded",
            CmdletError::Failed { .. } => "failed",
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        CmdletError::InvalidParameter {
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        CmdletError::NotFound {
            message: message.into(),
        }
    }

    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        CmdletError::Failed {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// An error and its causes on one line ("error sending request: connection
/// refused"), since the top-level text alone rarely says what happened.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    append_causes(error.to_string(), error)
}

/// `text` followed by the causes of `error` (not `error` itself), each
/// after `": "`, skipping a cause whose text is already there: library
/// errors often quote their source.
pub fn append_causes(mut text: String, error: &(dyn std::error::Error + 'static)) -> String {
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod chain_tests {
    use super::{append_causes, error_chain};

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, source: Option<Layer>) -> Layer {
        Layer {
            text,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn the_chain_is_one_line_without_causes_the_line_already_quotes() {
        let error = layer(
            "sending: connection refused",
            Some(layer(
                "connection refused",
                Some(layer("os error 111", None)),
            )),
        );
        assert_eq!(
            error_chain(&error),
            "sending: connection refused: os error 111"
        );
        assert_eq!(
            append_causes("sending".to_owned(), &error),
            "sending: connection refused: os error 111"
        );
        assert_eq!(append_causes(String::new(), &layer("top", None)), "");
    }
}
