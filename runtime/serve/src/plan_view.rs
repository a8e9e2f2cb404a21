//! How an approver sees a plan: its changes grouped by the object each
//! changes, named by the parameter the object scope reads the target from
//! (`Identity` for most cmdlets), so ten changes to one mailbox read as
//! one block.

use exorun_cmdlet::Call;
use exorun_policy::scope::targets::{Reach, reach};

/// The object a planned call changes, as the approver reads it.
pub fn target_of(call: &Call) -> String {
    let value = |name: &str| {
        call.parameters
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| match v.as_text() {
                Some(text) => text.to_owned(),
                None => serde_json::to_string(v).unwrap_or_default(),
            })
    };
    if let Some(Reach::Targets(targets)) = reach(&call.cmdlet) {
        for target in targets {
            if let Some(v) = value(target.parameter()) {
                return v;
            }
        }
    }
    value("Identity").unwrap_or_else(|| format!("({})", call.cmdlet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_grouped_under_its_target() {
        let call = Call::new("Set-Mailbox")
            .param("Identity", "alice")
            .param("HiddenFromAddressListsEnabled", true);
        assert_eq!(target_of(&call), "alice");
        let call = Call::new("New-MailContact").param("Name", "x");
        assert_eq!(target_of(&call), "(New-MailContact)");
    }
}
