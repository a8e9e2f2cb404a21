//! Publisher signatures in minisign's format: ed25519 keys, the secret key
//! encrypted with a password (scrypt), signatures that the `minisign`
//! command verifies as they are.
//!
//! What is signed is a small JSON statement, shaped as cosign's "simple
//! signing" payload: this plugin name, this OCI manifest digest. The
//! minisign trusted comment, which the signature also covers, repeats
//! both, so `minisign -V` shows a person what they verified. Binding the
//! name keeps a signature from being replayed onto another repository.

use std::io::Cursor;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::name::PackageName;

/// Why a signature was not accepted; each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "{name} is not signed; install only plugins signed by a publisher you trust, or pass --allow-unsigned (warned and audited)"
    )]
    Unsigned { name: String },
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    #[error(
        "the signature is by key {key_id}, which your trust policy does not hold; if you trust its publisher: exorun trust add <public key> --publisher <name> --namespace <namespace>"
    )]
    UnknownKey { key_id: String },
    #[error(
        "the signature by {publisher} (key {key_id}) does not verify: the plugin or its signature was altered"
    )]
    Bad { key_id: String, publisher: String },
    #[error(
        "the signature by {publisher} (key {key_id}) is over {signed}, not over this artifact {actual}"
    )]
    OtherDigest {
        key_id: String,
        publisher: String,
        signed: String,
        actual: String,
    },
    #[error("the signature by {publisher} (key {key_id}) is for {signed}, not for {actual}")]
    OtherName {
        key_id: String,
        publisher: String,
        signed: String,
        actual: String,
    },
    #[error(
        "key {key_id} ({publisher}) is trusted for namespaces [{patterns}], not for '{namespace}'; to trust it there too: exorun trust add <public key> --publisher '{publisher}' --namespace '{namespace}'"
    )]
    Namespace {
        key_id: String,
        publisher: String,
        namespace: String,
        patterns: String,
    },
    #[error("{0}")]
    Key(String),
}

/// A new key pair, as minisign writes its two files.
pub struct KeyFiles {
    /// `minisign.pub`: an untrusted comment line and the key's base64.
    pub public: String,
    /// The encrypted secret key file (`minisign.key`).
    pub secret: SecretString,
    pub key_id: String,
}

/// Makes a key pair whose secret key is encrypted with `password`.
pub fn generate(password: &SecretString) -> Result<KeyFiles, SignatureError> {
    if password.expose_secret().is_empty() {
        return Err(SignatureError::Key(
            "the password is empty; a signing key must be protected".to_owned(),
        ));
    }
    let pair =
        minisign::KeyPair::generate_encrypted_keypair(Some(password.expose_secret().to_owned()))
            .map_err(|e| SignatureError::Key(format!("generating the key: {e}")))?;
    let key_id = key_id(pair.pk.keynum());
    let public = pair
        .pk
        .to_box()
        .map_err(|e| SignatureError::Key(e.to_string()))?
        .into_string();
    let secret = pair
        .sk
        .to_box(Some(&format!("exorun signing key {key_id}")))
        .map_err(|e| SignatureError::Key(e.to_string()))?
        .into_string();
    Ok(KeyFiles {
        public,
        secret: secret.into(),
        key_id,
    })
}

/// minisign's key id: the 8-byte key number as 16 uppercase hex digits.
fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&keynum[..8.min(keynum.len())]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

/// A publisher's secret key, decrypted.
pub struct SigningKey {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
    pub key_id: String,
}

impl SigningKey {
    /// Decrypts a secret key file's text.
    pub fn open(
        text: &SecretString,
        password: &SecretString,
    ) -> Result<SigningKey, SignatureError> {
        let boxed = minisign::SecretKeyBox::from_string(text.expose_secret())
            .map_err(|e| SignatureError::Key(format!("not a minisign secret key: {e}")))?;
        let secret = boxed
            .into_secret_key(Some(password.expose_secret().to_owned()))
            .map_err(|_| {
                SignatureError::Key(
                    "the secret key could not be decrypted: wrong password, or not a minisign secret key".to_owned(),
                )
            })?;
        let public = minisign::PublicKey::from_secret_key(&secret)
            .map_err(|e| SignatureError::Key(e.to_string()))?;
        Ok(SigningKey {
            key_id: key_id(public.keynum()),
            secret,
            public,
        })
    }

    /// Signs the statement "`name` is the artifact `digest`".
    pub fn sign(&self, name: &PackageName, digest: &str) -> Result<Signature, SignatureError> {
        let payload = Payload::new(name, digest).to_bytes();
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            Cursor::new(&payload),
            Some(&trusted_comment(&name.to_string(), digest)),
            Some(&format!("signature from exorun key {}", self.key_id)),
        )
        .map_err(|e| SignatureError::Key(format!("signing: {e}")))?;
        Ok(Signature {
            payload,
            minisig: signature.into_string(),
        })
    }
}

fn trusted_comment(name: &str, digest: &str) -> String {
    format!("exorun plugin {name} {digest}")
}

/// A publisher's public key, as an operator pastes it.
#[derive(Clone, Debug)]
pub struct PublicKey {
    key: minisign::PublicKey,
    pub key_id: String,
    /// The key's base64 line, the form the trust policy keeps.
    pub base64: String,
}

impl PublicKey {
    /// Accepts a whole `minisign.pub` file or only its base64 line.
    pub fn parse(text: &str) -> Result<PublicKey, SignatureError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        let not_a_key = || {
            SignatureError::Key(
                "not a minisign public key (expected the base64 line of minisign.pub, starting with RW)"
                    .to_owned(),
            )
        };
        // minisign's parser takes any 42 bytes; an ed25519 key starts "Ed".
        let raw = base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|_| not_a_key())?;
        if raw.len() != 42 || !raw.starts_with(b"Ed") {
            return Err(not_a_key());
        }
        let key = minisign::PublicKey::from_base64(line).map_err(|_| not_a_key())?;
        Ok(PublicKey {
            key_id: key_id(key.keynum()),
            base64: line.to_owned(),
            key,
        })
    }
}

/// A signature as it travels: the signed statement and minisign's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub payload: Vec<u8>,
    /// The `.minisig` file's text.
    pub minisig: String,
}

impl Signature {
    /// The key id the signature names, once its text is known to be well
    /// formed.
    pub fn key_id(&self) -> Result<String, SignatureError> {
        Ok(key_id(&well_formed(&self.minisig)?[2..10]))
    }

    /// Checks the signature with `key` (its key id must be the signature's)
    /// and returns the statement it signs.
    pub fn verify(&self, key: &PublicKey, publisher: &str) -> Result<Payload, SignatureError> {
        well_formed(&self.minisig)?;
        let bad = || SignatureError::Bad {
            key_id: key.key_id.clone(),
            publisher: publisher.to_owned(),
        };
        let boxed = minisign::SignatureBox::from_string(&self.minisig)
            .map_err(|e| SignatureError::Malformed(e.to_string()))?;
        if !boxed.is_prehashed() {
            return Err(SignatureError::Malformed(
                "legacy (not prehashed) minisign signatures are not accepted".to_owned(),
            ));
        }
        minisign::verify(
            &key.key,
            &boxed,
            Cursor::new(&self.payload),
            true,
            false,
            false,
        )
        .map_err(|_| bad())?;
        let payload = Payload::parse(&self.payload)?;
        // The trusted comment is covered by the global signature just
        // verified; it must say what the payload says.
        let comment = boxed.trusted_comment().map_err(|_| bad())?;
        if comment != trusted_comment(&payload.name(), &payload.digest()) {
            return Err(SignatureError::Malformed(
                "the trusted comment does not match the signed statement".to_owned(),
            ));
        }
        Ok(payload)
    }
}

/// Checks the shape minisign's parser assumes without checking (a global
/// signature of 64 bytes, a signature line of 74), so hostile text is an
/// error here rather than a panic there. Returns the signature line's
/// bytes.
fn well_formed(text: &str) -> Result<Vec<u8>, SignatureError> {
    let malformed = |what: &str| SignatureError::Malformed(what.to_owned());
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != 4 {
        return Err(malformed("a minisign signature has four lines"));
    }
    let decode = |line: &str| base64::engine::general_purpose::STANDARD.decode(line.trim());
    let signature = decode(lines[1]).map_err(|_| malformed("the signature line is not base64"))?;
    if signature.len() != 74 {
        return Err(malformed("the signature line is not 74 bytes"));
    }
    if !lines[2].starts_with("trusted comment: ") {
        return Err(malformed("the third line is not a trusted comment"));
    }
    let global = decode(lines[3]).map_err(|_| malformed("the global signature is not base64"))?;
    if global.len() != 64 {
        return Err(malformed("the global signature is not 64 bytes"));
    }
    Ok(signature)
}

/// The signed statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    critical: Critical,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

const PAYLOAD_TYPE: &str = "exorun plugin signature v1";

impl Payload {
    pub fn new(name: &PackageName, digest: &str) -> Payload {
        Payload {
            critical: Critical {
                identity: Identity {
                    reference: name.to_string(),
                },
                image: Image {
                    digest: digest.to_owned(),
                },
                kind: PAYLOAD_TYPE.to_owned(),
            },
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Payload, SignatureError> {
        let payload: Payload = serde_json::from_slice(bytes)
            .map_err(|e| SignatureError::Malformed(format!("the signed statement: {e}")))?;
        if payload.critical.kind != PAYLOAD_TYPE {
            return Err(SignatureError::Malformed(format!(
                "the signed statement is of type '{}', not '{PAYLOAD_TYPE}'",
                payload.critical.kind
            )));
        }
        Ok(payload)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `<namespace>/<name>`.
    pub fn name(&self) -> String {
        self.critical.identity.reference.clone()
    }

    pub fn digest(&self) -> String {
        self.critical.image.digest.clone()
    }
}
