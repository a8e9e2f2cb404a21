//! The API's handlers: parse, ask the service, answer JSON.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::caller::peer;
use super::{ApiError, AppState, Caller};
use crate::audit::Action;
use crate::service::{ActionError, StartRun};
use crate::store::{PlanStatus, Role, RunFilter, RunStatus, ScheduleRow};

/// A JSON body whose problems are answered as API errors that say what is
/// wrong (an unknown field, a missing one, a wrong type).
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::invalid(format!(
                "the request body: {}",
                rejection.body_text()
            ))),
        }
    }
}

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": if state.service.is_stopping() { "stopping" } else { "ok" },
        "queued": state.service.queue.waiting(),
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("there is no such API endpoint (see docs/serve.md)")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// Checks a login, rate-limited and audited; on success makes a session
/// and returns (cookie value, CSRF token, role).
pub async fn check_login(
    state: &AppState,
    login: &Login,
    addr: std::net::IpAddr,
) -> Result<(String, String, Role), ApiError> {
    let service = &state.service;
    let refuse = |rule: &'static str, message: String| async move {
        let _ = service
            .audit
            .record(Action {
                actor: &format!("user:{}", login.user.chars().take(64).collect::<String>()),
                action: "login",
                refused: Some(rule),
                message: Some(format!("{message} (from {addr})")),
                ..Action::default()
            })
            .await;
        message
    };
    if let Some(wait) = state.logins.blocked(&login.user, addr) {
        let message = refuse(
            "rate-limited",
            format!(
                "too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            ),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            message,
        ));
    }
    let name = login.user.clone();
    let user = service
        .store
        .call(move |c| crate::store::users::get_user(c, &name))
        .await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    let password = login.password.clone();
    let ok = tokio::task::spawn_blocking(move || {
        let against = hash.as_deref().unwrap_or(crate::auth::decoy_hash());
        crate::auth::verify_password(&password, against) && hash.is_some()
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        state.logins.failed(&login.user, addr);
        let message = refuse(
            "bad-password",
            "the user name or password is wrong".to_owned(),
        )
        .await;
        return Err(ApiError::unauthenticated(message));
    };
    state.logins.succeeded(&login.user);
    let (cookie, sha, csrf) = crate::auth::new_session();
    let expires = jiff::Timestamp::now()
        .checked_add(
            jiff::SignedDuration::try_from(service.config.limits.session).unwrap_or_default(),
        )
        .map(crate::store::time_text)
        .unwrap_or_default();
    let (name, csrf_copy) = (user.name.clone(), csrf.clone());
    service
        .store
        .call(move |c| crate::store::users::add_session(c, &sha, &name, &csrf_copy, &expires))
        .await?;
    service
        .audit_or_refuse(Action {
            actor: &format!("user:{}", user.name),
            action: "login",
            message: Some(format!("from {addr}")),
            ..Action::default()
        })
        .await?;
    Ok((cookie, csrf, user.role))
}

pub fn session_cookie_header(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        crate::auth::SESSION_COOKIE
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn login(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let addr = peer(&parts);
    let Body(login) = Body::<Login>::from_request(Request::from_parts(parts, body), &state).await?;
    let (cookie, csrf, role) = check_login(&state, &login, addr).await?;
    let max_age = state.service.config.limits.session.as_secs();
    let mut response =
        Json(json!({"user": login.user, "role": role, "csrf": csrf})).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie_header(&state, &cookie, max_age),
    );
    Ok(response)
}

pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if let Some(session) = caller.session.clone() {
        state
            .service
            .store
            .call(move |c| crate::store::users::delete_session(c, &session))
            .await?;
    }
    let mut response = Json(json!({"logged_out": true})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&state, "", 0));
    Ok(response)
}

pub async fn me(caller: Caller) -> Json<Value> {
    Json(json!({"user": caller.actor.name, "role": caller.actor.role, "csrf": caller.csrf}))
}

pub async fn tenants(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let running = state.service.running_by_tenant().await;
    Json(json!({"tenants": state.service.tenants.status(&running).await}))
}

pub async fn plugins(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let list = state
        .service
        .plugins
        .list(&state.service.config)
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the installed plugins: {e:#}")))?;
    Ok(Json(json!({"plugins": list})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    status: Option<String>,
    plugin: Option<String>,
    tenant: Option<String>,
    schedule: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn list_runs(
    State(state): State<AppState>,
    _caller: Caller,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let status = match &q.status {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(format!(
                "status '{s}' is not one of queued, running, succeeded, failed, cancelled, interrupted, awaiting-approval, approved, rejected, expired, skipped"
            ))
        })?),
    };
    let filter = RunFilter {
        status,
        plugin: q.plugin,
        tenant: q.tenant,
        schedule: q.schedule,
        before: q.before,
        limit: q.limit.unwrap_or(50),
    };
    let runs = state
        .service
        .store
        .read(move |c| crate::store::runs::list_runs(c, &filter))
        .await?;
    Ok(Json(json!({"runs": runs})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    plugin: String,
    tenant: String,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    #[serde(default)]
    what_if: bool,
}

pub async fn start_run(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<StartBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run = state
        .service
        .start_run(
            &caller.actor,
            StartRun {
                plugin: body.plugin,
                tenant: body.tenant,
                inputs: body.inputs.into_iter().collect(),
                what_if: body.what_if,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"run": run}))))
}

/// A run with its live counts (the history lags by a flush) and denials.
pub async fn run_json(state: &AppState, id: &str) -> Result<Value, ApiError> {
    // The run and its denials in one read: what every status poll asks.
    let owned = id.to_owned();
    let (run, denials) = state
        .service
        .store
        .read(move |c| {
            let run = crate::store::runs::get_run(c, &owned)?;
            let denials = match &run {
                Some(_) => crate::store::runs::denials(c, &owned)?,
                None => Vec::new(),
            };
            Ok((run, denials))
        })
        .await?;
    let mut run = run.ok_or_else(|| ActionError::NotFound(format!("there is no run '{id}'")))?;
    if let Some(live) = state.service.live_counts(id) {
        run.calls = live.calls;
        run.denied = live.denied;
        run.failed = live.failed;
        run.objects = live.objects;
        run.progress_done = live.progress_done;
        run.progress_total = live.progress_total;
    }
    Ok(json!({"run": run, "denials": denials, "has_output": run.output.is_some()}))
}

pub async fn get_run(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(run_json(&state, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

pub async fn run_log(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    state.service.run(&id).await?;
    let lines = state
        .service
        .store
        .read(move |c| {
            crate::store::runs::logs(c, &id, q.after.unwrap_or(0), q.limit.unwrap_or(1000))
        })
        .await?;
    Ok(Json(json!({"lines": lines})))
}

pub async fn run_output(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = state.service.run(&id).await?;
    let Some(output) = run.output else {
        return Err(ApiError::not_found(format!(
            "run {id} has no output ({})",
            run.status.as_str()
        )));
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-{}.txt\"",
        run.plugin,
        &run.id[..8.min(run.id.len())]
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok((headers, output).into_response())
}

pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let run = state.service.cancel(&caller.actor, &id).await?;
    Ok(Json(json!({"run": run})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansQuery {
    status: Option<String>,
}

/// Runs the workers gave up on after `max-deliver` attempts (empty
/// without a `[queue]`).
pub async fn dead_letters(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let dead = match &state.service.cluster {
        None => Vec::new(),
        Some(cluster) => cluster
            .dead_letters(100)
            .await
            .map_err(|e| ApiError::unavailable(format!("the dead letters cannot be read: {e}")))?,
    };
    Ok(Json(json!({"dead_letters": dead})))
}

pub async fn list_plans(
    State(state): State<AppState>,
    _caller: Caller,
    query: Result<Query<PlansQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some(PlanStatus::Pending),
        Some("approved") => Some(PlanStatus::Approved),
        Some("rejected") => Some(PlanStatus::Rejected),
        Some("expired") => Some(PlanStatus::Expired),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "status '{other}' is not one of pending, approved, rejected, expired"
            )));
        }
    };
    let plans = state
        .service
        .store
        .read(move |c| crate::store::runs::list_plans(c, status))
        .await?;
    Ok(Json(json!({"plans": plans})))
}

/// The plan's changes grouped by the object they change, as an approver
/// reviews them.
pub fn grouped_calls(plan: &exorun_plan::Plan) -> Vec<Value> {
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for (step, call) in plan.calls.iter().enumerate() {
        let target = crate::plan_view::target_of(call);
        let entry = json!({
            "step": step + 1,
            "cmdlet": call.cmdlet,
            "parameters": call
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
                .collect::<serde_json::Map<String, Value>>(),
        });
        match groups.iter_mut().find(|(t, _)| *t == target) {
            Some((_, calls)) => calls.push(entry),
            None => groups.push((target, vec![entry])),
        }
    }
    groups
        .into_iter()
        .map(|(object, calls)| json!({"object": object, "calls": calls}))
        .collect()
}

pub async fn get_plan(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (row, read) = state.service.plan(&id).await?;
    Ok(Json(json!({
        "plan": row,
        "sha256": read.sha256,
        "inputs": read.plan.inputs.iter().cloned().collect::<BTreeMap<String, String>>(),
        "objects": grouped_calls(&read.plan),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The SHA-256 of the plan the approver reviewed.
    sha256: String,
}

pub async fn approve_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<ApproveBody>,
) -> Result<Json<Value>, ApiError> {
    let run = state
        .service
        .approve(&caller.actor, &id, &body.sha256)
        .await?;
    Ok(Json(json!({"apply_run": run})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    reason: Option<String>,
}

pub async fn reject_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<RejectBody>,
) -> Result<Json<Value>, ApiError> {
    let reason = body.reason.map(|r| r.chars().take(1000).collect());
    let run = state.service.reject(&caller.actor, &id, reason).await?;
    Ok(Json(json!({"run": run})))
}

pub async fn list_schedules(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let schedules = state
        .service
        .store
        .read(crate::store::schedules::list_schedules)
        .await?;
    Ok(Json(json!({"schedules": schedules})))
}

pub async fn get_schedule(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let owned = name.clone();
    let (schedule, fires) = state
        .service
        .store
        .call(move |c| {
            Ok((
                crate::store::schedules::get_schedule(c, &owned)?,
                crate::store::schedules::fire_counts(c, &owned)?,
            ))
        })
        .await?;
    let schedule =
        schedule.ok_or_else(|| ApiError::not_found(format!("there is no schedule '{name}'")))?;
    Ok(Json(json!({
        "schedule": schedule,
        "slots": fires.into_iter().collect::<BTreeMap<String, i64>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    name: String,
    plugin: String,
    tenant: String,
    cron: String,
    #[serde(default = "utc")]
    time_zone: String,
    #[serde(default)]
    overlap: crate::schedule::Overlap,
    #[serde(default)]
    catch_up_minutes: u64,
    #[serde(default)]
    jitter_seconds: u64,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn yes() -> bool {
    true
}

async fn admin_only(state: &AppState, caller: &Caller, action: Action<'_>) -> Result<(), ApiError> {
    state
        .service
        .require_admin(&caller.actor, "managing schedules", action)
        .await?;
    Ok(())
}

pub async fn put_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<ScheduleBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let label = caller.actor.label();
    let action = Action {
        actor: &label,
        action: "schedule.put",
        plugin: Some(&body.plugin),
        tenant: Some(&body.tenant),
        reference: Some(format!("schedule/{}", body.name)),
        ..Action::default()
    };
    admin_only(&state, &caller, action.clone()).await?;
    let service = &state.service;
    let invalid = |m: String| ActionError::Invalid(m);
    let checked = (|| {
        crate::config::check_name(&body.name, "schedule").map_err(invalid)?;
        crate::config::check_name(&body.plugin, "plugin").map_err(invalid)?;
        if service.tenants.config(&body.tenant).is_none() {
            return Err(invalid(format!(
                "the service has no tenant '{}'",
                body.tenant
            )));
        }
        crate::schedule::CronSchedule::parse(&body.cron, &body.time_zone).map_err(invalid)
    })();
    let cron = match checked {
        Ok(c) => c,
        Err(e) => return Err(service.refuse(action, e).await.into()),
    };
    let row = ScheduleRow {
        name: body.name.clone(),
        plugin: body.plugin.clone(),
        tenant: body.tenant.clone(),
        cron: cron.expression().to_owned(),
        time_zone: cron.zone().to_owned(),
        overlap: body.overlap.as_str().to_owned(),
        catch_up_secs: body
            .catch_up_minutes
            .saturating_mul(60)
            .min(i64::MAX as u64) as i64,
        jitter_secs: body.jitter_seconds.min(86_400) as i64,
        inputs: Value::Object(
            body.inputs
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
        enabled: body.enabled,
        source: "api".to_owned(),
        cursor: None,
    };
    service
        .audit_or_refuse(Action {
            message: Some(format!("cron \"{}\" {}", row.cron, row.time_zone)),
            ..action.clone()
        })
        .await?;
    let copy = row.clone();
    if let Err(e) = service
        .store
        .call(move |c| crate::store::schedules::put_schedule(c, &copy))
        .await
    {
        return Err(service.refuse(action, e.into()).await.into());
    }
    service.schedules_changed();
    Ok((StatusCode::CREATED, Json(json!({"schedule": row}))))
}

pub async fn delete_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let label = caller.actor.label();
    let action = Action {
        actor: &label,
        action: "schedule.delete",
        reference: Some(format!("schedule/{name}")),
        ..Action::default()
    };
    admin_only(&state, &caller, action.clone()).await?;
    let owned = name.clone();
    if let Err(e) = state
        .service
        .store
        .call(move |c| crate::store::schedules::delete_schedule(c, &owned))
        .await
    {
        return Err(state.service.refuse(action, e.into()).await.into());
    }
    state.service.audit_or_refuse(action).await?;
    state.service.schedules_changed();
    Ok(Json(json!({"deleted": name})))
}

async fn set_enabled(
    state: AppState,
    caller: Caller,
    name: String,
    enabled: bool,
) -> Result<Json<Value>, ApiError> {
    let label = caller.actor.label();
    let action = Action {
        actor: &label,
        action: if enabled {
            "schedule.enable"
        } else {
            "schedule.disable"
        },
        reference: Some(format!("schedule/{name}")),
        ..Action::default()
    };
    admin_only(&state, &caller, action.clone()).await?;
    let owned = name.clone();
    if let Err(e) = state
        .service
        .store
        .call(move |c| crate::store::schedules::set_enabled(c, &owned, enabled))
        .await
    {
        return Err(state.service.refuse(action, e.into()).await.into());
    }
    state.service.audit_or_refuse(action).await?;
    state.service.schedules_changed();
    Ok(Json(json!({"schedule": name, "enabled": enabled})))
}

pub async fn enable_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, caller, name, true).await
}

pub async fn disable_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, caller, name, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub run: Option<String>,
    pub plugin: Option<String>,
    pub action: Option<String>,
    pub limit: Option<usize>,
}

/// The newest audit records matching the query (at most 1,000).
pub async fn audit_search(state: &AppState, q: AuditQuery) -> Result<Vec<Value>, ApiError> {
    let path = state.service.audit.path().to_owned();
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    tokio::task::spawn_blocking(move || -> Result<Vec<Value>, ApiError> {
        if !path.exists() {
            return Ok(Vec::new());
        }
        let filter = exorun_audit::Filter {
            run_id: q.run,
            plugin: q.plugin,
            since: None,
        };
        let records = exorun_audit::query(&path, filter)
            .map_err(|e| ApiError::unavailable(format!("reading the audit trail: {e}")))?;
        let mut kept = std::collections::VecDeque::with_capacity(limit);
        for record in records {
            let Ok(record) = record else { continue };
            if let Some(action) = &q.action
                && record.action.as_deref() != Some(action.as_str())
            {
                continue;
            }
            if kept.len() == limit {
                kept.pop_front();
            }
            kept.push_back(serde_json::to_value(&record).unwrap_or(Value::Null));
        }
        Ok(kept.into_iter().rev().collect())
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?
}

pub async fn audit_records(
    State(state): State<AppState>,
    _caller: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(json!({"records": audit_search(&state, q).await?})))
}

pub async fn audit_verify(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        crate::audit::verify_json(state.service.audit.path()).await,
    ))
}
