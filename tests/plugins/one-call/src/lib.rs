//! One Get-Mailbox -Identity call; returns the raw object.

use exorun_sdk::{Automation, Error, cmdlet, input};

struct OneCall;

impl Automation for OneCall {
    fn run() -> Result<String, Error> {
        let identity = input("identity")
            .and_then(|i| i.as_text().map(str::to_owned))
            .unwrap_or_default();
        let objects = cmdlet("Get-Mailbox")
            .param("Identity", identity)
            .invoke_raw()?;
        Ok(objects.join("\n"))
    }
}

exorun_sdk::export!(OneCall);
