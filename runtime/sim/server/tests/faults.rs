//! Fault injection: latency, 5xx rates (deterministic by seed), 429
//! storms, a connection dropped on page k, switching at run time and
//! through `POST /_sim/faults`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use exorun_sim::FaultConfig;
use serde_json::{Value, json};

fn mailbox_call() -> Value {
    cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}))
}

#[tokio::test]
async fn added_latency_delays_every_answer() {
    let sim = start_with(5, |c| {
        c.faults = FaultConfig {
            latency_ms: 300,
            ..FaultConfig::default()
        }
    })
    .await;
    let token = token(&sim).await;
    let started = Instant::now();
    assert_eq!(invoke_json(&sim, &token, &mailbox_call()).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn each_injected_status_comes_with_a_body() {
    let sim = start().await;
    let token = token(&sim).await;
    for (status, code) in [
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
        (504, "GatewayTimeout"),
    ] {
        let config = match status {
            500 => FaultConfig {
                error_500_rate: 1.0,
                ..FaultConfig::default()
            },
            503 => FaultConfig {
                error_503_rate: 1.0,
                ..FaultConfig::default()
            },
            _ => FaultConfig {
                error_504_rate: 1.0,
                ..FaultConfig::default()
            },
        };
        sim.faults().set(config);
        let (got, headers, body) = invoke_json(&sim, &token, &mailbox_call()).await;
        assert_eq!(got, status);
        assert_eq!(body["error"]["code"], code);
        assert!(headers.get("rate-limit-remaining").is_some());
    }
    let (_, _, body) = {
        sim.faults().set(FaultConfig {
            error_500_rate: 1.0,
            ..FaultConfig::default()
        });
        invoke_json(&sim, &token, &mailbox_call()).await
    };
    // A retryable text the module recognises (docs/protocol.md, "Retries, throttling and 401").
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("StorageTransientException")
    );
    sim.faults().clear();
    assert_eq!(invoke_json(&sim, &token, &mailbox_call()).await.0, 200);
}

async fn status_sequence(seed: u64) -> Vec<u16> {
    let sim = start_with(5, |c| {
        c.seed = seed;
        c.faults = FaultConfig {
            error_500_rate: 0.2,
            error_503_rate: 0.2,
            error_504_rate: 0.2,
            ..FaultConfig::default()
        };
    })
    .await;
    let token = token(&sim).await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(invoke_json(&sim, &token, &mailbox_call()).await.0);
    }
    statuses
}

#[tokio::test]
async fn the_same_seed_injects_the_same_faults() {
    let first = status_sequence(42).await;
    assert_eq!(first, status_sequence(42).await);
    assert!(
        first.contains(&200) && first.iter().any(|s| *s >= 500),
        "{first:?}"
    );
    assert_ne!(first, status_sequence(43).await);
}

#[tokio::test]
async fn a_throttle_storm_answers_429_until_it_ends() {
    let sim = start().await;
    let token = token(&sim).await;
    sim.faults().set(FaultConfig {
        throttle_storm_ms: 500,
        throttle_storm_retry_after_ms: 250,
        ..FaultConfig::default()
    });
    for _ in 0..5 {
        let (status, headers, _) = invoke_json(&sim, &token, &mailbox_call()).await;
        assert_eq!(status, 429);
        assert_eq!(headers.get("retry-after").unwrap(), "0.250");
    }
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(invoke_json(&sim, &token, &mailbox_call()).await.0, 200);
}

#[tokio::test]
async fn the_connection_drops_unanswered_on_page_k_once() {
    let sim = start_with(30, |_| {}).await;
    let token = token(&sim).await;
    sim.faults().set(FaultConfig {
        reset_on_page: Some(2),
        ..FaultConfig::default()
    });
    let body = cmdlet("Get-Mailbox", json!({"ResultSize": "Unlimited"}));
    let page = |url: String| {
        invoke(&sim, &token, &url)
            .header("Prefer", "odata.maxpagesize=10")
            .json(&body)
            .send()
    };
    let first: Value = page(sim.info.invoke_command_url.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let dropped = page(next.clone()).await;
    let error = dropped.expect_err("page 2 must not be answered");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    // The same link works when retried.
    let second = page(next).await.unwrap();
    assert_eq!(second.status().as_u16(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn faults_are_switched_through_the_admin_endpoint() {
    let sim = start().await;
    let token = token(&sim).await;
    let url = format!("{}/_sim/faults", sim.info.login_base);
    let key = sim.info.control_key.clone();
    assert_eq!(key.len(), 64, "{key}");
    let response = sim
        .http
        .post(&url)
        .bearer_auth(&key)
        .json(&json!({"error_503_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let current: Value = sim
        .http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["error_503_rate"], 1.0);
    assert_eq!(invoke_json(&sim, &token, &mailbox_call()).await.0, 503);

    let refused = sim
        .http
        .post(&url)
        .bearer_auth(&key)
        .json(&json!({"no_such_fault": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "BadRequest");

    sim.http
        .post(&url)
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(invoke_json(&sim, &token, &mailbox_call()).await.0, 200);
}

#[tokio::test]
async fn the_fault_switch_refuses_requests_without_the_control_key() {
    let sim = start().await;
    let token = token(&sim).await;
    let url = format!("{}/_sim/faults", sim.info.login_base);
    let wrong_length = format!("{}0", sim.info.control_key);
    let mut same_length = sim.info.control_key.clone().into_bytes();
    same_length[0] = if same_length[0] == b'a' { b'b' } else { b'a' };
    let same_length = String::from_utf8(same_length).unwrap();
    // The tenant's own access token is no control key either.
    for bearer in [
        None,
        Some(""),
        Some(token.as_str()),
        Some(&wrong_length),
        Some(&same_length),
    ] {
        for post in [false, true] {
            let mut request = if post {
                sim.http.post(&url).json(&json!({"error_503_rate": 1.0}))
            } else {
                sim.http.get(&url)
            };
            if let Some(b) = bearer {
                request = request.bearer_auth(b);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 401, "{bearer:?} post={post}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "Unauthorized");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("control_key"),
                "{body}"
            );
        }
    }
    // Nothing was switched.
    assert_eq!(invoke_json(&sim, &token, &mailbox_call()).await.0, 200);
}
