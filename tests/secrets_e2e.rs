//! No secret reaches what a run leaves behind. Plugins run through the real
//! Exchange client against the simulated tenant over HTTPS, with the audit
//! trail written and every host log line captured at TRACE; then the audit
//! file, the logs, the run reports and their errors are searched for the
//! access token, the client assertion, the app's private key and the PFX
//! password.
//!
//! Tokens and assertions differ per request, but their JWT headers do not:
//! the header segment of a token the simulator issues (and of an assertion
//! made with the app's certificate) is what any leaked copy would start
//! with, so that is what is searched for, along with "Bearer ".

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use exorun_audit::{PluginRef, RunInfo};
use exorun_e2e::{built_plugin, connect_to_sim};
use exorun_exchange::{AssertionProfile, Certificate, SecretString, make_assertion};
use exorun_sandbox::{AuditObserver, Plugin, RunRequest, Sandbox};
use exorun_sim::{SimConfig, TenantSource};

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

fn jwt_header(jwt: &str) -> String {
    jwt.split('.').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_leaves_no_token_assertion_key_or_password_in_logs_audit_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let state = tempfile::tempdir().unwrap();
    let sim = exorun_sim::start(SimConfig {
        tenant: TenantSource::Generate {
            mailboxes: 20,
            seed: 3,
        },
        state_dir: state.path().to_path_buf(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let info = sim.info.clone();
    let password = info.client_certificate_pfx_password.clone();
    let certificate = Certificate::from_pfx_file(
        &info.client_certificate_pfx,
        &SecretString::new(password.clone()),
    )
    .unwrap();
    let token_url = format!("{}/{}/oauth2/v2.0/token", info.login_base, info.tenant_id);
    let assertion = make_assertion(
        &certificate,
        &info.app_id,
        &token_url,
        AssertionProfile::default(),
        SystemTime::now(),
    )
    .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&info.ca_pem).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .no_proxy()
        .build()
        .unwrap();
    let issued: serde_json::Value = http
        .post(&token_url)
        .form(&[
            ("client_id", info.app_id.as_str()),
            ("scope", "https://outlook.office365.com/.default"),
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.expose()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_header = jwt_header(issued["access_token"].as_str().unwrap());
    let pem = std::fs::read_to_string(&info.client_certificate_pem).unwrap();
    let key = &pem[pem.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    let mut secrets = vec![
        ("the access token's JWT header", token_header),
        (
            "the client assertion's JWT header",
            jwt_header(assertion.expose()),
        ),
        ("a bearer header", "Bearer ".to_owned()),
        ("the PFX password", password),
    ];
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        secrets.push(("a line of the private key", line.to_owned()));
    }

    // Runs that succeed, fail in Exchange, and are denied, all audited.
    let connection = connect_to_sim(&info);
    let client: Arc<dyn exorun_cmdlet::Backend> = Arc::new(connection.client());
    let sandbox = Sandbox::new(exorun_e2e::sandbox_config()).unwrap();
    let plugin = Plugin::load(&sandbox, &built_plugin("tests/plugins/one-call")).unwrap();
    let audit_path = state.path().join("audit.jsonl");
    let mut printed = Vec::new();
    for identity in ["admin@contoso.com", "nobody@contoso.com"] {
        let run_info = RunInfo::new(
            PluginRef {
                name: plugin.manifest().plugin.name.clone(),
                version: plugin.manifest().plugin.version.to_string(),
                sha256: plugin.sha256().to_owned(),
            },
            info.initial_domain.clone(),
            info.app_id.clone(),
        );
        let observer = Arc::new(
            AuditObserver::start(&audit_path, run_info, plugin.manifest().capabilities()).unwrap(),
        );
        let report = sandbox
            .run(
                &plugin,
                RunRequest::new(client.clone())
                    .input("identity", identity)
                    .observer(observer.clone()),
            )
            .await;
        observer.finish(&report, None, None).unwrap();
        printed.push(format!("{:?}", report.outcome));
        printed.push(format!("{:?}", report.calls));
        printed.push(format!("{:?}", report.log));
    }
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert_eq!(
        audit.lines().count(),
        6,
        "two runs of start, one call and end:\n{audit}"
    );
    assert!(
        printed[3].contains("nobody@contoso.com"),
        "the failing run says what failed: {}",
        printed[3]
    );
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("acquired an access token"),
        "TRACE logs were captured"
    );

    for (what, text) in [
        ("the audit trail", audit.as_str()),
        ("the host log", logs.as_str()),
        ("the run reports", &printed.join("\n")),
    ] {
        for (secret, value) in &secrets {
            assert!(!text.contains(value.as_str()), "{what} contains {secret}");
        }
    }
}
