//! Exchange's error bodies (docs/protocol.md, "Error payloads") mapped onto [`CmdletError`], so a
//! plugin can match on the cause instead of parsing message text.

use exorun_cmdlet::CmdletError;
use serde_json::Value;

use crate::http_text::snippet;

/// The module's words when nothing parseable came back.
pub const GENERIC_SERVER_ERROR: &str = "A server side error has occurred because of which the operation could not be completed. Please try again after some time.";

/// Exceptions the module retries (docs/protocol.md, "Retries, throttling and 401"): transient directory and store
/// conditions, not the caller's fault.
pub const TRANSIENT_EXCEPTIONS: [&str; 5] = [
    "DCOverloadedException",
    "SuitabilityDirectoryException",
    "ServerInMMException",
    "ADServerSettingsChangedException",
    "StorageTransientException",
];

/// Error texts that mean "throttled" although the status is not 429: the
/// request was refused before it ran, so it is retried like a 429
/// (docs/protocol.md, "Retries, throttling and 401").
pub const THROTTLING_MESSAGES: [&str; 1] =
    ["You have reached the maximum number of concurrent requests per tenant"];

/// What an error answer says, extracted in the module's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    pub status: u16,
    /// `error.code`, e.g. `NotFound`.
    pub code: Option<String>,
    /// The exception class, e.g.
    /// `Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException`.
    pub class: Option<String>,
    pub message: String,
    /// `details[0].message` as sent, for the transient-exception check.
    pub detail: Option<String>,
}

impl ServerError {
    /// Parses any body; never fails (an unreadable body gives the generic
    /// message).
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let error = json.as_ref().and_then(|j| j.get("error"));
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let detail = error
            .and_then(|e| e.get("details"))
            .and_then(|d| d.get(0))
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let inner = error
            .and_then(|e| e.get("innererror"))
            .and_then(|i| i.get("internalexception"));
        let inner_message = inner
            .and_then(|i| i.get("message"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        let inner_type = inner.and_then(|i| i.get("type")).and_then(Value::as_str);
        let top_message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());

        let (mut class, mut message) = (None, None);
        if let Some(d) = detail.as_deref().filter(|d| !d.trim().is_empty()) {
            let (c, m) = split_detail(d);
            class = c;
            message = Some(m);
        }
        if message.as_deref().is_none_or(str::is_empty) {
            message = inner_message.or(top_message).map(str::to_owned);
            if class.is_none() && inner_message.is_some() {
                class = inner_type.map(str::to_owned);
            }
        }
        let message = message
            .filter(|m| !m.is_empty())
            .or_else(|| {
                let text = snippet(body);
                (!text.is_empty() && json.is_none()).then_some(text)
            })
            .unwrap_or_else(|| GENERIC_SERVER_ERROR.to_owned());
        ServerError {
            status,
            code,
            class,
            message,
            detail,
        }
    }

    /// One of the exceptions the module retries.
    pub fn is_transient(&self) -> bool {
        let haystacks = [self.detail.as_deref(), self.class.as_deref()];
        TRANSIENT_EXCEPTIONS
            .iter()
            .any(|name| haystacks.iter().flatten().any(|h| h.contains(name)))
    }

    /// Whether the answer says the request was throttled, not run.
    pub fn is_throttling(&self) -> bool {
        self.status == 429
            || THROTTLING_MESSAGES
                .iter()
                .any(|text| self.message.contains(text))
    }

    fn class_short(&self) -> Option<&str> {
        self.class
            .as_deref()
            .map(|c| c.rsplit('.').next().unwrap_or(c))
            .filter(|c| !c.is_empty())
    }

    /// The plugin-facing error.
    pub fn to_cmdlet_error(&self) -> CmdletError {
        let message = self.message.clone();
        let class = self.class_short().unwrap_or_default();
        if class == "ManagementObjectNotFoundException" {
            return CmdletError::NotFound { message };
        }
        if class.ends_with("AmbiguousException") || message.contains("matches multiple entries") {
            return CmdletError::Ambiguous { message };
        }
        match self.status {
            400 => CmdletError::InvalidParameter { message },
            403 => CmdletError::Forbidden { message },
            404 if self.code.as_deref() == Some("NotFound") && self.class.is_none() => {
                CmdletError::NotFound { message }
            }
            _ => CmdletError::Failed {
                code: self
                    .class_short()
                    .map(str::to_owned)
                    .or_else(|| self.code.clone())
                    .unwrap_or_else(|| format!("HTTP{}", self.status)),
                message,
            },
        }
    }
}

/// `Ex6F9304|Microsoft…ManagementObjectNotFoundException|The operation…`
/// → (class, message). Also reads the JSON-serialised exception form.
pub fn split_detail(detail: &str) -> (Option<String>, String) {
    let trimmed = detail.trim();
    if trimmed.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(trimmed)
    {
        let class = v
            .get("ClassName")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message = v
            .get("Message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        return (class, message);
    }
    let mut parts = trimmed.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_id), Some(class), Some(message)) => (
            Some(class.trim().to_owned()).filter(|c| !c.is_empty()),
            message.trim().to_owned(),
        ),
        _ => (None, trimmed.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_splits_into_class_and_message() {
        assert_eq!(
            split_detail(
                "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'x' couldn't be found."
            ),
            (
                Some(
                    "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
                        .to_owned()
                ),
                "The operation couldn't be performed because object 'x' couldn't be found."
                    .to_owned()
            )
        );
        assert_eq!(
            split_detail("||plain text"),
            (None, "plain text".to_owned())
        );
        assert_eq!(split_detail("no pipes"), (None, "no pipes".to_owned()));
        assert_eq!(
            split_detail(r#"{"ClassName":"A.B","Message":"m"}"#),
            (Some("A.B".to_owned()), "m".to_owned())
        );
    }
}
