//! The Microsoft Graph half: the application endpoints certificate rotation
//! needs (docs/protocol.md, "Microsoft Graph: application keys"):
//!
//! | Method | Path | |
//! |---|---|---|
//! | GET | `/v1.0/applications/{object-id}`, `/v1.0/applications(appId='{app-id}')` | the application with its `keyCredentials` |
//! | POST | `…/addKey` | register a certificate, with a proof of possession |
//! | POST | `…/removeKey` | remove a key credential, with a proof of possession |
//!
//! Every request passes the same gates in order: the outage fault, the
//! bearer token (`caller`), the application, the caller's right to it, then
//! the action's own checks (`proof`, `applications`).

mod applications;
mod caller;
mod error;
mod proof;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};

use crate::state::Shared;

/// Which application a path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    ObjectId(String),
    AppId(String),
}

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1.0/applications/{object_id}", get(get_by_object_id))
        .route(
            "/v1.0/applications/{object_id}/{action}",
            post(post_by_object_id),
        )
        .route("/v1.0/{reference}", get(get_by_reference))
        .route("/v1.0/{reference}/{action}", post(post_by_reference))
        .with_state(shared)
}

async fn get_by_object_id(
    State(shared): State<Arc<Shared>>,
    object_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request = applications::Request {
        action: None,
        query: query.as_deref(),
        headers: &headers,
        body: &[],
    };
    let target = object_id
        .map(|Path(id)| Target::ObjectId(id))
        .map_err(undecodable);
    applications::handle(&shared, target, &request)
}

async fn post_by_object_id(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (target, action) = match path {
        Ok(Path((id, action))) => (Ok(Target::ObjectId(id)), action),
        Err(rejection) => (Err(undecodable(rejection)), String::new()),
    };
    let request = applications::Request {
        action: Some(&action),
        query: None,
        headers: &headers,
        body: &body,
    };
    applications::handle(&shared, target, &request)
}

async fn get_by_reference(
    State(shared): State<Arc<Shared>>,
    reference: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request = applications::Request {
        action: None,
        query: query.as_deref(),
        headers: &headers,
        body: &[],
    };
    let target = reference
        .map_err(undecodable)
        .and_then(|Path(r)| parse_reference(&r));
    applications::handle(&shared, target, &request)
}

async fn post_by_reference(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (target, action) = match path {
        Ok(Path((reference, action))) => (parse_reference(&reference), action),
        Err(rejection) => (Err(undecodable(rejection)), String::new()),
    };
    let request = applications::Request {
        action: Some(&action),
        query: None,
        headers: &headers,
        body: &body,
    };
    applications::handle(&shared, target, &request)
}

/// `applications(appId='…')`, Graph's alternate key (the path extractor
/// has already decoded `%27` to `'`). Anything else is a segment the
/// simulator does not serve: the error is the 400 message, in Graph's
/// words for a segment it does not know.
fn parse_reference(segment: &str) -> Result<Target, String> {
    let unknown = || format!("Resource not found for the segment '{segment}'.");
    let inner = segment
        .strip_prefix("applications(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(unknown)?;
    let (key, value) = inner.split_once('=').ok_or_else(unknown)?;
    let value = value
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(unknown)?;
    if key.trim().eq_ignore_ascii_case("appId") && !value.is_empty() {
        Ok(Target::AppId(value.to_owned()))
    } else {
        Err(unknown())
    }
}

/// A path segment that does not percent-decode to UTF-8.
fn undecodable(rejection: PathRejection) -> String {
    format!("The path cannot be read: {}.", rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_id_alternate_key_is_parsed() {
        assert_eq!(
            parse_reference("applications(appId='abc')"),
            Ok(Target::AppId("abc".into()))
        );
        assert_eq!(
            parse_reference("applications(appid='abc')"),
            Ok(Target::AppId("abc".into()))
        );
        for bad in [
            "users",
            "applications(appId=abc)",
            "applications(id='x')",
            "applications(appId='')",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
