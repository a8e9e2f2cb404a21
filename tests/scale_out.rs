//! Runs on many machines: `exorun serve` queues runs on a real
//! `nats-server -js`, `exorun worker` processes take them, and a simulated
//! tenant in this process answers them all (so its state is one). Workers
//! are killed with SIGKILL as on a lost machine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use exorun_e2e::{Nats, ServeDir, Serving, SimHarness, WorkerProcess};
use serde_json::{Value, json};

/// A simulated tenant, NATS, and a service folder whose tenant `contoso`
/// is a profile for the simulator (so that the service and every worker
/// reach the same tenant).
struct Cluster {
    /// Serves the tenant for as long as the cluster lives.
    _tenant: SimHarness,
    nats: Nats,
    dir: ServeDir,
}

impl Cluster {
    /// `per_second`: the tenant's budget (0: unthrottled); `max_deliver`
    /// and a 3 s `ack-wait` keep redeliveries quick.
    async fn start(
        plugin: &str,
        mailboxes: usize,
        seed: u64,
        per_second: f64,
        limit: u32,
    ) -> Cluster {
        Self::start_with(plugin, mailboxes, seed, per_second, limit, "").await
    }

    /// As [`Cluster::start`], with `extra` serve.toml before `[queue]`.
    async fn start_with(
        plugin: &str,
        mailboxes: usize,
        seed: u64,
        per_second: f64,
        limit: u32,
        extra: &str,
    ) -> Cluster {
        let sim = SimHarness::start_with(plugin, mailboxes, seed, |config| {
            if per_second > 0.0 {
                config.throttle = exorun_sim::ThrottleConfig {
                    budget_per_second: per_second,
                    burst: per_second,
                    max_concurrency: 1_000_000,
                };
            }
        })
        .await;
        let nats = Nats::start();
        let profiles = sim.path("config.toml");
        std::fs::write(&profiles, sim.profile("contoso")).unwrap();
        let mut dir = ServeDir::with_tenants(
            &format!(
                "{extra}[queue]\nnats = \"{}\"\nack-wait-seconds = 3\nmax-deliver = 3\nlease-seconds = 3\n",
                nats.url
            ),
            &format!(
                "[[tenant]]\nname = \"contoso\"\nprofile = \"contoso\"\nmax-concurrent-runs = {limit}\n"
            ),
        );
        dir.env.push(("EXORUN_CONFIG".to_owned(), profiles));
        Cluster {
            _tenant: sim,
            nats,
            dir,
        }
    }

    fn workers(&self, names: &[&str]) -> HashMap<String, WorkerProcess> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), self.dir.start_worker("serve.toml", n)))
            .collect()
    }

    fn worker_audit(&self, name: &str) -> Vec<Value> {
        read_jsonl(
            &self
                .dir
                .path()
                .join(format!("data/audit-worker-{name}.jsonl")),
        )
    }
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Records of `kind` for `run` in a worker's audit trail.
fn records<'a>(audit: &'a [Value], run: &str, kind: &str) -> Vec<&'a Value> {
    audit
        .iter()
        .filter(|r| r["runId"] == run && r["kind"] == kind)
        .collect()
}

/// Waits until `check` holds for the run (120 s at most).
async fn wait_until(service: &Serving, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = service.get("vic", &format!("/runs/{id}")).await;
        if check(&run["run"]) {
            return run;
        }
        assert!(Instant::now() < deadline, "run {id}: {run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The plan a two-person what-if run submitted, once it waits for approval.
async fn planned(service: &Serving, what_if: &str) -> String {
    let run = service
        .wait_for(what_if, &["awaiting-approval", "failed"])
        .await;
    assert_eq!(run["run"]["status"], "awaiting-approval", "{run}");
    run["run"]["plan_id"].as_str().unwrap().to_owned()
}

/// bob approves the plan; the id of its apply run.
async fn approved(service: &Serving, plan_id: &str) -> String {
    let (status, body) = service
        .post(
            "bob",
            &format!("/plans/{plan_id}/approve"),
            json!({"sha256": plan_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["apply_run"]["id"].as_str().unwrap().to_owned()
}

/// The most runs that were running at once, from their start and end.
fn max_overlap(runs: &[Value]) -> usize {
    let mut edges: Vec<(String, i32)> = Vec::new();
    for r in runs {
        edges.push((r["started_at"].as_str().unwrap().to_owned(), 1));
        edges.push((r["ended_at"].as_str().unwrap().to_owned(), -1));
    }
    // At one instant, an end before a start.
    edges.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        max = max.max(now);
    }
    max as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_the_runs_and_never_exceed_the_tenants_limit() {
    let cluster = Cluster::start("tests/plugins/ops-probe", 50, 5, 0.0, 2).await;
    let service = cluster.dir.start();
    let workers = cluster.workers(&["w1", "w2", "w3"]);
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(
            service
                .start_run("alice", "ops-probe", json!({"calls": "40"}))
                .await,
        );
    }
    let mut runs = Vec::new();
    for id in &ids {
        let run = service.wait_for(id, &["succeeded", "failed"]).await;
        assert_eq!(run["run"]["status"], "succeeded", "{run}");
        assert_eq!(run["run"]["calls"], 40, "{run}");
        runs.push(run["run"].clone());
    }
    let used: BTreeSet<String> = runs
        .iter()
        .map(|r| r["worker"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        used.is_subset(&["w1", "w2", "w3"].map(String::from).into()),
        "{used:?}"
    );
    assert!(used.len() >= 2, "one worker took every run: {used:?}");
    let overlap = max_overlap(&runs);
    assert!(
        overlap <= 2,
        "{overlap} runs of one tenant at once; its limit is 2"
    );
    println!("workers used: {used:?}; most runs at once: {overlap}");

    // Each run started once, on the worker the history names, and each
    // worker's audit chain holds together.
    for name in ["w1", "w2", "w3"] {
        let audit = cluster.worker_audit(name);
        for run in &runs {
            let id = run["id"].as_str().unwrap();
            let starts = records(&audit, id, "run-start").len();
            let expected = usize::from(run["worker"] == name);
            assert_eq!(starts, expected, "{name} {id}");
            if expected == 1 {
                assert_eq!(records(&audit, id, "run-end").len(), 1, "{name} {id}");
            }
        }
    }
    // The workers' chains, verified together.
    let chains: Vec<String> = used
        .iter()
        .map(|name| {
            cluster
                .dir
                .path()
                .join(format!("data/audit-worker-{name}.jsonl"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["audit", "verify"];
    args.extend(chains.iter().map(String::as_str));
    let verify = exorun_e2e::exorun(&args);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert_eq!(
        verify.stdout.matches(": ok, ").count(),
        chains.len(),
        "{}",
        verify.stdout
    );
    // The service's own trail names the worker of each run.
    let named: Vec<Value> = cluster
        .dir
        .audit()
        .into_iter()
        .filter(|r| r["action"] == "run.worker")
        .collect();
    assert_eq!(named.len(), 12, "{named:?}");
    for record in &named {
        let run = runs.iter().find(|r| r["id"] == record["runId"]).unwrap();
        assert_eq!(
            record["operator"],
            format!("worker:{}", run["worker"].as_str().unwrap())
        );
    }
    // A tenant added through the API would be unknown to the workers.
    let (status, body) = service
        .post(
            "ada",
            "/tenants",
            json!({"name": "northwind", "simulated": true}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("add the tenant to the serve.toml the service and the workers share"),
        "{body}"
    );
    for (_, worker) in workers {
        let stderr = worker.terminate();
        assert!(stderr.contains("taking no more runs"), "{stderr}");
    }
    service.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_run_whose_worker_is_killed_runs_again_on_another() {
    // 40 calls a second: 200 calls take about five seconds.
    let cluster = Cluster::start("tests/plugins/ops-probe", 50, 5, 40.0, 2).await;
    let service = cluster.dir.start();
    let mut workers = cluster.workers(&["w1", "w2"]);
    let id = service
        .start_run("alice", "ops-probe", json!({"calls": "200"}))
        .await;
    let running = wait_until(&service, &id, |r| {
        r["status"] == "running" && r["worker"].is_string() && r["calls"].as_i64() > Some(5)
    })
    .await;
    let first = running["run"]["worker"].as_str().unwrap().to_owned();
    // The tenants page counts runs on workers too.
    let tenants = service.get("vic", "/tenants").await;
    assert_eq!(tenants["tenants"][0]["running"], 1, "{tenants}");
    workers.remove(&first).unwrap().kill();

    let run = service
        .wait_for(&id, &["succeeded", "failed", "interrupted"])
        .await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let second = run["run"]["worker"].as_str().unwrap();
    assert_ne!(second, first, "{run}");
    assert_eq!(run["run"]["calls"], 200, "{run}");
    let log = service.get("vic", &format!("/runs/{id}/log")).await;
    assert!(
        log.to_string()
            .contains("attempt 2: an earlier attempt stopped before its end was on record, and recorded no write"),
        "{log}"
    );
    // The first attempt left a start without an end; the second both.
    let killed = cluster.worker_audit(&first);
    assert_eq!(records(&killed, &id, "run-start").len(), 1);
    assert_eq!(records(&killed, &id, "run-end").len(), 0);
    let other = cluster.worker_audit(second);
    assert_eq!(records(&other, &id, "run-start").len(), 1);
    assert_eq!(records(&other, &id, "run-end").len(), 1);
    service.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_run_whose_worker_is_killed_waits_for_an_operator_and_sends_no_write_twice() {
    let cluster = Cluster::start("tests/plugins/forwarding-cleanup", 120, 1, 40.0, 2).await;
    let service = cluster.dir.start();
    let mut workers = cluster.workers(&["w1", "w2"]);
    let id = service
        .start_run("alice", "forwarding-cleanup", json!({}))
        .await;
    // Killed once it recorded a write's intent.
    let deadline = Instant::now() + Duration::from_secs(120);
    let first = loop {
        let found = ["w1", "w2"]
            .into_iter()
            .find(|w| !records(&cluster.worker_audit(w), &id, "intent").is_empty());
        if let Some(w) = found {
            break w.to_owned();
        }
        assert!(Instant::now() < deadline, "no write intent recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    workers.remove(&first).unwrap().kill();

    let run = service
        .wait_for(&id, &["succeeded", "failed", "interrupted"])
        .await;
    assert_eq!(run["run"]["status"], "interrupted", "{run}");
    assert_eq!(run["run"]["error_kind"], "operator-decision", "{run}");
    let message = run["run"]["error_message"].as_str().unwrap();
    assert!(
        message.contains(&format!("attempt 1 on {first}"))
            && message.contains("It is not run again by itself")
            && message.contains("Writes intended: "),
        "{message}"
    );
    // The message counts the intents the killed worker's trail holds, and
    // names their cmdlets; no other worker started the run, so no write
    // was sent a second time.
    let killed = cluster.worker_audit(&first);
    let intents = records(&killed, &id, "intent");
    assert!(
        message.contains(&format!("intent of {} write(s)", intents.len())),
        "{message}"
    );
    for intent in &intents {
        assert!(
            message.contains(intent["cmdlet"].as_str().unwrap()),
            "{message}"
        );
    }
    let other = if first == "w1" { "w2" } else { "w1" };
    assert!(
        records(&cluster.worker_audit(other), &id, "run-start").is_empty(),
        "the run ran again"
    );
    // Nor does it later: the message was acknowledged.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(records(&cluster.worker_audit(other), &id, "run-start").is_empty());
    assert_eq!(
        service.get("vic", &format!("/runs/{id}")).await["run"]["status"],
        "interrupted"
    );
    service.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_plugin_steps_aside_and_a_run_nobody_can_run_is_a_dead_letter() {
    let cluster = Cluster::start("tests/plugins/ops-probe", 20, 5, 0.0, 2).await;
    // The same config with an empty plugin store: a worker that lacks
    // every plugin.
    let text = std::fs::read_to_string(cluster.dir.path().join("serve.toml")).unwrap();
    std::fs::write(
        cluster.dir.path().join("bare.toml"),
        text.replace(
            "data-dir = \"data\"\n",
            "data-dir = \"data\"\nplugins-dir = \"no-plugins\"\n",
        ),
    )
    .unwrap();
    let service = cluster.dir.start();
    let bare = cluster.dir.start_worker("bare.toml", "bare");
    let id = service
        .start_run("alice", "ops-probe", json!({"calls": "3"}))
        .await;
    let run = service.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert_eq!(run["run"]["error_kind"], "dead-letter", "{run}");
    assert!(
        run["run"]["error_message"]
            .as_str()
            .unwrap()
            .starts_with("after 3 deliveries no worker could run it; the last, bare, said: "),
        "{run}"
    );
    let dead = service.get("vic", "/dead-letters").await;
    let letters = dead["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{dead}");
    assert_eq!(letters[0]["run"], id.as_str());
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(letters[0]["worker"], "bare");
    assert_eq!(letters[0]["plugin"], "ops-probe");
    // The dashboard lists it too.
    let page = dashboard_runs_page(&service).await;
    assert!(
        page.contains("Dead letters") && page.contains(&id[..8]),
        "{page}"
    );

    // With a worker that has it, the next run runs there. This one's
    // config has no [queue]: `--nats` names the server.
    let text = std::fs::read_to_string(cluster.dir.path().join("serve.toml")).unwrap();
    let start = text.find("[queue]").unwrap();
    let end = text.find("[[tenant]]").unwrap();
    std::fs::write(
        cluster.dir.path().join("plain.toml"),
        format!("{}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    let full = cluster
        .dir
        .start_worker_with("plain.toml", "full", &["--nats", &cluster.nats.url]);
    let id = service
        .start_run("alice", "ops-probe", json!({"calls": "3"}))
        .await;
    let run = service.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["worker"], "full", "{run}");
    assert!(bare.stderr().contains("this worker cannot run the plugin"));
    full.terminate();
    bare.terminate();
    service.terminate();
}

/// The Runs page as vic sees it.
async fn dashboard_runs_page(service: &Serving) -> String {
    let response = service
        .client
        .get(format!("{}/runs", service.url))
        .bearer_auth(&service.tokens["vic"])
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_queued_while_nats_restarts_are_not_lost() {
    let mut cluster = Cluster::start("tests/plugins/ops-probe", 20, 5, 0.0, 2).await;
    let service = cluster.dir.start();
    let workers = cluster.workers(&["w1", "w2"]);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            service
                .start_run("alice", "ops-probe", json!({"calls": "20"}))
                .await,
        );
    }
    cluster.nats.stop();
    // Asked for while NATS is down: queued in the history, sent once it is
    // back.
    for _ in 0..4 {
        ids.push(
            service
                .start_run("alice", "ops-probe", json!({"calls": "20"}))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.nats.resume();
    for _ in 0..4 {
        ids.push(
            service
                .start_run("alice", "ops-probe", json!({"calls": "20"}))
                .await,
        );
    }
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let run = service
            .wait_for(id, &["succeeded", "failed", "interrupted"])
            .await;
        assert_eq!(run["run"]["status"], "succeeded", "{run}");
        *by_worker
            .entry(run["run"]["worker"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // Each run started on some worker. A run whose worker could not say
    // "still running" while NATS was away may have been delivered again and
    // run a second time: allowed only because it recorded no write, and
    // said so in its log.
    let audits: Vec<Vec<Value>> = ["w1", "w2"]
        .iter()
        .map(|w| cluster.worker_audit(w))
        .collect();
    let mut again = 0;
    for id in &ids {
        let starts: usize = audits
            .iter()
            .map(|a| records(a, id, "run-start").len())
            .sum();
        let intents: usize = audits.iter().map(|a| records(a, id, "intent").len()).sum();
        assert!(starts >= 1, "run {id} never started");
        assert_eq!(intents, 0, "run {id}");
        if starts > 1 {
            again += 1;
            let log = service.get("vic", &format!("/runs/{id}/log")).await;
            assert!(
                log.to_string()
                    .contains("recorded no write; the run runs again"),
                "{log}"
            );
        }
    }
    println!("runs run again after the outage: {again}");
    println!("runs per worker: {by_worker:?}");
    for (_, w) in workers {
        w.terminate();
    }
    service.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_service_instances_fire_each_slot_once_and_the_other_takes_over_when_the_leader_dies() {
    let cluster = Cluster::start("tests/plugins/ops-probe", 20, 5, 0.0, 2).await;
    let a = cluster.dir.start_instance("a");
    wait_for_text(|| a.stderr(), "instance a fires the schedules now").await;
    let b = cluster.dir.start_instance("b");
    let _worker = cluster.dir.start_worker("serve.toml", "w1");
    let schedule = json!({"name": "every-minute", "plugin": "ops-probe", "tenant": "contoso",
        "cron": "* * * * *", "inputs": {"calls": "2"}});
    let (status, body) = b.post("ada", "/schedules", schedule).await;
    assert!(status == 200 || status == 201, "{body}");

    let scheduled = |runs: &Value| -> Vec<Value> {
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["schedule"] == "every-minute")
            .cloned()
            .collect()
    };
    // The first slot fires once; b, which does not lead, sees it too.
    let deadline = Instant::now() + Duration::from_secs(90);
    let first = loop {
        let runs = scheduled(&b.get("vic", "/runs?limit=50").await);
        if let Some(run) = runs.first() {
            break run.clone();
        }
        assert!(Instant::now() < deadline, "no slot fired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let id = first["id"].as_str().unwrap();
    let run = b.wait_for(id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert!(
        !b.stderr().contains("fires the schedules now"),
        "{}",
        b.stderr()
    );

    // The leader dies; b takes over within the lease and fires the next slot.
    a.kill();
    wait_for_text(|| b.stderr(), "instance b fires the schedules now").await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let runs = loop {
        let runs = scheduled(&b.get("vic", "/runs?limit=50").await);
        if runs.len() >= 2 {
            break runs;
        }
        assert!(Instant::now() < deadline, "no second slot fired: {runs:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let slots: BTreeSet<&str> = runs.iter().map(|r| r["slot"].as_str().unwrap()).collect();
    assert_eq!(slots.len(), runs.len(), "a slot fired twice: {runs:?}");
    let fired = cluster
        .dir
        .audit()
        .into_iter()
        .filter(|r| r["action"] == "schedule.fire")
        .count();
    assert_eq!(fired, runs.len());
    b.terminate();
}

/// Waits (30 s at most) until `text` shows in what `read` returns.
async fn wait_for_text(read: impl Fn() -> String, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read().contains(text) {
        assert!(Instant::now() < deadline, "never said '{text}': {}", read());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_put_on_nats_without_the_queue_key_neither_run_nor_change_the_history() {
    let cluster = Cluster::start("tests/plugins/ops-probe", 20, 5, 0.0, 2).await;
    let service = cluster.dir.start();
    let worker = cluster.dir.start_worker("serve.toml", "w1");
    let id = service
        .start_run("alice", "ops-probe", json!({"calls": "2"}))
        .await;
    let run = service.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");

    // Someone with access to NATS, but not to the key.
    let js = async_nats::jetstream::new(async_nats::connect(&cluster.nats.url).await.unwrap());
    let order = json!({"id": "forged-run", "plugin": "ops-probe", "tenant": "contoso",
        "requested_by": "user:ada", "inputs": [["calls", "1"]], "schedule": null});
    let body = serde_json::to_vec(&order).unwrap();
    let mut wrong_key = "ab".repeat(32).into_bytes();
    wrong_key.push(b'\n');
    wrong_key.extend_from_slice(&body);
    for payload in [body.clone(), wrong_key] {
        js.publish("exorun.runs.t-contoso", payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // A forged end for the run that succeeded.
    let end = json!({"run": id, "worker": "w1", "attempt": 1, "event": "ended",
        "end": {"status": "failed", "counts": {"calls": 0, "denied": 0, "failed": 0, "objects": 0,
        "progress_done": 0, "progress_total": null, "writes_unknown": 0}, "error_kind": "forged",
        "error_message": "forged", "output": null, "outputs_folder": null, "plan_id": null}});
    js.publish(
        format!("exorun.events.{id}"),
        serde_json::to_vec(&end).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let letters = loop {
        let dead = service.get("vic", "/dead-letters").await;
        let letters = dead["dead_letters"].as_array().unwrap().clone();
        if letters.len() >= 2 {
            break letters;
        }
        assert!(Instant::now() < deadline, "{dead}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in &letters {
        assert_eq!(
            letter["reason"],
            "refused, not run: the message is not sealed with this queue's key"
        );
        assert_eq!(letter["worker"], "w1");
    }
    assert!(records(&cluster.worker_audit("w1"), "forged-run", "run-start").is_empty());
    let run = service.get("vic", &format!("/runs/{id}")).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let (status, _) = service
        .call(Some("vic"), "GET", "/runs/forged-run", None)
        .await;
    assert_eq!(status, 404);
    worker.terminate();

    // A worker without the key refuses to start, saying where it comes from.
    let text = std::fs::read_to_string(cluster.dir.path().join("serve.toml")).unwrap();
    std::fs::write(
        cluster.dir.path().join("nokey.toml"),
        text.replace(
            "lease-seconds = 3\n",
            "lease-seconds = 3\nkey-file = \"missing.key\"\n",
        ),
    )
    .unwrap();
    let out = exorun_e2e::exorun_in(
        cluster.dir.path(),
        &["worker", "--config", "nokey.toml", "--name", "x"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot read the queue key")
            && out.stderr.contains("copy it from the service's machine"),
        "{}",
        out.stderr
    );
    service.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_handed_back_between_two_steps_resumes_at_the_next_and_sends_no_change_twice() {
    let cluster = Cluster::start_with(
        "tests/plugins/forwarding-cleanup",
        120,
        1,
        0.0,
        2,
        "[limits]\ngrace-seconds = 1\n[[plugin]]\nname = \"forwarding-cleanup\"\napproval = \"two-person\"\n",
    )
    .await;
    let service = cluster.dir.start();
    let w1 = cluster.dir.start_worker("serve.toml", "w1");
    // The what-if runs in the service; its plan waits for bob.
    let what_if = service
        .start_run("alice", "forwarding-cleanup", json!({}))
        .await;
    let plan_id = planned(&service, &what_if).await;
    let plan = service.get("vic", &format!("/plans/{plan_id}")).await;
    let changes = plan["plan"]["calls"].as_u64().unwrap() as usize;
    assert!(changes >= 4, "{plan}");
    // Each change now takes 300 ms, so the apply can be stopped midway.
    cluster._tenant.sim.faults().set(exorun_sim::FaultConfig {
        latency_ms: 300,
        ..Default::default()
    });
    let apply = approved(&service, &plan_id).await;
    assert_ne!(apply, what_if);

    // w1 stops (SIGTERM, a grace of one second) after two changes: the
    // apply stops between two steps and goes back to the queue.
    let deadline = Instant::now() + Duration::from_secs(120);
    while records(&cluster.worker_audit("w1"), &apply, "intent").len() < 2 {
        assert!(Instant::now() < deadline, "w1 sent no change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w1.terminate();
    let first = records(&cluster.worker_audit("w1"), &apply, "intent").len();
    assert!(first >= 2 && first < changes, "{first} of {changes}");
    let _w2 = cluster.dir.start_worker("serve.toml", "w2");
    let run = service
        .wait_for(&apply, &["succeeded", "failed", "interrupted"])
        .await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["worker"], "w2", "{run}");
    let log = service.get("vic", &format!("/runs/{apply}/log")).await;
    assert!(
        log.to_string().contains(&format!(
            "attempt 2: an earlier attempt stopped between two steps with the outcome of all {first} change(s) it sent known; the apply resumes at step {} on w2",
            first + 1
        )),
        "{log}"
    );
    // Every change of the plan was sent exactly once, over both workers.
    let mut sent: Vec<String> = Vec::new();
    for w in ["w1", "w2"] {
        for intent in records(&cluster.worker_audit(w), &apply, "intent") {
            sent.push(format!("{} {}", intent["cmdlet"], intent["parameters"]));
        }
    }
    assert_eq!(sent.len(), changes, "{sent:?}");
    let unique: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(unique.len(), changes, "a change was sent twice: {sent:?}");
    assert_eq!(
        records(&cluster.worker_audit("w2"), &apply, "intent").len(),
        changes - first
    );
    service.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_whose_plan_holds_a_secret_never_leaves_the_service() {
    let cluster = Cluster::start_with(
        "tests/plugins/ops-probe",
        20,
        5,
        0.0,
        2,
        "[[plugin]]\nname = \"ops-probe\"\napproval = \"two-person\"\n",
    )
    .await;
    let service = cluster.dir.start_instance("a");
    let _worker = cluster.dir.start_worker("serve.toml", "w1");
    // The plan holds Set-Mailbox -Password and a parameter the manifest
    // marks sensitive: the values the apply would send.
    let what_if = service
        .start_run("alice", "ops-probe", json!({"secret-call": "true"}))
        .await;
    let plan_id = planned(&service, &what_if).await;
    let apply = approved(&service, &plan_id).await;
    let run = service.wait_for(&apply, &["succeeded", "failed"]).await;
    // It ran in the service (the tenant refuses the parameters), and
    // nothing of it went through NATS.
    assert_eq!(run["run"]["worker"], "serve:a", "{run}");
    let js = async_nats::jetstream::new(async_nats::connect(&cluster.nats.url).await.unwrap());
    let events = js.get_stream("EXORUN_EVENTS").await.unwrap();
    assert!(
        events
            .direct_get_next_for_subject(format!("exorun.events.{apply}"), None)
            .await
            .is_err()
    );
    let mut runs = js.get_stream("EXORUN_RUNS").await.unwrap();
    let info = runs.info().await.unwrap();
    assert_eq!(info.state.last_sequence, 0, "a run went through NATS");
    service.terminate();
}
