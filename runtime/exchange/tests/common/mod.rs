//! Helpers shared by the integration tests: a certificate, a scriptable
//! local HTTP server that records what it receives, and a connection to it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use exorun_exchange::{
    Certificate, CertificateSource, ConnectOptions, Connection, LimiterConfig, RetryPolicy,
    generate_self_signed,
};

/// One RSA-2048 certificate for the whole test binary (key generation is
/// the slow part).
pub fn certificate() -> Arc<Certificate> {
    static CERT: OnceLock<Arc<Certificate>> = OnceLock::new();
    Arc::clone(CERT.get_or_init(|| {
        Arc::new(
            generate_self_signed("CN=exorun-test", 30 * 12, 2048)
                .unwrap()
                .certificate,
        )
    }))
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn is_token(&self) -> bool {
        self.target.ends_with("/oauth2/v2.0/token")
    }
}

#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A fresh token answer with a readable JWT payload.
pub fn token_reply(expires_in: u64) -> Reply {
    token_reply_with(expires_in, None)
}

pub fn token_reply_with(expires_in: u64, refresh_in: Option<u64>) -> Reply {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let payload = format!(
        r#"{{"aud":"https://outlook.office365.com","appid":"app-1","tid":"tid-1","roles":["Exchange.ManageAsApp"],"wids":["29232cdf-9323-42fd-ade2-1d097af3e4de"],"exp":2000000000,"n":{n}}}"#
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "eyJhbGciOiJub25lIn0.{}.c2lnbmF0dXJlLXNlY3JldC0{n}",
        b64.encode(payload)
    );
    let refresh = refresh_in
        .map(|r| format!(r#","refresh_in":{r}"#))
        .unwrap_or_default();
    Reply::json(
        200,
        format!(
            r#"{{"token_type":"Bearer","expires_in":{expires_in},"ext_expires_in":{expires_in}{refresh},"access_token":"{token}"}}"#
        ),
    )
}

pub type Script = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct ServerState {
    log: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Script>,
    invokes: Arc<AtomicUsize>,
    tokens: Arc<AtomicUsize>,
}

/// A local HTTP server: records every request and answers with `script`,
/// called with the request and the number of earlier non-token requests.
pub struct TestServer {
    pub url: String,
    pub log: Arc<Mutex<Vec<Recorded>>>,
    pub invokes: Arc<AtomicUsize>,
    pub tokens: Arc<AtomicUsize>,
}

impl TestServer {
    pub async fn start(script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let state = ServerState {
            log: Arc::default(),
            script: Arc::new(script),
            invokes: Arc::default(),
            tokens: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            url,
            log: state.log,
            invokes: state.invokes,
            tokens: state.tokens,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn invoke_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !r.is_token())
            .collect()
    }

    pub fn token_count(&self) -> usize {
        self.tokens.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(state): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let n = if rec.is_token() {
        state.tokens.fetch_add(1, Ordering::SeqCst)
    } else {
        state.invokes.fetch_add(1, Ordering::SeqCst)
    };
    state.log.lock().unwrap().push(rec.clone());
    let reply = (state.script)(&rec, n);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (k, v) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}

/// A script that answers the token endpoint and hands InvokeCommand
/// requests to `invoke`.
pub fn with_tokens(
    invoke: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |r, n| {
        if r.is_token() {
            token_reply(3599)
        } else {
            invoke(r, n)
        }
    }
}

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const APP_ID: &str = "11111111-2222-3333-4444-555555555555";

/// Retries with millisecond backoff, so tests are fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        max_throttle_wait: Duration::from_secs(5),
        throttle_floor: Duration::from_millis(1),
        jitter: true,
    }
}

pub fn options(authority: &str, exchange: &str) -> ConnectOptions {
    ConnectOptions::new(TENANT, APP_ID, CertificateSource::Loaded(certificate()))
        .authority_url(authority)
        .exchange_url(exchange)
        .retry_policy(fast_retry())
        .limiter_config(LimiterConfig::default())
        .system_proxy(false)
}

pub fn connect(server: &TestServer) -> Connection {
    options(&server.url, &server.url).connect().unwrap()
}

/// An InvokeCommand envelope with these objects and an optional nextLink.
pub fn envelope(objects: &[String], next: Option<&str>) -> String {
    let next = next
        .map(|n| format!(r#","@odata.nextLink":"{n}""#))
        .unwrap_or_default();
    format!(
        r##"{{"@odata.context":"ctx","adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":[],"value":[{}]{next}}}"##,
        objects.join(",")
    )
}
