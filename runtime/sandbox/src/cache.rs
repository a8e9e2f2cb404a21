//! The precompile cache: compiled components on disk, so that only the first
//! run of a plugin pays for Cranelift (seconds for an 18 MB Python
//! component) and every later run starts in milliseconds.
//!
//! An entry is two files named by its key:
//! - `<key>.cwasm`, wasmtime's own serialized component, loaded with
//!   `Component::deserialize_file` so its code and memory images are mapped
//!   straight from the page cache instead of copied;
//! - `<key>.meta`, a small JSON record of what the entry was made from and a
//!   CRC-32 of the `.cwasm`.
//!
//! The key is the SHA-256 of the component's digest, the wasmtime version
//! and wasmtime's engine-compatibility hash, so a different component, a
//! different wasmtime or a different engine configuration never finds the
//! entry. An entry is used only when its metadata names exactly this key and
//! component, and its length and checksum match; anything else (a torn
//! write, a bit flip, a stray file) is deleted and compiled again.
//!
//! Loading native code is trusted by nature. The cache folder is created
//! 0700 and must be owned by the user and closed to group and others, else
//! it is not used at all: whoever can write there could already replace the
//! `exorun` binary itself. Entries are written to a temporary file and
//! renamed into place, and are never modified afterwards, so a reader in
//! another process never maps a half-written file.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The wasmtime this host links; part of every key. A unit test keeps it in
/// step with Cargo.lock.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Bumped when the entry layout changes.
const FORMAT: u32 = 1;

/// Where the cache lives and how large it may grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    pub dir: PathBuf,
    /// Total bytes of `.cwasm` files kept; the least recently used entries
    /// are evicted beyond it.
    pub max_bytes: u64,
}

impl CacheConfig {
    /// 2 GiB: a few dozen Python or JavaScript plugins (60-90 MB compiled
    /// each) or thousands of Rust ones.
    pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

    /// `EXORUN_CACHE_DIR`, else `$XDG_CACHE_HOME/exorun/compiled`, else
    /// `~/.cache/exorun/compiled`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("EXORUN_CACHE_DIR").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        let folders = etcetera::choose_base_strategy().ok()?;
        Some(
            etcetera::BaseStrategy::cache_dir(&folders)
                .join("exorun")
                .join("compiled"),
        )
    }

    /// The default folder, with the size cap from `EXORUN_CACHE_MAX_MIB`
    /// (default 2 GiB).
    pub fn user_default() -> Option<CacheConfig> {
        let max_bytes = std::env::var("EXORUN_CACHE_MAX_MIB")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(CacheConfig::DEFAULT_MAX_BYTES, |mib| {
                mib.saturating_mul(1 << 20)
            });
        CacheConfig::default_dir().map(|dir| CacheConfig { dir, max_bytes })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot use the compile cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "refusing to use the compile cache {}: {problem}; compiled code loaded from there runs in this process (fix with `chmod 700` and `chown` to yourself, or point EXORUN_CACHE_DIR elsewhere)",
        path.display()
    )]
    Unsafe { path: PathBuf, problem: String },
}

/// How a component was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid entry; nothing was compiled.
    Hit,
    /// Compiled, and stored for next time.
    Miss,
    /// An entry existed but was not trusted (the reason); it was discarded,
    /// and the component compiled and stored again.
    Rejected(String),
    /// Compiled; storing it failed (the reason), which only costs the next
    /// run a compile.
    NotStored(String),
}

/// One entry, as `exorun cache show` lists it.
#[derive(Clone, Debug)]
pub struct EntryInfo {
    pub key: String,
    pub component_sha256: String,
    pub bytes: u64,
    pub last_used: SystemTime,
}

/// The on-disk record next to each `.cwasm`.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: u32,
    key: String,
    component_sha256: String,
    wasmtime: String,
    bytes: u64,
    crc32: u32,
}

/// An opened, permission-checked cache folder.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl CompileCache {
    /// Creates the folder (0700) if needed and checks it is private.
    pub fn open(config: &CacheConfig) -> Result<CompileCache, CacheError> {
        let dir = &config.dir;
        create_private_dir(dir)?;
        check_private(dir)?;
        Ok(CompileCache {
            dir: dir.clone(),
            max_bytes: config.max_bytes,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of a component (by its SHA-256) under `engine`'s configuration.
    pub fn key(engine: &Engine, component_sha256: &str) -> String {
        // SipHash with fixed keys: stable for a given toolchain, and a
        // different toolchain only costs a cache miss.
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let mut digest = Sha256::new();
        digest.update(format!("exorun-compile-cache/{FORMAT}\n"));
        digest.update(format!("component {component_sha256}\n"));
        digest.update(format!("wasmtime {WASMTIME_VERSION}\n"));
        digest.update(format!("engine {:016x}\n", hasher.finish()));
        hex::encode(digest.finalize())
    }

    /// The compiled component for `bytes` (whose digest the caller has
    /// verified), from the cache when a trustworthy entry exists.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        component_sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = CompileCache::key(engine, component_sha256);
        let rejected = match self.load(engine, &key, component_sha256) {
            Ok(Some(component)) => return Ok((component, CacheOutcome::Hit)),
            Ok(None) => None,
            Err(reason) => {
                tracing::warn!(key = %key, %reason, "discarding compile cache entry");
                self.remove(&key);
                Some(reason)
            }
        };
        let serialized = engine.precompile_component(bytes)?;
        // Load what will be stored, so a hit later runs exactly this code.
        // SAFETY: `serialized` was produced by this engine just now.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &serialized)? };
        let outcome = match self.store(&key, component_sha256, &serialized) {
            Ok(()) => {
                self.evict(&key);
                rejected.map_or(CacheOutcome::Miss, CacheOutcome::Rejected)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not store compiled component");
                CacheOutcome::NotStored(e.to_string())
            }
        };
        Ok((component, outcome))
    }

    /// `Ok(None)`: no entry. `Err(reason)`: an entry that must not be used.
    fn load(
        &self,
        engine: &Engine,
        key: &str,
        component_sha256: &str,
    ) -> Result<Option<Component>, String> {
        let meta_path = self.path(key, "meta");
        let meta_text = match std::fs::read(&meta_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable metadata: {e}")),
        };
        let meta: Meta =
            serde_json::from_slice(&meta_text).map_err(|e| format!("corrupt metadata: {e}"))?;
        let expected = (FORMAT, key, component_sha256, WASMTIME_VERSION);
        let found = (
            meta.format,
            meta.key.as_str(),
            meta.component_sha256.as_str(),
            meta.wasmtime.as_str(),
        );
        if found != expected {
            return Err("metadata names a different key, component or wasmtime".into());
        }
        let code_path = self.path(key, "cwasm");
        let code = std::fs::read(&code_path).map_err(|e| format!("unreadable code: {e}"))?;
        if code.len() as u64 != meta.bytes {
            return Err(format!(
                "truncated or extended: {} bytes, metadata says {}",
                code.len(),
                meta.bytes
            ));
        }
        if crc32fast::hash(&code) != meta.crc32 {
            return Err("checksum mismatch".into());
        }
        drop(code);
        // SAFETY: the file is in a private folder (checked at open), was
        // written by this host for exactly this key and checksum, and entries
        // are only ever replaced by rename, never modified in place.
        // wasmtime additionally checks its own version and configuration.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize_file(engine, &code_path) }
            .map_err(|e| format!("wasmtime refused it: {e}"))?;
        touch(&code_path);
        Ok(Some(component))
    }

    fn store(&self, key: &str, component_sha256: &str, code: &[u8]) -> std::io::Result<()> {
        let meta = Meta {
            format: FORMAT,
            key: key.to_owned(),
            component_sha256: component_sha256.to_owned(),
            wasmtime: WASMTIME_VERSION.to_owned(),
            bytes: code.len() as u64,
            crc32: crc32fast::hash(code),
        };
        // Code first, metadata last: a crash in between leaves an entry
        // without metadata, which reads as "no entry".
        write_atomically(&self.dir, &self.path(key, "cwasm"), code)?;
        let meta = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        write_atomically(&self.dir, &self.path(key, "meta"), &meta)
    }

    fn remove(&self, key: &str) {
        for ext in ["meta", "cwasm"] {
            let _ = std::fs::remove_file(self.path(key, ext));
        }
    }

    fn path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{key}.{ext}"))
    }

    /// Every complete entry, most recently used first.
    pub fn entries(&self) -> std::io::Result<Vec<EntryInfo>> {
        let mut entries = Vec::new();
        for item in std::fs::read_dir(&self.dir)? {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "meta") {
                continue;
            }
            let Some(key) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Ok(meta) = std::fs::read(&path)
                .map_err(|_| ())
                .and_then(|t| serde_json::from_slice::<Meta>(&t).map_err(|_| ()))
            else {
                continue;
            };
            let Ok(stat) = std::fs::metadata(self.path(key, "cwasm")) else {
                continue;
            };
            entries.push(EntryInfo {
                key: key.to_owned(),
                component_sha256: meta.component_sha256,
                bytes: stat.len(),
                last_used: stat.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.last_used));
        Ok(entries)
    }

    /// Deletes every entry (and stray temporary files); returns the number
    /// of entries and bytes freed.
    pub fn clear(&self) -> std::io::Result<(usize, u64)> {
        let mut count = 0;
        let mut freed = 0;
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let path = item.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "cwasm" | "meta" | "tmp") {
                continue;
            }
            let len = item.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path)?;
            if ext == "cwasm" {
                count += 1;
                freed += len;
            }
        }
        Ok((count, freed))
    }

    /// Removes least recently used entries until the total fits the cap,
    /// never the entry just written (`keep`).
    fn evict(&self, keep: &str) {
        let Ok(entries) = self.entries() else { return };
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        for entry in entries.iter().rev() {
            if total <= self.max_bytes {
                break;
            }
            if entry.key == keep {
                continue;
            }
            tracing::debug!(key = %entry.key, bytes = entry.bytes, "evicting compiled component");
            self.remove(&entry.key);
            total = total.saturating_sub(entry.bytes);
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    let io = |source| CacheError::Io {
        path: dir.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(io)
    }
}

/// The folder must be ours and closed to everyone else.
fn check_private(dir: &Path) -> Result<(), CacheError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(dir).map_err(|source| CacheError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let unsafe_because = |problem: String| CacheError::Unsafe {
            path: dir.to_path_buf(),
            problem,
        };
        if !meta.is_dir() {
            return Err(unsafe_because("it is not a folder (a symlink?)".into()));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(unsafe_because(format!(
                "it is owned by uid {}, not by you (uid {me})",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(unsafe_because(format!(
                "its mode is {:o}, open to group or others",
                meta.mode() & 0o777
            )));
        }
    }
    Ok(())
}

/// Writes `bytes` to a temporary file in `dir`, then renames it to `path`.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix(".entry-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Marks an entry as just used (its modification time orders eviction).
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    /// The smallest valid component: `(component)` in the binary format.
    fn component_bytes() -> Vec<u8> {
        vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
    }

    fn open(dir: &Path, max_bytes: u64) -> CompileCache {
        CompileCache::open(&CacheConfig {
            dir: dir.join("compiled"),
            max_bytes,
        })
        .unwrap()
    }

    #[test]
    fn wasmtime_version_matches_cargo_lock() {
        let lock =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"))
                .unwrap();
        let needle = format!("name = \"wasmtime\"\nversion = \"{WASMTIME_VERSION}\"");
        assert!(lock.contains(&needle), "Cargo.lock has another wasmtime");
    }

    #[test]
    fn second_load_is_a_hit_and_first_is_a_miss() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = open(tmp.path(), u64::MAX);
        let engine = engine();
        let bytes = component_bytes();
        let (_, first) = cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        let (_, second) = cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        assert_eq!((first, second), (CacheOutcome::Miss, CacheOutcome::Hit));
    }

    #[test]
    fn corrupt_entry_is_discarded_and_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = open(tmp.path(), u64::MAX);
        let engine = engine();
        let bytes = component_bytes();
        cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        let key = CompileCache::key(&engine, "abc");
        let code = cache.path(&key, "cwasm");
        let mut data = std::fs::read(&code).unwrap();
        let middle = data.len() / 2;
        data[middle] ^= 0xff;
        std::fs::write(&code, &data).unwrap();

        let (_, outcome) = cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        assert_eq!(outcome, CacheOutcome::Rejected("checksum mismatch".into()));
        let (_, after) = cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        assert_eq!(after, CacheOutcome::Hit);
    }

    #[test]
    fn truncated_entry_is_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = open(tmp.path(), u64::MAX);
        let engine = engine();
        let bytes = component_bytes();
        cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        let code = cache.path(&CompileCache::key(&engine, "abc"), "cwasm");
        let len = std::fs::metadata(&code).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&code)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let (_, outcome) = cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        assert!(
            matches!(&outcome, CacheOutcome::Rejected(r) if r.starts_with("truncated")),
            "{outcome:?}"
        );
    }

    #[test]
    fn entry_of_another_component_is_never_used() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = open(tmp.path(), u64::MAX);
        let engine = engine();
        let bytes = component_bytes();
        cache.load_or_compile(&engine, "abc", &bytes).unwrap();
        // Plant abc's entry under def's key.
        let (abc, def) = (
            CompileCache::key(&engine, "abc"),
            CompileCache::key(&engine, "def"),
        );
        for ext in ["cwasm", "meta"] {
            std::fs::copy(cache.path(&abc, ext), cache.path(&def, ext)).unwrap();
        }
        let (_, outcome) = cache.load_or_compile(&engine, "def", &bytes).unwrap();
        assert_eq!(
            outcome,
            CacheOutcome::Rejected("metadata names a different key, component or wasmtime".into())
        );
    }

    #[test]
    fn different_engine_configuration_uses_a_different_key() {
        let mut other = wasmtime::Config::new();
        other.wasm_component_model(true).epoch_interruption(true);
        let other = Engine::new(&other).unwrap();
        assert_ne!(
            CompileCache::key(&engine(), "abc"),
            CompileCache::key(&other, "abc")
        );
    }

    #[test]
    fn least_recently_used_entries_are_evicted_beyond_the_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = engine();
        let bytes = component_bytes();
        let probe = open(&tmp.path().join("probe"), u64::MAX);
        probe.load_or_compile(&engine, "size", &bytes).unwrap();
        let one = probe.entries().unwrap()[0].bytes;

        // Room for two entries.
        let cache = open(tmp.path(), one * 2);
        cache.load_or_compile(&engine, "a", &bytes).unwrap();
        cache.load_or_compile(&engine, "b", &bytes).unwrap();
        // Make `a` the most recently used, then add `c`: `b` goes.
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        let b_code = cache.path(&CompileCache::key(&engine, "b"), "cwasm");
        std::fs::File::options()
            .append(true)
            .open(&b_code)
            .unwrap()
            .set_modified(old)
            .unwrap();
        cache.load_or_compile(&engine, "a", &bytes).unwrap();
        cache.load_or_compile(&engine, "c", &bytes).unwrap();
        let mut kept: Vec<String> = cache
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.component_sha256)
            .collect();
        kept.sort();
        assert_eq!(kept, ["a", "c"]);
    }

    #[test]
    fn clear_removes_every_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = open(tmp.path(), u64::MAX);
        let engine = engine();
        cache
            .load_or_compile(&engine, "a", &component_bytes())
            .unwrap();
        let (count, freed) = cache.clear().unwrap();
        assert_eq!(count, 1);
        assert!(freed > 0);
        assert!(cache.entries().unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn folder_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let cache = open(tmp.path(), u64::MAX);
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_folder_open_to_others() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(&CacheConfig {
            dir: dir.clone(),
            max_bytes: 1,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to use the compile cache {}: its mode is 777, open to group or others; compiled code loaded from there runs in this process (fix with `chmod 700` and `chown` to yourself, or point EXORUN_CACHE_DIR elsewhere)",
                dir.display()
            )
        );
    }
}
