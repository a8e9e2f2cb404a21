//! The generated Exchange role, end to end: `exorun rbac plan` for two
//! plugins against a simulated tenant, its commands applied in the tenant,
//! the app's Entra role removed; then both plugins still run, and the tenant
//! itself refuses a cmdlet or parameter outside the plugins' union and a
//! write outside the scope, even when they are sent straight to its
//! endpoint. `exorun rbac check` reports the tenant in step, then the
//! drift once someone widens the role.

use exorun_cmdlet::{Backend, Call, CmdletError};
use exorun_e2e::{Exorun, SimHarness, built_plugin, connect_to_sim, plugin_copy};
use exorun_sim_tenant::Caller;
use serde_json::Value as Json;

const PROBE: &str = "tests/plugins/scope-probe";
/// The probe's one cmdlet no built-in role is known to hold.
const UNSCOPED: &str =
    "[[cmdlet]]\nname = \"Set-TransportConfig\"\nparameters.MaxRecipientEnvelopeLimit = {}\n\n";

fn admin() -> Caller {
    Caller::exchange_administrator("11111111-2222-3333-4444-555555555555")
}

fn objects(harness: &SimHarness, call: &Call) -> Vec<Json> {
    let execution = harness.sim.tenant.execute(&admin(), call).unwrap();
    execution.page(0, execution.len())
}

/// `exorun <args>` connected to the simulator (`rbac` keeps no audit
/// trail, so without `--audit-log` for it).
async fn exorun(harness: &SimHarness, args: &[&str]) -> Exorun {
    let mut connection = harness.connection_args();
    if args[0] == "rbac"
        && let Some(at) = connection.iter().position(|a| a == "--audit-log")
    {
        connection.drain(at..at + 2);
    }
    let mut command = exorun_e2e::exorun_command();
    command
        .args(args)
        .args(connection)
        .env("EXORUN_POLICY_DIR", harness.path("no-policy"));
    exorun_e2e::run_blocking(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_role_lets_the_plugins_run_and_the_tenant_refuse_the_rest() {
    let harness = SimHarness::start(PROBE, 60, 3).await;
    let probe = plugin_copy(PROBE, &harness.path("plugins"), |text| {
        let without = text.replace(UNSCOPED, "");
        assert_ne!(without, text, "the probe's manifest changed");
        without
    });
    let probe = probe.display().to_string();
    let audit = built_plugin("plugins/forwarding-audit")
        .parent()
        .unwrap()
        .display()
        .to_string();

    // The plan, as JSON calls.
    let out = exorun(&harness, &["rbac", "plan", &probe, &audit, "--json"]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let plan: Json = serde_json::from_str(&out.stdout).unwrap();
    let calls: Vec<Call> = serde_json::from_value(plan["calls"].clone()).unwrap();
    let script: Vec<&str> = plan["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        script.contains(
            &"New-ManagementScope -Name 'exorun write scope' -RecipientRestrictionFilter 'Department -eq ''Sales'''"
        ),
        "{script:#?}"
    );
    assert_eq!(
        plan["entraRoles"],
        serde_json::json!(["Exchange Administrator"])
    );

    // An admin runs it once.
    for call in &calls {
        harness
            .sim
            .tenant
            .execute(&admin(), call)
            .unwrap_or_else(|e| panic!("{}: {e}", exorun_rbac::powershell::command(call)));
    }
    let check = exorun(&harness, &["rbac", "check", &probe, &audit]).await;
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.starts_with("in step"), "{}", check.stdout);
    assert!(
        check
            .stderr
            .contains("the app still holds the Entra role Exchange Administrator"),
        "{}",
        check.stderr
    );

    // … and removes the app's Entra role.
    let app_id = harness.sim.info.app_id.clone();
    harness.sim.directory().set_roles(&app_id, &[]).unwrap();

    // Both plugins still run.
    let mailboxes = objects(
        &harness,
        &Call::new("Get-Mailbox")
            .param("ResultSize", "Unlimited")
            .param("RecipientTypeDetails", "UserMailbox"),
    );
    let address = |m: &Json| m["PrimarySmtpAddress"].as_str().unwrap().to_owned();
    let sales = address(
        mailboxes
            .iter()
            .find(|m| m["Department"] == "Sales")
            .unwrap(),
    );
    let other = address(
        mailboxes
            .iter()
            .find(|m| m["Department"] != "Sales" && m["Department"] != "")
            .unwrap(),
    );
    let targets = format!("targets={sales}");
    let run = exorun(
        &harness,
        &[
            "run",
            &probe,
            "--input",
            "action=write",
            "--input",
            &targets,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.trim(), format!("{sales}: ok 0"));
    let run = exorun(&harness, &["run", &audit]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("(0 denied, 0 failed)"),
        "{}",
        run.stderr
    );

    // Straight to the endpoint, past exorun's gate, as the app.
    let client = connect_to_sim(&harness.sim.info).client();
    let refused = |result: Result<Vec<String>, CmdletError>| match result {
        Ok(_) => panic!("the tenant allowed it"),
        Err(e) => e.to_string(),
    };
    let outside = client
        .invoke(
            &Call::new("Set-Mailbox")
                .param("Identity", other.as_str())
                .param("CustomAttribute5", "probed"),
        )
        .await;
    assert!(
        refused(outside).contains("outside the write scope"),
        "a write outside the scope"
    );
    let parameter = client
        .invoke(
            &Call::new("Set-Mailbox")
                .param("Identity", sales.as_str())
                .param("HiddenFromAddressListsEnabled", true),
        )
        .await;
    assert!(
        refused(parameter).contains(
            "A parameter cannot be found that matches parameter name 'HiddenFromAddressListsEnabled'"
        ),
        "a parameter outside the union"
    );
    let cmdlet = client
        .invoke(
            &Call::new("Set-User")
                .param("Identity", sales.as_str())
                .param("Department", "Finance"),
        )
        .await;
    assert!(
        refused(cmdlet).contains("Set-User"),
        "a cmdlet outside the union"
    );
    assert_eq!(
        objects(
            &harness,
            &Call::new("Get-Mailbox").param("Identity", other.as_str())
        )[0]["CustomAttribute5"],
        ""
    );

    // Reading the role configuration is no longer the app's to do.
    let check = exorun(&harness, &["rbac", "check", &probe, &audit]).await;
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(
        check
            .stderr
            .contains("this connection may not read Exchange's role configuration"),
        "{}",
        check.stderr
    );
    // An auditor's rights (Global Reader) may.
    harness
        .sim
        .directory()
        .set_roles(&app_id, &["f2ef992c-3afb-46b9-b7cf-a126ee74c451"])
        .unwrap();

    // Someone widens the role: check names it.
    harness
        .sim
        .tenant
        .execute(
            &admin(),
            &Call::new("Set-ManagementRoleEntry")
                .param("Identity", "exorun Mail Recipients\\Set-Mailbox")
                .param(
                    "Parameters",
                    exorun_cmdlet::Value::Texts(vec!["HiddenFromAddressListsEnabled".into()]),
                )
                .param("AddParameter", true),
        )
        .unwrap();
    let check = exorun(&harness, &["rbac", "check", &probe, &audit]).await;
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    assert_eq!(
        check.stdout,
        "the tenant differs from the plan:\n  WIDER     role 'exorun Mail Recipients' allows Set-Mailbox -HiddenFromAddressListsEnabled, which no plugin needs\n"
    );
}
