//! Finding what the next record chains from by reading the log backwards
//! from its end, so an append costs the same on a 1 GB log as on an empty
//! one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::chain::{ZERO_HASH, inspect, looks_torn, to_hex};
use crate::error::AuditError;
use crate::record::MAX_LINE_BYTES;

const CHUNK: u64 = 8 * 1024;

/// How many torn lines in a row an append steps over before it gives up:
/// each is left by a crash in the middle of an append, so a handful is
/// already a lot.
const MAX_TORN_SKIPPED: u32 = 64;

/// What the next record chains from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    /// Seq of the last complete record, 0 for none.
    pub seq: u64,
    /// Hex `hash` of that record (64 zeros for none), for the head file.
    pub hash: String,
    /// Hex SHA-256 of that record's line, the next record's `prev`.
    pub line_hash: String,
    /// The file does not end in `\n` right after the last record (a write
    /// was cut short just before its newline), so the next record must
    /// start on a new line.
    pub needs_newline: bool,
    /// Where the next record goes: just after the last complete record.
    /// Anything after it is a torn line (a write a crash cut short), which
    /// the next append removes, so that only the very end of a log can ever
    /// hold an incomplete line.
    pub end: u64,
}

impl Tail {
    fn empty() -> Tail {
        Tail {
            seq: 0,
            hash: ZERO_HASH.to_owned(),
            line_hash: ZERO_HASH.to_owned(),
            needs_newline: false,
            end: 0,
        }
    }
}

/// Reads the log's tail. Torn lines (cut-short writes, see
/// [`crate::chain`]) are stepped over; anything else that is not an intact
/// record is an error, because chaining from it would vouch for it.
pub(crate) fn read_tail(file: &File, path: &Path) -> Result<Tail, AuditError> {
    let io = AuditError::io(path);
    let len = file.metadata().map_err(AuditError::io(path))?.len();
    if len == 0 {
        return Ok(Tail::empty());
    }
    let mut last = [0u8; 1];
    read_at(file, len - 1, &mut last).map_err(io)?;
    let needs_newline = last[0] != b'\n';
    let mut end = if needs_newline { len } else { len - 1 };
    let mut skipped = 0;
    loop {
        let (start, line) = line_ending_at(file, end, path)?;
        let corrupt = |detail: String| AuditError::CorruptTail {
            path: path.to_owned(),
            offset: start,
            detail,
        };
        match inspect(&line) {
            Ok(sealed) if sealed.hash_matches() => {
                // The last line of the file may lack only its newline; a
                // record before torn lines always has one.
                let (end, needs_newline) = if skipped == 0 {
                    (len, needs_newline)
                } else {
                    (start + line.len() as u64 + 1, false)
                };
                return Ok(Tail {
                    seq: sealed.seq,
                    hash: sealed.hash.to_owned(),
                    line_hash: String::from_utf8_lossy(&to_hex(&sealed.line_hash)).into_owned(),
                    needs_newline,
                    end,
                });
            }
            Ok(_) => return Err(corrupt("its hash does not match its contents".to_owned())),
            Err(_) if looks_torn(&line, None) && skipped < MAX_TORN_SKIPPED => {
                tracing::warn!(path = %path.display(), offset = start, "skipping a torn audit line left by an interrupted append");
                skipped += 1;
            }
            Err(_) => return Err(corrupt("not a record".to_owned())),
        }
        if start == 0 {
            return Ok(Tail::empty());
        }
        end = start - 1;
    }
}

/// The line that ends at byte `end` (exclusive, a `\n` or the file's end):
/// its start offset and bytes.
fn line_ending_at(file: &File, end: u64, path: &Path) -> Result<(u64, Vec<u8>), AuditError> {
    let mut chunks = Vec::new();
    let mut pos = end;
    let start = loop {
        if pos == 0 {
            break 0;
        }
        if end - pos > MAX_LINE_BYTES as u64 {
            return Err(AuditError::CorruptTail {
                path: path.to_owned(),
                offset: pos,
                detail: format!("a line longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        let n = CHUNK.min(pos);
        let mut chunk = vec![0u8; n as usize];
        read_at(file, pos - n, &mut chunk).map_err(AuditError::io(path))?;
        pos -= n;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            chunk.drain(..=i);
            chunks.push(chunk);
            break pos + i as u64 + 1;
        }
        chunks.push(chunk);
    };
    chunks.reverse();
    Ok((start, chunks.concat()))
}

fn read_at(mut file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
