//! Every message between the service and its workers is sealed with a key
//! they share (HMAC-SHA256), because anyone who can publish to the NATS
//! server could otherwise queue a run in anyone's name, past every role
//! check and the audit trail, or write a run's end into the history. A
//! worker runs only orders the service sealed; the service records only
//! events a worker sealed.
//!
//! The key is a file of 32 random bytes (`[queue] key-file`, by default
//! `<data-dir>/queue.key`). The service makes it, readable by its owner
//! only, when it is missing; workers must be given a copy and refuse to
//! start without it. Nobody else needs it.

use std::path::Path;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

const KEY_BYTES: usize = 32;
const MAC_HEX: usize = 64;

/// What a sealed message is, so that one kind cannot pass for another.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Order,
    Event,
    Dead,
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Order => b"exorun run order\n",
            Kind::Event => b"exorun run event\n",
            Kind::Dead => b"exorun dead letter\n",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the message is not sealed with this queue's key")]
    Forged,
}

/// The shared key.
#[derive(Clone)]
pub struct QueueKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueKey(..)")
    }
}

impl QueueKey {
    /// Reads the key file; a missing, short or group- or world-readable
    /// file is refused, saying what to do.
    pub fn load(path: &Path) -> Result<QueueKey, String> {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read the queue key {} ({e}): copy it from the service's machine, where `exorun serve` made it",
                path.display()
            )
        })?;
        if bytes.len() < KEY_BYTES {
            return Err(format!(
                "the queue key {} holds {} bytes; it needs at least {KEY_BYTES} (copy the one `exorun serve` made)",
                path.display(),
                bytes.len()
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "the queue key {} can be read by others (mode {:o}): `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ));
            }
        }
        Ok(QueueKey { key: bytes })
    }

    /// Reads the key file, making it (32 random bytes, mode 0600) when it
    /// does not exist. Whether it was made.
    pub fn load_or_create(path: &Path) -> Result<(QueueKey, bool), String> {
        if !path.exists() {
            let mut key = [0u8; KEY_BYTES];
            openssl::rand::rand_bytes(&mut key).map_err(|e| e.to_string())?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, &key)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| format!("writing {}: {e}", path.display()))?;
                    return Ok((QueueKey { key: key.to_vec() }, true));
                }
                // Made meanwhile by another instance.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("creating {}: {e}", path.display())),
            }
        }
        Self::load(path).map(|k| (k, false))
    }

    fn mac(&self, kind: Kind, body: &[u8]) -> Vec<u8> {
        // HMAC with a valid key and SHA-256 does not fail.
        let make = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let key = PKey::hmac(&self.key)?;
            let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
            signer.update(kind.label())?;
            signer.update(body)?;
            signer.sign_to_vec()
        };
        make().unwrap_or_default()
    }

    /// `<hex mac>\n<body>`.
    pub fn seal(&self, kind: Kind, body: &[u8]) -> Vec<u8> {
        let mut out = hex::encode(self.mac(kind, body)).into_bytes();
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }

    /// The body of a message this key sealed as `kind`.
    pub fn open<'a>(&self, kind: Kind, sealed: &'a [u8]) -> Result<&'a [u8], SealError> {
        if sealed.len() <= MAC_HEX || sealed[MAC_HEX] != b'\n' {
            return Err(SealError::Forged);
        }
        let (mac, body) = (&sealed[..MAC_HEX], &sealed[MAC_HEX + 1..]);
        let given = hex::decode(mac).map_err(|_| SealError::Forged)?;
        let expected = self.mac(kind, body);
        if expected.len() == given.len() && openssl::memcmp::eq(&expected, &given) {
            Ok(body)
        } else {
            Err(SealError::Forged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> QueueKey {
        QueueKey {
            key: vec![byte; KEY_BYTES],
        }
    }

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let k = key(1);
        let sealed = k.seal(Kind::Order, b"{\"id\":\"r\"}");
        assert_eq!(k.open(Kind::Order, &sealed).unwrap(), b"{\"id\":\"r\"}");
        // Another key, another kind, a changed body, no seal at all.
        assert!(key(2).open(Kind::Order, &sealed).is_err());
        assert!(k.open(Kind::Event, &sealed).is_err());
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() = b']';
        assert!(k.open(Kind::Order, &changed).is_err());
        assert!(k.open(Kind::Order, b"{\"id\":\"r\"}").is_err());
        assert!(k.open(Kind::Order, b"").is_err());
        let mut not_hex = sealed.clone();
        not_hex[0] = b'z';
        assert!(k.open(Kind::Order, &not_hex).is_err());
    }

    #[test]
    fn makes_a_private_key_file_once_and_refuses_a_shared_or_short_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.key");
        let (made, created) = QueueKey::load_or_create(&path).unwrap();
        assert!(created);
        let (again, created) = QueueKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(made.key, again.key);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = QueueKey::load(&path).unwrap_err();
        assert!(err.contains("can be read by others (mode 644)"), "{err}");
        let short = dir.path().join("short.key");
        std::fs::write(&short, b"tiny").unwrap();
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = QueueKey::load(&short).unwrap_err();
        assert!(err.contains("holds 4 bytes; it needs at least 32"), "{err}");
        let err = QueueKey::load(&dir.path().join("missing.key")).unwrap_err();
        assert!(err.contains("copy it from the service's machine"), "{err}");
    }
}
