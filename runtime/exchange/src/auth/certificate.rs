//! The app certificate: loaded from a PFX, from PEM, or from a folder by
//! thumbprint, and checked before it is ever used to sign.
//!
//! Every check that Entra would otherwise fail with an opaque AADSTS code
//! (wrong key, expired certificate, key not matching) is made here, at load
//! time, with a message that says what to do.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::{X509, X509NameRef};

use crate::secret::SecretString;
use crate::time_util::{format_utc, from_unix_seconds};

/// Below this many days of validity left, loading logs a warning.
pub const EXPIRY_WARNING_DAYS: u64 = 30;

/// Why a certificate could not be loaded. Never contains key material or
/// passwords: only paths, subjects, thumbprints and OpenSSL's reason text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{origin}: the certificate password is wrong")]
    WrongPassword { origin: String },
    #[error("{origin}: the private key is encrypted; give the certificate password")]
    PasswordNeeded { origin: String },
    #[error("{origin}: not a certificate ({detail})")]
    NotACertificate { origin: String, detail: String },
    #[error(
        "{origin}: no private key found (a PFX with its key, or a PEM private key, is needed to sign)"
    )]
    NoPrivateKey { origin: String },
    #[error("{origin}: the private key does not match the certificate {thumbprint}")]
    KeyMismatch { origin: String, thumbprint: String },
    #[error("{origin}: the key is {kind}; client assertions are signed with RSA (RS256/PS256)")]
    UnsupportedKey { origin: String, kind: String },
    #[error("{origin}: an RSA key of {bits} bits is too small; use at least 2048")]
    KeyTooSmall { origin: String, bits: u32 },
    #[error(
        "{} is readable by group or others (mode {mode:03o}); private keys must be private: chmod 600 {}",
        path.display(),
        path.display()
    )]
    KeyFileTooOpen { path: PathBuf, mode: u32 },
    #[error(
        "certificate {thumbprint} ({subject}) expired on {not_after}; create a new one and upload it to the app registration"
    )]
    Expired {
        thumbprint: String,
        subject: String,
        not_after: String,
    },
    #[error(
        "certificate {thumbprint} ({subject}) is not valid until {not_before}; check the system clock"
    )]
    NotYetValid {
        thumbprint: String,
        subject: String,
        not_before: String,
    },
    #[error("'{0}' is not a SHA-1 thumbprint (40 hexadecimal digits)")]
    BadThumbprint(String),
    #[error("no certificate with thumbprint {thumbprint} in {} ({searched} certificate files looked at{})", dir.display(), skipped_note(*skipped))]
    NotInStore {
        thumbprint: String,
        dir: PathBuf,
        searched: usize,
        skipped: usize,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

fn skipped_note(skipped: usize) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!("; {skipped} PFX files could not be opened with the given password")
    }
}

/// An X.509 certificate with its RSA private key, ready to sign assertions.
#[derive(Clone)]
pub struct Certificate {
    cert: X509,
    /// The private key as `jsonwebtoken` signs with it (wiped on drop).
    signing_key: exorun_jwt::EncodingKey,
    der: Vec<u8>,
    sha1: [u8; 20],
    sha256: [u8; 32],
    subject: String,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("thumbprint", &self.thumbprint_sha1_hex())
            .field("not_after", &format_utc(self.not_after))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Certificate {
    /// Loads a PFX/P12 file. The file must not be readable by group or
    /// others, since it holds the private key.
    pub fn from_pfx_file(path: &Path, password: &SecretString) -> Result<Self, CertificateError> {
        check_private_file_mode(path)?;
        let bytes = read(path)?;
        Self::from_pfx_bytes(&bytes, password, &path.display().to_string())
    }

    /// Parses PFX bytes; `origin` names them in error messages.
    pub fn from_pfx_bytes(
        bytes: &[u8],
        password: &SecretString,
        origin: &str,
    ) -> Result<Self, CertificateError> {
        Self::parse_pfx(bytes, password, origin)?.checked(SystemTime::now())
    }

    /// Loads one PEM file holding the certificate and its private key (the
    /// key may be encrypted, then `password` is needed).
    pub fn from_pem_file(
        path: &Path,
        password: Option<&SecretString>,
    ) -> Result<Self, CertificateError> {
        check_private_file_mode(path)?;
        let text = read(path)?;
        Self::from_pem(&text, None, password, &path.display().to_string())
    }

    /// Loads a certificate PEM and a separate private-key PEM file; only the
    /// key file has to be private.
    pub fn from_pem_files(
        cert_path: &Path,
        key_path: &Path,
        password: Option<&SecretString>,
    ) -> Result<Self, CertificateError> {
        let cert = read(cert_path)?;
        check_private_file_mode(key_path)?;
        let key = read(key_path)?;
        Self::from_pem(
            &cert,
            Some(&key),
            password,
            &cert_path.display().to_string(),
        )
    }

    /// Parses PEM text: certificate(s), and the key either in `key_pem` or
    /// in the same text. With several certificates (a chain), the one that
    /// matches the key is used.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: Option<&[u8]>,
        password: Option<&SecretString>,
        origin: &str,
    ) -> Result<Self, CertificateError> {
        Self::parse_pem(cert_pem, key_pem, password, origin)?.checked(SystemTime::now())
    }

    /// Finds the certificate whose SHA-1 thumbprint is `thumbprint` in a
    /// folder of PFX/P12 and PEM/CRT/CER files: the portable stand-in for
    /// Windows' `Cert:\CurrentUser\My` behind `-CertificateThumbprint`.
    ///
    /// PFX files are opened with `password` (or an empty one); PEM files may
    /// carry the key themselves or next to them as `<stem>.key`.
    pub fn from_store(
        dir: &Path,
        thumbprint: &str,
        password: Option<&SecretString>,
    ) -> Result<Self, CertificateError> {
        crate::auth::store::find_in_store(dir, thumbprint, password)
    }

    pub(crate) fn parse_pfx(
        bytes: &[u8],
        password: &SecretString,
        origin: &str,
    ) -> Result<Unchecked, CertificateError> {
        let pkcs12 = Pkcs12::from_der(bytes).map_err(|_| CertificateError::NotACertificate {
            origin: origin.to_owned(),
            detail: "not a PKCS#12 (PFX) file".to_owned(),
        })?;
        let parsed = pkcs12
            .parse2(password.expose())
            .map_err(|e| pfx_error(&e, origin))?;
        let cert = parsed
            .cert
            .ok_or_else(|| CertificateError::NotACertificate {
                origin: origin.to_owned(),
                detail: "the PFX holds no certificate".to_owned(),
            })?;
        let key = parsed.pkey.ok_or_else(|| CertificateError::NoPrivateKey {
            origin: origin.to_owned(),
        })?;
        Unchecked::new(cert, key, origin)
    }

    pub(crate) fn parse_pem(
        cert_pem: &[u8],
        key_pem: Option<&[u8]>,
        password: Option<&SecretString>,
        origin: &str,
    ) -> Result<Unchecked, CertificateError> {
        let certs = pem_certificates(cert_pem, origin)?;
        let key_text = key_pem.unwrap_or(cert_pem);
        let key = pem_private_key(key_text, password, origin)?;
        // In a chain, the leaf is the certificate of this key.
        let cert = certs
            .iter()
            .find(|c| c.public_key().is_ok_and(|p| p.public_eq(&key)))
            .or_else(|| certs.first())
            .cloned()
            .ok_or_else(|| CertificateError::NotACertificate {
                origin: origin.to_owned(),
                detail: "no CERTIFICATE block".to_owned(),
            })?;
        Unchecked::new(cert, key, origin)
    }

    /// The subject as `CN=…, O=…`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Upper-case hex SHA-1 of the DER, as the Entra portal shows it.
    pub fn thumbprint_sha1_hex(&self) -> String {
        hex_upper(&self.sha1)
    }

    /// Upper-case hex SHA-256 of the DER.
    pub fn thumbprint_sha256_hex(&self) -> String {
        hex_upper(&self.sha256)
    }

    /// `x5t`: base64url of the raw SHA-1 digest, unpadded (docs/protocol.md, "Client assertion").
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha1)
    }

    /// `x5t#S256`: base64url of the raw SHA-256 digest, unpadded.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }

    /// The certificate in DER, e.g. for a `.cer` upload.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// True when the certificate expires within `days` from now (or has).
    pub fn expires_within(&self, days: u64) -> bool {
        self.expires_within_at(days, SystemTime::now())
    }

    fn expires_within_at(&self, days: u64, now: SystemTime) -> bool {
        now + Duration::from_secs(days.saturating_mul(86_400)) >= self.not_after
    }

    /// The key client assertions are signed with.
    pub(crate) fn signing_key(&self) -> &exorun_jwt::EncodingKey {
        &self.signing_key
    }

    /// The certificate itself (public data).
    pub fn x509(&self) -> &X509 {
        &self.cert
    }
}

/// A parsed certificate whose validity dates were not yet checked.
pub(crate) struct Unchecked(Certificate);

impl Unchecked {
    fn new(cert: X509, key: PKey<Private>, origin: &str) -> Result<Self, CertificateError> {
        let invalid = |message: String| CertificateError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let der = cert.to_der().map_err(|e| invalid(e.to_string()))?;
        let sha1: [u8; 20] = digest(&der, MessageDigest::sha1(), origin)?;
        let sha256: [u8; 32] = digest(&der, MessageDigest::sha256(), origin)?;
        let thumbprint = hex_upper(&sha1);
        if key.id() != Id::RSA && key.id() != Id::RSA_PSS {
            return Err(CertificateError::UnsupportedKey {
                origin: origin.to_owned(),
                kind: key_kind(key.id()),
            });
        }
        if key.bits() < 2048 {
            return Err(CertificateError::KeyTooSmall {
                origin: origin.to_owned(),
                bits: key.bits(),
            });
        }
        let matches = cert.public_key().is_ok_and(|p| p.public_eq(&key));
        if !matches {
            return Err(CertificateError::KeyMismatch {
                origin: origin.to_owned(),
                thumbprint,
            });
        }
        let not_before = asn1_to_system(cert.not_before()).map_err(invalid)?;
        let not_after = asn1_to_system(cert.not_after()).map_err(invalid)?;
        let subject = name_to_string(cert.subject_name());
        let signing_key = exorun_jwt::encoding_key(&key).map_err(|e| invalid(e.to_string()))?;
        Ok(Unchecked(Certificate {
            cert,
            signing_key,
            der,
            sha1,
            sha256,
            subject,
            not_before,
            not_after,
        }))
    }

    pub(crate) fn sha1(&self) -> &[u8; 20] {
        &self.0.sha1
    }

    /// Refuses an expired or not-yet-valid certificate and warns when it
    /// expires within [`EXPIRY_WARNING_DAYS`].
    pub(crate) fn checked(self, now: SystemTime) -> Result<Certificate, CertificateError> {
        let c = self.0;
        if now > c.not_after {
            return Err(CertificateError::Expired {
                thumbprint: c.thumbprint_sha1_hex(),
                subject: c.subject.clone(),
                not_after: format_utc(c.not_after),
            });
        }
        if now < c.not_before {
            return Err(CertificateError::NotYetValid {
                thumbprint: c.thumbprint_sha1_hex(),
                subject: c.subject.clone(),
                not_before: format_utc(c.not_before),
            });
        }
        if c.expires_within_at(EXPIRY_WARNING_DAYS, now) {
            tracing::warn!(
                thumbprint = %c.thumbprint_sha1_hex(),
                subject = %c.subject,
                not_after = %format_utc(c.not_after),
                "the app certificate expires within {EXPIRY_WARNING_DAYS} days; roll it over with `exorun cert rotate`"
            );
        }
        Ok(c)
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, CertificateError> {
    std::fs::read(path).map_err(|e| CertificateError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Refuses a key-bearing file that group or others can read, as ssh does.
#[cfg(unix)]
pub(crate) fn check_private_file_mode(path: &Path) -> Result<(), CertificateError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| CertificateError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CertificateError::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private_file_mode(_path: &Path) -> Result<(), CertificateError> {
    Ok(())
}

fn pfx_error(e: &openssl::error::ErrorStack, origin: &str) -> CertificateError {
    let reasons: Vec<String> = e
        .errors()
        .iter()
        .filter_map(|e| e.reason().map(str::to_owned))
        .collect();
    let joined = reasons.join("; ");
    if joined.contains("mac verify failure") || joined.contains("invalid password") {
        CertificateError::WrongPassword {
            origin: origin.to_owned(),
        }
    } else if joined.contains("unsupported") {
        CertificateError::Invalid {
            origin: origin.to_owned(),
            message: format!(
                "the PFX uses a legacy cipher this OpenSSL does not load ({joined}); re-export it with AES-256 (openssl pkcs12 -export -certpbe AES-256-CBC -keypbe AES-256-CBC)"
            ),
        }
    } else {
        CertificateError::Invalid {
            origin: origin.to_owned(),
            message: format!("cannot open the PFX ({joined})"),
        }
    }
}

fn pem_certificates(pem: &[u8], origin: &str) -> Result<Vec<X509>, CertificateError> {
    if !contains(pem, b"-----BEGIN CERTIFICATE-----") {
        return Err(CertificateError::NotACertificate {
            origin: origin.to_owned(),
            detail: "no PEM CERTIFICATE block".to_owned(),
        });
    }
    X509::stack_from_pem(pem).map_err(|e| CertificateError::NotACertificate {
        origin: origin.to_owned(),
        detail: format!("the CERTIFICATE block does not parse: {e}"),
    })
}

fn pem_private_key(
    pem: &[u8],
    password: Option<&SecretString>,
    origin: &str,
) -> Result<PKey<Private>, CertificateError> {
    if !contains(pem, b"PRIVATE KEY-----") {
        return Err(CertificateError::NoPrivateKey {
            origin: origin.to_owned(),
        });
    }
    let encrypted =
        contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED");
    if encrypted && password.is_none_or(SecretString::is_empty) {
        return Err(CertificateError::PasswordNeeded {
            origin: origin.to_owned(),
        });
    }
    // Always pass a callback: with none, OpenSSL would prompt on the
    // terminal for an encrypted key.
    let pass = password.map(|p| p.expose().as_bytes()).unwrap_or_default();
    PKey::private_key_from_pem_callback(pem, |buf| {
        if pass.len() > buf.len() {
            return Ok(0);
        }
        buf[..pass.len()].copy_from_slice(pass);
        Ok(pass.len())
    })
    .map_err(|e| {
        if encrypted {
            CertificateError::WrongPassword {
                origin: origin.to_owned(),
            }
        } else {
            CertificateError::Invalid {
                origin: origin.to_owned(),
                message: format!("the private key does not parse: {e}"),
            }
        }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn digest<const N: usize>(
    der: &[u8],
    md: MessageDigest,
    origin: &str,
) -> Result<[u8; N], CertificateError> {
    let bytes = openssl::hash::hash(md, der).map_err(|e| CertificateError::Invalid {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    bytes
        .as_ref()
        .try_into()
        .map_err(|_| CertificateError::Invalid {
            origin: origin.to_owned(),
            message: "unexpected digest length".to_owned(),
        })
}

fn asn1_to_system(t: &Asn1TimeRef) -> Result<SystemTime, String> {
    let epoch = Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
    let diff = epoch.diff(t).map_err(|e| e.to_string())?;
    Ok(from_unix_seconds(
        i64::from(diff.days) * 86_400 + i64::from(diff.secs),
    ))
}

pub(crate) fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "?".to_owned());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_kind(id: Id) -> String {
    match id {
        Id::EC => "an EC key".to_owned(),
        Id::ED25519 => "an Ed25519 key".to_owned(),
        Id::DSA => "a DSA key".to_owned(),
        other => format!("key type {}", other.as_raw()),
    }
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Normalises a thumbprint as users paste it: case-insensitive, spaces,
/// colons and the invisible left-to-right mark the Windows certificate
/// dialog copies are ignored. Returns the 20 raw bytes.
pub fn parse_thumbprint(thumbprint: &str) -> Result<[u8; 20], CertificateError> {
    let cleaned: String = thumbprint
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '\u{200e}' && *c != '\u{feff}')
        .collect();
    let bad = || CertificateError::BadThumbprint(thumbprint.trim().to_owned());
    if cleaned.len() != 40 || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&cleaned[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_normalised() {
        let a = parse_thumbprint("84E05C1D98BCE3A5421D225B140B36E86A3D5534").unwrap();
        let b =
            parse_thumbprint("\u{200e}84 e0 5c 1d 98 bc e3 a5 42 1d 22 5b 14 0b 36 e8 6a 3d 55 34")
                .unwrap();
        assert_eq!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.encode(a), "hOBcHZi846VCHSJbFAs26Go9VTQ");
        assert_eq!(
            parse_thumbprint("84E0").unwrap_err(),
            CertificateError::BadThumbprint("84E0".to_owned())
        );
    }
}
