//! Step 8 of the token request: the assertion's `aud`.

use super::EntraState;
use super::error_response::AadError;
use super::token::{TokenRequest, jwt_invalid};
use crate::config::AudiencePolicy;
use crate::http_util;

/// Step 8: the assertion's `aud` must be a token URL of this tenant on this
/// server (policy in `AudiencePolicy`); `/common` never matches because
/// `common` is not a name of the tenant.
pub fn check_audience(
    state: &EntraState,
    request: &TokenRequest<'_>,
    audiences: &[String],
) -> Result<(), AadError> {
    let exact = request
        .host
        .as_deref()
        .map(|h| format!("https://{h}{}", request.endpoint.path(request.tenant)));
    let accepted = |aud: &str| match state.audience_policy {
        AudiencePolicy::ExactRequestUrl => exact.as_deref() == Some(aud),
        AudiencePolicy::AnyTokenEndpointOfTenant => is_token_url_of_tenant(state, aud),
    };
    if audiences.iter().any(|a| accepted(a)) {
        return Ok(());
    }
    let shown = audiences.join(", ");
    Err(jwt_invalid(&format!(
        "The audience claim '{shown}' of the client assertion is not valid for the token endpoint '{}'.",
        exact.unwrap_or_default()
    )))
}

fn is_token_url_of_tenant(state: &EntraState, aud: &str) -> bool {
    let Some(rest) = aud.strip_prefix("https://") else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !http_util::is_own_authority(authority, state.shared.port) {
        return false;
    }
    let mut segments = path.trim_start_matches('/').split('/');
    let tenant = segments.next().unwrap_or_default();
    let tail: Vec<&str> = segments.collect();
    state.shared.directory.is_tenant(tenant)
        && (tail == ["oauth2", "v2.0", "token"] || tail == ["oauth2", "token"])
}
