//! Which recipient a cmdlet touches, for plugins with a `[scope]`.
//!
//! A scoped plugin may only call cmdlets listed here: the host must know,
//! for every call, which recipient it reads or changes. Anything else is
//! refused (fail closed), since a cmdlet exorun has not studied could touch
//! any recipient.
//!
//! Source for each entry: the cmdlet's reference page on Microsoft Learn
//! (`learn.microsoft.com/powershell/module/exchange/<cmdlet>`), where the
//! parameter named here is the one that "specifies the mailbox" (or
//! recipient, or group) the cmdlet acts on. Inbox rule cmdlets take the
//! mailbox in `-Mailbox` or as the part of `-Identity` before `\`; folder
//! cmdlets take `<mailbox>:\<folder>` in `-Identity`.

/// How a cmdlet reaches recipients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Acts on the recipients its target parameters name; at least one
    /// must be given, and every one given must be in scope.
    Targets(&'static [Target]),
    /// Lists recipients: its results are filtered to the scope.
    Lists,
    /// Reads tenant settings that belong to no recipient.
    NoRecipient,
}

/// One parameter that names a target recipient, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The whole value is a recipient identity.
    Whole(&'static str),
    /// `<mailbox>\<rule>`: the part before the first `\` (when there is
    /// one) is a mailbox identity.
    BeforeBackslash(&'static str),
    /// `<mailbox>:\<folder>`: the part before `:\` (or the whole value) is
    /// a mailbox identity.
    BeforeFolder(&'static str),
}

impl Target {
    pub fn parameter(&self) -> &'static str {
        match self {
            Target::Whole(p) | Target::BeforeBackslash(p) | Target::BeforeFolder(p) => p,
        }
    }

    /// The recipient identity in `value`: `Ok(None)` when the value holds
    /// none this way (an inbox rule's id alone), `Err` when where the
    /// mailbox ends is ambiguous (two separators: Exchange might split at
    /// either, so the host could check one mailbox and the cmdlet act on
    /// another).
    pub fn identity<'v>(&self, value: &'v str) -> Result<Option<&'v str>, &'static str> {
        match self {
            Target::Whole(_) => Ok(Some(value)),
            Target::BeforeBackslash(_) => match value.matches('\\').count() {
                0 => Ok(None),
                1 => Ok(value.split_once('\\').map(|(mailbox, _)| mailbox)),
                _ => Err("it has more than one '\\', so where the mailbox ends is ambiguous"),
            },
            Target::BeforeFolder(_) => match value.matches(":\\").count() {
                0 => Ok(Some(value)),
                1 => Ok(value.split_once(":\\").map(|(mailbox, _)| mailbox)),
                _ => Err("it has more than one ':\\', so where the mailbox ends is ambiguous"),
            },
        }
    }
}

use Target::{BeforeBackslash, BeforeFolder, Whole};

const IDENTITY: &[Target] = &[Whole("Identity")];
const INBOX_RULE: &[Target] = &[Whole("Mailbox"), BeforeBackslash("Identity")];
const FOLDER: &[Target] = &[BeforeFolder("Identity")];

/// Every cmdlet a scoped plugin may call, by name.
static TABLE: &[(&str, Reach)] = &[
    // Recipients and their settings.
    ("Set-Mailbox", Reach::Targets(IDENTITY)),
    ("Remove-Mailbox", Reach::Targets(IDENTITY)),
    ("Set-CASMailbox", Reach::Targets(IDENTITY)),
    ("Set-User", Reach::Targets(IDENTITY)),
    ("Set-MailUser", Reach::Targets(IDENTITY)),
    ("Set-MailContact", Reach::Targets(IDENTITY)),
    (
        "Set-MailboxAutoReplyConfiguration",
        Reach::Targets(IDENTITY),
    ),
    (
        "Get-MailboxAutoReplyConfiguration",
        Reach::Targets(IDENTITY),
    ),
    (
        "Set-MailboxJunkEmailConfiguration",
        Reach::Targets(IDENTITY),
    ),
    (
        "Get-MailboxJunkEmailConfiguration",
        Reach::Targets(IDENTITY),
    ),
    ("Set-MailboxRegionalConfiguration", Reach::Targets(IDENTITY)),
    ("Get-MailboxRegionalConfiguration", Reach::Targets(IDENTITY)),
    ("Set-MailboxCalendarConfiguration", Reach::Targets(IDENTITY)),
    ("Get-MailboxCalendarConfiguration", Reach::Targets(IDENTITY)),
    ("Get-MailboxStatistics", Reach::Targets(IDENTITY)),
    ("Get-EXOMailboxStatistics", Reach::Targets(IDENTITY)),
    ("Get-MailboxFolderStatistics", Reach::Targets(IDENTITY)),
    // Permissions on a mailbox or recipient.
    ("Get-MailboxPermission", Reach::Targets(IDENTITY)),
    ("Add-MailboxPermission", Reach::Targets(IDENTITY)),
    ("Remove-MailboxPermission", Reach::Targets(IDENTITY)),
    ("Get-RecipientPermission", Reach::Targets(IDENTITY)),
    ("Add-RecipientPermission", Reach::Targets(IDENTITY)),
    ("Remove-RecipientPermission", Reach::Targets(IDENTITY)),
    ("Get-MailboxFolderPermission", Reach::Targets(FOLDER)),
    ("Add-MailboxFolderPermission", Reach::Targets(FOLDER)),
    ("Set-MailboxFolderPermission", Reach::Targets(FOLDER)),
    ("Remove-MailboxFolderPermission", Reach::Targets(FOLDER)),
    // Inbox rules.
    ("Get-InboxRule", Reach::Targets(INBOX_RULE)),
    ("New-InboxRule", Reach::Targets(INBOX_RULE)),
    ("Set-InboxRule", Reach::Targets(INBOX_RULE)),
    ("Enable-InboxRule", Reach::Targets(INBOX_RULE)),
    ("Disable-InboxRule", Reach::Targets(INBOX_RULE)),
    ("Remove-InboxRule", Reach::Targets(INBOX_RULE)),
    // Groups: the group is the target.
    ("Set-DistributionGroup", Reach::Targets(IDENTITY)),
    ("Get-DistributionGroupMember", Reach::Targets(IDENTITY)),
    ("Add-DistributionGroupMember", Reach::Targets(IDENTITY)),
    ("Remove-DistributionGroupMember", Reach::Targets(IDENTITY)),
    // Lists of recipients, filtered to the scope.
    ("Get-Mailbox", Reach::Lists),
    ("Get-EXOMailbox", Reach::Lists),
    ("Get-Recipient", Reach::Lists),
    ("Get-EXORecipient", Reach::Lists),
    ("Get-User", Reach::Lists),
    ("Get-MailUser", Reach::Lists),
    ("Get-MailContact", Reach::Lists),
    ("Get-DistributionGroup", Reach::Lists),
    ("Get-CASMailbox", Reach::Lists),
    ("Get-EXOCASMailbox", Reach::Lists),
    // Settings of the tenant, not of a recipient.
    ("Get-AcceptedDomain", Reach::NoRecipient),
    ("Get-OrganizationConfig", Reach::NoRecipient),
    ("Get-TransportRule", Reach::NoRecipient),
    ("Get-RemoteDomain", Reach::NoRecipient),
    ("Get-RetentionPolicy", Reach::NoRecipient),
    ("Get-OwaMailboxPolicy", Reach::NoRecipient),
    ("Get-InboundConnector", Reach::NoRecipient),
    ("Get-OutboundConnector", Reach::NoRecipient),
];

/// How `cmdlet` reaches recipients; `None` when exorun does not know, and
/// then a scoped plugin may not call it.
pub fn reach(cmdlet: &str) -> Option<Reach> {
    TABLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(cmdlet))
        .map(|(_, reach)| *reach)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_target_of_each_kind_of_identity() {
        assert_eq!(Whole("Identity").identity("zoe"), Ok(Some("zoe")));
        assert_eq!(
            BeforeBackslash("Identity").identity("zoe\\1234"),
            Ok(Some("zoe"))
        );
        assert_eq!(BeforeBackslash("Identity").identity("1234"), Ok(None));
        assert_eq!(
            BeforeFolder("Identity").identity("zoe@contoso.com:\\Calendar"),
            Ok(Some("zoe@contoso.com"))
        );
        assert_eq!(BeforeFolder("Identity").identity("zoe"), Ok(Some("zoe")));
    }

    #[test]
    fn a_value_whose_mailbox_part_is_ambiguous_names_no_identity() {
        // `ann\zoe\1`: ann's rule "zoe\1", or (domain\account) zoe's rule 1?
        assert!(BeforeBackslash("Identity").identity("ann\\zoe\\1").is_err());
        assert!(
            BeforeFolder("Identity")
                .identity("ann:\\Calendar:\\x")
                .is_err()
        );
    }

    #[test]
    fn unknown_cmdlets_have_no_reach_and_names_ignore_case() {
        assert_eq!(reach("set-mailbox"), Some(Reach::Targets(IDENTITY)));
        assert_eq!(reach("Get-MessageTrace"), None);
        assert_eq!(reach("New-TransportRule"), None);
    }

    #[test]
    fn every_entry_is_listed_once() {
        for (i, (name, _)) in TABLE.iter().enumerate() {
            assert!(
                !TABLE[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)),
                "{name} twice"
            );
        }
    }
}
