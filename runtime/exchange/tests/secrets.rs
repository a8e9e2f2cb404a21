//! No secret ever reaches Debug, Display or a log line: not the access
//! token, not the client assertion, not the private key, not a password.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Reply, TestServer, token_reply, with_tokens};
use exorun_cmdlet::{Backend, Call};
use exorun_exchange::{
    AccessToken, AssertionProfile, Certificate, CertificateSource, ConnectOptions, SecretString,
    generate_self_signed, make_assertion,
};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every substring that would betray a secret.
fn secrets(token: &str, assertion: &str, key_pem: &str, password: &str) -> Vec<String> {
    let mut s = vec![token.to_owned(), password.to_owned()];
    // The token's signature part and the assertion's signature part.
    s.push(token.rsplit('.').next().unwrap().to_owned());
    s.push(assertion.to_owned());
    s.push(assertion.rsplit('.').next().unwrap().to_owned());
    // Every full base64 line of the private key.
    s.extend(
        key_pem
            .lines()
            .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
            .map(str::to_owned),
    );
    s
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks a secret: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_public_type_or_error_prints_a_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let generated = generate_self_signed("CN=secrets", 20, 2048).unwrap();
    let pem = String::from_utf8(generated.pem.expose().to_vec()).unwrap();
    let key_pem = &pem[pem.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    let password = generated.pfx_password.expose().to_owned();
    let cert = Arc::new(
        Certificate::from_pfx_bytes(generated.pfx.expose(), &generated.pfx_password, "mem")
            .unwrap(),
    );

    let issued = Arc::new(Mutex::new(String::new()));
    let issued_by_server = Arc::clone(&issued);
    let assertion_seen = Arc::new(Mutex::new(String::new()));
    let assertion_by_server = Arc::clone(&assertion_seen);
    let server = TestServer::start(move |r, n| {
        if r.is_token() {
            let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes())
                .into_owned()
                .collect();
            *assertion_by_server.lock().unwrap() = form
                .iter()
                .find(|(k, _)| k == "client_assertion")
                .unwrap()
                .1
                .clone();
            let reply = token_reply(3599);
            let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            *issued_by_server.lock().unwrap() = v["access_token"].as_str().unwrap().to_owned();
            return reply;
        }
        with_tokens(|_, n| match n {
            0 => Reply::json(401, ""),
            1 => Reply::json(
                404,
                r#"{"error":{"code":"NotFound","message":"Error executing cmdlet"}}"#,
            ),
            2 => Reply::json(429, "").header("Retry-After", "600"),
            _ => Reply::json(200, "not json"),
        })(r, n)
    })
    .await;

    let options = ConnectOptions::new(
        common::TENANT,
        common::APP_ID,
        CertificateSource::Pfx {
            path: "/nonexistent/app.pfx".into(),
            password: generated.pfx_password.clone(),
        },
    );
    let mut printed = vec![format!("{options:?}")];
    printed.push(options.connect().unwrap_err().to_string());

    // This test's own certificate, so its key is known here.
    let conn = {
        ConnectOptions::new(
            common::TENANT,
            common::APP_ID,
            CertificateSource::Loaded(Arc::clone(&cert)),
        )
        .limiter_config(exorun_exchange::LimiterConfig {
            max_hold: std::time::Duration::from_millis(10),
            ..Default::default()
        })
        .authority_url(&server.url)
        .exchange_url(&server.url)
        .system_proxy(false)
        .retry_policy(exorun_exchange::RetryPolicy {
            max_attempts: 2,
            ..common::fast_retry()
        })
        .connect()
        .unwrap()
    };
    let client = conn.client();
    let token: Arc<AccessToken> = client.token_cache().token().await.unwrap();
    printed.push(format!("{token:?}"));
    for _ in 0..3 {
        let err = client.invoke(&Call::new("Get-Mailbox")).await.unwrap_err();
        printed.push(format!("{err:?}"));
        printed.push(err.to_string());
    }
    let assertion = make_assertion(
        &cert,
        "app",
        "aud",
        AssertionProfile::Rs256X5t,
        std::time::SystemTime::now(),
    )
    .unwrap();
    printed.push(format!("{assertion:?}"));
    printed.push(format!("{conn:?}"));
    printed.push(format!("{client:?}"));
    printed.push(format!("{:?}", client.token_cache()));
    printed.push(format!("{:?}", client.limiter()));
    printed.push(format!("{cert:?}"));
    printed.push(format!("{generated:?}"));
    printed.push(format!(
        "{:?} {}",
        generated.pfx_password, generated.pfx_password
    ));
    printed.push(format!("{:?}", conn.token_claims().await.unwrap()));
    let wrong = Certificate::from_pfx_bytes(generated.pfx.expose(), &SecretString::new("x"), "mem")
        .unwrap_err();
    printed.push(format!("{wrong:?} {wrong}"));
    let enc = Certificate::from_pem(
        pem.as_bytes(),
        Some(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
        Some(&SecretString::new(password.clone())),
        "mem",
    )
    .unwrap_err();
    printed.push(format!("{enc:?} {enc}"));

    // A token endpoint refusal, formatted both ways.
    let refusing = TestServer::start(|_, _| {
        Reply::json(401, r#"{"error":"invalid_client","error_description":"AADSTS700027: key not found\r\nTrace ID: t","error_codes":[700027]}"#)
    })
    .await;
    let c2 = ConnectOptions::new(
        common::TENANT,
        "other-app",
        CertificateSource::Loaded(Arc::clone(&cert)),
    )
    .authority_url(&refusing.url)
    .exchange_url(&refusing.url)
    .system_proxy(false)
    .connect()
    .unwrap();
    let auth = c2.token_claims().await.unwrap_err();
    printed.push(format!("{auth:?} {auth}"));
    let refused_assertion = {
        let r = &refusing.requests()[0];
        url::form_urlencoded::parse(r.body.as_bytes())
            .into_owned()
            .find(|(k, _)| k == "client_assertion")
            .unwrap()
            .1
    };

    let token_text = issued.lock().unwrap().clone();
    let assertion_text = assertion_seen.lock().unwrap().clone();
    assert!(!token_text.is_empty() && !assertion_text.is_empty());
    let mut all = secrets(&token_text, &assertion_text, key_pem, &password);
    all.push(assertion.expose().to_owned());
    all.push(refused_assertion);
    for (i, text) in printed.iter().enumerate() {
        assert_clean(&format!("printed[{i}]"), text, &all);
    }
    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.is_empty());
    assert_clean("the trace log", &logs, &all);
}
