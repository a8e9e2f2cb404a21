//! Building the throwaway X.509 certificates the simulator needs, and the
//! digests by which Entra names a certificate.

use std::path::Path;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder, X509Ref};

const DAY: i64 = 86_400;

pub fn new_rsa_2048() -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(2048)?)
}

/// An RSA 2048 key, kept in `dir` as `<name>.pem` (0600, in a 0700 folder)
/// between starts when a folder is given. Generating one costs 50-400 ms of
/// CPU, most of an in-process simulator's start-up, and these keys only
/// ever sign in to (or sign for) a simulator. A missing, unreadable or
/// corrupt file, or a folder open to others, means a fresh key.
pub fn rsa_2048_kept(dir: Option<&Path>, name: &str) -> Result<PKey<Private>, ErrorStack> {
    let Some(dir) = dir.filter(|d| private_dir(d)) else {
        return new_rsa_2048();
    };
    let path = dir.join(format!("{name}.pem"));
    if let Some(key) = std::fs::read(&path)
        .ok()
        .and_then(|pem| PKey::private_key_from_pem(&pem).ok())
        .filter(|k| k.rsa().is_ok_and(|r| r.size() == 256))
    {
        return Ok(key);
    }
    let key = new_rsa_2048()?;
    if let Ok(pem) = key.private_key_to_pem_pkcs8() {
        // Another process may be writing the same name: write aside and
        // rename, so a reader sees a whole key or none.
        let staging = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        if crate::files::write_private(&staging, &pem).is_ok() {
            let _ = std::fs::rename(&staging, &path);
        }
    }
    Ok(key)
}

/// Creates `dir` (0700) and checks it is a real folder closed to group and
/// others (another user's 0700 folder is unreadable, so keys there are
/// never found and never written).
fn private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.mode() & 0o077 == 0)
}

/// P-256 for the CA and the TLS server: quick to generate and to handshake.
pub fn new_p256() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

/// What kind of certificate [`build`] makes.
pub enum Profile<'a> {
    /// A self-signed CA.
    Authority,
    /// A TLS server certificate for `127.0.0.1`, `::1` and `localhost`,
    /// signed by the given CA.
    Server {
        ca_cert: &'a X509Ref,
        ca_key: &'a PKeyRef<Private>,
    },
    /// A self-signed leaf (app credential, token-signing certificate).
    SelfSignedLeaf,
}

/// Builds a certificate valid from `now - 1 day` to `now + valid_days`.
pub fn build(
    common_name: &str,
    key: &PKeyRef<Private>,
    profile: Profile<'_>,
    valid_days: i64,
) -> Result<X509, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "exorun simulator")?;
    let name = name.build();

    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    builder.set_serial_number(Asn1Integer::from_bn(&serial)?.as_ref())?;
    builder.set_subject_name(&name)?;
    builder.set_pubkey(key)?;
    let now = crate::clock::unix_now();
    builder.set_not_before(Asn1Time::from_unix(now - DAY)?.as_ref())?;
    builder.set_not_after(Asn1Time::from_unix(now + valid_days * DAY)?.as_ref())?;

    match &profile {
        Profile::Authority => {
            builder.set_issuer_name(&name)?;
            builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
            builder.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()?,
            )?;
            let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
            builder.append_extension(ski)?;
        }
        Profile::Server { ca_cert, .. } => {
            builder.set_issuer_name(ca_cert.subject_name())?;
            builder.append_extension(BasicConstraints::new().critical().build()?)?;
            builder.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_agreement()
                    .build()?,
            )?;
            builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
            let san = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .ip("::1")
                .build(&builder.x509v3_context(Some(ca_cert), None))?;
            builder.append_extension(san)?;
            let ski =
                SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(ca_cert), None))?;
            builder.append_extension(ski)?;
            let aki = AuthorityKeyIdentifier::new()
                .keyid(true)
                .build(&builder.x509v3_context(Some(ca_cert), None))?;
            builder.append_extension(aki)?;
        }
        Profile::SelfSignedLeaf => {
            builder.set_issuer_name(&name)?;
            builder.append_extension(BasicConstraints::new().build()?)?;
            builder.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_encipherment()
                    .build()?,
            )?;
            builder.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        }
    }

    let signer: &PKeyRef<Private> = match &profile {
        Profile::Server { ca_key, .. } => ca_key,
        _ => key,
    };
    builder.sign(signer, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// The SHA-1 and SHA-256 digests of a certificate's DER encoding: what `x5t`
/// and `x5t#S256` carry (base64url) and what the portal shows (hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbprints {
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
}

impl Thumbprints {
    pub fn of_der(der: &[u8]) -> Result<Self, ErrorStack> {
        Ok(Thumbprints {
            sha1: openssl::hash::hash(MessageDigest::sha1(), der)?.to_vec(),
            sha256: openssl::hash::hash(MessageDigest::sha256(), der)?.to_vec(),
        })
    }

    pub fn sha1_hex(&self) -> String {
        upper_hex(&self.sha1)
    }

    pub fn sha256_hex(&self) -> String {
        upper_hex(&self.sha256)
    }
}

/// Upper-case hex, as the Azure portal shows thumbprints.
pub fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Reads a certificate given as DER or PEM (a `.cer` file can be either).
pub fn parse_der_or_pem(bytes: &[u8]) -> Result<X509, ErrorStack> {
    X509::from_der(bytes).or_else(|_| X509::from_pem(bytes))
}

/// A certificate's validity window as Unix seconds.
pub fn validity(cert: &X509Ref) -> Result<(i64, i64), ErrorStack> {
    let epoch = Asn1Time::from_unix(0)?;
    let to_unix = |t: &openssl::asn1::Asn1TimeRef| -> Result<i64, ErrorStack> {
        let diff = epoch.diff(t)?;
        Ok(i64::from(diff.days) * DAY + i64::from(diff.secs))
    };
    Ok((to_unix(cert.not_before())?, to_unix(cert.not_after())?))
}

/// The public half of a certificate's key.
pub fn public_key(cert: &X509Ref) -> Result<PKey<Public>, ErrorStack> {
    cert.public_key()
}

/// A certificate and its key kept in the state folder by an earlier start,
/// when they can be used again: the key file is the owner's alone (mode
/// 0600), the key is the certificate's, and the certificate is valid for
/// at least another day. Anything else is `None`, and the caller makes new
/// ones, so a damaged or tampered folder costs only a fresh certificate.
pub fn kept(certificate: &Path, key: &Path) -> Option<(X509, PKey<Private>)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::symlink_metadata(key).ok()?;
    // A key others could read or write (or a link to one) is not reused.
    if !metadata.is_file()
        || metadata.mode() & 0o077 != 0
        || metadata.uid() != rustix::process::geteuid().as_raw()
    {
        return None;
    }
    let key = PKey::private_key_from_pem(&std::fs::read(key).ok()?).ok()?;
    let cert = X509::from_pem(&std::fs::read(certificate).ok()?).ok()?;
    if !cert.public_key().ok()?.public_eq(&key) {
        return None;
    }
    let (not_before, not_after) = validity(&cert).ok()?;
    let now = crate::clock::unix_now();
    (not_before <= now && not_after > now + DAY).then_some((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_kept_certificate_is_reused_only_with_its_own_private_key_while_valid() {
        let dir = tempfile::tempdir().unwrap();
        let key = new_p256().unwrap();
        let cert = build("kept", &key, Profile::Authority, 365).unwrap();
        let cert_path = write(dir.path(), "ca.pem", &cert.to_pem().unwrap(), 0o644);
        let key_pem = key.private_key_to_pem_pkcs8().unwrap();
        let key_path = write(dir.path(), "ca-key.pem", &key_pem, 0o600);

        let (reused, _) = kept(&cert_path, &key_path).expect("valid, private, matching");
        assert_eq!(reused.to_der().unwrap(), cert.to_der().unwrap());

        // A key others can read is not reused.
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(kept(&cert_path, &key_path).is_none());
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();

        // Nor a link to a key.
        let link = dir.path().join("link-key.pem");
        std::os::unix::fs::symlink(&key_path, &link).unwrap();
        assert!(kept(&cert_path, &link).is_none());

        // Nor a key that is not the certificate's.
        let other = new_p256().unwrap();
        let other_path = write(
            dir.path(),
            "other-key.pem",
            &other.private_key_to_pem_pkcs8().unwrap(),
            0o600,
        );
        assert!(kept(&cert_path, &other_path).is_none());

        // Nor a certificate with less than a day left.
        let short = build("short", &key, Profile::Authority, 0).unwrap();
        let short_path = write(dir.path(), "short.pem", &short.to_pem().unwrap(), 0o644);
        assert!(kept(&short_path, &key_path).is_none());

        // Nor garbage.
        let junk = write(dir.path(), "junk.pem", b"not a certificate", 0o644);
        assert!(kept(&junk, &key_path).is_none());
    }
}
