//! Reading records back for `exorun audit show`: a streaming, filtering
//! iterator. It does not verify (that is [`crate::verify`]'s job) and
//! passes over torn lines silently, since they hold no record.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::chain::looks_torn;
use crate::error::AuditError;
use crate::record::MAX_LINE_BYTES;
use crate::record::Record;
use crate::segment::{open_locked, segments};
use crate::time::format_rfc3339_millis;

/// Which records to return; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub run_id: Option<String>,
    /// Plugin name, compared ignoring ASCII case.
    pub plugin: Option<String>,
    /// Records at or after this time.
    pub since: Option<SystemTime>,
}

/// Records of a log matching a filter, read one line at a time: its
/// segments, oldest first, then the active file.
pub struct Query {
    path: PathBuf,
    reader: BufReader<File>,
    /// Files still to read after the current one (the active log last,
    /// already open so that a rotation meanwhile cannot hide it).
    rest: std::vec::IntoIter<(PathBuf, Option<File>)>,
    filter: Filter,
    /// `since` in the records' own fixed-width format: record times compare
    /// as strings.
    since: Option<String>,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

/// Opens a log for reading with a filter.
pub fn query(path: impl AsRef<Path>, filter: Filter) -> Result<Query, AuditError> {
    let log = path.as_ref().to_owned();
    // Listed under the lock, so that no rotation moves a file meanwhile.
    let locked =
        open_locked(&log, OpenOptions::new().read(true), false).map_err(AuditError::io(&log))?;
    let segments = segments(&log)?;
    let active = locked.unlock();
    let mut files: Vec<(PathBuf, Option<File>)> =
        segments.into_iter().map(|(_, path)| (path, None)).collect();
    files.push((log, Some(active)));
    let mut rest = files.into_iter();
    let (path, file) = rest.next().expect("the active log is always there");
    let file = match file {
        Some(file) => file,
        None => File::open(&path).map_err(AuditError::io(&path))?,
    };
    Ok(Query {
        since: filter.since.map(format_rfc3339_millis),
        filter,
        reader: BufReader::with_capacity(128 * 1024, file),
        rest,
        path,
        line: 0,
        buf: Vec::new(),
        done: false,
    })
}

impl Query {
    fn matches(&self, record: &Record) -> bool {
        self.filter
            .run_id
            .as_ref()
            .is_none_or(|id| *id == record.run_id)
            && self
                .filter
                .plugin
                .as_ref()
                .is_none_or(|name| name.eq_ignore_ascii_case(&record.plugin.name))
            && self
                .since
                .as_ref()
                .is_none_or(|since| record.time >= *since)
    }

    fn malformed(&mut self, detail: String) -> Option<Result<Record, AuditError>> {
        self.done = true;
        Some(Err(AuditError::Malformed {
            path: self.path.clone(),
            line: self.line,
            detail,
        }))
    }
}

impl Iterator for Query {
    type Item = Result<Record, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf);
            let n = match read {
                Ok(0) => {
                    let (path, file) = self.rest.next()?;
                    let file = match file {
                        Some(file) => file,
                        None => match File::open(&path) {
                            Ok(file) => file,
                            Err(e) => {
                                self.done = true;
                                return Some(Err(AuditError::io(&path)(e)));
                            }
                        },
                    };
                    self.reader = BufReader::with_capacity(128 * 1024, file);
                    self.path = path;
                    self.line = 0;
                    continue;
                }
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(AuditError::io(&self.path)(e)));
                }
            };
            self.line += 1;
            if self.buf.last() != Some(&b'\n') && n > MAX_LINE_BYTES {
                return self.malformed(format!("line longer than {MAX_LINE_BYTES} bytes"));
            }
            let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            match serde_json::from_slice::<Record>(line) {
                Ok(record) if self.matches(&record) => return Some(Ok(record)),
                Ok(_) => {}
                Err(_) if looks_torn(line, None) => {}
                Err(e) => return self.malformed(e.to_string()),
            }
        }
        None
    }
}
