//! The state of a certificate rotation in progress, kept between commands
//! so that an interrupted rotation resumes where it stopped and a later
//! `exorun cert rotate --finish` knows which key to remove.
//!
//! One file per tenant and app, `$XDG_STATE_HOME/exorun/rotation/<id>.json`
//! (0600 in a 0700 folder), replaced atomically after every step and held
//! under an exclusive lock while a command works on it. It holds paths,
//! thumbprints and key ids, never a key or a password.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How far a rotation got. Each step is done once; a command that finds a
/// state resumes at the step after the recorded one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The new key pair and certificate are on disk.
    Created,
    /// Its public key is registered on the app (`addKey`).
    Added,
    /// A token was issued for the new certificate.
    Verified,
    /// The profile points at the new certificate; the old key is still
    /// registered until it is removed.
    Switched,
}

/// Where a certificate is, as a profile names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Location {
    /// `certificate-thumbprint` in a store folder.
    Store { dir: PathBuf, thumbprint: String },
    /// `certificate-file-path` (PFX or PEM).
    File { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    /// SHA-1 thumbprint, upper-case hex.
    pub thumbprint: String,
    /// The key credential's id on the app, once known.
    pub key_id: Option<String>,
    pub location: Option<Location>,
    /// When the certificate stops being valid (RFC 3339).
    pub not_after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    /// Names the rotation in the audit trail (every step's `runId`).
    pub id: String,
    pub organization: String,
    pub app_id: String,
    /// The profile switched to the new certificate, if the rotation was
    /// started with one.
    pub profile: Option<String>,
    /// The application object's id (the proof's issuer), once read.
    pub object_id: Option<String>,
    pub old: Key,
    pub new: Key,
    pub step: Step,
    pub started: String,
    /// When the profile was switched; the old key may go after
    /// `remove_after`.
    pub switched: Option<String>,
    pub remove_after: Option<String>,
    /// How long the old key stays registered after the switch, in seconds.
    pub overlap_seconds: u64,
}

/// The folder of rotation states: `$XDG_STATE_HOME/exorun/rotation`.
pub fn dir() -> anyhow::Result<PathBuf> {
    let folders = etcetera::choose_base_strategy()
        .map_err(|_| anyhow::anyhow!("no state folder: set XDG_STATE_HOME or HOME"))?;
    let state = etcetera::BaseStrategy::state_dir(&folders)
        .unwrap_or_else(|| etcetera::BaseStrategy::data_dir(&folders));
    Ok(state.join("exorun").join("rotation"))
}

/// The state file of one tenant's app.
pub fn path(organization: &str, app_id: &str) -> anyhow::Result<PathBuf> {
    let digest = Sha256::digest(
        format!(
            "{}\n{}",
            organization.to_ascii_lowercase(),
            app_id.to_ascii_lowercase()
        )
        .as_bytes(),
    );
    Ok(dir()?.join(format!("{}.json", &hex::encode(digest)[..32])))
}

/// Holds the rotation's lock for as long as it lives.
pub struct Locked {
    _file: File,
    path: PathBuf,
}

impl Locked {
    /// Takes the lock beside the state file, or says who holds it.
    pub fn take(path: &Path) -> anyhow::Result<Self> {
        let parent = path.parent().unwrap_or(Path::new("."));
        crate::profiles::create_private_dir(parent, "the rotation state folder")?;
        let lock_path = path.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Locked {
                _file: file,
                path: path.to_owned(),
            }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another exorun command is rotating this app's certificate right now ({} is locked); wait for it to end",
                lock_path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", lock_path.display()))
            }
        }
    }

    /// The rotation in progress, if any. A file that cannot be read is an
    /// error that names it: guessing would risk removing the wrong key.
    pub fn load(&self) -> anyhow::Result<Option<Rotation>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "the rotation state {} is damaged; check the app registration's certificates by hand, then delete the file",
                self.path.display()
            )
        })
    }

    /// Replaces the state (written beside it, synced, renamed).
    pub fn save(&self, rotation: &Rotation) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(rotation)?;
        exorun_package::store::write_atomic(&self.path, &json)
            .with_context(|| format!("saving the rotation state {}", self.path.display()))
    }

    /// The rotation is over.
    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", self.path.display())),
        }
    }
}

/// Reads the state without locking, for commands that only mention it.
pub fn peek(organization: &str, app_id: &str) -> Option<Rotation> {
    let text = std::fs::read_to_string(path(organization, app_id).ok()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// `7d`, `12h`, `30m`, `45s` or `0`: how long the old key stays.
pub fn parse_overlap(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{text}' has no unit: write 7d, 12h, 30m, 45s or 0"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' does not start with a number: write 7d, 12h, 30m or 45s"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "'{unit}' is not a unit: use d, h, m or s (as in 7d)"
            ));
        }
    };
    n.checked_mul(seconds)
        .filter(|s| *s <= 366 * 86_400)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is longer than a year"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overlaps_are_read_in_days_hours_minutes_and_seconds() {
        assert_eq!(parse_overlap("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_overlap("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_overlap("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_overlap("0"), Ok(Duration::ZERO));
        assert!(parse_overlap("7").unwrap_err().contains("no unit"));
        assert!(parse_overlap("7w").unwrap_err().contains("not a unit"));
        assert!(parse_overlap("d").is_err());
        assert!(
            parse_overlap("400d")
                .unwrap_err()
                .contains("longer than a year")
        );
    }

    #[test]
    fn a_state_is_saved_locked_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("r.json");
        let lock = Locked::take(&path).unwrap();
        assert!(lock.load().unwrap().is_none());
        let rotation = Rotation {
            id: "r1".into(),
            organization: "contoso.onmicrosoft.com".into(),
            app_id: "app".into(),
            profile: Some("contoso".into()),
            object_id: None,
            old: Key {
                thumbprint: "AA".into(),
                key_id: None,
                location: None,
                not_after: None,
            },
            new: Key {
                thumbprint: "BB".into(),
                key_id: Some("k".into()),
                location: Some(Location::File {
                    path: "/x.pfx".into(),
                }),
                not_after: None,
            },
            step: Step::Added,
            started: "2026-12-02T00:00:00Z".into(),
            switched: None,
            remove_after: None,
            overlap_seconds: 60,
        };
        lock.save(&rotation).unwrap();
        assert_eq!(lock.load().unwrap(), Some(rotation));
        let busy = Locked::take(&path).err().expect("the lock is held");
        assert!(
            busy.to_string().contains("another exorun command"),
            "{busy}"
        );
        std::fs::write(&path, b"{garbage").unwrap();
        assert!(lock.load().unwrap_err().to_string().contains("is damaged"));
        lock.remove().unwrap();
        assert!(lock.load().unwrap().is_none());
    }
}
