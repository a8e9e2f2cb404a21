//! The managed identity endpoints (App Service `/msi/token` and IMDS
//! `/metadata/identity/oauth2/token`, plain HTTP on their own loopback
//! port), the identities behind them, their faults, and
//! `RunningSim::mint_access_token` (docs/protocol.md, "Managed identity
//! endpoints").

mod common;

use std::time::{Duration, Instant};

use common::*;
use exorun_sim::directory::roles;
use exorun_sim::{Consent, FaultConfig};
use serde_json::{Value, json};

const EXCHANGE: &str = "https://outlook.office365.com";

async fn identity_sim() -> Sim {
    start_with(5, |c| c.managed_identity = true).await
}

/// A plain client: the identity endpoints are `http://`.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    text: String,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, text, body }
}

/// The App Service form with the right secret; `query` adds to it.
async fn app_service(sim: &Sim, query: &[(&str, &str)]) -> Answer {
    let endpoint = sim.info.identity_endpoint.clone().unwrap();
    let secret = sim.info.identity_header.clone().unwrap();
    send(
        plain()
            .get(endpoint)
            .header("X-IDENTITY-HEADER", secret)
            .query(&[("api-version", "2019-08-01")])
            .query(query),
    )
    .await
}

fn imds_url(sim: &Sim) -> String {
    format!(
        "{}/metadata/identity/oauth2/token",
        sim.info.imds_base.clone().unwrap()
    )
}

/// The IMDS form with `Metadata: true`; `query` adds to it.
async fn imds(sim: &Sim, query: &[(&str, &str)]) -> Answer {
    send(
        plain()
            .get(imds_url(sim))
            .header("Metadata", "true")
            .query(&[("api-version", "2018-02-01")])
            .query(query),
    )
    .await
}

async fn organization_config(sim: &Sim, token: &str) -> (u16, Value) {
    let (status, _, body) =
        invoke_json(sim, token, &cmdlet("Get-OrganizationConfig", json!({}))).await;
    (status, body)
}

#[tokio::test]
async fn both_endpoint_forms_issue_tokens_exchange_accepts() {
    let sim = identity_sim().await;
    let info = sim.info.clone();
    let client_id = info.managed_identity_client_id.clone().unwrap();
    assert_ne!(client_id, info.app_id);
    let port = sim
        .info
        .imds_base
        .as_deref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    assert_ne!(port, info.port.to_string());
    assert_eq!(
        info.identity_endpoint.as_deref(),
        Some(format!("http://127.0.0.1:{port}/msi/token").as_str())
    );
    assert_eq!(info.identity_header.as_deref().unwrap().len(), 64);

    let before = now() as i64;
    let a = app_service(&sim, &[("resource", EXCHANGE)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["resource"], EXCHANGE);
    assert_eq!(a.body["client_id"], client_id.as_str());
    let expires_on: i64 = a.body["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(expires_on >= before + 86_000, "{expires_on}");
    let token = a.body["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["aud"], EXCHANGE);
    assert_eq!(claims["appid"], client_id.as_str());
    assert_eq!(claims["roles"], json!(["Exchange.ManageAsApp"]));
    assert_eq!(claims["wids"], json!([roles::EXCHANGE_ADMINISTRATOR]));
    assert_eq!(claims["tid"], info.tenant_id.as_str());
    assert_eq!(claims["exp"], expires_on);
    assert_eq!(
        claims["app_displayname"],
        "exorun simulator managed identity"
    );
    let (status, body) = organization_config(&sim, &token).await;
    assert_eq!(status, 200, "{body}");

    // IMDS, with the resource's trailing slash, as azure-identity sends it.
    let a = imds(&sim, &[("resource", "https://outlook.office365.com/")]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    for field in ["expires_in", "expires_on", "ext_expires_in", "not_before"] {
        let n: i64 = a.body[field].as_str().unwrap().parse().unwrap();
        assert!(n > 0, "{field}");
    }
    let expires_in: i64 = a.body["expires_in"].as_str().unwrap().parse().unwrap();
    assert!((86_000..=86_400).contains(&expires_in), "{expires_in}");
    assert_eq!(a.body["resource"], "https://outlook.office365.com/");
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["client_id"], client_id.as_str());
    let token = a.body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = organization_config(&sim, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sim.identity_requests(), 2);

    // Graph, by its app id: a Graph token, which Exchange refuses.
    let a = imds(
        &sim,
        &[("resource", "00000003-0000-0000-c000-000000000000")],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let token = a.body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["aud"], "https://graph.microsoft.com");
    assert_eq!(organization_config(&sim, token).await.0, 401);
}

#[tokio::test]
async fn the_secret_header_is_required_and_checked() {
    let sim = identity_sim().await;
    let endpoint = sim.info.identity_endpoint.clone().unwrap();
    let query = [("api-version", "2019-08-01"), ("resource", EXCHANGE)];
    let a = send(plain().get(&endpoint).query(&query)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"statusCode": 400, "message": "No X-IDENTITY-HEADER header"})
    );
    let secret = sim.info.identity_header.clone().unwrap();
    let mut wrong = secret.clone().into_bytes();
    wrong[0] = if wrong[0] == b'a' { b'b' } else { b'a' };
    for given in [String::from_utf8(wrong).unwrap(), format!("{secret}0")] {
        let a = send(
            plain()
                .get(&endpoint)
                .header("X-IDENTITY-HEADER", given)
                .query(&query),
        )
        .await;
        assert_eq!(a.status, 401, "{}", a.text);
        assert_eq!(a.body["statusCode"], 401);
        assert!(!a.text.contains(&secret));
    }
    // The other protocol version is refused.
    let a = send(
        plain()
            .get(&endpoint)
            .header("X-IDENTITY-HEADER", &secret)
            .query(&[("api-version", "2017-09-01"), ("resource", EXCHANGE)]),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(sim.identity_requests(), 4);
}

#[tokio::test]
async fn imds_wants_the_metadata_header_and_an_api_version() {
    let sim = identity_sim().await;
    let url = imds_url(&sim);
    let query = [("api-version", "2018-02-01"), ("resource", EXCHANGE)];
    for header in [None, Some("false")] {
        let mut request = plain().get(&url).query(&query);
        if let Some(v) = header {
            request = request.header("Metadata", v);
        }
        let a = send(request).await;
        assert_eq!(a.status, 400, "{}", a.text);
        assert_eq!(
            a.body,
            json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})
        );
    }
    for version in [None, Some("2017-12-01"), Some("latest")] {
        let mut request = plain()
            .get(&url)
            .header("Metadata", "true")
            .query(&[("resource", EXCHANGE)]);
        if let Some(v) = version {
            request = request.query(&[("api-version", v)]);
        }
        let a = send(request).await;
        assert_eq!(a.status, 400, "{version:?}: {}", a.text);
        assert_eq!(a.body["error"], "invalid_request");
    }
    // A later version is taken.
    let a = send(
        plain()
            .get(&url)
            .header("Metadata", "true")
            .query(&[("api-version", "2019-08-01"), ("resource", EXCHANGE)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn resources_the_tenant_does_not_know_are_refused() {
    let sim = identity_sim().await;
    for form in [true, false] {
        let ask = |q: Vec<(&'static str, &'static str)>| {
            let sim = &sim;
            async move {
                if form {
                    app_service(sim, &q).await
                } else {
                    imds(sim, &q).await
                }
            }
        };
        let a = ask(vec![("resource", "https://vault.azure.net")]).await;
        assert_eq!(a.status, 400, "{}", a.text);
        assert_eq!(a.body["error"], "invalid_resource");
        assert!(
            a.body["error_description"]
                .as_str()
                .unwrap()
                .contains("https://vault.azure.net"),
            "{}",
            a.text
        );
        let a = ask(vec![]).await;
        assert_eq!(a.status, 400, "{}", a.text);
        assert_eq!(a.body["error"], "invalid_request");
    }
}

#[tokio::test]
async fn a_user_assigned_identity_is_chosen_by_client_id_and_unknown_ones_are_not_found() {
    let sim = identity_sim().await;
    let user = sim.directory().add_user_assigned_identity(
        "reports identity",
        &[roles::EXCHANGE_RECIPIENT_ADMINISTRATOR],
    );
    for a in [
        app_service(&sim, &[("resource", EXCHANGE), ("client_id", &user.app_id)]).await,
        imds(&sim, &[("resource", EXCHANGE), ("client_id", &user.app_id)]).await,
    ] {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["client_id"], user.app_id.as_str());
        let token = a.body["access_token"].as_str().unwrap();
        let claims = claims_of(token);
        assert_eq!(claims["appid"], user.app_id.as_str());
        assert_eq!(claims["oid"], user.service_principal_id.as_str());
        assert_eq!(
            claims["wids"],
            json!([roles::EXCHANGE_RECIPIENT_ADMINISTRATOR])
        );
        assert_eq!(organization_config(&sim, token).await.0, 200);
    }
    // Unknown, and an app registration's client id: not an identity.
    let unknown = "00000000-1111-2222-3333-444444444444";
    for id in [unknown, sim.info.app_id.as_str()] {
        for a in [
            app_service(&sim, &[("resource", EXCHANGE), ("client_id", id)]).await,
            imds(&sim, &[("resource", EXCHANGE), ("client_id", id)]).await,
        ] {
            assert_eq!(a.status, 400, "{}", a.text);
            assert_eq!(
                a.body,
                json!({"error": "invalid_request", "error_description": "Identity not found"})
            );
        }
    }
    // Without admin consent the token carries no roles: Exchange refuses it.
    sim.directory()
        .set_consent(&user.app_id, Consent::NotGranted)
        .unwrap();
    let a = imds(&sim, &[("resource", EXCHANGE), ("client_id", &user.app_id)]).await;
    let token = a.body["access_token"].as_str().unwrap();
    assert!(claims_of(token).get("roles").is_none());
    assert_eq!(organization_config(&sim, token).await.0, 401);
}

#[tokio::test]
async fn a_managed_identity_cannot_use_a_client_assertion() {
    let sim = identity_sim().await;
    let client_id = sim.info.managed_identity_client_id.clone().unwrap();
    let cred = Credential::of(&sim.info);
    // Even with a certificate put on it, the identity has no key for Entra.
    sim.directory()
        .add_certificate(&client_id, &cred.cert.to_der().unwrap())
        .unwrap();
    let url = token_url_v2(&sim.info);
    let a = assertion(&cred, &client_id, &url, Profile::Rs256X5t, |_, _| {});
    let mut form = v2_form(&sim.info, &a);
    form[0].1 = client_id.clone();
    let (status, body) = post_form(&sim, &url, &form).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 700027);
}

#[tokio::test]
async fn the_garbage_fault_answers_200_with_a_body_that_is_not_json() {
    let sim = identity_sim().await;
    sim.faults().set(FaultConfig {
        identity_garbage: true,
        ..FaultConfig::default()
    });
    for a in [
        app_service(&sim, &[("resource", EXCHANGE)]).await,
        imds(&sim, &[("resource", EXCHANGE)]).await,
    ] {
        assert_eq!(a.status, 200);
        assert!(
            serde_json::from_str::<Value>(&a.text).is_err(),
            "{}",
            a.text
        );
    }
    sim.faults().clear();
    assert_eq!(
        app_service(&sim, &[("resource", EXCHANGE)]).await.status,
        200
    );
    assert_eq!(sim.identity_requests(), 3);
}

#[tokio::test]
async fn the_stall_fault_makes_clients_time_out_and_does_not_hold_up_shutdown() {
    let sim = identity_sim().await;
    sim.faults().set(FaultConfig {
        identity_stall_ms: 60_000,
        ..FaultConfig::default()
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = impatient
        .get(imds_url(&sim))
        .header("Metadata", "true")
        .query(&[("api-version", "2018-02-01"), ("resource", EXCHANGE)])
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");

    // A stalled request in flight: shutdown closes it and returns at once.
    let pending = tokio::spawn(
        plain()
            .get(imds_url(&sim))
            .header("Metadata", "true")
            .query(&[("api-version", "2018-02-01"), ("resource", EXCHANGE)])
            .send(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.identity_requests() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.identity_requests(), 2);
    let common::Sim { sim, .. } = sim;
    let started = Instant::now();
    sim.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(pending.await.unwrap().is_err());
}

#[tokio::test]
async fn the_stall_fault_delays_the_answer() {
    let sim = identity_sim().await;
    sim.faults().set(FaultConfig {
        identity_stall_ms: 400,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    let a = app_service(&sim, &[("resource", EXCHANGE)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let stats: Value = sim
        .http
        .get(format!("{}/_sim/stats", sim.info.login_base))
        .bearer_auth(&sim.info.control_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["identity_requests"], 1);
}

#[tokio::test]
async fn without_the_option_there_are_no_identity_endpoints() {
    let sim = start_with(5, |_| {}).await;
    assert_eq!(sim.info.identity_endpoint, None);
    assert_eq!(sim.info.identity_header, None);
    assert_eq!(sim.info.imds_base, None);
    assert_eq!(sim.info.managed_identity_client_id, None);
    assert!(sim.directory().system_identity().is_none());
    // The HTTPS port does not serve them either.
    let response = sim
        .http
        .get(format!("{}/msi/token", sim.info.login_base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn minted_tokens_are_taken_as_issued_ones() {
    let sim = identity_sim().await;
    let app_id = sim.info.app_id.clone();

    let valid = sim.mint_access_token(EXCHANGE, &app_id, 3600).unwrap();
    let claims = claims_of(&valid);
    assert_eq!(claims["aud"], EXCHANGE);
    assert_eq!(claims["appid"], app_id.as_str());
    assert_eq!(claims["roles"], json!(["Exchange.ManageAsApp"]));
    let exp = claims["exp"].as_i64().unwrap();
    let now = now() as i64;
    assert!((now + 3598..=now + 3601).contains(&exp), "{exp}");
    assert_eq!(claims["iat"], claims["nbf"]);
    assert_eq!(organization_config(&sim, &valid).await.0, 200);

    let expired = sim.mint_access_token(EXCHANGE, &app_id, -120).unwrap();
    let claims = claims_of(&expired);
    assert!(claims["exp"].as_i64().unwrap() < now);
    assert!(claims["nbf"].as_i64().unwrap() < claims["exp"].as_i64().unwrap());
    assert_eq!(organization_config(&sim, &expired).await.0, 401);

    let graph = sim
        .mint_access_token("https://graph.microsoft.com", &app_id, 3600)
        .unwrap();
    assert_eq!(
        claims_of(&graph)["roles"],
        json!(["Application.ReadWrite.OwnedBy"])
    );
    assert_eq!(organization_config(&sim, &graph).await.0, 401);

    // An audience the tenant does not know: no roles.
    let elsewhere = sim
        .mint_access_token("https://example.com", &app_id, 3600)
        .unwrap();
    assert_eq!(claims_of(&elsewhere)["aud"], "https://example.com");
    assert!(claims_of(&elsewhere).get("roles").is_none());

    // A managed identity's token, too.
    let identity = sim.info.managed_identity_client_id.clone().unwrap();
    let minted = sim.mint_access_token(EXCHANGE, &identity, 600).unwrap();
    assert_eq!(organization_config(&sim, &minted).await.0, 200);

    assert!(
        sim.mint_access_token(EXCHANGE, "00000000-0000-0000-0000-00000000abcd", 60)
            .is_err()
    );
}
