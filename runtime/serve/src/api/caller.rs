//! Who is calling: found from the request before any handler runs.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};

use super::{ApiError, AppState};
use crate::audit::Action;
use crate::auth::{SESSION_COOKIE, TOKEN_PREFIX, digest, same};
use crate::service::Actor;
use crate::store::{TokenCheck, now_text};

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    /// The session's CSRF token, for a dashboard caller.
    pub csrf: Option<String>,
    /// The session digest, to end it on logout.
    pub session: Option<String>,
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub fn peer(parts: &Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<crate::listen::PeerAddr>>()
        .map(|c| c.0.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let service = &state.service;
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::unauthenticated("the Authorization header is not text"))?;
            let Some(token) = value.strip_prefix("Bearer ") else {
                return Err(ApiError::unauthenticated(
                    "use Authorization: Bearer <token> (an API token from `exorun serve user add`)",
                ));
            };
            let token = token.trim();
            if !token.starts_with(TOKEN_PREFIX) {
                return Err(ApiError::unauthenticated(
                    "that is not an exorun API token (they start with exo_)",
                ));
            }
            let sha = digest(token);
            let now = now_text();
            let check = service
                .store
                .read(move |c| crate::store::users::check_token(c, &sha, &now))
                .await?;
            let refused = |rule: &'static str, message: &str| (rule, message.to_owned());
            let (rule, message) = match check {
                TokenCheck::Valid { user, .. } => {
                    return Ok(Caller {
                        actor: Actor {
                            name: user.name,
                            role: user.role,
                        },
                        csrf: None,
                        session: None,
                    });
                }
                TokenCheck::Unknown => {
                    tracing::warn!(peer = %peer(parts), "a request with an unknown API token");
                    return Err(ApiError::unauthenticated("the API token is not known"));
                }
                TokenCheck::Revoked => refused("token-revoked", "the API token was revoked"),
                TokenCheck::Expired => refused("token-expired", "the API token has expired"),
                TokenCheck::UserDisabled => {
                    refused("user-disabled", "the API token's user is disabled")
                }
            };
            let _ = service
                .audit
                .record(Action {
                    actor: "anonymous",
                    action: "auth",
                    refused: Some(rule),
                    message: Some(format!("{message} (from {})", peer(parts))),
                    ..Action::default()
                })
                .await;
            return Err(ApiError::unauthenticated(format!(
                "{message}; ask an admin for a new one"
            )));
        }
        let Some(cookie) = session_cookie(parts) else {
            return Err(ApiError::unauthenticated(
                "sign in: send Authorization: Bearer <API token>, or log in to the dashboard",
            ));
        };
        let sha = digest(&cookie);
        let now = now_text();
        let lookup = sha.clone();
        let Some((session, user)) = service
            .store
            .read(move |c| crate::store::users::get_session(c, &lookup, &now))
            .await?
        else {
            return Err(ApiError::unauthenticated(
                "the dashboard session has ended; log in again",
            ));
        };
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same(sent, &session.csrf) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "a request from a dashboard session must carry the session's X-CSRF-Token",
                ));
            }
        }
        Ok(Caller {
            actor: Actor {
                name: user.name,
                role: user.role,
            },
            csrf: Some(session.csrf),
            session: Some(sha),
        })
    }
}
