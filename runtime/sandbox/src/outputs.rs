//! The `[outputs]` capability as one self-contained unit: it checks the
//! manifest's request against the operator's ceiling, creates a fresh
//! folder for the run, adds it to the run's WASI context as the only
//! preopened directory (`/outputs` inside the plugin), watches its size
//! while the plugin runs, and lists what the plugin left there.
//!
//! A plugin without `[outputs]` gets no preopen at all, so no filesystem.
//!
//! # How the cap is enforced, and its limits
//!
//! wasmtime-wasi has no quotas, so the folder is measured: its files'
//! lengths (a sparse file counts whole) and its entries (files, folders,
//! links) are summed by a walk that never follows links.
//!
//! * While the plugin runs, at most every [`CHECK_INTERVAL`] of its own
//!   execution (from the epoch tick that also drives the timeout), and
//!   after every cmdlet call. Past the cap the plugin is stopped with the
//!   `outputs-limit` error.
//! * When the plugin returns, once more, exactly; a folder over the cap
//!   fails the run with `outputs-limit` even if the plugin said ok.
//!
//! What this does not do: stop a single write in flight. Between two
//! checks a plugin can write what its disk allows in [`CHECK_INTERVAL`]
//! plus one host call; one WASI write is bounded by the plugin's memory
//! (`[limits] memory-mib`), so the overshoot is bounded but not zero.
//! Point the operator's outputs folder at a filesystem with room for the
//! cap plus that margin. The folder is kept after a failed run, so the
//! operator can see what was written.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use exorun_policy::Outputs;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The folder's path inside the plugin.
pub const GUEST_PATH: &str = "/outputs";

/// How much plugin execution may pass between two measurements.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(50);

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

/// One file the plugin left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Relative to the folder, `/`-separated.
    pub name: String,
    pub bytes: u64,
}

/// The folder after the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputsReport {
    pub folder: PathBuf,
    pub files: Vec<OutputFile>,
    pub bytes: u64,
}

/// Size of the folder at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    entries: u64,
}

/// One run's outputs folder.
pub(crate) struct OutputsFolder {
    folder: PathBuf,
    max_bytes: u64,
    max_entries: u64,
    last_check: Instant,
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
            folder,
            max_bytes: spec.max_bytes(),
            max_entries: spec.max_files,
            last_check: Instant::now(),
        })
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

    /// Measures the folder when [`CHECK_INTERVAL`] has passed since the
    /// last measurement.
    pub fn check_due(&mut self) -> Result<(), OutputsLimitExceeded> {
        if self.last_check.elapsed() < CHECK_INTERVAL {
            return Ok(());
        }
        self.check()
    }

    /// Measures the folder now.
    pub fn check(&mut self) -> Result<(), OutputsLimitExceeded> {
        self.last_check = Instant::now();
        self.measure(None).map(drop)
    }

    /// The final measurement, listing the files.
    pub fn finish(&self) -> (OutputsReport, Result<(), OutputsLimitExceeded>) {
        let mut files = Vec::new();
        let result = self.measure(Some(&mut files));
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let bytes = files.iter().map(|f| f.bytes).sum();
        let report = OutputsReport {
            folder: self.folder.clone(),
            files,
            bytes,
        };
        (report, result.map(drop))
    }

    /// Walks the folder without following links, stopping as soon as it
    /// is over either cap. Entries that vanish during the walk (the
    /// plugin deleting them) are skipped.
    fn measure(
        &self,
        mut files: Option<&mut Vec<OutputFile>>,
    ) -> Result<Usage, OutputsLimitExceeded> {
        let mut usage = Usage::default();
        let mut stack = vec![self.folder.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.path().symlink_metadata() else {
                    continue;
                };
                usage.entries += 1;
                if meta.is_dir() {
                    stack.push(entry.path());
                } else {
                    usage.bytes = usage.bytes.saturating_add(meta.len());
                    if meta.is_file()
                        && let Some(files) = files.as_deref_mut()
                    {
                        let name = entry
                            .path()
                            .strip_prefix(&self.folder)
                            .map(|p| p.to_string_lossy().replace('\\', "/"))
                            .unwrap_or_default();
                        files.push(OutputFile {
                            name,
                            bytes: meta.len(),
                        });
                    }
                }
                if usage.bytes > self.max_bytes || usage.entries > self.max_entries {
                    return Err(OutputsLimitExceeded {
                        folder: self.folder.clone(),
                        bytes: usage.bytes,
                        entries: usage.entries,
                        max_bytes: self.max_bytes,
                        max_entries: self.max_entries,
                    });
                }
            }
        }
        Ok(usage)
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
    fn files_are_listed_sorted_with_their_sizes_including_subfolders() {
        let (_dir, out) = folder(1, 10);
        std::fs::write(out.folder().join("b.csv"), "12345").unwrap();
        std::fs::create_dir(out.folder().join("sub")).unwrap();
        std::fs::write(out.folder().join("sub/a.json"), "{}").unwrap();
        let (report, result) = out.finish();
        assert_eq!(result, Ok(()));
        assert_eq!(
            report.files,
            vec![
                OutputFile {
                    name: "b.csv".into(),
                    bytes: 5
                },
                OutputFile {
                    name: "sub/a.json".into(),
                    bytes: 2
                },
            ]
        );
        assert_eq!(report.bytes, 7);
    }

    #[test]
    fn a_folder_over_its_bytes_is_refused_naming_max_mib() {
        let (_dir, mut out) = folder(1, 10);
        std::fs::write(out.folder().join("big"), vec![0u8; (1 << 20) + 1]).unwrap();
        let error = out.check().unwrap_err();
        assert_eq!(error.bytes, (1 << 20) + 1);
        assert!(
            error.to_string().contains("more than 1048576 bytes"),
            "{error}"
        );
        assert!(error.to_string().ends_with("([outputs] max-mib)"));
    }

    #[test]
    fn a_sparse_file_counts_at_its_full_length() {
        let (_dir, mut out) = folder(1, 10);
        let file = std::fs::File::create(out.folder().join("sparse")).unwrap();
        file.set_len(1 << 30).unwrap();
        assert_eq!(out.check().unwrap_err().bytes, 1 << 30);
    }

    #[test]
    fn too_many_entries_are_refused_naming_max_files() {
        let (_dir, mut out) = folder(1, 3);
        for i in 0..4 {
            std::fs::write(out.folder().join(format!("f{i}")), "").unwrap();
        }
        let error = out.check().unwrap_err();
        assert_eq!(error.entries, 4);
        assert!(
            error.to_string().ends_with("([outputs] max-files)"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_are_counted_but_never_followed() {
        let (dir, mut out) = folder(1, 10);
        let outside = dir.path().join("outside.bin");
        std::fs::write(&outside, vec![0u8; 2 << 20]).unwrap();
        std::os::unix::fs::symlink(&outside, out.folder().join("link")).unwrap();
        assert_eq!(out.check(), Ok(()));
    }
}
