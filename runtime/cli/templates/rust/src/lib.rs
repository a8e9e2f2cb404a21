//! {{name}}: the automation's entry point. Cmdlet calls go through
//! `exorun_sdk::cmdlet`; keep the logic in `report.rs`, which has no host
//! calls and is tested with a plain `cargo test`.

mod report;

use exorun_sdk::{Automation, Error, input, log};

struct Plugin;

impl Automation for Plugin {
    fn run() -> Result<String, Error> {
        let name = input("name")
            .and_then(|i| i.as_text().map(str::to_owned))
            .unwrap_or_default();
        log::info(&format!("greeting {name}"));
        Ok(report::greeting(&name))
    }
}

exorun_sdk::export!(Plugin);
