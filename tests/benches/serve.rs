//! `exorun serve` under load, in one process on an accelerated clock:
//!
//! 1. **Schedules**: 50 every-minute schedules of a Rust plugin (one
//!    Get-Mailbox call) against the simulated tenant over HTTPS, the clock
//!    running `EXORUN_BENCH_SERVE_FACTOR` (default 120) times faster than
//!    real time, until `EXORUN_BENCH_SERVE_RUNS` (default 10,000) runs
//!    have fired and finished. Lateness is the real time from the moment
//!    the clock reached a slot to the moment its run was in the history;
//!    the host's peak RSS is read from /proc.
//! 2. **API**: 100 concurrent clients, each on its own connection, poll
//!    `GET /api/v1/runs/{id}` for 10 s.
//! 3. **Dashboard**: the run page, `GET /runs/{id}`, 300 times in a row
//!    (target: ≤ 50 ms).
//!
//! Run with `make bench-serve` (`cargo bench -p exorun-e2e --bench serve`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use exorun_cmdlet::Call;
use exorun_e2e::{built_plugin, exorun_command, status_kib};
use exorun_serve::config::TenantConfig;
use exorun_serve::schedule::{AcceleratedClock, AlwaysLeader};
use exorun_serve::store::Role;
use exorun_serve::tenants::{Connected, Connector};
use exorun_serve::{Parts, ServeConfig, Service};
use jiff::Timestamp;

const SCHEDULES: usize = 50;
const API_CLIENTS: usize = 100;
const API_SECONDS: u64 = 10;
const PAGE_LOADS: usize = 300;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value at `q` (0..=1) of sorted samples.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Every tenant is the one simulated tenant this process started.
struct SimConnector {
    target: exorun_runner::Target,
}

#[async_trait::async_trait]
impl Connector for SimConnector {
    async fn connect(&self, _tenant: &TenantConfig) -> anyhow::Result<Connected> {
        Ok(Connected {
            target: exorun_runner::Target {
                name: self.target.name.clone(),
                app_id: self.target.app_id.clone(),
                backend: self.target.backend.clone(),
            },
            policy: exorun_policy::Policy::none(),
            details: vec![("connection".to_owned(), "benchmark simulator".to_owned())],
            live: None,
            keep_alive: Box::new(()),
        })
    }
}

/// Bundles the plugin and installs it into `plugins`, as an admin would.
fn install(plugin: &str, dir: &std::path::Path) {
    let manifest = built_plugin(plugin);
    let bundle = dir.join("plugin.tar");
    let out = exorun_command()
        .args(["bundle", "--namespace", "contoso", "-o"])
        .arg(&bundle)
        .arg(manifest.parent().unwrap())
        .output()
        .expect("exorun bundle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = exorun_command()
        .args(["install", "--allow-unsigned", "--yes", "--plugins-dir"])
        .arg(dir.join("data/plugins"))
        .arg("--audit-log")
        .arg(dir.join("data/audit.jsonl"))
        .arg(&bundle)
        .output()
        .expect("exorun install");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let runs_wanted: usize = env_or("EXORUN_BENCH_SERVE_RUNS", 10_000);
    let factor: f64 = env_or("EXORUN_BENCH_SERVE_FACTOR", 120.0);
    let runtime = exorun_e2e::bench_runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    install("tests/plugins/one-call", dir.path());

    let sim = runtime
        .block_on(exorun_sim::start(exorun_sim::SimConfig {
            tenant: exorun_sim::TenantSource::Generate {
                mailboxes: 20,
                seed: 7,
            },
            state_dir: dir.path().join("sim"),
            throttle: exorun_sim::ThrottleConfig::UNLIMITED,
            ..exorun_sim::SimConfig::default()
        }))
        .expect("simulated tenant");
    let mailbox = sim
        .tenant
        .execute(
            &exorun_sim_tenant::Caller::exchange_administrator("bench"),
            &Call::new("Get-Mailbox"),
        )
        .expect("mailboxes")
        .page(0, 1)[0]["PrimarySmtpAddress"]
        .as_str()
        .expect("address")
        .to_owned();
    let connection = exorun_e2e::connect_to_sim(&sim.info);
    let target = exorun_runner::Target {
        name: sim.info.initial_domain.clone(),
        app_id: sim.info.app_id.clone(),
        backend: Arc::new(connection.client()),
    };

    let mut text = format!(
        "data-dir = \"{}\"\n[limits]\nmax-concurrent-runs = 4\nper-tenant = 4\nper-plugin = 4\n[[tenant]]\nname = \"contoso\"\nsimulated = true\n",
        dir.path().join("data").display()
    );
    for i in 0..SCHEDULES {
        text.push_str(&format!(
            "[[schedule]]\nname = \"s{i:02}\"\nplugin = \"one-call\"\ntenant = \"contoso\"\ncron = \"* * * * *\"\noverlap = \"queue\"\ninputs = {{ identity = \"{mailbox}\" }}\n"
        ));
    }
    let config_path = dir.path().join("serve.toml");
    std::fs::write(&config_path, &text).unwrap();
    let config = ServeConfig::parse(&config_path, &text).expect("config");
    let sandbox = exorun_sandbox::Sandbox::new(exorun_sandbox::SandboxConfig {
        max_concurrent_runs: 4,
        ..exorun_e2e::sandbox_config()
    })
    .expect("sandbox");

    // The clock starts a second before a minute, so the first slot comes
    // at once; `wall_start` is when it read `sim_start`.
    let sim_start: Timestamp = Timestamp::now()
        .round(
            jiff::TimestampRound::new()
                .smallest(jiff::Unit::Minute)
                .mode(jiff::RoundMode::Ceil),
        )
        .unwrap()
        .checked_add(jiff::SignedDuration::from_secs(59))
        .unwrap();
    let clock = Arc::new(AcceleratedClock::new(sim_start, factor));
    let wall_start = Timestamp::now();
    let rss_before = status_kib("VmRSS:");

    let service = runtime
        .block_on(Service::open(
            config,
            Parts {
                connector: Arc::new(SimConnector { target }),
                sandbox: Arc::new(sandbox),
                clock: clock.clone(),
                leader: Arc::new(AlwaysLeader),
                instance: None,
            },
        ))
        .expect("service");
    let (token, digest) = exorun_serve::auth::new_token();
    service
        .store
        .blocking(|c| {
            exorun_serve::store::users::put_user(c, "vic", Role::Viewer, None)?;
            exorun_serve::store::users::add_token(c, "vic", &digest, "bench", None)?;
            Ok(())
        })
        .expect("user");
    let started = Instant::now();
    let _guard = runtime.enter();
    service.start();

    // Phase 1: until enough runs fired, then no more; until they ended.
    let count = |sql: &'static str| {
        service
            .store
            .blocking(move |c| Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))?))
            .expect("count") as usize
    };
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if count("SELECT COUNT(*) FROM runs WHERE schedule IS NOT NULL") >= runs_wanted {
            break;
        }
    }
    let fired_in = started.elapsed();
    service
        .store
        .blocking(|c| {
            c.execute("UPDATE schedules SET enabled = 0", [])?;
            Ok(())
        })
        .unwrap();
    service.schedules_changed();
    loop {
        if count("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')") == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let done_in = started.elapsed();
    let rss_peak = status_kib("VmHWM:");
    let rss_now = status_kib("VmRSS:");

    let rows: Vec<(String, String, String)> = service
        .store
        .blocking(|c| {
            let mut stmt = c.prepare(
                "SELECT slot, created_at, status FROM runs WHERE slot IS NOT NULL ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    let mut lateness_ms = Vec::with_capacity(rows.len());
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for (slot, created, status) in &rows {
        *statuses.entry(status.clone()).or_default() += 1;
        let (Some(slot), Some(created)) = (
            exorun_serve::store::parse_time(slot),
            exorun_serve::store::parse_time(created),
        ) else {
            continue;
        };
        // The real moment the accelerated clock read the slot.
        let ahead = slot.duration_since(sim_start).as_secs_f64() / factor;
        let real_slot = wall_start
            .checked_add(jiff::SignedDuration::from_secs_f64(ahead))
            .unwrap();
        lateness_ms.push(created.duration_since(real_slot).as_secs_f64() * 1000.0);
    }
    lateness_ms.sort_by(f64::total_cmp);
    println!(
        "serve schedules: {} runs fired in {:.1} s and finished in {:.1} s ({:.1} runs/s), clock {factor}x, statuses {statuses:?}",
        rows.len(),
        fired_in.as_secs_f64(),
        done_in.as_secs_f64(),
        rows.len() as f64 / done_in.as_secs_f64(),
    );
    println!(
        "serve schedules: lateness (real time from slot to queued run) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&lateness_ms, 0.5),
        quantile(&lateness_ms, 0.99),
        quantile(&lateness_ms, 1.0),
    );
    println!(
        "serve schedules: host RSS before {:.1} MB, after {:.1} MB, peak {:.1} MB",
        rss_before as f64 / 1024.0,
        rss_now as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );

    // Phase 2 and 3 over HTTP.
    let state = exorun_serve::api::AppState {
        service: service.clone(),
        logins: Arc::default(),
        secure_cookies: false,
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(exorun_serve::listen::serve(
        listener,
        None,
        exorun_serve::api::router(state),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let ids: Vec<String> = service
        .store
        .blocking(|c| {
            let mut stmt = c.prepare("SELECT id FROM runs ORDER BY seq DESC LIMIT 100")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    let (api, requests) = runtime.block_on(async {
        let until = Instant::now() + Duration::from_secs(API_SECONDS);
        let clients: Vec<_> = (0..API_CLIENTS)
            .map(|i| {
                let url = format!("{url}/api/v1/runs/{}", ids[i % ids.len()]);
                let token = token.clone();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut samples = Vec::new();
                    while Instant::now() < until {
                        let at = Instant::now();
                        let response = client.get(&url).bearer_auth(&token).send().await;
                        let ok = match response {
                            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        assert!(ok, "GET {url} failed");
                        samples.push(at.elapsed().as_secs_f64() * 1000.0);
                    }
                    samples
                })
            })
            .collect();
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.expect("client"));
        }
        let n = all.len();
        all.sort_by(f64::total_cmp);
        (all, n)
    });
    println!(
        "serve api: {API_CLIENTS} clients polling run status for {API_SECONDS} s: {requests} requests ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms",
        requests as f64 / API_SECONDS as f64,
        quantile(&api, 0.5),
        quantile(&api, 0.99)
    );

    let page = runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{url}/runs/{}", ids[0]);
        let mut samples = Vec::with_capacity(PAGE_LOADS);
        for _ in 0..PAGE_LOADS {
            let at = Instant::now();
            let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body = response.text().await.unwrap();
            samples.push(at.elapsed().as_secs_f64() * 1000.0);
            assert!(body.contains("data-final=\"true\""), "{body}");
        }
        samples.sort_by(f64::total_cmp);
        samples
    });
    let p99 = quantile(&page, 0.99);
    println!(
        "serve dashboard: run page p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target <= 50 ms: {})",
        quantile(&page, 0.5),
        p99,
        quantile(&page, 1.0),
        if p99 <= 50.0 { "met" } else { "MISSED" }
    );

    let _ = stop_tx.send(());
    runtime.block_on(service.shutdown(Duration::from_secs(5)));
    let _ = runtime.block_on(server);
    drop(sim);
}
