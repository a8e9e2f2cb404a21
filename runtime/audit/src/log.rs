//! Appending records: one OS-locked, single-write append per record, so many
//! processes and threads can share one log without interleaving or losing
//! lines.

use std::borrow::Borrow;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::chain::seal;
use crate::entry::{Entry, to_record_ref};
use crate::error::AuditError;
use crate::head::{Anchor, head_path, read_head, write_head};
use crate::record::{MAX_LINE_BYTES, Record};
use crate::segment::{is_at_path, open_active, tail_of_newest_segment};
use crate::tail::{Tail, read_tail};
use crate::time::format_rfc3339_millis;

/// How far each append goes before it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` after each record: it survives a power cut. The default,
    /// since an audit record that can vanish is worth less.
    #[default]
    Fsync,
    /// Handed to the kernel only: survives the process dying, not the
    /// machine. For callers that batch or accept that risk.
    Flush,
}

/// An open audit log. Cheap to keep open for a run; each instance holds its
/// own file handles, so threads that want to append concurrently either
/// open one each or share one behind a `Mutex`.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head: File,
    durability: Durability,
    /// The tail this handle last wrote, and the file's length just after:
    /// while the length is unchanged, no other writer has appended and the
    /// tail need not be read back from the file.
    written: Option<(u64, Tail)>,
}

impl AuditLog {
    /// Opens the log, creating it (mode 0600, missing parent folders 0700)
    /// and its head file when they do not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_owned();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            dir_builder()
                .create(parent)
                .map_err(AuditError::io(parent))?;
        }
        let file = open_active(&path)?;
        let head_file = head_path(&path);
        // Not O_APPEND: the head is rewritten at offset 0.
        let head = private_file(OpenOptions::new().read(true).write(true).create(true))
            .truncate(false)
            .open(&head_file)
            .map_err(AuditError::io(&head_file))?;
        let log = AuditLog {
            path,
            file,
            head,
            durability: Durability::default(),
            written: None,
        };
        log.init_head()?;
        Ok(log)
    }

    /// Sets how far each append goes before returning.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and returns it as written (with seq, time, prev
    /// and hash). On [`AuditError::HeadNotUpdated`] the record *is* in the
    /// log (it is in the error); only the anchor lags.
    ///
    /// Under an exclusive lock on the log file: reads the tail to find the
    /// last complete record, writes the new line with a single `write`
    /// (starting with `\n` when a crash left the file without one), makes it
    /// as durable as asked, then updates the head file.
    pub fn append(&mut self, entry: Entry<'_>) -> Result<Record, AuditError> {
        let record = self.append_all(std::iter::once(entry))?;
        Ok(record.expect("one entry makes one record"))
    }

    /// Appends several records under one lock, with one `write` and one
    /// head update: a group commit. The records chain exactly as if they
    /// had been appended one by one, and share the time they were written.
    /// Returns the last record (`None` for no entries). On
    /// [`AuditError::HeadNotUpdated`] all of them are in the log; the error
    /// carries the last.
    pub fn append_all<'a>(
        &mut self,
        entries: impl IntoIterator<Item = Entry<'a>>,
    ) -> Result<Option<Record>, AuditError> {
        // A rotation (see [`crate::rotate`]) may have renamed the file this
        // handle holds into a segment; appending there would fork the
        // chain, so the check is made under the lock, and the handle
        // follows the path to the new active log.
        let _lock = loop {
            let lock = Locked::exclusive(&self.file).map_err(AuditError::io(&self.path))?;
            if is_at_path(&self.file, &self.path).map_err(AuditError::io(&self.path))? {
                break lock;
            }
            drop(lock);
            self.file = open_active(&self.path)?;
            self.written = None;
        };
        let len = self
            .file
            .metadata()
            .map_err(AuditError::io(&self.path))?
            .len();
        let mut tail = match self.written.take() {
            Some((written_len, tail)) if written_len == len => tail,
            _ => {
                let tail = chain_tail(&self.file, &self.path)?;
                self.refuse_if_behind_head(&tail)?;
                tail
            }
        };
        let len = if tail.end < len {
            // A crash cut the last append short. The torn bytes hold no
            // complete record; they are removed, so a torn line can only
            // ever be the last line of a log (which `verify` relies on).
            tracing::warn!(path = %self.path.display(), after_seq = tail.seq, bytes = len - tail.end, "audit log ends in a torn line; removing it before the next record");
            self.file
                .set_len(tail.end)
                .map_err(AuditError::io(&self.path))?;
            tail.end
        } else {
            len
        };
        let time = format_rfc3339_millis(SystemTime::now());
        let mut buf = Vec::new();
        if tail.needs_newline {
            buf.push(b'\n');
        }
        // The batch's last entry, to hand back as an owned record: owning a
        // copy of every record would cost the writer more than the rest.
        let mut last = None;
        let mut canonical = Vec::with_capacity(1024);
        for entry in entries {
            let seq = tail
                .seq
                .checked_add(1)
                .ok_or_else(|| AuditError::CorruptTail {
                    path: self.path.clone(),
                    offset: 0,
                    detail: "the last record's seq is the largest possible".to_owned(),
                })?;
            let record = to_record_ref(entry, seq, &time, &tail.line_hash);
            canonical.clear();
            serde_json::to_writer(&mut canonical, &record)?;
            let (hash, line, line_digest) = seal(&canonical);
            if line.len() > MAX_LINE_BYTES {
                return Err(AuditError::TooLarge {
                    bytes: line.len(),
                    limit: MAX_LINE_BYTES,
                });
            }
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            let prev = std::mem::replace(&mut tail.line_hash, hex::encode(line_digest));
            tail.seq = seq;
            tail.hash = hash.clone();
            tail.needs_newline = false;
            last = Some((entry, seq, prev, hash));
        }
        let Some((entry, seq, prev, hash)) = last else {
            self.written = Some((len, tail));
            return Ok(None);
        };
        let mut last = to_record_ref(entry, seq, &time, &prev).to_owned_record();
        last.hash = hash;
        let io = AuditError::io(&self.path);
        (&self.file).write_all(&buf).map_err(io)?;
        tail.end = len + buf.len() as u64;
        match self.durability {
            Durability::Fsync => self.file.sync_data(),
            Durability::Flush => (&self.file).flush(),
        }
        .map_err(AuditError::io(&self.path))?;
        let anchor = Anchor {
            seq: last.seq,
            hash: last.hash.clone(),
        };
        self.written = Some((len + buf.len() as u64, tail));
        if let Err(source) = write_head(&self.head, &anchor) {
            return Err(AuditError::HeadNotUpdated {
                path: head_path(&self.path),
                record: Box::new(last),
                source,
            });
        }
        Ok(Some(last))
    }

    /// Makes every record appended so far survive a power cut
    /// (`fdatasync`): what a [`Durability::Flush`] writer calls at the
    /// points that matter, such as the start and end of a run.
    pub fn sync(&self) -> Result<(), AuditError> {
        self.file.sync_data().map_err(AuditError::io(&self.path))
    }

    /// The head is written only after its record is durable, so it can lag
    /// behind the log but never run ahead of it: a head naming a later
    /// record than the log holds means records were cut off (a truncated
    /// file, a deleted segment). An unreadable head is left to `verify`.
    fn refuse_if_behind_head(&self, tail: &Tail) -> Result<(), AuditError> {
        if let Ok(Some(head)) = read_head(&head_path(&self.path))
            && head.seq > tail.seq
        {
            return Err(AuditError::BehindHead {
                path: self.path.clone(),
                head_seq: head.seq,
                last_seq: tail.seq,
            });
        }
        Ok(())
    }

    /// Gives a new head file its first contents, from the log's tail (the
    /// empty anchor for a new log), under the lock so that a concurrent
    /// append's head is never overwritten by an older one.
    fn init_head(&self) -> Result<(), AuditError> {
        let head_file = head_path(&self.path);
        let is_empty = |file: &File| file.metadata().map(|m| m.len() == 0);
        if !is_empty(&self.head).map_err(AuditError::io(&head_file))? {
            return Ok(());
        }
        let _lock = Locked::exclusive(&self.file).map_err(AuditError::io(&self.path))?;
        if !is_empty(&self.head).map_err(AuditError::io(&head_file))? {
            return Ok(());
        }
        let tail = chain_tail(&self.file, &self.path)?;
        let anchor = Anchor {
            seq: tail.seq,
            hash: tail.hash,
        };
        write_head(&self.head, &anchor).map_err(AuditError::io(&head_file))
    }
}

/// What the next record in the active log chains from: its own last
/// record, or, while it holds none (just after a rotation), the newest
/// segment's.
pub(crate) fn chain_tail(file: &File, path: &Path) -> Result<Tail, AuditError> {
    let tail = read_tail(file, path)?;
    if tail.seq != 0 {
        return Ok(tail);
    }
    Ok(match tail_of_newest_segment(path)? {
        // `end` stays the active log's: any torn bytes there are dropped.
        Some(segment) => Tail {
            end: tail.end,
            ..segment
        },
        None => tail,
    })
}

/// An OS file lock (`flock` on Linux) held until dropped. It excludes other
/// processes and other handles in this process alike. It holds the file
/// itself (`File`) or a borrow of it (`&File`).
pub(crate) struct Locked<F: Borrow<File>>(Option<F>);

impl<F: Borrow<File>> Locked<F> {
    pub(crate) fn exclusive(file: F) -> std::io::Result<Self> {
        file.borrow().lock()?;
        Ok(Locked(Some(file)))
    }

    pub(crate) fn shared(file: F) -> std::io::Result<Self> {
        file.borrow().lock_shared()?;
        Ok(Locked(Some(file)))
    }

    /// Releases the lock and hands the file back.
    pub(crate) fn unlock(mut self) -> F {
        let file = self.0.take().expect("a held lock has its file");
        let _ = file.borrow().unlock();
        file
    }
}

impl<F: Borrow<File>> std::ops::Deref for Locked<F> {
    type Target = File;

    fn deref(&self) -> &File {
        self.0.as_ref().expect("a held lock has its file").borrow()
    }
}

impl<F: Borrow<File>> Drop for Locked<F> {
    fn drop(&mut self) {
        // Closing the file would release it too; an error here leaves
        // nothing to do.
        if let Some(file) = &self.0 {
            let _ = file.borrow().unlock();
        }
    }
}

/// Makes a new file's directory entry durable, so a power cut right after
/// the first fsynced append cannot lose the whole file. Best effort: some
/// platforms cannot open a directory for syncing.
pub(crate) fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

#[cfg(unix)]
fn dir_builder() -> DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
}

#[cfg(not(unix))]
fn dir_builder() -> DirBuilder {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    builder
}

#[cfg(unix)]
pub(crate) fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600)
}

#[cfg(not(unix))]
pub(crate) fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}
