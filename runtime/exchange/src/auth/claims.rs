//! The non-secret facts inside an access token, for `exorun connect` to
//! show which app, tenant and roles a connection really has. The token is
//! read, never verified (Exchange does that) and never returned.

use serde::{Deserialize, Serialize};

use super::token::AccessToken;

/// What an app-only token says about its bearer (docs/protocol.md, "Issued access token").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    /// The service principal's object id (for an app-only token).
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Directory role template ids assigned to the service principal.
    #[serde(default)]
    pub wids: Vec<String>,
    #[serde(default)]
    pub aud: Option<String>,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub exp: Option<i64>,
}

/// Reads the claims from the token's payload; `None` when the token is not
/// a readable JWT (the service may issue opaque tokens).
pub fn decode_claims(token: &AccessToken) -> Option<TokenClaims> {
    let value: serde_json::Value = exorun_jwt::unverified_claims(token.expose()).ok()?;
    let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let list = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(TokenClaims {
        appid: text("appid").or_else(|| text("azp")),
        tid: text("tid"),
        oid: text("oid"),
        roles: list("roles"),
        wids: list("wids"),
        aud: text("aud"),
        exp: value.get("exp").and_then(|v| v.as_f64()).map(|f| f as i64),
    })
}
