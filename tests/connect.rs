//! Certificate sign-in end to end, as an admin would do it: `exorun cert
//! new`, the .cer uploaded to the (simulated) app registration, `exorun
//! connect`, then automations through the real Exchange client.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use exorun_e2e::{Exorun, built_plugin, exorun, exorun_binary, exorun_command};

/// `exorun sim` as a child process, stopped when dropped.
struct Sim {
    child: Child,
    info: serde_json::Value,
}

impl Sim {
    fn start(extra: &[&str], state: &Path) -> Sim {
        let mut child = Command::new(exorun_binary())
            .args(["sim", "--mailboxes", "30", "--state-dir"])
            .arg(state)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start exorun sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read sim info");
        let info = serde_json::from_str(&line).expect("sim info is JSON");
        Sim { child, info }
    }

    fn text(&self, key: &str) -> String {
        self.info[key].as_str().expect(key).to_owned()
    }

    /// Connection flags for the app and a certificate.
    fn flags(&self, pfx: &Path, password_file: &Path) -> Vec<String> {
        vec![
            "--organization".into(),
            self.text("initial_domain"),
            "--app-id".into(),
            self.text("app_id"),
            "--certificate-file-path".into(),
            pfx.display().to_string(),
            "--certificate-password-file".into(),
            password_file.display().to_string(),
            "--authority".into(),
            self.text("login_base"),
            "--exchange-url".into(),
            self.text("exchange_base"),
            "--ca-file".into(),
            self.text("ca_pem"),
        ]
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[String]) -> Exorun {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    exorun(&args)
}

/// `exorun cert new` into `dir`; returns the SHA-1 thumbprint it printed.
fn new_certificate(dir: &Path) -> String {
    let out = exorun(&[
        "cert",
        "new",
        "--subject",
        "CN=exorun-e2e",
        "--out",
        dir.to_str().unwrap(),
        "--days",
        "30",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    thumbprint_of(&out.stdout)
}

#[test]
fn new_certificate_uploaded_to_the_app_connects_and_runs_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    new_certificate(&certs);
    let cer = certs.join("exorun-app.cer");
    let sim = Sim::start(
        &["--app-certificate", cer.to_str().unwrap()],
        &dir.path().join("state"),
    );
    let flags = sim.flags(
        &certs.join("exorun-app.pfx"),
        &certs.join("exorun-app.pfx.password"),
    );

    let mut args = vec!["connect".to_owned()];
    args.extend(flags.iter().cloned());
    let out = run(&args);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("App roles     Exchange.ManageAsApp"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Entra roles   Exchange Administrator"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Exchange      Get-OrganizationConfig ok"),
        "{}",
        out.stdout
    );

    for plugin in ["plugins/mailbox-report", "plugins/forwarding-audit"] {
        let manifest = built_plugin(plugin);
        let mut args = vec![
            "run".to_owned(),
            manifest.parent().unwrap().display().to_string(),
        ];
        args.extend(flags.iter().cloned());
        let out = run(&args);
        assert_eq!(out.code, 0, "{plugin}: {}", out.stderr);
        assert!(
            !out.stderr.contains("SIMULATED"),
            "a real connection was given"
        );
        assert!(out.stderr.contains(": ok, "), "{}", out.stderr);
    }
}

#[test]
fn certificate_not_uploaded_is_refused_with_the_aadsts_code_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    new_certificate(&certs);
    let sim = Sim::start(&[], &dir.path().join("state"));
    let mut args = vec!["connect".to_owned()];
    args.extend(sim.flags(
        &certs.join("exorun-app.pfx"),
        &certs.join("exorun-app.pfx.password"),
    ));
    let out = run(&args);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("700027"), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("upload"),
        "{}",
        out.stderr
    );
}

#[test]
fn wrong_certificate_password_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    new_certificate(&certs);
    let wrong = dir.path().join("wrong.password");
    std::fs::write(&wrong, "not the password").unwrap();
    let sim = Sim::start(&[], &dir.path().join("state"));
    let mut args = vec!["connect".to_owned()];
    args.extend(sim.flags(&certs.join("exorun-app.pfx"), &wrong));
    let out = run(&args);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("the certificate password is wrong"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_token_assertion_key_or_password_reaches_the_output_or_logs_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    new_certificate(&certs);
    let cer = certs.join("exorun-app.cer");
    let sim = Sim::start(
        &["--app-certificate", cer.to_str().unwrap()],
        &dir.path().join("state"),
    );
    let manifest = built_plugin("plugins/forwarding-audit");
    let mut args = vec![manifest.parent().unwrap().display().to_string()];
    args.extend(sim.flags(
        &certs.join("exorun-app.pfx"),
        &certs.join("exorun-app.pfx.password"),
    ));
    let audit_log = dir.path().join("audit.jsonl");
    let output = exorun_command()
        .arg("run")
        .args(&args)
        .arg("--audit-log")
        .arg(&audit_log)
        .env(
            "EXORUN_LOG",
            "debug,exorun=trace,exorun_exchange=trace,exorun_sandbox=trace,reqwest=trace,hyper=trace,hyper_util=trace,cranelift_codegen=warn,wasmtime=info",
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(everything.len() > 1000, "trace logging produced output");
    let audit = std::fs::read_to_string(&audit_log).unwrap();
    assert!(audit.contains("\"clientRequestId\""), "{audit}");
    let everything = format!("{everything}{audit}");
    let password = std::fs::read_to_string(certs.join("exorun-app.pfx.password")).unwrap();
    // Every JWT (access token or client assertion) starts with the
    // base64url of `{"`.
    for secret in ["eyJ", "PRIVATE KEY", "Bearer ", password.trim()] {
        assert!(
            !everything.contains(secret),
            "found {secret:?} in the run's output or audit trail"
        );
    }
}

#[test]
fn cert_show_prints_thumbprints_of_a_cer() {
    let dir = tempfile::tempdir().unwrap();
    new_certificate(dir.path());
    let out = exorun(&[
        "cert",
        "show",
        dir.path().join("exorun-app.cer").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Subject            CN=exorun-e2e"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Private key        no"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("expires within 30 days; roll it over with `exorun cert rotate`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_named_profile_with_a_thumbprint_and_the_password_from_the_environment_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let thumbprint = new_certificate(&store);
    let cer = store.join("exorun-app.cer");
    let sim = Sim::start(
        &["--app-certificate", cer.to_str().unwrap()],
        &dir.path().join("state"),
    );
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.contoso]\norganization = \"{}\"\napp-id = \"{}\"\ncertificate-thumbprint = \"{}\"\ncertificate-store = \"{}\"\nauthority = \"{}\"\nexchange-url = \"{}\"\nca-file = \"{}\"\n",
            sim.text("initial_domain"),
            sim.text("app_id"),
            thumbprint.to_lowercase(),
            store.display(),
            sim.text("login_base"),
            sim.text("exchange_base"),
            sim.text("ca_pem"),
        ),
    )
    .unwrap();
    let password = std::fs::read_to_string(store.join("exorun-app.pfx.password")).unwrap();
    let output = Command::new(exorun_binary())
        .args(["connect", "--profile", "contoso"])
        .env("EXORUN_CONFIG", &config)
        .env("EXORUN_CERTIFICATE_PASSWORD", password.trim())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&format!("({thumbprint})")), "{stdout}");

    let missing = Command::new(exorun_binary())
        .args(["connect", "--profile", "fabrikam"])
        .env("EXORUN_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("there is no profile 'fabrikam'"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

fn thumbprint_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Thumbprint (SHA-1) "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .trim()
        .to_owned()
}

#[test]
fn cert_new_protects_the_certificate_with_the_password_given() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("certs");
    let output = exorun_command()
        .args(["cert", "new", "--subject", "CN=given", "--out"])
        .arg(&out_dir)
        .env("EXORUN_CERTIFICATE_PASSWORD", "correct horse battery")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("(password from EXORUN_CERTIFICATE_PASSWORD)"),
        "{stderr}"
    );
    // No second copy of a password the admin keeps elsewhere.
    assert!(!out_dir.join("exorun-app.pfx.password").exists());
    let pfx = out_dir.join("exorun-app.pfx");
    let pem = out_dir.join("exorun-app.pem");
    // `cert show` with the same variable opens both.
    for file in [&pfx, &pem] {
        let shown = exorun_command()
            .args(["cert", "show"])
            .arg(file)
            .env("EXORUN_CERTIFICATE_PASSWORD", "correct horse battery")
            .output()
            .unwrap();
        assert!(
            shown.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&shown.stderr)
        );
    }
    // The PEM's key is encrypted with it too.
    let pem_text = std::fs::read_to_string(&pem).unwrap();
    assert!(pem_text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    // From a file, likewise; the file is named as where the password is.
    let password_file = dir.path().join("pw");
    std::fs::write(&password_file, "from a file\n").unwrap();
    let from_file = exorun_command()
        .args(["cert", "new", "--subject", "CN=file", "--out"])
        .arg(dir.path().join("file-certs"))
        .arg("--certificate-password-file")
        .arg(&password_file)
        .env_remove("EXORUN_CERTIFICATE_PASSWORD")
        .output()
        .unwrap();
    assert!(from_file.status.success());
    let shown = exorun_command()
        .args(["cert", "show"])
        .arg(dir.path().join("file-certs/exorun-app.pfx"))
        .arg("--certificate-password-file")
        .arg(&password_file)
        .env_remove("EXORUN_CERTIFICATE_PASSWORD")
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
}

#[test]
fn a_pfx_opened_without_its_password_says_how_to_give_it() {
    let dir = tempfile::tempdir().unwrap();
    new_certificate(dir.path());
    let shown = exorun_command()
        .args(["cert", "show"])
        .arg(dir.path().join("exorun-app.pfx"))
        .env_remove("EXORUN_CERTIFICATE_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(
        stderr.contains("the certificate is protected by a password and none was given: pass --certificate-password-file FILE or set EXORUN_CERTIFICATE_PASSWORD"),
        "{stderr}"
    );
}

#[test]
fn an_imported_certificate_is_found_by_its_thumbprint_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let thumbprint = new_certificate(&certs);
    let store = dir.path().join("store");
    let password = certs.join("exorun-app.pfx.password");

    // A store that does not exist yet: the error says how to fill it.
    let cer = certs.join("exorun-app.cer");
    let sim = Sim::start(
        &["--app-certificate", cer.to_str().unwrap()],
        &dir.path().join("state"),
    );
    let connect = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "connect".into(),
            "--organization".into(),
            sim.text("initial_domain"),
            "--app-id".into(),
            sim.text("app_id"),
            "--certificate-thumbprint".into(),
            thumbprint.clone(),
            "--certificate-store".into(),
            store.display().to_string(),
            "--certificate-password-file".into(),
            password.display().to_string(),
            "--authority".into(),
            sim.text("authority"),
            "--exchange-url".into(),
            sim.text("exchange_base"),
            "--ca-file".into(),
            sim.text("ca_pem"),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        run(&args)
    };
    let missing = connect(&[]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains(&format!(
            "the certificate store {} does not exist: put the app certificate there with `exorun cert import FILE`",
            store.display()
        )),
        "{}",
        missing.stderr
    );

    let imported = exorun(&[
        "cert",
        "import",
        certs.join("exorun-app.pfx").to_str().unwrap(),
        "--certificate-store",
        store.to_str().unwrap(),
        "--certificate-password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let in_store = store.join(format!("{thumbprint}.pfx"));
    assert!(
        imported
            .stdout
            .contains(&format!("Imported           {}", in_store.display())),
        "{}",
        imported.stdout
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&in_store).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&store).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Importing it again changes nothing.
    let again = exorun(&[
        "cert",
        "import",
        certs.join("exorun-app.pfx").to_str().unwrap(),
        "--certificate-store",
        store.to_str().unwrap(),
        "--certificate-password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("Already in the store"),
        "{}",
        again.stdout
    );

    // MSAL's authority form, the thumbprint from the store: signed in.
    let signed_in = connect(&[]);
    assert_eq!(
        signed_in.code, 0,
        "{}\n{}",
        signed_in.stdout, signed_in.stderr
    );
    assert!(
        signed_in.stdout.contains(&format!("({thumbprint})")),
        "{}",
        signed_in.stdout
    );

    // A certificate without its key is refused before anything is copied.
    let refused = exorun(&[
        "cert",
        "import",
        cer.to_str().unwrap(),
        "--certificate-store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("no private key found"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 1);
}
