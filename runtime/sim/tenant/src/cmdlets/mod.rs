//! The cmdlet table: each cmdlet's name, parameters, access class and
//! handler. Dispatch is by name, case-insensitively, as the service does.

mod auto_reply;
mod groups;
mod inbox_rules;
mod junk_email;
mod mailbox;
mod organization;
mod permissions;
mod rbac;
mod recipients;

pub(crate) use inbox_rules::splitmix64;

use crate::Tenant;
use crate::error::ExoError;
use crate::execution::Execution;
use crate::params::Params;
use crate::rbac::{Access, Caller};

/// One call being run: the tenant, who asked, and the bound parameters.
pub(crate) struct Invocation<'a> {
    pub tenant: &'a Tenant,
    pub caller: &'a Caller,
    pub params: Params<'a>,
}

type Handler = fn(&Invocation) -> Result<Execution, ExoError>;

pub(crate) struct CmdletSpec {
    pub name: &'static str,
    pub access: Access,
    pub parameters: &'static [&'static str],
    pub run: Handler,
}

type Parameters = &'static [&'static str];

const fn spec(
    access: Access,
    name: &'static str,
    parameters: Parameters,
    run: Handler,
) -> CmdletSpec {
    CmdletSpec {
        name,
        access,
        parameters,
        run,
    }
}

const fn read(name: &'static str, parameters: Parameters, run: Handler) -> CmdletSpec {
    spec(Access::Read, name, parameters, run)
}

/// Changes a recipient.
const fn write(name: &'static str, parameters: Parameters, run: Handler) -> CmdletSpec {
    spec(Access::RecipientWrite, name, parameters, run)
}

/// Changes the organisation's configuration (roles, scopes, role groups).
const fn configure(name: &'static str, parameters: Parameters, run: Handler) -> CmdletSpec {
    spec(Access::OrganizationWrite, name, parameters, run)
}

const LIST: &[&str] = &[
    "Identity",
    "RecipientTypeDetails",
    "Filter",
    "ResultSize",
    "Anr",
    "SortBy",
];

static CMDLETS: &[CmdletSpec] = &[
    read(
        "Get-Mailbox",
        &[
            "Identity",
            "RecipientTypeDetails",
            "Filter",
            "ResultSize",
            "Anr",
            "SortBy",
            "Archive",
            "SoftDeletedMailbox",
            "InactiveMailboxOnly",
            "IncludeInactiveMailbox",
        ],
        recipients::get_mailbox,
    ),
    read(
        "Get-Recipient",
        &[
            "Identity",
            "RecipientTypeDetails",
            "RecipientType",
            "Filter",
            "ResultSize",
            "Anr",
            "SortBy",
        ],
        recipients::get_recipient,
    ),
    read("Get-User", LIST, recipients::get_user),
    read("Get-MailUser", LIST, recipients::get_mail_user),
    read("Get-MailContact", LIST, recipients::get_mail_contact),
    read(
        "Get-DistributionGroup",
        LIST,
        recipients::get_distribution_group,
    ),
    read(
        "Get-MailboxStatistics",
        &["Identity", "Archive"],
        mailbox::get_statistics,
    ),
    write(
        "Set-Mailbox",
        &[
            "Identity",
            "DisplayName",
            "EmailAddresses",
            "ForwardingAddress",
            "ForwardingSmtpAddress",
            "DeliverToMailboxAndForward",
            "HiddenFromAddressListsEnabled",
            "GrantSendOnBehalfTo",
            "Type",
            "Force",
            "CustomAttribute1",
            "CustomAttribute2",
            "CustomAttribute3",
            "CustomAttribute4",
            "CustomAttribute5",
            "CustomAttribute6",
            "CustomAttribute7",
            "CustomAttribute8",
            "CustomAttribute9",
            "CustomAttribute10",
            "CustomAttribute11",
            "CustomAttribute12",
            "CustomAttribute13",
            "CustomAttribute14",
            "CustomAttribute15",
        ],
        mailbox::set_mailbox,
    ),
    write(
        "Set-User",
        &["Identity", "Department", "Title", "City"],
        mailbox::set_user,
    ),
    read(
        "Get-DistributionGroupMember",
        &["Identity", "ResultSize"],
        groups::get_members,
    ),
    write(
        "Add-DistributionGroupMember",
        &["Identity", "Member", "BypassSecurityGroupManagerCheck"],
        groups::add_member,
    ),
    write(
        "Remove-DistributionGroupMember",
        &["Identity", "Member", "BypassSecurityGroupManagerCheck"],
        groups::remove_member,
    ),
    read(
        "Get-AcceptedDomain",
        &["Identity", "ResultSize"],
        organization::get_accepted_domain,
    ),
    read(
        "Get-OrganizationConfig",
        &[],
        organization::get_organization_config,
    ),
    read(
        "Get-RoleGroup",
        &[
            "Identity",
            "Filter",
            "ResultSize",
            "SortBy",
            "ShowPartnerLinked",
        ],
        organization::get_role_group,
    ),
    // Exchange RBAC for apps (crate::roles).
    configure(
        "New-ServicePrincipal",
        &["AppId", "ObjectId", "DisplayName"],
        rbac::new_service_principal,
    ),
    read(
        "Get-ServicePrincipal",
        &["Identity"],
        rbac::get_service_principal,
    ),
    configure(
        "New-ManagementRole",
        &["Name", "Parent", "Description"],
        rbac::new_management_role,
    ),
    read(
        "Get-ManagementRole",
        &["Identity"],
        rbac::get_management_role,
    ),
    read(
        "Get-ManagementRoleEntry",
        &["Identity"],
        rbac::get_management_role_entry,
    ),
    configure(
        "Set-ManagementRoleEntry",
        &["Identity", "Parameters", "AddParameter", "RemoveParameter"],
        rbac::set_management_role_entry,
    ),
    configure(
        "Remove-ManagementRoleEntry",
        &["Identity", "Confirm"],
        rbac::remove_management_role_entry,
    ),
    configure(
        "New-ManagementScope",
        &["Name", "RecipientRestrictionFilter"],
        rbac::new_management_scope,
    ),
    read(
        "Get-ManagementScope",
        &["Identity"],
        rbac::get_management_scope,
    ),
    configure(
        "New-RoleGroup",
        &[
            "Name",
            "Roles",
            "Members",
            "CustomRecipientWriteScope",
            "Description",
        ],
        rbac::new_role_group,
    ),
    configure(
        "Add-RoleGroupMember",
        &["Identity", "Member"],
        rbac::add_role_group_member,
    ),
    read(
        "Get-TransportRule",
        &["Identity", "ResultSize", "State"],
        organization::get_transport_rule,
    ),
    read(
        "Get-InboxRule",
        &[
            "Mailbox",
            "Identity",
            "ResultSize",
            "IncludeHidden",
            "BypassScopeCheck",
            "DescriptionTimeFormat",
            "DescriptionTimeZone",
            "SkipCount",
        ],
        inbox_rules::get,
    ),
    write(
        "New-InboxRule",
        inbox_rules::NEW_PARAMETERS,
        inbox_rules::new,
    ),
    write(
        "Set-InboxRule",
        inbox_rules::SET_PARAMETERS,
        inbox_rules::set,
    ),
    write(
        "Enable-InboxRule",
        &["Identity", "Mailbox", "Force"],
        inbox_rules::enable,
    ),
    write(
        "Disable-InboxRule",
        &["Identity", "Mailbox", "Force"],
        inbox_rules::disable,
    ),
    write(
        "Remove-InboxRule",
        &[
            "Identity",
            "Mailbox",
            "Force",
            "AlwaysDeleteOutlookRulesBlob",
        ],
        inbox_rules::remove,
    ),
    read(
        "Get-MailboxPermission",
        &[
            "Identity",
            "User",
            "ResultSize",
            "IncludeUnresolvedPermissions",
        ],
        permissions::get_mailbox_permission,
    ),
    write(
        "Add-MailboxPermission",
        &[
            "Identity",
            "User",
            "AccessRights",
            "AutoMapping",
            "Deny",
            "InheritanceType",
        ],
        permissions::add_mailbox_permission,
    ),
    write(
        "Remove-MailboxPermission",
        &[
            "Identity",
            "User",
            "AccessRights",
            "Deny",
            "InheritanceType",
            "BypassMasterAccountSid",
        ],
        permissions::remove_mailbox_permission,
    ),
    read(
        "Get-RecipientPermission",
        &["Identity", "Trustee", "AccessRights", "ResultSize"],
        permissions::get_recipient_permission,
    ),
    write(
        "Add-RecipientPermission",
        &["Identity", "Trustee", "AccessRights"],
        permissions::add_recipient_permission,
    ),
    write(
        "Remove-RecipientPermission",
        &["Identity", "Trustee", "AccessRights"],
        permissions::remove_recipient_permission,
    ),
    read(
        "Get-MailboxAutoReplyConfiguration",
        &["Identity", "ResultSize"],
        auto_reply::get,
    ),
    write(
        "Set-MailboxAutoReplyConfiguration",
        &[
            "Identity",
            "AutoReplyState",
            "ExternalAudience",
            "InternalMessage",
            "ExternalMessage",
            "StartTime",
            "EndTime",
            "AutoDeclineFutureRequestsWhenOOF",
            "CreateOOFEvent",
            "DeclineAllEventsForScheduledOOF",
            "DeclineEventsForScheduledOOF",
            "DeclineMeetingMessage",
            "EventsToDeleteIDs",
            "OOFEventSubject",
            "IgnoreDefaultScope",
        ],
        auto_reply::set,
    ),
    read(
        "Get-MailboxJunkEmailConfiguration",
        &["Identity", "ResultSize"],
        junk_email::get,
    ),
    write(
        "Set-MailboxJunkEmailConfiguration",
        &[
            "Identity",
            "Enabled",
            "TrustedListsOnly",
            "ContactsTrusted",
            "TrustedSendersAndDomains",
            "BlockedSendersAndDomains",
        ],
        junk_email::set,
    ),
];

/// The cmdlet by name, in any case.
pub(crate) fn find(name: &str) -> Option<&'static CmdletSpec> {
    let name = name.trim();
    CMDLETS
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(name))
}

/// Every cmdlet the simulated tenant serves, for the server's cmdlet list
/// (`EXOModuleFile`) and for documentation.
pub fn names() -> impl Iterator<Item = &'static str> {
    CMDLETS.iter().map(|spec| spec.name)
}

/// The cmdlet's parameter names, if the cmdlet exists.
pub fn parameters(cmdlet: &str) -> Option<&'static [&'static str]> {
    find(cmdlet).map(|spec| spec.parameters)
}
