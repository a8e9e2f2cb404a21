//! Installed plugins: a content-addressed store and the lock file.
//!
//! ```text
//! <root>/                     0700
//!   exorun.lock               what is installed: name, reference, digest,
//!                             signer, granted permissions, a held upgrade
//!   store/sha256/<hex>/       one artifact, by OCI manifest digest
//!     manifest.json config.json exorun.toml component.wasm
//!     signature.json signature.minisig   (when signed)
//! ```
//!
//! A store folder is written under a temporary name and renamed into
//! place, so it is whole or absent. Loading an installed plugin checks the
//! chain again (manifest digest → config digest → exorun.toml, component
//! digest), and that its permissions are still the ones the operator
//! granted: an edited store is refused, not run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use exorun_policy::Manifest;
use serde::{Deserialize, Serialize};

use crate::artifact::{Package, WasmConfig, sha256_digest};
use crate::error::PackageError;
use crate::signing::Signature;
use crate::trust::Signer;

/// One version of a plugin, as the lock names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LockedVersion {
    /// A registry reference, or the bundle file it was installed from.
    pub reference: String,
    pub version: String,
    /// The OCI manifest digest.
    pub digest: String,
    /// `None`: installed with `--allow-unsigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// SHA-256 of the granted permissions (`Grants::permissions_sha256`).
    pub permissions: String,
}

/// How the registry a plugin came from was reached, so `exorun upgrade`
/// reaches it the same way. Paths and a user name only: never a password.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RegistrySettings {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_http: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<std::path::PathBuf>,
}

/// One installed plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Locked {
    /// The name `exorun run` takes: the plugin manifest's name.
    pub name: String,
    /// `<namespace>/<name>` where it is published; an upgrade must come
    /// from the same package.
    pub package: String,
    #[serde(flatten)]
    pub current: LockedVersion,
    /// When the current version was installed or approved.
    pub installed: String,
    /// An upgrade that widens permissions, held until approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// How its registry was reached (absent for bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySettings>,
}

/// A held upgrade: the exact artifact reviewed, and why it waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Pending {
    #[serde(flatten)]
    pub version: LockedVersion,
    pub held: String,
    /// The widenings an operator must approve.
    pub widens: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default, rename = "plugin")]
    plugins: Vec<Locked>,
}

/// The store of installed plugins.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// The lock file, read under an exclusive lock held until this is dropped,
/// so two `exorun install` processes cannot lose each other's entries.
pub struct LockGuard {
    _lock: File,
    path: PathBuf,
    pub plugins: Vec<Locked>,
}

impl LockGuard {
    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.plugins.iter().find(|p| p.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Locked> {
        self.plugins.iter_mut().find(|p| p.name == name)
    }

    /// Writes the lock file (replaced atomically).
    pub fn save(&self) -> Result<(), PackageError> {
        let text = toml::to_string_pretty(&LockFile {
            plugins: self.plugins.clone(),
        })
        .map_err(|e| PackageError::Store(e.to_string()))?;
        let text = format!(
            "# exorun.lock: installed plugins, written by exorun install/upgrade. Do not edit.\n{text}"
        );
        write_atomic(&self.path, text.as_bytes())
    }
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("exorun.lock")
    }

    /// Takes the store's lock and reads the lock file.
    pub fn lock(&self) -> Result<LockGuard, PackageError> {
        create_private_dir(&self.root)?;
        let guard_path = self.root.join(".lock");
        let guard = {
            use std::os::unix::fs::OpenOptionsExt;
            File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&guard_path)
        }
        .map_err(PackageError::io("opening", &guard_path))?;
        guard
            .lock()
            .map_err(PackageError::io("locking", &guard_path))?;
        let path = self.lock_path();
        let plugins = self.read_lock(&path)?;
        Ok(LockGuard {
            _lock: guard,
            path,
            plugins,
        })
    }

    /// The lock file without taking the lock (for `list` and `run`).
    pub fn read(&self) -> Result<Vec<Locked>, PackageError> {
        self.read_lock(&self.lock_path())
    }

    fn read_lock(&self, path: &Path) -> Result<Vec<Locked>, PackageError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<LockFile>(&text)
                .map(|f| f.plugins)
                .map_err(|e| PackageError::Store(format!("{} is damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(PackageError::io("reading", path)(e)),
        }
    }

    /// The folder of one artifact.
    pub fn folder(&self, digest: &str) -> Result<PathBuf, PackageError> {
        let hex = crate::artifact::check_digest_form(digest)?;
        Ok(self.root.join("store").join("sha256").join(hex))
    }

    /// Writes a checked package (and its signature) into the store. A
    /// folder already there is kept when it holds exactly these bytes, and
    /// replaced when it does not.
    pub fn put(
        &self,
        package: &Package,
        signature: Option<&Signature>,
    ) -> Result<PathBuf, PackageError> {
        let folder = self.folder(&package.digest)?;
        let artifact = &package.artifact;
        let mut files: Vec<(&str, &[u8])> = vec![
            ("manifest.json", &artifact.manifest.bytes),
            ("config.json", &artifact.config.bytes),
            ("exorun.toml", package.manifest_text.as_bytes()),
            ("component.wasm", &artifact.component.bytes),
        ];
        if let Some(signature) = signature {
            files.push(("signature.json", &signature.payload));
            files.push(("signature.minisig", signature.minisig.as_bytes()));
        }
        if folder.is_dir() {
            // Kept only when it holds exactly these bytes: a folder edited
            // in place would otherwise outlive every fresh download.
            let intact = files
                .iter()
                .all(|(name, bytes)| std::fs::read(folder.join(name)).is_ok_and(|b| b == *bytes));
            if intact {
                return Ok(folder);
            }
            tracing::warn!(folder = %folder.display(), "an artifact folder in the store differs from its digest; replacing it");
            std::fs::remove_dir_all(&folder).map_err(PackageError::io("removing", &folder))?;
        }
        let parent = folder.parent().unwrap_or(&self.root).to_owned();
        create_private_dir(&parent)?;
        let temp = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempdir_in(&parent)
            .map_err(PackageError::io("creating a folder in", &parent))?;
        for (name, bytes) in files {
            write_file(&temp.path().join(name), bytes)?;
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o700))
                .map_err(PackageError::io("protecting", temp.path()))?;
        }
        sync_dir(temp.path());
        let staged = temp.keep();
        std::fs::rename(&staged, &folder)
            .map_err(PackageError::io("moving into place", &folder))?;
        sync_dir(&parent);
        Ok(folder)
    }

    /// Removes an artifact's folder from the store, unless the lock still
    /// names it (as another plugin's current or held version).
    pub fn remove_unused(&self, lock: &LockGuard, digest: &str) -> Result<bool, PackageError> {
        let used = lock.plugins.iter().any(|p| {
            p.current.digest == digest
                || p.pending
                    .as_ref()
                    .is_some_and(|h| h.version.digest == digest)
        });
        let folder = self.folder(digest)?;
        if used || !folder.is_dir() {
            return Ok(false);
        }
        std::fs::remove_dir_all(&folder).map_err(PackageError::io("removing", &folder))?;
        Ok(true)
    }

    /// The installed plugin's manifest, its component path pointing into
    /// the store, after checking that the store still holds exactly the
    /// artifact and the permissions the lock records.
    pub fn load(&self, entry: &LockedVersion) -> Result<Manifest, PackageError> {
        let folder = self.folder(&entry.digest)?;
        let read = |name: &str| {
            let path = folder.join(name);
            std::fs::read(&path).map_err(PackageError::io("reading the installed plugin", path))
        };
        let damaged = |what: &str| {
            PackageError::Store(format!(
                "{} in {} does not match the lock ({what}); reinstall the plugin",
                entry.version,
                folder.display()
            ))
        };
        let manifest = read("manifest.json")?;
        if sha256_digest(&manifest) != entry.digest {
            return Err(damaged("manifest digest"));
        }
        let oci = crate::artifact::parse_manifest(&manifest)?;
        let config = read("config.json")?;
        if sha256_digest(&config) != oci.config.digest {
            return Err(damaged("config digest"));
        }
        let config: WasmConfig = serde_json::from_slice(&config).map_err(|_| damaged("config"))?;
        let text = String::from_utf8(read("exorun.toml")?).map_err(|_| damaged("exorun.toml"))?;
        if config.exorun.map(|e| e.manifest) != Some(text.clone()) {
            return Err(damaged("exorun.toml"));
        }
        let path = folder.join("exorun.toml");
        let mut manifest = Manifest::parse(&path, &text)?;
        // The component's own digest is checked against the manifest's pin
        // when the sandbox loads it; the pin must be the layer's.
        if oci.layers.first().map(|l| l.digest.as_str())
            != manifest
                .plugin
                .sha256
                .as_ref()
                .map(|s| format!("sha256:{s}"))
                .as_deref()
        {
            return Err(damaged("component digest"));
        }
        if manifest.grants().permissions_sha256() != entry.permissions {
            return Err(damaged("permissions differ from those granted"));
        }
        manifest.plugin.component = folder.join("component.wasm");
        Ok(manifest)
    }
}

/// Creates a folder (and its parents) readable by the owner only.
pub(crate) fn create_private_dir(path: &Path) -> Result<(), PackageError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(PackageError::io("creating", path))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(PackageError::io("writing", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(PackageError::io("writing", path))
}

/// Replaces `path` with `bytes` (0600): written beside it, synced, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(parent)?;
    let mut temp = tempfile::NamedTempFile::new_in(parent)
        .map_err(PackageError::io("writing a file in", parent))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(PackageError::io("writing", path))?;
    temp.persist(path)
        .map_err(|e| PackageError::io("replacing", path)(e.error))?;
    sync_dir(parent);
    Ok(())
}

/// Makes a rename durable. Best effort: not every filesystem syncs folders.
fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(path) {
        let _ = dir.sync_all();
    }
}
