//! Loading the app certificate: PFX, PEM, store lookup, and the refusals.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use exorun_exchange::{Certificate, CertificateError, SecretString, generate_self_signed};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::{X509, X509NameBuilder};

fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// A certificate valid from `from` to `to` (Unix seconds), as a PFX.
fn pfx_with_validity(from: i64, to: i64, password: &str) -> Vec<u8> {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "dated").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(from).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(to).unwrap()).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    Pkcs12::builder()
        .pkey(&key)
        .cert(&cert)
        .build2(password)
        .unwrap()
        .to_der()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_pfx_loads_with_the_right_password_and_exposes_its_facts() {
    let generated = generate_self_signed("CN=exorun-app, O=Contoso", 365, 2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "app.pfx", generated.pfx.expose(), 0o600);
    let cert = Certificate::from_pfx_file(&path, &generated.pfx_password).unwrap();
    assert_eq!(cert.subject(), "CN=exorun-app, O=Contoso");
    let sha1 = openssl::sha::sha1(&generated.cer);
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(cert.thumbprint_sha1_hex(), hex);
    let sha256 = openssl::sha::sha256(&generated.cer);
    let hex256: String = sha256.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(cert.thumbprint_sha256_hex(), hex256);
    assert_eq!(cert.der(), generated.cer.as_slice());
    let days = cert
        .not_after()
        .duration_since(cert.not_before())
        .unwrap()
        .as_secs()
        / 86_400;
    assert_eq!(days, 365);
    assert!(!cert.expires_within(30));
    assert!(cert.expires_within(366));
}

#[test]
fn a_wrong_pfx_password_says_so() {
    let generated = generate_self_signed("CN=x", 30, 2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "app.pfx", generated.pfx.expose(), 0o600);
    let err = Certificate::from_pfx_file(&path, &SecretString::new("nope")).unwrap_err();
    assert_eq!(
        err,
        CertificateError::WrongPassword {
            origin: path.display().to_string()
        }
    );
    assert!(
        err.to_string()
            .ends_with("the certificate password is wrong")
    );
}

#[test]
fn a_pem_with_certificate_and_key_loads() {
    let generated = generate_self_signed("CN=pem", 30, 2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "app.pem", generated.pem.expose(), 0o600);
    let cert = Certificate::from_pem_file(&path, None).unwrap();
    assert_eq!(
        cert.thumbprint_sha1_hex(),
        generated.certificate.thumbprint_sha1_hex()
    );
}

#[test]
fn an_encrypted_pem_key_needs_the_right_password() {
    let generated = generate_self_signed("CN=enc", 30, 2048).unwrap();
    let key = generated.certificate.x509().clone();
    let dir = tempfile::tempdir().unwrap();
    // Re-encrypt the key from the PEM with a password.
    let pem = String::from_utf8(generated.pem.expose().to_vec()).unwrap();
    let key_start = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let pkey = PKey::private_key_from_pem(&pem.as_bytes()[key_start..]).unwrap();
    let encrypted = pkey
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"s3cret")
        .unwrap();
    let cert_path = write(dir.path(), "app.crt", &key.to_pem().unwrap(), 0o644);
    let key_path = write(dir.path(), "app.key", &encrypted, 0o600);

    let ok = Certificate::from_pem_files(&cert_path, &key_path, Some(&"s3cret".into())).unwrap();
    assert_eq!(ok.subject(), "CN=enc");
    let wrong =
        Certificate::from_pem_files(&cert_path, &key_path, Some(&"other".into())).unwrap_err();
    assert!(
        matches!(wrong, CertificateError::WrongPassword { .. }),
        "{wrong}"
    );
    let missing = Certificate::from_pem_files(&cert_path, &key_path, None).unwrap_err();
    assert!(
        matches!(missing, CertificateError::PasswordNeeded { .. }),
        "{missing}"
    );
}

#[test]
fn a_group_readable_key_file_is_refused_with_the_chmod_to_run() {
    let generated = generate_self_signed("CN=open", 30, 2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "app.pfx", generated.pfx.expose(), 0o640);
    let err = Certificate::from_pfx_file(&path, &generated.pfx_password).unwrap_err();
    assert_eq!(
        err,
        CertificateError::KeyFileTooOpen {
            path: path.clone(),
            mode: 0o640
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{0} is readable by group or others (mode 640); private keys must be private: chmod 600 {0}",
            path.display()
        )
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let pfx = pfx_with_validity(now() - 10 * 86_400, now() - 86_400, "pw");
    let err = Certificate::from_pfx_bytes(&pfx, &"pw".into(), "old.pfx").unwrap_err();
    assert!(matches!(err, CertificateError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("expired on"), "{err}");
}

#[test]
fn a_not_yet_valid_certificate_is_refused() {
    let pfx = pfx_with_validity(now() + 86_400, now() + 10 * 86_400, "pw");
    let err = Certificate::from_pfx_bytes(&pfx, &"pw".into(), "future.pfx").unwrap_err();
    assert!(matches!(err, CertificateError::NotYetValid { .. }), "{err}");
}

#[test]
fn a_certificate_expiring_soon_loads_and_says_so() {
    let pfx = pfx_with_validity(now() - 86_400, now() + 10 * 86_400, "pw");
    let cert = Certificate::from_pfx_bytes(&pfx, &"pw".into(), "soon.pfx").unwrap();
    assert!(cert.expires_within(30));
    assert!(!cert.expires_within(5));
}

#[test]
fn text_that_is_not_a_certificate_is_refused() {
    let err = Certificate::from_pem(b"hello", None, None, "junk.pem").unwrap_err();
    assert_eq!(
        err,
        CertificateError::NotACertificate {
            origin: "junk.pem".into(),
            detail: "no PEM CERTIFICATE block".into()
        }
    );
    let err = Certificate::from_pfx_bytes(b"hello", &"".into(), "junk.pfx").unwrap_err();
    assert!(matches!(err, CertificateError::NotACertificate { .. }));
}

#[test]
fn a_certificate_without_its_key_is_refused() {
    let generated = generate_self_signed("CN=nokey", 30, 2048).unwrap();
    let pem = generated.certificate.x509().to_pem().unwrap();
    let err = Certificate::from_pem(&pem, None, None, "cert.pem").unwrap_err();
    assert_eq!(
        err,
        CertificateError::NoPrivateKey {
            origin: "cert.pem".into()
        }
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let a = generate_self_signed("CN=a", 30, 2048).unwrap();
    let b = generate_self_signed("CN=b", 30, 2048).unwrap();
    let cert_a = a.certificate.x509().to_pem().unwrap();
    let pem_b = String::from_utf8(b.pem.expose().to_vec()).unwrap();
    let key_b = &pem_b[pem_b.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    let err = Certificate::from_pem(&cert_a, Some(key_b.as_bytes()), None, "a.pem").unwrap_err();
    assert_eq!(
        err,
        CertificateError::KeyMismatch {
            origin: "a.pem".into(),
            thumbprint: a.certificate.thumbprint_sha1_hex()
        }
    );
}

#[test]
fn the_store_finds_a_certificate_by_thumbprint_in_any_case_and_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let pfx = generate_self_signed("CN=in-pfx", 30, 2048).unwrap();
    let pem = generate_self_signed("CN=in-pem", 30, 2048).unwrap();
    let other = generate_self_signed("CN=other", 30, 2048).unwrap();
    write(dir.path(), "a.pfx", pfx.pfx.expose(), 0o600);
    write(dir.path(), "b.pem", pem.pem.expose(), 0o600);
    write(dir.path(), "c.pfx", other.pfx.expose(), 0o600);
    write(dir.path(), "readme.txt", b"not a certificate", 0o644);

    let spaced = |hex: String| {
        hex.to_ascii_lowercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let found = Certificate::from_store(
        dir.path(),
        &spaced(pfx.certificate.thumbprint_sha1_hex()),
        Some(&pfx.pfx_password),
    )
    .unwrap();
    assert_eq!(found.subject(), "CN=in-pfx");
    let found =
        Certificate::from_store(dir.path(), &pem.certificate.thumbprint_sha1_hex(), None).unwrap();
    assert_eq!(found.subject(), "CN=in-pem");

    let missing = "0000000000000000000000000000000000000000";
    let err = Certificate::from_store(dir.path(), missing, None).unwrap_err();
    assert_eq!(
        err,
        CertificateError::NotInStore {
            thumbprint: missing.into(),
            dir: dir.path().to_path_buf(),
            searched: 3,
            skipped: 2,
        }
    );
}

#[test]
fn self_signed_generation_refuses_small_keys() {
    let err = generate_self_signed("CN=x", 30, 1024).unwrap_err();
    assert!(matches!(
        err,
        CertificateError::KeyTooSmall { bits: 1024, .. }
    ));
}
