//! How each kind of object looks on the wire (protocol section 4).

use serde_json::Value;

use crate::directory::Recipient;
use crate::model::{
    DistributionGroup, InboxRule, MailContact, MailUser, Mailbox, MailboxPermission, Organization,
    RoleGroup, TransportRule,
};
use crate::names::{distinguished_name, organization_id, organizational_unit};
use crate::shape::Obj;

const EXCHANGE_VERSION: &str = "0.20 (15.0.0.0)";

/// Properties every recipient shares, in the forms Get-Recipient shows.
fn recipient_base(o: &mut Obj, r: &Recipient, org: &Organization) {
    let name = r.name();
    o.str("Identity", name)
        .str("Id", name)
        .str("Name", name)
        .str("Alias", r.alias())
        .str("DisplayName", r.display_name())
        .str("PrimarySmtpAddress", r.primary_smtp_address())
        .strings("EmailAddresses", r.email_addresses())
        .guid("Guid", r.guid())
        .guid("ExchangeObjectId", r.guid())
        .str(
            "DistinguishedName",
            distinguished_name(name, &org.initial_domain),
        )
        .str("LegacyExchangeDN", r.legacy_exchange_dn())
        .str(
            "OrganizationalUnit",
            organizational_unit(&org.initial_domain),
        )
        .str("OrganizationalUnitRoot", &org.initial_domain)
        .str("OrganizationId", organization_id(&org.initial_domain))
        .bool("IsValid", true)
        .str("ExchangeVersion", EXCHANGE_VERSION)
        .str("ObjectState", "Unchanged");
    let (recipient_type, details, edoid, created, hidden) = match r {
        Recipient::Mailbox(m) => (
            "UserMailbox",
            m.kind.recipient_type_details(),
            m.external_directory_object_id,
            m.when_created,
            m.hidden_from_address_lists_enabled,
        ),
        Recipient::MailUser(u) => (
            "MailUser",
            if u.guest { "GuestMailUser" } else { "MailUser" },
            u.external_directory_object_id,
            u.when_created,
            false,
        ),
        Recipient::Contact(c) => (
            "MailContact",
            "MailContact",
            c.external_directory_object_id,
            c.when_created,
            false,
        ),
        Recipient::Group(g) => (
            if g.security_enabled {
                "MailUniversalSecurityGroup"
            } else {
                "MailUniversalDistributionGroup"
            },
            if g.security_enabled {
                "MailUniversalSecurityGroup"
            } else {
                "MailUniversalDistributionGroup"
            },
            g.external_directory_object_id,
            g.when_created,
            false,
        ),
    };
    o.str("RecipientType", recipient_type)
        .str("RecipientTypeDetails", details)
        .str("ExternalDirectoryObjectId", edoid.hyphenated().to_string())
        .bool("HiddenFromAddressListsEnabled", hidden)
        .date("WhenCreated", created)
        .date_utc("WhenCreatedUTC", created)
        .date("WhenChanged", created)
        .date_utc("WhenChangedUTC", created);
    // The properties management scopes filter on (docs/operator-policy.md,
    // object scopes); only mailboxes carry values in the simulator.
    let mailbox = match r {
        Recipient::Mailbox(m) => Some(m),
        _ => None,
    };
    o.str("Department", mailbox.map_or("", |m| m.department.as_str()));
    for n in 1..=15 {
        o.str(
            &format!("CustomAttribute{n}"),
            mailbox.map_or("", |m| m.custom_attribute(n)),
        );
    }
    if let Recipient::MailUser(u) = r {
        o.str("ExternalEmailAddress", &u.external_email_address);
    }
    if let Recipient::Contact(c) = r {
        o.str("ExternalEmailAddress", &c.external_email_address);
    }
}

pub fn recipient(o: &mut Obj, r: &Recipient, org: &Organization) {
    recipient_base(o, r, org);
    if let Recipient::Mailbox(m) = r {
        o.str("WindowsLiveID", &m.user_principal_name);
    }
}

/// Get-Mailbox's object; takes the `Recipient` wrapper to avoid cloning.
pub fn mailbox_of(o: &mut Obj, r: &Recipient, m: &Mailbox, org: &Organization) {
    recipient_base(o, r, org);
    let upn = &m.user_principal_name;
    let is_resource = matches!(
        m.kind,
        crate::model::MailboxKind::Room | crate::model::MailboxKind::Equipment
    );
    o.str("UserPrincipalName", upn)
        .str("WindowsEmailAddress", m.primary_smtp_address())
        .str("WindowsLiveID", upn)
        .str("MicrosoftOnlineServicesID", upn)
        .guid("ExchangeGuid", m.exchange_guid)
        .opt("ForwardingAddress", m.forwarding_address.as_deref())
        .opt(
            "ForwardingSmtpAddress",
            m.forwarding_smtp_address.as_deref(),
        )
        .bool(
            "DeliverToMailboxAndForward",
            m.deliver_to_mailbox_and_forward,
        )
        .strings("GrantSendOnBehalfTo", &m.grant_send_on_behalf_to)
        .bool("IsShared", m.kind == crate::model::MailboxKind::Shared)
        .bool("IsResource", is_resource)
        .bool("IsMailboxEnabled", true)
        .bool("AccountDisabled", m.account_disabled)
        .bool("LitigationHoldEnabled", false)
        .bool("AuditEnabled", true)
        .str("RetentionPolicy", "Default MRM Policy")
        .size("IssueWarningQuota", m.issue_warning_quota)
        .size("ProhibitSendQuota", m.prohibit_send_quota)
        .size("ProhibitSendReceiveQuota", m.prohibit_send_receive_quota)
        .size("RecoverableItemsQuota", 32_212_254_720)
        .size("RecoverableItemsWarningQuota", 21_474_836_480)
        .size("MaxSendSize", 36_700_160)
        .size("MaxReceiveSize", 37_748_736)
        .str(
            "ArchiveStatus",
            if m.archive_guid.is_some() {
                "Active"
            } else {
                "None"
            },
        )
        .opt_guid("ArchiveGuid", m.archive_guid)
        .opt(
            "ArchiveDatabase",
            m.archive_guid.map(|_| "EMUPR01DG001-db101"),
        )
        .strings(
            "ObjectClass",
            ["top", "person", "organizationalPerson", "user"],
        )
        .str("UsageLocation", &m.usage_location)
        .str(
            "MailboxPlan",
            "ExchangeOnlineEnterprise-d9a17a95-6c6c-4d9e-9d39-1b3c6c7a5f01",
        )
        .str("Database", "EMUPR01DG001-db001")
        .str("Office", &m.city)
        .date("WhenMailboxCreated", m.when_created);
}

pub fn statistics(o: &mut Obj, m: &Mailbox) {
    let s = &m.statistics;
    o.str("Identity", m.exchange_guid.hyphenated().to_string())
        .str("DisplayName", &m.display_name)
        .guid("MailboxGuid", m.exchange_guid)
        .num("ItemCount", s.item_count)
        .size("TotalItemSize", s.total_item_size)
        .num("DeletedItemCount", s.deleted_item_count)
        .size("TotalDeletedItemSize", s.total_deleted_item_size)
        .opt_date("LastLogonTime", s.last_logon_time)
        .opt_date("LastLogoffTime", s.last_logon_time.map(|t| t + 3600))
        .str("MailboxTypeDetail", m.kind.recipient_type_details())
        .str("StorageLimitStatus", "BelowLimit")
        .str("Database", "EMUPR01DG001-db001")
        .bool("IsArchiveMailbox", false)
        .bool("IsValid", true);
}

pub fn user(o: &mut Obj, r: &Recipient, org: &Organization) {
    let name = r.name();
    o.str("Identity", name)
        .str("Id", name)
        .str("Name", name)
        .str("DisplayName", r.display_name())
        .guid("Guid", r.guid())
        .str(
            "DistinguishedName",
            distinguished_name(name, &org.initial_domain),
        )
        .str(
            "OrganizationalUnit",
            organizational_unit(&org.initial_domain),
        )
        .bool("IsValid", true);
    match r {
        Recipient::Mailbox(m) => {
            let details = m.kind.recipient_type_details();
            o.str("FirstName", &m.first_name)
                .str("LastName", &m.last_name)
                .str("UserPrincipalName", &m.user_principal_name)
                .str("WindowsEmailAddress", m.primary_smtp_address())
                .str(
                    "ExternalDirectoryObjectId",
                    m.external_directory_object_id.hyphenated().to_string(),
                )
                .str("RecipientType", "UserMailbox")
                .str("RecipientTypeDetails", details)
                .bool("AccountDisabled", m.account_disabled)
                .str("Department", &m.department)
                .str("Title", &m.title)
                .str("City", &m.city)
                .str("UsageLocation", &m.usage_location)
                .date("WhenCreated", m.when_created)
                .date_utc("WhenCreatedUTC", m.when_created);
        }
        Recipient::MailUser(u) => {
            o.str("FirstName", "")
                .str("LastName", "")
                .str("UserPrincipalName", &u.user_principal_name)
                .str("WindowsEmailAddress", u.primary_smtp_address())
                .str(
                    "ExternalDirectoryObjectId",
                    u.external_directory_object_id.hyphenated().to_string(),
                )
                .str("RecipientType", "MailUser")
                .str(
                    "RecipientTypeDetails",
                    if u.guest { "GuestMailUser" } else { "MailUser" },
                )
                .bool("AccountDisabled", false)
                .str("Department", "")
                .str("Title", "")
                .str("City", "")
                .str("UsageLocation", "")
                .date("WhenCreated", u.when_created)
                .date_utc("WhenCreatedUTC", u.when_created);
        }
        // Get-User only lists users; other recipients never reach here.
        _ => {}
    }
}

pub fn distribution_group(o: &mut Obj, g: &DistributionGroup, r: &Recipient, org: &Organization) {
    recipient_base(o, r, org);
    o.strings("ManagedBy", &g.managed_by)
        .str(
            "GroupType",
            if g.security_enabled {
                "Universal, SecurityEnabled"
            } else {
                "Universal"
            },
        )
        .str("MemberJoinRestriction", "Closed")
        .str(
            "MemberDepartRestriction",
            if g.security_enabled { "Closed" } else { "Open" },
        )
        .bool("RequireSenderAuthenticationEnabled", true);
}

pub fn inbox_rule(rule: &InboxRule, owner: &Mailbox) -> Value {
    let mut o = Obj::new();
    o.str(
        "Identity",
        format!("{}\\{}", owner.alias, rule.rule_identity),
    )
    // (unverified) number or string on the wire: a string survives every
    // JSON parser, and clients accept both.
    .str("RuleIdentity", rule.rule_identity.to_string())
    .str("Name", &rule.name)
    .int32("Priority", i32::try_from(rule.priority).unwrap_or(i32::MAX))
    .bool("Enabled", rule.enabled)
    .str("Description", describe_rule(rule))
    .str("MailboxOwnerId", &owner.name)
    .strings("From", &rule.from)
    .strings("SubjectContainsWords", &rule.subject_contains_words)
    .strings("ForwardTo", &rule.forward_to)
    .strings("RedirectTo", &rule.redirect_to)
    .strings("ForwardAsAttachmentTo", &rule.forward_as_attachment_to)
    .opt("MoveToFolder", rule.move_to_folder.as_deref())
    .bool("DeleteMessage", rule.delete_message)
    .bool("MarkAsRead", rule.mark_as_read)
    .bool("StopProcessingRules", rule.stop_processing_rules)
    .bool("InError", false)
    .str("ErrorType", "None")
    .bool("SupportedByTask", true)
    .bool("IsValid", true)
    .str("ObjectState", "New");
    o.build()
}

/// The rule's human description, in the shape Outlook and Exchange print.
fn describe_rule(rule: &InboxRule) -> String {
    let mut text = String::from("If the message:\r\n");
    for word in &rule.subject_contains_words {
        text.push_str(&format!("\tincludes '{word}' in the subject\r\n"));
    }
    for from in &rule.from {
        text.push_str(&format!("\tthe message was received from '{from}'\r\n"));
    }
    text.push_str("Take the following actions:\r\n");
    let mut action = |verb: &str, targets: &[String]| {
        if !targets.is_empty() {
            text.push_str(&format!("\t{verb} '{}'\r\n", targets.join("' or '")));
        }
    };
    action("forward the message to", &rule.forward_to);
    action("redirect the message to", &rule.redirect_to);
    action(
        "forward the message as an attachment to",
        &rule.forward_as_attachment_to,
    );
    if let Some(folder) = &rule.move_to_folder {
        text.push_str(&format!("\tmove the message to folder '{folder}'\r\n"));
    }
    if rule.delete_message {
        text.push_str("\tdelete the message\r\n");
    }
    if rule.mark_as_read {
        text.push_str("\tmark the message as read\r\n");
    }
    if rule.stop_processing_rules {
        text.push_str("\tstop processing more rules\r\n");
    }
    text
}

/// The entry every mailbox has for its own account.
pub fn self_permission() -> MailboxPermission {
    MailboxPermission {
        user: "NT AUTHORITY\\SELF".to_owned(),
        access_rights: vec!["FullAccess".to_owned(), "ReadPermission".to_owned()],
        deny: false,
        inheritance_type: "All".to_owned(),
    }
}

pub fn mailbox_permission(owner: &Mailbox, p: &MailboxPermission, inherited: bool) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &owner.name)
        .str("User", &p.user)
        .strings("AccessRights", &p.access_rights)
        .bool("IsInherited", inherited)
        .bool("Deny", p.deny)
        .str("InheritanceType", &p.inheritance_type)
        .bool("IsValid", true)
        .str("ObjectState", "Unchanged");
    o.build()
}

pub fn recipient_permission(o: &mut Obj, owner: &Mailbox, trustee: &str) {
    o.str("Identity", &owner.name)
        .str("Trustee", trustee)
        .str("AccessControlType", "Allow")
        .strings("AccessRights", ["SendAs"])
        .bool("IsInherited", false)
        .str("InheritanceType", "None")
        .bool("IsValid", true)
        .str("ObjectState", "Unchanged");
}

pub fn auto_reply(m: &Mailbox) -> Value {
    let a = &m.auto_reply;
    let mut o = Obj::new();
    o.str("Identity", &m.name)
        .str("MailboxOwnerId", &m.name)
        .str("AutoReplyState", a.state.as_str())
        .str("ExternalAudience", a.external_audience.as_str())
        .date("StartTime", a.start_time)
        .date("EndTime", a.end_time)
        .str("InternalMessage", &a.internal_message)
        .str("ExternalMessage", &a.external_message)
        .bool("AutoDeclineFutureRequestsWhenOOF", false)
        .bool("CreateOOFEvent", false)
        .bool("DeclineAllEventsForScheduledOOF", false)
        .bool("DeclineEventsForScheduledOOF", false)
        .str("DeclineMeetingMessage", "")
        .strings("EventsToDeleteIDs", Vec::<String>::new())
        .str("OOFEventSubject", "")
        .bool("IsValid", true);
    o.build()
}

pub fn junk_email(m: &Mailbox) -> Value {
    let j = &m.junk_email;
    let mut o = Obj::new();
    o.str("Identity", &m.name)
        .str("MailboxOwnerId", &m.name)
        .bool("Enabled", j.enabled)
        .bool("TrustedListsOnly", j.trusted_lists_only)
        .bool("ContactsTrusted", j.contacts_trusted)
        .strings("TrustedSendersAndDomains", &j.trusted_senders_and_domains)
        .strings("BlockedSendersAndDomains", &j.blocked_senders_and_domains)
        .strings("TrustedRecipientsAndDomains", Vec::<String>::new())
        .bool("IsValid", true);
    o.build()
}

pub fn accepted_domain(domain: &str, org: &Organization) -> Value {
    let mut o = Obj::new();
    o.str("Identity", domain)
        .str("Name", domain)
        .str("DomainName", domain)
        .str("DomainType", "Authoritative")
        .bool("Default", domain.eq_ignore_ascii_case(&org.default_domain))
        .bool(
            "InitialDomain",
            domain.eq_ignore_ascii_case(&org.initial_domain),
        )
        .bool("MatchSubDomains", false)
        .bool("IsValid", true);
    o.build()
}

pub fn organization_config(org: &Organization) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &org.initial_domain)
        .str("Name", &org.initial_domain)
        .str("DisplayName", &org.display_name)
        .guid("Guid", org.guid)
        .guid("ExchangeObjectId", org.guid)
        .str("OrganizationId", organization_id(&org.initial_domain))
        .bool("IsDehydrated", false)
        .bool("AuditDisabled", false)
        .bool("OAuth2ClientProfileEnabled", true)
        .bool("SendFromAliasEnabled", false)
        .str("DefaultPublicFolderMailbox", "")
        .date("WhenCreated", org.when_created)
        .date_utc("WhenCreatedUTC", org.when_created)
        .bool("IsValid", true);
    o.build()
}

pub fn transport_rule(rule: &TransportRule) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &rule.name)
        .str("Name", &rule.name)
        .guid("Guid", rule.guid)
        .guid("ImmutableId", rule.guid)
        .int32("Priority", i32::try_from(rule.priority).unwrap_or(i32::MAX))
        .str("State", if rule.enabled { "Enabled" } else { "Disabled" })
        .str("Mode", &rule.mode)
        .str("Comments", &rule.comments)
        .opt("SentToScope", rule.sent_to_scope.as_deref())
        .opt("FromScope", rule.from_scope.as_deref())
        .strings("SubjectContainsWords", &rule.subject_contains_words)
        .strings("RedirectMessageTo", &rule.redirect_message_to)
        .strings("BlindCopyTo", &rule.blind_copy_to)
        .date("WhenChanged", rule.when_changed)
        .bool("IsValid", true);
    match rule.set_scl {
        Some(scl) => o.int32("SetSCL", scl),
        None => o.null("SetSCL"),
    };
    o.build()
}

pub fn role_group(group: &RoleGroup, org: &Organization) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &group.name)
        .str("Name", &group.name)
        .str("DisplayName", &group.name)
        .str("Description", &group.description)
        .strings("Roles", &group.roles)
        .strings(
            "RoleAssignments",
            group.roles.iter().map(|r| format!("{r}-{}", group.name)),
        )
        .strings("ManagedBy", Vec::<String>::new())
        .strings("Members", &group.members)
        .opt(
            "CustomRecipientWriteScope",
            group.custom_recipient_write_scope.as_deref(),
        )
        .str("RoleGroupType", "Standard")
        .guid("Guid", group.guid)
        .guid("ExchangeObjectId", group.guid)
        .str(
            "DistinguishedName",
            distinguished_name(&group.name, &org.initial_domain),
        )
        .date("WhenCreated", group.when_created)
        .bool("IsValid", true);
    o.build()
}

pub fn mail_user(o: &mut Obj, u: &MailUser, r: &Recipient, org: &Organization) {
    recipient_base(o, r, org);
    o.str("UserPrincipalName", &u.user_principal_name)
        .str("WindowsLiveID", &u.user_principal_name)
        .str("MicrosoftOnlineServicesID", &u.user_principal_name);
}

pub fn mail_contact(o: &mut Obj, _c: &MailContact, r: &Recipient, org: &Organization) {
    recipient_base(o, r, org);
    o.bool("UsePreferMessageFormat", false);
}

impl MailUser {
    pub fn primary_smtp_address(&self) -> &str {
        crate::model::primary_smtp(&self.email_addresses)
    }
}
