//! `Connect-ExchangeOnline -AccessToken`: a token obtained elsewhere (a
//! pipeline's own sign-in, a broker). exorun cannot renew it, so it checks
//! up front what Exchange would only refuse later, with a vaguer 401: that
//! the token is for Exchange Online, for this tenant, app-only, and not
//! expired (docs/credentials.md, "A token obtained elsewhere").
//!
//! The token is read, never verified: Exchange verifies it. The checks are
//! for the operator's sake, not a security boundary.

use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::token::{AccessToken, AuthError};
use crate::secret::SecretString;
use crate::time_util::{format_utc, from_unix_seconds, unix_seconds};

/// Exchange Online's first-party app id, which a token's `aud` may carry
/// instead of the resource URI.
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// A token this close to expiry is refused at connect: a run would fail
/// in its first minute.
const MIN_LIFE_LEFT: Duration = Duration::from_secs(60);

#[derive(Deserialize, Default)]
struct Claims {
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
}

/// A checked token and the facts exorun needs from it.
#[derive(Clone, Debug)]
pub struct GivenToken {
    token: SecretString,
    /// The app the token was issued to (`appid`, else `azp`).
    pub app_id: String,
    /// The tenant it was issued in.
    pub tenant_id: String,
    /// Unix seconds.
    pub expires: i64,
}

/// What the token must match.
pub struct Expected<'a> {
    /// Exchange's resource URI for the cloud (`https://outlook.office365.com`).
    pub resource: &'a str,
    /// The tenant as given: a GUID is compared with `tid` now; a domain is
    /// resolved at the first sign-in (see `TenantCheck`).
    pub tenant: &'a str,
}

impl GivenToken {
    /// Reads and checks a token's text (`Bearer ` and surrounding space are
    /// dropped). Every refusal says which claim is wrong and what it holds,
    /// never the token.
    pub fn check(text: &str, expected: &Expected<'_>, now: SystemTime) -> Result<Self, String> {
        let text = text.trim();
        let text = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .unwrap_or(text)
            .trim();
        if text.is_empty() {
            return Err("the access token file is empty".to_owned());
        }
        let value: serde_json::Value = exorun_jwt::unverified_claims(text).map_err(|_| {
            "the access token is not a JWT (three base64url parts with JSON claims); give the access_token value of a token response".to_owned()
        })?;
        let claims: Claims = serde_json::from_value(value)
            .map_err(|e| format!("the access token's claims cannot be read: {e}"))?;

        let audiences: Vec<String> = match &claims.aud {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let resource = expected.resource.trim_end_matches('/');
        let for_exchange = audiences.iter().any(|a| {
            let a = a.trim_end_matches('/');
            a.eq_ignore_ascii_case(resource) || a.eq_ignore_ascii_case(EXCHANGE_APP_ID)
        });
        if !for_exchange {
            return Err(format!(
                "the access token is for {} (its aud), not for Exchange Online ({resource}): ask for a token with scope {resource}/.default",
                if audiences.is_empty() {
                    "no audience".to_owned()
                } else {
                    audiences.join(", ")
                }
            ));
        }
        let exp = claims
            .exp
            .filter(|e| e.is_finite())
            .map(|e| e as i64)
            .ok_or_else(|| "the access token has no expiry (exp)".to_owned())?;
        let left = exp - unix_seconds(now);
        if left <= MIN_LIFE_LEFT.as_secs() as i64 {
            let when = format_utc(from_unix_seconds(exp));
            return Err(if left <= 0 {
                format!(
                    "the access token expired at {when}; exorun cannot renew a token it did not obtain: get a new one"
                )
            } else {
                format!("the access token expires at {when}, in less than a minute; get a new one")
            });
        }
        let tenant_id = claims
            .tid
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "the access token names no tenant (tid)".to_owned())?;
        if is_guid(expected.tenant) && !tenant_id.eq_ignore_ascii_case(expected.tenant) {
            return Err(foreign_tenant(&tenant_id, expected.tenant));
        }
        if claims.roles.is_empty() {
            return Err(if claims.scp.is_some() {
                "the access token is a delegated (user) token; exorun runs as an app: give an app-only token (client credentials or a managed identity) that carries Exchange.ManageAsApp".to_owned()
            } else {
                "the access token carries no application role: the app needs Exchange.ManageAsApp with admin consent".to_owned()
            });
        }
        let app_id = claims
            .appid
            .or(claims.azp)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| "the access token names no app (appid)".to_owned())?;
        Ok(GivenToken {
            token: SecretString::new(text.to_owned()),
            app_id,
            tenant_id,
            expires: exp,
        })
    }

    /// The token for the cache: it lives until its `exp` and is never
    /// refreshed early (there is nothing to refresh it with).
    pub(crate) fn access_token(&self) -> Result<AccessToken, AuthError> {
        let left = self.expires - unix_seconds(SystemTime::now());
        if left <= 30 {
            let when = format_utc(from_unix_seconds(self.expires));
            return Err(AuthError::AccessToken(format!(
                "the access token expired at {when}; exorun cannot renew a token it did not obtain: get a new one and start again"
            )));
        }
        let life = Duration::from_secs(left as u64);
        Ok(AccessToken::new(
            self.token.clone(),
            life,
            Some(life.saturating_sub(Duration::from_secs(1))),
            Instant::now(),
        ))
    }
}

/// The refusal for a token from another tenant.
pub(crate) fn foreign_tenant(token_tid: &str, expected: &str) -> String {
    format!(
        "the access token was issued in tenant {token_tid}, not in {expected}: get a token from {expected}'s authority (or name the token's tenant with --organization / --delegated-organization)"
    )
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn is_guid(text: &str) -> bool {
    uuid::Uuid::try_parse(text.trim()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const TID: &str = "11111111-2222-3333-4444-555555555555";

    fn token(claims: serde_json::Value) -> String {
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            b(br#"{"alg":"RS256","typ":"JWT"}"#),
            b(claims.to_string().as_bytes()),
            b(b"sig")
        )
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "aud": "https://outlook.office365.com",
            "tid": TID,
            "exp": unix_seconds(SystemTime::now()) + 3600,
            "roles": ["Exchange.ManageAsApp"],
            "appid": "app-1",
        })
    }

    fn expected(tenant: &str) -> Expected<'_> {
        Expected {
            resource: "https://outlook.office365.com",
            tenant,
        }
    }

    fn check(claims: serde_json::Value, tenant: &str) -> Result<GivenToken, String> {
        GivenToken::check(&token(claims), &expected(tenant), SystemTime::now())
    }

    #[test]
    fn accepts_an_app_only_exchange_token_for_the_tenant() {
        let t = check(good(), TID).unwrap();
        assert_eq!(t.app_id, "app-1");
        assert_eq!(t.tenant_id, TID);
        let with_prefix = format!("Bearer {}\n", token(good()));
        assert!(GivenToken::check(&with_prefix, &expected(TID), SystemTime::now()).is_ok());
        let mut by_app_id = good();
        by_app_id["aud"] = serde_json::json!(EXCHANGE_APP_ID);
        assert!(check(by_app_id, "contoso.onmicrosoft.com").is_ok());
    }

    #[test]
    fn refuses_a_token_for_another_audience() {
        let mut graph = good();
        graph["aud"] = serde_json::json!("https://graph.microsoft.com");
        let e = check(graph, TID).unwrap_err();
        assert_eq!(
            e,
            "the access token is for https://graph.microsoft.com (its aud), not for Exchange Online (https://outlook.office365.com): ask for a token with scope https://outlook.office365.com/.default"
        );
    }

    #[test]
    fn refuses_an_expired_token_and_one_about_to_expire() {
        let mut old = good();
        old["exp"] = serde_json::json!(1_700_000_000);
        assert_eq!(
            check(old, TID).unwrap_err(),
            "the access token expired at 2023-11-14 22:13:20Z; exorun cannot renew a token it did not obtain: get a new one"
        );
        let mut soon = good();
        soon["exp"] = serde_json::json!(unix_seconds(SystemTime::now()) + 30);
        assert!(
            check(soon, TID)
                .unwrap_err()
                .contains("in less than a minute")
        );
    }

    #[test]
    fn refuses_a_token_of_another_tenant() {
        let other = "99999999-2222-3333-4444-555555555555";
        assert_eq!(
            check(good(), other).unwrap_err(),
            foreign_tenant(TID, other)
        );
    }

    #[test]
    fn refuses_delegated_tokens_and_garbage() {
        let mut user = good();
        user["roles"] = serde_json::json!([]);
        user["scp"] = serde_json::json!("Exchange.Manage");
        assert!(
            check(user, TID)
                .unwrap_err()
                .contains("delegated (user) token")
        );
        for text in ["", "abc", "a.b.c", "Bearer "] {
            assert!(
                GivenToken::check(text, &expected(TID), SystemTime::now()).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn the_token_never_appears_in_debug_output() {
        let text = token(good());
        let t = GivenToken::check(&text, &expected(TID), SystemTime::now()).unwrap();
        assert!(!format!("{t:?}").contains(&text));
    }
}
