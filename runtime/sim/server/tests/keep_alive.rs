//! Every answer leaves a keep-alive connection usable: one TLS connection,
//! a request answered early (bad token, throttled, injected fault, missing
//! routing hint, bad token request) with a body of about 20 kB unread by
//! the handler, then a good request on the same connection. A client that
//! does not retry POSTs (most do not) would otherwise lose the second
//! request's outcome.

mod common;

use std::pin::Pin;

use bytes::Bytes;
use common::*;
use exorun_sim::{FaultConfig, ThrottleConfig};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use openssl::ssl::{SslConnector, SslMethod};
use serde_json::{Value, json};

/// One TLS connection to the simulator, with hyper's HTTP/1.1 client on it.
/// Nothing reconnects: a closed connection fails the next request.
async fn one_connection(sim: &Sim) -> SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", sim.info.port))
        .await
        .unwrap();
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_ca_file(&sim.info.ca_pem).unwrap();
    let ssl = connector
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    Pin::new(&mut stream).connect().await.unwrap();
    let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    send
}

struct Answer {
    status: u16,
    connection_close: bool,
    body: Value,
}

async fn post(
    send: &mut SendRequest<Full<Bytes>>,
    sim: &Sim,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Answer {
    send.ready()
        .await
        .expect("the connection is still open for the next request");
    let mut request = hyper::Request::post(path)
        .header("host", format!("127.0.0.1:{}", sim.info.port))
        .header("content-length", body.len());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = send
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .expect("an answer on the same connection");
    let status = response.status().as_u16();
    let connection_close = response
        .headers()
        .get("connection")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        connection_close,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn invoke_path(sim: &Sim) -> String {
    format!("/adminapi/beta/{}/InvokeCommand", sim.info.tenant_id)
}

fn exchange_headers(sim: &Sim, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/json".to_owned()),
        ("x-anchormailbox", format!("{ANCHOR}{}", sim.info.tenant_id)),
    ]
}

/// A Get-Mailbox call padded to about 20 kB with JSON whitespace.
fn padded_call() -> Vec<u8> {
    let mut body = small_call();
    body.extend(std::iter::repeat_n(b' ', 20_000));
    body
}

fn small_call() -> Vec<u8> {
    serde_json::to_vec(&cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}))).unwrap()
}

#[tokio::test]
async fn early_answers_to_a_20_kb_body_leave_the_connection_usable() {
    let sim = start().await;
    let token = token(&sim).await;
    let path = invoke_path(&sim);
    let mut send = one_connection(&sim).await;
    let good = exchange_headers(&sim, &token);

    // 401: an unknown token.
    let answer = post(
        &mut send,
        &sim,
        &path,
        &exchange_headers(&sim, "not-a-token"),
        padded_call(),
    )
    .await;
    assert_eq!((answer.status, answer.connection_close), (401, false));
    assert_eq!(
        post(&mut send, &sim, &path, &good, small_call())
            .await
            .status,
        200
    );

    // 400: no routing hint.
    let no_anchor: Vec<_> = good
        .iter()
        .filter(|(n, _)| *n != "x-anchormailbox")
        .cloned()
        .collect();
    let answer = post(&mut send, &sim, &path, &no_anchor, padded_call()).await;
    assert_eq!(
        (answer.status, answer.connection_close),
        (400, false),
        "{}",
        answer.body
    );
    assert_eq!(
        post(&mut send, &sim, &path, &good, small_call())
            .await
            .status,
        200
    );

    // 503: an injected fault.
    sim.faults().set(FaultConfig {
        error_503_rate: 1.0,
        ..FaultConfig::default()
    });
    let answer = post(&mut send, &sim, &path, &good, padded_call()).await;
    assert_eq!((answer.status, answer.connection_close), (503, false));
    sim.faults().set(FaultConfig::default());
    assert_eq!(
        post(&mut send, &sim, &path, &good, small_call())
            .await
            .status,
        200
    );

    // The padded call itself, answered in full.
    let answer = post(&mut send, &sim, &path, &good, padded_call()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        post(&mut send, &sim, &path, &good, small_call())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_throttled_20_kb_request_leaves_the_connection_usable() {
    let sim = start_with(5, |c| {
        c.throttle = ThrottleConfig {
            budget_per_second: 1.0,
            burst: 1.0,
            max_concurrency: 100,
        }
    })
    .await;
    let token = token(&sim).await;
    let path = invoke_path(&sim);
    let good = exchange_headers(&sim, &token);
    let mut send = one_connection(&sim).await;
    assert_eq!(
        post(&mut send, &sim, &path, &good, small_call())
            .await
            .status,
        200
    );
    for _ in 0..3 {
        let answer = post(&mut send, &sim, &path, &good, padded_call()).await;
        assert_eq!(
            (answer.status, answer.connection_close),
            (429, false),
            "{}",
            answer.body
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        post(&mut send, &sim, &path, &good, small_call())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_refused_token_request_leaves_the_connection_usable() {
    let sim = start().await;
    let mut send = one_connection(&sim).await;
    let path = format!("/{}/oauth2/v2.0/token", sim.info.tenant_id);
    let form = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let mut body = b"grant_type=client_credentials&client_id=x&padding=".to_vec();
    body.extend(std::iter::repeat_n(b'a', 20_000));
    let answer = post(&mut send, &sim, &path, &form, body.clone()).await;
    assert_eq!(
        (answer.status, answer.connection_close),
        (400, false),
        "{}",
        answer.body
    );
    let answer = post(&mut send, &sim, &path, &form, body).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error_codes"][0], 900144);
}

#[tokio::test]
async fn a_body_over_the_limit_is_answered_413_with_connection_close() {
    let sim = start().await;
    let token = token(&sim).await;
    let mut send = one_connection(&sim).await;
    let path = invoke_path(&sim);
    let answer = post(
        &mut send,
        &sim,
        &path,
        &exchange_headers(&sim, &token),
        vec![b' '; (1 << 20) + 1],
    )
    .await;
    assert_eq!((answer.status, answer.connection_close), (413, true));
    assert_eq!(answer.body["error"]["code"], "RequestEntityTooLarge");
}
