use std::sync::Arc;

use exorun_cmdlet::{Call, Leaf, Value as P};

use crate::{admin, run, tenant};

#[test]
fn concurrent_writes_from_several_threads_stay_consistent() {
    let t = Arc::new(tenant());
    let threads: Vec<_> = (0..6)
        .map(|n| {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let address = format!("t{n}x{i}@contoso.com");
                    let add = P::Table(vec![("Add".into(), Leaf::Text(address))]);
                    t.execute(
                        &admin(),
                        &Call::new("Set-Mailbox")
                            .param("Identity", "admin")
                            .param("EmailAddresses", add),
                    )
                    .unwrap();
                    t.execute(
                        &admin(),
                        &Call::new("New-InboxRule")
                            .param("Mailbox", "soren.jensen")
                            .param("Name", format!("r{n}-{i}")),
                    )
                    .unwrap();
                    // Readers run alongside and always see a whole mailbox.
                    let m = crate::mailbox(&t, "admin");
                    assert_eq!(m["PrimarySmtpAddress"], "admin@contoso.com");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let m = crate::mailbox(&t, "admin");
    let added = m["EmailAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.as_str().unwrap().starts_with("smtp:t"))
        .count();
    assert_eq!(added, 150);
    for n in 0..6 {
        for i in 0..25 {
            assert_eq!(
                crate::mailbox(&t, &format!("t{n}x{i}@contoso.com"))["Alias"],
                "admin"
            );
        }
    }
    let rules = run(
        &t,
        Call::new("Get-InboxRule")
            .param("Mailbox", "soren.jensen")
            .param("ResultSize", "Unlimited"),
    );
    let ids: std::collections::HashSet<_> = rules
        .iter()
        .map(|r| r["RuleIdentity"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        rules
            .iter()
            .filter(|r| r["Name"].as_str().unwrap().starts_with('r'))
            .count(),
        150
    );
    assert_eq!(ids.len(), rules.len());
    let priorities: Vec<i64> = rules
        .iter()
        .map(|r| r["Priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, (1..=rules.len() as i64).collect::<Vec<_>>());
}

#[test]
fn an_execution_is_a_snapshot_unaffected_by_later_writes() {
    let t = tenant();
    let e = t
        .execute(
            &admin(),
            &Call::new("Get-Mailbox").param("Identity", "admin"),
        )
        .unwrap();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("DisplayName", "Renamed"),
    );
    assert_eq!(e.page(0, 1)[0]["DisplayName"], "MOD Administrator");
    assert_eq!(crate::mailbox(&t, "admin")["DisplayName"], "Renamed");
}
