//! The client assertion: a compact JWS signed with the app certificate's
//! key (docs/protocol.md, "Client assertion"). Parsing is lenient where real clients are
//! quirky (float times, padded thumbprints, wrapped `x5c`) and strict
//! everywhere else.
//!
//! Read by hand, not by `jsonwebtoken` (which the simulator uses to issue
//! and check its own access tokens): each defect of an assertion must be
//! answered with the AADSTS code Entra gives for it (a missing `alg`, a part
//! that is not base64url, a claim of the wrong type), and `jsonwebtoken`'s
//! error kinds do not tell those apart, nor accept the quirks above.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::{Map, Value};

/// The two signature profiles Entra accepts (docs/protocol.md, "Client assertion").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    Ps256,
}

/// How the assertion names its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyReference {
    /// `x5t`: SHA-1 digest of the certificate.
    Sha1(Vec<u8>),
    /// `x5t#S256`: SHA-256 digest of the certificate.
    Sha256(Vec<u8>),
    /// Only `x5c`: the digest is computed from the leaf certificate.
    /// Entra's SN+I matching is not simulated; looking the leaf up by its
    /// digest is the simulator's (unverified) lenient choice.
    LeafCertificate(Vec<u8>),
    /// Nothing to find the key by.
    None,
}

impl KeyReference {
    /// The digest to look up and how the portal would show it (hex).
    pub fn digest(&self) -> Option<Vec<u8>> {
        match self {
            KeyReference::Sha1(d) | KeyReference::Sha256(d) => Some(d.clone()),
            KeyReference::LeafCertificate(der) => openssl::hash::hash(MessageDigest::sha256(), der)
                .ok()
                .map(|d| d.to_vec()),
            KeyReference::None => None,
        }
    }
}

/// A parsed, not yet trusted, client assertion.
#[derive(Clone, Debug)]
pub struct ClientAssertion {
    pub algorithm: Algorithm,
    pub key: KeyReference,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// `aud` as one or more strings.
    pub audiences: Vec<String>,
    pub jwt_id: Option<String>,
    pub not_before: Option<f64>,
    pub issued_at: Option<f64>,
    pub expires: Option<f64>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why an assertion is not a well-formed JWS (AADSTS50027).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedAssertion(pub String);

fn malformed(text: impl Into<String>) -> MalformedAssertion {
    MalformedAssertion(text.into())
}

/// Decodes base64url with or without `=` padding (msal pads, docs/protocol.md, "What real OAuth clients need of a test tenant").
pub fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

impl ClientAssertion {
    pub fn parse(jws: &str) -> Result<Self, MalformedAssertion> {
        let mut parts = jws.trim().split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "JWT token is invalid or malformed. It must have three parts.",
            ));
        };
        let header = decode_json_object(header, "header")?;
        let claims = decode_json_object(payload, "payload")?;
        let signature = decode_base64url(signature)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                malformed("JWT token is invalid or malformed. The signature is not base64url.")
            })?;

        let algorithm = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Algorithm::Rs256,
            Some("PS256") => Algorithm::Ps256,
            Some(other) => {
                // `none`, HS256 and friends are refused as malformed rather
                // than as a bad signature: the simulator's choice.
                return Err(malformed(format!(
                    "JWT token is invalid or malformed. Unsupported signing algorithm '{other}'."
                )));
            }
            None => {
                return Err(malformed(
                    "JWT token is invalid or malformed. The header has no 'alg'.",
                ));
            }
        };

        let key = key_reference(&header)?;

        Ok(ClientAssertion {
            algorithm,
            key,
            issuer: string_claim(&claims, "iss")?,
            subject: string_claim(&claims, "sub")?,
            audiences: audience_claim(&claims)?,
            jwt_id: string_claim(&claims, "jti")?,
            not_before: time_claim(&claims, "nbf")?,
            issued_at: time_claim(&claims, "iat")?,
            expires: time_claim(&claims, "exp")?,
            signing_input: {
                let end = jws.trim().rfind('.').unwrap_or(0);
                jws.trim()[..end].to_owned()
            },
            signature,
        })
    }

    /// Checks the signature with the registered certificate's public key.
    pub fn signature_is_valid(&self, key: &PKey<Public>) -> bool {
        let Ok(mut verifier) = Verifier::new(MessageDigest::sha256(), key) else {
            return false;
        };
        if self.algorithm == Algorithm::Ps256 {
            let configured = verifier.set_rsa_padding(Padding::PKCS1_PSS).is_ok()
                && verifier.set_rsa_mgf1_md(MessageDigest::sha256()).is_ok()
                && verifier
                    .set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))
                    .is_ok();
            if !configured {
                return false;
            }
        }
        verifier.update(self.signing_input.as_bytes()).is_ok()
            && verifier.verify(&self.signature).unwrap_or(false)
    }
}

fn decode_json_object(part: &str, what: &str) -> Result<Map<String, Value>, MalformedAssertion> {
    let bytes = decode_base64url(part).ok_or_else(|| {
        malformed(format!(
            "JWT token is invalid or malformed. The {what} is not base64url."
        ))
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(format!(
            "JWT token is invalid or malformed. The {what} is not a JSON object."
        ))),
    }
}

fn key_reference(header: &Map<String, Value>) -> Result<KeyReference, MalformedAssertion> {
    // A thumbprint of the wrong length, or a hex thumbprint passed through
    // (a classic client bug), is kept as given: it names no registered key,
    // so AADSTS700027 "The key was not found." follows, as on the service.
    let thumbprint = |name: &str| -> Result<Option<Vec<u8>>, MalformedAssertion> {
        match header.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                decode_base64url(s).unwrap_or_else(|| s.as_bytes().to_vec()),
            )),
            Some(_) => Err(malformed(format!(
                "JWT token is invalid or malformed. '{name}' must be a string."
            ))),
        }
    };
    // x5c is tolerated: whitespace inside entries (msal keeps PEM line
    // breaks) is stripped before decoding; a bad entry is malformed.
    let leaf = match header.get("x5c") {
        None => None,
        Some(Value::Array(entries)) => match entries.first() {
            None => None,
            Some(Value::String(first)) => {
                let compact: String = first.chars().filter(|c| !c.is_whitespace()).collect();
                Some(STANDARD.decode(compact).map_err(|_| {
                    malformed("JWT token is invalid or malformed. 'x5c' is not base64.")
                })?)
            }
            Some(_) => {
                return Err(malformed(
                    "JWT token is invalid or malformed. 'x5c' entries must be strings.",
                ));
            }
        },
        Some(_) => {
            return Err(malformed(
                "JWT token is invalid or malformed. 'x5c' must be an array.",
            ));
        }
    };
    if let Some(d) = thumbprint("x5t#S256")? {
        return Ok(KeyReference::Sha256(d));
    }
    if let Some(d) = thumbprint("x5t")? {
        return Ok(KeyReference::Sha1(d));
    }
    Ok(leaf.map_or(KeyReference::None, KeyReference::LeafCertificate))
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, MalformedAssertion> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!(
            "JWT token is invalid or malformed. Claim '{name}' must be a string."
        ))),
    }
}

fn audience_claim(claims: &Map<String, Value>) -> Result<Vec<String>, MalformedAssertion> {
    match claims.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    malformed("JWT token is invalid or malformed. Claim 'aud' must hold strings.")
                })
            })
            .collect(),
        Some(_) => Err(malformed(
            "JWT token is invalid or malformed. Claim 'aud' must be a string.",
        )),
    }
}

/// NumericDate as integer or float (msal sends floats, docs/protocol.md, "What real OAuth clients need of a test tenant").
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, MalformedAssertion> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(t) if t.is_finite() => Ok(Some(t)),
            _ => Err(malformed(format!(
                "JWT token is invalid or malformed. Claim '{name}' is not a valid time."
            ))),
        },
        Some(_) => Err(malformed(format!(
            "JWT token is invalid or malformed. Claim '{name}' must be a number."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn padded_and_unpadded_x5t_decode_to_the_doc_test_vector() {
        let expected: Vec<u8> = (0..20)
            .map(|i| {
                u8::from_str_radix(
                    &"84E05C1D98BCE3A5421D225B140B36E86A3D5534"[i * 2..i * 2 + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        assert_eq!(
            decode_base64url("hOBcHZi846VCHSJbFAs26Go9VTQ").unwrap(),
            expected
        );
        assert_eq!(
            decode_base64url("hOBcHZi846VCHSJbFAs26Go9VTQ=").unwrap(),
            expected
        );
    }

    #[test]
    fn float_times_and_missing_nbf_are_accepted() {
        let header =
            serde_json::json!({"alg":"RS256","typ":"JWT","x5t":"hOBcHZi846VCHSJbFAs26Go9VTQ="});
        let claims = serde_json::json!({"iss":"a","sub":"a","aud":"x","jti":"j","iat":1700000000.0642767,"exp":1700000600.0642767});
        let jws = format!("{}.{}.c2ln", encode(&header), encode(&claims));
        let a = ClientAssertion::parse(&jws).unwrap();
        assert_eq!(a.not_before, None);
        assert_eq!(a.expires, Some(1700000600.0642767));
        assert!(matches!(a.key, KeyReference::Sha1(ref d) if d.len() == 20));
    }

    #[test]
    fn alg_none_and_two_part_tokens_are_malformed() {
        let header = serde_json::json!({"alg":"none"});
        let claims = serde_json::json!({});
        assert!(
            ClientAssertion::parse(&format!("{}.{}.c2ln", encode(&header), encode(&claims)))
                .is_err()
        );
        assert!(ClientAssertion::parse("abc.def").is_err());
        assert!(ClientAssertion::parse("").is_err());
    }
}
