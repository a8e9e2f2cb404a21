//! The Entra half: discovery documents, the v1/v2 token endpoints, the
//! assertion checks of docs/protocol.md ("Token request checks") with their exact AADSTS codes, and
//! the access token issued.

mod common;

use common::*;
use exorun_sim::{AssertionReuse, Consent, FaultConfig, TokenLifetime};
use serde_json::{Value, json};

fn aadsts(body: &Value) -> (String, u64) {
    (
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_codes"][0].as_u64().unwrap_or_default(),
    )
}

#[tokio::test]
async fn rs256_with_x5t_and_ps256_with_x5t_s256_both_get_a_token() {
    let sim = start().await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    for profile in [
        Profile::Rs256X5t,
        Profile::Rs256X5tPadded,
        Profile::Ps256X5tS256,
        Profile::Ps256X5tS256WithX5c,
    ] {
        let a = assertion(&cred, &sim.info.app_id, &url, profile, |_, _| {});
        let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
        assert_eq!(status, 200, "{profile:?}: {body}");
        assert_eq!(body["token_type"], "Bearer");
        // As Entra: a life of 60 to 90 minutes from an `iat` five minutes back.
        let expires_in = body["expires_in"].as_i64().unwrap();
        assert!((3300..=5100).contains(&expires_in), "{body}");
        assert_eq!(body["ext_expires_in"], expires_in);
        assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    }
    assert_eq!(sim.token_requests(), 4);
}

#[tokio::test]
async fn the_issued_token_carries_the_documented_claims() {
    let sim = start_with(5, |c| {
        c.token_lifetime = TokenLifetime::Fixed(std::time::Duration::from_secs(42))
    })
    .await;
    let before = now() as i64;
    let token = token(&sim).await;
    let header = header_of(&token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5t"], header["kid"]);
    let claims = claims_of(&token);
    let tid = &sim.info.tenant_id;
    assert_eq!(claims["aud"], "https://outlook.office365.com");
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{tid}/"));
    assert_eq!(claims["idp"], format!("https://sts.windows.net/{tid}/"));
    assert_eq!(claims["tid"], tid.as_str());
    assert_eq!(claims["appid"], sim.info.app_id.as_str());
    assert_eq!(claims["appidacr"], "2");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["roles"], json!(["Exchange.ManageAsApp"]));
    assert_eq!(
        claims["wids"],
        json!([exorun_sim::directory::roles::EXCHANGE_ADMINISTRATOR])
    );
    assert_eq!(claims["oid"], claims["sub"]);
    assert_eq!(claims["app_displayname"], "exorun simulator app");
    // Backdated five minutes, as Entra does; `expires_in` counts from now.
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (before - 300..=before - 299).contains(&iat),
        "iat {iat}, before {before}"
    );
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 300 + 42);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["uti"].is_string());
}

#[tokio::test]
async fn the_jwks_publishes_the_key_the_token_names() {
    let sim = start().await;
    let token = token(&sim).await;
    let url = format!("{}/discovery/v2.0/keys", sim.info.authority);
    let keys = get_json(&sim, &url).await;
    assert_eq!(keys["keys"][0]["kid"], header_of(&token)["kid"]);
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    assert_eq!(keys["keys"][0]["e"], "AQAB");
}

#[tokio::test]
async fn v1_takes_resource_and_answers_with_string_numbers() {
    let sim = start_with(20, |c| {
        c.token_lifetime = TokenLifetime::Fixed(std::time::Duration::from_secs(3599))
    })
    .await;
    let cred = Credential::of(&sim.info);
    let url = format!("{}/oauth2/token", sim.info.authority);
    let a = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let form = vec![
        ("client_id".to_owned(), sim.info.app_id.clone()),
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("client_assertion_type".to_owned(), JWT_BEARER.to_owned()),
        ("client_assertion".to_owned(), a),
        (
            "resource".to_owned(),
            "https://outlook.office365.com".to_owned(),
        ),
    ];
    let (status, body) = post_form(&sim, &url, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], "3599");
    assert_eq!(body["resource"], "https://outlook.office365.com");
    let expires_on: i64 = body["expires_on"].as_str().unwrap().parse().unwrap();
    let not_before: i64 = body["not_before"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_on - not_before, 3599 + 300);
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["aud"],
        "https://outlook.office365.com"
    );
}

#[tokio::test]
async fn the_tenant_may_be_named_by_domain_and_the_audience_by_the_other_form() {
    let sim = start().await;
    let cred = Credential::of(&sim.info);
    let domain = &sim.info.initial_domain;
    let url = format!("{}/{domain}/oauth2/v2.0/token", sim.info.login_base);
    // aud names the GUID form and the v1 path: accepted by the default policy.
    let aud = format!("{}/oauth2/token", sim.info.authority);
    let a = assertion(&cred, &sim.info.app_id, &aud, Profile::Rs256X5t, |_, _| {});
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_exact_audience_policy_wants_the_url_posted_to() {
    let sim = start_with(5, |c| {
        c.audience_policy = exorun_sim::AudiencePolicy::ExactRequestUrl
    })
    .await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    let sibling = format!("{}/oauth2/token", sim.info.authority);
    let a = assertion(
        &cred,
        &sim.info.app_id,
        &sibling,
        Profile::Rs256X5t,
        |_, _| {},
    );
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(
        (status, aadsts(&body)),
        (400, ("invalid_request".into(), 50027))
    );
    let a = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let (status, _) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_error_body_has_the_entra_shape() {
    let sim = start().await;
    let url = format!(
        "{}/nosuchtenant.onmicrosoft.com/oauth2/v2.0/token",
        sim.info.login_base
    );
    let response = sim
        .http
        .post(&url)
        .header("client-request-id", "0f9d8c7b-6a5e-4d3c-2b1a-000000000001")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_codes"], json!([90002]));
    assert_eq!(
        body["correlation_id"],
        "0f9d8c7b-6a5e-4d3c-2b1a-000000000001"
    );
    assert_eq!(
        body["error_uri"],
        "https://login.microsoftonline.com/error?code=90002"
    );
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("AADSTS90002: Tenant 'nosuchtenant.onmicrosoft.com' not found."),
        "{description}"
    );
    let trace = body["trace_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(description.ends_with(&format!(
        "\r\nTrace ID: {trace}\r\nCorrelation ID: 0f9d8c7b-6a5e-4d3c-2b1a-000000000001\r\nTimestamp: {timestamp}"
    )));
    assert_eq!(timestamp.len(), "2016-01-09 02:02:12Z".len());
    assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b' ');
}

/// A form to post and, when not the standard token URL, where to post it.
type Request = (Vec<(String, String)>, Option<String>);

/// One failing request: what to change, and the expected status, error and code.
struct Case {
    name: &'static str,
    status: u16,
    error: &'static str,
    code: u64,
    /// Text the description must contain.
    text: &'static str,
}

#[tokio::test]
async fn each_assertion_failure_gets_its_exact_error() {
    // Strict: a reused assertion is refused too.
    let sim = start_with(20, |c| c.assertion_reuse = AssertionReuse::Refused).await;
    let info = sim.info.clone();
    let cred = Credential::of(&info);
    let url = token_url_v2(&info);
    let good = |edit: &dyn Fn(&mut Value, &mut Value)| {
        assertion(&cred, &info.app_id, &url, Profile::Rs256X5t, |h, c| {
            edit(h, c)
        })
    };
    let with = |form: Vec<(String, String)>, field: &str, value: Option<&str>| {
        let mut form: Vec<(String, String)> =
            form.into_iter().filter(|(k, _)| k != field).collect();
        if let Some(v) = value {
            form.push((field.to_owned(), v.to_owned()));
        }
        form
    };
    let base = || v2_form(&info, &good(&|_, _| {}));
    let now = now();
    let stranger = Credential::unregistered(now as i64 - 86_400, now as i64 + 86_400);
    let other_key = Credential::unregistered(now as i64 - 86_400, now as i64 + 86_400);
    let strange_assertion = assertion(&stranger, &info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    // The registered certificate named, but signed by another key.
    let forged = {
        let mut a = assertion(&cred, &info.app_id, &url, Profile::Rs256X5t, |_, _| {});
        let genuine_input = a.rsplit_once('.').unwrap().0.to_owned();
        let other = assertion(&other_key, &info.app_id, &url, Profile::Rs256X5t, |_, _| {});
        a = format!("{genuine_input}.{}", other.rsplit_once('.').unwrap().1);
        a
    };
    let replayed = good(&|_, _| {});
    let (status, _) = post_form(&sim, &url, &v2_form(&info, &replayed)).await;
    assert_eq!(status, 200);

    let cases: Vec<(Case, Request)> = vec![
        (
            Case {
                name: "unknown tenant",
                status: 400,
                error: "invalid_request",
                code: 90002,
                text: "Tenant 'contoso.example' not found",
            },
            (
                base(),
                Some(format!(
                    "{}/contoso.example/oauth2/v2.0/token",
                    info.login_base
                )),
            ),
        ),
        (
            Case {
                name: "common is not a tenant",
                status: 400,
                error: "invalid_request",
                code: 90002,
                text: "Tenant 'common' not found",
            },
            (
                base(),
                Some(format!("{}/common/oauth2/v2.0/token", info.login_base)),
            ),
        ),
        (
            Case {
                name: "wrong grant",
                status: 400,
                error: "unsupported_grant_type",
                code: 70003,
                text: "unsupported grant type 'password'",
            },
            (with(base(), "grant_type", Some("password")), None),
        ),
        (
            Case {
                name: "no grant",
                status: 400,
                error: "invalid_request",
                code: 900144,
                text: "parameter: 'grant_type'",
            },
            (with(base(), "grant_type", None), None),
        ),
        (
            Case {
                name: "no client_id",
                status: 400,
                error: "invalid_request",
                code: 900144,
                text: "parameter: 'client_id'",
            },
            (with(base(), "client_id", None), None),
        ),
        (
            Case {
                name: "no scope",
                status: 400,
                error: "invalid_request",
                code: 900144,
                text: "parameter: 'scope'",
            },
            (with(base(), "scope", None), None),
        ),
        (
            Case {
                name: "no assertion",
                status: 401,
                error: "invalid_client",
                code: 7000218,
                text: "'client_assertion' or 'client_secret'",
            },
            (with(base(), "client_assertion", None), None),
        ),
        (
            Case {
                name: "a secret instead",
                status: 401,
                error: "invalid_client",
                code: 7000215,
                text: "Invalid client secret",
            },
            (
                with(
                    with(base(), "client_assertion", None),
                    "client_secret",
                    Some("s3cret"),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "no assertion type",
                status: 400,
                error: "invalid_request",
                code: 900144,
                text: "parameter: 'client_assertion_type'",
            },
            (with(base(), "client_assertion_type", None), None),
        ),
        (
            Case {
                name: "scope without .default",
                status: 400,
                error: "invalid_scope",
                code: 70011,
                text: "The scope https://outlook.office365.com/Exchange.Manage is not valid",
            },
            (
                with(
                    base(),
                    "scope",
                    Some("https://outlook.office365.com/Exchange.Manage"),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "two resources",
                status: 400,
                error: "invalid_scope",
                code: 700022,
                text: "more than one resource",
            },
            (
                with(
                    base(),
                    "scope",
                    Some(
                        "https://outlook.office365.com/.default https://graph.microsoft.com/.default",
                    ),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "unknown resource",
                status: 400,
                error: "invalid_resource",
                code: 500011,
                text: "resource principal named https://management.azure.com was not found",
            },
            (
                with(
                    base(),
                    "scope",
                    Some("https://management.azure.com/.default"),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "unknown app",
                status: 400,
                error: "unauthorized_client",
                code: 700016,
                text: "Application with identifier '11111111-2222-3333-4444-555555555555' was not found",
            },
            (
                with(
                    base(),
                    "client_id",
                    Some("11111111-2222-3333-4444-555555555555"),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "not a JWS",
                status: 400,
                error: "invalid_request",
                code: 50027,
                text: "JWT token is invalid or malformed",
            },
            (with(base(), "client_assertion", Some("not.a.jwt")), None),
        ),
        (
            Case {
                name: "alg none",
                status: 400,
                error: "invalid_request",
                code: 50027,
                text: "Unsupported signing algorithm 'none'",
            },
            (
                v2_form(&info, &good(&|h, _| h["alg"] = json!("none"))),
                None,
            ),
        ),
        (
            Case {
                name: "sub differs",
                status: 401,
                error: "invalid_client",
                code: 50048,
                text: "Subject mismatches Issuer",
            },
            (
                v2_form(&info, &good(&|_, c| c["sub"] = json!("someone-else"))),
                None,
            ),
        ),
        (
            Case {
                name: "iss differs",
                status: 401,
                error: "invalid_client",
                code: 50048,
                text: "Issuer mismatches 'client_id'",
            },
            (
                v2_form(&info, &good(&|_, c| c["iss"] = json!("someone-else"))),
                None,
            ),
        ),
        (
            Case {
                name: "audience is common",
                status: 400,
                error: "invalid_request",
                code: 50027,
                text: "audience claim",
            },
            (
                v2_form(
                    &info,
                    &good(&|_, c| {
                        c["aud"] = json!(format!("{}/common/oauth2/v2.0/token", info.login_base))
                    }),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "audience is the real cloud",
                status: 400,
                error: "invalid_request",
                code: 50027,
                text: "audience claim",
            },
            (
                v2_form(
                    &info,
                    &good(&|_, c| {
                        c["aud"] = json!(format!(
                            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                            info.tenant_id
                        ))
                    }),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "expired beyond the skew",
                status: 401,
                error: "invalid_client",
                code: 700024,
                text: "Client assertion is not within its valid time range. Current time: ",
            },
            (
                v2_form(
                    &info,
                    &good(&|_, c| {
                        c["iat"] = json!(now - 3600.0);
                        c["exp"] = json!(now - 301.0);
                    }),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "not yet valid beyond the skew",
                status: 401,
                error: "invalid_client",
                code: 700024,
                text: "expiry time of assertion",
            },
            (
                v2_form(
                    &info,
                    &good(&|_, c| {
                        c["nbf"] = json!(now + 400.0);
                        c["exp"] = json!(now + 900.0);
                    }),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "no exp",
                status: 400,
                error: "invalid_request",
                code: 50027,
                text: "no 'exp' claim",
            },
            (
                v2_form(
                    &info,
                    &good(&|_, c| {
                        c.as_object_mut().unwrap().remove("exp");
                    }),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "unknown key",
                status: 401,
                error: "invalid_client",
                code: 700027,
                text: "[Reason - The key was not found., Thumbprint of key used by client: '",
            },
            (v2_form(&info, &strange_assertion), None),
        ),
        (
            Case {
                name: "hex thumbprint passed through",
                status: 401,
                error: "invalid_client",
                code: 700027,
                text: "The key was not found.",
            },
            (
                v2_form(
                    &info,
                    &good(&|h, _| h["x5t"] = json!(info.client_certificate_thumbprint.clone())),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "no key reference",
                status: 401,
                error: "invalid_client",
                code: 700027,
                text: "Thumbprint of key used by client: ''",
            },
            (
                v2_form(
                    &info,
                    &good(&|h, _| {
                        h.as_object_mut().unwrap().remove("x5t");
                    }),
                ),
                None,
            ),
        ),
        (
            Case {
                name: "bad signature",
                status: 401,
                error: "invalid_client",
                code: 700027,
                text: "signature value did not match",
            },
            (v2_form(&info, &forged), None),
        ),
        (
            Case {
                name: "replayed jti",
                status: 400,
                error: "invalid_request",
                code: 50027,
                text: "has already been used",
            },
            (v2_form(&info, &replayed), None),
        ),
    ];

    for (case, (form, url_override)) in cases {
        let target = url_override.unwrap_or_else(|| url.clone());
        let (status, body) = post_form(&sim, &target, &form).await;
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(
            aadsts(&body),
            (case.error.to_owned(), case.code),
            "{}: {body}",
            case.name
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("AADSTS{}: ", case.code)),
            "{}: {description}",
            case.name
        );
        assert!(
            description.contains(case.text),
            "{}: {description}",
            case.name
        );
    }
}

#[tokio::test]
async fn skewed_float_times_without_nbf_are_accepted() {
    let sim = start().await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    let now = now();
    // Expired 200 s ago (inside the 5 min skew), float times, no nbf.
    let a = assertion(
        &cred,
        &sim.info.app_id,
        &url,
        Profile::Rs256X5tPadded,
        |_, c| {
            c["iat"] = json!(now - 800.123);
            c["exp"] = json!(now - 200.456);
        },
    );
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_expired_certificate_is_named_as_expired() {
    let sim = start().await;
    let now = now() as i64;
    let old = Credential::unregistered(now - 3 * 86_400, now - 86_400);
    sim.directory()
        .add_certificate(&sim.info.app_id, &old.cert.to_der().unwrap())
        .unwrap();
    let url = token_url_v2(&sim.info);
    let a = assertion(
        &old,
        &sim.info.app_id,
        &url,
        Profile::Ps256X5tS256,
        |_, _| {},
    );
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(status, 401);
    assert_eq!(aadsts(&body), ("invalid_client".into(), 700027));
    let description = body["error_description"].as_str().unwrap();
    let hex: String = old.sha256().iter().map(|b| format!("{b:02X}")).collect();
    assert!(
        description.contains(&format!("[Reason - The key used is expired., Thumbprint of key used by client: '{hex}', Found key 'Start=")),
        "{description}"
    );
}

#[tokio::test]
async fn a_disabled_app_is_refused_and_an_unconsented_app_gets_no_role() {
    let sim = start().await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    let directory = sim.directory();
    directory.set_disabled(&sim.info.app_id, true).unwrap();
    let a = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(
        (status, aadsts(&body)),
        (400, ("unauthorized_client".into(), 7000112))
    );

    directory.set_disabled(&sim.info.app_id, false).unwrap();
    directory
        .set_consent(&sim.info.app_id, Consent::NotGranted)
        .unwrap();
    let token = token(&sim).await;
    assert_eq!(claims_of(&token).get("roles"), None);
}

#[tokio::test]
async fn the_token_endpoint_outage_answers_503_temporarily_unavailable() {
    let sim = start_with(5, |c| {
        c.faults = FaultConfig {
            token_outage_ms: 60_000,
            ..FaultConfig::default()
        }
    })
    .await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    let a = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    sim.faults().clear();
    let (status, _) = post_form(&sim, &url, &v2_form(&sim.info, &a)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn openid_configuration_and_instance_discovery_serve_what_msal_reads() {
    let sim = start().await;
    let base = &sim.info.login_base;
    let tid = &sim.info.tenant_id;
    for tenant in [tid.clone(), sim.info.initial_domain.clone()] {
        let url = format!("{base}/{tenant}/v2.0/.well-known/openid-configuration");
        let response = sim.http.get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(
            doc["token_endpoint"],
            format!("{base}/{tid}/oauth2/v2.0/token")
        );
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{base}/{tid}/oauth2/v2.0/authorize")
        );
        assert_eq!(doc["issuer"], format!("{base}/{tid}/v2.0"));
        assert_eq!(doc["jwks_uri"], format!("{base}/{tid}/discovery/v2.0/keys"));
        assert!(
            doc["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt"))
        );
    }
    let url = format!(
        "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://127.0.0.1/{tid}/oauth2/v2.0/authorize"
    );
    let doc = get_json(&sim, &url).await;
    assert_eq!(
        doc["tenant_discovery_endpoint"],
        format!("{base}/{tid}/v2.0/.well-known/openid-configuration")
    );
    let url = format!("{base}/nosuch/v2.0/.well-known/openid-configuration");
    assert_eq!(
        sim.http.get(url).send().await.unwrap().status().as_u16(),
        400
    );
}

#[tokio::test]
async fn extra_certificates_from_files_are_registered_on_the_default_app() {
    let now = now() as i64;
    let extra = Credential::unregistered(now - 86_400, now + 86_400);
    let dir = tempfile::tempdir().unwrap();
    let cer = dir.path().join("extra.cer");
    std::fs::write(&cer, extra.cert.to_pem().unwrap()).unwrap();
    let sim = start_with(5, |c| c.extra_app_certificates = vec![cer.clone()]).await;
    let app_id = sim.info.app_id.clone();
    let token = token_for(&sim, &app_id, &extra).await;
    assert_eq!(claims_of(&token)["appid"], app_id.as_str());
}

#[tokio::test]
async fn a_tenant_file_is_served_under_its_own_id() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = exorun_sim_tenant::Tenant::generate(&exorun_sim_tenant::GenerateOptions {
        mailboxes: 12,
        seed: 99,
    });
    let path = dir.path().join("tenant.json");
    std::fs::write(&path, tenant.to_json()).unwrap();
    let sim = start_with(5, |c| {
        c.tenant = exorun_sim::TenantSource::File(path.clone())
    })
    .await;
    assert_eq!(sim.info.tenant_id, tenant.info().id);
    assert_eq!(sim.info.initial_domain, tenant.info().initial_domain);
    assert!(sim.info.authority.ends_with(&tenant.info().id));
    // Key files are private.
    use std::os::unix::fs::PermissionsExt;
    for key_file in [
        &sim.info.client_certificate_pem,
        &sim.info.client_certificate_pfx,
    ] {
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key_file.display());
    }
}

#[tokio::test]
async fn an_assertion_is_accepted_again_while_it_is_valid_by_default() {
    // msal, azure-identity, msal-node and @azure/identity all keep one
    // signed assertion for minutes and send it with every token request.
    let sim = start().await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    let reused = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &reused)).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    // Each answer is a new token.
    assert_ne!(tokens[0], tokens[1]);
    // An expired assertion is still refused, reused or not.
    let expired = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, c| {
        c["exp"] = json!(now() as i64 - 600);
    });
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &expired)).await;
    assert_eq!((status, aadsts(&body).1), (401, 700024), "{body}");
}

#[tokio::test]
async fn the_strict_mode_refuses_a_reused_assertion_naming_its_jti() {
    let sim = start_with(5, |c| c.assertion_reuse = AssertionReuse::Refused).await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    let reused = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let (status, _) = post_form(&sim, &url, &v2_form(&sim.info, &reused)).await;
    assert_eq!(status, 200);
    let (status, body) = post_form(&sim, &url, &v2_form(&sim.info, &reused)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(aadsts(&body), ("invalid_request".to_owned(), 50027));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("has already been used"),
        "{body}"
    );
}

#[tokio::test]
async fn graph_tokens_carry_the_apps_graph_application_permissions() {
    let sim = start().await;
    let cred = Credential::of(&sim.info);
    let url = token_url_v2(&sim.info);
    for scope in [
        "https://graph.microsoft.com/.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ] {
        let a = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
        let mut form = v2_form(&sim.info, &a);
        form.retain(|(k, _)| k != "scope");
        form.push(("scope".to_owned(), scope.to_owned()));
        let (status, body) = post_form(&sim, &url, &form).await;
        assert_eq!(status, 200, "{scope}: {body}");
        let claims = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], "https://graph.microsoft.com", "{scope}");
        assert_eq!(claims["roles"], json!(["Application.ReadWrite.OwnedBy"]));
        assert_eq!(claims["appid"], sim.info.app_id.as_str());

        // Exchange does not take a Graph token.
        let graph_token = body["access_token"].as_str().unwrap();
        let call = json!({"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}});
        let (status, _, _) = invoke_json(&sim, graph_token, &call).await;
        assert_eq!(status, 401, "{scope}");
    }
    // Two resources in one request are still refused.
    let a = assertion(&cred, &sim.info.app_id, &url, Profile::Rs256X5t, |_, _| {});
    let mut form = v2_form(&sim.info, &a);
    form.retain(|(k, _)| k != "scope");
    form.push((
        "scope".to_owned(),
        "https://graph.microsoft.com/.default https://outlook.office365.com/.default".to_owned(),
    ));
    let (status, body) = post_form(&sim, &url, &form).await;
    assert_eq!((status, aadsts(&body).1), (400, 700022), "{body}");
}
