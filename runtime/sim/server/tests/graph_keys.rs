//! The Microsoft Graph half: reading an application's key credentials,
//! `addKey` and `removeKey` with a proof of possession, who may do what,
//! Graph's error shape, and the outage fault (docs/protocol.md,
//! "Microsoft Graph: application keys").

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use exorun_sim::{AppRegistration, FaultConfig};
use serde_json::{Value, json};

const GRAPH: &str = "https://graph.microsoft.com";
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";

/// A Graph token for `app_id` from the token endpoint, as a client gets it.
async fn graph_token_for(sim: &Sim, app_id: &str, cred: &Credential) -> String {
    let url = token_url_v2(&sim.info);
    let a = assertion(cred, app_id, &url, Profile::Rs256X5t, |_, _| {});
    let mut form = v2_form(&sim.info, &a);
    form[0].1 = app_id.to_owned();
    form.retain(|(k, _)| k != "scope");
    form.push(("scope".into(), format!("{GRAPH}/.default")));
    let (status, body) = post_form(sim, &url, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn graph_token(sim: &Sim) -> String {
    graph_token_for(sim, &sim.info.app_id.clone(), &Credential::of(&sim.info)).await
}

/// A proof of possession signed by `signer` for the application
/// `object_id`, as Microsoft's sample builds it; `edit` may spoil it.
fn proof(
    signer: &Credential,
    object_id: &str,
    edit: impl FnOnce(&mut Value, &mut Value),
) -> String {
    let now = now() as i64;
    let mut header =
        json!({"alg":"RS256","typ":"JWT","x5t": URL_SAFE_NO_PAD.encode(signer.sha1())});
    let mut claims = json!({"aud": PROOF_AUDIENCE, "iss": object_id, "nbf": now, "exp": now + 600});
    edit(&mut header, &mut claims);
    sign(&signer.key, &header, &claims)
}

fn by_object_id(sim: &Sim, object_id: &str) -> String {
    format!("{}/v1.0/applications/{object_id}", sim.info.graph_base)
}

fn by_app_id(sim: &Sim, app_id: &str) -> String {
    format!(
        "{}/v1.0/applications(appId='{app_id}')",
        sim.info.graph_base
    )
}

/// A certificate valid from an hour ago for a day.
fn fresh() -> Credential {
    let now = now() as i64;
    Credential::unregistered(now - 3600, now + 86_400)
}

fn add_key_body(new: &Credential, proof: &str) -> Value {
    json!({
        "keyCredential": {
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": STANDARD.encode(new.cert.to_der().unwrap()),
        },
        "passwordCredential": null,
        "proof": proof,
    })
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(sim: &Sim, url: &str, token: &str) -> Answer {
    send(sim.http.get(url).bearer_auth(token)).await
}

async fn post(sim: &Sim, url: &str, token: &str, body: &Value) -> Answer {
    send(sim.http.post(url).bearer_auth(token).json(body)).await
}

async fn add_key(sim: &Sim, token: &str, new: &Credential, proof: &str) -> Answer {
    let url = format!(
        "{}/addKey",
        by_object_id(sim, &sim.info.application_object_id)
    );
    post(sim, &url, token, &add_key_body(new, proof)).await
}

async fn remove_key(sim: &Sim, token: &str, key_id: &str, proof: &str) -> Answer {
    let url = format!(
        "{}/removeKey",
        by_object_id(sim, &sim.info.application_object_id)
    );
    post(sim, &url, token, &json!({"keyId": key_id, "proof": proof})).await
}

/// A v2 token request for `app_id` signed with `cred`: (status, AADSTS code).
async fn sign_in(sim: &Sim, app_id: &str, cred: &Credential) -> (u16, u64, Value) {
    let url = token_url_v2(&sim.info);
    let a = assertion(cred, app_id, &url, Profile::Rs256X5t, |_, _| {});
    let mut form = v2_form(&sim.info, &a);
    form[0].1 = app_id.to_owned();
    let (status, body) = post_form(sim, &url, &form).await;
    let code = body["error_codes"][0].as_u64().unwrap_or_default();
    (status, code, body)
}

fn key_ids(sim: &Sim) -> Vec<String> {
    sim.directory()
        .app(&sim.info.app_id)
        .unwrap()
        .certificates
        .iter()
        .map(|c| c.key_id.clone())
        .collect()
}

#[tokio::test]
async fn the_application_is_read_by_object_id_and_by_app_id() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let info = &sim.info;
    assert_ne!(info.application_object_id, info.app_id);
    assert_eq!(info.graph_base, info.login_base);
    let encoded = format!(
        "{}/v1.0/applications(appId=%27{}%27)",
        info.graph_base, info.app_id
    );
    for url in [
        by_object_id(&sim, &info.application_object_id),
        by_app_id(&sim, &info.app_id),
        encoded,
    ] {
        let a = get(&sim, &url, &token).await;
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        assert_eq!(
            a.body["@odata.context"],
            format!("{}/v1.0/$metadata#applications/$entity", info.graph_base)
        );
        assert_eq!(a.body["id"], info.application_object_id.as_str());
        assert_eq!(a.body["appId"], info.app_id.as_str());
        assert_eq!(a.body["displayName"], "exorun simulator app");
        let keys = a.body["keyCredentials"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{}", a.body);
        let key = &keys[0];
        assert_eq!(
            key["customKeyIdentifier"],
            info.client_certificate_thumbprint.as_str()
        );
        assert_eq!(key["type"], "AsymmetricX509Cert");
        assert_eq!(key["usage"], "Verify");
        assert_eq!(key["key"], Value::Null);
        assert_eq!(key["keyId"], key_ids(&sim)[0].as_str());
        assert!(key["displayName"].as_str().unwrap().starts_with("CN="));
        for time in ["startDateTime", "endDateTime"] {
            let t = key[time].as_str().unwrap();
            assert!(
                t.len() == 20 && t.ends_with('Z') && &t[10..11] == "T",
                "{t}"
            );
        }
    }

    // `$select` projects, names the projection in the context, and ignores
    // a property the simulator does not serve.
    let url = format!(
        "{}?$select=id,keyCredentials,notAProperty",
        by_app_id(&sim, &info.app_id)
    );
    let a = get(&sim, &url, &token).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#applications(id,keyCredentials)/$entity",
            info.graph_base
        )
    );
    assert!(a.body.get("appId").is_none() && a.body.get("displayName").is_none());
    assert_eq!(a.body["keyCredentials"].as_array().unwrap().len(), 1);
    assert_eq!(sim.graph_requests(), 4);
}

#[tokio::test]
async fn a_key_added_signs_in_at_once_and_once_removed_is_refused() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let old = Credential::of(&sim.info);
    let new = fresh();
    let info = sim.info.clone();
    // Not registered yet: refused.
    assert_eq!(sign_in(&sim, &info.app_id, &new).await.1, 700027);

    let p = proof(&old, &info.application_object_id, |_, _| {});
    let mut body = add_key_body(&new, &p);
    body["keyCredential"]["displayName"] = json!("CN=next");
    let url = format!("{}/addKey", by_app_id(&sim, &info.app_id));
    let added = post(&sim, &url, &token, &body).await;
    assert_eq!(added.status, 200, "{}", added.body);
    let thumbprint = hex_upper(&new.sha1());
    assert_eq!(added.body["customKeyIdentifier"], thumbprint.as_str());
    assert_eq!(added.body["displayName"], "CN=next");
    assert_eq!(added.body["key"], Value::Null);
    assert_eq!(added.body["type"], "AsymmetricX509Cert");
    let key_id = added.body["keyId"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&key_id).is_ok());

    // The new key signs in at once, and Graph lists it.
    let (status, _, body) = sign_in(&sim, &info.app_id, &new).await;
    assert_eq!(status, 200, "{body}");
    let app = get(&sim, &by_app_id(&sim, &info.app_id), &token).await;
    assert_eq!(app.body["keyCredentials"].as_array().unwrap().len(), 2);

    // Removed with a proof signed by the old key: refused at once.
    let p = proof(&old, &info.application_object_id, |_, _| {});
    let removed = remove_key(&sim, &token, &key_id, &p).await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(removed.body, Value::Null);
    let (status, code, body) = sign_in(&sim, &info.app_id, &new).await;
    assert_eq!((status, code), (401, 700027), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("The key was not found.")
    );
    // The old key still works.
    assert_eq!(sign_in(&sim, &info.app_id, &old).await.0, 200);
}

#[tokio::test]
async fn rotation_by_the_new_key_removes_the_old_one() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let info = sim.info.clone();
    let old = Credential::of(&info);
    let old_key_id = key_ids(&sim)[0].clone();
    let new = fresh();
    let added = add_key(
        &sim,
        &token,
        &new,
        &proof(&old, &info.application_object_id, |_, _| {}),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.body);
    // A token from the new key, a proof from the new key, the old removed.
    let new_token = graph_token_for(&sim, &info.app_id, &new).await;
    let p = proof(&new, &info.application_object_id, |_, _| {});
    let removed = remove_key(&sim, &new_token, &old_key_id, &p).await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(sign_in(&sim, &info.app_id, &old).await.1, 700027);
    assert_eq!(key_ids(&sim).len(), 1);
}

#[tokio::test]
async fn each_bad_proof_is_refused_naming_the_failed_check() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let info = sim.info.clone();
    let object_id = info.application_object_id.clone();
    let signer = Credential::of(&info);
    let now = now() as i64;

    // A registered certificate that has expired.
    let expired = Credential::unregistered(now - 86_400 * 10, now - 86_400);
    sim.directory()
        .add_certificate(&info.app_id, &expired.cert.to_der().unwrap())
        .unwrap();
    // A key that signs for another certificate's thumbprint.
    let impostor = fresh();
    let forged = {
        let header =
            json!({"alg":"RS256","typ":"JWT","x5t": URL_SAFE_NO_PAD.encode(signer.sha1())});
        let claims = json!({"aud": PROOF_AUDIENCE, "iss": object_id, "nbf": now, "exp": now + 600});
        sign(&impostor.key, &header, &claims)
    };

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            proof(&signer, &object_id, |_, c| c["aud"] = json!(GRAPH)),
            "audience",
        ),
        (
            "wrong issuer (the app id)",
            proof(&signer, &object_id, |_, c| c["iss"] = json!(info.app_id)),
            "issuer must be the application's object id",
        ),
        (
            "a life over ten minutes",
            proof(&signer, &object_id, |_, c| {
                c["nbf"] = json!(now);
                c["exp"] = json!(now + 601);
            }),
            "lifetime exceeds 10 minutes",
        ),
        (
            "expired",
            proof(&signer, &object_id, |_, c| {
                c["nbf"] = json!(now - 900);
                c["exp"] = json!(now - 300);
            }),
            "expired",
        ),
        (
            "not yet valid",
            proof(&signer, &object_id, |_, c| {
                c["nbf"] = json!(now + 900);
                c["exp"] = json!(now + 1200);
            }),
            "not yet valid",
        ),
        (
            "signed by an unregistered key",
            proof(&fresh(), &object_id, |_, _| {}),
            "signed by a key that is not registered on the application",
        ),
        (
            "signed by an expired registered certificate",
            proof(&expired, &object_id, |_, _| {}),
            "validity period",
        ),
        ("signature by another key", forged, "signature"),
        (
            "no key named",
            proof(&signer, &object_id, |h, _| {
                h.as_object_mut().unwrap().remove("x5t");
            }),
            "names no key",
        ),
        ("garbage", "not a jwt".to_owned(), "Invalid proof"),
    ];
    let new = fresh();
    for (what, p, text) in &cases {
        let a = add_key(&sim, &token, &new, p).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.code(), "Request_BadRequest", "{what}");
        assert!(
            a.message().starts_with("Invalid proof"),
            "{what}: {}",
            a.message()
        );
        assert!(a.message().contains(text), "{what}: {}", a.message());
    }
    // removeKey checks the same proof.
    let expired_key_id = key_ids(&sim)[1].clone();
    for (what, p, text) in &cases {
        let a = remove_key(&sim, &token, &expired_key_id, p).await;
        assert_eq!((a.status, a.code()), (400, "Request_BadRequest"), "{what}");
        assert!(a.message().contains(text), "{what}: {}", a.message());
    }
    // Nothing changed.
    assert_eq!(key_ids(&sim).len(), 2);
    // PS256 with x5t#S256 is as good as RS256 with x5t.
    let ps = proof(&signer, &object_id, |h, _| {
        *h = json!({"alg":"PS256","typ":"JWT","x5t#S256": URL_SAFE_NO_PAD.encode(signer.sha256())});
    });
    let removed = remove_key(&sim, &token, &expired_key_id, &ps).await;
    assert_eq!(removed.status, 204, "{}", removed.body);
}

#[tokio::test]
async fn add_key_checks_the_key_credential() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let info = sim.info.clone();
    let signer = Credential::of(&info);
    let p = proof(&signer, &info.application_object_id, |_, _| {});
    let now = now() as i64;
    let new = fresh();

    let mut wrong_type = add_key_body(&new, &p);
    wrong_type["keyCredential"]["type"] = json!("Symmetric");
    let mut wrong_usage = add_key_body(&new, &p);
    wrong_usage["keyCredential"]["usage"] = json!("Sign");
    let mut not_base64 = add_key_body(&new, &p);
    not_base64["keyCredential"]["key"] = json!("!!! not base64 !!!");
    let mut not_a_certificate = add_key_body(&new, &p);
    not_a_certificate["keyCredential"]["key"] = json!(STANDARD.encode(b"hello"));
    let mut secret = add_key_body(&new, &p);
    secret["passwordCredential"] = json!({"displayName": "a secret"});
    let mut no_proof = add_key_body(&new, &p);
    no_proof.as_object_mut().unwrap().remove("proof");
    let expired = Credential::unregistered(now - 86_400 * 10, now - 86_400);
    let cases = [
        ("type", wrong_type, "'type'"),
        ("usage", wrong_usage, "'usage'"),
        ("not base64", not_base64, "'key'"),
        ("not a certificate", not_a_certificate, "'key'"),
        ("a password credential", secret, "passwordCredential"),
        ("no proof", no_proof, "'proof'"),
        ("expired", add_key_body(&expired, &p), "expired"),
        (
            "already registered",
            add_key_body(&signer, &p),
            "A key credential with the same thumbprint already exists on the application.",
        ),
    ];
    let url = format!("{}/addKey", by_object_id(&sim, &info.application_object_id));
    for (what, body, text) in cases {
        let a = post(&sim, &url, &token, &body).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "Request_BadRequest"),
            "{what}: {}",
            a.body
        );
        assert!(a.message().contains(text), "{what}: {}", a.message());
    }
    assert_eq!(key_ids(&sim).len(), 1);

    // PEM text, base64-encoded, is a certificate too.
    let mut pem = add_key_body(&new, &p);
    pem["keyCredential"]["key"] = json!(STANDARD.encode(new.cert.to_pem().unwrap()));
    let a = post(&sim, &url, &token, &pem).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["displayName"], "CN=other");
    // Twice is a duplicate.
    let a = post(&sim, &url, &token, &add_key_body(&new, &p)).await;
    assert_eq!((a.status, a.code()), (400, "Request_BadRequest"));
    assert!(a.message().contains("already exists"), "{}", a.message());
}

#[tokio::test]
async fn the_key_that_signs_the_proof_so_also_the_last_key_cannot_be_removed() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let info = sim.info.clone();
    let signer = Credential::of(&info);
    let only = key_ids(&sim)[0].clone();
    let p = proof(&signer, &info.application_object_id, |_, _| {});
    let a = remove_key(&sim, &token, &only, &p).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "Request_BadRequest"),
        "{}",
        a.body
    );
    assert_eq!(
        a.message(),
        "The key used to sign the proof cannot be removed; sign the proof with another key of the application."
    );
    // Any case of the key id is the same key.
    let a = remove_key(&sim, &token, &only.to_uppercase(), &p).await;
    assert_eq!(a.status, 400);
    assert_eq!(key_ids(&sim), vec![only]);
    assert_eq!(sign_in(&sim, &info.app_id, &signer).await.0, 200);

    // An unknown key id is not found.
    let a = remove_key(&sim, &token, &uuid::Uuid::new_v4().to_string(), &p).await;
    assert_eq!(
        (a.status, a.code()),
        (404, "Request_ResourceNotFound"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn an_unknown_application_is_not_found_with_graphs_text() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let unknown = "99999999-8888-7777-6666-555555555555";
    for url in [by_object_id(&sim, unknown), by_app_id(&sim, unknown)] {
        let a = get(&sim, &url, &token).await;
        assert_eq!(
            (a.status, a.code()),
            (404, "Request_ResourceNotFound"),
            "{}",
            a.body
        );
        assert_eq!(
            a.message(),
            format!(
                "Resource '{unknown}' does not exist or one of its queried reference-property objects are not present."
            )
        );
        let p = proof(&Credential::of(&sim.info), unknown, |_, _| {});
        let a = post(
            &sim,
            &format!("{url}/addKey"),
            &token,
            &add_key_body(&fresh(), &p),
        )
        .await;
        assert_eq!(a.status, 404, "{}", a.body);
    }
    // The app id is not an object id, nor the other way round.
    let a = get(&sim, &by_object_id(&sim, &sim.info.app_id), &token).await;
    assert_eq!(a.status, 404);
    let a = get(
        &sim,
        &by_app_id(&sim, &sim.info.application_object_id),
        &token,
    )
    .await;
    assert_eq!(a.status, 404);
    // Another entity set or an unknown action: Graph's segment error.
    let a = get(&sim, &format!("{}/v1.0/users", sim.info.graph_base), &token).await;
    assert_eq!((a.status, a.code()), (400, "BadRequest"), "{}", a.body);
    let url = format!(
        "{}/rollKeys",
        by_object_id(&sim, &sim.info.application_object_id)
    );
    let a = post(&sim, &url, &token, &json!({})).await;
    assert_eq!((a.status, a.code()), (400, "BadRequest"), "{}", a.body);
}

#[tokio::test]
async fn graph_wants_a_valid_graph_token() {
    let sim = start().await;
    let url = by_object_id(&sim, &sim.info.application_object_id);
    let app_id = sim.info.app_id.clone();

    let a = send(sim.http.get(&url)).await;
    assert_eq!((a.status, a.code()), (401, "InvalidAuthenticationToken"));
    assert_eq!(a.message(), "Access token is empty.");

    let exchange = token(&sim).await;
    let a = get(&sim, &url, &exchange).await;
    assert_eq!((a.status, a.code()), (401, "InvalidAuthenticationToken"));
    assert_eq!(
        a.message(),
        "Access token validation failure. Invalid audience."
    );

    let expired = sim.mint_access_token(GRAPH, &app_id, -60).unwrap();
    let a = get(&sim, &url, &expired).await;
    assert_eq!((a.status, a.code()), (401, "InvalidAuthenticationToken"));
    assert_eq!(
        a.message(),
        "Lifetime validation failed, the token is expired."
    );

    let a = get(&sim, &url, "not.a.token").await;
    assert_eq!((a.status, a.code()), (401, "InvalidAuthenticationToken"));

    // The Graph app id is a Graph audience too.
    let by_app_id = sim
        .mint_access_token("00000003-0000-0000-c000-000000000000", &app_id, 600)
        .unwrap();
    assert_eq!(get(&sim, &url, &by_app_id).await.status, 200);
    let fine = graph_token(&sim).await;
    assert_eq!(get(&sim, &url, &fine).await.status, 200);
}

#[tokio::test]
async fn another_app_needs_application_permissions_or_ownership() {
    let sim = start().await;
    let info = sim.info.clone();
    let directory = sim.directory();
    let other_cred = fresh();
    let other = AppRegistration::new("another app", &[]);
    directory.register_app(other.clone());
    directory
        .add_certificate(&other.app_id, &other_cred.cert.to_der().unwrap())
        .unwrap();
    let target = by_object_id(&sim, &info.application_object_id);
    let owner_proof = || {
        proof(
            &Credential::of(&info),
            &info.application_object_id,
            |_, _| {},
        )
    };

    // Application.ReadWrite.OwnedBy, but not an owner of this app: 403.
    let token = graph_token_for(&sim, &other.app_id, &other_cred).await;
    let a = get(&sim, &target, &token).await;
    assert_eq!(
        (a.status, a.code()),
        (403, "Authorization_RequestDenied"),
        "{}",
        a.body
    );
    assert_eq!(
        a.message(),
        "Insufficient privileges to complete the operation."
    );
    let a = add_key(&sim, &token, &fresh(), &owner_proof()).await;
    assert_eq!((a.status, a.code()), (403, "Authorization_RequestDenied"));
    let a = remove_key(&sim, &token, &key_ids(&sim)[0], &owner_proof()).await;
    assert_eq!(a.status, 403);
    // Its own registration it owns, so it may read it.
    let own = by_object_id(&sim, &other.object_id);
    assert_eq!(get(&sim, &own, &token).await.status, 200);

    let grant = |permissions: &[&str]| {
        let mut app = directory.app(&other.app_id).unwrap();
        app.graph_permissions = permissions.iter().map(|p| (*p).to_owned()).collect();
        directory.register_app(app);
    };
    // Application.Read.All reads, but does not write.
    grant(&["Application.Read.All"]);
    let token = sim.mint_access_token(GRAPH, &other.app_id, 600).unwrap();
    assert_eq!(get(&sim, &target, &token).await.status, 200);
    assert_eq!(
        add_key(&sim, &token, &fresh(), &owner_proof()).await.status,
        403
    );
    // Application.ReadWrite.All does both.
    grant(&["Application.ReadWrite.All"]);
    let token = sim.mint_access_token(GRAPH, &other.app_id, 600).unwrap();
    let a = add_key(&sim, &token, &fresh(), &owner_proof()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // OwnedBy as an owner of the target does both.
    grant(&["Application.ReadWrite.OwnedBy"]);
    let mut target_app = directory.app(&info.app_id).unwrap();
    target_app.owners.push(other.service_principal_id.clone());
    directory.register_app(target_app);
    let token = sim.mint_access_token(GRAPH, &other.app_id, 600).unwrap();
    assert_eq!(get(&sim, &target, &token).await.status, 200);
    let a = add_key(&sim, &token, &fresh(), &owner_proof()).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn an_app_rolls_its_own_keys_without_any_graph_permission() {
    let sim = start().await;
    let info = sim.info.clone();
    let directory = sim.directory();
    let mut app = directory.app(&info.app_id).unwrap();
    app.graph_permissions.clear();
    directory.register_app(app);
    let token = graph_token(&sim).await;
    assert!(claims_of(&token).get("roles").is_none());
    let url = by_object_id(&sim, &info.application_object_id);
    // Reading needs a permission...
    let a = get(&sim, &url, &token).await;
    assert_eq!((a.status, a.code()), (403, "Authorization_RequestDenied"));
    // ...rolling its own keys does not: the proof is the authority.
    let p = proof(
        &Credential::of(&info),
        &info.application_object_id,
        |_, _| {},
    );
    let a = add_key(&sim, &token, &fresh(), &p).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn graph_errors_have_graphs_shape_and_echo_the_client_request_id() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let url = by_object_id(&sim, "00000000-0000-0000-0000-000000000000");
    let a = send(
        sim.http
            .get(&url)
            .bearer_auth(&token)
            .header("client-request-id", "my-id-42"),
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.headers["content-type"], "application/json");
    let inner = &a.body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "my-id-42");
    assert!(uuid::Uuid::parse_str(inner["request-id"].as_str().unwrap()).is_ok());
    assert!(inner["date"].as_str().unwrap().ends_with('Z'));
    // Without one, a GUID is made up.
    let a = get(&sim, &url, &token).await;
    let id = a.body["error"]["innerError"]["client-request-id"]
        .as_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_malformed_body_is_a_bad_request() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let url = format!(
        "{}/addKey",
        by_object_id(&sim, &sim.info.application_object_id)
    );
    for (body, text) in [
        ("{\"keyCredential\": ", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("", "empty"),
    ] {
        let a = send(
            sim.http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(
            (a.status, a.code()),
            (400, "BadRequest"),
            "{body}: {}",
            a.body
        );
        assert!(a.message().contains(text), "{body}: {}", a.message());
    }
    let url = format!(
        "{}/removeKey",
        by_object_id(&sim, &sim.info.application_object_id)
    );
    let a = post(&sim, &url, &token, &json!({"proof": "x"})).await;
    assert_eq!((a.status, a.code()), (400, "Request_BadRequest"));
    assert!(a.message().contains("'keyId'"), "{}", a.message());
}

#[tokio::test]
async fn graph_goes_down_after_the_configured_number_of_requests() {
    let sim = start().await;
    let token = graph_token(&sim).await;
    let url = by_object_id(&sim, &sim.info.application_object_id);
    sim.faults().set(FaultConfig {
        graph_outage_after: Some(2),
        ..FaultConfig::default()
    });
    assert_eq!(get(&sim, &url, &token).await.status, 200);
    assert_eq!(get(&sim, &url, &token).await.status, 200);
    for _ in 0..2 {
        let a = get(&sim, &url, &token).await;
        assert_eq!(
            (a.status, a.code()),
            (503, "serviceNotAvailable"),
            "{}",
            a.body
        );
        assert_eq!(a.headers["retry-after"], "1");
        assert_eq!(a.headers["content-type"], "application/json");
    }
    // A key change meets the outage too, and changes nothing.
    let p = proof(
        &Credential::of(&sim.info),
        &sim.info.application_object_id,
        |_, _| {},
    );
    assert_eq!(add_key(&sim, &token, &fresh(), &p).await.status, 503);
    assert_eq!(key_ids(&sim).len(), 1);
    assert_eq!(sim.graph_requests(), 5);

    // The counter is in /_sim/stats; applying faults again restarts the count.
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
    assert_eq!(stats["graph_requests"], 5);
    let set = sim
        .http
        .post(format!("{}/_sim/faults", sim.info.login_base))
        .bearer_auth(&sim.info.control_key)
        .json(&json!({"graph_outage_after": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 200);
    assert_eq!(get(&sim, &url, &token).await.status, 200);
    assert_eq!(get(&sim, &url, &token).await.status, 503);
    sim.faults().clear();
    assert_eq!(get(&sim, &url, &token).await.status, 200);
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
