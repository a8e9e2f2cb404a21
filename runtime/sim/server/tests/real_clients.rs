//! msal, azure-identity and requests (real Python clients) against the
//! simulator: tests/clients/real_clients.py, run with the interpreter named
//! by `EXORUN_TEST_PYTHON`.

mod common;

use std::process::Command;
use std::time::Duration;

use exorun_sim::{AssertionReuse, TokenLifetime};

use serde_json::Value;

const SETUP: &str = "EXORUN_TEST_PYTHON is not set. Create a venv with the real clients and point the variable at its interpreter:\n  python3 -m venv /work/venv-sim && /work/venv-sim/bin/pip install msal==1.39.0 azure-identity==1.27.0 requests\n  EXORUN_TEST_PYTHON=/work/venv-sim/bin/python cargo test -p exorun-sim --test real_clients\n(the project's Makefile creates this venv and sets the variable)";

/// Runs a real client against `sim`: `program` with `before`, the path of
/// the simulator's info JSON, and `after` as arguments, `configure` for
/// the rest; returns the client's JSON summary line.
async fn run_client(
    sim: &common::Sim,
    program: String,
    before: &[&str],
    after: &[&str],
    configure: impl FnOnce(&mut Command) + Send + 'static,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let info_path = dir.path().join("sim.json");
    std::fs::write(&info_path, serde_json::to_string(&sim.info).unwrap()).unwrap();
    let before: Vec<String> = before.iter().map(|a| (*a).to_owned()).collect();
    let after: Vec<String> = after.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(&program);
        command.args(before).arg(&info_path).args(after);
        configure(&mut command);
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the client failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no summary line ({e}):\n{stdout}\n{stderr}"))
}

/// Runs tests/clients/real_clients.py (msal, azure-identity, requests).
async fn run_script(sim: &common::Sim, args: &[&str]) -> Value {
    let python = std::env::var("EXORUN_TEST_PYTHON").unwrap_or_default();
    assert!(!python.trim().is_empty(), "{SETUP}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/real_clients.py");
    run_client(sim, python, &[script], args, |command| {
        // requests lets these override msal's verify= (docs/protocol.md, "What real OAuth clients need of a test tenant").
        command
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE");
    })
    .await
}

/// How many mailboxes `Get-Mailbox -ResultSize Unlimited` returns, asked of
/// the tenant directly.
fn every_mailbox(sim: &common::Sim) -> usize {
    sim.tenant
        .execute(
            &exorun_sim_tenant::Caller::new(
                sim.info.app_id.clone(),
                &[exorun_sim::directory::roles::EXCHANGE_ADMINISTRATOR],
            ),
            &exorun_cmdlet::Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        )
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_azure_identity_and_requests_get_tokens_and_page_every_mailbox() {
    let sim = common::start_with(1500, |_| {}).await;
    let summary = run_script(&sim, &[]).await;
    assert_eq!(summary["msal_rs256"], true);
    assert_eq!(summary["msal_ps256"], true);
    assert_eq!(summary["azure_identity"], true);
    let expected = every_mailbox(&sim);
    assert_eq!(summary["mailboxes"], expected);
    assert_eq!(summary["pages"], expected.div_ceil(1000));
    // Three token requests: msal twice (the second call is cached), azure-identity once.
    assert_eq!(sim.token_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_and_azure_identity_refresh_short_lived_tokens_reusing_their_assertion() {
    let sim = common::start_with(5, |c| {
        c.token_lifetime = TokenLifetime::Fixed(Duration::from_secs(60))
    })
    .await;
    let summary = run_script(&sim, &["refresh"]).await;
    assert_eq!(summary["msal_refreshed"], true);
    assert_eq!(summary["azure_identity_refreshed"], true);
    // Two tokens each.
    assert_eq!(sim.token_requests(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_mode_refuses_msals_reused_assertion() {
    let sim = common::start_with(5, |c| {
        c.token_lifetime = TokenLifetime::Fixed(Duration::from_secs(60));
        c.assertion_reuse = AssertionReuse::Refused;
    })
    .await;
    let summary = run_script(&sim, &["refresh-strict"]).await;
    assert_eq!(summary["msal_refused"], true);
    assert_eq!(sim.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_and_msal_get_managed_identity_tokens_on_app_service_and_from_imds() {
    let sim = common::start_with(5, |c| c.managed_identity = true).await;
    let user = sim.directory().add_user_assigned_identity(
        "reports identity",
        &[exorun_sim::directory::roles::EXCHANGE_ADMINISTRATOR],
    );
    let summary = run_script(&sim, &["managed-identity", &user.app_id]).await;
    for client in ["azure_identity", "msal"] {
        for platform in ["app_service", "imds"] {
            for who in ["system", "user"] {
                let key = format!("{client}_{platform}_{who}");
                assert_eq!(summary[&key], true, "{key}: {summary}");
            }
        }
    }
    assert!(sim.identity_requests() >= 8, "{}", sim.identity_requests());
}

const NODE_SETUP: &str = "The Node.js clients are not installed. Install them from their lock file:\n  npm ci --prefix runtime/sim/server/tests/clients/node\n(the project's Makefile does this in `make setup`)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_node_and_azure_identity_refresh_page_and_name_an_unknown_key() {
    let clients = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/node");
    assert!(
        std::path::Path::new(clients)
            .join("node_modules/@azure/msal-node")
            .is_dir(),
        "{NODE_SETUP}"
    );
    let sim = common::start_with(1500, |c| {
        c.token_lifetime = TokenLifetime::Fixed(Duration::from_secs(60))
    })
    .await;
    let ca = sim.info.ca_pem.clone();
    let summary = run_client(
        &sim,
        "node".to_owned(),
        &["real_clients.mjs"],
        &[],
        move |command| {
            command.current_dir(clients).env("NODE_EXTRA_CA_CERTS", ca);
        },
    )
    .await;
    assert_eq!(summary["msal_node_refreshed"], true);
    assert_eq!(summary["azure_identity_refreshed"], true);
    let expected = every_mailbox(&sim);
    for client in ["msal_node", "azure_identity"] {
        assert_eq!(summary[format!("{client}_mailboxes")], expected, "{client}");
        assert_eq!(
            summary[format!("{client}_pages")],
            expected.div_ceil(1000),
            "{client}"
        );
    }
    assert_eq!(
        summary["unknown_key"]["errorCode"], "invalid_client",
        "{summary}"
    );
    assert_eq!(summary["unknown_key"]["errorNo"], "700027", "{summary}");
    assert_eq!(summary["unknown_key"]["status"], 401, "{summary}");
}
