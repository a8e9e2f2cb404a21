//! A certificate "store" on disk: a folder of PFX and PEM files searched by
//! SHA-1 thumbprint, so `-CertificateThumbprint` works off Windows too.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use openssl::hash::MessageDigest;
use openssl::x509::X509;

use super::certificate::{
    Certificate, CertificateError, check_private_file_mode, hex_upper, parse_thumbprint, read,
};
use crate::secret::SecretString;

enum Kind {
    Pfx,
    Pem,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "pfx" | "p12" => Some(Kind::Pfx),
        "pem" | "crt" | "cer" => Some(Kind::Pem),
        _ => None,
    }
}

pub(crate) fn find_in_store(
    dir: &Path,
    thumbprint: &str,
    password: Option<&SecretString>,
) -> Result<Certificate, CertificateError> {
    let wanted = parse_thumbprint(thumbprint)?;
    let wanted_hex = hex_upper(&wanted);
    let entries = std::fs::read_dir(dir).map_err(|e| CertificateError::Read {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && kind_of(p).is_some())
        .collect();
    // Deterministic order, so the same store always gives the same answer.
    paths.sort();

    let empty = SecretString::new("");
    let mut searched = 0;
    let mut skipped = 0;
    for path in &paths {
        searched += 1;
        let origin = path.display().to_string();
        match kind_of(path) {
            Some(Kind::Pfx) => {
                let Ok(bytes) = read(path) else { continue };
                match Certificate::parse_pfx(&bytes, password.unwrap_or(&empty), &origin) {
                    Ok(unchecked) if *unchecked.sha1() == wanted => {
                        check_private_file_mode(path)?;
                        return unchecked.checked(SystemTime::now());
                    }
                    Ok(_) => {}
                    Err(CertificateError::WrongPassword { .. }) => skipped += 1,
                    Err(_) => {}
                }
            }
            Some(Kind::Pem) => {
                let Ok(text) = read(path) else { continue };
                // Only the public part is needed to compare; the key is read
                // (and its file mode checked) once the certificate matched.
                let Ok(certs) = X509::stack_from_pem(&text) else {
                    continue;
                };
                let hit = certs.iter().any(|c| {
                    c.digest(MessageDigest::sha1())
                        .is_ok_and(|d| d.as_ref() == wanted)
                });
                if !hit {
                    continue;
                }
                let key_path = if text.windows(16).any(|w| w == b"PRIVATE KEY-----") {
                    path.clone()
                } else {
                    path.with_extension("key")
                };
                check_private_file_mode(&key_path)?;
                let key = read(&key_path)?;
                // Keep only the matching certificate so a bundle of several
                // leaves cannot pick the wrong one.
                let cert = certs
                    .into_iter()
                    .find(|c| {
                        c.digest(MessageDigest::sha1())
                            .is_ok_and(|d| d.as_ref() == wanted)
                    })
                    .and_then(|c| c.to_pem().ok())
                    .unwrap_or_default();
                return Certificate::parse_pem(&cert, Some(&key), password, &origin)?
                    .checked(SystemTime::now());
            }
            None => {}
        }
    }
    Err(CertificateError::NotInStore {
        thumbprint: wanted_hex,
        dir: dir.to_path_buf(),
        searched,
        skipped,
    })
}
