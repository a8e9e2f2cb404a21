//! The `exorun` binary, driven as an operator would.

use exorun_cmdlet::Call;
use exorun_e2e::{built_plugin, exorun};
use exorun_sim_tenant::{Caller, GenerateOptions, Tenant};

/// A mailbox that exists in the tenant `exorun run` simulates by default
/// (50 mailboxes, seed 1).
fn existing_mailbox() -> String {
    let tenant = Tenant::generate(&GenerateOptions {
        mailboxes: 50,
        seed: 1,
    });
    let execution = tenant
        .execute(
            &Caller::exchange_administrator("test"),
            &Call::new("Get-Mailbox"),
        )
        .unwrap();
    execution.page(0, 1)[0]["PrimarySmtpAddress"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn run_says_plainly_that_the_tenant_is_simulated() {
    let manifest = built_plugin("tests/plugins/one-call");
    let dir = manifest.parent().unwrap().to_str().unwrap().to_owned();
    let out = exorun(&["run", &dir, "--input", "identity=nobody-at-all@contoso.com"]);
    assert!(
        out.stderr
            .contains("running against the built-in SIMULATED tenant contoso.onmicrosoft.com"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("these results are not from a real tenant")
    );
}

#[test]
fn run_prints_the_output_and_a_summary() {
    let manifest = built_plugin("plugins/forwarding-audit");
    let dir = manifest.parent().unwrap().to_str().unwrap().to_owned();
    let out = exorun(&["run", &dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("Mailbox,Source,Rule,Target,External,Enabled\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("forwarding-audit 0.1.0 (sha256 "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(": ok, "), "{}", out.stderr);
}

#[test]
fn run_shows_denials_and_fails_with_exit_code_one() {
    let manifest = built_plugin("tests/plugins/hostile");
    let dir = manifest.parent().unwrap().to_str().unwrap().to_owned();
    let out = exorun(&["run", &dir, "--input", "attack=value-outside-set"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("DENIED Set-Mailbox: Set-Mailbox -ForwardingSmtpAddress 'exfil@evil.example' is not allowed: the manifest allows one of [$null] [validate-set:Set-Mailbox/ForwardingSmtpAddress]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("FAILED (plugin-error)"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_json_summary_is_machine_readable() {
    let manifest = built_plugin("tests/plugins/one-call");
    let dir = manifest.parent().unwrap().to_str().unwrap().to_owned();
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let path = out_file.path().to_str().unwrap().to_owned();
    let identity = format!("identity={}", existing_mailbox());
    let out = exorun(&[
        "run", &dir, "--json", "--quiet", "--out", &path, "--input", &identity,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["plugin"], "one-call");
    assert_eq!(summary["calls"], 1);
    assert_eq!(summary["denied"], 0);
    assert_eq!(summary["output"], path);
    let written = std::fs::read_to_string(&path).unwrap();
    let object: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        object["PrimarySmtpAddress"].as_str(),
        Some(&identity["identity=".len()..])
    );
}

#[test]
fn run_rejects_an_undeclared_input_naming_the_declared_ones() {
    let manifest = built_plugin("tests/plugins/one-call");
    let dir = manifest.parent().unwrap().to_str().unwrap().to_owned();
    let out = exorun(&["run", &dir, "--input", "idenity=x"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("unknown input 'idenity'; this plugin declares: identity"),
        "{}",
        out.stderr
    );
}

#[test]
fn inspect_lists_cmdlets_parameters_and_constraints() {
    let out = exorun(&["inspect", "plugins/mailbox-report"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Plugin     mailbox-report 0.1.0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Access     read-only"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  Get-MailboxStatistics"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("    -ResultSize"), "{}", out.stdout);
    assert!(out.stdout.contains("one of [Unlimited]"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("    -Identity                              any value"),
        "{}",
        out.stdout
    );
}

#[test]
fn inspect_json_marks_write_cmdlets() {
    let out = exorun(&["inspect", "tests/plugins/hostile", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let caps: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(caps["readOnly"], false);
    assert_eq!(caps["cmdlets"][1]["name"], "Set-Mailbox");
    assert_eq!(caps["cmdlets"][1]["readOnly"], false);
    assert_eq!(
        caps["cmdlets"][1]["parameters"][1]["constraint"]["set"][0],
        "$null"
    );
}

#[test]
fn malformed_manifest_error_names_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("exorun.toml"),
        "[plugin]\nname = \"x\"\nversion = \"1.0.0\"\ncomponent = \"x.wasm\"\n\n[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = { pattern = \"[\" }\n",
    )
    .unwrap();
    let out = exorun(&["inspect", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("exorun.toml:8:35: pattern for Get-Mailbox -Identity is not a valid regular expression: unclosed character class"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_refuses_a_plugin_whose_component_was_never_pinned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("exorun.toml"),
        "[plugin]\nname = \"x\"\nversion = \"1.0.0\"\ncomponent = \"x.wasm\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("x.wasm"), b"\0asm").unwrap();
    let out = exorun(&["run", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("has no sha256 in its manifest, so its component cannot be verified; run `exorun build` to record it"), "{}", out.stderr);
}

#[test]
fn sim_prints_its_connection_info_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let info_path = dir.path().join("info.json");
    let (child, info) = start_sim(
        &["--state-dir", "state", "--info", "info.json"],
        dir.path(),
        tmp.path(),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&info_path).unwrap())
            .unwrap(),
        info
    );
    assert_eq!(info["initial_domain"], "contoso.onmicrosoft.com");
    assert!(
        info["authority"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    for file in [
        "ca_pem",
        "client_certificate_pfx",
        "client_certificate_pem",
        "client_certificate_cer",
    ] {
        let path = info[file].as_str().unwrap();
        assert!(std::path::Path::new(path).is_file(), "{file}: {path}");
    }
    let port = info["port"].as_u64().unwrap() as u16;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    stop_sim(child, "-TERM");
}

#[test]
fn run_against_the_built_in_simulator_leaves_no_key_files_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let output = exorun_e2e::exorun_command()
        .args(["run", "--quiet"])
        .arg(
            exorun_e2e::built_plugin("tests/plugins/one-call")
                .parent()
                .unwrap(),
        )
        .args(["--input", "identity=admin@contoso.com"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}

/// `exorun sim` started with `args` in `cwd`, its info line read.
fn start_sim(
    args: &[&str],
    cwd: &std::path::Path,
    tmp: &std::path::Path,
) -> (std::process::Child, serde_json::Value) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(exorun_e2e::exorun_binary())
        .args(["sim", "--mailboxes", "5"])
        .args(args)
        .current_dir(cwd)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (child, info)
}

fn stop_sim(mut child: std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn sim_keeps_its_app_and_certificates_across_restarts_in_one_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // A relative --state-dir: the info JSON still names absolute paths.
    let (first, info) = start_sim(&["--state-dir", "state"], dir.path(), tmp.path());
    for file in [
        "ca_pem",
        "client_certificate_pfx",
        "client_certificate_pem",
        "client_certificate_cer",
    ] {
        let path = std::path::Path::new(info[file].as_str().unwrap());
        assert!(path.is_absolute(), "{file}: {}", path.display());
        assert!(
            path.starts_with(dir.path().canonicalize().unwrap()) || path.starts_with(dir.path()),
            "{file}: {}",
            path.display()
        );
        assert!(path.is_file(), "{file}");
    }
    let key = info["control_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    let ca = std::fs::read(info["ca_pem"].as_str().unwrap()).unwrap();
    stop_sim(first, "-TERM");
    // The folder the user named is kept.
    assert!(dir.path().join("state/app.pem").is_file());

    let (second, again) = start_sim(&["--state-dir", "state"], dir.path(), tmp.path());
    for field in [
        "tenant_id",
        "app_id",
        "client_certificate_thumbprint",
        "client_certificate_thumbprint_sha256",
        "client_certificate_pfx_password",
    ] {
        assert_eq!(again[field], info[field], "{field}");
    }
    assert_eq!(
        std::fs::read(again["ca_pem"].as_str().unwrap()).unwrap(),
        ca
    );
    // A new control key every start.
    assert_ne!(again["control_key"].as_str().unwrap(), key);
    stop_sim(second, "-INT");

    // Another state folder, same tenant: the same app id (derived from the
    // tenant), a new certificate.
    let (third, other) = start_sim(&["--state-dir", "other"], dir.path(), tmp.path());
    assert_eq!(other["app_id"], info["app_id"]);
    assert_ne!(
        other["client_certificate_thumbprint"],
        info["client_certificate_thumbprint"]
    );
    stop_sim(third, "-TERM");
}

#[test]
fn sim_takes_an_app_id_and_refuses_one_that_is_not_a_guid() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let guid = "0b5e2f5c-7d1a-4c1e-9a57-3f0d7b0c9e11";
    let (child, info) = start_sim(
        &["--app-id", guid, "--state-dir", "s"],
        dir.path(),
        tmp.path(),
    );
    assert_eq!(info["app_id"], guid);
    stop_sim(child, "-TERM");

    let out = exorun(&[
        "sim",
        "--app-id",
        "my-app",
        "--state-dir",
        dir.path().join("t").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("the app id 'my-app' is not a GUID"),
        "{}",
        out.stderr
    );
}

#[test]
fn sim_removes_its_default_state_folder_on_sigterm_and_ctrl_c() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (child, info) = start_sim(&[], dir.path(), tmp.path());
        let pem = std::path::PathBuf::from(info["client_certificate_pem"].as_str().unwrap());
        assert!(pem.starts_with(tmp.path()), "{}", pem.display());
        assert!(pem.is_file());
        stop_sim(child, signal);
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{signal}: left behind in TMPDIR: {left:?}");
    }
}

/// The audit log's default place: `EXORUN_AUDIT_LOG`, else the XDG data
/// folder (`XDG_DATA_HOME` when absolute, else `~/.local/share`).
#[test]
fn the_audit_log_is_found_by_the_override_then_xdg_data_home_then_home() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let verify = |env: &[(&str, &str)]| {
        let mut command = exorun_e2e::exorun_command();
        command.args(["audit", "verify"]);
        for (name, value) in env {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "no log exists yet");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        text.split(": cannot be verified")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        verify(&[("EXORUN_AUDIT_LOG", &format!("{root}/x.jsonl"))]),
        format!("{root}/x.jsonl")
    );
    assert_eq!(
        verify(&[("XDG_DATA_HOME", &format!("{root}/data"))]),
        format!("{root}/data/exorun/audit.jsonl")
    );
    for xdg in ["", "relative/dir"] {
        assert_eq!(
            verify(&[
                ("XDG_DATA_HOME", xdg),
                ("HOME", &format!("{root}/home")),
                ("EXORUN_AUDIT_LOG", ""),
            ]),
            format!("{root}/home/.local/share/exorun/audit.jsonl")
        );
    }
}
