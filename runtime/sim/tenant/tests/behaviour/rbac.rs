use exorun_cmdlet::{Call, CmdletError};
use exorun_sim_tenant::Caller;

use crate::tenant;

const APP: &str = "00000000-0000-0000-0000-00000000abcd";

#[test]
fn global_reader_can_read_mailboxes() {
    let t = tenant();
    let e = t
        .execute(
            &Caller::global_reader(APP),
            &Call::new("Get-Mailbox").param("Identity", "admin"),
        )
        .unwrap();
    assert_eq!(e.len(), 1);
}

#[test]
fn global_reader_cannot_set_mailbox() {
    let t = tenant();
    let err = t
        .execute(
            &Caller::global_reader(APP),
            &Call::new("Set-Mailbox")
                .param("Identity", "admin")
                .param("DisplayName", "x"),
        )
        .unwrap_err();
    assert_eq!(err.status, 403);
    assert_eq!(
        err.to_cmdlet_error(),
        CmdletError::Forbidden {
            message: format!(
                "The app '{APP}' isn't assigned to any management roles that allow running 'Set-Mailbox'."
            )
        }
    );
}

#[test]
fn global_reader_cannot_get_inbox_rule() {
    let t = tenant();
    let err = t
        .execute(
            &Caller::global_reader(APP),
            &Call::new("Get-InboxRule").param("Mailbox", "admin"),
        )
        .unwrap_err();
    assert_eq!(err.status, 403);
    assert_eq!(
        err.message,
        "Get-InboxRule doesn't work for members of the View-Only Organization Management role group or the Global Reader role."
    );
}

#[test]
fn security_reader_reads_but_does_not_write() {
    let t = tenant();
    let reader = Caller::security_reader(APP);
    assert!(
        t.execute(
            &reader,
            &Call::new("Get-InboxRule").param("Mailbox", "admin")
        )
        .is_ok()
    );
    assert_eq!(
        t.execute(
            &reader,
            &Call::new("Disable-InboxRule").param("Identity", "admin\\1")
        )
        .unwrap_err()
        .status,
        403
    );
}

#[test]
fn recipient_administrator_writes_recipients() {
    let t = tenant();
    let caller = Caller::exchange_recipient_administrator(APP);
    assert!(
        t.execute(
            &caller,
            &Call::new("Set-Mailbox")
                .param("Identity", "admin")
                .param("DisplayName", "Boss")
        )
        .is_ok()
    );
    assert!(
        t.execute(&caller, &Call::new("Get-OrganizationConfig"))
            .is_ok()
    );
}

#[test]
fn global_administrator_may_do_everything() {
    let t = tenant();
    let caller = Caller::global_administrator(APP);
    assert!(
        t.execute(
            &caller,
            &Call::new("Set-Mailbox")
                .param("Identity", "admin")
                .param("DisplayName", "Boss")
        )
        .is_ok()
    );
    assert!(
        t.execute(
            &caller,
            &Call::new("Get-InboxRule").param("Mailbox", "admin")
        )
        .is_ok()
    );
}

#[test]
fn callers_without_an_exchange_role_are_refused_everything() {
    let t = tenant();
    let nobody = Caller {
        app_id: APP.into(),
        role_template_ids: vec![],
    };
    let security_admin = Caller {
        app_id: APP.into(),
        role_template_ids: vec!["194ae4cb-b126-40b2-bd5b-6091b380977d".into()],
    };
    for caller in [nobody, security_admin] {
        let err = t.execute(&caller, &Call::new("Get-Mailbox")).unwrap_err();
        assert_eq!(err.status, 403);
        assert!(matches!(
            err.to_cmdlet_error(),
            CmdletError::Forbidden { .. }
        ));
    }
}
