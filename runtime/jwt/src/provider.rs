//! The OpenSSL-backed `CryptoProvider`: RS256 and PS256 only.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::RsaPssSaltlen;

/// The provider this crate installs.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_of_private,
        rsa_pub_components_from_public_key: rsa_components_of_public,
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::UnsupportedAlgorithm.into()),
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::UnsupportedAlgorithm.into()),
        compute_digest,
    },
};

/// Makes [`PROVIDER`] the process default unless one is installed already
/// (then that one is used: `jsonwebtoken` allows one per process, and
/// another part of the program may have chosen first).
pub(crate) fn install() {
    let _ = PROVIDER.install_default();
}

/// The two RSA schemes Entra accepts for a client assertion.
#[derive(Clone, Copy)]
enum Scheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5).
    Ps256,
}

impl Scheme {
    fn of(algorithm: &Algorithm) -> Result<Self> {
        match algorithm {
            Algorithm::RS256 => Ok(Scheme::Rs256),
            Algorithm::PS256 => Ok(Scheme::Ps256),
            _ => Err(ErrorKind::UnsupportedAlgorithm.into()),
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Scheme::Rs256 => Algorithm::RS256,
            Scheme::Ps256 => Algorithm::PS256,
        }
    }
}

struct RsaSigner {
    scheme: Scheme,
    key: PKey<Private>,
}

struct RsaVerifier {
    scheme: Scheme,
    key: PKey<Public>,
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let scheme = Scheme::of(algorithm)?;
    if key.family() != AlgorithmFamily::Rsa {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let rsa = Rsa::private_key_from_der(key.as_bytes()).map_err(invalid_key)?;
    let key = PKey::from_rsa(rsa).map_err(invalid_key)?;
    Ok(Box::new(RsaSigner { scheme, key }))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let scheme = Scheme::of(algorithm)?;
    if key.family() != AlgorithmFamily::Rsa {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let rsa = match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => Rsa::public_key_from_der_pkcs1(der),
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            let n = BigNum::from_slice(n).map_err(invalid_key)?;
            let e = BigNum::from_slice(e).map_err(invalid_key)?;
            Rsa::from_public_components(n, e)
        }
    }
    .map_err(invalid_key)?;
    let key = PKey::from_rsa(rsa).map_err(invalid_key)?;
    Ok(Box::new(RsaVerifier { scheme, key }))
}

pub(crate) fn invalid_key(e: openssl::error::ErrorStack) -> Error {
    ErrorKind::InvalidRsaKey(e.to_string()).into()
}

/// Sets the padding (and for PSS the salt and mask) on a signer or verifier.
macro_rules! configure {
    ($ctx:expr, $scheme:expr) => {{
        match $scheme {
            Scheme::Rs256 => $ctx.set_rsa_padding(Padding::PKCS1),
            Scheme::Ps256 => $ctx
                .set_rsa_padding(Padding::PKCS1_PSS)
                .and_then(|()| $ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH))
                .and_then(|()| $ctx.set_rsa_mgf1_md(MessageDigest::sha256())),
        }
    }};
}

impl Signer<Vec<u8>> for RsaSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)
            .map_err(signature::Error::from_source)?;
        configure!(signer, self.scheme).map_err(signature::Error::from_source)?;
        signer
            .sign_oneshot_to_vec(msg)
            .map_err(signature::Error::from_source)
    }
}

impl JwtSigner for RsaSigner {
    fn algorithm(&self) -> Algorithm {
        self.scheme.algorithm()
    }
}

impl Verifier<Vec<u8>> for RsaVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &self.key)
            .map_err(signature::Error::from_source)?;
        configure!(verifier, self.scheme).map_err(signature::Error::from_source)?;
        match verifier.verify_oneshot(signature, msg) {
            Ok(true) => Ok(()),
            Ok(false) => Err(signature::Error::new()),
            Err(e) => Err(signature::Error::from_source(e)),
        }
    }
}

impl JwtVerifier for RsaVerifier {
    fn algorithm(&self) -> Algorithm {
        self.scheme.algorithm()
    }
}

fn rsa_components_of_private(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let rsa = Rsa::private_key_from_der(der).map_err(invalid_key)?;
    Ok((rsa.n().to_vec(), rsa.e().to_vec()))
}

fn rsa_components_of_public(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let rsa = Rsa::public_key_from_der_pkcs1(der).map_err(invalid_key)?;
    Ok((rsa.n().to_vec(), rsa.e().to_vec()))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let digest = match hash {
        ThumbprintHash::SHA256 => MessageDigest::sha256(),
        ThumbprintHash::SHA384 => MessageDigest::sha384(),
        ThumbprintHash::SHA512 => MessageDigest::sha512(),
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    openssl::hash::hash(digest, data)
        .map(|d| d.to_vec())
        .map_err(|e| ErrorKind::Signing(e.to_string()).into())
}
