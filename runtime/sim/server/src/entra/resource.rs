//! Step 4 of the token request: the `scope` (v2) or `resource` (v1) must
//! name one resource the tenant has: Exchange Online or Microsoft Graph.

use super::EntraState;
use super::error_response::AadError;

/// Exchange Online's resource URI (the token's `aud`).
pub const EXCHANGE_RESOURCE: &str = "https://outlook.office365.com";
/// Exchange Online's first-party app id, which also names the resource.
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Microsoft Graph's resource URI and first-party app id.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The resources a token can be issued for: every tenant has both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Exchange,
    Graph,
}

impl Resource {
    /// The resource named by its URI or first-party app id, any case,
    /// with or without a trailing slash.
    pub(crate) fn named(name: &str) -> Option<Resource> {
        let r = name.trim_end_matches('/');
        if r.eq_ignore_ascii_case(EXCHANGE_RESOURCE) || r.eq_ignore_ascii_case(EXCHANGE_APP_ID) {
            Some(Resource::Exchange)
        } else if r.eq_ignore_ascii_case(GRAPH_RESOURCE) || r.eq_ignore_ascii_case(GRAPH_APP_ID) {
            Some(Resource::Graph)
        } else {
            None
        }
    }

    /// The token's `aud`.
    pub fn audience(self) -> &'static str {
        match self {
            Resource::Exchange => EXCHANGE_RESOURCE,
            Resource::Graph => GRAPH_RESOURCE,
        }
    }
}

fn unknown_resource(state: &EntraState, resource: &str) -> AadError {
    AadError::new(
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
            state.shared.directory.display_name()
        ),
    )
}

/// v2: exactly one resource, as `<resource>/.default`. OIDC scopes that
/// some clients add (`openid`, `profile`, `offline_access`) are ignored.
pub fn check_scope(state: &EntraState, scope: &str) -> Result<Resource, AadError> {
    let scopes: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"))
        .collect();
    let invalid = || {
        AadError::new(
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        )
    };
    let mut resources: Vec<&str> = Vec::new();
    for s in &scopes {
        let resource = s.strip_suffix("/.default").ok_or_else(invalid)?;
        if resource.is_empty() {
            return Err(invalid());
        }
        if !resources.iter().any(|r| r.eq_ignore_ascii_case(resource)) {
            resources.push(resource);
        }
    }
    match resources.as_slice() {
        [] => Err(invalid()),
        [one] => Resource::named(one).ok_or_else(|| unknown_resource(state, one)),
        _ => Err(AadError::new(
            "invalid_scope",
            700022,
            format!(
                "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
            ),
        )),
    }
}

/// v1: `resource=https://outlook.office365.com` (no `/.default`).
pub fn check_resource(state: &EntraState, resource: &str) -> Result<Resource, AadError> {
    Resource::named(resource.trim()).ok_or_else(|| unknown_resource(state, resource))
}
