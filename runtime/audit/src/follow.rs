//! Following the log as it grows, for streaming records to a SIEM: new
//! complete records, in order, across rotations.
//!
//! The follower keeps the position just after the last complete line it
//! returned and re-reads from there on every poll, so a line caught half
//! written is returned whole on the next poll, and a torn line that the
//! next append removes is never returned at all (only sealed records are).
//! When the active file is rotated away, the follower drains what is left
//! in the old file (nothing can be appended to it after the rotation, see
//! [`crate::rotate`]) and then moves to the new active file at its start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::chain::inspect;
use crate::error::AuditError;
use crate::record::MAX_LINE_BYTES;
use crate::segment::is_at_path;

/// A reader of the records appended to a log after it was opened.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: File,
    /// Just after the last complete line returned (or skipped).
    offset: u64,
}

impl Follower {
    /// Follows the log from its current end: records already in it are
    /// not returned.
    pub fn from_end(path: impl AsRef<Path>) -> Result<Follower, AuditError> {
        let mut follower = Follower::from_start(path)?;
        follower.offset = end_of_last_line(&follower.file, &follower.path)?;
        Ok(follower)
    }

    /// Follows the log from its first byte (the active file's; segments
    /// are not read).
    pub fn from_start(path: impl AsRef<Path>) -> Result<Follower, AuditError> {
        let path = path.as_ref().to_owned();
        let file = crate::segment::open_active(&path)?;
        Ok(Follower {
            path,
            file,
            offset: 0,
        })
    }

    /// The records appended since the last poll, each a line without its
    /// newline, exactly as stored.
    pub fn poll(&mut self) -> Result<Vec<Vec<u8>>, AuditError> {
        let moved = !is_at_path(&self.file, &self.path).map_err(AuditError::io(&self.path))?;
        let mut lines = self.drain()?;
        if moved {
            match File::open(&self.path) {
                Ok(file) => {
                    self.file = file;
                    self.offset = 0;
                    lines.extend(self.drain()?);
                }
                // Between the rename and the new file: the next poll
                // finds it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AuditError::io(&self.path)(e)),
            }
        }
        Ok(lines)
    }

    /// Complete lines from `offset` to the end of the current file.
    fn drain(&mut self) -> Result<Vec<Vec<u8>>, AuditError> {
        let io = |e| AuditError::io(&self.path)(e);
        let len = self.file.metadata().map_err(io)?.len();
        if len < self.offset {
            // Writers only ever cut a torn tail, which lies after every
            // complete line: the file was cut by someone else (which
            // `verify` reports). Go on from its last line.
            tracing::warn!(path = %self.path.display(), "the audit log was cut short while it was followed");
            self.offset = end_of_last_line(&self.file, &self.path)?;
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        let mut bytes = Vec::new();
        let mut file = &self.file;
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        file.take(len - self.offset)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(n) = memchr::memchr(b'\n', &bytes[start..]) {
            let line = &bytes[start..start + n];
            start += n + 1;
            match inspect(line) {
                Ok(sealed) if sealed.hash_matches() => lines.push(line.to_vec()),
                _ => {
                    tracing::warn!(path = %self.path.display(), offset = self.offset + (start - n - 1) as u64, "not streaming an audit line that is not a sealed record");
                }
            }
        }
        let rest = bytes.len() - start;
        if rest > MAX_LINE_BYTES {
            // No record is this long: skip it rather than hold it forever.
            start = bytes.len();
        }
        self.offset += start as u64;
        Ok(lines)
    }
}

/// The offset just after the file's last `\n` (0 when it has none).
fn end_of_last_line(file: &File, path: &Path) -> Result<u64, AuditError> {
    let len = file.metadata().map_err(AuditError::io(path))?.len();
    let mut pos = len;
    let mut chunk = vec![0u8; 8192];
    let mut f = file;
    while pos > 0 {
        let n = (chunk.len() as u64).min(pos);
        f.seek(SeekFrom::Start(pos - n))
            .map_err(AuditError::io(path))?;
        f.read_exact(&mut chunk[..n as usize])
            .map_err(AuditError::io(path))?;
        if let Some(i) = memchr::memrchr(b'\n', &chunk[..n as usize]) {
            return Ok(pos - n + i as u64 + 1);
        }
        pos -= n;
    }
    Ok(0)
}
