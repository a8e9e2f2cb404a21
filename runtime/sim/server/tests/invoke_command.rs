//! The Exchange half: bearer validation and its 401s, the routing hint,
//! the OData envelope and headers, errors, RBAC and paging.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use exorun_sim::{AppRegistration, Consent, directory::roles};
use serde_json::{Value, json};

const CHALLENGE_PREFIX: &str = "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\"";

async fn status_and_diagnostics(
    sim: &Sim,
    token: Option<&str>,
    url: &str,
) -> (u16, String, String) {
    let mut request = sim
        .http
        .post(url)
        .header("X-AnchorMailbox", format!("{ANCHOR}{}", sim.info.tenant_id))
        .json(&cmdlet("Get-Mailbox", json!({})));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (challenge, diagnostics) = (header("www-authenticate"), header("x-ms-diagnostics"));
    (response.status().as_u16(), challenge, diagnostics)
}

#[tokio::test]
async fn a_missing_or_forged_token_gets_401_with_the_exchange_challenge() {
    let sim = start().await;
    let url = sim.info.invoke_command_url.clone();
    let good = token(&sim).await;
    // Same header and signature, but the payload names another tenant.
    let forged = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims = claims_of(&good);
        claims["tid"] = json!("00000000-0000-0000-0000-000000000001");
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let bad_signature =
        "2000002;reason=\"The token signature is not valid.\";error_category=\"invalid_signature\"";
    let malformed = "2000000;reason=\"The token is malformed.\";error_category=\"invalid_token\"";
    let header_of_good = header_of(&good);
    let payload_of_good = good.split('.').nth(1).unwrap().to_owned();
    let kid = header_of_good["kid"].as_str().unwrap().to_owned();
    // The neighbouring attacks on a bearer check: no signature at all, the
    // published RSA key used as an HMAC secret, another key under the right
    // `kid`, and a `kid` that names no key.
    let unsigned = format!(
        "{}.{payload_of_good}.",
        encoded(&json!({"alg": "none", "typ": "JWT", "kid": kid}))
    );
    let hmac_with_public_key = {
        let jwks_key = sim_public_key_der(&sim).await;
        let input = format!(
            "{}.{payload_of_good}",
            encoded(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}))
        );
        let key = openssl::pkey::PKey::hmac(&jwks_key).unwrap();
        let mac = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
            .unwrap()
            .sign_oneshot_to_vec(input.as_bytes())
            .unwrap();
        format!("{input}.{}", base64url(&mac))
    };
    let other_key_same_kid = {
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let input = format!("{}.{payload_of_good}", parts_of(&good)[0]);
        let signature = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
            .unwrap()
            .sign_oneshot_to_vec(input.as_bytes())
            .unwrap();
        format!("{input}.{}", base64url(&signature))
    };
    let unknown_kid = {
        let mut header = header_of_good.clone();
        header["kid"] = json!("not-a-published-key");
        let parts = parts_of(&good);
        format!("{}.{}.{}", encoded(&header), parts[1], parts[2])
    };
    for (name, token, diagnostics) in [
        // `none` is no JWS algorithm at all, so the header itself is refused.
        ("alg none", Some(unsigned.as_str()), malformed),
        ("HS256 with the public key", Some(hmac_with_public_key.as_str()), bad_signature),
        ("another key under the right kid", Some(other_key_same_kid.as_str()), bad_signature),
        ("unknown kid", Some(unknown_kid.as_str()), bad_signature),
        ("two parts", Some("eyJhbGciOiJSUzI1NiJ9.e30"), malformed),
        ("header not base64url", Some("***.e30.c2ln"), malformed),
    ]
    .into_iter()
    .chain([
        (
            "no token",
            None,
            "2000000;reason=\"The token is missing.\";error_category=\"invalid_token\"",
        ),
        (
            "garbage",
            Some("garbage"),
            "2000000;reason=\"The token is malformed.\";error_category=\"invalid_token\"",
        ),
        (
            "forged payload",
            Some(forged.as_str()),
            "2000002;reason=\"The token signature is not valid.\";error_category=\"invalid_signature\"",
        ),
    ]) {
        let (status, challenge, diag) = status_and_diagnostics(&sim, token, &url).await;
        assert_eq!(status, 401, "{name}");
        assert!(
            challenge.starts_with(CHALLENGE_PREFIX),
            "{name}: {challenge}"
        );
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{name}: {challenge}"
        );
        assert_eq!(diag, diagnostics, "{name}");
    }
}

fn parts_of(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn encoded(value: &Value) -> String {
    base64url(value.to_string().as_bytes())
}

/// The token-signing key as the JWKS publishes it, as PKCS#1 DER: what an
/// attacker would use as an HMAC secret.
async fn sim_public_key_der(sim: &common::Sim) -> Vec<u8> {
    use base64::Engine;
    let url = format!(
        "{}/discovery/v2.0/keys",
        sim.info.authority.trim_end_matches('/')
    );
    let jwks = get_json(sim, &url).await;
    let key = &jwks["keys"][0];
    let number = |name: &str| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key[name].as_str().unwrap())
            .unwrap();
        openssl::bn::BigNum::from_slice(&bytes).unwrap()
    };
    openssl::rsa::Rsa::from_public_components(number("n"), number("e"))
        .unwrap()
        .public_key_to_der_pkcs1()
        .unwrap()
}

#[tokio::test]
async fn an_expired_token_gets_401_with_the_invented_expiry_diagnostics() {
    let sim = start_with(5, |c| {
        c.token_lifetime = exorun_sim::TokenLifetime::Fixed(Duration::from_secs(1))
    })
    .await;
    let token = token(&sim).await;
    let url = sim.info.invoke_command_url.clone();
    let (status, _, _) = status_and_diagnostics(&sim, Some(&token), &url).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, challenge, diag) = status_and_diagnostics(&sim, Some(&token), &url).await;
    assert_eq!(status, 401);
    assert!(challenge.starts_with(CHALLENGE_PREFIX));
    // Invented text (the real one is unknown: docs/protocol.md, "Retries, throttling and 401").
    assert_eq!(
        diag,
        "2000001;reason=\"The token has expired.\";error_category=\"invalid_token\""
    );
}

#[tokio::test]
async fn the_url_tenant_must_be_the_tokens_by_guid_or_onmicrosoft_domain() {
    let sim = start().await;
    let token = token(&sim).await;
    let base = &sim.info.exchange_base;
    let by_domain = format!(
        "{base}/adminapi/beta/{}/InvokeCommand",
        sim.info.initial_domain
    );
    assert_eq!(
        status_and_diagnostics(&sim, Some(&token), &by_domain)
            .await
            .0,
        200
    );
    let other = format!("{base}/adminapi/beta/00000000-0000-0000-0000-000000000001/InvokeCommand");
    let (status, _, diag) = status_and_diagnostics(&sim, Some(&token), &other).await;
    assert_eq!(status, 401);
    assert!(diag.starts_with("2000008;"), "{diag}");
}

#[tokio::test]
async fn a_token_without_the_role_is_refused() {
    let sim = start().await;
    sim.directory()
        .set_consent(&sim.info.app_id, Consent::NotGranted)
        .unwrap();
    let token = token(&sim).await;
    let url = sim.info.invoke_command_url.clone();
    let (status, _, diag) = status_and_diagnostics(&sim, Some(&token), &url).await;
    assert_eq!(status, 401);
    assert_eq!(
        diag,
        "2000005;reason=\"The token does not carry the role 'Exchange.ManageAsApp'.\";error_category=\"insufficient_claims\""
    );
}

#[tokio::test]
async fn the_routing_hint_is_required_and_checked() {
    let sim = start().await;
    let token = token(&sim).await;
    let body = cmdlet("Get-Mailbox", json!({}));
    for (hint, status) in [
        (None, 400),
        (Some("nonsense"), 400),
        (Some("X500:/o=ExchangeLabs"), 400),
        (
            Some("UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@x.onmicrosoft.com"),
            200,
        ),
        (Some("SMTP:jose.nunez@contoso.com"), 200),
        (Some("MBX:9feb45ad-0cc9-43dc-a609-2110e2216c15@t"), 200),
        (Some("AAD-UPN:someone@contoso.com"), 200),
    ] {
        let mut request = sim
            .http
            .post(&sim.info.invoke_command_url)
            .bearer_auth(&token)
            .json(&body);
        if let Some(h) = hint {
            request = request.header("X-AnchorMailbox", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{hint:?}");
        if status == 400 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["error"]["code"], "ErrorIncorrectRoutingHint",
                "{hint:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_result_comes_in_the_captured_envelope_with_the_captured_headers() {
    let sim = start().await;
    let token = token(&sim).await;
    let response = invoke(&sim, &token, &sim.info.invoke_command_url)
        .header("client-request-id", "11111111-2222-3333-4444-555555555555")
        .json(&cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let h = response.headers().clone();
    let header = |name: &str| {
        h.get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        header("content-type"),
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
    );
    assert_eq!(header("odata-version"), "4.0");
    assert_eq!(
        header("client-request-id"),
        "11111111-2222-3333-4444-555555555555"
    );
    assert!(uuid::Uuid::parse_str(&header("request-id")).is_ok());
    assert_eq!(
        header("x-calculatedbetarget"),
        "EMU01MB0001.EMUPR01.PROD.OUTLOOK.COM"
    );
    assert_eq!(header("x-ms-appid"), sim.info.app_id);
    assert_eq!(header("x-backendhttpstatus"), "200,200");
    assert!(!header("rate-limit-limit").is_empty());
    assert!(!header("rate-limit-remaining").is_empty());
    assert!(header("rate-limit-reset").ends_with('Z'));
    let text = response.text().await.unwrap();
    let context = format!(
        "{{\"@odata.context\":\"https://outlook.office.com/adminapi/beta/{}/$metadata#Collection(Exchange.GenericHashTable)\",\"adminapi.warnings@odata.type\":\"#Collection(String)\",\"@adminapi.warnings\":[],\"value\":[{{",
        sim.info.tenant_id
    );
    assert!(text.starts_with(&context), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["Alias"], "jose.nunez");
    assert!(body.get("@odata.nextLink").is_none());
    assert_eq!(sim.invoke_requests(), 1);
}

#[tokio::test]
async fn a_missing_object_is_the_captured_not_found_body() {
    let sim = start().await;
    let token = token(&sim).await;
    let (status, headers, body) = invoke_json(
        &sim,
        &token,
        &cmdlet("Get-Mailbox", json!({"Identity": "nobody"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "NotFound");
    let message = body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
        ),
        "{message}"
    );
    assert!(headers.get("rate-limit-remaining").is_some());
}

#[tokio::test]
async fn a_global_reader_app_reads_but_cannot_set_a_mailbox() {
    let sim = start().await;
    let reader = AppRegistration::new("reader app", &[roles::GLOBAL_READER]);
    let reader_id = sim.directory().register_app(reader);
    let cer = std::fs::read(&sim.info.client_certificate_cer).unwrap();
    sim.directory().add_certificate(&reader_id, &cer).unwrap();
    let token = token_for(&sim, &reader_id, &Credential::of(&sim.info)).await;
    assert_eq!(claims_of(&token)["wids"], json!([roles::GLOBAL_READER]));

    let (status, _, body) = invoke_json(
        &sim,
        &token,
        &cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = invoke_json(
        &sim,
        &token,
        &cmdlet(
            "Set-Mailbox",
            json!({"Identity": "jose.nunez", "ForwardingSmtpAddress": null}),
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].is_object(), "{body}");
}

/// Reads every page of a call, as the module does: same body, to each nextLink.
async fn read_all_pages(
    sim: &Sim,
    token: &str,
    body: &Value,
    page_size: usize,
) -> (Vec<Value>, usize, Vec<Value>) {
    let mut url = sim.info.invoke_command_url.clone();
    let mut items = Vec::new();
    let mut pages = 0;
    let mut warnings = Vec::new();
    loop {
        let response = invoke(sim, token, &url)
            .header("Prefer", format!("odata.maxpagesize={page_size}"))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        items.extend(page["value"].as_array().unwrap().iter().cloned());
        warnings.extend(
            page["@adminapi.warnings"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&format!(
                        "{}/InvokeCommand?$skiptoken=",
                        sim.info
                            .invoke_command_url
                            .trim_end_matches("/InvokeCommand")
                    )),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => return (items, pages, warnings),
        }
    }
}

#[tokio::test]
async fn paging_2500_mailboxes_by_1000_returns_each_exactly_once() {
    let sim = start_with(2500, |_| {}).await;
    let token = token(&sim).await;
    let body = cmdlet("Get-Mailbox", json!({"ResultSize": "Unlimited"}));
    let (items, pages, warnings) = read_all_pages(&sim, &token, &body, 1000).await;

    // What the tenant itself holds, run in process.
    let caller =
        exorun_sim_tenant::Caller::new(sim.info.app_id.clone(), &[roles::EXCHANGE_ADMINISTRATOR]);
    let all = sim
        .tenant
        .execute(
            &caller,
            &exorun_cmdlet::Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        )
        .unwrap();
    assert!(all.len() >= 2500, "{}", all.len());
    assert_eq!(items.len(), all.len());
    assert_eq!(pages, all.len().div_ceil(1000));
    assert!(warnings.is_empty());
    let ids: HashSet<String> = items
        .iter()
        .map(|m| m["ExchangeGuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), items.len(), "a mailbox came twice");
}

#[tokio::test]
async fn result_size_caps_the_total_and_warns_once() {
    let sim = start_with(300, |_| {}).await;
    let token = token(&sim).await;
    let body = cmdlet("Get-Mailbox", json!({"ResultSize": 250}));
    let (items, pages, warnings) = read_all_pages(&sim, &token, &body, 100).await;
    assert_eq!((items.len(), pages), (250, 3));
    assert_eq!(
        warnings,
        vec![json!(exorun_sim_tenant::MORE_RESULTS_WARNING)]
    );
}

#[tokio::test]
async fn an_unknown_skip_token_is_a_400_with_a_body() {
    let sim = start().await;
    let token = token(&sim).await;
    let url = format!("{}?$skiptoken=deadbeef", sim.info.invoke_command_url);
    let response = invoke(&sim, &token, &url)
        .json(&cmdlet("Get-Mailbox", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(
        body["error"]["innererror"]["internalexception"]["message"]
            .as_str()
            .unwrap()
            .contains("$skiptoken")
    );
}
