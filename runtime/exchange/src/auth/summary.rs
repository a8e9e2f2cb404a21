//! What `exorun cert show` prints about a certificate file: who it names,
//! when it is valid, its thumbprints, whether it holds a private key.
//! Public parts only; works on `.cer` files that have no key.

use std::path::Path;
use std::time::{Duration, SystemTime};

use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::x509::X509;

use super::certificate::CertificateError;
use crate::secret::SecretString;

/// The public facts of a certificate file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSummary {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// SHA-1 thumbprint, upper-case hex, as the Entra portal shows it.
    pub thumbprint_sha1: String,
    pub thumbprint_sha256: String,
    pub has_private_key: bool,
    pub expired: bool,
    /// Expires within [`super::certificate::EXPIRY_WARNING_DAYS`] days.
    pub expires_soon: bool,
}

/// Reads a `.cer` (DER or PEM), `.pem`/`.crt`, or `.pfx`/`.p12` (which needs
/// its password) and summarises it.
pub fn summarize_file(
    path: &Path,
    password: Option<&SecretString>,
) -> Result<CertificateSummary, CertificateError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CertificateError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let invalid = |message: String| CertificateError::Invalid {
        origin: origin.clone(),
        message,
    };
    let is_pfx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"));
    let (cert, has_key) = if is_pfx {
        let Some(password) = password else {
            return Err(CertificateError::PasswordNeeded { origin });
        };
        let parsed = Pkcs12::from_der(&bytes)
            .and_then(|p| p.parse2(password.expose()))
            .map_err(|e| {
                if e.to_string().contains("mac verify failure") {
                    CertificateError::WrongPassword {
                        origin: origin.clone(),
                    }
                } else {
                    invalid(e.to_string())
                }
            })?;
        let cert = parsed
            .cert
            .ok_or_else(|| CertificateError::NotACertificate {
                origin: origin.clone(),
                detail: "no certificate in the file".into(),
            })?;
        (cert, parsed.pkey.is_some())
    } else {
        let cert = X509::from_pem(&bytes)
            .or_else(|_| X509::from_der(&bytes))
            .map_err(|_| CertificateError::NotACertificate {
                origin: origin.clone(),
                detail: "no certificate in the file".into(),
            })?;
        let has_key = String::from_utf8_lossy(&bytes).contains("PRIVATE KEY-----");
        (cert, has_key)
    };
    let digest = |md: MessageDigest| {
        cert.digest(md)
            .map(|d| hex_upper(&d))
            .map_err(|e| invalid(e.to_string()))
    };
    let name = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let not_after = asn1_to_system_time(cert.not_after());
    let now = SystemTime::now();
    Ok(CertificateSummary {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        not_before: cert.not_before().to_string(),
        not_after: cert.not_after().to_string(),
        thumbprint_sha1: digest(MessageDigest::sha1())?,
        thumbprint_sha256: digest(MessageDigest::sha256())?,
        has_private_key: has_key,
        expired: not_after.is_some_and(|t| t <= now),
        expires_soon: not_after.is_some_and(|t| {
            t <= now + Duration::from_secs(super::certificate::EXPIRY_WARNING_DAYS * 86_400)
        }),
    })
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn asn1_to_system_time(time: &openssl::asn1::Asn1TimeRef) -> Option<SystemTime> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}
