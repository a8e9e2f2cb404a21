//! Exchange RBAC for an app: a service principal in a role group whose
//! custom role and write scope allow less than an Entra role would.

use exorun_cmdlet::{Call, Value};
use exorun_sim_tenant::{Caller, Tenant};

use super::{admin, fail, one, run, tenant};

const APP: &str = "99999999-8888-7777-6666-555555555555";

/// The app with no Entra role at all.
fn app() -> Caller {
    Caller::new(APP, &[])
}

fn texts(values: &[&str]) -> Value {
    Value::Texts(values.iter().map(|v| (*v).to_owned()).collect())
}

/// A role "Tidy" from Mail Recipients with only Get-Mailbox and
/// Set-Mailbox (-Identity, -CustomAttribute5), writes scoped to Sales, and
/// a role group with the app's service principal in it.
fn set_up(tenant: &Tenant) {
    run(
        tenant,
        Call::new("New-ServicePrincipal")
            .param("AppId", APP)
            .param("ObjectId", "aaaaaaaa-0000-0000-0000-000000000001")
            .param("DisplayName", "exorun"),
    );
    run(
        tenant,
        Call::new("New-ManagementRole")
            .param("Name", "Tidy")
            .param("Parent", "Mail Recipients"),
    );
    let entries = run(
        tenant,
        Call::new("Get-ManagementRoleEntry").param("Identity", "Tidy\\*"),
    );
    for entry in entries {
        let cmdlet = entry["Name"].as_str().unwrap();
        if cmdlet != "Get-Mailbox" && cmdlet != "Set-Mailbox" {
            run(
                tenant,
                Call::new("Remove-ManagementRoleEntry")
                    .param("Identity", format!("Tidy\\{cmdlet}"))
                    .param("Confirm", false),
            );
        }
    }
    run(
        tenant,
        Call::new("Set-ManagementRoleEntry")
            .param("Identity", "Tidy\\Set-Mailbox")
            .param("Parameters", texts(&["Identity", "CustomAttribute5"])),
    );
    run(
        tenant,
        Call::new("New-ManagementScope")
            .param("Name", "Sales")
            .param("RecipientRestrictionFilter", "Department -eq 'Sales'"),
    );
    run(
        tenant,
        Call::new("New-RoleGroup")
            .param("Name", "exorun plugins")
            .param("Roles", texts(&["Tidy"]))
            .param("Members", texts(&["exorun"]))
            .param("CustomRecipientWriteScope", "Sales"),
    );
}

/// A user mailbox in Sales and one outside it.
fn sales_and_other(tenant: &Tenant) -> (String, String) {
    let all = run(
        tenant,
        Call::new("Get-Mailbox")
            .param("ResultSize", "Unlimited")
            .param("RecipientTypeDetails", "UserMailbox"),
    );
    let address = |m: &serde_json::Value| m["PrimarySmtpAddress"].as_str().unwrap().to_owned();
    let sales = all.iter().find(|m| m["Department"] == "Sales").unwrap();
    let other = all
        .iter()
        .find(|m| m["Department"] != "Sales" && m["Department"] != "")
        .unwrap();
    (address(sales), address(other))
}

#[test]
fn without_a_role_group_an_app_without_an_entra_role_may_do_nothing() {
    let tenant = tenant();
    let error = tenant
        .execute(&app(), &Call::new("Get-Mailbox"))
        .unwrap_err();
    assert_eq!(error.string_id, "AccessDenied", "{error:?}");
}

#[test]
fn a_role_group_allows_exactly_its_roles_entries_parameters_and_scope() {
    let tenant = tenant();
    set_up(&tenant);
    let (sales, other) = sales_and_other(&tenant);
    let app = app();

    // A cmdlet of the role, with its parameters.
    let read = tenant
        .execute(
            &app,
            &Call::new("Get-Mailbox").param("Identity", sales.as_str()),
        )
        .unwrap();
    assert_eq!(read.len(), 1);
    tenant
        .execute(
            &app,
            &Call::new("Set-Mailbox")
                .param("Identity", sales.as_str())
                .param("CustomAttribute5", "tidied"),
        )
        .unwrap();
    assert_eq!(
        one(
            &tenant,
            Call::new("Get-Mailbox").param("Identity", sales.as_str())
        )["CustomAttribute5"],
        "tidied"
    );

    // A cmdlet the role's entries no longer have does not exist for the app.
    let error = tenant
        .execute(
            &app,
            &Call::new("Get-InboxRule").param("Mailbox", sales.as_str()),
        )
        .unwrap_err();
    assert_eq!(error.code, fail(&tenant, Call::new("Get-NoSuchThing")).code);
    assert!(error.message.contains("Get-InboxRule"), "{error:?}");

    // A parameter the entry no longer lists.
    let error = tenant
        .execute(
            &app,
            &Call::new("Set-Mailbox")
                .param("Identity", sales.as_str())
                .param("ForwardingSmtpAddress", "x@example.org"),
        )
        .unwrap_err();
    assert_eq!(
        error.message,
        "A parameter cannot be found that matches parameter name 'ForwardingSmtpAddress'."
    );

    // A write outside the write scope, however the target is named.
    for target in [other.clone(), other.split('@').next().unwrap().to_owned()] {
        let error = tenant
            .execute(
                &app,
                &Call::new("Set-Mailbox")
                    .param("Identity", target.as_str())
                    .param("CustomAttribute5", "tidied"),
            )
            .unwrap_err();
        assert_eq!(error.string_id, "AccessDenied", "{error:?}");
        assert!(
            error.message.contains("outside the write scope"),
            "{error:?}"
        );
    }
    assert_eq!(
        one(
            &tenant,
            Call::new("Get-Mailbox").param("Identity", other.as_str())
        )["CustomAttribute5"],
        ""
    );
    // Reads are not held to the write scope.
    assert_eq!(
        tenant
            .execute(
                &app,
                &Call::new("Get-Mailbox").param("Identity", other.as_str())
            )
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn built_in_roles_cannot_be_changed_and_a_child_keeps_only_its_parents_parameters() {
    let tenant = tenant();
    set_up(&tenant);
    let error = fail(
        &tenant,
        Call::new("Remove-ManagementRoleEntry").param("Identity", "Mail Recipients\\Set-Mailbox"),
    );
    assert!(error.message.contains("built-in role"), "{error:?}");
    let error = fail(
        &tenant,
        Call::new("Set-ManagementRoleEntry")
            .param("Identity", "Tidy\\Set-Mailbox")
            .param("Parameters", texts(&["NoSuchParameter"]))
            .param("AddParameter", true),
    );
    assert!(error.message.contains("NoSuchParameter"), "{error:?}");
    let entry = one(
        &tenant,
        Call::new("Get-ManagementRoleEntry").param("Identity", "Tidy\\Set-Mailbox"),
    );
    assert_eq!(
        entry["Parameters"],
        serde_json::json!(["Identity", "CustomAttribute5"])
    );
    // The tenant file keeps all of it.
    let saved = Tenant::from_json(&tenant.to_json()).unwrap();
    let again = one(
        &saved,
        Call::new("Get-ManagementRoleEntry").param("Identity", "Tidy\\Set-Mailbox"),
    );
    assert_eq!(again["Parameters"], entry["Parameters"]);
    let group = one(
        &saved,
        Call::new("Get-RoleGroup").param("Identity", "exorun plugins"),
    );
    assert_eq!(group["CustomRecipientWriteScope"], "Sales");
    let _ = admin();
}
