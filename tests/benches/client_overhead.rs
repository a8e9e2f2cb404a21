//! Per-call overhead of the Exchange client over a bare reqwest POST of the
//! same request to the same simulated tenant over HTTPS (target ≤ 10 %).
//! Both sides send the same headers and body and read the whole answer; the
//! client adds what it is for: token cache, tenant limiter, retries policy,
//! request ids, and the response envelope parsed into objects.
//! Run with `cargo bench -p exorun-e2e --bench client_overhead`.

use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use exorun_cmdlet::{Backend, Call};
use exorun_e2e::connect_to_sim;
use exorun_exchange::{AssertionProfile, Certificate, SecretString, make_assertion};
use exorun_sim::{SimConfig, TenantSource};

fn bench(c: &mut Criterion) {
    let runtime = exorun_e2e::bench_runtime();
    let state = tempfile::tempdir().expect("state dir");
    let sim = runtime
        .block_on(exorun_sim::start(SimConfig {
            tenant: TenantSource::Generate {
                mailboxes: 200,
                seed: 5,
            },
            state_dir: state.path().to_path_buf(),
            ..SimConfig::default()
        }))
        .expect("simulated tenant");
    let info = sim.info.clone();
    let password = SecretString::new(info.client_certificate_pfx_password.clone());
    let connection = connect_to_sim(&info);
    let client = connection.client();

    // A token for the bare requests, obtained the same way the client does.
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(&info.ca_pem).expect("ca")).expect("ca pem");
    let bare = reqwest::Client::builder()
        .add_root_certificate(ca)
        .no_proxy()
        .build()
        .expect("reqwest client");
    let token_url = format!("{}/{}/oauth2/v2.0/token", info.login_base, info.tenant_id);
    let certificate =
        Certificate::from_pfx_file(&info.client_certificate_pfx, &password).expect("certificate");
    let assertion = make_assertion(
        &certificate,
        &info.app_id,
        &token_url,
        AssertionProfile::default(),
        SystemTime::now(),
    )
    .expect("assertion");
    let token: serde_json::Value = runtime.block_on(async {
        bare.post(&token_url)
            .form(&[
                ("client_id", info.app_id.as_str()),
                ("scope", "https://outlook.office365.com/.default"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.expose()),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token json")
    });
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().expect("access_token")
    );

    let mailbox = {
        let execution = sim
            .tenant
            .execute(
                &exorun_sim_tenant::Caller::exchange_administrator("bench"),
                &Call::new("Get-Mailbox"),
            )
            .expect("mailboxes");
        execution.page(0, 1)[0]["PrimarySmtpAddress"]
            .as_str()
            .expect("address")
            .to_owned()
    };
    let call = Call::new("Get-Mailbox").param("Identity", mailbox.as_str());
    let body = serde_json::json!({"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": mailbox}}})
        .to_string();
    let url = info.invoke_command_url.clone();
    let anchor = format!(
        "APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{}",
        info.initial_domain
    );

    let mut group = c.benchmark_group("client_overhead");
    group.bench_function("exchange_client_get_mailbox", |b| {
        b.to_async(&runtime)
            .iter(|| async { client.invoke(&call).await.expect("invoke") })
    });
    // The same headers and body the client sends.
    let request = || {
        bare.post(&url)
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("accept-charset", "UTF-8")
            .header("x-anchormailbox", &anchor)
            .header("x-cmdletname", "Get-Mailbox")
            .header("x-responseformat", "json")
            .header("x-serializationlevel", "Partial")
            .header("client-request-id", "6f1c1c9e-4d4a-4c4e-9b8a-2f2f2f2f2f2f")
            .header("connection-id", "7f1c1c9e-4d4a-4c4e-9b8a-2f2f2f2f2f2f")
            .header("prefer", "odata.maxpagesize=1000")
            .body(body.clone())
    };
    group.bench_function("bare_reqwest_get_mailbox", |b| {
        b.to_async(&runtime).iter(|| async {
            request()
                .send()
                .await
                .expect("post")
                .bytes()
                .await
                .expect("body")
        })
    });
    // A bare POST as careful as the client about hung connections: the
    // module's 960 s per-request timeout (a timer per request).
    group.bench_function("bare_reqwest_get_mailbox_with_timeout", |b| {
        b.to_async(&runtime).iter(|| async {
            request()
                .timeout(std::time::Duration::from_secs(960))
                .send()
                .await
                .expect("post")
                .bytes()
                .await
                .expect("body")
        })
    });
    // The least any caller must do with the answer: read it and parse it.
    group.bench_function("bare_reqwest_get_mailbox_parsed", |b| {
        b.to_async(&runtime).iter(|| async {
            request()
                .send()
                .await
                .expect("post")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        })
    });
    group.finish();
    runtime.block_on(sim.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
