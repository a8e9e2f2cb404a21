//! The application resource: read it, `addKey`, `removeKey`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::Target;
use super::caller::{Caller, authenticate};
use super::error::GraphError;
use super::proof;
use crate::clock;
use crate::directory::{AppRegistration, DirectoryError, RegisteredCertificate};
use crate::http_util::{self, json_response};
use crate::state::Shared;

/// One Graph request on an application, as the routes read it.
pub(crate) struct Request<'a> {
    /// `addKey`, `removeKey` (any case); `None` reads the application.
    pub action: Option<&'a str>,
    /// The raw query string (`$select`).
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Serves one Graph request on an application. `target` is the
/// application the path names, or the 400 message for a path that names
/// none.
pub(crate) fn handle(
    shared: &Shared,
    target: Result<Target, String>,
    request: &Request,
) -> Response {
    shared.counters.count_graph_request();
    serve(shared, target, request).unwrap_or_else(|refusal| {
        tracing::debug!(%refusal, "Graph request refused");
        refusal.into_response(request.headers)
    })
}

/// The gates in order: outage fault, bearer token, path, application, the
/// caller's right to it, then the action's own checks.
fn serve(
    shared: &Shared,
    target: Result<Target, String>,
    request: &Request,
) -> Result<Response, GraphError> {
    if shared.faults.graph_request_fails() {
        return Err(GraphError::unavailable());
    }
    let caller = authenticate(shared, request.headers)?;
    let target = target.map_err(GraphError::unreadable)?;
    let (app, id) = match &target {
        Target::ObjectId(id) => (shared.directory.app_by_object_id(id), id),
        Target::AppId(id) => (shared.directory.app(id), id),
    };
    // A managed identity is a service principal without an application
    // object: Graph has no application to show for it.
    let app = app
        .filter(|a| a.managed_identity.is_none())
        .ok_or_else(|| GraphError::not_found(id))?;
    match request.action {
        None => {
            caller.may_read(&app)?;
            let origin = http_util::origin(request.headers, shared.port);
            let select = Select::parse(request.query);
            Ok(json_response(
                StatusCode::OK,
                &application_json(&origin, &app, &select),
            ))
        }
        Some(a) if a.eq_ignore_ascii_case("addKey") => add_key(shared, &caller, &app, request.body),
        Some(a) if a.eq_ignore_ascii_case("removeKey") => {
            remove_key(shared, &caller, &app, request.body)
        }
        // Graph's own text for a segment it does not know.
        Some(other) => Err(GraphError::unreadable(format!(
            "Resource not found for the segment '{other}'."
        ))),
    }
}

/// The properties an application answer carries, in Graph's order.
const PROPERTIES: [&str; 4] = ["id", "appId", "displayName", "keyCredentials"];

/// `$select=a,b`: the properties asked for, by their canonical names.
/// Choice (unverified): a name the simulator does not serve is ignored
/// rather than refused, and a `$select` naming none of ours means all.
struct Select(Vec<&'static str>);

impl Select {
    fn parse(query: Option<&str>) -> Self {
        let asked: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .filter(|(k, _)| k == "$select")
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(|p| p.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        Select(
            PROPERTIES
                .into_iter()
                .filter(|p| asked.iter().any(|a| a.eq_ignore_ascii_case(p)))
                .collect(),
        )
    }

    fn wants(&self, property: &str) -> bool {
        self.0.is_empty() || self.0.contains(&property)
    }
}

fn application_json(origin: &str, app: &AppRegistration, select: &Select) -> Value {
    // Graph names a projection in the context URL.
    let context = if select.0.is_empty() {
        format!("{origin}/v1.0/$metadata#applications/$entity")
    } else {
        format!(
            "{origin}/v1.0/$metadata#applications({})/$entity",
            select.0.join(",")
        )
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    let values = [
        json!(app.object_id),
        json!(app.app_id),
        json!(app.display_name),
        json!(app.certificates.iter().map(key_json).collect::<Vec<_>>()),
    ];
    for (name, value) in PROPERTIES.into_iter().zip(values) {
        if select.wants(name) {
            body.insert(name.into(), value);
        }
    }
    Value::Object(body)
}

/// A key credential as Graph lists it: never the key itself, the SHA-1
/// thumbprint as `customKeyIdentifier` (upper-case hex).
fn key_json(key: &RegisteredCertificate) -> Value {
    json!({
        "customKeyIdentifier": key.thumbprints.sha1_hex(),
        "displayName": key.display_name,
        "endDateTime": clock::iso8601(key.not_after),
        "key": null,
        "keyId": key.key_id,
        "startDateTime": clock::iso8601(key.not_before),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}

/// The body as a JSON object, or the 400 that says why it is not one.
/// Choice (unverified): the texts.
fn object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GraphError::unreadable(
            "The request body must be a JSON object.",
        )),
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => Err(GraphError::unreadable(
            "The request body is empty; a JSON object is required.",
        )),
        Err(e) => Err(GraphError::unreadable(format!(
            "The request body is not valid JSON: {e}."
        ))),
    }
}

/// A required, non-empty string property of the body.
fn text<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, GraphError> {
    map.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GraphError::bad_request(format!("The property '{name}' is required.")))
}

/// Graph's text for a property of a key credential it refuses.
fn invalid_property(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource 'KeyCredential'."
    ))
}

fn add_key(
    shared: &Shared,
    caller: &Caller,
    app: &AppRegistration,
    body: &[u8],
) -> Result<Response, GraphError> {
    caller.may_manage_keys(app)?;
    let map = object(body)?;
    // Certificate rotation is what the simulator serves; a secret would
    // need a second credential store, so it is refused, saying why.
    if map.get("passwordCredential").is_some_and(|v| !v.is_null()) {
        return Err(GraphError::bad_request(
            "The simulator does not support adding a passwordCredential with addKey.",
        ));
    }
    let credential = map
        .get("keyCredential")
        .and_then(Value::as_object)
        .ok_or_else(|| GraphError::bad_request("The property 'keyCredential' is required."))?;
    if credential.get("type").and_then(Value::as_str) != Some("AsymmetricX509Cert") {
        return Err(invalid_property("type"));
    }
    if credential.get("usage").and_then(Value::as_str) != Some("Verify") {
        return Err(invalid_property("usage"));
    }
    // Base64 of DER or of PEM text, line breaks tolerated.
    let bytes = credential
        .get("key")
        .and_then(Value::as_str)
        .map(|k| k.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .ok_or_else(|| invalid_property("key"))?;
    let mut key =
        RegisteredCertificate::from_der_or_pem(&bytes).map_err(|_| invalid_property("key"))?;
    let now = clock::unix_now_f64();
    proof::check(app, text(&map, "proof")?, now).map_err(GraphError::bad_request)?;
    // Choice (unverified): the text. A key not yet valid is taken, as the
    // portal takes one for a planned rotation.
    if (key.not_after as f64) < now {
        return Err(GraphError::bad_request(
            "The certificate has expired; a key credential must be valid when it is added.",
        ));
    }
    if let Some(name) = credential.get("displayName").and_then(Value::as_str) {
        key.display_name = name.chars().take(256).collect();
    }
    match shared.directory.add_key(&app.app_id, key) {
        Ok(added) => {
            tracing::info!(app = %app.app_id, key = %added.key_id, "Graph addKey");
            Ok(json_response(StatusCode::OK, &key_json(&added)))
        }
        // Choice (unverified): the text.
        Err(DirectoryError::DuplicateKey) => Err(GraphError::bad_request(
            "A key credential with the same thumbprint already exists on the application.",
        )),
        // Removed while this request ran.
        Err(DirectoryError::UnknownApp(id)) => Err(GraphError::not_found(&id)),
        Err(other) => Err(GraphError::bad_request(other.to_string())),
    }
}

fn remove_key(
    shared: &Shared,
    caller: &Caller,
    app: &AppRegistration,
    body: &[u8],
) -> Result<Response, GraphError> {
    caller.may_manage_keys(app)?;
    let map = object(body)?;
    let key_id = text(&map, "keyId")?;
    let signer = proof::check(app, text(&map, "proof")?, clock::unix_now_f64())
        .map_err(GraphError::bad_request)?;
    // Choice (unverified): refused with an invented text. It keeps an app
    // from locking itself out, and makes removing the last key impossible
    // (the proof needs a key, which then cannot be the one removed).
    if signer.key_id.eq_ignore_ascii_case(key_id) {
        return Err(GraphError::bad_request(
            "The key used to sign the proof cannot be removed; sign the proof with another key of the application.",
        ));
    }
    match shared.directory.remove_key(&app.app_id, key_id) {
        Ok(()) => {
            tracing::info!(app = %app.app_id, key = %key_id, "Graph removeKey");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        // Choice (unverified): status, code and text.
        Err(DirectoryError::UnknownKey(_)) => Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("No key credential with keyId '{key_id}' exists on the application."),
        )),
        Err(DirectoryError::UnknownApp(id)) => Err(GraphError::not_found(&id)),
        Err(other) => Err(GraphError::bad_request(other.to_string())),
    }
}
