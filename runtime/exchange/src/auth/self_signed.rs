//! `exorun cert new`: a self-signed app certificate in the three forms an
//! app-only setup needs — a password-protected PFX for exorun, a PEM for
//! tools that want one, and a DER `.cer` to upload to the app registration.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

use super::certificate::{Certificate, CertificateError};
use crate::secret::{SecretBytes, SecretString};

/// A freshly generated certificate and its files' contents.
pub struct SelfSignedCertificate {
    /// PKCS#12 with certificate and key, encrypted with `pfx_password`.
    pub pfx: SecretBytes,
    pub pfx_password: SecretString,
    /// Certificate then unencrypted PKCS#8 key: write it with mode 0600.
    pub pem: SecretBytes,
    /// The certificate alone in DER: the `.cer` to upload to Entra.
    pub cer: Vec<u8>,
    pub certificate: Certificate,
}

impl fmt::Debug for SelfSignedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSignedCertificate")
            .field("certificate", &self.certificate)
            .field("pfx", &self.pfx)
            .field("pfx_password", &self.pfx_password)
            .field("pem", &self.pem)
            .finish_non_exhaustive()
    }
}

/// Generates an RSA key of `bits` (at least 2048) and a self-signed
/// certificate for `subject` (`CN=…[, O=…]`) valid from now for `days`,
/// its PFX protected by a new random password.
pub fn generate_self_signed(
    subject: &str,
    days: u32,
    bits: u32,
) -> Result<SelfSignedCertificate, CertificateError> {
    generate_self_signed_with_password(subject, days, bits, None)
}

/// As [`generate_self_signed`], with the PFX (and the PEM's private key)
/// protected by `password` when one is given: an admin who set a password
/// must be able to open what was made with it.
pub fn generate_self_signed_with_password(
    subject: &str,
    days: u32,
    bits: u32,
    password: Option<&SecretString>,
) -> Result<SelfSignedCertificate, CertificateError> {
    let origin = "new certificate";
    let invalid = |message: String| CertificateError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let ssl = |e: openssl::error::ErrorStack| invalid(e.to_string());
    if bits < 2048 {
        return Err(CertificateError::KeyTooSmall {
            origin: origin.to_owned(),
            bits,
        });
    }
    if days == 0 {
        return Err(invalid("the validity must be at least one day".to_owned()));
    }
    let rsa = Rsa::generate(bits).map_err(ssl)?;
    let key = PKey::from_rsa(rsa).map_err(ssl)?;

    let mut name = X509NameBuilder::new().map_err(ssl)?;
    let parts = parse_subject(subject).map_err(invalid)?;
    for (k, v) in &parts {
        name.append_entry_by_text(k, v)
            .map_err(|e| invalid(format!("subject attribute {k}: {e}")))?;
    }
    let name = name.build();

    let mut b = X509::builder().map_err(ssl)?;
    b.set_version(2).map_err(ssl)?;
    let mut serial = BigNum::new().map_err(ssl)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ssl)?;
    let serial = serial.to_asn1_integer().map_err(ssl)?;
    b.set_serial_number(&serial).map_err(ssl)?;
    b.set_subject_name(&name).map_err(ssl)?;
    b.set_issuer_name(&name).map_err(ssl)?;
    b.set_pubkey(&key).map_err(ssl)?;
    // Backdate a minute so a clock a little behind does not see a
    // not-yet-valid certificate.
    let now = crate::time_util::unix_seconds(std::time::SystemTime::now());
    let not_before = Asn1Time::from_unix(now - 60).map_err(ssl)?;
    b.set_not_before(&not_before).map_err(ssl)?;
    let not_after = Asn1Time::days_from_now(days).map_err(ssl)?;
    b.set_not_after(&not_after).map_err(ssl)?;
    b.append_extension(BasicConstraints::new().critical().build().map_err(ssl)?)
        .map_err(ssl)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()
            .map_err(ssl)?,
    )
    .map_err(ssl)?;
    b.append_extension(ExtendedKeyUsage::new().client_auth().build().map_err(ssl)?)
        .map_err(ssl)?;
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .map_err(ssl)?;
    b.append_extension(ski).map_err(ssl)?;
    b.sign(&key, MessageDigest::sha256()).map_err(ssl)?;
    let cert = b.build();

    let given = password.is_some();
    let password = match password {
        Some(p) if !p.expose().is_empty() => p.clone(),
        Some(_) => return Err(invalid("the certificate password is empty".to_owned())),
        None => {
            let mut raw = [0u8; 24];
            openssl::rand::rand_bytes(&mut raw).map_err(ssl)?;
            SecretString::new(URL_SAFE_NO_PAD.encode(raw))
        }
    };
    let friendly = parts
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("CN"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("exorun");
    let pfx = Pkcs12::builder()
        .name(friendly)
        .pkey(&key)
        .cert(&cert)
        .build2(password.expose())
        .map_err(ssl)?
        .to_der()
        .map_err(ssl)?;
    let mut pem = cert.to_pem().map_err(ssl)?;
    if given {
        pem.extend(
            key.private_key_to_pem_pkcs8_passphrase(
                openssl::symm::Cipher::aes_256_cbc(),
                password.expose().as_bytes(),
            )
            .map_err(ssl)?,
        );
    } else {
        pem.extend(key.private_key_to_pem_pkcs8().map_err(ssl)?);
    }
    let cer = cert.to_der().map_err(ssl)?;
    let certificate = Certificate::from_pfx_bytes(&pfx, &password, origin)?;
    Ok(SelfSignedCertificate {
        pfx: SecretBytes::new(pfx),
        pfx_password: password,
        pem: SecretBytes::new(pem),
        cer,
        certificate,
    })
}

/// `CN=exorun, O=Contoso` → [("CN","exorun"), ("O","Contoso")].
fn parse_subject(subject: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in subject.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("subject part '{part}' is not KEY=value"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(format!("subject part '{part}' is not KEY=value"));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    if !out.iter().any(|(k, _)| k.eq_ignore_ascii_case("CN")) {
        return Err(format!("the subject '{subject}' needs a CN=… part"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_needs_a_common_name() {
        assert_eq!(
            parse_subject("CN=exorun, O=Contoso").unwrap(),
            vec![
                ("CN".to_owned(), "exorun".to_owned()),
                ("O".to_owned(), "Contoso".to_owned())
            ]
        );
        assert!(parse_subject("O=Contoso").is_err());
        assert!(parse_subject("CN").is_err());
    }
}
