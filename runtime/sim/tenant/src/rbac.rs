//! Exchange's own RBAC, derived from the Entra roles in the caller's token
//! (`wids`, protocol sections 3.2 and 3.6).
//!
//! | Entra role                        | Read (Get-*)              | Recipient writes | Organisation writes |
//! |-----------------------------------|---------------------------|------------------|---------------------|
//! | Global Administrator              | yes                       | yes              | yes                 |
//! | Exchange Administrator            | yes                       | yes              | yes                 |
//! | Exchange Recipient Administrator  | yes                       | yes              | no                  |
//! | Global Reader                     | yes, except Get-InboxRule | no               | no                  |
//! | Security Reader                   | yes                       | no               | no                  |
//! | anything else (Security Administrator, Helpdesk, Compliance, none) | no | no | no |
//!
//! Get-InboxRule "doesn't work for members of View-Only Organization
//! Management role group ... or the Global Reader role" [DOC]. That Security
//! Reader may run it is (unverified); the doc names only Global Reader.
//! An app whose Entra roles refuse a call may still run it through the
//! role groups its service principal belongs to: [`crate::roles`].

use crate::error::ExoError;

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const EXCHANGE_ADMINISTRATOR: &str = "29232cdf-9323-42fd-ade2-1d097af3e4de";
pub const EXCHANGE_RECIPIENT_ADMINISTRATOR: &str = "31392ffb-586c-42d1-9346-e59415a2cc4e";
pub const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
pub const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";

/// Who is calling: the app and the Entra role template ids (`wids`) in its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub app_id: String,
    pub role_template_ids: Vec<String>,
}

impl Caller {
    pub fn new(app_id: impl Into<String>, role_template_ids: &[&str]) -> Caller {
        Caller {
            app_id: app_id.into(),
            role_template_ids: role_template_ids.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    pub fn exchange_administrator(app_id: impl Into<String>) -> Caller {
        Self::new(app_id, &[EXCHANGE_ADMINISTRATOR])
    }

    pub fn global_reader(app_id: impl Into<String>) -> Caller {
        Self::new(app_id, &[GLOBAL_READER])
    }

    pub fn global_administrator(app_id: impl Into<String>) -> Caller {
        Self::new(app_id, &[GLOBAL_ADMINISTRATOR])
    }

    pub fn exchange_recipient_administrator(app_id: impl Into<String>) -> Caller {
        Self::new(app_id, &[EXCHANGE_RECIPIENT_ADMINISTRATOR])
    }

    pub fn security_reader(app_id: impl Into<String>) -> Caller {
        Self::new(app_id, &[SECURITY_READER])
    }

    fn has(&self, role: &str) -> bool {
        self.role_template_ids
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role))
    }
}

/// What a cmdlet does, which decides who may run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Changes a recipient, its rules, permissions or settings.
    RecipientWrite,
    /// Changes organisation-wide configuration (roles, scopes, role
    /// groups).
    OrganizationWrite,
}

/// Decides whether the caller's roles allow the cmdlet.
pub fn authorize(caller: &Caller, cmdlet: &str, access: Access) -> Result<(), ExoError> {
    let full = caller.has(GLOBAL_ADMINISTRATOR) || caller.has(EXCHANGE_ADMINISTRATOR);
    let recipients = full || caller.has(EXCHANGE_RECIPIENT_ADMINISTRATOR);
    let global_reader = caller.has(GLOBAL_READER);
    let reader = recipients || global_reader || caller.has(SECURITY_READER);
    let allowed = match access {
        Access::OrganizationWrite => full,
        Access::RecipientWrite => recipients,
        Access::Read if cmdlet.eq_ignore_ascii_case("Get-InboxRule") => {
            // A Global Reader that also holds a writing role keeps that role's rights.
            recipients || (reader && !global_reader)
        }
        Access::Read => reader,
    };
    if allowed {
        return Ok(());
    }
    tracing::debug!(app_id = %caller.app_id, cmdlet, "refused by the tenant's RBAC");
    if global_reader && cmdlet.eq_ignore_ascii_case("Get-InboxRule") && access == Access::Read {
        return Err(ExoError::access_denied(
            "Get-InboxRule doesn't work for members of the View-Only Organization Management role group or the Global Reader role.",
        ));
    }
    Err(ExoError::access_denied(format!(
        "The app '{}' isn't assigned to any management roles that allow running '{cmdlet}'.",
        caller.app_id
    )))
}
