//! `exorun serve` end to end: the real binary on 127.0.0.1 with a
//! simulated tenant, plugins installed from bundles, and users with every
//! role, driven through its HTTP API.

use std::time::Duration;

use exorun_e2e::{ServeDir, Serving};
use serde_json::{Value, json};

fn service_records<'a>(records: &'a [Value], action: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["kind"] == "service" && r["action"] == action)
        .collect()
}

async fn approve(service: &Serving, user: &str, plan: &str) -> (u16, Value) {
    service
        .post(
            user,
            &format!("/plans/{plan}/approve"),
            json!({"sha256": plan}),
        )
        .await
}

#[tokio::test]
async fn an_operators_run_is_queued_run_and_recorded_under_their_name() {
    let dir = ServeDir::new("");
    let service = dir.start();
    let id = service
        .start_run("alice", "mailbox-report", json!({}))
        .await;
    let run = service.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["requested_by"], "user:alice");
    assert_eq!(run["run"]["mode"], "run");
    assert!(run["run"]["calls"].as_i64().unwrap() > 1, "{run}");
    assert_eq!(run["run"]["denied"], 0);
    assert_eq!(run["run"]["plugin_version"], "0.1.0");

    // The output, as the dashboard offers it for download.
    let response = service
        .client
        .get(format!("{}/api/v1/runs/{id}/output", service.url))
        .bearer_auth(&service.tokens["vic"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"mailbox-report-{}.txt\"", &id[..8])
    );
    let csv = response.text().await.unwrap();
    assert!(csv.lines().count() > 10, "{csv}");

    // The audit trail joins who asked with what the run did.
    let records = dir.audit();
    let of_run: Vec<&Value> = records.iter().filter(|r| r["runId"] == id).collect();
    assert_eq!(of_run[0]["kind"], "service");
    assert_eq!(of_run[0]["action"], "run.start");
    assert_eq!(of_run[0]["operator"], "user:alice");
    assert_eq!(of_run[1]["kind"], "run-start");
    assert_eq!(of_run[1]["operator"], "user:alice");
    assert_eq!(of_run.last().unwrap()["kind"], "run-end");
    assert_eq!(of_run.last().unwrap()["status"], "ok");
    let verify = service.get("vic", "/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");

    // The tenant, connected by the run: its token, certificate and
    // throttling as they are now.
    let tenants = service.get("vic", "/tenants").await;
    let tenant = &tenants["tenants"][0];
    assert_eq!(tenant["connected"], true, "{tenants}");
    let detail = |label: &str| {
        tenant["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d[0] == label)
            .map(|d| d[1].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {label} in {tenants}"))
    };
    assert!(
        detail("access token").starts_with("valid until "),
        "{tenants}"
    );
    assert!(detail("certificate").starts_with("expires "), "{tenants}");
    // The adaptive limiter has opened up, and nothing was throttled.
    let throttling = detail("throttling");
    assert!(
        throttling.starts_with("0 throttled answer(s) so far; ")
            && throttling.ends_with(" call(s) at once allowed now"),
        "{throttling}"
    );
}

#[tokio::test]
async fn a_write_plan_waits_for_a_second_person_and_applies_exactly_once() {
    let dir = ServeDir::new("[[plugin]]\nname = \"forwarding-cleanup\"\napproval = \"two-person\"");
    let service = dir.start();
    // carol is an approver, and asks for the run herself.
    let id = service
        .start_run("carol", "forwarding-cleanup", json!({}))
        .await;
    let run = service
        .wait_for(&id, &["awaiting-approval", "succeeded", "failed"])
        .await;
    assert_eq!(run["run"]["status"], "awaiting-approval", "{run}");
    assert_eq!(run["run"]["mode"], "what-if");
    let plan = run["run"]["plan_id"].as_str().unwrap().to_owned();
    let shown = service.get("vic", &format!("/plans/{plan}")).await;
    assert_eq!(shown["sha256"], plan.as_str());
    let objects = shown["objects"].as_array().unwrap();
    assert!(!objects.is_empty(), "{shown}");
    let changes: usize = objects
        .iter()
        .map(|o| o["calls"].as_array().unwrap().len())
        .sum();
    assert_eq!(shown["plan"]["calls"], changes);

    // Nobody approves their own plan, a viewer or operator cannot approve,
    // and an approval must name the plan as reviewed.
    let (status, body) = approve(&service, "carol", &plan).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("own-plan")),
        "{body}"
    );
    let (status, body) = approve(&service, "alice", &plan).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("role")),
        "{body}"
    );
    let (status, body) = approve(&service, "vic", &plan).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("role")),
        "{body}"
    );
    let (status, body) = service
        .post(
            "bob",
            &format!("/plans/{plan}/approve"),
            json!({"sha256": "ab".repeat(32)}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("plan-changed")),
        "{body}"
    );
    assert_eq!(
        service.get("vic", &format!("/plans/{plan}")).await["plan"]["status"],
        "pending"
    );

    let (status, body) = approve(&service, "bob", &plan).await;
    assert_eq!(status, 200, "{body}");
    let apply = body["apply_run"]["id"].as_str().unwrap().to_owned();
    let applied = service.wait_for(&apply, &["succeeded", "failed"]).await;
    assert_eq!(applied["run"]["status"], "succeeded", "{applied}");
    assert_eq!(applied["run"]["mode"], "apply");
    assert_eq!(applied["run"]["requested_by"], "user:carol");
    assert_eq!(applied["run"]["calls"], changes);
    assert_eq!(
        service.get("vic", &format!("/runs/{id}")).await["run"]["status"],
        "approved"
    );

    // A second approval finds the plan decided.
    let (status, body) = approve(&service, "ada", &plan).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    // Refusals and the approval are in the trail, naming who.
    let records = dir.audit();
    let approvals = service_records(&records, "plan.approve");
    let decisions: Vec<(String, String, String)> = approvals
        .iter()
        .map(|r| {
            (
                r["operator"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
                r["rule"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expect = |who: &str, decision: &str, rule: &str| {
        (who.to_owned(), decision.to_owned(), rule.to_owned())
    };
    assert_eq!(
        decisions,
        vec![
            expect("user:carol", "denied", "own-plan"),
            expect("user:alice", "denied", "role"),
            expect("user:vic", "denied", "role"),
            expect("user:bob", "denied", "plan-changed"),
            expect("user:bob", "allowed", ""),
            expect("user:ada", "denied", "conflict"),
        ]
    );
    // The apply run's start names the plan it sent and who asked for it.
    let start = records
        .iter()
        .find(|r| r["runId"] == apply && r["kind"] == "run-start")
        .unwrap();
    assert_eq!(start["mode"], "apply");
    assert_eq!(start["plan"], plan.as_str());
    assert_eq!(start["operator"], "user:carol");
}

#[tokio::test]
async fn a_plan_file_changed_after_submission_is_never_applied() {
    let dir = ServeDir::new("[[plugin]]\nname = \"forwarding-cleanup\"\napproval = \"two-person\"");
    let service = dir.start();
    let id = service
        .start_run("alice", "forwarding-cleanup", json!({}))
        .await;
    let run = service
        .wait_for(&id, &["awaiting-approval", "failed"])
        .await;
    let plan = run["run"]["plan_id"].as_str().unwrap().to_owned();
    // Someone with access to the data folder edits the plan.
    let path = dir.path().join(format!("data/plans/{id}.plan.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"Set-Mailbox\"", "\"Set-Mailbox\" ", 1),
    )
    .unwrap();

    let (status, body) = approve(&service, "bob", &plan).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "plan-changed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the plan file was changed after it was submitted")
            || message.starts_with("the plan file cannot be read any more"),
        "{message}"
    );
    let records = dir.audit();
    assert!(
        records
            .iter()
            .all(|r| !(r["kind"] == "run-start" && r["mode"] == "apply")),
        "nothing was applied"
    );
    let refusal = service_records(&records, "plan.approve");
    assert_eq!(refusal.len(), 1);
    assert_eq!(refusal[0]["rule"], "plan-changed");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_refusals_are_audited() {
    let dir = ServeDir::new("");
    let service = dir.start();
    // No credentials, a garbage token, an unknown token.
    let (status, body) = service.call(None, "GET", "/runs", None).await;
    assert_eq!(status, 401, "{body}");
    let response = service
        .client
        .get(format!("{}/api/v1/runs", service.url))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "that is not an exorun API token (they start with exo_)"
    );

    // A viewer may not start runs.
    let (status, body) = service
        .post(
            "vic",
            "/runs",
            json!({"plugin": "mailbox-report", "tenant": "contoso"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "vic has the role viewer; starting runs needs the operator role or higher"
    );
    // Unknown fields, unknown tenants and plugins, bad inputs.
    let (status, body) = service
        .post(
            "alice",
            "/runs",
            json!({"plugin": "mailbox-report", "tenant": "contoso", "colour": "blue"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{body}"
    );
    let (status, body) = service
        .post(
            "alice",
            "/runs",
            json!({"plugin": "mailbox-report", "tenant": "fabrikam"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "the service has no tenant 'fabrikam'; it serves: contoso"
    );
    let (status, body) = service
        .post(
            "alice",
            "/runs",
            json!({"plugin": "nope", "tenant": "contoso"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no plugin 'nope' is installed in "),
        "{body}"
    );
    let (status, body) = service
        .post(
            "alice",
            "/runs",
            json!({"plugin": "ops-probe", "tenant": "contoso", "inputs": {"calls": "many"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("input 'calls' must be a integer")
            || body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("input 'calls' must be an integer"),
        "{body}"
    );
    let (status, body) = service.call(Some("alice"), "POST", "/runs", None).await;
    assert_eq!(status, 400, "{body}");

    // Managing schedules is the admin's: an operator is refused, and an
    // admin's invalid cron expression is refused with the field.
    let schedule = json!({"name": "nightly", "plugin": "mailbox-report", "tenant": "contoso", "cron": "0 2 * * *"});
    let (status, body) = service.post("alice", "/schedules", schedule.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("role")),
        "{body}"
    );
    let mut bad = schedule.clone();
    bad["cron"] = json!("0 25 * * *");
    let (status, body) = service.post("ada", "/schedules", bad).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "cron \"0 25 * * *\": hour '25' is not a value from 0 to 23"
    );
    let (status, body) = service.post("ada", "/schedules", schedule).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        service.get("vic", "/schedules/nightly").await["schedule"]["source"],
        "api"
    );

    // An unknown endpoint, and a run that does not exist.
    let (status, _) = service.call(Some("vic"), "GET", "/nothing", None).await;
    assert_eq!(status, 404);
    let (status, body) = service
        .call(Some("vic"), "GET", "/runs/no-such-run", None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "there is no run 'no-such-run'");

    // Every refusal of a known person is in the trail.
    let records = dir.audit();
    let refused: Vec<(String, String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "service" && r["decision"] == "denied")
        .map(|r| {
            (
                r["operator"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        refused,
        vec![
            row("user:vic", "run.start", "role"),
            row("user:alice", "run.start", "invalid"),
            row("user:alice", "run.start", "invalid"),
            row("user:alice", "run.start", "invalid"),
            row("user:alice", "schedule.put", "role"),
            row("user:ada", "schedule.put", "invalid"),
        ]
    );
}

#[tokio::test]
async fn revoked_expired_and_disabled_credentials_sign_nobody_in() {
    let dir = ServeDir::new("");
    // A token that expired at once, and a user whose access is taken away.
    let out = dir.exorun(&[
        "user",
        "add",
        "eve",
        "--role",
        "operator",
        "--token-days",
        "0",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expired = out.stdout.trim().to_owned();
    let service = dir.start();
    let (status, _) = service.call(Some("bob"), "GET", "/me", None).await;
    assert_eq!(status, 200);
    let out = dir.exorun(&["user", "disable", "bob"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (status, body) = service.call(Some("bob"), "GET", "/me", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "the API token was revoked; ask an admin for a new one"
    );
    let response = service
        .client
        .get(format!("{}/api/v1/me", service.url))
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "the API token has expired; ask an admin for a new one"
    );
    let records = dir.audit();
    let auth: Vec<&str> = service_records(&records, "auth")
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(auth, ["token-revoked", "token-expired"]);
}

#[tokio::test]
async fn logins_are_limited_and_sessions_need_their_csrf_token() {
    let dir = ServeDir::new("");
    let service = dir.start();
    let login = |user: &str, password: &str| {
        service
            .client
            .post(format!("{}/api/v1/login", service.url))
            .json(&json!({"user": user, "password": password}))
            .send()
    };
    for _ in 0..5 {
        let response = login("alice", "wrong password!!").await.unwrap();
        assert_eq!(response.status(), 401);
    }
    // Now even the right password waits.
    let response = login("alice", exorun_e2e::PASSWORD).await.unwrap();
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too many failed logins; try again in "),
        "{body}"
    );
    // Another user logs in and gets a session cookie and its CSRF token.
    let response = login("bob", exorun_e2e::PASSWORD).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrf"].as_str().unwrap().to_owned();
    let post = |csrf: Option<&str>| {
        let mut request = service
            .client
            .post(format!("{}/api/v1/runs", service.url))
            .header("cookie", &session)
            .json(&json!({"plugin": "mailbox-report", "tenant": "contoso"}));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let response = post(None).await.unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf");
    assert_eq!(post(Some("forged")).await.unwrap().status(), 403);
    assert_eq!(post(Some(&csrf)).await.unwrap().status(), 202);

    let records = dir.audit();
    let logins: Vec<(String, String)> = service_records(&records, "login")
        .iter()
        .map(|r| {
            (
                r["operator"].as_str().unwrap().to_owned(),
                r["rule"].as_str().unwrap_or("ok").to_owned(),
            )
        })
        .collect();
    assert_eq!(logins.len(), 7, "{logins:?}");
    assert_eq!(
        logins[4],
        ("user:alice".to_owned(), "bad-password".to_owned())
    );
    assert_eq!(
        logins[5],
        ("user:alice".to_owned(), "rate-limited".to_owned())
    );
    assert_eq!(logins[6], ("user:bob".to_owned(), "ok".to_owned()));
}

#[tokio::test]
async fn a_running_run_is_cancelled_by_an_operator() {
    let dir = ServeDir::new("");
    let service = dir.start();
    let id = service
        .start_run("alice", "ops-probe", json!({"calls": "150000"}))
        .await;
    service.wait_for(&id, &["running"]).await;
    let (status, body) = service
        .post("alice", &format!("/runs/{id}/cancel"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    let run = service.wait_for(&id, &["cancelled"]).await;
    assert_eq!(run["run"]["error_kind"], "cancelled");
    assert_eq!(run["run"]["cancelled_by"], "cancelled by alice");
    // Cancelling again: it has ended.
    let (status, _) = service
        .post("alice", &format!("/runs/{id}/cancel"), json!(null))
        .await;
    assert_eq!(status, 409);
    let records = dir.audit();
    let end = records
        .iter()
        .find(|r| r["runId"] == id && r["kind"] == "run-end")
        .unwrap();
    assert_eq!(end["error"], "cancelled");
}

#[tokio::test]
async fn sigterm_ends_runs_after_the_grace_period_and_a_restart_resumes_the_queue() {
    let dir = ServeDir::new(
        "[limits]\ngrace-seconds = 1\n[[plugin]]\nname = \"ops-probe\"\nmax-concurrent-runs = 1",
    );
    let service = dir.start();
    let long = service
        .start_run("alice", "ops-probe", json!({"calls": "150000"}))
        .await;
    service.wait_for(&long, &["running"]).await;
    // One run of ops-probe at a time: this one waits in the queue.
    let waiting = service
        .start_run("alice", "ops-probe", json!({"calls": "3"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        service.get("vic", &format!("/runs/{waiting}")).await["run"]["status"],
        "queued"
    );
    let stderr = service.terminate();
    assert!(
        stderr.contains("exorun serve: SIGTERM: no new runs; running runs get 1 s to finish"),
        "{stderr}"
    );

    let service = dir.start();
    let ended = service.get("vic", &format!("/runs/{long}")).await;
    assert_eq!(ended["run"]["status"], "interrupted", "{ended}");
    assert_eq!(ended["run"]["error_kind"], "cancelled");
    let resumed = service.wait_for(&waiting, &["succeeded", "failed"]).await;
    assert_eq!(resumed["run"]["status"], "succeeded", "{resumed}");
    // Nothing ran twice: one start record per run.
    let records = dir.audit();
    for id in [&long, &waiting] {
        let starts = records
            .iter()
            .filter(|r| r["runId"] == id.as_str() && r["kind"] == "run-start")
            .count();
        assert_eq!(starts, 1, "{id}");
    }
}

#[tokio::test]
async fn a_config_with_unknown_keys_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serve.toml"),
        "data-dir = \"data\"\n[limits]\nmax-concurent-runs = 4\n",
    )
    .unwrap();
    let out = exorun_e2e::exorun_in(dir.path(), &["serve", "--config", "serve.toml", "--check"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("serve.toml: TOML parse error at line 3")
            && out.stderr.contains("unknown field `max-concurent-runs`"),
        "{}",
        out.stderr
    );
}

/// Datagrams on `socket` until one holds a record with `until` (30 s at
/// most), each split into its syslog prefix and its record.
fn syslog_records(
    socket: &std::os::unix::net::UnixDatagram,
    until: impl Fn(&Value) -> bool,
) -> Vec<(String, String)> {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no syslog datagram ({e}) after {got:?}"));
        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
        let (prefix, record) = text.split_at(text.find('{').unwrap());
        let value: Value = serde_json::from_str(record).unwrap();
        got.push((prefix.to_owned(), record.to_owned()));
        if until(&value) {
            return got;
        }
    }
}

#[tokio::test]
async fn audit_records_stream_to_syslog_as_stored_across_a_rotation() {
    let socket_dir = tempfile::tempdir().unwrap();
    let socket_path = socket_dir.path().join("log");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    let dir = ServeDir::new(&format!(
        "[audit]\nstream = \"syslog\"\nsyslog-socket = \"{}\"\n",
        socket_path.display()
    ));
    let service = dir.start();
    let first = service
        .start_run("alice", "mailbox-report", json!({}))
        .await;
    service.wait_for(&first, &["succeeded"]).await;
    let mut streamed = syslog_records(&socket, |r| r["kind"] == "run-end" && r["runId"] == first);

    // Another process rotates the log while the service writes to it.
    let rotated = exorun_e2e::exorun_in(
        dir.path(),
        &["audit", "rotate", "--audit-log", "data/audit.jsonl"],
    );
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    assert!(
        rotated.stdout.contains("closed as segment"),
        "{}",
        rotated.stdout
    );
    let second = service
        .start_run("alice", "mailbox-report", json!({}))
        .await;
    service.wait_for(&second, &["succeeded"]).await;
    streamed.extend(syslog_records(&socket, |r| {
        r["kind"] == "run-end" && r["runId"] == second
    }));

    // Every datagram is `<authpriv.info>exorun[pid]: ` and a stored line,
    // byte for byte, in the chain's order with none missing.
    let segments = exorun_audit::segments(&dir.audit_path()).unwrap();
    assert_eq!(segments.len(), 1);
    let mut stored: Vec<String> = std::fs::read_to_string(&segments[0].1)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    stored.extend(
        std::fs::read_to_string(dir.audit_path())
            .unwrap()
            .lines()
            .map(str::to_owned),
    );
    let first_streamed = stored
        .iter()
        .position(|line| *line == streamed[0].1)
        .expect("the first streamed record is stored");
    for (i, (prefix, record)) in streamed.iter().enumerate() {
        assert!(
            prefix.starts_with("<86>exorun[") && prefix.ends_with("]: "),
            "{prefix}"
        );
        assert_eq!(*record, stored[first_streamed + i]);
    }
    let actions: Vec<Value> = streamed
        .iter()
        .map(|(_, r)| serde_json::from_str::<Value>(r).unwrap())
        .filter(|r| r["kind"] == "service" && r["action"] == "run.start")
        .map(|r| r["operator"].clone())
        .collect();
    assert_eq!(actions, vec![json!("user:alice"), json!("user:alice")]);

    let verify = service.get("vic", "/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(verify["segments"], 1, "{verify}");
    assert_eq!(verify["records"].as_u64().unwrap() as usize, stored.len());
    service.terminate();
    let cli = exorun_e2e::exorun_in(
        dir.path(),
        &["audit", "verify", "--audit-log", "data/audit.jsonl"],
    );
    assert_eq!(cli.code, 0, "{}", cli.stdout);
    assert!(
        cli.stdout
            .contains("in 1 segment and the active log, chain intact"),
        "{}",
        cli.stdout
    );
}

/// The service in this process, over a backend the test holds, with the
/// test plugins installed in `dir`.
async fn service_in_process(
    dir: &ServeDir,
    backend: std::sync::Arc<exorun_e2e::FakeBackend>,
) -> std::sync::Arc<exorun_serve::Service> {
    struct Fake(std::sync::Arc<exorun_e2e::FakeBackend>);
    #[async_trait::async_trait]
    impl exorun_serve::tenants::Connector for Fake {
        async fn connect(
            &self,
            _tenant: &exorun_serve::config::TenantConfig,
        ) -> anyhow::Result<exorun_serve::tenants::Connected> {
            Ok(exorun_serve::tenants::Connected {
                target: exorun_runner::Target {
                    name: "contoso.onmicrosoft.com".to_owned(),
                    app_id: "11111111-2222-3333-4444-555555555555".to_owned(),
                    backend: self.0.clone(),
                },
                policy: exorun_policy::Policy::none(),
                details: Vec::new(),
                live: None,
                keep_alive: Box::new(()),
            })
        }
    }
    let config = exorun_serve::ServeConfig::load(&dir.path().join("serve.toml")).unwrap();
    let sandbox = exorun_sandbox::Sandbox::new(exorun_e2e::sandbox_config()).unwrap();
    let service = exorun_serve::Service::open(
        config,
        exorun_serve::Parts {
            connector: std::sync::Arc::new(Fake(backend)),
            sandbox: std::sync::Arc::new(sandbox),
            clock: std::sync::Arc::new(exorun_serve::schedule::SystemClock),
            leader: std::sync::Arc::new(exorun_serve::schedule::AlwaysLeader),
            instance: None,
        },
    )
    .await
    .unwrap();
    service.start();
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_end_the_history_cannot_take_is_kept_and_written_once_it_can() {
    let dir = ServeDir::new("");
    let backend = std::sync::Arc::new(exorun_e2e::FakeBackend::with_delay(Duration::from_millis(
        1500,
    )));
    let service = service_in_process(&dir, backend.clone()).await;
    let alice = exorun_serve::service::Actor {
        name: "alice".to_owned(),
        role: exorun_serve::store::Role::Operator,
    };
    let run = service
        .start_run(
            &alice,
            exorun_serve::service::StartRun {
                plugin: "ops-probe".to_owned(),
                tenant: "contoso".to_owned(),
                inputs: vec![("calls".to_owned(), "1".to_owned())],
                what_if: false,
            },
        )
        .await
        .unwrap();
    // Wait for it to run, then let the history refuse every change to a
    // run's row, as a full disk would.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while service.run(&run.id).await.unwrap().status.as_str() != "running" {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service
        .store
        .blocking(|c| {
            c.execute_batch(
                "CREATE TEMP TRIGGER full_update BEFORE UPDATE ON runs \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END; \
                 CREATE TEMP TRIGGER full_insert BEFORE INSERT ON runs \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
            )?;
            Ok(())
        })
        .unwrap();
    // The run ends (its audit record says so) and the history still
    // shows it running: its end is held, not dropped.
    let run_end = || {
        dir.audit()
            .into_iter()
            .any(|r| r["kind"] == "run-end" && r["runId"] == run.id.as_str())
    };
    while !run_end() {
        assert!(std::time::Instant::now() < deadline, "the run never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        service.run(&run.id).await.unwrap().status.as_str(),
        "running"
    );
    // A new run cannot be recorded, so it is refused, saying why.
    let refused = service
        .start_run(
            &alice,
            exorun_serve::service::StartRun {
                plugin: "ops-probe".to_owned(),
                tenant: "contoso".to_owned(),
                inputs: Vec::new(),
                what_if: false,
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(refused, "the history database: database or disk is full");

    // Space returns: the end is written without anyone asking.
    service
        .store
        .blocking(|c| {
            c.execute_batch("DROP TRIGGER full_update; DROP TRIGGER full_insert;")?;
            Ok(())
        })
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let row = service.run(&run.id).await.unwrap();
        if row.status.is_final() {
            assert_eq!(row.status.as_str(), "succeeded", "{row:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the end was never written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_admin_adds_a_tenant_runs_against_it_and_removes_it_once_nothing_needs_it() {
    let dir = ServeDir::new("");
    let service = dir.start();
    let fabrikam = json!({"name": "fabrikam", "simulated": true, "sim_mailboxes": 20, "max_concurrent_runs": 1});

    // Only an admin, and only what can be served.
    let (status, body) = service.post("alice", "/tenants", fabrikam.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "alice has the role operator; managing tenants needs the admin role"
    );
    for (bad, expected) in [
        (
            json!({"name": "../x", "simulated": true}),
            "tenant name '../x' must be",
        ),
        (json!({"name": "x"}), "give profile"),
        (
            json!({"name": "x", "profile": "p", "simulated": true}),
            "not both",
        ),
        (
            json!({"name": "x", "simulated": true, "sim_mailboxes": 0}),
            "1 to 100000 mailboxes",
        ),
        (
            json!({"name": "x", "simulated": true, "max_concurrent_runs": 0}),
            "at least 1",
        ),
        (
            json!({"name": "x", "simulated": true, "secret": "y"}),
            "unknown field `secret`",
        ),
    ] {
        let (status, body) = service.post("ada", "/tenants", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{bad}: {body}"
        );
    }
    let (status, body) = service
        .post(
            "ada",
            "/tenants",
            json!({"name": "northwind", "profile": "no-such-profile-e2e"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("tenant 'northwind' cannot sign in: ")
            && message.ends_with("; nothing was added"),
        "{message}"
    );

    let (status, body) = service.post("ada", "/tenants", fabrikam.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tenant"]["added_by"], "user:ada");
    for taken in [
        fabrikam.clone(),
        json!({"name": "contoso", "simulated": true}),
    ] {
        let (status, body) = service.post("ada", "/tenants", taken).await;
        assert_eq!(status, 409, "{body}");
    }
    let tenants = service.get("vic", "/tenants").await;
    let added = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fabrikam")
        .cloned()
        .expect("fabrikam is served");
    assert_eq!(added["added_by"], "user:ada");
    assert_eq!(added["max_concurrent_runs"], 1);
    assert_eq!(added["source"], "simulated (20 mailboxes, seed 1)");

    // A run against it, under its own limit.
    let (status, body) = service
        .post(
            "alice",
            "/runs",
            json!({"plugin": "mailbox-report", "tenant": "fabrikam"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let run = service
        .wait_for(
            body["run"]["id"].as_str().unwrap(),
            &["succeeded", "failed"],
        )
        .await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");

    // Nothing that still needs it can be left without it.
    let schedule = json!({"name": "fab-nightly", "plugin": "mailbox-report", "tenant": "fabrikam", "cron": "0 2 * * *"});
    let (status, body) = service.post("ada", "/schedules", schedule).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = service
        .call(Some("ada"), "DELETE", "/tenants/fabrikam", None)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["message"],
        "schedule(s) fab-nightly run against tenant 'fabrikam': delete them first"
    );
    let (status, _) = service
        .call(Some("ada"), "DELETE", "/schedules/fab-nightly", None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = service
        .call(Some("ada"), "DELETE", "/tenants/contoso", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("config")),
        "{body}"
    );
    let (status, body) = service
        .post("ada", "/tenants/fabrikam/reconnect", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"], true);

    // Kept across a restart, then removed.
    service.terminate();
    let service = dir.start();
    let tenants = service.get("vic", "/tenants").await;
    assert!(tenants.to_string().contains("\"fabrikam\""), "{tenants}");
    let (status, body) = service
        .call(Some("ada"), "DELETE", "/tenants/fabrikam", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = service
        .post(
            "alice",
            "/runs",
            json!({"plugin": "mailbox-report", "tenant": "fabrikam"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = service
        .call(Some("ada"), "DELETE", "/tenants/fabrikam", None)
        .await;
    assert_eq!(status, 404);
    drop(service);
    let records = dir.audit();
    let decided = |decision: &str| -> Vec<(String, String, String)> {
        records
            .iter()
            .filter(|r| {
                r["kind"] == "service"
                    && r["decision"] == decision
                    && r["action"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("tenant."))
            })
            .map(|r| {
                (
                    r["action"].as_str().unwrap().to_owned(),
                    r["operator"].as_str().unwrap().to_owned(),
                    r["rule"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let allowed: Vec<(String, String, String)> = [
        ("tenant.add", "user:ada", ""),
        ("tenant.reconnect", "user:ada", ""),
        ("tenant.remove", "user:ada", ""),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(decided("allowed"), allowed);
    let refused: Vec<String> = decided("denied")
        .into_iter()
        .map(|(a, who, rule)| format!("{a} {who} {rule}"))
        .collect();
    // Every refusal is audited, but for the body that does not parse
    // (refused before it names anything).
    assert_eq!(refused.len(), 11, "{refused:?}");
    assert_eq!(refused[0], "tenant.add user:alice role");
    assert!(
        refused.contains(&"tenant.remove user:ada config".to_owned()),
        "{refused:?}"
    );
    assert!(
        refused.contains(&"tenant.remove user:ada conflict".to_owned()),
        "{refused:?}"
    );
}
