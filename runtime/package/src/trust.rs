//! The operator's trust policy: which publishers' keys are trusted, and
//! for which namespaces. Kept in `trust.toml` beside the other operator
//! configuration, never inside a plugin.
//!
//! A namespace pattern is matched segment by segment; `*` stands for any
//! run of characters within one segment: `contoso` matches only
//! `contoso`, `contoso-*` matches `contoso-it`, `contoso/*` matches
//! `contoso/it`, and `*` matches every one-segment namespace.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::PackageError;
use crate::name::PackageName;
use crate::signing::{PublicKey, Signature, SignatureError};

/// One trusted publisher key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TrustedKey {
    pub publisher: String,
    pub key_id: String,
    /// The base64 line of the publisher's `minisign.pub`.
    pub public_key: String,
    pub namespaces: Vec<String>,
    /// When it was added, RFC 3339.
    pub added: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default, rename = "key")]
    keys: Vec<TrustedKey>,
}

/// Who signed a plugin, once the signature and the policy agree; the lock
/// records it as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Signer {
    pub key_id: String,
    pub publisher: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.publisher, self.key_id)
    }
}

/// The trust policy file, read and written whole.
#[derive(Debug)]
pub struct TrustPolicy {
    path: PathBuf,
    keys: Vec<TrustedKey>,
}

impl TrustPolicy {
    /// Reads the policy; a missing file is an empty policy (nothing is
    /// trusted).
    pub fn load(path: &Path) -> Result<TrustPolicy, PackageError> {
        let keys = match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: TrustFile = toml::from_str(&text).map_err(|e| PackageError::Trust {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
                for key in &file.keys {
                    PublicKey::parse(&key.public_key).map_err(|e| PackageError::Trust {
                        path: path.to_owned(),
                        message: format!("key of {}: {e}", key.publisher),
                    })?;
                }
                file.keys
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(PackageError::io("reading the trust policy", path)(e)),
        };
        Ok(TrustPolicy {
            path: path.to_owned(),
            keys,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the policy under an exclusive lock (`<file>.lock` beside it),
    /// lets `change` edit it, and writes it back when `change` succeeded
    /// and changed something:
    /// two editors (`exorun trust` and the service's admin API) never lose
    /// each other's keys.
    pub fn edit<R>(
        path: &Path,
        change: impl FnOnce(&mut TrustPolicy) -> Result<R, PackageError>,
    ) -> Result<R, PackageError> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::store::create_private_dir(parent)?;
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let guard = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&lock_path)
        }
        .map_err(PackageError::io("opening", &lock_path))?;
        guard
            .lock()
            .map_err(PackageError::io("locking", &lock_path))?;
        let mut policy = TrustPolicy::load(path)?;
        let before = policy.keys.clone();
        let result = change(&mut policy)?;
        if policy.keys != before {
            policy.save()?;
        }
        Ok(result)
    }

    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Trusts `key` for `namespaces` as `publisher`. A key already trusted
    /// keeps its entry and gains the namespaces.
    pub fn add(
        &mut self,
        key: &PublicKey,
        publisher: &str,
        namespaces: &[String],
        now: &str,
    ) -> Result<(), PackageError> {
        let invalid = |message: String| PackageError::Trust {
            path: self.path.clone(),
            message,
        };
        if publisher.trim().is_empty() || publisher.chars().any(char::is_control) {
            return Err(invalid(
                "--publisher must name the publisher in plain text".to_owned(),
            ));
        }
        for pattern in namespaces {
            if !valid_pattern(pattern) {
                return Err(invalid(format!(
                    "namespace pattern '{pattern}' must be lowercase segments separated by '/', with '*' for any run of characters within a segment"
                )));
            }
        }
        if let Some(existing) = self.keys.iter_mut().find(|k| k.key_id == key.key_id) {
            if existing.publisher != publisher {
                return Err(invalid(format!(
                    "key {} is already trusted as publisher '{}'; remove it first to rename it",
                    key.key_id, existing.publisher
                )));
            }
            for pattern in namespaces {
                if !existing.namespaces.contains(pattern) {
                    existing.namespaces.push(pattern.clone());
                }
            }
            return Ok(());
        }
        self.keys.push(TrustedKey {
            publisher: publisher.to_owned(),
            key_id: key.key_id.clone(),
            public_key: key.base64.clone(),
            namespaces: namespaces.to_vec(),
            added: now.to_owned(),
        });
        Ok(())
    }

    /// Removes the key with this id, or every key of this publisher;
    /// returns what was removed.
    pub fn remove(&mut self, key_id_or_publisher: &str) -> Vec<TrustedKey> {
        let (removed, kept) = std::mem::take(&mut self.keys).into_iter().partition(|k| {
            k.key_id.eq_ignore_ascii_case(key_id_or_publisher) || k.publisher == key_id_or_publisher
        });
        self.keys = kept;
        removed
    }

    /// Writes the policy (0600, replaced atomically).
    pub fn save(&self) -> Result<(), PackageError> {
        let text = toml::to_string_pretty(&TrustFile {
            keys: self.keys.clone(),
        })
        .map_err(|e| PackageError::Trust {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let text = format!(
            "# exorun trust policy: publisher keys and the namespaces each is trusted for.\n# Edit with `exorun trust add/remove`.\n{text}"
        );
        crate::store::write_atomic(&self.path, text.as_bytes())
    }

    /// Accepts a signature only when its key is trusted, it verifies, it
    /// signs exactly `name` and `digest`, and the key is trusted for
    /// `name`'s namespace.
    pub fn check(
        &self,
        signature: &Signature,
        name: &PackageName,
        digest: &str,
    ) -> Result<Signer, SignatureError> {
        let key_id = signature.key_id()?;
        let Some(entry) = self.keys.iter().find(|k| k.key_id == key_id) else {
            return Err(SignatureError::UnknownKey { key_id });
        };
        let key = PublicKey::parse(&entry.public_key)?;
        let payload = signature.verify(&key, &entry.publisher)?;
        if payload.digest() != digest {
            return Err(SignatureError::OtherDigest {
                key_id,
                publisher: entry.publisher.clone(),
                signed: payload.digest(),
                actual: digest.to_owned(),
            });
        }
        if payload.name() != name.to_string() {
            return Err(SignatureError::OtherName {
                key_id,
                publisher: entry.publisher.clone(),
                signed: payload.name(),
                actual: name.to_string(),
            });
        }
        if !entry
            .namespaces
            .iter()
            .any(|p| pattern_matches(p, &name.namespace))
        {
            return Err(SignatureError::Namespace {
                key_id,
                publisher: entry.publisher.clone(),
                namespace: name.namespace.clone(),
                patterns: entry.namespaces.join(", "),
            });
        }
        Ok(Signer {
            key_id,
            publisher: entry.publisher.clone(),
        })
    }
}

fn valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.split('/').all(|segment| {
            !segment.is_empty()
                && segment.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'.' | b'_' | b'-' | b'*')
                })
        })
}

/// Whether `namespace` matches `pattern`, segment by segment.
pub fn pattern_matches(pattern: &str, namespace: &str) -> bool {
    let patterns: Vec<&str> = pattern.split('/').collect();
    let segments: Vec<&str> = namespace.split('/').collect();
    patterns.len() == segments.len()
        && patterns
            .iter()
            .zip(&segments)
            .all(|(p, s)| segment_matches(p.as_bytes(), s.as_bytes()))
}

/// `*` matches any run of bytes; everything else itself.
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| segment_matches(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && segment_matches(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::{TrustPolicy, pattern_matches};

    #[test]
    fn two_editors_at_once_keep_each_others_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trust.toml");
        let keys: Vec<crate::signing::PublicKey> = (0..16)
            .map(|_| {
                let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
                crate::signing::PublicKey::parse(&pair.pk.to_box().unwrap().to_string()).unwrap()
            })
            .collect();
        std::thread::scope(|scope| {
            for half in keys.chunks(8) {
                let path = &path;
                scope.spawn(move || {
                    for (i, key) in half.iter().enumerate() {
                        TrustPolicy::edit(path, |policy| {
                            policy.add(
                                key,
                                &format!("publisher {i}"),
                                &["contoso".to_owned()],
                                "now",
                            )
                        })
                        .unwrap();
                    }
                });
            }
        });
        let policy = TrustPolicy::load(&path).unwrap();
        assert_eq!(policy.keys().len(), 16);
        // A change that fails writes nothing.
        let before = std::fs::read(&path).unwrap();
        let refused = TrustPolicy::edit(&path, |policy| {
            policy.add(&keys[0], "someone else", &["contoso".to_owned()], "now")
        });
        assert!(refused.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn namespace_patterns_match_segment_by_segment() {
        assert!(pattern_matches("contoso", "contoso"));
        assert!(!pattern_matches("contoso", "contoso-evil"));
        assert!(!pattern_matches("contoso", "contoso/it"));
        assert!(pattern_matches("contoso-*", "contoso-it"));
        assert!(pattern_matches("contoso/*", "contoso/it"));
        assert!(!pattern_matches("contoso/*", "contoso"));
        assert!(pattern_matches("*", "fabrikam"));
        assert!(!pattern_matches("*", "fabrikam/it"));
        assert!(!pattern_matches("*soft", "contoso"));
    }
}
