//! The success answer of InvokeCommand (docs/protocol.md, "Response envelope"): the OData
//! envelope and the headers the module and third-party clients read.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The exact `Content-Type` of a captured answer.
pub const CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Fake but realistic diagnostic values (docs/protocol.md, "Response envelope" and
/// "Rate-limit headers").
pub const BACKEND_TARGET: &str = "EMU01MB0001.EMUPR01.PROD.OUTLOOK.COM";
pub const FRONTEND_SERVER: &str = "EMU01FE0001";
pub const EXCHANGE_VERSION: &str = "Version 15.20 (Build 7587.36)";

/// One page of results, already serialised item by item.
pub struct Page<'a> {
    /// The tenant as written in the request URL (the capture echoes it).
    pub url_tenant: &'a str,
    pub warnings: &'a [String],
    pub items: Vec<serde_json::Value>,
    pub next_link: Option<String>,
}

impl Page<'_> {
    /// The body, written member by member so that the order matches the
    /// capture (`@odata.context`, warnings, `value`, then `@odata.nextLink`).
    pub fn to_body(&self) -> String {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let mut body = String::with_capacity(256 + self.items.len() * 512);
        body.push_str("{\"@odata.context\":");
        body.push_str(&quote(&format!(
            "https://outlook.office.com/adminapi/beta/{}/$metadata#Collection(Exchange.GenericHashTable)",
            self.url_tenant
        )));
        body.push_str(
            ",\"adminapi.warnings@odata.type\":\"#Collection(String)\",\"@adminapi.warnings\":",
        );
        body.push_str(&serde_json::to_string(self.warnings).unwrap_or_else(|_| "[]".into()));
        body.push_str(",\"value\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&serde_json::to_string(item).unwrap_or_else(|_| "null".into()));
        }
        body.push(']');
        if let Some(link) = &self.next_link {
            body.push_str(",\"@odata.nextLink\":");
            body.push_str(&quote(link));
        }
        body.push('}');
        body
    }
}

/// Wraps a body (success or error) with the adminapi headers.
pub fn respond(status: StatusCode, body: String, json_content_type: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(json_content_type),
    );
    response
}

/// The diagnostic headers every InvokeCommand answer carries.
pub fn add_diagnostics(
    headers: &mut HeaderMap,
    request_id: &str,
    client_request_id: Option<&HeaderValue>,
    app_id: Option<&str>,
    backend_status: StatusCode,
) {
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("odata-version", "4.0");
    put("request-id", request_id);
    put("x-calculatedbetarget", BACKEND_TARGET);
    put("x-feserver", FRONTEND_SERVER);
    put("x-exchangeversion", EXCHANGE_VERSION);
    put(
        "x-backendhttpstatus",
        &format!("{0},{0}", backend_status.as_u16()),
    );
    if let Some(app) = app_id {
        put("x-ms-appid", app);
    }
    if let Some(c) = client_request_id {
        headers.insert(HeaderName::from_static("client-request-id"), c.clone());
    }
}
