//! The access token the token endpoint issues for Exchange Online
//! (docs/protocol.md, "Issued access token") or Microsoft Graph, and the v1/v2 success bodies
//! that carry it.

use serde_json::{Value, json};

use super::EntraState;
use super::error_response::AadError;
use super::resource::Resource;
use super::token::TokenEndpoint;
use crate::config::TokenLifetime;
use crate::directory::{AppRegistration, Consent, EXCHANGE_MANAGE_AS_APP};
use crate::state::Shared;

/// Entra backdates `iat` and `nbf` by five minutes, for clock skew.
const BACKDATED_SECONDS: i64 = 300;
/// The life of an Entra access token (`exp - iat`) is drawn from this
/// range, 60 to 90 minutes.
const ENTRA_LIFE_SECONDS: std::ops::RangeInclusive<i64> = 3600..=5400;

/// The token's times: `(iat, exp)`, with `nbf = iat`.
pub fn token_times(lifetime: TokenLifetime, now: i64) -> (i64, i64) {
    let issued = now - BACKDATED_SECONDS;
    let expires = match lifetime {
        TokenLifetime::AsEntra => {
            use rand::Rng;
            issued + rand::rng().random_range(ENTRA_LIFE_SECONDS)
        }
        TokenLifetime::Fixed(life) => now + (life.as_secs().max(1) as i64),
    };
    (issued, expires)
}

/// Signs the access token and shapes the v1 or v2 success body.
pub fn success_body(
    state: &EntraState,
    endpoint: TokenEndpoint,
    resource: Resource,
    app: &AppRegistration,
    now: i64,
) -> Result<Value, AadError> {
    let (issued, expires) = token_times(state.token_lifetime, now);
    let lifetime = expires - now;
    let access_token = sign_access_token(
        &state.shared,
        resource.audience(),
        Some(resource),
        app,
        issued,
        expires,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "signing an access token failed");
        AadError::new(
            "temporarily_unavailable",
            90024,
            "The token could not be signed. Please retry later.",
        )
    })?;
    Ok(match endpoint {
        TokenEndpoint::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }),
        TokenEndpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": issued.to_string(),
            "resource": resource.audience(),
            "access_token": access_token,
        }),
    })
}

/// A random base64url string of `len` characters for opaque claims.
fn opaque(len: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    s.truncate(len);
    s
}

/// An access token for `app` with the given `aud`, issued at `issued` and
/// expiring at `expires`: the claims every Entra token of this simulator
/// carries, signed with its key. The token endpoint, the managed identity
/// endpoints and tests' minted tokens all come from here, so Exchange and
/// Graph cannot tell them apart. `resource` picks the `roles`; `None` (an
/// audience the tenant does not know, only for minted tokens) gives none.
pub(crate) fn sign_access_token(
    shared: &Shared,
    audience: &str,
    resource: Option<Resource>,
    app: &AppRegistration,
    issued: i64,
    expires: i64,
) -> Result<String, String> {
    let tenant_id = shared.directory.tenant_id();
    let issuer = format!("https://sts.windows.net/{tenant_id}/");
    let mut claims = json!({
        "aud": audience,
        "iss": issuer,
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "aio": opaque(42),
        "app_displayname": app.display_name,
        "appid": app.app_id,
        // 2: a certificate; 0 would be a secret, and a managed identity's
        // tokens also carry 2.
        "appidacr": "2",
        "idp": issuer,
        "oid": app.service_principal_id,
        "rh": format!("0.{}.", opaque(40)),
        "sid": uuid::Uuid::new_v4().to_string(),
        "sub": app.service_principal_id,
        "tid": tenant_id,
        "uti": opaque(22),
        "ver": "1.0",
        "wids": app.role_template_ids,
    });
    // Choice (unverified): without admin consent Entra still issues a token
    // for a client-credentials request, but with no `roles` claim; Exchange
    // then refuses it with 401. This is the behaviour most often reported.
    // Exchange's one application permission, or the app's Graph
    // application permissions.
    let roles: Vec<&str> = match resource {
        Some(Resource::Exchange) => vec![EXCHANGE_MANAGE_AS_APP],
        Some(Resource::Graph) => app.graph_permissions.iter().map(String::as_str).collect(),
        None => Vec::new(),
    };
    if app.consent == Consent::Granted
        && !roles.is_empty()
        && let Some(map) = claims.as_object_mut()
    {
        map.insert("roles".into(), json!(roles));
    }
    shared
        .signing_key
        .sign_jwt(&claims)
        .map_err(|e| e.to_string())
}
