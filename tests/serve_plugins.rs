//! Plugins installed, upgraded and removed through `exorun serve`'s API by
//! an admin, each install and upgrade only through its consent screen: the
//! real binary, a real OCI registry (Debian's docker-registry) on
//! 127.0.0.1, and plugins published and signed by `exorun publish`.

use exorun_e2e::publisher::{NAME, Publisher, with_wider};
use exorun_e2e::{Registry, RegistrySetup, ServeDir, Serving, exorun_in};
use serde_json::{Value, json};

/// serve.toml lines: the trust policy beside it, and the test registry.
fn config(registry: &Registry, extra: &str) -> String {
    format!(
        "trust-policy = \"trust.toml\"\n{extra}\n[[registry]]\nhost = \"{}\"\nplain-http = true\n",
        registry.address
    )
}

async fn trust_contoso(service: &Serving, publisher: &Publisher) {
    let (status, body) = service
        .post(
            "ada",
            "/trust",
            json!({"public_key": publisher.public_key(), "publisher": "Contoso IT", "namespaces": ["contoso"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Asks for an install as ada and returns the consent screen.
async fn ask_install(service: &Serving, reference: &str) -> Value {
    let (status, body) = service
        .post("ada", "/plugins", json!({"source": reference}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["consent"].clone()
}

async fn accept(service: &Serving, user: &str, screen: &Value, digest: &str) -> (u16, Value) {
    service
        .post(
            user,
            &format!("/consents/{}/accept", screen["id"].as_str().unwrap()),
            json!({"digest": digest}),
        )
        .await
}

async fn installed(service: &Serving) -> Vec<Value> {
    service.get("vic", "/plugins").await["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == NAME)
        .cloned()
        .collect()
}

fn package_records(dir: &ServeDir, action: &str) -> Vec<Value> {
    dir.audit()
        .into_iter()
        .filter(|r| r["kind"] == "package" && r["action"] == action)
        .collect()
}

#[tokio::test]
async fn an_admin_installs_a_signed_plugin_only_through_its_consent_screen() {
    let registry = Registry::start(RegistrySetup::default());
    let publisher = Publisher::new();
    let v1 = publisher.version("0.1.0", |t| t);
    let reference = publisher.publish(&registry, &v1, "0.1.0", true);
    let dir = ServeDir::new(&config(&registry, ""));
    let service = dir.start();

    // Only an admin may ask, and only for a registry serve.toml names.
    let (status, body) = service
        .post("alice", "/plugins", json!({"source": reference}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "alice has the role operator; installing a plugin needs the admin role"
    );
    let (status, body) = service
        .post(
            "ada",
            "/plugins",
            json!({"source": "registry.example.com/contoso/forwarding-audit:0.1.0"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("registry")),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "serve.toml declares no [[registry]] with host = \"registry.example.com\"; the service installs only from registries its config names"
    );
    let (status, body) = service
        .post("ada", "/plugins", json!({"source": "/etc/passwd"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the service installs from a registry"),
        "{body}"
    );

    // Signed by a key the service does not trust yet: refused, audited.
    let (status, body) = service
        .post("ada", "/plugins", json!({"source": reference}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("signature")),
        "{body}"
    );
    let refusals = package_records(&dir, "refuse");
    let refusal = refusals.last().expect("the refusal is audited");
    assert_eq!(refusal["operator"], "user:ada");
    assert_eq!(
        refusal["signer"],
        format!("key {} (not accepted)", publisher.key_id())
    );

    // Trusting the publisher: an admin's change, visible to everyone.
    let (status, body) = service
        .post(
            "alice",
            "/trust",
            json!({"public_key": publisher.public_key(), "publisher": "Contoso IT", "namespaces": ["contoso"]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = service
        .post(
            "ada",
            "/trust",
            json!({"public_key": publisher.public_key(), "publisher": "Contoso IT", "namespaces": []}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    trust_contoso(&service, &publisher).await;
    let trust = service.get("vic", "/trust").await;
    assert_eq!(trust["keys"][0]["key-id"], publisher.key_id());
    assert_eq!(trust["keys"][0]["namespaces"], json!(["contoso"]));

    // The consent screen: exactly what it may do; nothing installed yet.
    let screen = ask_install(&service, &reference).await;
    assert_eq!(screen["kind"], "install");
    assert_eq!(screen["plugin"], NAME);
    assert_eq!(screen["version"], "0.1.0");
    assert_eq!(
        screen["signer"],
        format!("Contoso IT ({})", publisher.key_id())
    );
    assert_eq!(screen["unsigned"], false);
    assert_eq!(screen["requested_by"], "user:ada");
    let lines: Vec<&str> = screen["permission_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("Get-InboxRule")),
        "{lines:?}"
    );
    let digest = screen["digest"].as_str().unwrap().to_owned();
    assert!(installed(&service).await.is_empty());
    let waiting = service.get("vic", "/consents").await;
    assert_eq!(waiting["consents"][0]["id"], screen["id"]);

    // The store's copy edited after the screen was shown: accepting it
    // is refused, and asking again repairs the copy from the registry.
    let folder = dir
        .path()
        .join("data/plugins/store/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    let manifest = folder.join("exorun.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[[cmdlet]]\nname = \"Set-Mailbox\"\n"),
    )
    .unwrap();
    let (status, body) = accept(&service, "ada", &screen, &digest).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("artifact")),
        "{body}"
    );
    assert!(installed(&service).await.is_empty());
    let screen = ask_install(&service, &reference).await;
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);

    // Consent is to that digest, by an admin.
    let (status, body) = accept(
        &service,
        "ada",
        &screen,
        &format!("sha256:{}", "0".repeat(64)),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = accept(&service, "bob", &screen, &digest).await;
    assert_eq!(status, 403, "{body}");
    assert!(installed(&service).await.is_empty());
    let (status, body) = accept(&service, "ada", &screen, &digest).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = accept(&service, "ada", &screen, &digest).await;
    assert_eq!(status, 404, "{body}");
    // The wrong digest, the approver and the second accept are refusals
    // on the record.
    let refused: Vec<String> = dir
        .audit()
        .iter()
        .filter(|r| {
            r["kind"] == "service" && r["action"] == "plugin.accept" && r["decision"] == "denied"
        })
        .map(|r| {
            format!(
                "{} {}",
                r["operator"].as_str().unwrap(),
                r["rule"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        refused,
        ["user:ada conflict", "user:bob role", "user:ada not-found"]
    );
    assert_eq!(service.get("vic", "/consents").await["consents"], json!([]));

    let plugin = &installed(&service).await[0];
    assert_eq!(plugin["version"], "0.1.0");
    assert_eq!(plugin["digest"], digest);
    assert_eq!(
        plugin["signer"],
        format!("Contoso IT ({})", publisher.key_id())
    );
    let installs = package_records(&dir, "install");
    let install = installs.last().unwrap();
    assert_eq!(install["operator"], "user:ada");
    assert_eq!(install["digest"], digest);
    assert!(
        install["message"].as_str().unwrap().starts_with(&format!(
            "consented on screen {}",
            screen["id"].as_str().unwrap()
        )),
        "{install}"
    );

    // Installed through the API, it runs like any other.
    let id = service.start_run("alice", NAME, json!({})).await;
    let run = service.wait_for(&id, &["succeeded", "failed"]).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");

    // Asking again for what is installed is a conflict, not a new screen.
    let (status, body) = service
        .post("ada", "/plugins", json!({"source": reference}))
        .await;
    assert_eq!(status, 409, "{body}");
    drop(service);
    // The CLI sees the same install in the same store.
    let out = exorun_in(
        dir.path(),
        &["list", "--plugins-dir", "data/plugins", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&digest), "{}", out.stdout);
}

#[tokio::test]
async fn an_upgrade_shows_what_it_widens_and_applies_only_what_was_accepted() {
    let registry = Registry::start(RegistrySetup::default());
    let publisher = Publisher::new();
    let v1 = publisher.version("0.1.0", |t| t);
    let v2 = publisher.version("0.2.0", with_wider);
    let reference = publisher.publish(&registry, &v1, "0.1.0", true);
    publisher.publish(&registry, &v2, "0.2.0", true);
    let dir = ServeDir::new(&config(&registry, ""));
    let service = dir.start();
    trust_contoso(&service, &publisher).await;
    let screen = ask_install(&service, &reference).await;
    let d1 = screen["digest"].as_str().unwrap().to_owned();
    assert_eq!(accept(&service, "ada", &screen, &d1).await.0, 200);

    // Two screens for the same upgrade: the first accepted wins, the
    // second was made against a lock that has changed since.
    let upgrade = format!("/plugins/{NAME}/upgrade");
    let (status, first) = service.post("ada", &upgrade, json!({})).await;
    assert_eq!(status, 201, "{first}");
    let first = first["consent"].clone();
    assert_eq!(first["kind"], "upgrade");
    assert_eq!(first["from_version"], "0.1.0");
    assert_eq!(first["version"], "0.2.0");
    assert_eq!(
        first["changes"],
        json!([{"direction": "widens", "text": "new parameter Get-Mailbox -RecipientTypeDetails: one of [UserMailbox, SharedMailbox]"}])
    );
    let d2 = first["digest"].as_str().unwrap().to_owned();
    let (_, second) = service.post("ada", &upgrade, json!({"to": "0.2.0"})).await;
    let second = second["consent"].clone();
    assert_eq!(installed(&service).await[0]["version"], "0.1.0");
    assert_eq!(accept(&service, "ada", &first, &d2).await.0, 200);
    assert_eq!(installed(&service).await[0]["version"], "0.2.0");
    let (status, body) = accept(&service, "ada", &second, &d2).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed while this waited for consent"),
        "{body}"
    );
    let upgrades = package_records(&dir, "upgrade");
    assert!(
        upgrades.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .ends_with("approved: new parameter Get-Mailbox -RecipientTypeDetails: one of [UserMailbox, SharedMailbox]"),
        "{upgrades:?}"
    );

    // Going down needs saying so; declined, nothing changes.
    let (status, body) = service.post("ada", &upgrade, json!({"to": "0.1.0"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("version")),
        "{body}"
    );
    let (status, body) = service
        .post(
            "ada",
            &upgrade,
            json!({"to": "0.1.0", "allow_downgrade": true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let down = body["consent"].clone();
    assert_eq!(
        down["changes"],
        json!([{"direction": "narrows", "text": "parameter removed: Get-Mailbox -RecipientTypeDetails"}])
    );
    let (status, body) = service
        .post(
            "ada",
            &format!("/consents/{}/decline", down["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(installed(&service).await[0]["version"], "0.2.0");
    let refusals = package_records(&dir, "refuse");
    assert!(
        refusals.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("user:ada declined consent screen"),
        "{refusals:?}"
    );
    let (status, body) = service.post("ada", &upgrade, json!({"to": "next"})).await;
    assert_eq!(status, 400, "{body}");

    // Uninstalled by an admin only; gone from the list and the store.
    let (status, _) = service
        .call(Some("alice"), "DELETE", &format!("/plugins/{NAME}"), None)
        .await;
    assert_eq!(status, 403);
    let (status, body) = service
        .call(Some("ada"), "DELETE", &format!("/plugins/{NAME}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(installed(&service).await.is_empty());
    let (status, _) = service
        .call(Some("ada"), "DELETE", &format!("/plugins/{NAME}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        package_records(&dir, "uninstall").last().unwrap()["operator"],
        "user:ada"
    );
}

#[tokio::test]
async fn an_upgrade_held_by_the_cli_is_approved_on_its_consent_screen() {
    let registry = Registry::start(RegistrySetup::default());
    let publisher = Publisher::new();
    let v1 = publisher.version("0.1.0", |t| t);
    let v2 = publisher.version("0.2.0", with_wider);
    let reference = publisher.publish(&registry, &v1, "0.1.0", true);
    publisher.publish(&registry, &v2, "0.2.0", true);
    let dir = ServeDir::new(&config(&registry, ""));
    let service = dir.start();
    trust_contoso(&service, &publisher).await;
    let screen = ask_install(&service, &reference).await;
    assert_eq!(
        accept(&service, "ada", &screen, screen["digest"].as_str().unwrap())
            .await
            .0,
        200
    );

    // `exorun upgrade` on the server, unattended: widening, so held.
    let mut args = vec![
        "upgrade",
        NAME,
        "--plugins-dir",
        "data/plugins",
        "--trust-policy",
        "trust.toml",
        "--audit-log",
        "data/audit.jsonl",
    ];
    let flags = registry.args();
    args.extend(flags.iter().map(String::as_str));
    let out = exorun_in(dir.path(), &args);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let plugin = &installed(&service).await[0];
    assert_eq!(plugin["pending_upgrade"], "0.2.0");

    let (status, _) = service
        .post("alice", &format!("/plugins/{NAME}/held"), json!({}))
        .await;
    assert_eq!(status, 403);
    let (status, body) = service
        .post("ada", &format!("/plugins/{NAME}/held"), json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let held = body["consent"].clone();
    assert_eq!(held["kind"], "approve-held");
    assert_eq!(held["changes"][0]["direction"], "widens");
    let (status, body) = accept(&service, "ada", &held, held["digest"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let plugin = &installed(&service).await[0];
    assert_eq!(plugin["version"], "0.2.0");
    assert_eq!(plugin["pending_upgrade"], Value::Null);
    let (status, body) = service
        .post("ada", &format!("/plugins/{NAME}/held"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn an_unsigned_plugin_needs_the_config_setting_and_says_so_on_its_screen() {
    let registry = Registry::start(RegistrySetup::default());
    let publisher = Publisher::new();
    let v1 = publisher.version("0.1.0", |t| t);
    let reference = publisher.publish(&registry, &v1, "0.1.0", false);

    let strict = ServeDir::new(&config(&registry, ""));
    let service = strict.start();
    let (status, body) = service
        .post("ada", "/plugins", json!({"source": reference}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("unsigned")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow-unsigned-plugins = true in serve.toml"),
        "{body}"
    );
    drop(service);

    let lenient = ServeDir::new(&config(&registry, "allow-unsigned-plugins = true"));
    let service = lenient.start();
    let screen = ask_install(&service, &reference).await;
    assert_eq!(screen["unsigned"], true);
    assert_eq!(screen["signer"], "unsigned");
    let (status, body) = accept(&service, "ada", &screen, screen["digest"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(installed(&service).await[0]["signer"], "unsigned");
    assert_eq!(
        package_records(&lenient, "install").last().unwrap()["signer"],
        "unsigned"
    );
}
