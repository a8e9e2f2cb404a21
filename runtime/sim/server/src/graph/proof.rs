//! The proof of possession `addKey` and `removeKey` demand: a JWT signed by
//! one of the application's current keys, `aud` =
//! `00000002-0000-0000-c000-000000000000`, `iss` = the application's
//! object id, valid for at most ten minutes (docs/protocol.md, "Microsoft
//! Graph: application keys"). Choice (unverified): the refusal texts, each
//! naming the check that failed, all under `Request_BadRequest`.

use crate::directory::{AppRegistration, RegisteredCertificate};
use crate::entra::assertion::ClientAssertion;

/// The proof's audience.
pub const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
/// The longest life (`exp - nbf`) a proof may have.
pub const MAX_PROOF_LIFETIME: f64 = 600.0;
/// Clock skew allowed on `nbf`.
const SKEW: f64 = 300.0;

/// Checks `proof` for `app` at `now`; returns the key that signed it.
pub(crate) fn check<'a>(
    app: &'a AppRegistration,
    proof: &str,
    now: f64,
) -> Result<&'a RegisteredCertificate, String> {
    let invalid = |why: &str| format!("Invalid proof: {why}");
    let parsed = ClientAssertion::parse(proof).map_err(|e| invalid(&e.0))?;
    let digest = parsed
        .key
        .digest()
        .ok_or_else(|| invalid("the token's header names no key (x5t or x5t#S256)."))?;
    let key = app.certificate_by_digest(&digest).ok_or_else(|| {
        invalid("the token is signed by a key that is not registered on the application.")
    })?;
    if !parsed.signature_is_valid(&key.public_key) {
        return Err(invalid(
            "the signature does not verify with the key its header names.",
        ));
    }
    if now < key.not_before as f64 || now > key.not_after as f64 {
        return Err(invalid(
            "the key that signed it is not within its validity period (an expired certificate cannot prove possession).",
        ));
    }
    if !parsed.audiences.iter().any(|a| a == PROOF_AUDIENCE) {
        return Err(invalid(&format!("the audience must be {PROOF_AUDIENCE}.")));
    }
    if !parsed
        .issuer
        .as_deref()
        .is_some_and(|iss| iss.eq_ignore_ascii_case(&app.object_id))
    {
        return Err(invalid("the issuer must be the application's object id."));
    }
    let (Some(nbf), Some(exp)) = (parsed.not_before, parsed.expires) else {
        return Err(invalid("the token must carry nbf and exp."));
    };
    if exp - nbf > MAX_PROOF_LIFETIME {
        return Err(invalid("the token's lifetime exceeds 10 minutes."));
    }
    if nbf > now + SKEW {
        return Err(invalid("the token is not yet valid."));
    }
    if exp <= now {
        return Err(invalid("the token has expired."));
    }
    Ok(key)
}
