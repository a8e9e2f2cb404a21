//! `exorun build`: turns a plugin folder's source into the component its
//! manifest names, and pins the component's SHA-256 in the manifest.
//!
//! The digest in `exorun.toml` is what a reviewer approves: the host refuses
//! to run a component whose digest differs. `--check` mode verifies instead
//! of writing, for CI.

#![forbid(unsafe_code)]

pub mod bundled;
mod digest;
mod js;
mod python;
mod rust;
mod toolchain;
mod wit;

use std::path::{Path, PathBuf};
use std::process::Command;

use exorun_policy::Manifest;

pub use digest::{DigestStatus, record_digest, sha256_file};
pub use toolchain::Toolchain;
pub use wit::AUTOMATION_WIT;

/// What a plugin is written in, detected from the files in its folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
}

impl Language {
    /// `Cargo.toml` means Rust, `package.json` JavaScript, `app.py` Python.
    pub fn detect(dir: &Path) -> Option<Language> {
        [
            ("Cargo.toml", Language::Rust),
            ("package.json", Language::JavaScript),
            ("app.py", Language::Python),
        ]
        .into_iter()
        .find(|(file, _)| dir.join(file).is_file())
        .map(|(_, language)| language)
    }

    /// Whether building the same source twice gives the same bytes. Python
    /// and JavaScript components embed a heap snapshot of the started
    /// interpreter (componentize-py 0.25, componentize-js 0.23), which
    /// differs between builds.
    pub fn reproducible(self) -> bool {
        matches!(self, Language::Rust)
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Write the component here instead of where the manifest says (tests
    /// use this to leave the source tree untouched).
    pub out: Option<PathBuf>,
    /// Verify the manifest's pinned digest instead of recording it.
    pub check: bool,
}

/// The result of a build.
#[derive(Clone, Debug)]
pub struct Built {
    pub component: PathBuf,
    pub sha256: String,
    pub language: Language,
    pub digest: DigestStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Manifest(#[from] exorun_policy::ManifestError),
    #[error(
        "{} holds no Cargo.toml (Rust), package.json (JavaScript) or app.py (Python) next to exorun.toml, so its language is unknown",
        dir.display()
    )]
    UnknownLanguage { dir: PathBuf },
    #[error(
        "--check rebuilds the component and compares digests, but {language} builds are not bit-for-bit reproducible (the toolchain snapshots a started interpreter, whose memory differs from build to build), so it cannot verify this plugin; verify the pinned component itself instead: `exorun inspect` checks the file against the manifest's sha256"
    )]
    NotReproducible { language: Language },
    #[error("building a {language} plugin needs {what}; {hint}")]
    SdkMissing {
        language: &'static str,
        what: String,
        hint: String,
    },
    #[error("`{command}` could not be started: {source}; {hint}")]
    ToolMissing {
        command: String,
        hint: &'static str,
        source: std::io::Error,
    },
    #[error("`{command}` failed:\n{output}")]
    ToolFailed { command: String, output: String },
    #[error("{0}")]
    Output(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} pins sha256 {expected}, but the component built from source has {actual}; run `exorun build` and review the change",
        manifest.display()
    )]
    DigestMismatch {
        manifest: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot update {}: {message}", path.display())]
    Edit { path: PathBuf, message: String },
    #[error(
        "the component {} is outside the plugin folder {}, so a runnable copy cannot name it; keep the component inside the plugin folder",
        component.display(),
        dir.display()
    )]
    ComponentOutsidePlugin { component: PathBuf, dir: PathBuf },
}

/// Builds the plugin in `dir` into `out_dir`, leaving `dir` untouched: the
/// component goes where the manifest names it, relative to `out_dir`, and
/// a copy of the manifest beside it pins the component's digest. The
/// result runs as any plugin folder does (`exorun run OUT_DIR`).
///
/// This keeps build outputs and local pins out of a source tree under
/// version control (Python and JavaScript builds are not reproducible, so a
/// pin written into the tracked manifest would change on every build).
/// Parallel builds of the same plugin never see half-written files: both
/// files are written aside and renamed into place.
pub fn build_into(dir: &Path, out_dir: &Path) -> Result<Built, BuildError> {
    let manifest = Manifest::load(dir)?;
    let plugin_dir = manifest
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    let relative = manifest
        .plugin
        .component
        .strip_prefix(&plugin_dir)
        .ok()
        .filter(|r| {
            r.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| BuildError::ComponentOutsidePlugin {
            component: manifest.plugin.component.clone(),
            dir: plugin_dir.clone(),
        })?;
    let component = out_dir.join(&relative);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let parent = component.parent().unwrap_or(out_dir);
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staged_component = parent.join(format!(
        ".{}.{}.tmp",
        relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut built = build(
        dir,
        &BuildOptions {
            out: Some(staged_component.clone()),
            check: false,
        },
    )?;
    std::fs::rename(&staged_component, &component).map_err(io(&component))?;
    let manifest_text = std::fs::read(&manifest.path).map_err(io(&manifest.path))?;
    let staged_manifest = out_dir.join(format!(".exorun.toml.{}.tmp", std::process::id()));
    std::fs::write(&staged_manifest, manifest_text).map_err(io(&staged_manifest))?;
    record_digest(&staged_manifest, &built.sha256)?;
    let pinned = out_dir.join("exorun.toml");
    std::fs::rename(&staged_manifest, &pinned).map_err(io(&pinned))?;
    built.component = component;
    built.digest = DigestStatus::Updated;
    Ok(built)
}

/// Builds the plugin in `dir` (the folder of its `exorun.toml`).
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Built, BuildError> {
    let manifest = Manifest::load(dir)?;
    let language = Language::detect(dir).ok_or_else(|| BuildError::UnknownLanguage {
        dir: dir.to_path_buf(),
    })?;
    if options.check && !language.reproducible() {
        return Err(BuildError::NotReproducible { language });
    }
    let component = options
        .out
        .clone()
        .unwrap_or_else(|| manifest.plugin.component.clone());
    // Guest toolchains write into a private scratch folder; the component
    // is copied into place only once it is complete.
    let scratch = tempfile::Builder::new()
        .prefix("exorun-build-")
        .tempdir()
        .map_err(|source| BuildError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let staged = scratch.path().join("component.wasm");
    let artifact = match language {
        Language::Rust => rust::build(dir)?,
        Language::Python => {
            python::build(dir, &Toolchain::discover(dir), scratch.path(), &staged)?;
            staged
        }
        Language::JavaScript => {
            js::build(dir, &Toolchain::discover(dir), scratch.path(), &staged)?;
            staged
        }
    };
    if artifact != component {
        if let Some(parent) = component.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BuildError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::copy(&artifact, &component).map_err(|source| BuildError::Io {
            path: component.clone(),
            source,
        })?;
    }
    let sha256 = sha256_file(&component)?;
    let digest = if options.check {
        match &manifest.plugin.sha256 {
            Some(expected) if *expected == sha256 => DigestStatus::Unchanged,
            expected => {
                return Err(BuildError::DigestMismatch {
                    manifest: manifest.path.clone(),
                    expected: expected.clone().unwrap_or_else(|| "nothing".into()),
                    actual: sha256,
                });
            }
        }
    } else if options.out.is_some() {
        DigestStatus::Unchanged
    } else {
        record_digest(&manifest.path, &sha256)?
    };
    Ok(Built {
        component,
        sha256,
        language,
        digest,
    })
}

/// Runs a guest toolchain, turning "not installed" and failures into
/// errors that name the command and what to do.
pub(crate) fn run_tool(
    mut command: Command,
    shown: String,
    hint: &'static str,
) -> Result<std::process::Output, BuildError> {
    tracing::debug!(command = %shown, "running guest toolchain");
    let output = command.output().map_err(|source| BuildError::ToolMissing {
        command: shown.clone(),
        hint,
        source,
    })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if text.is_empty() {
            text = stdout.trim_end().to_owned();
        }
        return Err(BuildError::ToolFailed {
            command: shown,
            output: text,
        });
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let manifest =
            "[plugin]\nname = \"p\"\nversion = \"0.1.0\"\ncomponent = \"p.wasm\"\nsha256 = \"\"\n";
        std::fs::write(dir.path().join("exorun.toml"), manifest).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn detects_each_language_by_its_marker_file() {
        let cases = [
            ("Cargo.toml", Some(Language::Rust)),
            ("package.json", Some(Language::JavaScript)),
            ("app.py", Some(Language::Python)),
            ("main.go", None),
        ];
        for (file, expected) in cases {
            let dir = plugin_dir(&[(file, "")]);
            assert_eq!(Language::detect(dir.path()), expected, "{file}");
        }
    }

    #[test]
    fn check_refuses_a_language_whose_builds_are_not_reproducible() {
        let dir = plugin_dir(&[("app.py", "")]);
        let err = build(
            dir.path(),
            &BuildOptions {
                out: None,
                check: true,
            },
        )
        .unwrap_err();
        assert!(matches!(
            err,
            BuildError::NotReproducible {
                language: Language::Python
            }
        ));
        assert!(!dir.path().join("p.wasm").exists());
    }

    #[test]
    fn unknown_language_names_the_files_it_looks_for() {
        let dir = plugin_dir(&[]);
        let err = build(dir.path(), &BuildOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} holds no Cargo.toml (Rust), package.json (JavaScript) or app.py (Python) next to exorun.toml, so its language is unknown",
                dir.path().display()
            )
        );
    }
}
