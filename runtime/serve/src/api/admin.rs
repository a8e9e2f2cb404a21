//! The admin's endpoints for plugins and trust: ask for an install or an
//! upgrade (answered with its consent screen), accept or decline a screen,
//! uninstall, and edit the trust policy. The decisions and their audit
//! records are made in [`crate::consent`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::handlers::Body;
use super::{ApiError, AppState, Caller};
use crate::service::ActionError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    /// `<registry>/<namespace>/<name>:<version>`.
    source: String,
}

pub async fn install(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<InstallBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let screen = state
        .service
        .request_install(&caller.actor, body.source.trim())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"consent": screen}))))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// The version to move to; the highest in its repository by default.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    allow_downgrade: bool,
}

pub async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<UpgradeBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let to = match body.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(semver::Version::parse(text).map_err(|e| {
            ApiError::invalid(format!(
                "\"to\": \"{}\" is not a version like 1.2.0: {e}",
                text.escape_default()
            ))
        })?),
    };
    let screen = state
        .service
        .request_upgrade(&caller.actor, &name, to, body.allow_downgrade)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"consent": screen}))))
}

pub async fn review_held(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let screen = state.service.request_held(&caller.actor, &name).await?;
    Ok((StatusCode::CREATED, Json(json!({"consent": screen}))))
}

pub async fn uninstall(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.service.uninstall(&caller.actor, &name).await?;
    Ok(Json(json!({"uninstalled": name})))
}

pub async fn consents(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    Json(json!({"consents": state.service.consents()}))
}

pub async fn consent(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"consent": state.service.consent(&id)?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The digest the consent screen shows: consent is to that artifact.
    digest: String,
}

pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<AcceptBody>,
) -> Result<Json<Value>, ApiError> {
    let screen = state
        .service
        .accept(&caller.actor, &id, body.digest.trim())
        .await?;
    Ok(Json(json!({"accepted": screen})))
}

pub async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let screen = state.service.decline(&caller.actor, &id).await?;
    Ok(Json(json!({"declined": screen})))
}

pub async fn trust(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let keys = state.service.trusted_keys().await?;
    Ok(Json(json!({
        "policy": state.service.config.trust_policy,
        "keys": keys,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBody {
    /// The publisher's `minisign.pub`, or its base64 line.
    public_key: String,
    publisher: String,
    namespaces: Vec<String>,
}

pub async fn trust_add(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<TrustBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = state
        .service
        .trust_add(
            &caller.actor,
            &body.public_key,
            &body.publisher,
            body.namespaces,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"key": key}))))
}

pub async fn trust_remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let removed = state.service.trust_remove(&caller.actor, &key).await?;
    if removed.is_empty() {
        return Err(ActionError::NotFound(format!("no trusted key '{key}'")).into());
    }
    Ok(Json(json!({"removed": removed})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantBody {
    name: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    simulated: bool,
    #[serde(default)]
    sim_mailboxes: Option<usize>,
    #[serde(default)]
    sim_seed: Option<u64>,
    #[serde(default)]
    max_concurrent_runs: Option<u32>,
}

pub async fn add_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<TenantBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = state
        .service
        .add_tenant(
            &caller.actor,
            crate::tenant_admin::NewTenant {
                name: body.name,
                profile: body.profile,
                simulated: body.simulated,
                sim_mailboxes: body.sim_mailboxes,
                sim_seed: body.sim_seed,
                max_concurrent_runs: body.max_concurrent_runs,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"tenant": {
            "name": tenant.name,
            "max_concurrent_runs": tenant.max_concurrent_runs,
            "added_by": tenant.added_by,
        }})),
    ))
}

pub async fn remove_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.service.remove_tenant(&caller.actor, &name).await?;
    Ok(Json(json!({"removed": name})))
}

pub async fn reconnect_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let error = state.service.reconnect_tenant(&caller.actor, &name).await?;
    Ok(Json(
        json!({"tenant": name, "connected": error.is_none(), "error": error}),
    ))
}
