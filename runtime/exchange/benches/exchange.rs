//! Benchmarks: cached token lookup, single-flight under 1,000 concurrent
//! callers, the client's per-call overhead against a bare reqwest POST
//! to the same local server, and the tenant limiter's own cost per send
//! with its pacing state in the process or in the shared file the CLI uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use criterion::{Criterion, criterion_group, criterion_main};
use exorun_cmdlet::{Backend, Call};
use exorun_exchange::{CertificateSource, ConnectOptions, ExchangeClient, generate_self_signed};

const ENVELOPE: &str = r#"{"@odata.context":"ctx","@adminapi.warnings":[],"value":[{"Name":"mbx0","PrimarySmtpAddress":"mbx0@contoso.com"}]}"#;

async fn handle(State(tokens): State<Arc<AtomicUsize>>, uri: Uri, _body: Bytes) -> String {
    if uri.path().ends_with("/oauth2/v2.0/token") {
        tokens.fetch_add(1, Ordering::SeqCst);
        // Make the token request slow enough that all callers pile up.
        tokio::time::sleep(Duration::from_millis(20)).await;
        return r#"{"token_type":"Bearer","expires_in":3599,"access_token":"a.b.c"}"#.to_owned();
    }
    ENVELOPE.to_owned()
}

struct Setup {
    url: String,
    tokens: Arc<AtomicUsize>,
    client: ExchangeClient,
}

async fn setup() -> Setup {
    let tokens = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&tokens));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let cert = generate_self_signed("CN=bench", 30, 2048)
        .unwrap()
        .certificate;
    let conn = ConnectOptions::new(
        "contoso.onmicrosoft.com",
        "bench-app",
        CertificateSource::Loaded(Arc::new(cert)),
    )
    .authority_url(&url)
    .exchange_url(&url)
    .system_proxy(false)
    .connect()
    .unwrap();
    Setup {
        url,
        tokens,
        client: conn.client(),
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(setup());
    let cache = Arc::clone(s.client.token_cache());
    rt.block_on(cache.token()).unwrap();

    c.bench_function("token/cached_lookup_sync", |b| {
        b.iter(|| cache.cached().unwrap())
    });
    c.bench_function("token/cached_lookup_async", |b| {
        b.to_async(&rt)
            .iter(|| async { cache.token().await.unwrap() })
    });

    let mut group = c.benchmark_group("token");
    group.sample_size(10);
    group.bench_function("1000_concurrent_callers_after_invalidate", |b| {
        b.to_async(&rt).iter(|| {
            let cache = Arc::clone(&cache);
            let tokens = Arc::clone(&s.tokens);
            async move {
                cache.invalidate();
                let before = tokens.load(Ordering::SeqCst);
                let tasks: Vec<_> = (0..1000)
                    .map(|_| {
                        let cache = Arc::clone(&cache);
                        tokio::spawn(async move { cache.token().await.unwrap().id() })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                let made = tokens.load(Ordering::SeqCst) - before;
                assert_eq!(made, 1, "single flight broken: {made} token requests");
            }
        })
    });
    group.finish();
    eprintln!(
        "single flight: {} token requests in total for every 1,000-caller round (1 per round)",
        s.tokens.load(Ordering::SeqCst)
    );

    let mut group = c.benchmark_group("invoke");
    let call = Call::new("Get-Mailbox").param("Identity", "mbx0");
    group.bench_function("exchange_client", |b| {
        b.to_async(&rt)
            .iter(|| async { s.client.invoke(&call).await.unwrap() })
    });
    let bare = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!(
        "{}/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand",
        s.url
    );
    // The same header set the client sends, so the comparison is of client
    // work, not of bytes on the wire.
    let mut wire_headers = reqwest::header::HeaderMap::new();
    for (k, v) in [
        ("authorization", "Bearer a.b.c"),
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("accept-charset", "UTF-8"),
        (
            "x-anchormailbox",
            "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com",
        ),
        ("x-cmdletname", "Get-Mailbox"),
        ("x-responseformat", "json"),
        ("x-serializationlevel", "Partial"),
        ("client-request-id", "6f1c1c9e-4d4a-4c4e-9b8a-2f2f2f2f2f2f"),
        ("connection-id", "7f1c1c9e-4d4a-4c4e-9b8a-2f2f2f2f2f2f"),
        ("prefer", "odata.maxpagesize=1000"),
    ] {
        wire_headers.insert(
            reqwest::header::HeaderName::from_static(k),
            reqwest::header::HeaderValue::from_static(v),
        );
    }
    let body = r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"Identity":"mbx0"}}}"#;
    group.bench_function("bare_reqwest_post", |b| {
        b.to_async(&rt).iter(|| async {
            let r = bare
                .post(&url)
                .headers(wire_headers.clone())
                .body(body)
                .send()
                .await
                .unwrap();
            r.bytes().await.unwrap()
        })
    });
    group.finish();
}

/// One send through the limiter: take a slot, report a 200. The answer has
/// no rate headers, so nothing is paced and only the limiter's own work is
/// timed: two updates of the pacing state per send.
fn limiter(c: &mut Criterion) {
    use exorun_exchange::LimiterConfig;
    use exorun_exchange::client::limiter::{InProcess, PaceStore, SharedFile, TenantLimiter};
    use reqwest::header::HeaderMap;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let headers = HeaderMap::new();
    let dir = tempfile::tempdir().unwrap();
    let config = LimiterConfig::default();
    let stores: [(&str, Box<dyn PaceStore>); 2] = [
        ("in_process", Box::new(InProcess::default())),
        (
            "shared_file",
            Box::new(SharedFile::open(dir.path(), "bench", config.pace_rules()).unwrap()),
        ),
    ];
    let mut group = c.benchmark_group("limiter_send");
    for (name, store) in stores {
        let limiter = TenantLimiter::with_store(config, store);
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut permit = limiter.acquire().await;
                    permit.observe(200, None, &headers);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(exchange, benches, limiter);
criterion_main!(exchange);
