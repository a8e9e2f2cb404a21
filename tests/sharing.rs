//! Shared plugins end to end, as a publisher and an operator would use
//! them: `exorun key new`, `publish` to a real registry (Debian's
//! docker-registry on 127.0.0.1, plain, over TLS with a private CA, and
//! with basic authentication) or `bundle` to a file, `trust`, `install`
//! with consent, `run` by name, `upgrade` with held widenings, and every
//! refusal with its exact reason and nothing written.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use exorun_e2e::{Exorun, Registry, RegistrySetup, exorun_command, plugin_copy, which};
use exorun_package::PackageName;
use exorun_package::artifact::{Artifact, PublishInfo};
use exorun_package::fetch::signature_artifact;
use exorun_package::layout::write_bundle;
use exorun_package::signing::SigningKey;
use secrecy::SecretString;

const PLUGIN: &str = "plugins/forwarding-audit";
const NAME: &str = "forwarding-audit";
const KEY_PASSWORD: &str = "correct horse battery staple";
/// The parameter version 0.2.0 adds to Get-Mailbox.
const WIDER: &str = "RecipientTypeDetails = { set = [\"UserMailbox\", \"SharedMailbox\"] }";

/// One operator (and publisher): their own store, trust policy, audit log
/// and keys, in a temporary folder.
struct Operator {
    dir: tempfile::TempDir,
}

impl Operator {
    fn new() -> Operator {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.password"), format!("{KEY_PASSWORD}\n")).unwrap();
        Operator { dir }
    }

    /// An operator with a key "contoso" that they trust, as "Contoso IT",
    /// for the namespace contoso; and that key's secret key file.
    fn trusting_contoso() -> (Operator, PathBuf) {
        let op = Operator::new();
        let key = op.key("contoso");
        op.trust("contoso", "Contoso IT", "contoso");
        (op, key)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run_with(&self, args: &[String], stdin: Option<&str>) -> Exorun {
        let mut command = exorun_command();
        command
            .args(args)
            .env("EXORUN_PLUGINS_DIR", self.path("plugins"))
            .env("EXORUN_TRUST_POLICY", self.path("trust.toml"))
            .env("EXORUN_AUDIT_LOG", self.path("audit.jsonl"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let output = child.wait_with_output().unwrap();
        Exorun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Exorun {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run_with(&args, None)
    }

    /// `exorun <args> <registry flags>`.
    fn at(&self, registry: &Registry, args: &[&str]) -> Exorun {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(registry.args());
        self.run_with(&all, None)
    }

    /// A signing key `name` (its secret key path), made by `exorun key new`.
    fn key(&self, name: &str) -> PathBuf {
        let out = self.run(&[
            "key",
            "new",
            "--out",
            self.dir.path().to_str().unwrap(),
            "--name",
            name,
            "--password-file",
            self.path("key.password").to_str().unwrap(),
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        self.path(&format!("{name}.key"))
    }

    fn trust(&self, key: &str, publisher: &str, namespace: &str) {
        let public = self.path(&format!("{key}.pub"));
        let out = self.run(&[
            "trust",
            "add",
            public.to_str().unwrap(),
            "--publisher",
            publisher,
            "--namespace",
            namespace,
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }

    fn key_id(&self, key: &str) -> String {
        let text = std::fs::read_to_string(self.path(&format!("{key}.pub"))).unwrap();
        exorun_package::signing::PublicKey::parse(&text)
            .unwrap()
            .key_id
    }

    fn signing_key(&self, key: &str) -> SigningKey {
        let text = std::fs::read_to_string(self.path(&format!("{key}.key"))).unwrap();
        SigningKey::open(&SecretString::from(text), &SecretString::from(KEY_PASSWORD)).unwrap()
    }

    fn sign_args(&self, key: &Path) -> Vec<String> {
        vec![
            "--sign".to_owned(),
            key.display().to_string(),
            "--key-password-file".to_owned(),
            self.path("key.password").display().to_string(),
        ]
    }

    fn publish(
        &self,
        registry: &Registry,
        plugin: &Path,
        version: &str,
        key: Option<&Path>,
    ) -> Exorun {
        let reference = registry.reference(&format!("contoso/{NAME}:{version}"));
        let mut args = vec![
            "publish".to_owned(),
            plugin.display().to_string(),
            reference,
        ];
        if let Some(key) = key {
            args.extend(self.sign_args(key));
        }
        args.extend(registry.args());
        self.run_with(&args, None)
    }

    /// `exorun install <registry>/contoso/forwarding-audit:<version> --yes`,
    /// which must succeed.
    fn install_at(&self, registry: &Registry, version: &str) -> Exorun {
        let reference = registry.reference(&format!("contoso/{NAME}:{version}"));
        let out = self.at(registry, &["install", &reference, "--yes"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out
    }

    fn lock(&self) -> String {
        std::fs::read_to_string(self.path("plugins/exorun.lock")).unwrap_or_default()
    }

    /// The artifacts in the store.
    fn stored(&self) -> Vec<String> {
        match std::fs::read_dir(self.path("plugins/store/sha256")) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names
            }
            Err(_) => Vec::new(),
        }
    }

    fn assert_nothing_installed(&self) {
        assert_eq!(self.stored(), Vec::<String>::new());
        assert!(!self.lock().contains("[[plugin]]"), "{}", self.lock());
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn package_records(&self) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["kind"] == "package")
            .collect()
    }
}

/// forwarding-audit built from source, copied as `version` into `dir`,
/// its manifest passed through `edit`.
fn version(dir: &Path, version: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    plugin_copy(PLUGIN, &dir.join(version), |text| {
        edit(text.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")))
    })
}

fn with_wider(text: String) -> String {
    text.replace(
        "ResultSize = { set = [\"Unlimited\"] }",
        &format!("ResultSize = {{ set = [\"Unlimited\"] }}\n{WIDER}"),
    )
}

fn digest_in(out: &Exorun) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Digest     "))
        .unwrap_or_else(|| panic!("no digest in {}", out.stdout))
        .to_owned()
}

#[test]
fn publish_install_and_run_by_name_from_a_registry() {
    let registry = Registry::start(RegistrySetup::default());
    let (op, key) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let published = op.publish(&registry, &plugin, "0.1.0", Some(&key));
    assert_eq!(published.code, 0, "{}", published.stderr);
    let digest = digest_in(&published);
    assert!(
        published
            .stdout
            .contains(&format!("Signed by  key {}", op.key_id("contoso"))),
        "{}",
        published.stdout
    );

    let reference = registry.reference("contoso/forwarding-audit:0.1.0");
    let installed = op.at(&registry, &["install", &reference, "--yes"]);
    assert_eq!(installed.code, 0, "{}", installed.stderr);
    // The consent screen: where from, which digest, who signed, and what
    // the plugin may do.
    for line in [
        "Plugin     forwarding-audit 0.1.0".to_owned(),
        format!("From       {reference}"),
        format!("Digest     {digest}"),
        format!("Signed by  Contoso IT ({})", op.key_id("contoso")),
        "Access     read-only (Get-/Test-/Search- cmdlets only)".to_owned(),
        "    -ResultSize                            one of [Unlimited]".to_owned(),
        format!(
            "Installed forwarding-audit 0.1.0 ({digest}). Run it with: exorun run forwarding-audit"
        ),
    ] {
        assert!(
            installed.stdout.lines().any(|l| l == line),
            "{line}\n{}",
            installed.stdout
        );
    }

    let lock = op.lock();
    for line in [
        "name = \"forwarding-audit\"".to_owned(),
        "package = \"contoso/forwarding-audit\"".to_owned(),
        format!("reference = \"{reference}\""),
        format!("digest = \"{digest}\""),
        format!("key-id = \"{}\"", op.key_id("contoso")),
        "publisher = \"Contoso IT\"".to_owned(),
    ] {
        assert!(lock.lines().any(|l| l == line), "{line}\n{lock}");
    }
    assert_eq!(op.stored(), [digest.strip_prefix("sha256:").unwrap()]);

    let listed = op.run(&["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed[0]["name"], NAME);
    assert_eq!(listed[0]["version"], "0.1.0");
    assert_eq!(listed[0]["signer"]["publisher"], "Contoso IT");
    assert_eq!(listed[0]["held"], serde_json::Value::Null);

    // Run by name: the same output as running the folder it was built from.
    let by_name = op.run(&["run", NAME]);
    let by_folder = op.run(&["run", plugin.to_str().unwrap()]);
    assert_eq!(by_name.code, 0, "{}", by_name.stderr);
    assert_eq!(by_name.stdout, by_folder.stdout);
    assert!(
        by_name
            .stdout
            .starts_with("Mailbox,Source,Rule,Target,External,Enabled\n")
    );

    let records = op.package_records();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["action"], "install");
    assert_eq!(records[0]["digest"], digest);
    assert_eq!(records[0]["reference"], reference);
    assert_eq!(
        records[0]["signer"],
        format!("Contoso IT ({})", op.key_id("contoso"))
    );
    assert_eq!(records[0]["plugin"]["name"], NAME);
    assert_eq!(records[0]["message"], "consented with --yes");
    assert_eq!(records[0]["operator"], exorun_audit::current_operator());
    let verify = op.run(&["audit", "verify", op.path("audit.jsonl").to_str().unwrap()]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

#[test]
fn a_published_signature_verifies_with_the_minisign_command() {
    let minisign = which("minisign").expect("minisign is installed by `make test`");
    let registry = Registry::start(RegistrySetup::default());
    let (op, key) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let digest = digest_in(&op.publish(&registry, &plugin, "0.1.0", Some(&key)));
    op.install_at(&registry, "0.1.0");
    // The signature as it came from the registry, checked by minisign itself.
    let folder = op.path(&format!(
        "plugins/store/sha256/{}",
        digest.strip_prefix("sha256:").unwrap()
    ));
    // `minisign -V -p <key>.pub -m signature.json -x signature.minisig`
    let verify = |key: &str| {
        std::process::Command::new(&minisign)
            .arg("-V")
            .arg("-p")
            .arg(op.path(&format!("{key}.pub")))
            .arg("-m")
            .arg(folder.join("signature.json"))
            .arg("-x")
            .arg(folder.join("signature.minisig"))
            .output()
            .unwrap()
    };
    let verified = verify("contoso");
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "Trusted comment: exorun plugin contoso/forwarding-audit {digest}"
        )),
        "{stdout}"
    );
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("signature.json")).unwrap()).unwrap();
    assert_eq!(
        statement["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        statement["critical"]["identity"]["docker-reference"],
        "contoso/forwarding-audit"
    );
    // Another key does not verify it.
    op.key("other");
    let refused = verify("other");
    assert!(!refused.status.success());
}

#[test]
fn install_shows_the_permissions_and_installs_nothing_without_consent() {
    let registry = Registry::start(RegistrySetup::default());
    let (op, key) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let digest = digest_in(&op.publish(&registry, &plugin, "0.1.0", Some(&key)));
    let mut args: Vec<String> = vec![
        "install".into(),
        registry.reference("contoso/forwarding-audit:0.1.0"),
    ];
    args.extend(registry.args());
    for answer in ["n\n", "", "yes please\n"] {
        let out = op.run_with(&args, Some(answer));
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            out.stdout
                .contains("Cmdlets (anything not listed is denied)")
        );
        assert_eq!(
            out.stderr,
            format!(
                "Install forwarding-audit 0.1.0 with exactly these permissions? [y/N] {}\nexorun: install refused: the operator did not consent; nothing was installed\n",
                answer.trim()
            )
        );
        op.assert_nothing_installed();
    }
    let refusals = op.package_records();
    assert_eq!(refusals.len(), 3);
    assert!(refusals.iter().all(|r| r["action"] == "refuse"
        && r["digest"] == digest
        && r["message"] == "the operator did not consent"));
    let out = op.run_with(&args, Some("y\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn an_unsigned_plugin_is_refused_unless_allowed_and_then_audited() {
    let registry = Registry::start(RegistrySetup::default());
    let op = Operator::new();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let published = op.publish(&registry, &plugin, "0.1.0", None);
    assert_eq!(published.code, 0, "{}", published.stderr);
    assert!(
        published
            .stderr
            .contains("publishing contoso/forwarding-audit UNSIGNED")
    );
    let reference = registry.reference("contoso/forwarding-audit:0.1.0");
    let refused = op.at(&registry, &["install", &reference, "--yes"]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr.trim_end(),
        "exorun: install refused: contoso/forwarding-audit is not signed; install only plugins signed by a publisher you trust, or pass --allow-unsigned (warned and audited); nothing was installed"
    );
    op.assert_nothing_installed();
    assert_eq!(op.package_records()[0]["signer"], "unsigned");
    let allowed = op.at(
        &registry,
        &["install", &reference, "--yes", "--allow-unsigned"],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert!(
        allowed
            .stderr
            .contains("contoso/forwarding-audit is UNSIGNED: nobody vouches for what it does")
    );
    assert!(
        allowed
            .stdout
            .contains("Signed by  NOBODY (unsigned, allowed by --allow-unsigned)")
    );
    let records = op.package_records();
    assert_eq!(records[1]["action"], "install");
    assert_eq!(records[1]["signer"], "unsigned");
    let list = op.run(&["list"]);
    assert!(list.stdout.contains("UNSIGNED"), "{}", list.stdout);
}

/// A bundle of `plugin` under `name`, signed by `key` over `signed_digest`
/// (default: its own) and `signed_name` (default: `name`).
fn crafted_bundle(
    op: &Operator,
    plugin: &Path,
    name: &str,
    key: &str,
    signed_name: Option<&str>,
    signed_digest: Option<&str>,
) -> PathBuf {
    let artifact = Artifact::from_plugin(
        plugin,
        &PublishInfo {
            source: None,
            created: "2026-12-02T00:00:00Z".to_owned(),
        },
    )
    .unwrap();
    let name = PackageName::parse(name).unwrap();
    let signature = op
        .signing_key(key)
        .sign(
            &PackageName::parse(signed_name.unwrap_or(&name.to_string())).unwrap(),
            signed_digest.unwrap_or(&artifact.manifest.digest),
        )
        .unwrap();
    let signed = signature_artifact(&signature, &artifact.manifest).unwrap();
    let path = op.path(&format!("crafted-{}.tar", rand_suffix()));
    write_bundle(&path, &name, &artifact, Some(&signed)).unwrap();
    path
}

/// `plugin` bundled as contoso/forwarding-audit, signed by "contoso".
fn signed_bundle(op: &Operator, plugin: &Path) -> PathBuf {
    crafted_bundle(
        op,
        plugin,
        "contoso/forwarding-audit",
        "contoso",
        None,
        None,
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn signatures_are_refused_by_an_untrusted_key_for_another_namespace_name_or_digest() {
    let op = Operator::new();
    op.key("contoso");
    op.key("stranger");
    op.trust("contoso", "Contoso IT", "contoso");
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let other = version(op.dir.path(), "0.2.0", |t| t);
    let other_digest = Artifact::from_plugin(
        &other,
        &PublishInfo {
            source: None,
            created: "2026-12-02T00:00:00Z".to_owned(),
        },
    )
    .unwrap()
    .manifest
    .digest;
    let contoso = op.key_id("contoso");
    let cases: Vec<(PathBuf, String)> = vec![
        (
            crafted_bundle(
                &op,
                &plugin,
                "contoso/forwarding-audit",
                "stranger",
                None,
                None,
            ),
            format!(
                "the signature is by key {}, which your trust policy does not hold",
                op.key_id("stranger")
            ),
        ),
        (
            crafted_bundle(
                &op,
                &plugin,
                "fabrikam/forwarding-audit",
                "contoso",
                None,
                None,
            ),
            format!(
                "key {contoso} (Contoso IT) is trusted for namespaces [contoso], not for 'fabrikam'"
            ),
        ),
        (
            crafted_bundle(
                &op,
                &plugin,
                "contoso/forwarding-audit",
                "contoso",
                Some("contoso/other-plugin"),
                None,
            ),
            format!(
                "the signature by Contoso IT (key {contoso}) is for contoso/other-plugin, not for contoso/forwarding-audit"
            ),
        ),
        (
            crafted_bundle(
                &op,
                &plugin,
                "contoso/forwarding-audit",
                "contoso",
                None,
                Some(&other_digest),
            ),
            format!(
                "the signature by Contoso IT (key {contoso}) is over {other_digest}, not over this artifact"
            ),
        ),
    ];
    for (bundle, says) in cases {
        let out = op.run(&[
            "install",
            bundle.to_str().unwrap(),
            "--yes",
            "--allow-unsigned",
        ]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stderr.contains(&says), "{says}\n{}", out.stderr);
        assert!(
            out.stderr.ends_with("; nothing was installed\n"),
            "{}",
            out.stderr
        );
        op.assert_nothing_installed();
    }
    let refusals = op.package_records();
    assert_eq!(refusals.len(), 4);
    assert_eq!(
        refusals[0]["signer"],
        format!("key {} (not accepted)", op.key_id("stranger"))
    );
    assert_eq!(
        refusals[1]["signer"],
        format!("key {contoso} (not accepted)")
    );
    // The same bundle, signed as it should be, installs.
    let good = signed_bundle(&op, &plugin);
    let out = op.run(&["install", good.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A bundle's entries, in order.
fn read_tar(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

fn write_tar(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    exorun_package::artifact::sha256_digest(bytes)
}

/// Replaces the blob `old` with `bytes` under their own digest, and every
/// mention of `old` in the other JSON blobs and the index with the new
/// digest, as an attacker who recomputes digests would.
fn replace_blob(entries: &mut [(String, Vec<u8>)], old: &str, bytes: Vec<u8>) -> String {
    let new = sha256(&bytes);
    let old_hex = old.strip_prefix("sha256:").unwrap().to_owned();
    let new_hex = new.strip_prefix("sha256:").unwrap().to_owned();
    for (name, content) in entries.iter_mut() {
        if name.ends_with(&old_hex) {
            *name = format!("blobs/sha256/{new_hex}");
            *content = bytes.clone();
        }
    }
    new
}

#[test]
fn tampered_layers_manifests_and_configs_are_refused() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let good = signed_bundle(&op, &plugin);
    let entries = read_tar(&good);
    let index: serde_json::Value =
        serde_json::from_slice(&entries.iter().find(|(n, _)| n == "index.json").unwrap().1)
            .unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        entries
            .iter()
            .find(|(n, _)| n.ends_with(hex))
            .unwrap()
            .1
            .clone()
    };
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&manifest_digest)).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();

    // 1. The component's bytes changed under their old name.
    let mut layer = entries.clone();
    let hex = layer_digest.strip_prefix("sha256:").unwrap();
    for (name, bytes) in layer.iter_mut() {
        if name.ends_with(hex) {
            let at = bytes.len() / 2;
            bytes[at] ^= 0xff;
        }
    }
    // 2. The config widened (Get-InboxRule gains a parameter), the manifest
    //    and the index updated to the new digests: the signature is over
    //    the old manifest.
    let mut config = entries.clone();
    let widened = String::from_utf8(blob(&config_digest))
        .unwrap()
        .replace("Mailbox = {}", "Mailbox = {}\\nIdentity = {}");
    let new_config = replace_blob(&mut config, &config_digest, widened.into_bytes());
    let manifest_text = String::from_utf8(blob(&manifest_digest)).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&manifest_text).unwrap();
    // The permissions annotation would give the edit away: gone too.
    edited["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("dev.exorun.permissions.sha256");
    edited["config"]["digest"] = new_config.clone().into();
    edited["config"]["size"] = (config
        .iter()
        .find(|(n, _)| n.ends_with(new_config.strip_prefix("sha256:").unwrap()))
        .unwrap()
        .1
        .len() as u64)
        .into();
    let new_manifest = replace_blob(
        &mut config,
        &manifest_digest,
        serde_json::to_vec(&edited).unwrap(),
    );
    // The index names the new manifest, and its signature tag too.
    let (old_hex, new_hex) = (
        manifest_digest.strip_prefix("sha256:").unwrap(),
        new_manifest.strip_prefix("sha256:").unwrap(),
    );
    for (name, bytes) in config.iter_mut() {
        if name == "index.json" {
            *bytes = String::from_utf8(bytes.clone())
                .unwrap()
                .replace(old_hex, new_hex)
                .into_bytes();
        }
    }
    // 3. The manifest's annotations edited, index left alone.
    let mut manifest_only = entries.clone();
    let hex = manifest_digest.strip_prefix("sha256:").unwrap();
    for (name, bytes) in manifest_only.iter_mut() {
        if name.ends_with(hex) {
            *bytes = String::from_utf8(bytes.clone())
                .unwrap()
                .replace("\"exorun\"", "\"someone else\"")
                .into_bytes();
        }
    }

    let cases = [
        (
            layer,
            format!(
                "the component does not match its digest: expected {layer_digest}, got sha256:"
            ),
        ),
        (
            config,
            format!("is over {manifest_digest}, not over this artifact {new_manifest}"),
        ),
        (
            manifest_only,
            format!(
                "the plugin's OCI manifest does not match its digest: expected {manifest_digest}"
            ),
        ),
    ];
    for (entries, says) in cases {
        let path = op.path(&format!("tampered-{}.tar", rand_suffix()));
        write_tar(&path, &entries);
        let out = op.run(&["install", path.to_str().unwrap(), "--yes"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stderr.contains(&says), "{says}\n{}", out.stderr);
        op.assert_nothing_installed();
    }
}

#[test]
fn oversized_blobs_are_refused_before_they_are_read() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let good = signed_bundle(&op, &plugin);
    let entries = read_tar(&good);
    let index_text = String::from_utf8(
        entries
            .iter()
            .find(|(n, _)| n == "index.json")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    let index: serde_json::Value = serde_json::from_str(&index_text).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let hex = manifest_digest.strip_prefix("sha256:").unwrap();
    let manifest_bytes = entries
        .iter()
        .find(|(n, _)| n.ends_with(hex))
        .unwrap()
        .1
        .clone();
    for (field, size, says) in [
        (
            "layers",
            300u64 << 20,
            "the component (314572800 bytes declared) is larger than 268435456 bytes; refused before downloading it",
        ),
        (
            "config",
            2 << 20,
            "the config (2097152 bytes declared) is larger than 1048576 bytes; refused before downloading it",
        ),
    ] {
        let mut manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
        if field == "layers" {
            manifest["layers"][0]["size"] = size.into();
        } else {
            manifest["config"]["size"] = size.into();
        }
        let mut edited = entries.clone();
        let new = replace_blob(
            &mut edited,
            &manifest_digest,
            serde_json::to_vec(&manifest).unwrap(),
        );
        for (name, bytes) in edited.iter_mut() {
            if name == "index.json" {
                *bytes = index_text.replace(&manifest_digest, &new).into_bytes();
            }
        }
        let path = op.path(&format!("oversized-{}.tar", rand_suffix()));
        write_tar(&path, &edited);
        let out = op.run(&["install", path.to_str().unwrap(), "--yes"]);
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains(says), "{says}\n{}", out.stderr);
        op.assert_nothing_installed();
    }
}

#[test]
fn bundles_with_traversal_links_or_foreign_entries_are_refused() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let good = signed_bundle(&op, &plugin);
    let entries = read_tar(&good);
    let raw_entry = |builder: &mut tar::Builder<std::fs::File>,
                     name: &[u8],
                     kind: tar::EntryType,
                     link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_entry_type(kind);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
    };
    type Extra = (
        &'static [u8],
        tar::EntryType,
        Option<&'static str>,
        &'static str,
    );
    let extras: [Extra; 4] = [
        (
            b"../../evil",
            tar::EntryType::Regular,
            None,
            "entry '../../evil' is not part of an OCI image layout",
        ),
        (
            b"blobs/sha256/aaaa",
            tar::EntryType::Symlink,
            Some("/etc/passwd"),
            "entry 'blobs/sha256/aaaa' is a Symlink; a bundle holds only regular files",
        ),
        (
            b"index2.json",
            tar::EntryType::Link,
            Some("index.json"),
            "entry 'index2.json' is a Link; a bundle holds only regular files",
        ),
        (
            b"/etc/cron.d/x",
            tar::EntryType::Regular,
            None,
            "entry '/etc/cron.d/x' is not part of an OCI image layout",
        ),
    ];
    for (name, kind, link, says) in extras {
        let path = op.path(&format!("hostile-{}.tar", rand_suffix()));
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        raw_entry(&mut builder, name, kind, link);
        for (entry, bytes) in &entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, entry, bytes.as_slice())
                .unwrap();
        }
        builder.finish().unwrap();
        drop(builder);
        let out = op.run(&["install", path.to_str().unwrap(), "--yes"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains(says), "{says}\n{}", out.stderr);
        op.assert_nothing_installed();
    }
    assert!(!op.dir.path().parent().unwrap().join("evil").exists());
    let refusals = op.package_records();
    assert_eq!(refusals.len(), 4);
    assert!(refusals.iter().all(|r| r["action"] == "refuse"));
}

#[test]
fn a_registry_serving_other_bytes_than_it_names_is_refused() {
    let registry = Registry::start(RegistrySetup::default());
    let (op, key) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let published = op.publish(&registry, &plugin, "0.1.0", Some(&key));
    assert_eq!(published.code, 0, "{}", published.stderr);
    let component = exorun_policy::Manifest::load(&plugin)
        .unwrap()
        .plugin
        .sha256
        .unwrap();
    let stored = registry.blob_file(&format!("sha256:{component}"));
    let mut bytes = std::fs::read(&stored).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&stored, &bytes).unwrap();
    let out = op.at(
        &registry,
        &[
            "install",
            &registry.reference("contoso/forwarding-audit:0.1.0"),
            "--yes",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "exorun: install refused: the component the registry sent does not match its digest: expected sha256:{component}, got sha256:"
        )),
        "{}",
        out.stderr
    );
    op.assert_nothing_installed();

    // The manifest itself, served changed under its tag: the digest the
    // registry states for it is not the digest of what it sends.
    let other = version(&op.path("other"), "0.2.0", |t| t);
    let digest = digest_in(&op.publish(&registry, &other, "0.2.0", Some(&key)));
    let stored = registry.blob_file(&digest);
    let text = std::fs::read_to_string(&stored)
        .unwrap()
        .replace("\"exorun\"", "\"ex0run\"");
    std::fs::write(&stored, text).unwrap();
    let out = op.at(
        &registry,
        &[
            "install",
            &registry.reference("contoso/forwarding-audit:0.2.0"),
            "--yes",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "exorun: install refused: the manifest the registry sent for 0.2.0 does not match its digest: expected {digest}, got sha256:"
        )),
        "{}",
        out.stderr
    );
    op.assert_nothing_installed();
}

/// Publishes 0.1.0 and 0.2.0 (which adds a Get-Mailbox parameter) and
/// installs 0.1.0.
fn installed_with_an_upgrade(registry: &Registry, op: &Operator) -> (String, String) {
    let key = op.key("contoso");
    op.trust("contoso", "Contoso IT", "contoso");
    let v1 = version(op.dir.path(), "0.1.0", |t| t);
    let v2 = version(op.dir.path(), "0.2.0", with_wider);
    let d1 = digest_in(&op.publish(registry, &v1, "0.1.0", Some(&key)));
    let d2 = digest_in(&op.publish(registry, &v2, "0.2.0", Some(&key)));
    let out = op.at(
        registry,
        &[
            "install",
            &registry.reference("contoso/forwarding-audit:0.1.0"),
            "--yes",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    (d1, d2)
}

#[test]
fn an_upgrade_that_widens_is_held_until_its_exact_digest_is_approved() {
    let registry = Registry::start(RegistrySetup::default());
    let op = Operator::new();
    let (d1, d2) = installed_with_an_upgrade(&registry, &op);
    let held = op.at(&registry, &["upgrade", NAME]);
    assert_eq!(held.code, 3, "{}", held.stderr);
    assert_eq!(
        held.stdout,
        format!(
            "Upgrade forwarding-audit 0.1.0 → 0.2.0 ({d2})\n  + WIDENS   new parameter Get-Mailbox -RecipientTypeDetails: one of [UserMailbox, SharedMailbox]\n\nHELD: 0.2.0 asks for more than 0.1.0; 0.1.0 keeps running until an operator approves with:\n  exorun upgrade forwarding-audit --approve {d2}\n"
        )
    );
    // Still 0.1.0, by name and in the lock.
    let run = op.run(&["run", NAME]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("forwarding-audit 0.1.0 (sha256 "),
        "{}",
        run.stderr
    );
    let listed: serde_json::Value =
        serde_json::from_str(&op.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["digest"], d1);
    assert_eq!(listed[0]["held"]["digest"], d2);
    assert_eq!(
        listed[0]["held"]["widens"][0],
        "new parameter Get-Mailbox -RecipientTypeDetails: one of [UserMailbox, SharedMailbox]"
    );
    // Approving another digest does nothing.
    let wrong = op.run(&["upgrade", NAME, "--approve", &d1]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains(&format!(
            "the upgrade waiting for approval is {d2}, not {d1}"
        )),
        "{}",
        wrong.stderr
    );
    let approved = op.run(&["upgrade", NAME, "--approve", &d2]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert_eq!(
        approved.stdout,
        format!("Approved: forwarding-audit is now 0.2.0 ({d2}).\n")
    );
    let run = op.run(&["run", NAME]);
    assert!(
        run.stderr.contains("forwarding-audit 0.2.0 (sha256 "),
        "{}",
        run.stderr
    );
    let actions: Vec<String> = op
        .package_records()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["install", "hold", "upgrade"]);
    let last = op.package_records().pop().unwrap();
    assert_eq!(last["digest"], d2);
    assert_eq!(
        last["message"],
        "approved: new parameter Get-Mailbox -RecipientTypeDetails: one of [UserMailbox, SharedMailbox]"
    );
}

#[test]
fn a_narrowing_upgrade_applies_at_once_and_a_downgrade_needs_a_flag() {
    let registry = Registry::start(RegistrySetup::default());
    let (op, key) = Operator::trusting_contoso();
    let v1 = version(op.dir.path(), "0.1.0", with_wider);
    let v2 = version(op.dir.path(), "0.2.0", |t| t);
    op.publish(&registry, &v1, "0.1.0", Some(&key));
    let d2 = digest_in(&op.publish(&registry, &v2, "0.2.0", Some(&key)));
    op.install_at(&registry, "0.1.0");
    let upgraded = op.at(&registry, &["upgrade", NAME]);
    assert_eq!(upgraded.code, 0, "{}", upgraded.stderr);
    assert_eq!(
        upgraded.stdout,
        format!(
            "Upgrade forwarding-audit 0.1.0 → 0.2.0 ({d2})\n  - narrows  parameter removed: Get-Mailbox -RecipientTypeDetails\nUpgraded forwarding-audit to 0.2.0.\n"
        )
    );
    let down = op.at(&registry, &["upgrade", NAME, "--to", "0.1.0"]);
    assert_eq!(down.code, 1);
    assert!(down.stderr.contains(
        "0.1.0 is lower than the installed 0.2.0; a downgrade can bring back fixed flaws: pass --allow-downgrade if you mean it"
    ), "{}", down.stderr);
    assert!(op.lock().contains(&format!("digest = \"{d2}\"")));
    // Allowed, the downgrade is still held: it widens again.
    let down = op.at(
        &registry,
        &["upgrade", NAME, "--to", "0.1.0", "--allow-downgrade"],
    );
    assert_eq!(down.code, 3, "{}", down.stderr);
}

#[test]
fn a_moved_tag_is_reported_and_the_lock_holds() {
    let registry = Registry::start(RegistrySetup::default());
    let op = Operator::new();
    let (d1, _) = installed_with_an_upgrade(&registry, &op);
    // Someone re-pushes 0.1.0 with other content (a registry lets them).
    let moved = version(&op.path("moved"), "0.1.0", |t| {
        t.replace("authors = [\"exorun\"]", "authors = [\"mallory\"]")
    });
    let artifact = Artifact::from_plugin(
        &moved,
        &PublishInfo {
            source: None,
            created: "2026-12-02T00:00:00Z".to_owned(),
        },
    )
    .unwrap();
    let reference =
        exorun_package::RegistryRef::parse(&registry.reference("contoso/forwarding-audit:0.1.0"))
            .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(
            exorun_package::remote::Registry::new(&reference, &registry.options())
                .unwrap()
                .push(&artifact, None),
        )
        .unwrap();
    let out = op.at(&registry, &["upgrade", NAME, "--to", "0.1.0"]);
    assert!(
        out.stderr.contains(&format!(
            "now points at {}, not the installed {d1}; the tag moved, the lock holds",
            artifact.manifest.digest
        )),
        "{}",
        out.stderr
    );
    assert!(op.lock().contains(&format!("digest = \"{d1}\"")));
    assert!(
        op.package_records()
            .iter()
            .any(|r| r["action"] == "moved-tag" && r["digest"] == artifact.manifest.digest)
    );
    // Installing the moved tag again is no way around the lock.
    let again = op.at(
        &registry,
        &[
            "install",
            &registry.reference("contoso/forwarding-audit:0.1.0"),
            "--yes",
            "--allow-unsigned",
        ],
    );
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .contains("forwarding-audit is installed already at 0.1.0"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_published_version_is_never_replaced() {
    let registry = Registry::start(RegistrySetup::default());
    let op = Operator::new();
    let key = op.key("contoso");
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let first = op.publish(&registry, &plugin, "0.1.0", Some(&key));
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The same version again, from a folder that differs in one word.
    let changed = version(&op.path("changed"), "0.1.0", |t| {
        t.replace("authors = [\"exorun\"]", "authors = [\"someone\"]")
    });
    let second = op.publish(&registry, &changed, "0.1.0", Some(&key));
    assert_eq!(second.code, 2);
    assert!(second.stderr.contains(&format!(
        "/contoso/forwarding-audit:0.1.0 is already published (digest {}); a published version never changes",
        digest_in(&first)
    )), "{}", second.stderr);
    // Name and version come from the manifest.
    let wrong = op.at(
        &registry,
        &[
            "publish",
            plugin.to_str().unwrap(),
            &registry.reference("contoso/forwarding-audit:9.9.9"),
        ],
    );
    assert!(
        wrong
            .stderr
            .contains("the reference's version is 9.9.9, the manifest's 0.1.0"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn a_registry_over_tls_with_a_private_ca_and_basic_auth() {
    let registry = Registry::start(RegistrySetup {
        tls: true,
        basic_auth: true,
    });
    let (op, key) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let published = op.publish(&registry, &plugin, "0.1.0", Some(&key));
    assert_eq!(published.code, 0, "{}", published.stderr);
    let reference = registry.reference("contoso/forwarding-audit:0.1.0");
    let installed = op.at(&registry, &["install", &reference, "--yes"]);
    assert_eq!(installed.code, 0, "{}", installed.stderr);

    // Without the CA the certificate is not trusted.
    let (user, password) = registry.login.clone().unwrap();
    let untrusted = op.run(&[
        "install",
        &reference,
        "--yes",
        "--registry-user",
        &user,
        "--registry-password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(untrusted.code, 1);
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
    // A wrong password is named as such.
    let wrong = op.path("wrong.password");
    std::fs::write(&wrong, "nope\n").unwrap();
    let refused = op.run(&[
        "install",
        &reference,
        "--yes",
        "--registry-ca",
        registry.ca.as_ref().unwrap().to_str().unwrap(),
        "--registry-user",
        &user,
        "--registry-password-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("the registry refused the credentials"),
        "{}",
        refused.stderr
    );
    // The password never reaches the audit trail.
    let audit = std::fs::read_to_string(op.path("audit.jsonl")).unwrap();
    assert!(!audit.contains("s3cret-registry-password"));

    // The lock remembers how the registry was reached (paths and the user,
    // never the password), so an upgrade needs no flags.
    let lock = op.lock();
    assert!(
        lock.contains(&format!(
            "ca = \"{}\"",
            registry.ca.as_ref().unwrap().display()
        )),
        "{lock}"
    );
    assert!(lock.contains("user = \"publisher\""), "{lock}");
    assert!(!lock.contains("s3cret"), "{lock}");
    let next = version(op.dir.path(), "0.2.0", |t| t);
    let published = op.publish(&registry, &next, "0.2.0", Some(&key));
    assert_eq!(published.code, 0, "{}", published.stderr);
    let upgraded = op.run(&["upgrade", NAME]);
    assert_eq!(upgraded.code, 0, "{}", upgraded.stderr);
    assert!(
        upgraded
            .stdout
            .ends_with("  permissions unchanged\nUpgraded forwarding-audit to 0.2.0.\n"),
        "{}",
        upgraded.stdout
    );
}

#[test]
fn an_edited_store_is_refused_not_run() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let bundle = signed_bundle(&op, &plugin);
    let out = op.run(&["install", bundle.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let folder = op.path("plugins/store/sha256").join(&op.stored()[0]);
    let manifest = folder.join("exorun.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text = text.replace("Mailbox = {}", "Mailbox = {}\nIdentity = {}");
    std::fs::write(&manifest, text).unwrap();
    let run = op.run(&["run", NAME]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("does not match the lock (exorun.toml); reinstall the plugin"),
        "{}",
        run.stderr
    );
}

#[test]
fn trust_and_keys_are_managed_from_the_command_line() {
    let op = Operator::new();
    op.key("contoso");
    let again = op.run(&[
        "key",
        "new",
        "--out",
        op.dir.path().to_str().unwrap(),
        "--name",
        "contoso",
        "--password-file",
        op.path("key.password").to_str().unwrap(),
    ]);
    assert_eq!(again.code, 2);
    assert!(
        again
            .stderr
            .contains("exists already; exorun never overwrites a key")
    );
    assert_eq!(
        std::fs::metadata(op.path("contoso.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    op.trust("contoso", "Contoso IT", "contoso");
    let listed = op.run(&["trust", "list"]);
    assert!(
        listed.stdout.contains(&format!(
            "{:<18} {:<30} contoso",
            op.key_id("contoso"),
            "Contoso IT"
        )),
        "{}",
        listed.stdout
    );
    let removed = op.run(&["trust", "remove", &op.key_id("contoso")]);
    assert_eq!(removed.code, 0);
    let listed = op.run(&["trust", "list"]);
    assert!(
        listed.stdout.starts_with("No trusted keys in "),
        "{}",
        listed.stdout
    );
    let bad = op.run(&["trust", "add", "RWQnotakey", "--publisher", "x"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("not a minisign public key"),
        "{}",
        bad.stderr
    );

    // A wrong key password is said plainly when publishing.
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    std::fs::write(op.path("wrong.password"), "nope\n").unwrap();
    let out = op.run(&[
        "bundle",
        plugin.to_str().unwrap(),
        "--namespace",
        "contoso",
        "-o",
        op.path("b.tar").to_str().unwrap(),
        "--sign",
        op.path("contoso.key").to_str().unwrap(),
        "--key-password-file",
        op.path("wrong.password").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("wrong password"), "{}", out.stderr);
    assert!(!op.path("b.tar").exists());
}

#[test]
fn a_layout_folder_installs_but_not_through_links() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let bundle = signed_bundle(&op, &plugin);
    // Unpacked, with `blobs` moved away and linked back.
    let linked = op.path("linked");
    unpack(&bundle, &linked);
    std::fs::rename(linked.join("blobs"), op.path("elsewhere")).unwrap();
    std::os::unix::fs::symlink(op.path("elsewhere"), linked.join("blobs")).unwrap();
    let out = op.run(&["install", linked.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("blobs is not a folder (links are refused)"),
        "{}",
        out.stderr
    );
    op.assert_nothing_installed();
    // Unpacked as it is, it installs.
    let folder = op.path("layout");
    unpack(&bundle, &folder);
    let out = op.run(&["install", folder.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

fn unpack(bundle: &Path, into: &Path) {
    for (name, bytes) in read_tar(bundle) {
        let path = into.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
fn a_bundle_with_too_many_entries_is_refused() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let bundle = signed_bundle(&op, &plugin);
    let mut entries = read_tar(&bundle);
    for i in 0..64 {
        entries.push((format!("blobs/sha256/{i:064x}"), Vec::new()));
    }
    let path = op.path("many.tar");
    write_tar(&path, &entries);
    let out = op.run(&["install", path.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("more than 64 entries; a bundle holds one plugin and its signature"),
        "{}",
        out.stderr
    );
    op.assert_nothing_installed();
}

#[test]
fn an_upgrade_must_come_from_the_same_package() {
    let (op, _) = Operator::trusting_contoso();
    op.trust("contoso", "Contoso IT", "fabrikam");
    let v1 = version(op.dir.path(), "0.1.0", |t| t);
    let v2 = version(op.dir.path(), "0.2.0", |t| t);
    let first = signed_bundle(&op, &v1);
    let out = op.run(&["install", first.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let other = crafted_bundle(&op, &v2, "fabrikam/forwarding-audit", "contoso", None, None);
    let out = op.run(&["upgrade", NAME, "--from", other.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "{} is the package fabrikam/forwarding-audit, not contoso/forwarding-audit that is installed as forwarding-audit",
            other.display()
        )),
        "{}",
        out.stderr
    );
    // An installed name and a folder of the same name: no guessing.
    let here = op.path("here");
    std::fs::create_dir_all(here.join(NAME)).unwrap();
    let mut command = exorun_command();
    let clash = command
        .current_dir(&here)
        .args(["run", NAME])
        .env("EXORUN_PLUGINS_DIR", op.path("plugins"))
        .output()
        .unwrap();
    assert_eq!(clash.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&clash.stderr).contains(
            "'forwarding-audit' is both a folder here and an installed plugin; say ./forwarding-audit for the folder"
        ),
        "{}",
        String::from_utf8_lossy(&clash.stderr)
    );
}

#[test]
fn the_consent_screen_says_when_a_plugin_asks_above_the_default_ceilings() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| {
        t.replace("max-calls = 200000", "max-calls = 2000000")
    });
    let bundle = signed_bundle(&op, &plugin);
    let out = op.run(&["install", bundle.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.lines().any(|l| l
            == "Note       it asks for 2000000 cmdlet calls, above the default ceiling of 1000000: `exorun run` needs --max-calls to run it"),
        "{}",
        out.stdout
    );
    let run = op.run(&["run", NAME]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("raise the ceiling with --max-calls"),
        "{}",
        run.stderr
    );
}

/// The artifact of `plugin` with an annotation that makes its OCI manifest
/// `bytes` long.
fn padded_artifact(plugin: &Path, bytes: usize) -> Artifact {
    let mut artifact = Artifact::from_plugin(
        plugin,
        &PublishInfo {
            source: None,
            created: "2026-12-02T00:00:00Z".to_owned(),
        },
    )
    .unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest.bytes).unwrap();
    manifest["annotations"]["padding"] = "x".repeat(bytes).into();
    artifact.manifest = exorun_package::Blob::new(
        exorun_package::media::OCI_MANIFEST,
        serde_json::to_vec(&manifest).unwrap(),
    );
    artifact
}

#[test]
fn an_oversized_manifest_is_refused_from_a_bundle_and_from_a_registry() {
    let op = Operator::new();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let artifact = padded_artifact(&plugin, 300 << 10);
    let name = PackageName::parse("contoso/forwarding-audit").unwrap();
    let bundle = op.path("padded.tar");
    write_bundle(&bundle, &name, &artifact, None).unwrap();
    let out = op.run(&[
        "install",
        bundle.to_str().unwrap(),
        "--yes",
        "--allow-unsigned",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(&format!(
            "blobs/sha256/{} in the bundle is larger than 262144 bytes; refused before downloading it",
            artifact.manifest.digest.strip_prefix("sha256:").unwrap()
        )),
        "{}",
        out.stderr
    );
    op.assert_nothing_installed();

    let registry = Registry::start(RegistrySetup::default());
    let reference =
        exorun_package::RegistryRef::parse(&registry.reference("contoso/forwarding-audit:0.1.0"))
            .unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(
            exorun_package::remote::Registry::new(&reference, &registry.options())
                .unwrap()
                .push(&artifact, None),
        )
        .unwrap();
    let out = op.at(
        &registry,
        &[
            "install",
            &reference.to_string(),
            "--yes",
            "--allow-unsigned",
        ],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("the OCI manifest is larger than 262144 bytes"),
        "{}",
        out.stderr
    );
    op.assert_nothing_installed();
}

#[test]
fn uninstall_takes_a_plugin_out_of_the_lock_and_the_store() {
    let (op, _) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let bundle = signed_bundle(&op, &plugin);
    let out = op.run(&["install", bundle.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let digest = op.run(&["list", "--json"]).stdout;
    let digest: serde_json::Value = serde_json::from_str(&digest).unwrap();
    let digest = digest[0]["digest"].as_str().unwrap().to_owned();
    let out = op.run(&["uninstall", NAME]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "Uninstalled forwarding-audit 0.1.0 ({digest}); 1 artifact folder(s) removed from the store.\n"
        )
    );
    op.assert_nothing_installed();
    let records = op.package_records();
    assert_eq!(records.last().unwrap()["action"], "uninstall");
    assert_eq!(records.last().unwrap()["digest"], digest);
    let run = op.run(&["run", NAME]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no installed plugin of that name"),
        "{}",
        run.stderr
    );
    let again = op.run(&["uninstall", NAME]);
    assert_eq!(again.code, 2);
    assert!(
        again
            .stderr
            .contains("no installed plugin is named 'forwarding-audit'")
    );
}

#[test]
fn inspect_previews_a_shared_plugin_without_installing_it() {
    let registry = Registry::start(RegistrySetup::default());
    let (op, key) = Operator::trusting_contoso();
    let plugin = version(op.dir.path(), "0.1.0", |t| t);
    let digest = digest_in(&op.publish(&registry, &plugin, "0.1.0", Some(&key)));
    let reference = registry.reference("contoso/forwarding-audit:0.1.0");
    let shown = op.at(&registry, &["inspect", &reference]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    for line in [
        format!("Digest     {digest}"),
        format!("Signed by  Contoso IT ({})", op.key_id("contoso")),
        "Cmdlets (anything not listed is denied)".to_owned(),
    ] {
        assert!(
            shown.stdout.lines().any(|l| l == line),
            "{line}\n{}",
            shown.stdout
        );
    }
    // A key the policy does not trust is shown as such, not refused: nothing
    // is installed by looking.
    let stranger = Operator::new();
    let shown = stranger.at(&registry, &["inspect", &reference]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains(&format!(
            "Signed by  NOT ACCEPTED: the signature is by key {}, which your trust policy does not hold",
            op.key_id("contoso")
        )),
        "{}",
        shown.stdout
    );
    // A bundle too.
    let bundle = signed_bundle(&op, &plugin);
    let shown = op.run(&["inspect", bundle.to_str().unwrap()]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .starts_with("Plugin     forwarding-audit 0.1.0\n"),
        "{}",
        shown.stdout
    );
    op.assert_nothing_installed();
    stranger.assert_nothing_installed();
}
