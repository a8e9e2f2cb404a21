//! Shared test helpers: start a simulator, a client that trusts its CA,
//! and client assertions built with OpenSSL exactly as real clients do.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use exorun_sim::{RunningSim, SimConfig, SimInfo, TenantSource};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::x509::X509;
use serde_json::{Value, json};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const ANCHOR: &str = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@";

pub struct Sim {
    pub sim: RunningSim,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Sim {
    type Target = RunningSim;
    fn deref(&self) -> &RunningSim {
        &self.sim
    }
}

/// Starts a simulator with `mailboxes` generated mailboxes, after letting
/// the caller adjust the configuration.
pub async fn start_with(mailboxes: usize, adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimConfig {
        tenant: TenantSource::Generate { mailboxes, seed: 7 },
        state_dir: dir.path().to_path_buf(),
        ..SimConfig::default()
    };
    adjust(&mut config);
    let sim = exorun_sim::start(config).await.unwrap();
    let http = client_for(&sim.info);
    Sim {
        sim,
        http,
        _dir: dir,
    }
}

pub async fn start() -> Sim {
    start_with(20, |_| {}).await
}

/// A reqwest client that trusts only the simulator's CA.
pub fn client_for(info: &SimInfo) -> reqwest::Client {
    let ca = std::fs::read(&info.ca_pem).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .pool_max_idle_per_host(8)
        .build()
        .unwrap()
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The default app's key and certificate, read from the files the
/// simulator wrote.
pub struct Credential {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl Credential {
    pub fn of(info: &SimInfo) -> Self {
        let pem = std::fs::read(&info.client_certificate_pem).unwrap();
        Credential {
            key: PKey::private_key_from_pem(&pem).unwrap(),
            cert: X509::from_pem(&pem).unwrap(),
        }
    }

    /// A fresh self-signed certificate the app does not know.
    pub fn unregistered(valid_from: i64, valid_to: i64) -> Self {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "other").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::from_unix(valid_from).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::from_unix(valid_to).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        Credential {
            key,
            cert: b.build(),
        }
    }

    pub fn sha1(&self) -> Vec<u8> {
        self.cert.digest(MessageDigest::sha1()).unwrap().to_vec()
    }

    pub fn sha256(&self) -> Vec<u8> {
        self.cert.digest(MessageDigest::sha256()).unwrap().to_vec()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    /// msal's thumbprint form: RS256 + padded `x5t`.
    Rs256X5tPadded,
    Rs256X5t,
    /// msal's public-certificate form: PS256 + padded `x5t#S256` + `x5c`
    /// with line breaks.
    Ps256X5tS256WithX5c,
    Ps256X5tS256,
}

/// Builds an assertion: header from `profile`, claims for `aud`, then
/// `edit` may change header and claims before signing.
pub fn assertion(
    cred: &Credential,
    client_id: &str,
    aud: &str,
    profile: Profile,
    edit: impl FnOnce(&mut Value, &mut Value),
) -> String {
    let now = now();
    let mut header = match profile {
        Profile::Rs256X5tPadded => {
            json!({"alg":"RS256","typ":"JWT","x5t": URL_SAFE.encode(cred.sha1())})
        }
        Profile::Rs256X5t => {
            json!({"alg":"RS256","typ":"JWT","x5t": URL_SAFE_NO_PAD.encode(cred.sha1())})
        }
        Profile::Ps256X5tS256WithX5c => {
            let b64 = STANDARD.encode(cred.cert.to_der().unwrap());
            let wrapped: Vec<String> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            json!({"alg":"PS256","typ":"JWT","x5t#S256": URL_SAFE.encode(cred.sha256()),"x5c":[wrapped.join("\n")]})
        }
        Profile::Ps256X5tS256 => {
            json!({"alg":"PS256","typ":"JWT","x5t#S256": URL_SAFE_NO_PAD.encode(cred.sha256())})
        }
    };
    let mut claims = json!({
        "aud": aud,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "exp": now + 600.0,
    });
    edit(&mut header, &mut claims);
    sign(&cred.key, &header, &claims)
}

pub fn sign(key: &PKey<Private>, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    if header["alg"] == "PS256" {
        signer.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        signer.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
        signer
            .set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))
            .unwrap();
    }
    signer.update(input.as_bytes()).unwrap();
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap())
    )
}

pub fn token_url_v2(info: &SimInfo) -> String {
    format!("{}/oauth2/v2.0/token", info.authority)
}

/// The standard v2 form for `assertion`.
pub fn v2_form(info: &SimInfo, assertion: &str) -> Vec<(String, String)> {
    vec![
        ("client_id".into(), info.app_id.clone()),
        ("grant_type".into(), "client_credentials".into()),
        ("client_info".into(), "1".into()),
        ("client_assertion_type".into(), JWT_BEARER.into()),
        ("client_assertion".into(), assertion.into()),
        ("scope".into(), exorun_sim::EXCHANGE_SCOPE.into()),
    ]
}

pub async fn post_form(sim: &Sim, url: &str, form: &[(String, String)]) -> (u16, Value) {
    let response = sim.http.post(url).form(form).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A fresh access token for the default app.
pub async fn token(sim: &Sim) -> String {
    token_for(sim, &sim.info.app_id.clone(), &Credential::of(&sim.info)).await
}

pub async fn token_for(sim: &Sim, app_id: &str, cred: &Credential) -> String {
    let url = token_url_v2(&sim.info);
    let a = assertion(cred, app_id, &url, Profile::Rs256X5t, |_, _| {});
    let mut form = v2_form(&sim.info, &a);
    form[0].1 = app_id.to_owned();
    let (status, body) = post_form(sim, &url, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Decodes a JWT's claims without checking anything.
pub fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn header_of(jwt: &str) -> Value {
    let header = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// GETs `url` from the simulator and reads the answer as JSON.
pub async fn get_json(sim: &Sim, url: &str) -> Value {
    sim.http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn cmdlet(name: &str, parameters: Value) -> Value {
    json!({"CmdletInput": {"CmdletName": name, "Parameters": parameters}})
}

/// A request to InvokeCommand with the headers the module sends.
pub fn invoke(sim: &Sim, token: &str, url: &str) -> reqwest::RequestBuilder {
    sim.http
        .post(url)
        .bearer_auth(token)
        .header("X-AnchorMailbox", format!("{ANCHOR}{}", sim.info.tenant_id))
        .header("X-ResponseFormat", "json")
}

pub async fn invoke_json(
    sim: &Sim,
    token: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = invoke(sim, token, &sim.info.invoke_command_url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}
