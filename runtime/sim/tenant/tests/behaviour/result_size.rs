use exorun_cmdlet::{Call, Value as P};
use exorun_sim_tenant::{GenerateOptions, MORE_RESULTS_WARNING, Tenant};

use crate::admin;

fn big() -> Tenant {
    Tenant::generate(&GenerateOptions {
        mailboxes: 1_205,
        seed: 3,
    })
}

#[test]
fn absent_result_size_caps_at_1000_with_the_warning() {
    let t = big();
    let e = t.execute(&admin(), &Call::new("Get-Mailbox")).unwrap();
    assert_eq!(e.len(), 1000);
    assert_eq!(e.warnings(), [MORE_RESULTS_WARNING.to_owned()]);
    assert_eq!(
        MORE_RESULTS_WARNING,
        "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter."
    );
}

#[test]
fn unlimited_returns_everything_without_warning() {
    let t = big();
    let e = t
        .execute(
            &admin(),
            &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        )
        .unwrap();
    assert_eq!(e.len(), 1_205);
    assert!(e.warnings().is_empty());
}

#[test]
fn a_number_caps_at_that_number() {
    let t = big();
    let e = t
        .execute(
            &admin(),
            &Call::new("Get-Mailbox").param("ResultSize", P::Int(7)),
        )
        .unwrap();
    assert_eq!(e.len(), 7);
    assert_eq!(e.warnings().len(), 1);
    let e = t
        .execute(
            &admin(),
            &Call::new("Get-Mailbox").param("ResultSize", "1205"),
        )
        .unwrap();
    assert_eq!(e.len(), 1_205);
    assert!(e.warnings().is_empty());
}

#[test]
fn zero_result_size_is_refused() {
    let t = big();
    let err = t
        .execute(
            &admin(),
            &Call::new("Get-Mailbox").param("ResultSize", P::Int(0)),
        )
        .unwrap_err();
    assert_eq!(err.status, 400);
    assert!(
        err.message.contains("ResultSize must be greater than 0"),
        "{}",
        err.message
    );
}

#[test]
fn pages_cover_the_result_exactly_once() {
    let t = big();
    let e = t
        .execute(
            &admin(),
            &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        )
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0;
    loop {
        let page = e.page(offset, 500);
        if page.is_empty() {
            break;
        }
        offset += page.len();
        for m in page {
            assert!(seen.insert(m["Guid"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen.len(), 1_205);
    assert!(e.page(5_000, 10).is_empty());
}
