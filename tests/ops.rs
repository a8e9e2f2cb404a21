//! Operations end to end through the real `exorun` binary: the audit trail
//! (every call, redaction, tamper detection, SIGKILL, two processes), the
//! outputs folder, and what-if plans reviewed and applied.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use exorun_e2e::{Exorun, built_plugin, exorun, exorun_command};

fn plugin_dir(rel: &str) -> String {
    built_plugin(rel).parent().unwrap().display().to_string()
}

fn run(args: &[&str]) -> Exorun {
    exorun(args)
}

/// The records of a log, parsed.
fn records(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn str_of<'a>(record: &'a serde_json::Value, key: &str) -> &'a str {
    record[key].as_str().unwrap_or_default()
}

/// A log with two runs of the probe: 2 + 3 calls, 9 records.
fn small_log(dir: &Path) -> PathBuf {
    let log = dir.join("audit.jsonl");
    let probe = plugin_dir("tests/plugins/ops-probe");
    for calls in ["calls=2", "calls=3"] {
        let out = run(&[
            "run",
            &probe,
            "-q",
            "--input",
            calls,
            "--audit-log",
            log.to_str().unwrap(),
            "--outputs-dir",
            dir.join("outputs").to_str().unwrap(),
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    log
}

fn verify(log: &Path) -> Exorun {
    run(&["audit", "verify", log.to_str().unwrap()])
}

#[test]
fn every_call_is_one_audit_record_with_its_request_id_and_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let out = run(&[
        "run",
        &plugin_dir("tests/plugins/ops-probe"),
        "--json",
        "--input",
        "calls=3",
        "--input",
        "secret-call=true",
        "--audit-log",
        log.to_str().unwrap(),
        "--outputs-dir",
        dir.path().join("outputs").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let run_id = summary["audit"]["runId"].as_str().unwrap();

    let all = records(&log);
    let kinds: Vec<&str> = all.iter().map(|r| str_of(r, "kind")).collect();
    // The write's intent is recorded (and fsynced) before it is sent.
    assert_eq!(
        kinds,
        [
            "run-start",
            "call",
            "call",
            "call",
            "intent",
            "call",
            "run-end"
        ]
    );
    for (i, record) in all.iter().enumerate() {
        assert_eq!(record["seq"], i as u64 + 1);
        assert_eq!(str_of(record, "runId"), run_id);
        assert_eq!(record["plugin"]["name"], "ops-probe");
        assert_eq!(record["plugin"]["sha256"], summary["sha256"]);
        assert_eq!(
            str_of(record, "tenant"),
            "contoso.onmicrosoft.com (simulated)"
        );
        assert!(!str_of(record, "operator").is_empty());
        assert_eq!(str_of(record, "appId").len(), 36);
    }
    let get = &all[1];
    assert_eq!(get["cmdlet"], "Get-Mailbox");
    assert_eq!(get["parameters"]["Identity"], "nobody@contoso.com");
    assert_eq!(get["decision"], "allowed");
    assert_eq!(get["outcome"], "not-found");
    assert_eq!(str_of(get, "clientRequestId").len(), 36, "{get}");
    let ids: std::collections::BTreeSet<&str> = all[1..4]
        .iter()
        .map(|r| str_of(r, "clientRequestId"))
        .collect();
    assert_eq!(ids.len(), 3, "one client-request-id per call");

    let intent = &all[4];
    assert_eq!(intent["cmdlet"], "Set-Mailbox");
    assert_eq!(intent["parameters"]["Password"], "<redacted>");
    assert_eq!(intent["parameters"]["CustomAttribute1"], "<redacted>");
    assert!(intent.get("outcome").is_none());
    let secret = &all[5];
    assert_eq!(secret["cmdlet"], "Set-Mailbox");
    assert_eq!(secret["parameters"]["Password"], "<redacted>");
    assert_eq!(secret["parameters"]["CustomAttribute1"], "<redacted>");
    assert_eq!(secret["outcome"], "invalid-parameter");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("hunter22-secret"));
    assert!(!text.contains("marked-sensitive-value"));

    let end = &all[6];
    assert_eq!(end["status"], "ok");
    assert_eq!(
        (end["calls"].as_u64(), end["failed"].as_u64()),
        (Some(4), Some(4))
    );
    assert!(end["durationMs"].is_u64());

    let verified = verify(&log);
    assert_eq!(verified.code, 0, "{}", verified.stdout);
    assert!(
        verified
            .stdout
            .contains("ok, 7 records, chain intact, head file agrees"),
        "{}",
        verified.stdout
    );
}

#[test]
fn a_denied_call_is_recorded_with_the_rule_that_denied_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let out = run(&[
        "run",
        &plugin_dir("tests/plugins/hostile"),
        "--input",
        "attack=value-outside-set",
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let denied: Vec<serde_json::Value> = records(&log)
        .into_iter()
        .filter(|r| r["decision"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        denied[0]["rule"],
        "validate-set:Set-Mailbox/ForwardingSmtpAddress"
    );
    assert_eq!(denied[0]["outcome"], "denied");
    assert!(denied[0].get("clientRequestId").is_none());
    let end = records(&log).pop().unwrap();
    assert_eq!(
        (end["status"].as_str(), end["error"].as_str()),
        (Some("failed"), Some("plugin-error"))
    );
    assert_eq!(end["denied"], 1);
}

#[test]
fn verify_names_the_first_bad_line_of_an_edited_removed_reordered_or_truncated_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 9);
    let head = std::fs::read(exorun_audit::head_path(&log)).unwrap();
    let tampered = |name: &str, lines: Vec<String>| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        std::fs::write(exorun_audit::head_path(&path), &head).unwrap();
        verify(&path)
    };

    let mut edited = lines.clone();
    edited[2] = edited[2].replace("nobody@contoso.com", "somebody@contoso.com");
    assert_ne!(edited[2], lines[2]);
    let out = tampered("edited.jsonl", edited);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("BROKEN at line 3: hash is "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("(the record was edited)"),
        "{}",
        out.stdout
    );

    let mut removed = lines.clone();
    removed.remove(5);
    let out = tampered("removed.jsonl", removed);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("BROKEN at line 6: seq is 7, expected 6"),
        "{}",
        out.stdout
    );

    let mut reordered = lines.clone();
    reordered.swap(2, 3);
    let out = tampered("reordered.jsonl", reordered);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("BROKEN at line 3: seq is 4, expected 3"),
        "{}",
        out.stdout
    );

    let truncated = lines[..7].to_vec();
    let out = tampered("truncated.jsonl", truncated);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(
            "BROKEN at line 8: the head file says the log reaches record 9, but it ends after record 7 (truncated)"
        ),
        "{}",
        out.stdout
    );

    let intact = tampered("intact.jsonl", lines);
    assert_eq!(intact.code, 0, "{}", intact.stdout);
}

#[test]
fn audit_show_filters_by_run_plugin_and_time_as_a_table_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    let log_arg = log.to_str().unwrap();
    let all = records(&log);
    let second_run = str_of(&all[4], "runId").to_owned();

    let out = run(&[
        "audit",
        "show",
        "--audit-log",
        log_arg,
        "--run",
        &second_run,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shown: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shown, all[4..].to_vec());

    let table = run(&[
        "audit",
        "show",
        "--audit-log",
        log_arg,
        "--plugin",
        "OPS-PROBE",
    ]);
    assert_eq!(table.code, 0);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 10, "{}", table.stdout);
    assert!(rows[0].starts_with("TIME"), "{}", rows[0]);
    assert!(
        rows[1].contains("ops-probe@0.1.0  (run start)"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("Get-Mailbox  allowed   not-found"),
        "{}",
        rows[2]
    );

    let none = run(&["audit", "show", "--audit-log", log_arg, "--plugin", "other"]);
    assert_eq!(none.stdout.lines().count(), 1);
    let future = run(&[
        "audit",
        "show",
        "--audit-log",
        log_arg,
        "--since",
        "2999-01-01",
    ]);
    assert_eq!(future.stdout.lines().count(), 1);
    let recent = run(&[
        "audit",
        "show",
        "--audit-log",
        log_arg,
        "--since",
        "1h",
        "--json",
    ]);
    assert_eq!(recent.stdout.lines().count(), 9);
    let bad = run(&[
        "audit",
        "show",
        "--audit-log",
        log_arg,
        "--since",
        "soonish",
    ]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("--since 'soonish' is neither"),
        "{}",
        bad.stderr
    );
}

#[test]
fn audit_log_defaults_to_the_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("from-env.jsonl");
    let output = exorun_command()
        .args(["run", &plugin_dir("tests/plugins/one-call"), "-q"])
        .env("EXORUN_AUDIT_LOG", &log)
        .output()
        .unwrap();
    assert!(output.status.success() || output.status.code() == Some(1));
    assert_eq!(records(&log).len(), 3);
    let verified = exorun_command()
        .args(["audit", "verify"])
        .env("EXORUN_AUDIT_LOG", &log)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("ok, 3 records"),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

/// Waits until the log holds at least `n` lines, or panics after a minute.
fn wait_for_lines(log: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let lines = std::fs::read_to_string(log)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {lines} lines after two minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_with_sigkill_leaves_a_log_that_verifies_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut child = exorun_command()
        .args([
            "run",
            &plugin_dir("tests/plugins/ops-probe"),
            "-q",
            "--input",
            "calls=100000",
            "--audit-log",
            log.to_str().unwrap(),
            "--outputs-dir",
            dir.path().join("outputs").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lines(&log, 300);
    // Child::kill is SIGKILL on Unix: no handler, no flush, no end record.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());

    let out = verify(&log);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let all = records_lenient(&log);
    assert!(all.len() >= 300, "{}", all.len());
    assert_eq!(str_of(&all[0], "kind"), "run-start");
    assert!(all.iter().all(|r| str_of(r, "kind") != "run-end"));

    // The next run chains on from the last complete record.
    let again = run(&[
        "run",
        &plugin_dir("tests/plugins/ops-probe"),
        "-q",
        "--input",
        "calls=1",
        "--audit-log",
        log.to_str().unwrap(),
        "--outputs-dir",
        dir.path().join("outputs").to_str().unwrap(),
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let out = verify(&log);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let after = records_lenient(&log);
    assert_eq!(after.len(), all.len() + 3);
    assert_eq!(str_of(after.last().unwrap(), "kind"), "run-end");
}

/// Records of a log that may end in a torn line (skipped).
fn records_lenient(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn two_processes_appending_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let probe = plugin_dir("tests/plugins/ops-probe");
    let spawn = |calls: &str| {
        exorun_command()
            .args([
                "run",
                &probe,
                "--json",
                "-q",
                "--input",
                calls,
                "--audit-log",
                log.to_str().unwrap(),
                "--outputs-dir",
                dir.path().join("outputs").to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The long run is appending when the short one starts, and still is
    // when the short one ends: the two overlap whatever the machine's speed.
    let long = spawn("calls=20000");
    wait_for_lines(&log, 50);
    let short = spawn("calls=400");
    let mut run_ids = Vec::new();
    for (child, calls) in [(short, 400), (long, 20_000)] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(summary["calls"], calls);
        run_ids.push((
            summary["audit"]["runId"].as_str().unwrap().to_owned(),
            calls,
        ));
    }
    let total = 20_000 + 400 + 4;
    let out = verify(&log);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("ok, {total} records")),
        "{}",
        out.stdout
    );
    let all = records(&log);
    let seqs: Vec<u64> = all.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
    for (id, calls) in &run_ids {
        let mine: Vec<&serde_json::Value> =
            all.iter().filter(|r| str_of(r, "runId") == id).collect();
        assert_eq!(mine.len(), calls + 2, "run {id}");
        assert_eq!(str_of(mine[0], "kind"), "run-start");
        assert!(mine[1..=*calls].iter().all(|r| str_of(r, "kind") == "call"));
        assert_eq!(str_of(mine[calls + 1], "kind"), "run-end");
    }
    // The short run's records sit between the long run's: they interleaved.
    let position = |id: &str, kind: &str| {
        all.iter()
            .position(|r| str_of(r, "runId") == id && str_of(r, "kind") == kind)
            .unwrap()
    };
    let (short_id, long_id) = (&run_ids[0].0, &run_ids[1].0);
    assert!(position(long_id, "run-start") < position(short_id, "run-start"));
    assert!(position(short_id, "run-end") < position(long_id, "run-end"));
}

#[test]
fn outputs_are_listed_in_the_json_summary_and_the_cap_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let log = dir.path().join("audit.jsonl");
    let probe = plugin_dir("tests/plugins/ops-probe");
    let run_probe = |inputs: &[&str]| {
        let mut args = vec![
            "run",
            &probe,
            "--json",
            "-q",
            "--audit-log",
            log.to_str().unwrap(),
            "--outputs-dir",
            outputs.to_str().unwrap(),
        ];
        for input in inputs {
            args.extend(["--input", input]);
        }
        let out = run(&args);
        let summary: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {}{}", out.stdout, out.stderr));
        (out.code, summary)
    };

    let (code, summary) = run_probe(&["files=2", "write-bytes=1000"]);
    assert_eq!(code, 0, "{summary}");
    let run_id = summary["audit"]["runId"].as_str().unwrap();
    let folder = outputs.join("ops-probe").join(run_id);
    assert_eq!(summary["outputs"]["folder"], folder.display().to_string());
    assert_eq!(summary["outputs"]["bytes"], 1000 + 2 * 7);
    assert_eq!(
        summary["outputs"]["files"],
        serde_json::json!([
            {"name": "file-0.txt", "bytes": 7},
            {"name": "file-1.txt", "bytes": 7},
            {"name": "report.bin", "bytes": 1000},
        ])
    );
    assert_eq!(
        std::fs::read(folder.join("report.bin")).unwrap().len(),
        1000
    );
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["calls"], 0);
    let end = records(&log).pop().unwrap();
    assert_eq!(end["outputs"], folder.display().to_string());

    let (code, summary) = run_probe(&["write-bytes=3000000"]);
    assert_eq!(code, 1);
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["error"]["kind"], "outputs-limit", "{summary}");
    assert!(
        summary["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("([outputs] max-mib)"),
        "{summary}"
    );

    let (code, summary) = run_probe(&["files=6"]);
    assert_eq!(code, 1);
    assert_eq!(summary["error"]["kind"], "outputs-limit", "{summary}");
}

#[test]
fn a_plugin_without_outputs_gets_no_filesystem() {
    // The probe's own component under a manifest without [outputs].
    let dir = tempfile::tempdir().unwrap();
    let built = built_plugin("tests/plugins/ops-probe");
    let text = std::fs::read_to_string(&built).unwrap();
    let without = text.replace("[outputs]\nmax-mib = 1\nmax-files = 5\n", "");
    assert_ne!(text, without);
    std::fs::write(dir.path().join("exorun.toml"), without).unwrap();
    std::fs::copy(
        built.parent().unwrap().join("ops_probe.wasm"),
        dir.path().join("ops_probe.wasm"),
    )
    .unwrap();
    let out = run(&[
        "run",
        dir.path().to_str().unwrap(),
        "--json",
        "-q",
        "--input",
        "write-bytes=10",
        "--audit-log",
        dir.path().join("audit.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["error"]["kind"], "plugin-error");
    assert!(
        summary["error"]["message"]
            .as_str()
            .unwrap()
            .contains("creating report.bin"),
        "{summary}"
    );
    assert_eq!(summary["outputs"], serde_json::Value::Null);
}

#[test]
fn progress_is_printed_as_plain_lines_off_a_terminal_and_not_at_all_when_quiet() {
    let probe = plugin_dir("tests/plugins/ops-probe");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let outputs = dir.path().join("outputs");
    let common = [
        "--input",
        "calls=200",
        "--audit-log",
        log.to_str().unwrap(),
        "--outputs-dir",
        outputs.to_str().unwrap(),
    ];
    let mut args = vec!["run", probe.as_str()];
    args.extend(common);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let last = out
        .stderr
        .lines()
        .rfind(|l| l.starts_with("  progress: "))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(last.starts_with("  progress: 200/200 ("), "{last}");
    assert!(last.ends_with("/s)"), "{last}");
    assert!(
        out.stderr.contains("exorun: 0 output files (0 bytes) in "),
        "{}",
        out.stderr
    );

    args.push("--quiet");
    let quiet = run(&args);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stderr.contains("progress"), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("exorun: "), "{}", quiet.stderr);
}
