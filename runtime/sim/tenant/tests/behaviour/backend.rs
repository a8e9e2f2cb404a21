use std::collections::HashSet;
use std::sync::Arc;

use exorun_cmdlet::{Backend, Call, CmdletError};
use exorun_sim_tenant::{Caller, GenerateOptions, InProcessBackend, Tenant};
use futures::executor::block_on;

#[test]
fn in_process_backend_pages_return_every_object_exactly_once() {
    let tenant = Arc::new(Tenant::generate(&GenerateOptions {
        mailboxes: 100,
        seed: 7,
    }));
    let backend =
        InProcessBackend::new(tenant, Caller::exchange_administrator("app")).with_page_size(7);
    let call = Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
    let mut pages = block_on(backend.open_pages(&call)).unwrap();
    let mut seen = HashSet::new();
    let mut page_count = 0;
    while let Some(page) = block_on(pages.next_page()).unwrap() {
        page_count += 1;
        assert!(page.len() <= 7);
        for object in page {
            assert!(!object.contains('\n'), "objects are compact JSON");
            let value: serde_json::Value = serde_json::from_str(&object).unwrap();
            assert!(seen.insert(value["Guid"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(page_count, 15);
    assert_eq!(backend.calls(), 1);
}

#[test]
fn invoke_collects_all_pages_and_counts_calls() {
    let tenant = Arc::new(Tenant::generate(&GenerateOptions::default()));
    let backend =
        InProcessBackend::new(tenant, Caller::exchange_administrator("app")).with_page_size(7);
    let all = block_on(backend.invoke(&Call::new("Get-Mailbox"))).unwrap();
    assert_eq!(all.len(), 50);
    let none = block_on(
        backend.invoke(
            &Call::new("Set-Mailbox")
                .param("Identity", "admin")
                .param("DisplayName", "X"),
        ),
    )
    .unwrap();
    assert!(none.is_empty());
    assert_eq!(backend.calls(), 2);
}

#[test]
fn in_process_backend_maps_errors_to_cmdlet_errors() {
    let tenant = Arc::new(Tenant::generate(&GenerateOptions::default()));
    let backend = InProcessBackend::new(tenant, Caller::global_reader("app"));
    let err =
        block_on(backend.invoke(&Call::new("Get-Mailbox").param("Identity", "ghost"))).unwrap_err();
    assert!(matches!(err, CmdletError::NotFound { .. }));
    let err =
        block_on(backend.invoke(&Call::new("Set-Mailbox").param("Identity", "admin"))).unwrap_err();
    assert!(matches!(err, CmdletError::Forbidden { .. }));
}
