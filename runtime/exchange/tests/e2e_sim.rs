//! End to end against `exorun-sim`: real TLS, real Entra-shaped token
//! endpoint, real InvokeCommand paging, faults and throttling.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exorun_cmdlet::{Backend, Call};
use exorun_exchange::{
    AssertionProfile, CertificateSource, ConnectOptions, Connection, RetryPolicy,
};
use exorun_sim::{FaultConfig, RunningSim, SimConfig, TenantSource, ThrottleConfig};

struct Sim {
    sim: RunningSim,
    _dir: tempfile::TempDir,
}

async fn start(mailboxes: usize, adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimConfig {
        tenant: TenantSource::Generate {
            mailboxes,
            seed: 11,
        },
        state_dir: dir.path().to_path_buf(),
        ..SimConfig::default()
    };
    adjust(&mut config);
    Sim {
        sim: exorun_sim::start(config).await.unwrap(),
        _dir: dir,
    }
}

fn options(sim: &RunningSim, source: CertificateSource) -> ConnectOptions {
    let info = &sim.info;
    ConnectOptions::new(&info.initial_domain, &info.app_id, source)
        .authority_url(&info.login_base)
        .exchange_url(&info.exchange_base)
        .extra_ca_pem(&info.ca_pem)
        .system_proxy(false)
        .retry_policy(RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            ..RetryPolicy::default()
        })
}

fn pfx(sim: &RunningSim) -> CertificateSource {
    CertificateSource::Pfx {
        path: sim.info.client_certificate_pfx.clone(),
        password: sim.info.client_certificate_pfx_password.clone().into(),
    }
}

fn identities(objects: &[String]) -> HashSet<String> {
    objects
        .iter()
        .map(|o| {
            let v: serde_json::Value = serde_json::from_str(o).unwrap();
            v["ExchangeGuid"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_mailbox_unlimited_returns_every_mailbox_exactly_once() {
    let s = start(2500, |_| {}).await;
    let conn = options(&s.sim, pfx(&s.sim)).connect().unwrap();
    let claims = conn.token_claims().await.unwrap();
    assert_eq!(claims.appid.as_deref(), Some(s.sim.info.app_id.as_str()));
    assert_eq!(claims.tid.as_deref(), Some(s.sim.info.tenant_id.as_str()));
    assert!(claims.roles.iter().any(|r| r == "Exchange.ManageAsApp"));

    let all = conn
        .client()
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", "Unlimited"))
        .await
        .unwrap();
    let unique = identities(&all);
    assert_eq!(unique.len(), all.len(), "a mailbox came twice");
    assert_eq!(all.len(), 2500);
    assert_eq!(s.sim.token_requests(), 1);
    assert_eq!(s.sim.invoke_requests(), 3);
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_with_ps256_and_store_lookup_both_sign_in() {
    let s = start(5, |_| {}).await;
    let pem = options(
        &s.sim,
        CertificateSource::Pem {
            path: s.sim.info.client_certificate_pem.clone(),
            password: None,
        },
    )
    .assertion_profile(AssertionProfile::Ps256X5tS256)
    .connect()
    .unwrap();
    pem.token_claims().await.unwrap();

    let dir = s
        .sim
        .info
        .client_certificate_pfx
        .parent()
        .unwrap()
        .to_path_buf();
    let store = CertificateSource::Store {
        dir,
        thumbprint: s
            .sim
            .info
            .client_certificate_thumbprint
            .to_ascii_lowercase(),
        password: Some(s.sim.info.client_certificate_pfx_password.clone().into()),
    };
    let conn: Connection = options(&s.sim, store).connect().unwrap();
    assert_eq!(
        conn.certificate()
            .expect("a certificate connection")
            .thumbprint_sha1_hex(),
        s.sim.info.client_certificate_thumbprint
    );
    let out = conn
        .client()
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", "2"))
        .await
        .unwrap();
    assert_eq!(out.len(), 2);
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_5xx_a_dropped_page_and_a_throttle_storm() {
    let s = start(1200, |_| {}).await;
    let conn = options(&s.sim, pfx(&s.sim)).connect().unwrap();
    s.sim.faults().set(FaultConfig {
        error_503_rate: 0.2,
        error_504_rate: 0.1,
        reset_on_page: Some(2),
        throttle_storm_ms: 300,
        throttle_storm_retry_after_ms: 100,
        ..FaultConfig::default()
    });
    let all = conn
        .client()
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", "Unlimited"))
        .await
        .unwrap();
    assert_eq!(identities(&all).len(), 1200);
    assert_eq!(all.len(), 1200);
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_finish_within_a_tight_budget() {
    let s = start(20, |c| {
        c.throttle = ThrottleConfig {
            budget_per_second: 100.0,
            burst: 20.0,
            max_concurrency: 4,
        };
    })
    .await;
    let conn = options(&s.sim, pfx(&s.sim)).connect().unwrap();
    let client = conn.client();
    let started = Instant::now();
    let calls = 120;
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .invoke(&Call::new("Get-Mailbox").param("ResultSize", "1"))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    let elapsed = started.elapsed();
    let limiter = Arc::clone(client.limiter());
    eprintln!(
        "{calls} calls in {elapsed:?}; 429s seen: {}; concurrency now {}; invoke requests {}",
        limiter.throttled(),
        limiter.concurrency(),
        s.sim.invoke_requests()
    );
    assert_eq!(ok, calls);
    // 120 calls, a burst of 20 and 100/s: at least 1 s, and the limiter
    // should not need much more than the budget allows.
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // Far fewer 429s than requests: the limiter paces instead of hammering.
    assert!(limiter.throttled() < 40, "{}", limiter.throttled());
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_token_endpoint_outage_is_ridden_out() {
    let s = start(5, |_| {}).await;
    // Backoffs of at least 100, 200, 400, 500, 500 ms (jitter keeps half):
    // more than the one-second outage in total.
    let conn = options(&s.sim, pfx(&s.sim))
        .retry_policy(RetryPolicy {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        })
        .connect()
        .unwrap();
    s.sim.faults().set(FaultConfig {
        token_outage_ms: 1000,
        ..FaultConfig::default()
    });
    let out = conn
        .client()
        .invoke(&Call::new("Get-Mailbox").param("ResultSize", "Unlimited"))
        .await
        .unwrap();
    assert_eq!(out.len(), 5);
    assert!(s.sim.token_requests() >= 2, "{}", s.sim.token_requests());
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_certificate_is_refused_with_the_upload_hint() {
    let s = start(5, |_| {}).await;
    let other = exorun_exchange::generate_self_signed("CN=not-uploaded", 30, 2048).unwrap();
    let conn = options(
        &s.sim,
        CertificateSource::Loaded(Arc::new(other.certificate)),
    )
    .connect()
    .unwrap();
    let err = conn.token_claims().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("AADSTS700027"), "{text}");
    assert!(
        text.contains(&format!(
            "upload this certificate (thumbprint {})",
            conn.certificate()
                .expect("a certificate connection")
                .thumbprint_sha1_hex()
        )),
        "{text}"
    );
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_may_be_the_login_host_or_msals_url_with_the_tenant() {
    let s = start(5, |_| {}).await;
    let info = &s.sim.info;
    for authority in [
        info.login_base.clone(),
        format!("{}/", info.login_base),
        // What `exorun sim` prints as `authority`, as MSAL takes it.
        info.authority.clone(),
        format!("{}/v2.0", info.authority),
        format!("{}/{}", info.login_base, info.initial_domain),
    ] {
        let conn = options(&s.sim, pfx(&s.sim))
            .authority_url(&authority)
            .connect()
            .unwrap();
        assert_eq!(conn.endpoints().authority, info.login_base, "{authority}");
        let claims = conn
            .token_claims()
            .await
            .unwrap_or_else(|e| panic!("{authority}: {e}"));
        assert_eq!(
            claims.tid.as_deref(),
            Some(info.tenant_id.as_str()),
            "{authority}"
        );
    }
    s.sim.shutdown().await;
}

#[test]
fn a_token_never_goes_to_the_exchange_endpoint_of_another_cloud() {
    use exorun_exchange::{ConnectError, ExchangeEnvironment};
    let certificate = Arc::new(
        exorun_exchange::generate_self_signed("CN=clouds", 30, 2048)
            .unwrap()
            .certificate,
    );
    let source = || CertificateSource::Loaded(Arc::clone(&certificate));
    let base = || ConnectOptions::new("contoso.onmicrosoft.com", "app", source());

    // A private login host with no Exchange URL: refused at once, saying
    // what to add, before any request.
    let err = base()
        .authority_url("https://127.0.0.1:8443/contoso.onmicrosoft.com")
        .connect()
        .unwrap_err();
    assert_eq!(
        err,
        ConnectError::ExchangeUrlRequired {
            authority: "https://127.0.0.1:8443".to_owned()
        }
    );
    assert!(err.to_string().contains("--exchange-url"), "{err}");
    // With it, fine.
    base()
        .authority_url("https://127.0.0.1:8443")
        .exchange_url("https://127.0.0.1:8443")
        .connect()
        .unwrap();

    // The US government login host with the commercial Exchange endpoint.
    let err = base()
        .authority_url("https://login.microsoftonline.us")
        .connect()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the authority https://login.microsoftonline.us signs in to O365USGovGCCHigh or O365USGovDoD, but the Exchange endpoint https://outlook.office365.com belongs to O365Default: a token is never sent to the Exchange endpoint of another cloud. Name the cloud with --exchange-environment-name O365USGovGCCHigh or O365USGovDoD, or give a matching --exchange-url"
    );
    base()
        .environment(ExchangeEnvironment::O365USGovDoD)
        .authority_url("https://login.microsoftonline.us/contoso.onmicrosoft.com")
        .connect()
        .unwrap();
    // A commercial login with another cloud's Exchange URL.
    let err = base()
        .exchange_url("https://outlook.office365.cn")
        .connect()
        .unwrap_err();
    assert!(matches!(err, ConnectError::CloudMismatch { .. }), "{err}");
    // The defaults of each cloud agree with themselves.
    for environment in ExchangeEnvironment::ALL {
        base().environment(environment).connect().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_says_to_pass_the_ca_file() {
    let s = start(5, |_| {}).await;
    let info = &s.sim.info;
    let conn = ConnectOptions::new(&info.initial_domain, &info.app_id, pfx(&s.sim))
        .authority_url(&info.authority)
        .exchange_url(&info.exchange_base)
        .system_proxy(false)
        .retry_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .connect()
        .unwrap();
    let err = conn.token_claims().await.unwrap_err().to_string();
    assert!(
        err.contains("pass that CA's certificate with --ca-file PEM"),
        "{err}"
    );
    s.sim.shutdown().await;
}
