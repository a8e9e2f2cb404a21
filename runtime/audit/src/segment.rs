//! Rotating the log into segments without breaking the chain.
//!
//! A long-running service cannot let one file grow forever, yet a chain
//! that restarts in each file would let whole files be dropped unseen.
//! So rotation only renames: the active log `audit.jsonl` becomes the
//! segment `audit.jsonl.<seq of its last record, 20 digits>` and a new,
//! empty active log takes its place. The next record, in the new file,
//! chains from the segment's last line exactly as if no file boundary were
//! there (its `seq` is one more, its `prev` the hash of that line), and
//! the one head file keeps naming the newest record of all. [`crate::verify`]
//! reads the segments in order and then the active log, as one chain.
//!
//! Rotation happens under the log's exclusive lock. A writer holding the
//! old file open notices, under the same lock, that its file is no longer
//! the one at the log's path, and reopens it before it appends (see
//! [`crate::AuditLog`]); so writers in other processes (a CLI run beside
//! the service) never append to a segment.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::AuditError;
use crate::log::{Locked, private_file, sync_parent};
use crate::tail::{Tail, read_tail};

/// Digits of the seq in a segment's name: every `u64` fits, and names sort
/// as their numbers do.
const SEQ_DIGITS: usize = 20;

/// The segment that holds records up to `last_seq`.
pub fn segment_path(log: &Path, last_seq: u64) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{last_seq:0SEQ_DIGITS$}"));
    PathBuf::from(name)
}

/// The log's segments, oldest first, with the seq of each one's last
/// record. Other files beside the log (its head, unrelated files) are not
/// segments.
pub fn segments(log: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let Some(name) = log.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let dir = match log.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(AuditError::io(dir))?;
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(name))
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        if rest.len() == SEQ_DIGITS
            && rest.bytes().all(|b| b.is_ascii_digit())
            && let Ok(seq) = rest.parse::<u64>()
        {
            found.push((seq, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// What the next record chains from when the active log holds no record
/// yet: the newest segment's last record (the empty tail without one).
pub(crate) fn tail_of_newest_segment(log: &Path) -> Result<Option<Tail>, AuditError> {
    let Some((_, newest)) = segments(log)?.pop() else {
        return Ok(None);
    };
    let file = File::open(&newest).map_err(AuditError::io(&newest))?;
    let mut tail = read_tail(&file, &newest)?;
    // The tail's position is the segment's; the caller writes to the
    // active log, which is empty.
    tail.end = 0;
    tail.needs_newline = false;
    Ok(Some(tail))
}

/// True when `file` is still the file at `path` (not renamed into a
/// segment since it was opened).
#[cfg(unix)]
pub(crate) fn is_at_path(file: &File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(open.dev() == now.dev() && open.ino() == now.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
pub(crate) fn is_at_path(_file: &File, _path: &Path) -> std::io::Result<bool> {
    Ok(true)
}

/// Opens the active log with `options` and locks it, shared or exclusive.
/// A rotation can rename the file between the open and the lock; then it
/// is opened again, so the file returned is the one at `path` for as long
/// as the lock is held.
pub(crate) fn open_locked(
    path: &Path,
    options: &OpenOptions,
    exclusive: bool,
) -> std::io::Result<Locked<File>> {
    loop {
        let file = options.open(path)?;
        let locked = if exclusive {
            Locked::exclusive(file)?
        } else {
            Locked::shared(file)?
        };
        if is_at_path(&locked, path)? {
            return Ok(locked);
        }
    }
}

/// Opens (creating) the active log the way every writer does.
pub(crate) fn open_active(path: &Path) -> Result<File, AuditError> {
    let existed = path.exists();
    let file = private_file(OpenOptions::new().read(true).append(true).create(true))
        .open(path)
        .map_err(AuditError::io(path))?;
    if !existed {
        sync_parent(path);
    }
    Ok(file)
}

/// Closes the active log as a segment and starts an empty one. Returns the
/// segment's path, or `None` when the active log holds no record (there is
/// nothing to rotate) or does not exist.
///
/// A torn line at the end of the active log (an append a crash cut short)
/// is removed first, as the next append would do, so a segment always ends
/// in a complete record.
pub fn rotate(log: impl AsRef<Path>) -> Result<Option<PathBuf>, AuditError> {
    let log = log.as_ref();
    let file = match open_locked(log, OpenOptions::new().read(true).append(true), true) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io(log)(e)),
    };
    let tail = read_tail(&file, log)?;
    if tail.seq == 0 {
        return Ok(None);
    }
    let len = file.metadata().map_err(AuditError::io(log))?.len();
    if tail.end < len {
        file.set_len(tail.end).map_err(AuditError::io(log))?;
    }
    file.sync_all().map_err(AuditError::io(log))?;
    let segment = segment_path(log, tail.seq);
    if segment.exists() {
        return Err(AuditError::Io {
            path: segment,
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a segment for these records exists already; the log's chain is not what \
                 rotation expects, run `exorun audit verify`",
            ),
        });
    }
    std::fs::rename(log, &segment).map_err(AuditError::io(log))?;
    // The empty successor, so that readers and writers find a log at the
    // path at once; the lock on the renamed file is held until then.
    open_active(log)?;
    sync_parent(log);
    Ok(Some(segment))
}
