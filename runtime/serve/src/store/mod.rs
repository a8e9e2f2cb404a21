//! The service's history in SQLite: users and their credentials, runs from
//! the moment they are asked for to their end, their logs and denials,
//! plans awaiting approval, schedules and the slots they fired.
//!
//! One connection in WAL mode behind a lock, used from blocking threads
//! ([`Store::call`]) so a slow disk never stalls the HTTP workers. Every
//! error names what could not be done; a full disk reads as such.

pub use rusqlite;

pub mod runs;
pub mod schedules;
mod schema;
pub mod tenants;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;

pub use runs::{
    Denial, LogRow, NewRun, PlanRow, PlanStatus, RunCounts, RunEnd, RunFilter, RunRow, RunStatus,
};
pub use schedules::{FireOutcome, ScheduleRow};
pub use users::{Credential, Role, Session, TokenCheck, TokenRow, UserRow};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the history database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("migrating the history database {}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
    #[error("the history database is full or its disk is: {0} (free space, then retry)")]
    Full(String),
    #[error("the history database: {0}")]
    Sql(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            _ => StoreError::Sql(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The history database, shared by the service's parts: one connection
/// that writes, and a few read-only ones. In WAL mode readers run beside
/// each other and beside the writer, so a hundred clients polling a run's
/// status do not queue behind one another or behind the runs' own writes.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
}

/// Read-only connections, handed out to whoever finds one free.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: std::sync::atomic::AtomicUsize,
}

/// How many read-only connections the store keeps.
const READERS: usize = 4;

impl Readers {
    fn open(path: &Path) -> rusqlite::Result<Readers> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let conn = Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conns.push(Mutex::new(conn));
        }
        Ok(Readers {
            conns,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// A free connection if there is one, else the next in turn.
    fn with<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..self.conns.len() {
            if let Some(conn) = self.conns[(start + i) % self.conns.len()].try_lock() {
                return f(&conn);
            }
        }
        f(&self.conns[start % self.conns.len()].lock())
    }
}

impl Store {
    /// Opens (creating) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let open = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open)?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        restrict_permissions(path);
        let readers = Readers::open(path).map_err(open)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(readers),
        })
    }

    /// Runs a read-only `f` on a reader connection on a blocking thread.
    /// It sees every transaction the writer committed before it started.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| StoreError::Sql(format!("a database task failed: {e}")))?
    }

    /// Runs `f` on the connection on a blocking thread.
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock()))
            .await
            .map_err(|e| StoreError::Sql(format!("a database task failed: {e}")))?
    }

    /// Runs `f` on the connection on this thread (start-up, shutdown and
    /// tests, where nothing else waits).
    pub fn blocking<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        f(&mut self.conn.lock())
    }
}

/// The database holds password hashes and session digests: only its owner
/// may read it.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [
            path.to_owned(),
            PathBuf::from(format!("{}-wal", path.display())),
            PathBuf::from(format!("{}-shm", path.display())),
        ] {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// Now, as the database keeps times: RFC 3339 UTC with milliseconds, which
/// sort as text.
pub fn now_text() -> String {
    time_text(jiff::Timestamp::now())
}

pub fn time_text(t: jiff::Timestamp) -> String {
    format!("{t:.3}")
}

pub fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}
