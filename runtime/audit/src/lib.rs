//! exorun's audit trail: every run and every cmdlet call a plugin makes,
//! appended to a tamper-evident JSON Lines file.
//!
//! # Format
//!
//! One record per line, camelCase JSON, fields in a fixed order (see
//! [`Record`]), the last two being `prev` and `hash`:
//!
//! ```text
//! {"seq":1,"time":"2026-11-28T22:18:00.123Z","kind":"run-start",…,"prev":"000…0","hash":"9f…"}
//! ```
//!
//! * `hash` = SHA-256 of the line with its final `,"hash":"<64 hex>"`
//!   member removed (so the bytes end `…"prev":"<64 hex>"}`).
//! * `prev` = SHA-256 of the previous line's bytes without its `\n`, or 64
//!   zeros for seq 1.
//!
//! Any edit, removal, insertion or reordering of a record therefore breaks
//! the chain at that line, and [`verify`] names the line. A sidecar head
//! file ([`head_path`]) anchors the end of the log against truncation; see
//! the `head` module docs for the threat model.
//!
//! # Concurrency and crashes
//!
//! [`AuditLog::append`] takes an exclusive OS lock, reads only the file's
//! tail, and writes a record with one `write` call, so processes and
//! threads can append at once. An append cut short by a crash leaves a
//! *torn line*; the next append starts on a new line and chains from the
//! last complete record, and [`verify`] lists the torn line in
//! [`Summary::torn`] instead of failing.

mod chain;
mod entry;
mod error;
mod head;
mod log;
mod operator;
mod path;
mod query;
mod record;
mod redact;
mod table;
mod tail;
mod time;
mod verify;

pub use chain::ZERO_HASH;
pub use entry::{CallEvent, CallOutcome, Decision, Entry, Event, RunEndEvent, RunInfo};
pub use error::AuditError;
pub use head::{Anchor, head_path};
pub use log::{AuditLog, Durability, MAX_LINE_BYTES};
pub use operator::current_operator;
pub use path::{ENV_AUDIT_LOG, default_path, path_from_env};
pub use query::{Filter, Query, query};
pub use record::{DecisionKind, Kind, Parameters, PluginRef, Record, RunStatus};
pub use redact::{MAX_MESSAGE_BYTES, REDACTED, is_sensitive_name};
pub use table::render_table;
pub use time::format_rfc3339_millis;
pub use verify::{
    AnchorSource, BreakReason, HeadPolicy, MAX_TORN_LISTED, Summary, TornLine, VerifyError,
    VerifyOptions, verify, verify_with,
};
