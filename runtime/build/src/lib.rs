//! `exorun build`: turns a plugin folder's source into the component its
//! manifest names, and pins the component's SHA-256 in the manifest.
//!
//! The digest in `exorun.toml` is what a reviewer approves: the host refuses
//! to run a component whose digest differs. `--check` mode verifies instead
//! of writing, for CI.

mod digest;
mod rust;

use std::path::{Path, PathBuf};

use exorun_policy::Manifest;

pub use digest::{DigestStatus, record_digest, sha256_file};

/// What a plugin is written in, detected from the files in its folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Rust,
}

impl Language {
    pub fn detect(dir: &Path) -> Option<Language> {
        dir.join("Cargo.toml").is_file().then_some(Language::Rust)
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
        "{} has no Cargo.toml, so its language is unknown; a Rust plugin needs a Cargo.toml next to exorun.toml",
        dir.display()
    )]
    UnknownLanguage { dir: PathBuf },
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
}

/// Builds the plugin in `dir` (the folder of its `exorun.toml`).
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Built, BuildError> {
    let manifest = Manifest::load(dir)?;
    let language = Language::detect(dir).ok_or_else(|| BuildError::UnknownLanguage {
        dir: dir.to_path_buf(),
    })?;
    let artifact = match language {
        Language::Rust => rust::build(dir)?,
    };
    let component = options
        .out
        .clone()
        .unwrap_or_else(|| manifest.plugin.component.clone());
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
