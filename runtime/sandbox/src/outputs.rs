//! The `[outputs]` capability as one self-contained unit: it checks the
//! manifest's request against the operator's ceiling, creates a fresh
//! folder for the run, adds it to the run's WASI context as the only
//! preopened directory (`/outputs` inside the plugin), watches its size
//! while the plugin runs, and lists what the plugin left there.
//!
//! A plugin without `[outputs]` gets no preopen at all, so no filesystem.
//!
//! # How the cap is enforced
//!
//! Where the host implements the filesystem ([`crate::host::filesystem`]):
//! every byte written through any descriptor is charged to the run's
//! [`Meter`] before it is written, and so is every file or folder created.
//! The write that would cross either cap is refused and stops the plugin
//! with `outputs-limit`; bytes overwritten or deleted are not given back, so
//! a plugin cannot write without bound into a file it unlinked. No link of
//! any kind can be made in the folder.
//!
//! When the plugin returns, the folder is walked (never following links)
//! to list every entry it left for the operator. The folder is kept after
//! a failed run, so the operator can see what was written.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use exorun_policy::Outputs;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The folder's path inside the plugin.
pub const GUEST_PATH: &str = "/outputs";

/// Raised (as a trap, or as the run's outcome) when the folder is over its cap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct OutputsLimitExceeded {
    pub folder: PathBuf,
    pub bytes: u64,
    pub entries: u64,
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl OutputsLimitExceeded {
    fn describe(&self) -> String {
        if self.entries > self.max_entries {
            format!(
                "the plugin wrote more than {} files and folders into {} ([outputs] max-files)",
                self.max_entries,
                self.folder.display()
            )
        } else {
            format!(
                "the plugin wrote more than {} bytes into {} ([outputs] max-mib)",
                self.max_bytes,
                self.folder.display()
            )
        }
    }
}

/// What an entry the plugin left is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    File,
    Folder,
}

/// One entry the plugin left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Relative to the folder, `/`-separated.
    pub name: String,
    pub bytes: u64,
    pub kind: OutputKind,
}

/// What a run has written into its folder: bytes and entries, counted as
/// they are written and never given back. Shared by the run's filesystem
/// host and its streams.
#[derive(Debug)]
pub struct Meter {
    folder: PathBuf,
    bytes: AtomicU64,
    entries: AtomicU64,
    max_bytes: u64,
    max_entries: u64,
    tripped: AtomicBool,
}

impl Meter {
    fn new(folder: PathBuf, max_bytes: u64, max_entries: u64) -> Meter {
        Meter {
            folder,
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            max_bytes,
            max_entries,
            tripped: AtomicBool::new(false),
        }
    }

    /// Takes `bytes` of the cap, or says no (and remembers it).
    pub fn charge_bytes(&self, bytes: u64) -> bool {
        self.charge(&self.bytes, bytes, self.max_bytes)
    }

    /// Takes one entry of the cap, or says no (and remembers it).
    pub fn charge_entry(&self) -> bool {
        self.charge(&self.entries, 1, self.max_entries)
    }

    fn charge(&self, counter: &AtomicU64, amount: u64, max: u64) -> bool {
        let ok = counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(amount).filter(|&total| total <= max)
            })
            .is_ok();
        if !ok {
            // Recorded past the cap, so the error reports what was tried.
            counter.fetch_add(amount.min(u64::MAX - max), Ordering::SeqCst);
            self.tripped.store(true, Ordering::SeqCst);
        }
        ok
    }

    /// The error that stops the plugin.
    pub fn exceeded(&self) -> OutputsLimitExceeded {
        OutputsLimitExceeded {
            folder: self.folder.clone(),
            bytes: self.bytes.load(Ordering::SeqCst),
            entries: self.entries.load(Ordering::SeqCst),
            max_bytes: self.max_bytes,
            max_entries: self.max_entries,
        }
    }

    fn check(&self) -> Result<(), OutputsLimitExceeded> {
        if self.tripped.load(Ordering::SeqCst) {
            Err(self.exceeded())
        } else {
            Ok(())
        }
    }
}

/// The folder after the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputsReport {
    pub folder: PathBuf,
    pub files: Vec<OutputFile>,
    pub bytes: u64,
}

/// One run's outputs folder.
pub(crate) struct OutputsFolder {
    folder: PathBuf,
    meter: Arc<Meter>,
}

impl OutputsFolder {
    /// Creates the run's folder, which must not exist yet (its parent is
    /// created, private to the user, when missing).
    pub fn create(spec: &Outputs, folder: PathBuf) -> std::io::Result<OutputsFolder> {
        if let Some(parent) = folder.parent() {
            private_dir_builder(true).create(parent)?;
        }
        private_dir_builder(false).create(&folder)?;
        Ok(OutputsFolder {
            meter: Arc::new(Meter::new(folder.clone(), spec.max_bytes(), spec.max_files)),
            folder,
        })
    }

    /// The meter the run's filesystem host charges.
    pub fn meter(&self) -> Arc<Meter> {
        self.meter.clone()
    }

    /// Adds the folder to the run's WASI context, read-write, as its only
    /// preopened directory.
    pub fn add_to(&self, builder: &mut WasiCtxBuilder) -> wasmtime::Result<()> {
        builder.preopened_dir(&self.folder, GUEST_PATH, FsPerms::ReadWrite)?;
        Ok(())
    }

    #[cfg(test)]
    pub fn folder(&self) -> &std::path::Path {
        &self.folder
    }

    /// Fails once a write was refused for crossing the cap (the trap that
    /// refused it may have been caught by a language runtime).
    pub fn check(&self) -> Result<(), OutputsLimitExceeded> {
        self.meter.check()
    }

    /// After the run: every entry the plugin left, listed, and whether it
    /// stayed within its caps.
    pub fn finish(&self) -> (OutputsReport, Result<(), OutputsLimitExceeded>) {
        let mut files = self.list();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let bytes = files.iter().map(|f| f.bytes).sum();
        let report = OutputsReport {
            folder: self.folder.clone(),
            files,
            bytes,
        };
        (report, self.meter.check())
    }

    /// Walks the folder without following links. Entries that are neither
    /// files nor folders cannot be made through the plugin's filesystem;
    /// should one appear anyway it is listed as a file of its length.
    fn list(&self) -> Vec<OutputFile> {
        let mut found = Vec::new();
        let mut stack = vec![self.folder.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = path.symlink_metadata() else {
                    continue;
                };
                let name = path
                    .strip_prefix(&self.folder)
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                if meta.is_dir() {
                    stack.push(path);
                    found.push(OutputFile {
                        name,
                        bytes: 0,
                        kind: OutputKind::Folder,
                    });
                } else {
                    found.push(OutputFile {
                        name,
                        bytes: meta.len(),
                        kind: OutputKind::File,
                    });
                }
            }
        }
        found
    }
}

#[cfg(unix)]
fn private_dir_builder(recursive: bool) -> std::fs::DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(recursive).mode(0o700);
    builder
}

#[cfg(not(unix))]
fn private_dir_builder(recursive: bool) -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(recursive);
    builder
}

/// A folder no other run of this process (or an earlier one) uses.
pub(crate) fn unique_folder(root: &std::path::Path, plugin: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    root.join(plugin).join(format!(
        "{nanos}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(max_mib: u64, max_files: u64) -> (tempfile::TempDir, OutputsFolder) {
        let dir = tempfile::tempdir().unwrap();
        let out =
            OutputsFolder::create(&Outputs { max_mib, max_files }, dir.path().join("runs/one"))
                .unwrap();
        (dir, out)
    }

    #[test]
    fn the_folder_must_be_fresh() {
        let (dir, _out) = folder(1, 10);
        let again = OutputsFolder::create(&Outputs::default(), dir.path().join("runs/one"));
        assert_eq!(
            again.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AlreadyExists)
        );
    }

    #[test]
    fn files_and_folders_are_listed_sorted_with_their_sizes() {
        let (_dir, out) = folder(1, 10);
        std::fs::write(out.folder().join("b.csv"), "12345").unwrap();
        std::fs::create_dir(out.folder().join("sub")).unwrap();
        std::fs::create_dir(out.folder().join("empty")).unwrap();
        std::fs::write(out.folder().join("sub/a.json"), "{}").unwrap();
        let (report, result) = out.finish();
        assert_eq!(result, Ok(()));
        let listed: Vec<(&str, u64, OutputKind)> = report
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.bytes, f.kind))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("b.csv", 5, OutputKind::File),
                ("empty", 0, OutputKind::Folder),
                ("sub", 0, OutputKind::Folder),
                ("sub/a.json", 2, OutputKind::File),
            ]
        );
        assert_eq!(report.bytes, 7);
    }

    #[test]
    fn the_meter_refuses_the_write_that_crosses_the_cap_naming_max_mib() {
        let (_dir, out) = folder(1, 10);
        let meter = out.meter();
        assert!(meter.charge_bytes(1 << 20));
        assert!(!meter.charge_bytes(1));
        let error = out.check().unwrap_err();
        assert_eq!(error.bytes, (1 << 20) + 1);
        assert!(
            error.to_string().contains("more than 1048576 bytes"),
            "{error}"
        );
        assert!(error.to_string().ends_with("([outputs] max-mib)"));
    }

    #[test]
    fn bytes_written_are_never_given_back() {
        let (_dir, out) = folder(1, 10);
        let meter = out.meter();
        for _ in 0..16 {
            assert!(meter.charge_bytes(64 << 10));
        }
        assert!(!meter.charge_bytes(1), "a deleted file's bytes still count");
    }

    #[test]
    fn too_many_entries_are_refused_naming_max_files() {
        let (_dir, out) = folder(1, 3);
        let meter = out.meter();
        for _ in 0..3 {
            assert!(meter.charge_entry());
        }
        assert!(!meter.charge_entry());
        let error = out.check().unwrap_err();
        assert_eq!(error.entries, 4);
        assert!(
            error.to_string().ends_with("([outputs] max-files)"),
            "{error}"
        );
    }
}
