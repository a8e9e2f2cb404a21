//! What can go wrong when writing or reading the trail (verification has
//! its own, richer error: [`crate::VerifyError`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The end of the log is neither a record nor a torn write, so there is
    /// nothing safe to chain the next record from.
    #[error(
        "audit log {path}: the line at byte {offset} is not a record ({detail}); \
         not appending to it, run `exorun audit verify`"
    )]
    CorruptTail {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    /// The log (with its segments) ends before the record its head file
    /// names: records were removed after they were written. Appending
    /// would restart or continue the chain over the gap and overwrite the
    /// head, hiding that, so nothing is appended.
    #[error(
        "audit log {path} ends at record {last_seq} (its segments included), but its head file \
         names record {head_seq}: records were removed after they were written; not appending, \
         so that this stays visible; run `exorun audit verify` (if they were removed on purpose, \
         move the head file away with them)"
    )]
    BehindHead {
        path: PathBuf,
        head_seq: u64,
        last_seq: u64,
    },
    /// The record was appended (and is durable as asked) but the head file
    /// could not be rewritten: the log is fine, its anchor lags behind.
    #[error("audit record {} appended, but its head file {path} was not updated: {source}", record.seq)]
    HeadNotUpdated {
        path: PathBuf,
        record: Box<crate::Record>,
        #[source]
        source: std::io::Error,
    },
    /// A line read back by a query is not a record.
    #[error("audit log {path}, line {line}: {detail}")]
    Malformed {
        path: PathBuf,
        line: u64,
        detail: String,
    },
    #[error("audit record is {bytes} bytes, over the {limit}-byte line limit")]
    TooLarge { bytes: usize, limit: usize },
    #[error("cannot serialize the audit record: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("no audit log location: set EXORUN_AUDIT_LOG, XDG_DATA_HOME or HOME")]
    NoLocation,
}

impl AuditError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
        move |source| AuditError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
