//! `POST /{tenant}/oauth2/v2.0/token` and the v1 `POST /{tenant}/oauth2/token`:
//! the client-credentials grant with a certificate assertion, validated in
//! the order of docs/protocol.md, "Token request checks", answered with an access token for
//! Exchange Online or Microsoft Graph, or with Entra's error shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::EntraState;
use super::assertion::{ClientAssertion, KeyReference};
use super::error_response::AadError;
use super::{access_token, audience, resource};
use crate::certificates::upper_hex;
use crate::clock;
use crate::config::AssertionReuse;
use crate::http_util::{self, BodyError, TenantSegment};

/// The only grant the simulator serves.
const CLIENT_CREDENTIALS: &str = "client_credentials";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Allowed clock difference between client and server for assertions.
const CLOCK_SKEW_SECONDS: f64 = 300.0;
/// Form bodies larger than this are refused before parsing.
const MAX_FORM_BYTES: usize = crate::http_util::MAX_REQUEST_BYTES;

/// Which of the two token endpoints was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenEndpoint {
    /// `/oauth2/token`: takes `resource=`, answers with string numbers.
    V1,
    /// `/oauth2/v2.0/token`: takes `scope=…/.default`.
    V2,
}

impl TokenEndpoint {
    pub fn path(self, tenant: &str) -> String {
        match self {
            TokenEndpoint::V1 => format!("/{tenant}/oauth2/token"),
            TokenEndpoint::V2 => format!("/{tenant}/oauth2/v2.0/token"),
        }
    }
}

pub async fn token_v2(
    State(state): State<Arc<EntraState>>,
    TenantSegment(tenant): TenantSegment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&state, &tenant, TokenEndpoint::V2, &headers, body).await
}

pub async fn token_v1(
    State(state): State<Arc<EntraState>>,
    TenantSegment(tenant): TenantSegment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&state, &tenant, TokenEndpoint::V1, &headers, body).await
}

async fn handle(
    state: &EntraState,
    tenant: &str,
    endpoint: TokenEndpoint,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    state.shared.counters.count_token_request();
    let correlation = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if state.shared.faults.token_outage_active() {
        return AadError::new(
            "temporarily_unavailable",
            90024,
            "The service is temporarily unavailable. Please retry later. (Simulated outage.)",
        )
        .into_response_with(correlation.as_deref());
    }
    let bytes = match http_util::read_limited(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return http_util::too_large(MAX_FORM_BYTES),
        Err(BodyError::Broken) => {
            return AadError::new(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
            .into_response_with(correlation.as_deref());
        }
    };
    // Entra reads only url-encoded forms; any other body reads as empty.
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(&bytes).into_owned().collect()
    } else {
        Vec::new()
    };
    let request = TokenRequest {
        tenant,
        endpoint,
        host: http_util::host(headers),
        form: &form,
    };
    match issue(state, &request) {
        Ok(body) => {
            let mut response = (StatusCode::OK, super::json_body(&body)).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            if let Some(c) = correlation.and_then(|c| HeaderValue::from_str(&c).ok()) {
                headers.insert("client-request-id", c);
            }
            response
        }
        Err(error) => error.into_response_with(correlation.as_deref()),
    }
}

/// One token request, decoded from the wire.
pub struct TokenRequest<'a> {
    pub tenant: &'a str,
    pub endpoint: TokenEndpoint,
    /// The `Host` the client used (for the exact-audience policy).
    pub host: Option<String>,
    pub form: &'a [(String, String)],
}

impl TokenRequest<'_> {
    fn field(&self, name: &str) -> Result<Option<&str>, AadError> {
        let mut values = self.form.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(AadError::new(
                "invalid_request",
                9000411,
                format!(
                    "The request is not properly formatted. The parameter '{name}' is duplicated."
                ),
            ));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    fn required(&self, name: &str) -> Result<&str, AadError> {
        self.field(name)?.ok_or_else(|| missing(name))
    }
}

fn missing(name: &str) -> AadError {
    AadError::new(
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// Validates the request (docs/protocol.md, "Token request checks", in order) and builds the success body.
pub fn issue(state: &EntraState, request: &TokenRequest<'_>) -> Result<Value, AadError> {
    let directory = &state.shared.directory;
    let now = clock::unix_now_f64();

    // 1. Tenant.
    if !directory.is_tenant(request.tenant) {
        return Err(AadError::new(
            "invalid_request",
            90002,
            format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.",
                request.tenant
            ),
        ));
    }

    // 2. Grant type.
    let grant_type = request.required("grant_type")?;
    if grant_type != CLIENT_CREDENTIALS {
        return Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }

    // 3. Required fields. `client_info` and any other extra field are ignored.
    let client_id = request.required("client_id")?;
    let resource_field = match request.endpoint {
        TokenEndpoint::V2 => "scope",
        TokenEndpoint::V1 => "resource",
    };
    let requested = request.required(resource_field)?;
    let assertion = request.field("client_assertion")?;
    if assertion.is_none() {
        if request.field("client_secret")?.is_some() {
            return Err(AadError::new(
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ));
        }
        return Err(AadError::new(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    }
    let assertion = assertion.unwrap_or_default();
    let assertion_type = request.required("client_assertion_type")?;
    if assertion_type != JWT_BEARER {
        // The exact code for a wrong assertion type is unverified.
        return Err(AadError::new(
            "invalid_request",
            7000219,
            format!("'client_assertion_type' must be '{JWT_BEARER}'."),
        ));
    }

    // 4. Scope (v2) or resource (v1).
    let resource = match request.endpoint {
        TokenEndpoint::V2 => resource::check_scope(state, requested)?,
        TokenEndpoint::V1 => resource::check_resource(state, requested)?,
    };

    // 5. App registration.
    let app = directory.app(client_id).ok_or_else(|| {
        AadError::new(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                directory.display_name()
            ),
        )
    })?;
    if app.disabled {
        return Err(AadError::new(
            "unauthorized_client",
            7000112,
            format!(
                "Application '{}'({}) is disabled.",
                app.app_id, app.display_name
            ),
        ));
    }

    // 6. Well-formed JWS.
    let assertion = ClientAssertion::parse(assertion)
        .map_err(|e| AadError::new("invalid_request", 50027, e.0))?;

    // 7. Issuer and subject. The doc gives one code (50048) for both.
    let issuer = assertion
        .issuer
        .as_deref()
        .ok_or_else(|| jwt_invalid("The client assertion has no 'iss' claim."))?;
    if !issuer.eq_ignore_ascii_case(client_id) {
        return Err(AadError::new(
            "invalid_client",
            50048,
            format!(
                "Issuer mismatches 'client_id' in the client assertion for application '{client_id}'. Issuer '{issuer}'."
            ),
        ));
    }
    if assertion.subject.as_deref() != Some(issuer) {
        return Err(AadError::new(
            "invalid_client",
            50048,
            format!(
                "Subject mismatches Issuer claim in the client assertion for application '{client_id}'."
            ),
        ));
    }

    // 8. Audience.
    audience::check_audience(state, request, &assertion.audiences)?;

    // 9. Time window.
    let expires = assertion
        .expires
        .ok_or_else(|| jwt_invalid("The client assertion has no 'exp' claim."))?;
    let starts = assertion.not_before.or(assertion.issued_at);
    let too_early = assertion
        .not_before
        .is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECONDS);
    if too_early || expires <= now - CLOCK_SKEW_SECONDS {
        return Err(AadError::new(
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                clock::dotnet_round_trip(now),
                clock::dotnet_round_trip(starts.unwrap_or(expires).floor()),
                clock::dotnet_round_trip(expires.floor()),
            ),
        ));
    }

    // 10. Key lookup.
    let shown = match &assertion.key {
        KeyReference::Sha1(d) | KeyReference::Sha256(d) => upper_hex(d),
        KeyReference::LeafCertificate(_) => assertion
            .key
            .digest()
            .map(|d| upper_hex(&d))
            .unwrap_or_default(),
        KeyReference::None => String::new(),
    };
    // A managed identity gets its tokens from the identity endpoints only:
    // it holds no key credentials, so an assertion for it is refused as one
    // for an app without a certificate, even if a test gave it one.
    let certificate = assertion
        .key
        .digest()
        .filter(|_| app.managed_identity.is_none())
        .and_then(|d| app.certificate_by_digest(&d).cloned())
        .ok_or_else(|| {
            key_error(&format!(
                "The key was not found., Thumbprint of key used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'. Review the documentation at https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to learn how to retrieve the application keys.",
                app.app_id
            ))
        })?;
    let found = format!(
        "Found key 'Start={}, End={}'",
        clock::us_date_time(certificate.not_before),
        clock::us_date_time(certificate.not_after)
    );
    let now_secs = now.floor() as i64;
    if now_secs < certificate.not_before || now_secs > certificate.not_after {
        return Err(key_error(&format!(
            "The key used is expired., Thumbprint of key used by client: '{shown}', {found}"
        )));
    }

    // 11. Signature. The wording of this variant is the simulator's guess.
    if !assertion.signature_is_valid(&certificate.public_key) {
        return Err(key_error(&format!(
            "The provided signature value did not match the expected signature value., Thumbprint of key used by client: '{shown}', {found}"
        )));
    }

    // 12. Replay (strict mode only). Checked last so that forged
    // assertions cannot burn jtis.
    if state.assertion_reuse == AssertionReuse::Refused
        && let Some(jti) = assertion.jwt_id.as_deref()
        && !state
            .replay
            .first_use(client_id, jti, expires + CLOCK_SKEW_SECONDS, now)
    {
        return Err(jwt_invalid(&format!(
            "The client assertion with jti '{jti}' has already been used. Sign a new assertion for every token request."
        )));
    }

    access_token::success_body(state, request.endpoint, resource, &app, now_secs)
}

pub(super) fn jwt_invalid(detail: &str) -> AadError {
    AadError::new(
        "invalid_request",
        50027,
        format!("JWT token is invalid or malformed. {detail}"),
    )
}

fn key_error(reason: &str) -> AadError {
    AadError::new(
        "invalid_client",
        700027,
        format!("Client assertion contains an invalid signature. [Reason - {reason}]"),
    )
}
