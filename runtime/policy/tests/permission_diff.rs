//! The permission diff `exorun upgrade` shows and holds widenings on:
//! every direction of every capability, compared at the finest level.

use std::path::Path;

use exorun_policy::{Change, Direction, Grants, Manifest};

const HEAD: &str = r#"
[plugin]
name = "forwarding"
version = "1.0.0"
component = "plugin.wasm"
"#;

fn manifest(body: &str) -> Manifest {
    Manifest::parse(Path::new("exorun.toml"), &format!("{HEAD}{body}")).expect("valid manifest")
}

fn diff(old: &str, new: &str) -> Vec<Change> {
    Grants::compare(manifest(old).grants(), manifest(new).grants())
}

fn only(changes: Vec<Change>) -> Change {
    assert_eq!(changes.len(), 1, "{changes:#?}");
    changes.into_iter().next().unwrap()
}

const READ: &str = r#"
[[cmdlet]]
name = "Get-Mailbox"
parameters.ResultSize = { set = ["Unlimited"] }
"#;

#[test]
fn identical_grants_have_no_changes_and_one_digest() {
    assert!(diff(READ, READ).is_empty());
    assert_eq!(
        manifest(READ).grants().permissions_sha256(),
        manifest(READ).grants().permissions_sha256()
    );
}

#[test]
fn plugin_text_does_not_change_the_permissions_digest() {
    let a = Manifest::parse(Path::new("exorun.toml"), &format!("{HEAD}{READ}")).unwrap();
    let other_head = HEAD.replace("1.0.0", "2.0.0") + "description = \"new words\"\n";
    let b = Manifest::parse(Path::new("exorun.toml"), &format!("{other_head}{READ}")).unwrap();
    assert_eq!(
        a.grants().permissions_sha256(),
        b.grants().permissions_sha256()
    );
    assert_ne!(
        a.grants().permissions_sha256(),
        manifest("").grants().permissions_sha256()
    );
}

#[test]
fn new_write_cmdlet_widens_access_and_adds_the_cmdlet() {
    let new = format!(
        "{READ}\n[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = {{ pattern = '.+@contoso\\.com' }}\n"
    );
    let changes = diff(READ, &new);
    assert_eq!(
        changes,
        vec![
            Change::widens("access: read-only → READ AND WRITE"),
            Change::widens(
                "new cmdlet Set-Mailbox (WRITE): -Identity (matches /.+@contoso\\.com/)"
            ),
        ]
    );
}

#[test]
fn removed_cmdlet_narrows() {
    let change = only(diff(READ, ""));
    assert_eq!(change, Change::narrows("cmdlet removed: Get-Mailbox"));
}

#[test]
fn new_parameter_widens_and_removed_parameter_narrows() {
    let wider = r#"
[[cmdlet]]
name = "Get-Mailbox"
parameters.ResultSize = { set = ["Unlimited"] }
parameters.Filter = {}
"#;
    assert_eq!(
        only(diff(READ, wider)),
        Change::widens("new parameter Get-Mailbox -Filter: any value")
    );
    assert_eq!(
        only(diff(wider, READ)),
        Change::narrows("parameter removed: Get-Mailbox -Filter")
    );
}

#[test]
fn set_entries_added_widen_and_dropped_narrow_ignoring_case() {
    let old = r#"
[[cmdlet]]
name = "Set-Mailbox"
parameters.Type = { set = ["Shared", "Room"] }
"#;
    let new = r#"
[[cmdlet]]
name = "Set-Mailbox"
parameters.Type = { set = ["shared", "Equipment"] }
"#;
    assert_eq!(
        diff(old, new),
        vec![
            Change::widens("Set-Mailbox -Type: set widened, adds [Equipment]"),
            Change::narrows("Set-Mailbox -Type: set narrowed, drops [Room]"),
        ]
    );
}

#[test]
fn a_changed_pattern_is_a_widening() {
    let old = "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { pattern = '.+@contoso\\.com' }\n";
    let new = "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { pattern = '.+@(contoso|fabrikam)\\.com' }\n";
    let change = only(diff(old, new));
    assert_eq!(change.direction, Direction::Widens);
    assert_eq!(
        change.text,
        "Set-Mailbox -Identity: pattern changed matches /.+@contoso\\.com/ → matches /.+@(contoso|fabrikam)\\.com/"
    );
}

#[test]
fn constraint_to_any_widens_and_any_to_constraint_narrows() {
    let constrained =
        "[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = { set = [\"alice\"] }\n";
    let open = "[[cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Identity = {}\n";
    assert_eq!(
        only(diff(constrained, open)),
        Change::widens("Get-Mailbox -Identity: one of [alice] → ANY VALUE")
    );
    assert_eq!(
        only(diff(open, constrained)),
        Change::narrows("Get-Mailbox -Identity: any value → one of [alice]")
    );
}

#[test]
fn a_set_inside_the_old_pattern_narrows_one_outside_widens() {
    let pattern = "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { pattern = '.+@contoso\\.com' }\n";
    let inside =
        "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { set = ['a@contoso.com'] }\n";
    let outside = "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { set = ['a@contoso.com', 'b@evil.example'] }\n";
    assert_eq!(only(diff(pattern, inside)).direction, Direction::Narrows);
    assert_eq!(only(diff(pattern, outside)).direction, Direction::Widens);
    assert_eq!(only(diff(inside, pattern)).direction, Direction::Widens);
}

#[test]
fn losing_sensitive_or_gaining_clear_widens() {
    let old = "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Password = { sensitive = true }\n";
    let new = "[[cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Password = { clear = true }\n";
    assert_eq!(
        diff(old, new),
        vec![
            Change::widens(
                "Set-Mailbox -Password: no longer sensitive (values appear in logs and the audit trail)"
            ),
            Change::widens("Set-Mailbox -Password: may now clear the property ($null, @(), @{})"),
        ]
    );
    assert!(
        diff(new, old)
            .iter()
            .all(|c| c.direction == Direction::Narrows)
    );
}

#[test]
fn higher_limits_widen_lower_limits_narrow() {
    let low = "[limits]\nmemory-mib = 64\nmax-calls = 100\n";
    let high = "[limits]\nmemory-mib = 128\nmax-calls = 50\n";
    assert_eq!(
        diff(low, high),
        vec![
            Change::widens("limits: memory MiB: 64 → 128"),
            Change::narrows("limits: cmdlet calls: 100 → 50"),
        ]
    );
}

#[test]
fn a_new_outputs_folder_widens() {
    assert_eq!(
        only(diff("", "[outputs]\n")),
        Change::widens("new outputs folder: up to 16 MiB in 100 files")
    );
    assert_eq!(
        only(diff("[outputs]\n", "")),
        Change::narrows("outputs folder removed")
    );
    assert_eq!(
        only(diff(
            "[outputs]\nmax-mib = 16\n",
            "[outputs]\nmax-mib = 64\n"
        )),
        Change::widens("outputs: MiB: 16 → 64")
    );
}

#[test]
fn changed_inputs_are_shown_but_neutral() {
    let change = only(diff(
        "[inputs]\nusers = { type = \"string\" }\n",
        "[inputs]\nmailboxes = { type = \"string\" }\n",
    ));
    assert_eq!(change.direction, Direction::Neutral);
    assert_eq!(
        change.text,
        "inputs: [users (string)] → [mailboxes (string)]"
    );
}
