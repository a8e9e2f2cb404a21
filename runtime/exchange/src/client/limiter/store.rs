//! Where the pacing state of one tenant and app lives: the one interface
//! behind which runs share a budget.
//!
//! - [`InProcess`]: a mutex; every run of one process (the service, a
//!   library caller) shares it.
//! - [`SharedFile`]: a 64-byte record in the user's state folder under an
//!   advisory file lock, so that concurrent `exorun run` processes on one
//!   machine (cron jobs, CI jobs) pace together with no configuration and
//!   no daemon. A crashed process releases its lock with its file handle.
//!
//! A store for several machines implements the same [`PaceStore::update`]
//! as a compare-and-swap loop, which is why the update is a closure that
//! may run more than once and must only compute.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::pace::{PaceRules, PaceState, RECORD_LEN};

/// Read-modify-write access to one shared [`PaceState`].
pub trait PaceStore: Send + Sync {
    /// Applies `change` to the state atomically with respect to every
    /// other user of the store; `now` is the Unix time in nanoseconds the
    /// change should take as the present.
    fn update(&self, change: &mut dyn FnMut(&mut PaceState, u64));

    /// A copy of the state (for diagnostics and tests).
    fn read(&self) -> PaceState {
        let mut copy = PaceState::default();
        self.update(&mut |s, _| copy = *s);
        copy
    }
}

/// Makes the store of one tenant and app (named by the Exchange base,
/// tenant and app id) for a sharing scheme that lives outside this crate.
pub trait PaceStoreMaker: Send + Sync + std::fmt::Debug {
    fn make(&self, name: &str, rules: PaceRules) -> Box<dyn PaceStore>;
}

/// The present as Unix nanoseconds.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The state of one process.
#[derive(Default)]
pub struct InProcess {
    state: Mutex<PaceState>,
}

impl PaceStore for InProcess {
    fn update(&self, change: &mut dyn FnMut(&mut PaceState, u64)) {
        let mut state = self.state.lock();
        change(&mut state, unix_nanos());
    }
}

/// The state of every process of this user on this machine.
pub struct SharedFile {
    path: PathBuf,
    file: File,
    rules: PaceRules,
    /// flock excludes other processes, not other threads sharing the
    /// handle; this excludes those. It also holds the state this process
    /// falls back on if the lock cannot be had.
    local: Mutex<PaceState>,
    /// Whether the "pacing alone" warning was given (once per store, not
    /// once per request).
    warned: AtomicBool,
}

/// How long to try for the file lock before pacing on the process's own
/// state for this one request: a peer stopped while holding the lock (a
/// debugger, SIGSTOP) must not stall every run on the machine.
const LOCK_PATIENCE: Duration = Duration::from_millis(200);

impl SharedFile {
    /// The store for `key` (the Exchange base, tenant and app) in `dir`,
    /// created private to the user if missing.
    pub fn open(dir: &Path, key: &str, rules: PaceRules) -> io::Result<SharedFile> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let name = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
        let path = dir.join(format!("{name}.pace"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            // Never through a symlink.
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)?;
        Ok(SharedFile {
            path,
            file,
            rules,
            local: Mutex::new(PaceState::default()),
            warned: AtomicBool::new(false),
        })
    }

    /// The file holding the state.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_file(&self) -> bool {
        let started = Instant::now();
        loop {
            match self.file.try_lock() {
                Ok(()) => return true,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_PATIENCE => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => {
                    if !self.warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(path = %self.path.display(), error = %e, "cannot lock the shared limiter state: pacing this process alone while that lasts");
                    }
                    return false;
                }
            }
        }
    }
}

impl PaceStore for SharedFile {
    fn update(&self, change: &mut dyn FnMut(&mut PaceState, u64)) {
        let mut local = self.local.lock();
        if !self.lock_file() {
            change(&mut local, unix_nanos());
            return;
        }
        let now = unix_nanos();
        let mut buf = [0u8; RECORD_LEN];
        let mut state = match self.file.read_exact_at(&mut buf, 0) {
            Ok(()) => PaceState::decode(&buf).unwrap_or_default(),
            // A new (empty) file, or one another program cut short.
            Err(_) => PaceState::default(),
        };
        state.sanitize(now, &self.rules);
        change(&mut state, now);
        if let Err(e) = self.file.write_all_at(&state.encode(), 0)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the shared limiter state: other processes pace without this one's sends");
        }
        *local = state;
        // Closing the handle would unlock too; the handle stays open.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PaceRules {
        PaceRules::exact()
    }

    #[test]
    fn two_handles_on_one_file_share_one_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let a = SharedFile::open(dir.path(), "k", rules()).unwrap();
        let b = SharedFile::open(dir.path(), "k", rules()).unwrap();
        // One token a second, none left.
        a.update(&mut |s, now| {
            s.rate = 1.0;
            s.burst = 1.0;
            s.tokens = 0.0;
            s.tokens_at = now;
        });
        let mut first = 0;
        a.update(&mut |s, now| first = s.reserve(now, &rules()));
        let mut second = 0;
        b.update(&mut |s, now| second = s.reserve(now, &rules()));
        assert!(second >= first + 900_000_000, "{first} {second}");
        assert_eq!(b.read().rate, 1.0);
        // Another key is another file.
        let c = SharedFile::open(dir.path(), "other", rules()).unwrap();
        assert!(!c.read().paced());
        assert_ne!(c.path(), a.path());
    }

    #[test]
    fn a_garbage_file_is_replaced_by_a_fresh_state() {
        let dir = tempfile::tempdir().unwrap();
        let a = SharedFile::open(dir.path(), "k", rules()).unwrap();
        std::fs::write(
            a.path(),
            b"not a pace record at all, but long enough to read it as one......",
        )
        .unwrap();
        assert_eq!(a.read(), PaceState::default());
        std::fs::write(a.path(), b"short").unwrap();
        assert_eq!(a.read(), PaceState::default());
    }

    #[test]
    fn the_folder_and_file_are_private_and_a_symlink_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("pace");
        let a = SharedFile::open(&folder, "k", rules()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(a.path()), 0o600);
        let name = a.path().file_name().unwrap().to_owned();
        drop(a);
        std::fs::remove_file(folder.join(&name)).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), folder.join(&name)).unwrap();
        assert!(SharedFile::open(&folder, "k", rules()).is_err());
    }

    #[test]
    fn a_held_lock_does_not_stall_the_update() {
        let dir = tempfile::tempdir().unwrap();
        let a = SharedFile::open(dir.path(), "k", rules()).unwrap();
        let holder = File::open(a.path()).unwrap();
        holder.lock().unwrap();
        let started = Instant::now();
        let mut ran = false;
        a.update(&mut |_, _| ran = true);
        assert!(ran);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
