//! Why the simulator could not start.

use std::path::PathBuf;

/// A start-up failure. Runtime request errors never surface here: they are
/// answered on the wire.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the tenant file {path} is not valid: {message}")]
    TenantFile { path: PathBuf, message: String },
    #[error("the certificate {path} is not valid: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("the app id '{0}' is not a GUID: give one like 00000000-0000-0000-0000-000000000000")]
    AppId(String),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("OpenSSL failed while {doing}: {source}")]
    OpenSsl {
        doing: &'static str,
        source: openssl::error::ErrorStack,
    },
}

/// Tags an OpenSSL error with what the simulator was doing.
pub(crate) trait OpenSslContext<T> {
    fn doing(self, doing: &'static str) -> Result<T, SimError>;
}

impl<T> OpenSslContext<T> for Result<T, openssl::error::ErrorStack> {
    fn doing(self, doing: &'static str) -> Result<T, SimError> {
        self.map_err(|source| SimError::OpenSsl { doing, source })
    }
}
