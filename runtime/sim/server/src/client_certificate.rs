//! The ready-made app credential: a self-signed RSA 2048 certificate
//! registered on the default app and written out in the forms clients load
//! (PFX with a password, PEM with certificate and key, DER `.cer`).

use std::path::{Path, PathBuf};

use openssl::pkcs12::Pkcs12;
use openssl::x509::X509;
use rand::RngCore;

use crate::certificates::{self, Profile, Thumbprints};
use crate::error::{OpenSslContext, SimError};

/// Where the client certificate was written, and how clients name it.
pub struct ClientCertificate {
    pub certificate: X509,
    pub pfx_path: PathBuf,
    pub pfx_password: String,
    /// Certificate followed by its PKCS#8 private key.
    pub pem_path: PathBuf,
    pub cer_path: PathBuf,
    pub thumbprints: Thumbprints,
}

/// Creates the certificate (valid now-1d..now+365d) and writes its files;
/// the key-bearing ones with mode 0600. A certificate an earlier start
/// left in `state_dir` is used again (with its PFX password), so the
/// thumbprint a saved connection names stays registered.
pub fn create(state_dir: &Path, key_dir: Option<&Path>) -> Result<ClientCertificate, SimError> {
    let pfx_path = state_dir.join("app.pfx");
    let pem_path = state_dir.join("app.pem");
    let cer_path = state_dir.join("app.cer");
    let password_path = state_dir.join("app.pfx.password");
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimError::Write { path, source }
    };

    let kept = certificates::kept(&pem_path, &pem_path);
    let kept_password = kept
        .as_ref()
        .and_then(|_| std::fs::read_to_string(&password_path).ok())
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let (certificate, key) = match kept {
        Some(kept) => kept,
        None => {
            let key =
                certificates::rsa_2048_kept(key_dir, "app").doing("generating the client key")?;
            let certificate =
                certificates::build("exorun-sim-app", &key, Profile::SelfSignedLeaf, 365)
                    .doing("building the client certificate")?;
            (certificate, key)
        }
    };
    let pfx_password = match kept_password {
        Some(password) => password,
        None => {
            let mut secret = [0u8; 18];
            rand::rng().fill_bytes(&mut secret);
            let password = secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>();
            crate::files::write_private(&password_path, password.as_bytes())
                .map_err(write_err(&password_path))?;
            password
        }
    };

    let pfx = Pkcs12::builder()
        .name("exorun-sim-app")
        .pkey(&key)
        .cert(&certificate)
        .build2(&pfx_password)
        .doing("building the PFX")?
        .to_der()
        .doing("encoding the PFX")?;
    let mut pem = certificate.to_pem().doing("encoding the certificate")?;
    pem.extend(
        key.private_key_to_pem_pkcs8()
            .doing("encoding the client key")?,
    );
    let der = certificate.to_der().doing("encoding the certificate")?;
    let thumbprints = Thumbprints::of_der(&der).doing("hashing the certificate")?;

    crate::files::write_private(&pfx_path, &pfx).map_err(write_err(&pfx_path))?;
    crate::files::write_private(&pem_path, &pem).map_err(write_err(&pem_path))?;
    crate::files::write_public(&cer_path, &der).map_err(write_err(&cer_path))?;

    Ok(ClientCertificate {
        certificate,
        pfx_path,
        pfx_password,
        pem_path,
        cer_path,
        thumbprints,
    })
}
