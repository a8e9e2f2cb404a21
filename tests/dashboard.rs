//! The dashboard in a real browser: Debian's headless Chromium driven
//! through ChromeDriver, against `exorun serve` on 127.0.0.1. One person
//! logs in, starts a run and watches it finish, asks for a write that
//! needs approval; a second person approves it and sees the apply and the
//! audit entry. Screenshots of each step are kept in
//! `target/dashboard-screenshots/`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exorun_e2e::publisher::{NAME, Publisher, with_wider};
use exorun_e2e::{PASSWORD, Registry, RegistrySetup, ServeDir, which};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// ChromeDriver on a free loopback port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let chromedriver = which("chromedriver")
            .expect("chromedriver is installed by `make test` (Debian's chromium-driver package)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url,
            _profile: tempfile::tempdir().unwrap(),
        }
    }

    async fn browser(&self) -> Client {
        let chromium = which("chromium").expect("chromium is installed by `make test`");
        let profile = tempfile::tempdir().unwrap().keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn screenshot(browser: &Client, name: &str) {
    let dir = exorun_e2e::repo_root().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The element once it is on the page. Retries every error, since a find
/// made while a form's submission navigates is aborted by the navigation.
async fn appears(browser: &Client, css: &str, seconds: u64) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        match browser.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) if std::time::Instant::now() >= deadline => {
                panic!("{css} did not appear within {seconds} s: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits until the element's text is one of `expected`.
async fn wait_text(browser: &Client, css: &str, expected: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(t) = element.text().await
            && expected.contains(&t.trim())
        {
            return t.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{css} never became one of {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_in(browser: &Client, base: &str, user: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    browser
        .find(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    browser
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(browser, "#login").await;
    appears(browser, "#who", 20).await;
    assert!(text(browser, "#who").await.starts_with(user));
}

async fn start_run(browser: &Client, plugin: &str) -> String {
    browser
        .find(Locator::Css(&format!(
            "#run-plugin option[value='{plugin}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(browser, "#run-start").await;
    // Read again when the page was still changing under the first read.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(id)) = appears(browser, "#run", 30).await.attr("data-id").await {
            return id;
        }
        assert!(Instant::now() < deadline, "the run page never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_run_watched_live_and_a_plan_approved_by_a_second_person_in_the_browser() {
    let dir = ServeDir::new("[[plugin]]\nname = \"forwarding-cleanup\"\napproval = \"two-person\"");
    let service = dir.start();
    let base = service.url.clone();
    let driver = Driver::start();
    let browser = driver.browser().await;

    // A wrong password is refused on the login page.
    browser.goto(&format!("{base}/runs")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
    );
    browser
        .find(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys("not the password")
        .await
        .unwrap();
    click(&browser, "#login").await;
    let error = appears(&browser, "#login-error", 20).await;
    assert_eq!(
        error.text().await.unwrap(),
        "the user name or password is wrong"
    );

    // alice starts a read-only run and watches it finish.
    log_in(&browser, &base, "alice").await;
    screenshot(&browser, "1-runs").await;
    let run = start_run(&browser, "mailbox-report").await;
    assert_eq!(
        wait_text(&browser, "#run-status", &["succeeded", "failed"]).await,
        "succeeded"
    );
    let progress = browser
        .execute(
            "const p = document.querySelector('#run-progress'); return [p.value, p.max];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(progress, json!([100, 100]), "the bar is full");
    let log = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#run-output:not([hidden])"))
        .await;
    assert!(log.is_ok(), "the output is offered for download");
    assert!(text(&browser, "#run-calls").await.parse::<u64>().unwrap() > 1);
    screenshot(&browser, "2-run-finished").await;

    // alice asks for a write: it plans, and waits for someone else.
    browser.goto(&format!("{base}/runs")).await.unwrap();
    let what_if = start_run(&browser, "forwarding-cleanup").await;
    assert_ne!(what_if, run);
    appears(&browser, "#run-plan", 120).await;
    assert_eq!(text(&browser, "#run-status").await, "awaiting-approval");
    click(&browser, "#run-plan").await;
    appears(&browser, "#plan", 30).await;
    // An operator sees the plan but cannot approve it.
    assert!(browser.find(Locator::Css("#plan-approve")).await.is_err());
    screenshot(&browser, "3-plan-as-requester").await;
    let plan_url = browser.current_url().await.unwrap();
    click(&browser, "#logout").await;
    appears(&browser, "#login", 30).await;

    // bob, an approver, reviews the plan grouped by object and approves it.
    log_in(&browser, &base, "bob").await;
    browser.goto(plan_url.as_str()).await.unwrap();
    let objects = browser
        .find_all(Locator::Css("section.object"))
        .await
        .unwrap();
    assert!(!objects.is_empty());
    assert_eq!(text(&browser, "#plan-status").await, "pending");
    screenshot(&browser, "4-plan-for-approver").await;
    click(&browser, "#plan-approve").await;
    appears(&browser, "#run", 30).await;
    assert_eq!(
        wait_text(&browser, "#run-status", &["succeeded", "failed"]).await,
        "succeeded"
    );
    screenshot(&browser, "5-apply-finished").await;

    // The audit page shows the approval, by bob, and the chain verifies.
    browser
        .goto(&format!("{base}/audit?action=plan.approve"))
        .await
        .unwrap();
    assert!(
        text(&browser, "#audit-verify")
            .await
            .starts_with("The chain verifies:")
    );
    let rows = text(&browser, "#audit tbody").await;
    assert!(
        rows.contains("user:bob") && rows.contains("plan.approve"),
        "{rows}"
    );
    screenshot(&browser, "6-audit").await;

    // The pages hold nothing from elsewhere, and say so.
    let response = service
        .client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'self'"),
        "{csp}"
    );
    browser.close().await.unwrap();
}

#[tokio::test]
async fn an_admin_trusts_a_publisher_and_installs_and_upgrades_through_consent_screens() {
    let registry = Registry::start(RegistrySetup::default());
    let publisher = Publisher::new();
    let v1 = publisher.version("0.1.0", |t| t);
    let v2 = publisher.version("0.2.0", with_wider);
    let reference = publisher.publish(&registry, &v1, "0.1.0", true);
    let dir = ServeDir::new(&format!(
        "trust-policy = \"trust.toml\"\n[[registry]]\nhost = \"{}\"\nplain-http = true\n",
        registry.address
    ));
    let service = dir.start();
    let base = service.url.clone();
    let driver = Driver::start();
    let browser = driver.browser().await;
    log_in(&browser, &base, "ada").await;

    // Trust the publisher's key for its namespace.
    browser.goto(&format!("{base}/trust")).await.unwrap();
    appears(&browser, "#trust-form", 20).await;
    for (css, value) in [
        ("#trust-key", publisher.public_key()),
        ("#trust-publisher", "Contoso IT".to_owned()),
        ("#trust-namespaces", "contoso".to_owned()),
    ] {
        browser
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(&value)
            .await
            .unwrap();
    }
    click(&browser, "#trust-submit").await;
    appears(
        &browser,
        &format!("#trust button[data-key='{}']", publisher.key_id()),
        20,
    )
    .await;
    screenshot(&browser, "7-trust").await;

    // Ask for the install: the consent screen shows who signed it and
    // everything it may do; nothing is installed before the click.
    browser.goto(&format!("{base}/plugins")).await.unwrap();
    browser
        .find(Locator::Css("#install-source"))
        .await
        .unwrap()
        .send_keys(&reference)
        .await
        .unwrap();
    click(&browser, "#install-submit").await;
    appears(&browser, "#consent", 60).await;
    assert_eq!(
        text(&browser, "#consent-signer").await,
        format!("Contoso IT ({})", publisher.key_id())
    );
    assert!(
        text(&browser, "#consent-permissions")
            .await
            .contains("Get-InboxRule")
    );
    screenshot(&browser, "8-consent-install").await;
    let (_, plugins) = service.call(Some("vic"), "GET", "/plugins", None).await;
    assert!(!plugins.to_string().contains(NAME));
    click(&browser, "#consent-accept").await;
    let section = format!("#plugin-{NAME} .version");
    appears(&browser, &section, 30).await;
    assert_eq!(text(&browser, &section).await, "0.1.0");

    // An upgrade that widens says so in red before it is accepted.
    publisher.publish(&registry, &v2, "0.2.0", true);
    click(&browser, &format!("#plugin-{NAME} .plugin-upgrade")).await;
    appears(&browser, "#consent-changes li.widens", 60).await;
    assert_eq!(
        text(&browser, "#consent-changes").await,
        "WIDENS new parameter Get-Mailbox -RecipientTypeDetails: one of [UserMailbox, SharedMailbox]"
    );
    screenshot(&browser, "9-consent-upgrade").await;
    click(&browser, "#consent-accept").await;
    appears(&browser, &section, 30).await;
    assert_eq!(wait_text(&browser, &section, &["0.2.0"]).await, "0.2.0");

    // A second tenant, simulated, added from the Tenants page.
    browser.goto(&format!("{base}/tenants")).await.unwrap();
    appears(&browser, "#tenant-form", 20).await;
    browser
        .find(Locator::Css("#tenant-name"))
        .await
        .unwrap()
        .send_keys("fabrikam")
        .await
        .unwrap();
    click(&browser, "#tenant-simulated").await;
    click(&browser, "#tenant-submit").await;
    appears(&browser, "#tenant-fabrikam .tenant-remove", 60).await;
    assert!(
        text(&browser, "#tenant-fabrikam")
            .await
            .contains("added by user:ada"),
        "{}",
        text(&browser, "#tenant-fabrikam").await
    );
    screenshot(&browser, "10-tenants").await;

    // The audit page names ada for both decisions.
    browser
        .goto(&format!("{base}/audit?action=plugin.accept"))
        .await
        .unwrap();
    let rows = text(&browser, "#audit tbody").await;
    assert_eq!(rows.matches("user:ada").count(), 2, "{rows}");
    browser.close().await.unwrap();
}
