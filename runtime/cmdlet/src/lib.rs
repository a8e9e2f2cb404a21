//! The vocabulary every exorun layer shares: a cmdlet [`Call`] with typed
//! [`Value`]s, the [`CmdletError`] a call can end in, and the [`Backend`]
//! trait that carries a call to a tenant.
//!
//! The sandbox turns WIT values into these types, the policy gate decides on
//! them, and a backend (the Exchange Online client, or the simulated tenant in
//! process) executes them. Keeping them in one small crate means no layer
//! depends on another layer's internals.

#![forbid(unsafe_code)]

mod backend;
mod call;
mod deadline;
mod error;
mod escape;
mod json;
mod result_size;
mod share;

pub use backend::{Backend, Object, PageStream, collect_pages};
pub use call::{Call, Leaf, MAX_RECORDED_VALUE_BYTES, Value, abbreviate};
pub use deadline::{run_deadline, within_deadline};
pub use error::{CmdletError, append_causes, error_chain};
pub use escape::{Escaped, escaped, is_unsafe_char};
pub use result_size::{DEFAULT_RESULT_SIZE, ResultSize};
pub use share::{RunShare, run_share, within_share};

/// True for cmdlets whose verb only reads (`Get-`, `Test-`, `Search-`).
///
/// What-if planning, audit and the approval flow rely on this split, so it
/// lives here, next to the call, and is decided from the verb alone as
/// PowerShell's own approved-verb groups do.
pub fn is_read_only(cmdlet: &str) -> bool {
    let verb = cmdlet.split('-').next().unwrap_or_default();
    ["get", "test", "search"]
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_verbs_are_get_test_search_in_any_case() {
        assert!(is_read_only("Get-Mailbox"));
        assert!(is_read_only("get-mailbox"));
        assert!(is_read_only("Test-ServicePrincipalAuthorization"));
        assert!(is_read_only("SEARCH-UnifiedAuditLog"));
        assert!(!is_read_only("Set-Mailbox"));
        assert!(!is_read_only("Getter-Thing"));
        assert!(!is_read_only("Remove-InboxRule"));
    }
}
