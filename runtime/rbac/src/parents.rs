//! Which built-in management role holds each cmdlet a plugin may need: the
//! parent the generated role is derived from.
//!
//! Source: the "Permissions" note on each cmdlet's page on Microsoft Learn,
//! and `Get-ManagementRoleEntry "*\<cmdlet>"` in a tenant. Several cmdlets
//! live in more than one built-in role. The one listed is the narrowest
//! that an app can be given through a role group. The simulated tenant
//! holds the same cmdlets in the same roles (`exorun_sim_tenant`'s `roles`).

/// `(built-in role, its cmdlets)`.
pub const PARENTS: &[(&str, &[&str])] = &[
    (
        "Mail Recipients",
        &[
            "Get-Mailbox",
            "Set-Mailbox",
            "Get-Recipient",
            "Get-User",
            "Set-User",
            "Get-MailUser",
            "Get-MailContact",
            "Get-MailboxStatistics",
            "Get-MailboxPermission",
            "Add-MailboxPermission",
            "Remove-MailboxPermission",
            "Get-RecipientPermission",
            "Add-RecipientPermission",
            "Remove-RecipientPermission",
            "Get-MailboxAutoReplyConfiguration",
            "Set-MailboxAutoReplyConfiguration",
            "Get-MailboxJunkEmailConfiguration",
            "Set-MailboxJunkEmailConfiguration",
            "Get-InboxRule",
            "New-InboxRule",
            "Set-InboxRule",
            "Enable-InboxRule",
            "Disable-InboxRule",
            "Remove-InboxRule",
        ],
    ),
    (
        "Distribution Groups",
        &[
            "Get-DistributionGroup",
            "Get-DistributionGroupMember",
            "Add-DistributionGroupMember",
            "Remove-DistributionGroupMember",
        ],
    ),
    (
        "View-Only Configuration",
        &[
            "Get-AcceptedDomain",
            "Get-OrganizationConfig",
            "Get-TransportRule",
            "Get-RoleGroup",
        ],
    ),
];

/// The built-in role to derive `cmdlet`'s entry from, in its spelling.
pub fn parent_of(cmdlet: &str) -> Option<&'static str> {
    PARENTS
        .iter()
        .find(|(_, cmdlets)| cmdlets.iter().any(|c| c.eq_ignore_ascii_case(cmdlet)))
        .map(|(role, _)| *role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cmdlet_has_one_parent_and_names_ignore_case() {
        assert_eq!(parent_of("set-mailbox"), Some("Mail Recipients"));
        assert_eq!(
            parent_of("Get-DistributionGroupMember"),
            Some("Distribution Groups")
        );
        assert_eq!(parent_of("Set-TransportConfig"), None);
        let mut seen = Vec::new();
        for (_, cmdlets) in PARENTS {
            for c in *cmdlets {
                assert!(!seen.contains(c), "{c} twice");
                seen.push(c);
            }
        }
    }
}
