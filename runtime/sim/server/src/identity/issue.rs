//! What both identity endpoints do once the request is theirs: find the
//! identity (`client_id`, else the system-assigned one), check the
//! resource, and sign the token as the token endpoint would.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock;
use crate::entra::access_token::sign_access_token;
use crate::entra::resource::Resource;
use crate::http_util::json_response;
use crate::state::Shared;

/// A managed identity token's life: a day, as the platforms hand them out
/// (`expires_in` 86399).
const IDENTITY_TOKEN_SECONDS: i64 = 86_399;
/// `iat`/`nbf` are backdated as the token endpoint backdates them.
const BACKDATED_SECONDS: i64 = 300;

/// The query string, decoded; the first of repeated names counts.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Never fails: undecodable bytes become U+FFFD, which then names no
    /// resource and no identity.
    pub fn parse(raw: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// A token the endpoints answer with.
pub(crate) struct Issued {
    pub token: String,
    pub client_id: String,
    /// The resource as the client named it.
    pub resource: String,
    pub now: i64,
    pub not_before: i64,
    pub expires_on: i64,
}

/// A refusal in the OAuth-like shape both platforms use for these errors:
/// 400 `{"error","error_description"}`.
pub(crate) struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Refusal {
    pub fn invalid_request(description: &str) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.to_owned(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        )
    }
}

/// Issues the token the query asks for.
pub(crate) fn issue(shared: &Shared, query: &Query) -> Result<Issued, Refusal> {
    // IMDS's own text.
    let named = query
        .get("resource")
        .ok_or_else(|| Refusal::invalid_request("Required query variable 'resource' is missing"))?;
    let resource = Resource::named(named).ok_or_else(|| Refusal {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_resource",
        description: format!(
            "AADSTS500011: The resource principal named {named} was not found in the tenant named {}.",
            shared.directory.display_name()
        ),
    })?;
    let directory = &shared.directory;
    let identity = match query.get("client_id") {
        // An app registration's client id names no identity here.
        Some(id) => directory.app(id).filter(|a| a.managed_identity.is_some()),
        None => directory.system_identity(),
    }
    // IMDS's own text, for both forms.
    .ok_or_else(|| Refusal::invalid_request("Identity not found"))?;
    if identity.disabled {
        // Choice (unverified): Entra's text for a disabled app, under
        // IMDS's shape.
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            error: "unauthorized_client",
            description: format!(
                "AADSTS7000112: Application '{}'({}) is disabled.",
                identity.app_id, identity.display_name
            ),
        });
    }
    let now = clock::unix_now();
    let not_before = now - BACKDATED_SECONDS;
    let expires_on = now + IDENTITY_TOKEN_SECONDS;
    let token = sign_access_token(
        shared,
        resource.audience(),
        Some(resource),
        &identity,
        not_before,
        expires_on,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "signing a managed identity token failed");
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "The token could not be signed.".to_owned(),
        }
    })?;
    Ok(Issued {
        token,
        client_id: identity.app_id,
        resource: named.to_owned(),
        now,
        not_before,
        expires_on,
    })
}
