//! Checking a whole log: one streaming pass in constant memory.
//!
//! Each line is hashed as raw bytes and parsed only for `seq`, `prev` and
//! `hash` (borrowed, no allocation), which keeps a million records to about
//! a second. What is checked, in order, for line *n* holding a record:
//! it is a sealed record, its `seq` is one more than the last record's,
//! its `prev` is the SHA-256 of the last record's line, its `hash` is the
//! SHA-256 of its canonical bytes, and if an anchor names its seq, the
//! anchor's hash is its `hash`. The first failure is reported with its line
//! number (1-based) and stops the pass.
//!
//! A torn line (a crash cut an append short, see [`crate::chain`]) is not
//! a record and not a failure, but only as the file's last line without a
//! newline: the next append removes a torn tail before it writes, so
//! anything incomplete in the middle of a log was put there, and fails
//! naming its line. A cut at the very end of the file looks the same as
//! such a crash, which is why an anchor matters: with the head file (or
//! [`VerifyOptions::expect_last`]) a record that was acknowledged and then
//! cut, whole or in part, is reported as truncation.
//!
//! Runs are followed too: a run with a start record and no end record (the
//! process was killed, or is still running) is listed in
//! [`Summary::unfinished`], with the writes whose intent was recorded and
//! whose outcome was not: those may or may not have reached the tenant.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::chain::{Unsealed, inspect, looks_torn, to_hex};
use crate::error::AuditError;
use crate::head::{Anchor, head_path, read_head};
use crate::record::MAX_LINE_BYTES;
use crate::segment::{open_locked, segments};

/// How to use the head file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeadPolicy {
    /// The head file must exist and the log must hold the record it names.
    #[default]
    Require,
    /// Check it when it exists (logs copied without their head).
    IfPresent,
    /// Do not read it.
    Ignore,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// A record the log must contain, typically a head copied elsewhere
    /// earlier; records appended after it are fine.
    pub expect_last: Option<Anchor>,
    pub head: HeadPolicy,
}

/// Which anchor a truncation or mismatch was found against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorSource {
    HeadFile,
    Expected,
}

impl std::fmt::Display for AnchorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AnchorSource::HeadFile => "the head file",
            AnchorSource::Expected => "the expected last record",
        })
    }
}

/// Why a line breaks the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    #[error("not an audit record: {detail}")]
    NotARecord { detail: String },
    #[error("record {seq} has no hash (it was cut short) yet the log goes on after it without it")]
    Cut { seq: u64 },
    #[error("line is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("seq is {found}, expected {expected} (a record was removed, reordered or inserted)")]
    Seq { expected: u64, found: u64 },
    #[error("prev is {found}, but the previous record's line hashes to {expected}")]
    Prev { expected: String, found: String },
    #[error("hash is {stated}, but the record hashes to {computed} (the record was edited)")]
    Hash { stated: String, computed: String },
    #[error("{anchor} says record {seq} has hash {expected}, the log's has {found}")]
    AnchorMismatch {
        anchor: AnchorSource,
        seq: u64,
        expected: String,
        found: String,
    },
    #[error(
        "the segment's name says it ends with record {named}, but its last record is {last_seq} \
         (records were removed, or the file was renamed)"
    )]
    SegmentEnd { named: u64, last_seq: u64 },
    #[error(
        "{anchor} says the log reaches record {expected_seq}, but it ends after record {last_seq} (truncated)"
    )]
    Truncated {
        anchor: AnchorSource,
        expected_seq: u64,
        last_seq: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The first line at which the log is not what was written: a line
    /// of the segment named, or of the active log when none is.
    #[error("{}line {line}: {reason}", segment.as_ref().map(|s| format!("segment {}, ", s.display())).unwrap_or_default())]
    Broken {
        segment: Option<PathBuf>,
        line: u64,
        reason: BreakReason,
    },
    #[error("head file {path}: {reason}")]
    Head { path: PathBuf, reason: String },
}

/// Listing the segments fails only as I/O does.
impl From<AuditError> for VerifyError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Io { path, source } => VerifyError::Io { path, source },
            other => VerifyError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// A line left by an interrupted append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornLine {
    pub line: u64,
    /// The seq of the last record before it.
    pub after_seq: u64,
    pub bytes: u64,
    /// The file ends in it (no newline after it).
    pub at_end: bool,
}

/// The most torn lines listed one by one; more are only counted.
pub const MAX_TORN_LISTED: usize = 1000;

/// What a good log holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Records checked (all of them, unless older segments were archived).
    pub records: u64,
    /// Seq of the first record checked: 1, or more when the oldest
    /// segments were archived away.
    pub first_seq: u64,
    /// Rotated segments read before the active file.
    pub segments: usize,
    /// Seq and hash of the last record (0 and 64 zeros for an empty log);
    /// ship this elsewhere to anchor a later verification.
    pub last: Anchor,
    pub lines: u64,
    pub bytes: u64,
    pub torn: Vec<TornLine>,
    pub torn_count: u64,
    /// What the head file said, when it was read.
    pub head: Option<Anchor>,
    /// Runs that started and have no end record: killed, or still running.
    pub unfinished: Vec<UnfinishedRun>,
}

/// Verifies a log (its segments, oldest first, then the active file)
/// against its head file.
pub fn verify(path: impl AsRef<Path>) -> Result<Summary, VerifyError> {
    verify_with(path, &VerifyOptions::default())
}

/// Verifies a log. Appends that happen meanwhile are not waited for and
/// not checked: the log is read up to its length when the head was read,
/// which is taken under a shared lock so that the two agree (and so that
/// no rotation moves files while the segments are listed).
pub fn verify_with(
    path: impl AsRef<Path>,
    options: &VerifyOptions,
) -> Result<Summary, VerifyError> {
    let path = path.as_ref();
    let io = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let head_file = head_path(path);
    // Head, segments and length are read under one shared lock, so that
    // they agree and no rotation moves a file meanwhile.
    let locked = open_locked(path, OpenOptions::new().read(true), false).map_err(io)?;
    let head = match options.head {
        HeadPolicy::Ignore => None,
        _ => read_head(&head_file).map_err(|reason| VerifyError::Head {
            path: head_file.clone(),
            reason,
        })?,
    };
    let segments = segments(path).map_err(VerifyError::from)?;
    let len = locked.metadata().map_err(io)?.len();
    let file = locked.unlock();
    if options.head == HeadPolicy::Require && head.is_none() && (len > 0 || !segments.is_empty()) {
        return Err(VerifyError::Head {
            path: head_file,
            reason: "missing or empty".to_owned(),
        });
    }
    let mut anchors = Vec::new();
    if let Some(anchor) = &head {
        anchors.push((AnchorSource::HeadFile, anchor.clone()));
    }
    if let Some(anchor) = &options.expect_last {
        anchors.push((AnchorSource::Expected, anchor.clone()));
    }
    anchors.retain(|(_, a)| a.seq > 0);

    let mut walk = Walk::new(anchors);
    for (i, (last_seq, segment)) in segments.iter().enumerate() {
        let file = File::open(segment).map_err(|source| VerifyError::Io {
            path: segment.clone(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| VerifyError::Io {
                path: segment.clone(),
                source,
            })?
            .len();
        let place = Place {
            path: segment,
            segment: true,
            oldest: i == 0,
        };
        walk.file(file, len, &place)?;
        if walk.state.seq != *last_seq {
            return Err(VerifyError::Broken {
                segment: Some(segment.clone()),
                line: walk.state.file_lines + 1,
                reason: BreakReason::SegmentEnd {
                    named: *last_seq,
                    last_seq: walk.state.seq,
                },
            });
        }
    }
    let place = Place {
        path,
        segment: false,
        oldest: segments.is_empty(),
    };
    walk.file(file, len, &place)?;
    walk.finish(head, segments.len())
}

/// Which file of the log is being read.
struct Place<'a> {
    path: &'a Path,
    segment: bool,
    /// The first file read: a segment here may start after record 1 (older
    /// ones were archived); the active log never may.
    oldest: bool,
}

impl Place<'_> {
    fn broken(&self, line: u64, reason: BreakReason) -> VerifyError {
        VerifyError::Broken {
            segment: self.segment.then(|| self.path.to_owned()),
            line,
            reason,
        }
    }
}

/// One pass over the log's files, with the chain carried across them.
struct Walk {
    anchors: Vec<(AnchorSource, Anchor)>,
    state: Chain,
    torn: Vec<TornLine>,
    torn_count: u64,
    last_hash: [u8; 64],
    /// The torn line right before this one, if any.
    torn_before: Option<u64>,
    runs: Runs,
    bytes: u64,
    /// Seq of the first record read, when it is not 1.
    first_seq: Option<u64>,
}

impl Walk {
    fn new(anchors: Vec<(AnchorSource, Anchor)>) -> Walk {
        Walk {
            anchors,
            state: Chain::new(),
            torn: Vec::new(),
            torn_count: 0,
            last_hash: [b'0'; 64],
            torn_before: None,
            runs: Runs::default(),
            bytes: 0,
            first_seq: None,
        }
    }

    /// Checks the first `len` bytes of one file, continuing the chain.
    fn file(&mut self, file: File, len: u64, place: &Place<'_>) -> Result<(), VerifyError> {
        let io = |source| VerifyError::Io {
            path: place.path.to_owned(),
            source,
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file.take(len));
        let mut buf = Vec::with_capacity(4096);
        self.state.file_lines = 0;
        self.state.last_record_line = 0;
        self.bytes += len;
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(io)?;
            if n == 0 {
                return Ok(());
            }
            self.state.lines += 1;
            self.state.file_lines += 1;
            let line_no = self.state.file_lines;
            let broken = |reason| place.broken(line_no, reason);
            let at_end = buf.last() != Some(&b'\n');
            if at_end && n > MAX_LINE_BYTES {
                return Err(broken(BreakReason::TooLong {
                    limit: MAX_LINE_BYTES,
                }));
            }
            let line = if at_end { &buf[..] } else { &buf[..n - 1] };
            let sealed = match inspect(line) {
                Ok(sealed) => sealed,
                // Rotation removes a torn tail before it renames, so only
                // the active log may end in one.
                Err(Unsealed::Incomplete)
                    if at_end && !place.segment && looks_torn(line, Some(self.state.seq + 1)) =>
                {
                    self.torn_before.get_or_insert(line_no);
                    self.torn_count += 1;
                    if self.torn.len() < MAX_TORN_LISTED {
                        self.torn.push(TornLine {
                            line: line_no,
                            after_seq: self.state.seq,
                            bytes: line.len() as u64,
                            at_end,
                        });
                    }
                    continue;
                }
                Err(Unsealed::Incomplete) => {
                    return Err(broken(BreakReason::NotARecord {
                        detail: "no hash at the end of the line (only the last line of a log, cut short by a crash, may be incomplete)".to_owned(),
                    }));
                }
                Err(Unsealed::Invalid(detail)) => {
                    return Err(broken(BreakReason::NotARecord { detail }));
                }
            };
            if self.state.seq == 0 && place.oldest && place.segment && sealed.seq > 1 {
                // Older segments were archived: this one is taken as the
                // start, and the summary says where it starts.
                match hex_decode(sealed.prev) {
                    Some(prev) => self.state.line_hash = prev,
                    None => {
                        return Err(broken(BreakReason::NotARecord {
                            detail: "prev is not 64 hex digits".to_owned(),
                        }));
                    }
                }
                self.state.seq = sealed.seq - 1;
                self.first_seq = Some(sealed.seq);
            }
            if sealed.seq != self.state.seq + 1 {
                // A real crash is followed by a retry of the same seq; a
                // record stripped of its hash to pass for a torn line is not.
                if let Some(line) = self.torn_before
                    && sealed.seq == self.state.seq + 2
                {
                    return Err(place.broken(
                        line,
                        BreakReason::Cut {
                            seq: self.state.seq + 1,
                        },
                    ));
                }
                return Err(broken(BreakReason::Seq {
                    expected: self.state.seq + 1,
                    found: sealed.seq,
                }));
            }
            let expected_prev = to_hex(&self.state.line_hash);
            if sealed.prev.as_bytes() != expected_prev {
                return Err(broken(BreakReason::Prev {
                    expected: hex_string(&expected_prev),
                    found: sealed.prev.to_owned(),
                }));
            }
            if !sealed.hash_matches() {
                return Err(broken(BreakReason::Hash {
                    stated: sealed.hash.to_owned(),
                    computed: hex_string(&to_hex(&sealed.computed)),
                }));
            }
            for (source, anchor) in &self.anchors {
                if anchor.seq == sealed.seq && !anchor.hash.eq_ignore_ascii_case(sealed.hash) {
                    return Err(broken(BreakReason::AnchorMismatch {
                        anchor: *source,
                        seq: sealed.seq,
                        expected: anchor.hash.clone(),
                        found: sealed.hash.to_owned(),
                    }));
                }
            }
            self.runs.see(line, self.state.lines);
            self.last_hash.copy_from_slice(sealed.hash.as_bytes());
            self.torn_before = None;
            self.state.seq = sealed.seq;
            self.state.line_hash = sealed.line_hash;
            self.state.last_record_line = line_no;
        }
    }

    fn finish(self, head: Option<Anchor>, segments: usize) -> Result<Summary, VerifyError> {
        for (source, anchor) in &self.anchors {
            if anchor.seq > self.state.seq {
                return Err(VerifyError::Broken {
                    segment: None,
                    line: self.state.last_record_line + 1,
                    reason: BreakReason::Truncated {
                        anchor: *source,
                        expected_seq: anchor.seq,
                        last_seq: self.state.seq,
                    },
                });
            }
        }
        Ok(Summary {
            records: self.state.seq - self.first_seq.map_or(0, |f| f - 1),
            last: Anchor {
                seq: self.state.seq,
                hash: hex_string(&self.last_hash),
            },
            first_seq: self.first_seq.unwrap_or(1),
            segments,
            lines: self.state.lines,
            bytes: self.bytes,
            torn: self.torn,
            torn_count: self.torn_count,
            head,
            unfinished: self.runs.unfinished(),
        })
    }
}

fn hex_decode(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// A run whose start is in the log and whose end is not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnfinishedRun {
    pub run_id: String,
    /// The line of its start record.
    pub line: u64,
    /// Writes whose intent was recorded (fsynced before they were sent).
    pub intents: u64,
    /// Writes whose outcome was recorded.
    pub outcomes: u64,
}

impl UnfinishedRun {
    /// Writes that may or may not have reached the tenant.
    pub fn unknown_writes(&self) -> u64 {
        self.intents.saturating_sub(self.outcomes)
    }
}

/// The value of a top-level string member that comes before any
/// parameter (`kind`, `runId`): its first occurrence is the member itself,
/// since earlier members (`seq`, `time`) cannot hold a quote.
fn leading_member<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = memchr::memmem::find(line, key)? + key.len();
    let len = memchr::memchr(b'"', &line[start..])?;
    Some(&line[start..start + len])
}

/// True when a top-level member that comes after `parameters` has this
/// exact text. A string value cannot contain it unescaped, and its last
/// occurrence is the member itself, even if a parameter shares the name.
fn trailing_member_is(line: &[u8], member: &[u8]) -> bool {
    let key_end = member
        .iter()
        .position(|&b| b == b':')
        .map_or(member.len(), |i| i + 1);
    match memchr::memmem::rfind(line, &member[..key_end]) {
        Some(at) => line[at..].starts_with(member),
        None => false,
    }
}

/// Runs started and not yet ended, in the order they started.
#[derive(Default)]
struct Runs {
    open: Vec<UnfinishedRun>,
}

impl Runs {
    /// Follows one sealed record by scanning its bytes (no JSON parse:
    /// verify stays one cheap pass over a million records).
    fn see(&mut self, line: &[u8], number: u64) {
        let (Some(kind), Some(run_id)) = (
            leading_member(line, b"\"kind\":\""),
            leading_member(line, b"\"runId\":\""),
        ) else {
            return;
        };
        let find =
            |open: &Vec<UnfinishedRun>| open.iter().rposition(|r| r.run_id.as_bytes() == run_id);
        match kind {
            b"run-start" => self.open.push(UnfinishedRun {
                run_id: String::from_utf8_lossy(run_id).into_owned(),
                line: number,
                intents: 0,
                outcomes: 0,
            }),
            b"run-end" => {
                if let Some(i) = find(&self.open) {
                    self.open.remove(i);
                }
            }
            b"intent" => {
                if let Some(i) = find(&self.open) {
                    self.open[i].intents += 1;
                }
            }
            b"call"
                if trailing_member_is(line, b"\"readOnly\":false")
                    && trailing_member_is(line, b"\"decision\":\"allowed\"")
                    && !trailing_member_is(line, b"\"outcome\":\"planned\"") =>
            {
                if let Some(i) = find(&self.open) {
                    self.open[i].outcomes += 1;
                }
            }
            _ => {}
        }
    }

    fn unfinished(self) -> Vec<UnfinishedRun> {
        self.open
    }
}

/// Where the chain stands after the lines read so far.
struct Chain {
    /// Lines read in all files.
    lines: u64,
    /// Lines read in the current file.
    file_lines: u64,
    seq: u64,
    line_hash: [u8; 32],
    /// The current file's line of the last record.
    last_record_line: u64,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            lines: 0,
            file_lines: 0,
            seq: 0,
            line_hash: [0; 32],
            last_record_line: 0,
        }
    }
}

fn hex_string(hex: &[u8; 64]) -> String {
    String::from_utf8_lossy(hex).into_owned()
}
