//! The token request on the wire, the shared cache, single flight,
//! proactive refresh and invalidation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{APP_ID, Reply, TENANT, TestServer, token_reply, token_reply_with};
use exorun_exchange::{AuthError, TokenClaims};

#[tokio::test]
async fn the_token_request_is_the_documented_form() {
    let server = TestServer::start(|_, _| token_reply(3599)).await;
    let conn = common::connect(&server);
    conn.client().token_cache().token().await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes())
        .into_owned()
        .collect();
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "scope",
            "client_assertion_type",
            "client_assertion",
            "grant_type"
        ]
    );
    assert_eq!(form[0].1, APP_ID);
    assert_eq!(form[1].1, "https://outlook.office365.com/.default");
    assert_eq!(
        form[2].1,
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(form[4].1, "client_credentials");
    // The assertion's audience is the exact URL it was posted to.
    use base64::Engine;
    let payload = form[3].1.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT}/oauth2/v2.0/token", server.url)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_one_token_request() {
    let server =
        TestServer::start(|_, _| token_reply(3599).delayed(Duration::from_millis(50))).await;
    let conn = common::connect(&server);
    let cache = Arc::clone(conn.client().token_cache());
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.token().await.unwrap().id() })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    assert_eq!(server.token_count(), 1);
    assert_eq!(cache.requests(), 1);
    ids.dedup();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn a_cached_token_is_reused_until_its_refresh_time() {
    // refresh_in = 1 s: the second call is cached, the third (after 1.1 s)
    // refreshes proactively while the old token is still valid.
    let server = TestServer::start(|_, _| token_reply_with(3599, Some(1))).await;
    let conn = common::connect(&server);
    let client = conn.client();
    let cache = client.token_cache();
    let first = cache.token().await.unwrap();
    let second = cache.token().await.unwrap();
    assert_eq!(first.id(), second.id());
    assert_eq!(server.token_count(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = cache.token().await.unwrap();
    assert_ne!(third.id(), first.id());
    assert_eq!(server.token_count(), 2);
}

#[tokio::test]
async fn invalidate_forces_a_new_token_request() {
    let server = TestServer::start(|_, _| token_reply(3599)).await;
    let conn = common::connect(&server);
    let client = conn.client();
    let cache = client.token_cache();
    let first = cache.token().await.unwrap();
    cache.invalidate_if_current(&first);
    let second = cache.token().await.unwrap();
    assert_ne!(first.id(), second.id());
    // A stale invalidation (the token was already replaced) is a no-op.
    cache.invalidate_if_current(&first);
    assert_eq!(cache.token().await.unwrap().id(), second.id());
    cache.invalidate();
    cache.token().await.unwrap();
    assert_eq!(server.token_count(), 3);
}

#[tokio::test]
async fn an_entra_refusal_shows_code_first_line_and_hint() {
    let server = TestServer::start(|_, _| {
        Reply::json(401, r#"{"error":"invalid_client","error_description":"AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found.]\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[700027],"correlation_id":"c"}"#)
    })
    .await;
    let conn = common::connect(&server);
    let err = conn.client().token_cache().token().await.unwrap_err();
    let AuthError::Refused(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.status, 401);
    assert_eq!(e.error, "invalid_client");
    assert_eq!(e.code, Some(700027));
    let thumb = common::certificate().thumbprint_sha1_hex();
    assert_eq!(
        e.hint.as_deref(),
        Some(
            format!("upload this certificate (thumbprint {thumb}) to the app registration {APP_ID} (Certificates & secrets), or sign in with the certificate that is registered there").as_str()
        )
    );
    assert!(!err.to_string().contains("Trace ID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_queued_behind_a_failing_request_share_its_error() {
    let server = TestServer::start(|_, _| {
        Reply::json(400, r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#)
            .delayed(Duration::from_millis(50))
    })
    .await;
    let conn = common::connect(&server);
    let cache = Arc::clone(conn.client().token_cache());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.token().await.unwrap_err() })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), AuthError::Refused(_)));
    }
    assert_eq!(server.token_count(), 1);
}

#[tokio::test]
async fn token_claims_are_decoded_without_the_token() {
    let server = TestServer::start(|_, _| token_reply(3599)).await;
    let conn = common::connect(&server);
    let claims = conn.token_claims().await.unwrap();
    assert_eq!(
        claims,
        TokenClaims {
            appid: Some("app-1".into()),
            tid: Some("tid-1".into()),
            oid: None,
            roles: vec!["Exchange.ManageAsApp".into()],
            wids: vec!["29232cdf-9323-42fd-ade2-1d097af3e4de".into()],
            aud: Some("https://outlook.office365.com".into()),
            exp: Some(2_000_000_000),
        }
    );
}

#[tokio::test]
async fn connections_with_the_same_key_share_one_cache() {
    let server = TestServer::start(|_, _| token_reply(3599)).await;
    let a = common::connect(&server);
    let b = common::connect(&server);
    assert!(Arc::ptr_eq(
        a.client().token_cache(),
        b.client().token_cache()
    ));
    a.client().token_cache().token().await.unwrap();
    b.client().token_cache().token().await.unwrap();
    assert_eq!(server.token_count(), 1);
}
