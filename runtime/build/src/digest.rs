//! Computing a component's digest and pinning it in `exorun.toml`, keeping
//! the rest of the file (comments, order, layout) exactly as written.

use std::path::Path;

use sha2::{Digest, Sha256};
use toml_edit::{DocumentMut, value};

use crate::BuildError;

/// What recording did to the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestStatus {
    Unchanged,
    Updated,
}

pub fn sha256_file(path: &Path) -> Result<String, BuildError> {
    let bytes = std::fs::read(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Writes `sha256` into `[plugin] sha256` unless it is already there.
pub fn record_digest(manifest: &Path, sha256: &str) -> Result<DigestStatus, BuildError> {
    let text = std::fs::read_to_string(manifest).map_err(|source| BuildError::Io {
        path: manifest.to_path_buf(),
        source,
    })?;
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| BuildError::Edit {
                path: manifest.to_path_buf(),
                message: e.to_string(),
            })?;
    let plugin = doc
        .get_mut("plugin")
        .and_then(|p| p.as_table_like_mut())
        .ok_or_else(|| BuildError::Edit {
            path: manifest.to_path_buf(),
            message: "there is no [plugin] table".into(),
        })?;
    if plugin.get("sha256").and_then(|v| v.as_str()) == Some(sha256) {
        return Ok(DigestStatus::Unchanged);
    }
    plugin.insert("sha256", value(sha256));
    std::fs::write(manifest, doc.to_string()).map_err(|source| BuildError::Io {
        path: manifest.to_path_buf(),
        source,
    })?;
    Ok(DigestStatus::Updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_keeps_comments_and_reports_whether_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exorun.toml");
        std::fs::write(
            &path,
            "# keep me\n[plugin]\nname = \"x\" # and me\nsha256 = \"\"\n\n[limits]\nmax-calls = 3\n",
        )
        .unwrap();
        let digest = "ab".repeat(32);
        assert_eq!(
            record_digest(&path, &digest).unwrap(),
            DigestStatus::Updated
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "# keep me\n[plugin]\nname = \"x\" # and me\nsha256 = \"{digest}\"\n\n[limits]\nmax-calls = 3\n"
            )
        );
        assert_eq!(
            record_digest(&path, &digest).unwrap(),
            DigestStatus::Unchanged
        );
    }
}
