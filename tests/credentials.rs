//! The app credential's whole life, end to end against the simulated
//! tenant: `exorun cert rotate` through Microsoft Graph (addKey, verify,
//! switch, removeKey, resumed after failures), the manual steps for an
//! expired certificate, and the other sign-in forms of
//! Connect-ExchangeOnline: managed identity, an access token obtained
//! elsewhere, and a partner's delegated organization.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use exorun_e2e::{Exorun, SimHarness, run_blocking};
use exorun_sim::FaultConfig;

const PLUGIN: &str = "plugins/mailbox-report";

/// A simulated tenant with a connection profile `sim` whose certificate is
/// a copy of the simulator's PFX in a private folder, and private config
/// and state folders for this test alone.
struct Rotating {
    h: SimHarness,
}

impl Rotating {
    async fn start(seed: u64) -> Rotating {
        let h = SimHarness::start(PLUGIN, 5, seed).await;
        let certs = h.path("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o700)).unwrap();
        let pfx = certs.join("app.pfx");
        std::fs::copy(&h.sim.info.client_certificate_pfx, &pfx).unwrap();
        std::fs::set_permissions(&pfx, std::fs::Permissions::from_mode(0o600)).unwrap();
        let password = certs.join("app.pfx.password");
        std::fs::write(&password, &h.sim.info.client_certificate_pfx_password).unwrap();
        let info = &h.sim.info;
        let config = format!(
            "# the team's tenant\n[profiles.sim]\norganization = \"{}\"\napp-id = \"{}\"\ncertificate-file-path = \"{}\"\ncertificate-password-file = \"{}\"\nauthority = \"{}\"\nexchange-url = \"{}\"\ngraph-url = \"{}\"\nca-file = \"{}\"\n",
            info.initial_domain,
            info.app_id,
            pfx.display(),
            password.display(),
            info.login_base,
            info.exchange_base,
            info.graph_base,
            info.ca_pem.display(),
        );
        std::fs::write(h.path("config.toml"), config).unwrap();
        Rotating { h }
    }

    /// `exorun <args>` with this test's config, state and audit log.
    async fn exorun(&self, args: &[&str]) -> Exorun {
        let mut command = exorun_e2e::exorun_command();
        command
            .args(args)
            .env("EXORUN_CONFIG", self.h.path("config.toml"))
            .env("XDG_STATE_HOME", self.h.path("state-home"))
            .env("EXORUN_AUDIT_LOG", self.h.audit_path());
        run_blocking(command).await
    }

    async fn rotate(&self, extra: &[&str]) -> Exorun {
        let mut args = vec!["cert", "rotate", "--profile", "sim"];
        args.extend_from_slice(extra);
        self.exorun(&args).await
    }

    /// Graph answers 503 once `n` more of its requests have been served.
    fn graph_down_after(&self, n: u64) {
        self.h.sim.faults().set(FaultConfig {
            graph_outage_after: Some(n),
            ..FaultConfig::default()
        });
    }

    /// SHA-1 thumbprints registered on the app, sorted.
    fn registered(&self) -> Vec<String> {
        let app = self.h.sim.directory().app(&self.h.sim.info.app_id).unwrap();
        let mut list: Vec<String> = app
            .certificates
            .iter()
            .map(|c| c.thumbprints.sha1_hex())
            .collect();
        list.sort();
        list
    }

    fn old_thumbprint(&self) -> String {
        self.h.sim.info.client_certificate_thumbprint.clone()
    }

    fn profile_text(&self) -> String {
        std::fs::read_to_string(self.h.path("config.toml")).unwrap()
    }

    fn rotation_states(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.h.path("state-home/exorun/rotation"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The actions of the audit trail's credential records, in order.
    fn credential_actions(&self) -> Vec<String> {
        self.h
            .audit()
            .iter()
            .filter(|r| r["kind"] == "credential")
            .map(|r| r["action"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `exorun connect` with the certificate at `pfx` given by flags.
    async fn connect_with(&self, pfx: &Path) -> Exorun {
        let info = &self.h.sim.info;
        let password = self.h.path("certs/app.pfx.password");
        self.exorun(&[
            "connect",
            "--organization",
            &info.initial_domain,
            "--app-id",
            &info.app_id,
            "--certificate-file-path",
            pfx.to_str().unwrap(),
            "--certificate-password-file",
            password.to_str().unwrap(),
            "--authority",
            &info.login_base,
            "--exchange-url",
            &info.exchange_base,
            "--ca-file",
            info.ca_pem.to_str().unwrap(),
        ])
        .await
    }
}

/// The value of `key = "..."` in the profile file.
fn profile_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
        .map(|rest| rest.trim_end_matches('"').to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_with_remove_old_switches_the_profile_and_removes_the_old_key() {
    let r = Rotating::start(61).await;
    let old = r.old_thumbprint();
    let out = r.rotate(&["--remove-old"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let registered = r.registered();
    assert_eq!(registered.len(), 1, "{registered:?}");
    let new = registered[0].clone();
    assert_ne!(new, old);
    assert!(
        out.stdout.contains(&format!("Rotation complete  {new}")),
        "{}",
        out.stdout
    );

    // The profile points at the new file, beside the old one, with the
    // same password file; the comment survives.
    let text = r.profile_text();
    assert!(text.starts_with("# the team's tenant\n"), "{text}");
    let path = PathBuf::from(profile_value(&text, "certificate-file-path").unwrap());
    assert_eq!(
        path,
        r.h.path("certs").join(format!("app-{}.pfx", &new[..8]))
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(r.rotation_states().is_empty());

    // The profile signs in with the new key; the old key no longer does.
    let connect = r.exorun(&["connect", "--profile", "sim"]).await;
    assert_eq!(connect.code, 0, "{}", connect.stderr);
    assert!(connect.stdout.contains(&new), "{}", connect.stdout);
    let old_sign_in = r.connect_with(&r.h.path("certs/app.pfx")).await;
    assert_eq!(old_sign_in.code, 1, "{}", old_sign_in.stdout);
    assert!(
        old_sign_in.stderr.contains("AADSTS700027"),
        "{}",
        old_sign_in.stderr
    );

    // Every step is audited under one rotation id, and the chain holds.
    assert_eq!(
        r.credential_actions(),
        [
            "key-created",
            "key-added",
            "sign-in-verified",
            "profile-switched",
            "key-removed"
        ]
    );
    let records: Vec<_> =
        r.h.audit()
            .into_iter()
            .filter(|r| r["kind"] == "credential")
            .collect();
    assert!(records.iter().all(|x| x["runId"] == records[0]["runId"]));
    assert_eq!(records[4]["certificate"], old.as_str());
    let verify = r
        .exorun(&[
            "audit",
            "verify",
            "--audit-log",
            r.h.audit_path().to_str().unwrap(),
        ])
        .await;
    assert_eq!(verify.code, 0, "{}", verify.stderr);

    // Nothing secret reached the trail or the state.
    let trail = std::fs::read_to_string(r.h.audit_path()).unwrap();
    assert!(!trail.contains(&r.h.sim.info.client_certificate_pfx_password));
    assert!(!trail.contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_using_the_certificate_store_is_switched_to_the_new_thumbprint() {
    let r = Rotating::start(69).await;
    let old = r.old_thumbprint();
    let store = r.h.path("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
    let pfx = store.join(format!("{old}.pfx"));
    std::fs::copy(r.h.path("certs/app.pfx"), &pfx).unwrap();
    std::fs::set_permissions(&pfx, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = r.profile_text().replace(
        &format!(
            "certificate-file-path = \"{}\"",
            r.h.path("certs/app.pfx").display()
        ),
        &format!(
            "certificate-thumbprint = \"{old}\"\ncertificate-store = \"{}\"",
            store.display()
        ),
    );
    std::fs::write(r.h.path("config.toml"), &text).unwrap();

    let out = r.rotate(&["--remove-old"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let registered = r.registered();
    assert_eq!(registered.len(), 1);
    let new = &registered[0];
    assert_ne!(*new, old);
    let text = r.profile_text();
    assert_eq!(
        profile_value(&text, "certificate-thumbprint").as_deref(),
        Some(new.as_str())
    );
    assert_eq!(
        profile_value(&text, "certificate-store"),
        Some(store.display().to_string())
    );
    assert_eq!(profile_value(&text, "certificate-file-path"), None);
    let stored = store.join(format!("{new}.pfx"));
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let connect = r.exorun(&["connect", "--profile", "sim"]).await;
    assert_eq!(connect.code, 0, "{}", connect.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_key_stays_for_the_overlap_and_finish_removes_it_afterwards() {
    let r = Rotating::start(62).await;
    let old = r.old_thumbprint();
    let out = r.rotate(&["--overlap", "2s"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("exorun cert rotate --finish --profile sim"),
        "{}",
        out.stderr
    );
    let both = r.registered();
    assert_eq!(both.len(), 2, "{both:?}");
    let new = both.iter().find(|t| **t != old).unwrap().clone();

    // During the overlap both keys sign in: runs that began with the old
    // one finish.
    let old_sign_in = r.connect_with(&r.h.path("certs/app.pfx")).await;
    assert_eq!(old_sign_in.code, 0, "{}", old_sign_in.stderr);
    let connect = r.exorun(&["connect", "--profile", "sim"]).await;
    assert_eq!(connect.code, 0, "{}", connect.stderr);
    assert!(
        connect.stderr.contains("is not finished"),
        "{}",
        connect.stderr
    );

    // --finish before the overlap has passed does nothing.
    let early = r.rotate(&["--finish"]).await;
    assert_eq!(early.code, 0, "{}", early.stderr);
    assert!(
        early.stdout.contains("nothing to do yet"),
        "{}",
        early.stdout
    );
    assert_eq!(r.registered().len(), 2);

    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let done = r.rotate(&["--finish"]).await;
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    assert_eq!(r.registered(), [new]);
    assert!(r.rotation_states().is_empty());

    // Nothing left to finish.
    let again = r.rotate(&["--finish"]).await;
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("is in progress"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_outage_before_add_key_leaves_nothing_in_use_and_the_next_command_resumes() {
    let r = Rotating::start(63).await;
    let old = r.old_thumbprint();
    // The preflight read goes through; addKey meets the outage.
    r.graph_down_after(1);
    let out = r.rotate(&["--remove-old"]).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("run `exorun cert rotate --profile sim` again to resume it"),
        "{}",
        out.stderr
    );
    assert_eq!(r.registered(), std::slice::from_ref(&old));
    assert!(r.profile_text().contains("certs/app.pfx\""));
    assert_eq!(r.rotation_states().len(), 1);

    r.h.sim.faults().set(FaultConfig::default());
    let resumed = r.rotate(&["--remove-old"]).await;
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(
        resumed.stderr.contains("resuming the rotation"),
        "{}",
        resumed.stderr
    );
    let registered = r.registered();
    assert_eq!(registered.len(), 1);
    assert_ne!(registered[0], old);
    assert!(r.credential_actions().contains(&"rotate-failed".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_outage_at_remove_key_says_how_to_finish_and_finish_does() {
    let r = Rotating::start(64).await;
    let old = r.old_thumbprint();
    // Preflight read, read and addKey go through; the removal meets the
    // outage after the switch.
    r.graph_down_after(3);
    let out = r.rotate(&["--remove-old"]).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("run `exorun cert rotate --finish --remove-old --profile sim`"),
        "{}",
        out.stderr
    );
    // Switched, and the old key still registered: nothing is unusable.
    assert_eq!(r.registered().len(), 2);
    assert!(!r.profile_text().contains("certs/app.pfx\""));
    let connect = r.exorun(&["connect", "--profile", "sim"]).await;
    assert_eq!(connect.code, 0, "{}", connect.stderr);

    r.h.sim.faults().set(FaultConfig::default());
    let done = r.rotate(&["--finish", "--remove-old"]).await;
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    let registered = r.registered();
    assert_eq!(registered.len(), 1);
    assert_ne!(registered[0], old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_interrupted_after_add_key_does_not_add_the_key_twice() {
    let r = Rotating::start(65).await;
    let before = r.profile_text();
    // A rotation that got as far as the switch, wound back to just after
    // addKey as a crash there would leave it: the key registered, the
    // state still saying "created", the profile untouched.
    let out = r.rotate(&["--overlap", "1h"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let states = r.rotation_states();
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&states[0]).unwrap()).unwrap();
    state["step"] = "created".into();
    state["new"]["keyId"] = serde_json::Value::Null;
    std::fs::write(&states[0], state.to_string()).unwrap();
    std::fs::write(r.h.path("config.toml"), &before).unwrap();

    // The simulator refuses a second addKey of the same key, so success
    // means the resumed rotation found it registered and went on.
    let resumed = r.rotate(&["--remove-old"]).await;
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(r.registered().len(), 1);
    assert_ne!(r.registered()[0], r.old_thumbprint());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_not_registered_on_the_app_changes_nothing() {
    let r = Rotating::start(66).await;
    // Another certificate, valid but never uploaded.
    let other = r.h.path("other");
    let made = r
        .exorun(&[
            "cert",
            "new",
            "--subject",
            "CN=stranger",
            "--out",
            other.to_str().unwrap(),
        ])
        .await;
    assert_eq!(made.code, 0, "{}", made.stderr);
    let text = r.profile_text().replace(
        &format!("{}", r.h.path("certs/app.pfx").display()),
        &format!("{}", other.join("exorun-app.pfx").display()),
    );
    let text = text.replace(
        &format!("{}", r.h.path("certs/app.pfx.password").display()),
        &format!("{}", other.join("exorun-app.pfx.password").display()),
    );
    std::fs::write(r.h.path("config.toml"), &text).unwrap();
    let out = r.rotate(&["--remove-old"]).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS700027"), "{}", out.stderr);
    assert_eq!(r.registered(), [r.old_thumbprint()]);
    assert!(r.rotation_states().is_empty());
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 4);
}

/// A PFX (password "pw") whose certificate expired yesterday, and its DER.
fn expired_pfx() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkcs12::Pkcs12;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509, X509NameBuilder};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "exorun-expired").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now - 400 * 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now - 86_400).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let pfx = Pkcs12::builder()
        .pkey(&key)
        .cert(&cert)
        .build2("pw")
        .unwrap()
        .to_der()
        .unwrap();
    (pfx, cert.to_der().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_gets_the_steps_to_do_by_hand() {
    let r = Rotating::start(67).await;
    // The app's only certificate expired: Graph would refuse its proof.
    let (pfx_bytes, der) = expired_pfx();
    let directory = r.h.sim.directory();
    directory.clear_certificates(&r.h.sim.info.app_id).unwrap();
    directory
        .add_certificate(&r.h.sim.info.app_id, &der)
        .unwrap();
    let expired = r.h.path("expired");
    std::fs::create_dir_all(&expired).unwrap();
    let pfx = expired.join("old.pfx");
    std::fs::write(&pfx, pfx_bytes).unwrap();
    std::fs::set_permissions(&pfx, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(expired.join("pw"), "pw").unwrap();
    let text = r
        .profile_text()
        .replace(
            &format!("{}", r.h.path("certs/app.pfx.password").display()),
            &format!("{}", expired.join("pw").display()),
        )
        .replace(
            &format!("{}", r.h.path("certs/app.pfx").display()),
            &format!("{}", pfx.display()),
        );
    std::fs::write(r.h.path("config.toml"), &text).unwrap();
    let out = r.rotate(&[]).await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("expired on"), "{}", out.stderr);
    assert!(
        out.stderr.contains("By hand: (1) `exorun cert new"),
        "{}",
        out.stderr
    );
    assert!(r.rotation_states().is_empty());
    assert_eq!(r.h.sim.graph_requests(), 0);
    assert_eq!(
        directory
            .app(&r.h.sim.info.app_id)
            .unwrap()
            .certificates
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_built_in_simulated_tenant_is_refused() {
    let r = Rotating::start(68).await;
    let out = r.exorun(&["cert", "rotate"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("needs the connection whose certificate to roll over"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------
// Managed identity, access tokens, delegated organizations.

/// A simulated tenant that also serves the managed identity endpoints.
async fn identity_tenant(seed: u64) -> SimHarness {
    SimHarness::start_with(PLUGIN, 5, seed, |config| config.managed_identity = true).await
}

/// `exorun <args> --organization … --authority … --exchange-url …
/// --ca-file …` with `env` set and the platform's variables cleared.
async fn exorun_against(h: &SimHarness, args: &[&str], env: &[(&str, &str)]) -> Exorun {
    let info = &h.sim.info;
    let mut command = exorun_e2e::exorun_command();
    command
        .args(args)
        .args(["--authority", &info.login_base])
        .args(["--exchange-url", &info.exchange_base])
        .args(["--ca-file", info.ca_pem.to_str().unwrap()])
        .env("XDG_STATE_HOME", h.path("state-home"))
        .env("EXORUN_AUDIT_LOG", h.audit_path())
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("IDENTITY_HEADER")
        .env_remove("AZURE_POD_IDENTITY_AUTHORITY_HOST");
    for (k, v) in env {
        command.env(k, v);
    }
    run_blocking(command).await
}

fn app_service_env(h: &SimHarness) -> Vec<(&'static str, String)> {
    vec![
        (
            "IDENTITY_ENDPOINT",
            h.sim.info.identity_endpoint.clone().unwrap(),
        ),
        (
            "IDENTITY_HEADER",
            h.sim.info.identity_header.clone().unwrap(),
        ),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_identity_on_app_service_runs_a_plugin_as_itself() {
    let h = identity_tenant(71).await;
    let env = app_service_env(&h);
    let domain = h.sim.info.initial_domain.clone();
    let connect = exorun_against(
        &h,
        &["connect", "--organization", &domain, "--managed-identity"],
        &pairs(&env),
    )
    .await;
    assert_eq!(connect.code, 0, "{}\n{}", connect.stdout, connect.stderr);
    assert!(
        connect.stdout.contains("Sign-in       managed identity"),
        "{}",
        connect.stdout
    );
    let client_id = h.sim.info.managed_identity_client_id.clone().unwrap();
    assert!(connect.stdout.contains(&client_id), "{}", connect.stdout);

    let run = exorun_against(
        &h,
        &[
            "run",
            &h.plugin,
            "--quiet",
            "--organization",
            &domain,
            "--managed-identity",
        ],
        &pairs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let audit = h.audit();
    let start = audit.iter().find(|r| r["kind"] == "run-start").unwrap();
    assert_eq!(start["appId"], client_id.as_str());
    assert!(h.sim.identity_requests() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_identity_on_a_vm_uses_the_metadata_service() {
    let h = identity_tenant(72).await;
    let imds = h.sim.info.imds_base.clone().unwrap();
    let domain = h.sim.info.initial_domain.clone();
    let connect = exorun_against(
        &h,
        &["connect", "--organization", &domain, "--managed-identity"],
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &imds)],
    )
    .await;
    assert_eq!(connect.code, 0, "{}\n{}", connect.stdout, connect.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_assigned_identity_is_chosen_by_its_client_id() {
    let h = identity_tenant(73).await;
    let user = h.sim.directory().add_user_assigned_identity(
        "reports identity",
        &[exorun_sim::directory::roles::EXCHANGE_ADMINISTRATOR],
    );
    let env = app_service_env(&h);
    let domain = h.sim.info.initial_domain.clone();
    let args = |id: &str| {
        vec![
            "connect".to_owned(),
            "--organization".to_owned(),
            domain.clone(),
            "--managed-identity".to_owned(),
            "--managed-identity-account-id".to_owned(),
            id.to_owned(),
        ]
    };
    let chosen = args(&user.app_id);
    let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
    let out = exorun_against(&h, &chosen, &pairs(&env)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&user.app_id), "{}", out.stdout);

    let unknown = args("00000000-1111-2222-3333-444444444444");
    let unknown: Vec<&str> = unknown.iter().map(String::as_str).collect();
    let out = exorun_against(&h, &unknown, &pairs(&env)).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "no managed identity with client id 00000000-1111-2222-3333-444444444444 is assigned to this resource"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_identity_endpoint_that_answers_garbage_or_nothing_is_reported() {
    let h = identity_tenant(74).await;
    let env = app_service_env(&h);
    let domain = h.sim.info.initial_domain.clone();
    let connect = [
        "connect",
        "--organization",
        &domain,
        "--managed-identity",
        "--managed-identity-timeout",
        "1",
    ];
    h.sim.faults().set(FaultConfig {
        identity_garbage: true,
        ..FaultConfig::default()
    });
    let out = exorun_against(&h, &connect, &pairs(&env)).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("the managed identity endpoint's answer is not JSON"),
        "{}",
        out.stderr
    );

    h.sim.faults().set(FaultConfig {
        identity_stall_ms: 5_000,
        ..FaultConfig::default()
    });
    let out = exorun_against(&h, &connect, &pairs(&env)).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no answer within 1 s"),
        "{}",
        out.stderr
    );

    // A wrong secret header is refused by the endpoint.
    h.sim.faults().set(FaultConfig::default());
    let wrong = [
        ("IDENTITY_ENDPOINT", env[0].1.as_str()),
        ("IDENTITY_HEADER", "not-the-secret"),
    ];
    let out = exorun_against(&h, &connect, &wrong).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("managed identity sign-in"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_identity_endpoint_off_this_machine_is_never_asked() {
    let h = identity_tenant(75).await;
    let domain = h.sim.info.initial_domain.clone();
    let out = exorun_against(
        &h,
        &["connect", "--organization", &domain, "--managed-identity"],
        &[
            ("IDENTITY_ENDPOINT", "http://10.20.30.40/msi/token"),
            ("IDENTITY_HEADER", "secret"),
        ],
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("would cross the network in clear"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret\""));
}

/// Writes a token to a 0600 file and returns its path.
fn token_file(h: &SimHarness, name: &str, token: &str) -> PathBuf {
    let path = h.path(name);
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_from_elsewhere_runs_a_plugin_until_it_expires() {
    let h = SimHarness::start(PLUGIN, 5, 76).await;
    let info = h.sim.info.clone();
    let token = h
        .sim
        .mint_access_token("https://outlook.office365.com", &info.app_id, 3600)
        .unwrap();
    let file = token_file(&h, "token", &token);
    let run = exorun_against(
        &h,
        &[
            "run",
            &h.plugin,
            "--quiet",
            "--organization",
            &info.initial_domain,
            "--access-token",
            file.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let audit = h.audit();
    let start = audit.iter().find(|r| r["kind"] == "run-start").unwrap();
    assert_eq!(start["appId"], info.app_id.as_str());
    // exorun never asked Entra: the token was used as given.
    assert_eq!(h.sim.token_requests(), 0);
    assert!(
        !std::fs::read_to_string(h.audit_path())
            .unwrap()
            .contains(&token)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_that_is_expired_foreign_or_for_another_audience_is_refused() {
    let h = SimHarness::start(PLUGIN, 5, 77).await;
    let info = h.sim.info.clone();
    let connect = |file: &Path, organization: &str| {
        vec![
            "connect".to_owned(),
            "--organization".to_owned(),
            organization.to_owned(),
            "--access-token".to_owned(),
            file.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let h = &h;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            exorun_against(h, &args, &[]).await
        }
    };

    let expired = h
        .sim
        .mint_access_token("https://outlook.office365.com", &info.app_id, -120)
        .unwrap();
    let out = run(connect(
        &token_file(&h, "expired", &expired),
        &info.initial_domain,
    ))
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("the access token expired at"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(&expired));

    let graph = h
        .sim
        .mint_access_token("https://graph.microsoft.com", &info.app_id, 3600)
        .unwrap();
    let out = run(connect(
        &token_file(&h, "graph", &graph),
        &info.initial_domain,
    ))
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "the access token is for https://graph.microsoft.com (its aud), not for Exchange Online"
        ),
        "{}",
        out.stderr
    );

    let good = h
        .sim
        .mint_access_token("https://outlook.office365.com", &info.app_id, 3600)
        .unwrap();
    let file = token_file(&h, "good", &good);
    let foreign = "99999999-8888-7777-6666-555555555555";
    let out = run(connect(&file, foreign)).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "the access token was issued in tenant {}",
            info.tenant_id
        )),
        "{}",
        out.stderr
    );
    // A domain the authority does not know cannot confirm the tenant.
    let out = run(connect(&file, "fabrikam.onmicrosoft.com")).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("is not known to the authority"),
        "{}",
        out.stderr
    );

    // A token file others can read is refused before it is read.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(connect(&file, &info.initial_domain)).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is readable by others"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_manages_a_customer_tenant_as_its_delegated_organization() {
    let h = SimHarness::start(PLUGIN, 5, 78).await;
    let info = h.sim.info.clone();
    let password = h.path("pfx.password");
    std::fs::write(&password, &info.client_certificate_pfx_password).unwrap();
    let connect = |delegated: &str| {
        vec![
            "connect".to_owned(),
            "--organization".to_owned(),
            "partner.onmicrosoft.com".to_owned(),
            "--delegated-organization".to_owned(),
            delegated.to_owned(),
            "--app-id".to_owned(),
            info.app_id.clone(),
            "--certificate-file-path".to_owned(),
            info.client_certificate_pfx.display().to_string(),
            "--certificate-password-file".to_owned(),
            password.display().to_string(),
        ]
    };
    let args = connect(&info.initial_domain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = exorun_against(&h, &args, &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "Delegated     {} (on behalf of partner.onmicrosoft.com)",
            info.initial_domain
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Tenant id     {}", info.tenant_id))
    );

    let bad = connect("customer/../x");
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let out = exorun_against(&h, &bad, &[]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("the delegated organization 'customer/../x' is not a tenant domain or GUID"),
        "{}",
        out.stderr
    );
}
