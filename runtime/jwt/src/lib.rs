//! JWTs for exorun, encoded and decoded by `jsonwebtoken`, signed and
//! verified by OpenSSL.
//!
//! `jsonwebtoken` leaves its cryptography to a pluggable provider. Its two
//! built-in ones were not taken: RustCrypto's `rsa` crate carries an open
//! timing advisory for private-key operations (RUSTSEC-2023-0071, "Marvin"),
//! and the certificate's private key is exactly what signs a client
//! assertion; `aws-lc-rs` would add a second C crypto library and a cmake
//! build beside the OpenSSL that already reads exorun's PFX and PEM files.
//! So this crate supplies a provider backed by OpenSSL, limited to the two
//! algorithms Entra's certificate flow uses (RS256 and PS256, see
//! docs/protocol.md, "Client assertion"); every other algorithm is refused
//! with `UnsupportedAlgorithm`, never a panic.

#![forbid(unsafe_code)]

mod provider;

pub use jsonwebtoken::errors::{Error, ErrorKind};
pub use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, TokenData, Validation};
pub use provider::PROVIDER;
use provider::invalid_key;

use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// The key `jsonwebtoken` signs with, from an OpenSSL RSA private key. The
/// intermediate DER copy is wiped; the `EncodingKey` wipes its own on drop.
pub fn encoding_key(key: &PKeyRef<Private>) -> Result<EncodingKey, Error> {
    let rsa = key.rsa().map_err(invalid_key)?;
    let der = Zeroizing::new(rsa.private_key_to_der().map_err(invalid_key)?);
    Ok(EncodingKey::from_rsa_der(&der))
}

/// The key `jsonwebtoken` verifies with, from any OpenSSL key holding an
/// RSA public half.
pub fn decoding_key<T: HasPublic>(key: &PKey<T>) -> Result<DecodingKey, Error> {
    let rsa = key.rsa().map_err(invalid_key)?;
    Ok(DecodingKey::from_rsa_raw_components(
        &rsa.n().to_vec(),
        &rsa.e().to_vec(),
    ))
}

/// Encodes and signs a compact JWS (`header.claims.signature`).
pub fn sign<T: Serialize>(header: &Header, claims: &T, key: &EncodingKey) -> Result<String, Error> {
    provider::install();
    jsonwebtoken::encode(header, claims, key)
}

/// Checks the signature and `validation`, then decodes the claims.
pub fn verify<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<TokenData<T>, Error> {
    provider::install();
    jsonwebtoken::decode(token, key, validation)
}

/// The claims, read WITHOUT checking the signature: only for showing what a
/// token says about itself (its app, tenant and roles), never for deciding.
pub fn unverified_claims<T: DeserializeOwned>(token: &str) -> Result<T, Error> {
    jsonwebtoken::dangerous::insecure_decode_claims(token)
}

#[cfg(test)]
mod tests;
