//! The dashboard: server-rendered pages (maud escapes every value) and one
//! small script, all served by exorun itself; nothing is loaded from
//! elsewhere, and the Content-Security-Policy says so. The script calls the
//! same JSON API as any client, with the session's CSRF token, so the
//! dashboard can do nothing the API would not allow.

use axum::Router;
use axum::extract::{Form, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::api::{ApiError, AppState, Caller};
use crate::store::{PlanStatus, Role, RunFilter, RunRow, RunStatus};

const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/login", get(login_page).post(login_form))
        .route("/tenants", get(tenants_page))
        .route("/plugins", get(plugins_page))
        .route("/consents/{id}", get(consent_page))
        .route("/trust", get(trust_page))
        .route("/schedules", get(schedules_page))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/plans", get(plans_page))
        .route("/plans/{id}", get(plan_page))
        .route("/audit", get(audit_page))
        .route("/static/app.js", get(script))
        .route("/static/app.css", get(style))
        .layer(axum::middleware::from_fn(security_headers))
}

async fn security_headers(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// A page for a signed-in person, or the way to the login page.
type Page = Result<Html<String>, Response>;

fn to_login(_: ApiError) -> Response {
    Redirect::to("/login").into_response()
}

fn failure(e: ApiError) -> Response {
    let status = e.status;
    (
        status,
        Html(layout("Error", None, html! { div.error { (e.message) } }).into_string()),
    )
        .into_response()
}

fn layout(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · exorun" }
                link rel="stylesheet" href="/static/app.css";
                @if let Some(csrf) = caller.and_then(|c| c.csrf.as_deref()) {
                    meta name="csrf" content=(csrf);
                }
                script src="/static/app.js" defer {}
            }
            body {
                @if let Some(caller) = caller {
                    nav {
                        span.brand { "exorun" }
                        a href="/runs" { "Runs" }
                        a href="/plans" { "Plans" }
                        a href="/schedules" { "Schedules" }
                        a href="/plugins" { "Plugins" }
                        a href="/trust" { "Trust" }
                        a href="/tenants" { "Tenants" }
                        a href="/audit" { "Audit" }
                        span.who #who { (caller.actor.name) " (" (caller.actor.role) ")" }
                        button #logout type="button" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn render(title: &str, caller: &Caller, body: Markup) -> Html<String> {
    Html(layout(title, Some(caller), body).into_string())
}

// ----- Login --------------------------------------------------------------

#[derive(Deserialize)]
struct LoginQuery {
    error: Option<String>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Html<String> {
    let body = html! {
        @if let Some(error) = q.error {
            div.error #login-error { (error) }
        }
        form.login method="post" action="/login" {
            label { "User " input #user name="user" autocomplete="username" required; }
            label { "Password " input #password name="password" type="password" autocomplete="current-password" required; }
            button #login type="submit" { "Log in" }
        }
    };
    Html(layout("Log in", None, body).into_string())
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login_form(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let addr = crate::api::peer(&parts);
    let form = match Form::<LoginForm>::from_request(Request::from_parts(parts, body), &state).await
    {
        Ok(Form(form)) => form,
        Err(e) => {
            return Redirect::to(&format!(
                "/login?error={}",
                form_urlencoded_byte_serialize(&e.body_text())
            ))
            .into_response();
        }
    };
    let login = crate::api::handlers_login(form.user, form.password);
    match crate::api::check_login(&state, &login, addr).await {
        Ok((cookie, _csrf, _role)) => {
            let mut response = Redirect::to("/runs").into_response();
            let max_age = state.service.config.limits.session.as_secs();
            response.headers_mut().insert(
                header::SET_COOKIE,
                crate::api::session_cookie_header(&state, &cookie, max_age),
            );
            response
        }
        Err(e) => {
            let target = format!(
                "/login?error={}",
                form_urlencoded_byte_serialize(&e.message)
            );
            Redirect::to(&target).into_response()
        }
    }
}

fn form_urlencoded_byte_serialize(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

// ----- Pages --------------------------------------------------------------

async fn tenants_page(State(state): State<AppState>, caller: Result<Caller, ApiError>) -> Page {
    let caller = caller.map_err(to_login)?;
    let running = state.service.running_by_tenant().await;
    let tenants = state.service.tenants.status(&running).await;
    let admin = caller.actor.role >= Role::Admin;
    Ok(render(
        "Tenants",
        &caller,
        html! {
            table #tenants {
                thead { tr { th { "Name" } th { "Connection" } th { "State" } th { "App" } th { "Running" } th { "Details" } @if admin { th {} } } }
                tbody {
                    @for t in &tenants {
                        tr id=(format!("tenant-{}", t.name)) {
                            td { (t.name) }
                            td {
                                (t.source)
                                @if let Some(by) = &t.added_by { br; small { "added by " (by) } } @else { br; small { "serve.toml" } }
                            }
                            td {
                                @if let Some(e) = &t.last_error { span.bad { "failing: " (e) } }
                                @else if t.connected { span.good { "connected" } }
                                @else { "not connected yet" }
                            }
                            td { (t.app_id.clone().unwrap_or_default()) }
                            td { (t.running) " of " (t.max_concurrent_runs) }
                            td { @for (k, v) in &t.details { div { (k) ": " (v) } } }
                            @if admin {
                                td.tenant-actions data-name=(t.name) {
                                    button.tenant-reconnect type="button" { "Sign in again" }
                                    @if t.added_by.is_some() { button.tenant-remove type="button" { "Remove" } }
                                }
                            }
                        }
                    }
                }
            }
            div.error #tenant-error {}
            @if admin {
                h2 { "Add a tenant" }
                form #tenant-form {
                    label { "Name " input #tenant-name required placeholder="fabrikam"; }
                    label { "Connection profile " input #tenant-profile placeholder="saved by exorun connect --save-profile"; }
                    label { input #tenant-simulated type="checkbox"; " Simulated tenant" }
                    label { "Runs at once " input #tenant-limit type="number" min="1" placeholder=(state.service.config.limits.per_tenant); }
                    button #tenant-submit type="submit" { "Add" }
                }
            }
        },
    ))
}

async fn plugins_page(State(state): State<AppState>, caller: Result<Caller, ApiError>) -> Page {
    let caller = caller.map_err(to_login)?;
    let plugins = state
        .service
        .plugins
        .list(&state.service.config)
        .await
        .map_err(|e| failure(ApiError::unavailable(format!("{e:#}"))))?;
    let consents = state.service.consents();
    let admin = caller.actor.role >= Role::Admin;
    Ok(render(
        "Plugins",
        &caller,
        html! {
            @if admin {
                form #install-form {
                    label { "Install from a registry " input #install-source name="source" size="60" placeholder="registry.contoso.com/contoso/mailbox-report:1.0.0" required; }
                    button #install-submit type="submit" { "Show what it may do" }
                    div.error #install-error {}
                }
            }
            @if !consents.is_empty() {
                h2 { "Waiting for consent" }
                ul #consents {
                    @for c in &consents {
                        li { a href=(format!("/consents/{}", c.id)) { (c.kind) " " (c.plugin) " " (c.version) } " asked by " (c.requested_by) ", until " (c.expires) }
                    }
                }
            }
            @if plugins.is_empty() { p { "No plugin is installed." } }
            @for p in &plugins {
                section.plugin id=(format!("plugin-{}", p.name)) {
                    h2 { (p.name) " " span.version { (p.version) } }
                    dl {
                        dt { "Signer" } dd { (p.signer) }
                        dt { "From" } dd { (p.reference) }
                        dt { "Digest" } dd { code { (p.digest) } }
                        dt { "Installed" } dd { (p.installed) }
                        dt { "Writes" } dd { @if p.writes { "yes" } @else { "no (read-only)" } }
                        dt { "Approval" } dd { @if p.approval == crate::config::Approval::TwoPerson { "two-person" } @else { "none" } }
                        @if let Some(v) = &p.pending_upgrade { dt { "Held upgrade" } dd { (v) " (widens permissions)" } }
                        @if let Some(e) = &p.error { dt { "Problem" } dd.bad { (e) } }
                    }
                    @if admin {
                        div.actions data-name=(p.name) {
                            input.upgrade-to placeholder="version (default: the highest)" size="24";
                            button.plugin-upgrade type="button" { "Upgrade" }
                            @if p.pending_upgrade.is_some() {
                                button.plugin-held type="button" { "Review held upgrade" }
                            }
                            button.plugin-uninstall type="button" { "Uninstall" }
                            span.error.plugin-error {}
                        }
                    }
                    h3 { "Permissions" }
                    pre.permissions { @for line in &p.permission_lines { (line) "\n" } }
                }
            }
        },
    ))
}

async fn consent_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Page {
    let caller = caller.map_err(to_login)?;
    let screen = state.service.consent(&id).map_err(|e| failure(e.into()))?;
    let verb = match screen.kind {
        "install" => "Install",
        _ => "Upgrade",
    };
    let title = format!("{verb} {} {}", screen.plugin, screen.version);
    Ok(render(
        &title,
        &caller,
        html! {
            div #consent data-id=(screen.id) data-digest=(screen.digest) {
                dl {
                    dt { "Plugin" } dd { (screen.plugin) " " (screen.version) }
                    @if let Some(from) = &screen.from_version { dt { "Installed now" } dd { (from) } }
                    @if !screen.description.is_empty() { dt { "Description" } dd { (screen.description) } }
                    @if !screen.authors.is_empty() { dt { "Authors" } dd { (screen.authors.join(", ")) } }
                    dt { "From" } dd { (screen.origin) }
                    dt { "Digest" } dd { code #consent-digest { (screen.digest) } }
                    dt { "Signed by" } dd #consent-signer class=(if screen.unsigned { "bad" } else { "" }) {
                        @if screen.unsigned { "NOBODY: unsigned (allow-unsigned-plugins is on in serve.toml)" } @else { (screen.signer) }
                    }
                    dt { "Asked by" } dd { (screen.requested_by) }
                    dt { "Expires" } dd { (screen.expires) }
                }
                @if let Some(above) = &screen.above_ceiling {
                    p.note { "Note: " (above) "; runs need a higher ceiling." }
                }
                @if screen.kind != "install" {
                    h2 { "What changes" }
                    @if screen.changes.is_empty() { p #consent-changes { "Permissions unchanged." } }
                    @else {
                        ul #consent-changes {
                            @for c in &screen.changes {
                                li class=(c.direction) { strong { (c.direction.to_uppercase()) } " " (c.text) }
                            }
                        }
                    }
                }
                h2 { "Everything it may do" }
                pre.permissions #consent-permissions { @for line in &screen.permission_lines { (line) "\n" } }
                @if caller.actor.role >= Role::Admin {
                    div.actions {
                        button #consent-accept type="button" { (verb) " with exactly these permissions" }
                        button #consent-decline type="button" { "Decline" }
                    }
                }
                div.error #consent-error {}
            }
        },
    ))
}

async fn trust_page(State(state): State<AppState>, caller: Result<Caller, ApiError>) -> Page {
    let caller = caller.map_err(to_login)?;
    let keys = state
        .service
        .trusted_keys()
        .await
        .map_err(|e| failure(e.into()))?;
    let admin = caller.actor.role >= Role::Admin;
    Ok(render(
        "Trust",
        &caller,
        html! {
            p { "Plugins install only when signed by one of these keys, for a namespace it is trusted for (" code { (state.service.config.trust_policy.display()) } ")." }
            table #trust {
                thead { tr { th { "Key id" } th { "Publisher" } th { "Namespaces" } th { "Added" } @if admin { th {} } } }
                tbody {
                    @for k in &keys {
                        tr {
                            td { code { (k.key_id) } }
                            td { (k.publisher) }
                            td { (k.namespaces.join(", ")) }
                            td { (k.added) }
                            @if admin { td { button.trust-remove type="button" data-key=(k.key_id) { "Remove" } } }
                        }
                    }
                }
            }
            @if admin {
                h2 { "Trust a publisher key" }
                form #trust-form {
                    label { "Public key (minisign.pub) " textarea #trust-key rows="2" cols="60" required {} }
                    label { "Publisher " input #trust-publisher required; }
                    label { "Namespaces (comma-separated) " input #trust-namespaces placeholder="contoso, contoso-*" required; }
                    button #trust-submit type="submit" { "Trust" }
                    div.error #trust-error {}
                }
            }
        },
    ))
}

async fn schedules_page(State(state): State<AppState>, caller: Result<Caller, ApiError>) -> Page {
    let caller = caller.map_err(to_login)?;
    let schedules = state
        .service
        .store
        .read(crate::store::schedules::list_schedules)
        .await
        .map_err(|e| failure(e.into()))?;
    Ok(render(
        "Schedules",
        &caller,
        html! {
            table #schedules {
                thead { tr { th { "Name" } th { "Plugin" } th { "Tenant" } th { "When" } th { "Overlap" } th { "Last slot" } th { "State" } } }
                tbody {
                    @for s in &schedules {
                        tr {
                            td { a href=(format!("/runs?schedule={}", s.name)) { (s.name) } }
                            td { (s.plugin) }
                            td { (s.tenant) }
                            td { code { (s.cron) } " " (s.time_zone) }
                            td { (s.overlap) }
                            td { (s.cursor.clone().unwrap_or_default()) }
                            td {
                                @if s.enabled { "enabled" } @else { "disabled" }
                                @if caller.actor.role >= Role::Admin && s.source == "api" {
                                    " "
                                    button.schedule-toggle type="button" data-name=(s.name) data-enable=(if s.enabled { "false" } else { "true" }) {
                                        @if s.enabled { "Disable" } @else { "Enable" }
                                    }
                                }
                                @if s.source == "config" { " (serve.toml)" }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct RunsPageQuery {
    status: Option<String>,
    schedule: Option<String>,
    plugin: Option<String>,
}

fn status_cell(run: &RunRow) -> Markup {
    html! { span class=(format!("status {}", run.status.as_str())) { (run.status.as_str()) } }
}

async fn runs_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Query(q): Query<RunsPageQuery>,
) -> Page {
    let caller = caller.map_err(to_login)?;
    let filter = RunFilter {
        status: q.status.as_deref().and_then(RunStatus::parse),
        schedule: q.schedule,
        plugin: q.plugin,
        limit: 100,
        ..RunFilter::default()
    };
    let runs = state
        .service
        .store
        .read(move |c| crate::store::runs::list_runs(c, &filter))
        .await
        .map_err(|e| failure(e.into()))?;
    let plugins = state
        .service
        .plugins
        .list(&state.service.config)
        .await
        .unwrap_or_default();
    let tenants = state.service.tenants.names();
    let dead = match &state.service.cluster {
        Some(cluster) => cluster.dead_letters(20).await.unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(render(
        "Runs",
        &caller,
        html! {
            @if caller.actor.role >= Role::Operator {
                form #start-run {
                    label { "Plugin " select #run-plugin name="plugin" { @for p in &plugins { option value=(p.name) { (p.name) " " (p.version) } } } }
                    label { "Tenant " select #run-tenant name="tenant" { @for t in &tenants { option value=(t) { (t) } } } }
                    label { "Inputs (name=value, one a line) " textarea #run-inputs name="inputs" rows="2" {} }
                    label { input #run-what-if type="checkbox" name="what_if"; " What-if (plan the changes)" }
                    button #run-start type="submit" { "Start run" }
                    div.error #start-error {}
                }
            }
            table #runs {
                thead { tr { th { "Run" } th { "Plugin" } th { "Tenant" } th { "Mode" } th { "By" } th { "Status" } th { "Calls" } th { "Denied" } th { "Created" } } }
                tbody {
                    @for r in &runs {
                        tr {
                            td { a href=(format!("/runs/{}", r.id)) { (r.id[..8.min(r.id.len())]) } }
                            td { (r.plugin) }
                            td { (r.tenant) }
                            td { (r.mode) }
                            td { (r.requested_by) }
                            td { (status_cell(r)) }
                            td { (r.calls) }
                            td { (r.denied) }
                            td { (r.created_at) }
                        }
                    }
                }
            }
            @if !dead.is_empty() {
                h2 { "Dead letters" }
                p { "Runs the workers gave up on after every delivery failed." }
                table #dead-letters {
                    thead { tr { th { "Run" } th { "Plugin" } th { "Tenant" } th { "Attempts" } th { "Last worker" } th { "Why" } th { "When" } } }
                    tbody {
                        @for d in &dead {
                            tr {
                                td { a href=(format!("/runs/{}", d.run.run)) { (d.run.run.chars().take(8).collect::<String>()) } }
                                td { (d.run.plugin) }
                                td { (d.run.tenant) }
                                td { (d.run.attempts) }
                                td { (d.run.worker) }
                                td { (d.run.reason) }
                                td { (d.time) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

async fn run_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Page {
    let caller = caller.map_err(to_login)?;
    let run = state
        .service
        .run(&id)
        .await
        .map_err(|e| failure(e.into()))?;
    let percent = match run.progress_total {
        Some(total) if total > 0 => (run.progress_done * 100 / total).clamp(0, 100),
        _ if run.status.is_final() => 100,
        _ => 0,
    };
    Ok(render(
        &format!("Run {}", &run.id[..8.min(run.id.len())]),
        &caller,
        html! {
            div #run data-id=(run.id) data-final=(if run.status.is_final() && run.status != RunStatus::AwaitingApproval { "true" } else { "false" }) {
                dl {
                    dt { "Plugin" } dd { (run.plugin) " " (run.plugin_version.clone().unwrap_or_default()) }
                    dt { "Tenant" } dd { (run.tenant) }
                    dt { "Mode" } dd { (run.mode) }
                    dt { "Asked by" } dd { (run.requested_by) }
                    @if let Some(w) = &run.worker { dt { "Worker" } dd #run-worker { (w) } }
                    @if let Some(s) = &run.schedule { dt { "Schedule" } dd { (s) " slot " (run.slot.clone().unwrap_or_default()) } }
                    dt { "Status" } dd { span #run-status class=(format!("status {}", run.status.as_str())) { (run.status.as_str()) } }
                    dt { "Calls" } dd #run-calls { (run.calls) }
                    dt { "Denied" } dd #run-denied { (run.denied) }
                    dt { "Failed" } dd #run-failed { (run.failed) }
                    dt { "Error" } dd #run-error { (run.error_message.clone().unwrap_or_default()) }
                    @if let Some(plan) = &run.plan_id { dt { "Plan" } dd { a #run-plan href=(format!("/plans/{plan}")) { (plan[..12.min(plan.len())]) } } }
                }
                progress #run-progress max="100" value=(percent) { (percent) "%" }
                div.actions {
                    @if caller.actor.role >= Role::Operator && !run.status.is_final() && run.status != RunStatus::AwaitingApproval {
                        button #run-cancel type="button" { "Cancel" }
                    }
                    a #run-output href=(format!("/api/v1/runs/{}/output", run.id)) hidden[run.output.is_none()] { "Download output" }
                }
                h2 { "Denials" }
                ul #run-denials {}
                h2 { "Log" }
                pre #run-log {}
            }
        },
    ))
}

async fn plans_page(State(state): State<AppState>, caller: Result<Caller, ApiError>) -> Page {
    let caller = caller.map_err(to_login)?;
    let plans = state
        .service
        .store
        .read(|c| crate::store::runs::list_plans(c, None))
        .await
        .map_err(|e| failure(e.into()))?;
    Ok(render(
        "Plans",
        &caller,
        html! {
            table #plans {
                thead { tr { th { "Plan" } th { "Plugin" } th { "Tenant" } th { "Asked by" } th { "Changes" } th { "Status" } th { "Expires" } } }
                tbody {
                    @for p in &plans {
                        tr {
                            td { a href=(format!("/plans/{}", p.id)) { (p.id[..12.min(p.id.len())]) } }
                            td { (p.plugin) }
                            td { (p.tenant) }
                            td { (p.requested_by) }
                            td { (p.calls) }
                            td { span class=(format!("status {}", p.status.as_str())) { (p.status.as_str()) } }
                            td { (p.expires_at) }
                        }
                    }
                }
            }
        },
    ))
}

async fn plan_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Page {
    let caller = caller.map_err(to_login)?;
    let (row, read) = state
        .service
        .plan(&id)
        .await
        .map_err(|e| failure(e.into()))?;
    let objects = crate::api::grouped_calls(&read.plan);
    let mine = row.requested_by == caller.actor.label();
    Ok(render(
        &format!("Plan {}", &row.id[..12.min(row.id.len())]),
        &caller,
        html! {
            div #plan data-id=(row.id) data-sha256=(read.sha256) {
                dl {
                    dt { "Plugin" } dd { (row.plugin) }
                    dt { "Tenant" } dd { (row.tenant) }
                    dt { "Asked by" } dd { (row.requested_by) }
                    dt { "What-if run" } dd { a href=(format!("/runs/{}", row.run_id)) { (row.run_id) } }
                    dt { "SHA-256" } dd { code { (read.sha256) } }
                    dt { "Status" } dd { span #plan-status class=(format!("status {}", row.status.as_str())) { (row.status.as_str()) } }
                    dt { "Expires" } dd { (row.expires_at) }
                    @if let Some(by) = &row.decided_by { dt { "Decided by" } dd { (by) } }
                    @if let Some(apply) = &row.apply_run_id { dt { "Applied as" } dd { a #plan-apply href=(format!("/runs/{apply}")) { (apply) } } }
                }
                h2 { (row.calls) " change(s), by object" }
                @for group in &objects {
                    section.object {
                        h3 { (group["object"].as_str().unwrap_or_default()) }
                        ol {
                            @for call in group["calls"].as_array().into_iter().flatten() {
                                li {
                                    code { (call["cmdlet"].as_str().unwrap_or_default()) }
                                    @for (k, v) in call["parameters"].as_object().into_iter().flatten() {
                                        " -" (k) " " code { (match v { serde_json::Value::String(s) => s.clone(), other => other.to_string() }) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if row.status == PlanStatus::Pending && caller.actor.role >= Role::Approver {
                    div.actions {
                        @if mine {
                            p.note { "You asked for this plan; a second person must approve it." }
                        } @else {
                            button #plan-approve type="button" { "Approve and apply" }
                        }
                        input #plan-reason placeholder="Reason (for a rejection)";
                        button #plan-reject type="button" { "Reject" }
                    }
                }
                div.error #plan-error {}
            }
        },
    ))
}

#[derive(Deserialize)]
struct AuditPageQuery {
    run: Option<String>,
    action: Option<String>,
}

async fn audit_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Query(q): Query<AuditPageQuery>,
) -> Page {
    let caller = caller.map_err(to_login)?;
    let verify = crate::audit::verify_json(state.service.audit.path()).await;
    let records = crate::api::audit_search(
        &state,
        crate::api::audit_query(
            q.run.clone().filter(|s| !s.is_empty()),
            q.action.clone().filter(|s| !s.is_empty()),
        ),
    )
    .await
    .map_err(failure)?;
    Ok(render(
        "Audit",
        &caller,
        html! {
            p #audit-verify class=(if verify["ok"] == true { "good" } else { "bad" }) {
                @if verify["ok"] == true {
                    "The chain verifies: " (verify["records"]) " records"
                    @if verify["segments"].as_u64().unwrap_or(0) > 0 {
                        " in " (verify["segments"]) " rotated segment(s) and the active log"
                    }
                    @if verify["first_seq"].as_u64().unwrap_or(1) > 1 {
                        ", from record " (verify["first_seq"]) " (older segments archived)"
                    }
                    "."
                } @else {
                    "The chain does NOT verify: " (verify["error"].as_str().unwrap_or_default())
                }
            }
            form #audit-search method="get" action="/audit" {
                label { "Run id " input name="run" value=(q.run.unwrap_or_default()); }
                label { "Action " input name="action" value=(q.action.unwrap_or_default()) placeholder="plan.approve"; }
                button type="submit" { "Search" }
            }
            table #audit {
                thead { tr { th { "Seq" } th { "Time" } th { "Kind" } th { "Who" } th { "What" } th { "Decision" } th { "Run" } th { "Message" } } }
                tbody {
                    @for r in &records {
                        tr {
                            td { (r["seq"]) }
                            td { (r["time"].as_str().unwrap_or_default()) }
                            td { (r["kind"].as_str().unwrap_or_default()) }
                            td { (r["operator"].as_str().unwrap_or_default()) }
                            td { (r["action"].as_str().or(r["cmdlet"].as_str()).unwrap_or_default()) }
                            td { (r["decision"].as_str().unwrap_or_default()) " " (r["rule"].as_str().unwrap_or_default()) }
                            td { a href=(format!("/audit?run={}", r["runId"].as_str().unwrap_or_default())) { (r["runId"].as_str().unwrap_or_default().chars().take(8).collect::<String>()) } }
                            td { (r["message"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        },
    ))
}
