//! Per-app throttling: `Rate-Limit-*` headers on every answer, 429 with a
//! decimal `Retry-After` when the budget or the concurrency cap is spent.

mod common;

use std::time::Duration;

use common::*;
use exorun_sim::{FaultConfig, ThrottleConfig};
use serde_json::json;

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_burst_is_spent_then_429_with_decimal_retry_after_then_served_again() {
    let sim = start_with(5, |c| {
        c.throttle = ThrottleConfig {
            budget_per_second: 4.0,
            burst: 3.0,
            max_concurrency: 100,
        };
    })
    .await;
    let token = token(&sim).await;
    let body = cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}));
    for remaining in ["2", "1", "0"] {
        let (status, h, _) = invoke_json(&sim, &token, &body).await;
        assert_eq!(status, 200);
        assert_eq!(header(&h, "rate-limit-limit"), "3");
        assert_eq!(header(&h, "rate-limit-remaining"), remaining);
    }
    let (status, h, body429) = invoke_json(&sim, &token, &body).await;
    assert_eq!(status, 429, "{body429}");
    assert_eq!(body429["error"]["code"], "TooManyRequests");
    let retry_after = header(&h, "retry-after");
    let (whole, fraction) = retry_after.split_once('.').expect("decimal Retry-After");
    assert!(
        whole.chars().all(|c| c.is_ascii_digit()) && fraction.len() == 3,
        "{retry_after}"
    );
    let seconds: f64 = retry_after.parse().unwrap();
    assert!(seconds > 0.0 && seconds <= 0.25, "{retry_after}");
    assert_eq!(header(&h, "rate-limit-remaining"), "0");
    let reset = header(&h, "rate-limit-reset");
    assert!(
        reset.len() == "2024-05-22T16:52:26.365Z".len() && reset.ends_with('Z'),
        "{reset}"
    );

    tokio::time::sleep(Duration::from_secs_f64(seconds + 0.02)).await;
    let (status, _, _) = invoke_json(&sim, &token, &body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn too_many_requests_in_flight_get_429_with_the_concurrency_text() {
    let sim = start_with(5, |c| {
        c.throttle = ThrottleConfig {
            budget_per_second: 1000.0,
            burst: 1000.0,
            max_concurrency: 1,
        };
        c.faults = FaultConfig {
            latency_ms: 400,
            ..FaultConfig::default()
        };
    })
    .await;
    let token = token(&sim).await;
    let body = cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}));
    let slow = invoke_json(&sim, &token, &body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        invoke_json(&sim, &token, &body).await
    };
    let ((first_status, _, _), (second_status, h, answer)) = tokio::join!(slow, second);
    let statuses = [first_status, second_status];
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "{statuses:?}"
    );
    if second_status == 429 {
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("maximum number of concurrent requests")
        );
        assert_eq!(header(&h, "retry-after"), "0.100");
    }
}

#[tokio::test]
async fn throttling_is_off_by_default() {
    let sim = start().await;
    let token = token(&sim).await;
    let body = cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}));
    for _ in 0..50 {
        assert_eq!(invoke_json(&sim, &token, &body).await.0, 200);
    }
}
