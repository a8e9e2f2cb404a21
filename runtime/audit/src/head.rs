//! The head file: `<log>.head`, holding the seq and hash of the last record.
//!
//! A hash chain proves that no record was changed, removed or reordered,
//! but not that none was cut off the end: a log truncated after record 90
//! of 100 is a perfectly good chain of 90. The head is the anchor that
//! catches that. It is rewritten under the log's lock after every append,
//! and [`crate::verify`] checks that the log still holds that record.
//!
//! It is written after the log line is durable and is not itself fsynced:
//! after a crash it can only lag behind the log (harmless: the log may run
//! ahead of the head), never point past it. Anyone who can rewrite both
//! files can defeat it; copying the head elsewhere (another host, a ticket)
//! and passing it back as [`crate::VerifyOptions::expect_last`] is what makes
//! it an anchor an attacker on this machine cannot move.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A record a log must contain: its seq and its `hash`. Seq 0 (with any
/// hash) anchors nothing, as in a new, empty log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

/// The head file of a log: the log's path with `.head` added.
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// Replaces the head file's contents; the caller holds the log's lock.
pub(crate) fn write_head(mut file: &File, anchor: &Anchor) -> std::io::Result<()> {
    let mut content = serde_json::to_vec(anchor).map_err(std::io::Error::other)?;
    // Padded to a fixed width, so that every update overwrites the whole
    // previous head in place: no truncation (an inode update) per append.
    if content.len() < HEAD_WIDTH {
        content.resize(HEAD_WIDTH, b' ');
    }
    content.push(b'\n');
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&content)?;
    if file.metadata()?.len() != content.len() as u64 {
        file.set_len(content.len() as u64)?;
    }
    Ok(())
}

/// Bytes of a head line before its newline: room for any `seq` and hash.
const HEAD_WIDTH: usize = 120;

/// Reads a head file: `Ok(None)` when it does not exist or is empty.
pub(crate) fn read_head(path: &Path) -> Result<Option<Anchor>, String> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut text = String::new();
    // A head is one short line; anything longer is not one.
    (&mut file)
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let anchor: Anchor = serde_json::from_str(text.trim_end()).map_err(|e| e.to_string())?;
    if anchor.hash.len() != 64 || !anchor.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("hash {:?} is not 64 hex digits", anchor.hash));
    }
    Ok(Some(anchor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ZERO_HASH;

    #[test]
    fn the_head_sits_beside_the_log() {
        assert_eq!(
            head_path(Path::new("/a/audit.jsonl")),
            PathBuf::from("/a/audit.jsonl.head")
        );
    }

    #[test]
    fn a_written_head_reads_back_and_a_shorter_one_replaces_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.head");
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let long = Anchor {
            seq: 123_456,
            hash: "ab".repeat(32),
        };
        write_head(&file, &long).unwrap();
        assert_eq!(read_head(&path).unwrap(), Some(long));
        let short = Anchor {
            seq: 1,
            hash: ZERO_HASH.to_owned(),
        };
        write_head(&file, &short).unwrap();
        assert_eq!(read_head(&path).unwrap(), Some(short));
    }

    #[test]
    fn a_missing_or_empty_head_is_none_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.head");
        assert_eq!(read_head(&path).unwrap(), None);
        std::fs::write(&path, "").unwrap();
        assert_eq!(read_head(&path).unwrap(), None);
        std::fs::write(&path, "not json").unwrap();
        assert!(read_head(&path).is_err());
        std::fs::write(&path, r#"{"seq":1,"hash":"xyz"}"#).unwrap();
        assert_eq!(
            read_head(&path).unwrap_err(),
            r#"hash "xyz" is not 64 hex digits"#
        );
    }
}
