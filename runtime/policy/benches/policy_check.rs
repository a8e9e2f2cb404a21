//! Cost of one policy decision (target: at most 2 µs per call).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use exorun_cmdlet::{Call, Value};
use exorun_policy::{Manifest, check};

const MANIFEST: &str = r#"
[plugin]
name = "bench"
version = "0.1.0"
component = "x.wasm"

[[cmdlet]]
name = "Get-Mailbox"
parameters.Identity = {}
parameters.ResultSize = { set = ["Unlimited"] }
parameters.RecipientTypeDetails = { set = ["UserMailbox", "SharedMailbox", "RoomMailbox"] }

[[cmdlet]]
name = "Get-InboxRule"
parameters.Mailbox = {}

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = { pattern = '[^@]+@(contoso\.com|contoso\.onmicrosoft\.com)' }
parameters.ForwardingSmtpAddress = { set = ["$null"] }
parameters.DeliverToMailboxAndForward = { set = ["$false"] }

[[cmdlet]]
name = "Set-MailboxAutoReplyConfiguration"
parameters.Identity = { pattern = '[^@]+@contoso\.com' }
parameters.AutoReplyState = { set = ["Scheduled", "Disabled"] }
parameters.StartTime = {}
parameters.EndTime = {}
"#;

fn bench(c: &mut Criterion) {
    let caps = Manifest::parse(Path::new("exorun.toml"), MANIFEST)
        .expect("bench manifest")
        .capabilities()
        .clone();
    let write = Call::new("Set-Mailbox")
        .param("Identity", "jose.nunez@contoso.com")
        .param("ForwardingSmtpAddress", Value::Null)
        .param("DeliverToMailboxAndForward", false);
    let read = Call::new("Get-Mailbox")
        .param("ResultSize", "Unlimited")
        .param("RecipientTypeDetails", "SharedMailbox");
    let denied = Call::new("Remove-Mailbox").param("Identity", "ceo@contoso.com");
    c.bench_function("policy_check/set_mailbox_pattern_and_sets", |b| {
        b.iter(|| check(&caps, std::hint::black_box(&write)))
    });
    c.bench_function("policy_check/get_mailbox_sets", |b| {
        b.iter(|| check(&caps, std::hint::black_box(&read)))
    });
    c.bench_function("policy_check/undeclared_cmdlet_denied", |b| {
        b.iter(|| check(&caps, std::hint::black_box(&denied)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
