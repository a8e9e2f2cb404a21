//! Everything that can go wrong between a publisher and an installed
//! plugin, each with what to do about it.

use std::path::PathBuf;

use exorun_policy::ManifestError;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("'{text}' is not a plugin reference: {reason}")]
    Reference { text: String, reason: String },
    /// The artifact is not one exorun published, or was altered.
    #[error("the artifact is not a valid exorun plugin: {0}")]
    Artifact(String),
    #[error(
        "{what} does not match its digest: expected {expected}, got {actual} (tampered with or corrupted in transit)"
    )]
    Digest {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} is larger than {limit} bytes; refused before downloading it")]
    TooLarge { what: String, limit: u64 },
    #[error("{0}")]
    Bundle(String),
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Signature(#[from] crate::signing::SignatureError),
    #[error("{0}")]
    Key(String),
    #[error("trust policy {}: {message}", path.display())]
    Trust { path: PathBuf, message: String },
    #[error("installed plugins: {0}")]
    Store(String),
}

impl PackageError {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> PackageError {
        let path = path.into();
        move |source| PackageError::Io { what, path, source }
    }
}
