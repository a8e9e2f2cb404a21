//! `POST /adminapi/beta/{tenant}/InvokeCommand`: authenticate, throttle,
//! inject faults, check the routing hint, decode the cmdlet, run it on the
//! tenant, and answer one page (docs/protocol.md, "InvokeCommand" and "Authorization in the simulator").

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use super::ExchangeState;
use super::answers;
use super::envelope::{self, Page};
use super::paging::{self, Cursor};
use super::throttle::{RateStatus, Refusal, retry_after_value};
use crate::faults::InvokeFault;
use crate::http_util::{self, BodyError, TenantSegment};
use crate::server::ConnectionControl;
use exorun_sim_tenant::Caller;

/// Cmdlet bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = crate::http_util::MAX_REQUEST_BYTES;

pub async fn invoke_command(
    State(state): State<Arc<ExchangeState>>,
    TenantSegment(url_tenant): TenantSegment,
    connection: Option<Extension<ConnectionControl>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.shared.counters.count_invoke_request();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = headers.get("client-request-id").cloned();
    let finish = |mut response: Response, app: Option<&str>, rate: Option<&RateStatus>| {
        let status = response.status();
        let h = response.headers_mut();
        envelope::add_diagnostics(h, &request_id, client_request_id.as_ref(), app, status);
        if let Some(rate) = rate {
            for (name, value) in rate.headers() {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.insert(name, v);
                }
            }
            let count = rate.in_flight.to_string();
            if let Ok(v) = HeaderValue::from_str(&count) {
                h.insert("x-concurrencycount", v.clone());
                h.insert("x-combinedapponlyconcurrencycount", v);
            }
        }
        response
    };

    // 1. Token (docs/protocol.md, "Authorization in the simulator").
    let app = match state.bearer.check(
        &headers,
        &url_tenant,
        &state.shared.directory,
        &state.shared.signing_key,
    ) {
        Ok(app) => app,
        Err(rejection) => return finish(rejection.into_response(), None, None),
    };
    let app_id = app.app_id.clone();

    // 2. Throttling: every answer from here on carries the rate headers.
    let (_permit, rate) = match state.throttle.admit(&app_id) {
        Ok(admitted) => admitted,
        Err(Refusal::Budget {
            retry_after,
            status,
        }) => {
            state.shared.counters.count_throttled();
            let wait = retry_after_value(retry_after);
            let message =
                format!("Application is over its request budget. Retry after {wait} seconds.");
            return finish(
                answers::too_many_requests(&wait, &message),
                Some(&app_id),
                Some(&status),
            );
        }
        Err(Refusal::Concurrency {
            retry_after,
            status,
        }) => {
            state.shared.counters.count_throttled();
            let wait = retry_after_value(retry_after);
            return finish(
                answers::too_many_requests(
                    &wait,
                    "You have reached the maximum number of concurrent requests per tenant. Please wait and try again.",
                ),
                Some(&app_id),
                Some(&status),
            );
        }
    };
    let done = |response: Response| finish(response, Some(&app_id), Some(&rate));

    // Added latency stands for a slow back end, so the request holds its
    // concurrency slot while it waits.
    let latency = state.shared.faults.next_latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    // 3. Injected faults.
    match state.shared.faults.next_invoke_fault() {
        Some(InvokeFault::Throttle(d)) => {
            state.shared.counters.count_throttled();
            let wait = retry_after_value(d);
            let message =
                format!("Too many requests. Retry after {wait} seconds. (Simulated throttling.)");
            return done(answers::too_many_requests(&wait, &message));
        }
        Some(InvokeFault::Status(s)) => return done(answers::injected_status(s)),
        None => {}
    }

    // 4. Routing hint.
    if let Err(e) = super::anchor::check(&headers, state.require_anchor_mailbox) {
        return done(answers::routing_hint(&e.message()));
    }

    // 5. Body.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return done(answers::unsupported_media_type(&content_type));
    }
    let bytes = match http_util::read_limited(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return done(http_util::too_large(MAX_BODY_BYTES)),
        Err(BodyError::Broken) => {
            return done(answers::bad_input("The request body could not be read."));
        }
    };

    let (page_size, size_applied) =
        paging::max_page_size(headers.get("prefer").and_then(|v| v.to_str().ok()));
    let skip_token = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case("$skiptoken"))
            .map(|(_, v)| v.into_owned())
    });

    // 6. The cursor: from the skip token, or by running the cmdlet.
    let cursor = match skip_token {
        Some(token) => match state.pages.get(&token) {
            // The body of a next-page request repeats the first one and is
            // not re-run; the cursor is bound to the app and URL tenant.
            Some(c)
                if c.app_id.eq_ignore_ascii_case(&app_id)
                    && c.tenant.eq_ignore_ascii_case(&url_tenant) =>
            {
                c
            }
            _ => return done(answers::unknown_skip_token()),
        },
        None => {
            let call = match super::cmdlet_input::decode(&bytes) {
                Ok(call) => call,
                Err(e) => return done(answers::bad_input(&e.0)),
            };
            let caller = Caller {
                app_id: app_id.clone(),
                role_template_ids: app.role_template_ids.clone(),
            };
            match state.shared.tenant.execute(&caller, &call) {
                Ok(execution) => Cursor {
                    execution: Arc::new(execution),
                    offset: 0,
                    page: 1,
                    app_id: app_id.clone(),
                    tenant: url_tenant.clone(),
                    warnings_sent: false,
                },
                Err(error) => {
                    let status = StatusCode::from_u16(error.status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let mut response = envelope::respond(
                        status,
                        error.to_body().to_string(),
                        envelope::CONTENT_TYPE,
                    );
                    if let Ok(v) = HeaderValue::from_str(&error.class) {
                        response.headers_mut().insert("x-exceptiontype", v);
                    }
                    return done(response);
                }
            }
        }
    };

    // 7. Connection reset fault: drop the connection with no answer.
    if state.shared.faults.take_reset(cursor.page)
        && let Some(Extension(connection)) = &connection
    {
        connection.drop_connection();
        std::future::pending::<()>().await;
    }

    // 8. The page.
    let total = cursor.execution.len();
    let items = cursor.execution.page(cursor.offset, page_size);
    let next_offset = cursor.offset + items.len();
    let next_link = (next_offset < total && !items.is_empty()).then(|| {
        let token = state.pages.insert(Cursor {
            offset: next_offset,
            page: cursor.page + 1,
            warnings_sent: true,
            ..cursor.clone()
        });
        format!(
            "{}{}?$skiptoken={token}",
            http_util::origin(&headers, state.shared.port),
            uri.path()
        )
    });
    // Warnings are sent with the first page only, so a client that
    // collects them across pages sees each once (the simulator's choice).
    let warnings: &[String] = if cursor.warnings_sent {
        &[]
    } else {
        cursor.execution.warnings()
    };
    let page = Page {
        url_tenant: &url_tenant,
        warnings,
        items,
        next_link,
    };
    let mut response = envelope::respond(StatusCode::OK, page.to_body(), envelope::CONTENT_TYPE);
    let preference = if size_applied {
        format!("odata.include-annotations=\"*\",odata.maxpagesize={page_size}")
    } else {
        "odata.include-annotations=\"*\"".to_owned()
    };
    if let Ok(v) = HeaderValue::from_str(&preference) {
        response.headers_mut().insert("preference-applied", v);
    }
    done(response)
}
