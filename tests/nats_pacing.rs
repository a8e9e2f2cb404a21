//! One tenant budget across machines: the limiter's pacing state kept in
//! a NATS JetStream key-value bucket (`exorun_nats::NatsPace`), against a
//! real `nats-server -js` on 127.0.0.1. Each store here has its own
//! connection, as on its own machine.

use std::time::Duration;

use exorun_e2e::{Nats, SimHarness};
use exorun_exchange::client::limiter::PaceStore;
use exorun_exchange::client::limiter::pace::PaceRules;
use exorun_nats::{NatsLink, NatsPace, PACE_BUCKET};

fn rules() -> PaceRules {
    PaceRules {
        safety: 1.0,
        max_hold: Duration::from_secs(30),
        decrease: 0.5,
        recovery_per_second: 0.25,
        min_share: 1.0 / 32.0,
    }
}

/// A store on its own connection, as another machine's.
fn machine(nats: &Nats, name: &str) -> NatsPace {
    let link = NatsLink::start(&nats.url, PACE_BUCKET, Duration::from_secs(5)).unwrap();
    NatsPace::new(link, name, rules())
}

/// The keys in the pacing bucket, read through a connection of the test's
/// own.
async fn pace_keys(url: &str) -> Vec<String> {
    let client = async_nats::connect(url).await.unwrap();
    let kv = async_nats::jetstream::new(client)
        .get_key_value(PACE_BUCKET)
        .await
        .unwrap();
    futures::TryStreamExt::try_collect(kv.keys().await.unwrap())
        .await
        .unwrap()
}

#[test]
fn two_machines_take_their_slots_from_one_schedule() {
    let nats = Nats::start();
    let a = machine(&nats, "https://outlook.office365.com\ncontoso\napp");
    let b = machine(&nats, "https://outlook.office365.com\ncontoso\napp");
    // One token a second, none left.
    a.update(&mut |s, now| {
        s.rate = 1.0;
        s.burst = 1.0;
        s.tokens = 0.0;
        s.tokens_at = now;
    });
    let mut first = 0;
    a.update(&mut |s, now| first = s.reserve(now, &rules()));
    let mut second = 0;
    b.update(&mut |s, now| second = s.reserve(now, &rules()));
    assert!(second >= first + 900_000_000, "{first} {second}");
    assert_eq!(b.read().rate, 1.0);
    // Another tenant is another key, with a budget of its own.
    let c = machine(&nats, "https://outlook.office365.com\nfabrikam\napp");
    assert_ne!(c.key(), a.key());
    assert!(!c.read().paced());
}

#[test]
fn concurrent_updates_from_many_machines_lose_none() {
    let nats = Nats::start();
    let name = "https://outlook.office365.com\ncontoso\napp";
    let stores: Vec<NatsPace> = (0..4).map(|_| machine(&nats, name)).collect();
    std::thread::scope(|scope| {
        for store in &stores {
            scope.spawn(move || {
                for _ in 0..25 {
                    store.update(&mut |s, now| {
                        s.pending += 1;
                        s.last_send = now;
                    });
                }
            });
        }
    });
    assert_eq!(stores[0].read().pending, 100);
}

#[test]
fn without_nats_a_machine_paces_alone_and_rejoins_when_it_is_back() {
    let mut nats = Nats::start();
    let name = "https://outlook.office365.com\ncontoso\napp";
    let link = NatsLink::start(&nats.url, PACE_BUCKET, Duration::from_millis(250)).unwrap();
    let a = NatsPace::new(link, name, rules());
    a.update(&mut |s, now| {
        s.pending = 1;
        s.last_send = now;
    });
    nats.stop();
    // NATS is gone: the update still happens, on this machine's state.
    a.update(&mut |s, now| {
        s.pending += 1;
        s.last_send = now;
    });
    assert_eq!(a.read().pending, 2, "the local state goes on");
    // Back (its in-memory bucket lost): after the pause, the machine
    // writes to NATS again, where another machine reads it.
    nats.resume();
    let b = machine(&nats, name);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        a.update(&mut |s, now| {
            s.pending = 7;
            s.last_send = now;
        });
        if b.read().pending == 7 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the machine never wrote to NATS again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_separate_machines_share_one_budget_through_nats_and_none_fails() {
    let nats = Nats::start();
    // Three runs of 302 calls each against 150 calls a second, each with
    // a state folder of its own, as on three machines: only NATS links
    // their pacing.
    let h = SimHarness::throttled_audit(300, 150.0).await;
    let results = h
        .concurrent_audits(
            3,
            |i| Some(h.path(&format!("state-{i}"))),
            &["--pace-nats", &nats.url],
        )
        .await;
    for (code, stderr, _) in &results {
        assert_eq!(*code, 0, "{stderr}");
        assert!(!stderr.contains("pacing this process alone"), "{stderr}");
    }
    assert_eq!(results[0].2, results[1].2);
    assert_eq!(results[1].2, results[2].2);
    let answered = h.sim.invoke_requests() - h.sim.throttled_requests();
    assert_eq!(answered, 3 * 302);
    eprintln!(
        "{} requests answered 429 of {}",
        h.sim.throttled_requests(),
        h.sim.invoke_requests()
    );
    // The shared state is one key for the tenant and app, in the bucket.
    let keys = pace_keys(&nats.url).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("pace."), "{keys:?}");
}

#[tokio::test]
async fn the_service_paces_its_tenants_through_nats_when_serve_toml_says_so() {
    let nats = Nats::start();
    let dir = exorun_e2e::ServeDir::new(&format!("pace-nats = \"{}\"", nats.url));
    let service = dir.start();
    let id = service
        .start_run("alice", "mailbox-report", serde_json::json!({}))
        .await;
    let run = service.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let keys = pace_keys(&nats.url).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let stderr = service.terminate();
    assert!(!stderr.contains("pacing this process alone"), "{stderr}");
}

#[test]
fn a_nats_url_with_a_password_is_refused_before_anything_runs() {
    let plugin = exorun_e2e::built_plugin("plugins/mailbox-report");
    let out = exorun_e2e::exorun_in(
        &exorun_e2e::repo_root(),
        &[
            "run",
            plugin.parent().unwrap().to_str().unwrap(),
            "--pace-nats",
            "nats://ops:hunter2@127.0.0.1:4222",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("must not carry a user or password"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}
