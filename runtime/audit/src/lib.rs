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
//! The writer produces the canonical bytes by serializing the record (compact
//! serde_json, fields in declaration order) without `hash`, so the canonical
//! bytes always end `…"prev":"<64 hex>"}`; a verifier needs no serializer,
//! it strips the last 75 bytes (`,"hash":"<64 hex>"}`) and appends `}`.
//!
//! Any edit, removal, insertion or reordering of a record therefore breaks
//! the chain at that line, and [`verify`] names the line.
//!
//! # Head file and threat model
//!
//! A chain cannot show that records were cut off its *end*. The head file
//! ([`head_path`], `audit.jsonl.head`, `{"seq":N,"hash":"…"}`) is rewritten
//! under the log's lock after every append, and [`verify`] requires the log
//! to still hold record N with that hash; [`VerifyOptions::expect_last`]
//! does the same for an anchor kept elsewhere. The head is written after
//! the line is durable and is not fsynced itself, so after a crash it can
//! lag behind the log (accepted) but never run ahead of it.
//!
//! What this detects: accidental damage, and any edit, deletion, reordering
//! or truncation by someone who does not recompute hashes. What it does not:
//! someone who can write both files can rewrite the log from any point,
//! recompute every hash and the head. Against that, ship [`Summary::last`]
//! (or the head) somewhere the attacker cannot write, and pass it back as
//! `expect_last`: the log can then only be extended, not rewritten, before
//! that point. Records are not encrypted or signed; the file is created 0600
//! and secrets are redacted before they are written.
//!
//! # Segments
//!
//! A service's log is rotated ([`rotate`]) rather than left to grow: the
//! active file is renamed to `audit.jsonl.<seq of its last record>` and a
//! new one started, whose first record chains from the segment's last line.
//! Segments and the active log are one chain: [`verify`] and [`query`]
//! read them in order, a removed or edited segment breaks the chain at the
//! next file, and the head file names the newest record of all. Old
//! segments may be archived away from the oldest end; `verify` then starts
//! from the oldest one left and says so ([`Summary::first_seq`]).
//!
//! # Concurrency and crashes
//!
//! [`AuditLog::append`] takes an exclusive OS lock, reads only the file's
//! tail, and writes a record with one `write` call, so processes and
//! threads can append at once. An append cut short by a crash leaves a
//! *torn line*; the next append starts on a new line and chains from the
//! last complete record, and [`verify`] lists the torn line in
//! [`Summary::torn`] instead of failing.

#![forbid(unsafe_code)]

mod chain;
mod entry;
mod error;
mod follow;
mod head;
mod log;
mod operator;
mod path;
mod query;
mod record;
mod redact;
mod segment;
mod table;
mod tail;
mod time;
mod verify;

pub use chain::ZERO_HASH;
pub use entry::{
    CallEvent, CallOutcome, CredentialEvent, Decision, Entry, Event, PackageEvent, RunEndEvent,
    RunInfo, ServiceEvent,
};
pub use error::AuditError;
pub use follow::Follower;
pub use head::{Anchor, head_path};
pub use log::{AuditLog, Durability};
pub use operator::current_operator;
pub use path::{ENV_AUDIT_LOG, default_path};
pub use query::{Filter, Query, query};
pub use record::MAX_LINE_BYTES;
pub use record::{DecisionKind, Kind, Parameters, PluginRef, Record, RunMode, RunStatus};
pub use redact::{MAX_MESSAGE_BYTES, REDACTED, is_sensitive_name};
pub use segment::{rotate, segment_path, segments};
pub use table::render_table;
pub use time::{format_rfc3339_millis, parse_rfc3339};
pub use verify::{
    AnchorSource, BreakReason, HeadPolicy, MAX_TORN_LISTED, Summary, TornLine, UnfinishedRun,
    VerifyError, VerifyOptions, verify, verify_with,
};
