//! The SDKs and the WIT contract, compiled into exorun, so that an
//! installed binary with no checkout beside it can still create, build and
//! run plugins in any folder.
//!
//! On first need they are unpacked into a folder laid out like a checkout
//! (`wit/`, `sdk/rust`, `sdk/python`, `sdk/js`), under exorun's data folder
//! and named by this exorun's version and a digest of the files, so an
//! upgrade never mixes the SDK of one version with the host of another.
//! What cannot be embedded is named by the errors that need it: the Rust
//! toolchain, componentize-py, and the JavaScript SDK's npm packages.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::BuildError;

macro_rules! bundle {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../", $path)))),*]
    };
}

/// Every file of the SDKs and the contract, by its path in a checkout.
/// `every_sdk_file_is_bundled` keeps this list complete.
pub const FILES: &[(&str, &str)] = bundle![
    "wit/automation.wit",
    "sdk/rust/Cargo.toml",
    "sdk/rust/src/call.rs",
    "sdk/rust/src/error.rs",
    "sdk/rust/src/host.rs",
    "sdk/rust/src/lib.rs",
    "sdk/rust/src/objects.rs",
    "sdk/rust/src/size.rs",
    "sdk/rust/src/value.rs",
    "sdk/python/exorun/__init__.py",
    "sdk/python/exorun/_progress.py",
    "sdk/python/exorun/_what_if.py",
    "sdk/python/exorun/cmdlets.py",
    "sdk/python/exorun/entry.py",
    "sdk/python/exorun/errors.py",
    "sdk/python/exorun/inputs.py",
    "sdk/python/exorun/log.py",
    "sdk/python/exorun/params.py",
    "sdk/python/exorun/py.typed",
    "sdk/js/build.mjs",
    "sdk/js/package.json",
    "sdk/js/package-lock.json",
    "sdk/js/src/automation-world.d.ts",
    "sdk/js/src/index.d.ts",
    "sdk/js/src/index.js",
];

/// The folder the bundle unpacks to under `data_dir` (exorun's data
/// folder): `sdk/<version>-<digest>`.
pub fn folder_in(data_dir: &Path) -> PathBuf {
    let mut digest = Sha256::new();
    for (path, text) in FILES {
        digest.update(path.as_bytes());
        digest.update([0]);
        digest.update(text.as_bytes());
        digest.update([0]);
    }
    let hex = hex::encode(&digest.finalize()[..6]);
    data_dir
        .join("sdk")
        .join(format!("{}-{hex}", env!("CARGO_PKG_VERSION")))
}

/// exorun's data folder: `$XDG_DATA_HOME/exorun` (when absolute, as the
/// XDG spec wants), else `~/.local/share/exorun`, by `etcetera`'s XDG
/// rules like every other folder exorun picks. The CLI's run outputs live
/// here too.
pub fn default_data_dir() -> Option<PathBuf> {
    let folders = etcetera::choose_base_strategy().ok()?;
    Some(etcetera::BaseStrategy::data_dir(&folders).join("exorun"))
}

/// Unpacks the bundle into `data_dir` unless it is there already, and
/// returns its root. Written into a fresh folder beside the final one and
/// renamed into place, so a concurrent exorun never sees half of it.
pub fn unpack(data_dir: &Path) -> Result<PathBuf, BuildError> {
    let root = folder_in(data_dir);
    if root.join(FILES[0].0).is_file() {
        return Ok(root);
    }
    let parent = root.parent().unwrap_or(data_dir);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    for (path, text) in FILES {
        let target = staging.path().join(path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder).map_err(io(folder))?;
        }
        std::fs::write(&target, text).map_err(io(&target))?;
    }
    match std::fs::rename(staging.path(), &root) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to remove.
            let _ = staging.keep();
            Ok(root)
        }
        // Another exorun unpacked the same bundle first.
        Err(_) if root.join(FILES[0].0).is_file() => Ok(root),
        Err(source) => Err(BuildError::Io { path: root, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Source files of the SDKs as a checkout holds them (not their tests,
    /// docs, caches or installed packages).
    fn sdk_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir.join(rel)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}/{name}");
            if matches!(
                name.as_str(),
                "node_modules" | "__pycache__" | "tests" | "test" | "README.md" | "pyproject.toml"
            ) {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                sdk_files(dir, &path, out);
            } else {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_sdk_file_is_bundled() {
        let mut on_disk = vec!["wit/automation.wit".to_owned()];
        for sdk in ["sdk/rust", "sdk/python", "sdk/js"] {
            sdk_files(&checkout(), sdk, &mut on_disk);
        }
        on_disk.sort();
        let mut bundled: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        bundled.sort();
        assert_eq!(bundled, on_disk, "add the new SDK file to bundled::FILES");
    }

    #[test]
    fn unpacks_once_into_a_folder_laid_out_like_a_checkout() {
        let data = tempfile::tempdir().unwrap();
        let root = unpack(data.path()).unwrap();
        assert_eq!(root, folder_in(data.path()));
        for (path, text) in FILES {
            assert_eq!(std::fs::read_to_string(root.join(path)).unwrap(), *text);
        }
        assert!(crate::toolchain::is_checkout(&root));
        // A second unpack finds it and leaves nothing else behind.
        assert_eq!(unpack(data.path()).unwrap(), root);
        let beside: Vec<_> = std::fs::read_dir(root.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(beside.len(), 1, "{beside:?}");
    }
}
