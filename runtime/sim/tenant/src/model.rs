//! The records the tenant keeps, in the form they are saved to a tenant file.
//!
//! Only facts are stored; everything Exchange derives (DistinguishedName,
//! LegacyExchangeDN, PrimarySmtpAddress, annotations, size strings) is
//! computed when an object is rendered, which keeps 100,000 mailboxes small
//! and the tenant file free of values that could contradict each other.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxKind {
    User,
    Shared,
    Room,
    Equipment,
}

impl MailboxKind {
    pub fn recipient_type_details(self) -> &'static str {
        match self {
            MailboxKind::User => "UserMailbox",
            MailboxKind::Shared => "SharedMailbox",
            MailboxKind::Room => "RoomMailbox",
            MailboxKind::Equipment => "EquipmentMailbox",
        }
    }

    /// `Set-Mailbox -Type` values.
    pub fn from_type_parameter(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "regular" => Some(MailboxKind::User),
            "shared" => Some(MailboxKind::Shared),
            "room" => Some(MailboxKind::Room),
            "equipment" => Some(MailboxKind::Equipment),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    pub name: String,
    pub alias: String,
    pub display_name: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub user_principal_name: String,
    /// Proxy addresses with their prefixes; exactly one `SMTP:` (the primary).
    pub email_addresses: Vec<String>,
    pub kind: MailboxKind,
    #[serde(default)]
    pub guid: Uuid,
    #[serde(default)]
    pub exchange_guid: Uuid,
    #[serde(default)]
    pub external_directory_object_id: Uuid,
    #[serde(default)]
    pub archive_guid: Option<Uuid>,
    #[serde(default = "default_when_created")]
    pub when_created: i64,
    #[serde(default)]
    pub department: String,
    /// `CustomAttribute1` to `CustomAttribute15`, in order; missing ones
    /// are empty. Admins keep scoping tags here (management scopes filter
    /// on them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_attributes: Vec<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub usage_location: String,
    #[serde(default = "default_issue_warning_quota")]
    pub issue_warning_quota: u64,
    #[serde(default = "default_prohibit_send_quota")]
    pub prohibit_send_quota: u64,
    #[serde(default = "default_prohibit_send_receive_quota")]
    pub prohibit_send_receive_quota: u64,
    #[serde(default)]
    pub account_disabled: bool,
    /// The recipient's Name.
    #[serde(default)]
    pub forwarding_address: Option<String>,
    /// Stored with its `smtp:` prefix, as Exchange reads it back.
    #[serde(default)]
    pub forwarding_smtp_address: Option<String>,
    #[serde(default)]
    pub deliver_to_mailbox_and_forward: bool,
    #[serde(default)]
    pub hidden_from_address_lists_enabled: bool,
    /// Recipient Names.
    #[serde(default)]
    pub grant_send_on_behalf_to: Vec<String>,
    #[serde(default)]
    pub statistics: MailboxStatistics,
    #[serde(default)]
    pub auto_reply: AutoReply,
    #[serde(default)]
    pub junk_email: JunkEmail,
    #[serde(default)]
    pub inbox_rules: Vec<InboxRule>,
    /// Explicit entries; the `NT AUTHORITY\SELF` entry is implicit.
    #[serde(default)]
    pub permissions: Vec<MailboxPermission>,
    /// SendAs trustees besides the implicit `NT AUTHORITY\SELF`.
    #[serde(default)]
    pub send_as: Vec<String>,
}

impl Mailbox {
    /// `CustomAttribute<n>` (1 to 15); empty when unset.
    pub fn custom_attribute(&self, n: usize) -> &str {
        n.checked_sub(1)
            .and_then(|i| self.custom_attributes.get(i))
            .map_or("", String::as_str)
    }

    /// The address behind the `SMTP:` proxy; empty only in a broken file,
    /// which loading refuses.
    pub fn primary_smtp_address(&self) -> &str {
        primary_smtp(&self.email_addresses)
    }
}

/// The address after the upper-case `SMTP:` prefix.
pub fn primary_smtp(addresses: &[String]) -> &str {
    addresses
        .iter()
        .find_map(|a| a.strip_prefix("SMTP:"))
        .unwrap_or_default()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxStatistics {
    pub item_count: u64,
    pub total_item_size: u64,
    pub deleted_item_count: u64,
    pub total_deleted_item_size: u64,
    pub last_logon_time: Option<i64>,
}

/// The variant whose name equals `value` ignoring case, as PowerShell
/// binds enum parameters. `names[i]` spells `variants[i]`, so each name is
/// written once, in the enum's `NAMES`.
fn parse_named<T: Copy>(value: &str, names: &[&str], variants: &[T]) -> Option<T> {
    names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(value))
        .and_then(|i| variants.get(i).copied())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoReplyState {
    Disabled,
    Enabled,
    Scheduled,
}

impl AutoReplyState {
    pub const NAMES: [&'static str; 3] = ["Disabled", "Enabled", "Scheduled"];
    const ALL: [Self; 3] = [Self::Disabled, Self::Enabled, Self::Scheduled];

    pub fn parse(value: &str) -> Option<Self> {
        parse_named(value, &Self::NAMES, &Self::ALL)
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExternalAudience {
    None,
    Known,
    All,
}

impl ExternalAudience {
    pub const NAMES: [&'static str; 3] = ["None", "Known", "All"];
    const ALL: [Self; 3] = [Self::None, Self::Known, Self::All];

    pub fn parse(value: &str) -> Option<Self> {
        parse_named(value, &Self::NAMES, &Self::ALL)
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoReply {
    pub state: AutoReplyState,
    pub external_audience: ExternalAudience,
    pub start_time: i64,
    pub end_time: i64,
    pub internal_message: String,
    pub external_message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JunkEmail {
    pub enabled: bool,
    pub trusted_lists_only: bool,
    pub contacts_trusted: bool,
    pub trusted_senders_and_domains: Vec<String>,
    pub blocked_senders_and_domains: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxRule {
    /// A UInt64 that usually overflows Int64, as on the real service.
    pub rule_identity: u64,
    pub name: String,
    pub priority: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub from: Vec<String>,
    #[serde(default)]
    pub subject_contains_words: Vec<String>,
    /// Display forms: `"Jane Doe" [EX:/o=...]` or `"x@ext.com" [SMTP:x@ext.com]`.
    #[serde(default)]
    pub forward_to: Vec<String>,
    #[serde(default)]
    pub redirect_to: Vec<String>,
    #[serde(default)]
    pub forward_as_attachment_to: Vec<String>,
    #[serde(default)]
    pub move_to_folder: Option<String>,
    #[serde(default)]
    pub delete_message: bool,
    #[serde(default)]
    pub mark_as_read: bool,
    #[serde(default)]
    pub stop_processing_rules: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxPermission {
    /// A UPN, `NT AUTHORITY\...`, or an unresolved SID.
    pub user: String,
    pub access_rights: Vec<String>,
    #[serde(default)]
    pub deny: bool,
    #[serde(default = "default_inheritance")]
    pub inheritance_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailUser {
    pub name: String,
    pub alias: String,
    pub display_name: String,
    pub user_principal_name: String,
    pub external_email_address: String,
    #[serde(default)]
    pub email_addresses: Vec<String>,
    #[serde(default)]
    pub guest: bool,
    #[serde(default)]
    pub guid: Uuid,
    #[serde(default)]
    pub external_directory_object_id: Uuid,
    #[serde(default = "default_when_created")]
    pub when_created: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailContact {
    pub name: String,
    pub alias: String,
    pub display_name: String,
    pub external_email_address: String,
    #[serde(default)]
    pub email_addresses: Vec<String>,
    #[serde(default)]
    pub guid: Uuid,
    #[serde(default)]
    pub external_directory_object_id: Uuid,
    #[serde(default = "default_when_created")]
    pub when_created: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionGroup {
    pub name: String,
    pub alias: String,
    pub display_name: String,
    pub email_addresses: Vec<String>,
    #[serde(default)]
    pub security_enabled: bool,
    #[serde(default)]
    pub guid: Uuid,
    #[serde(default)]
    pub external_directory_object_id: Uuid,
    #[serde(default = "default_when_created")]
    pub when_created: i64,
    /// Recipient Names.
    #[serde(default)]
    pub managed_by: Vec<String>,
    /// Members by Guid, which never changes, unlike addresses.
    #[serde(default)]
    pub members: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportRule {
    pub name: String,
    #[serde(default)]
    pub guid: Uuid,
    pub priority: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default)]
    pub comments: String,
    #[serde(default)]
    pub sent_to_scope: Option<String>,
    #[serde(default)]
    pub from_scope: Option<String>,
    #[serde(default)]
    pub subject_contains_words: Vec<String>,
    #[serde(default)]
    pub redirect_message_to: Vec<String>,
    #[serde(default)]
    pub blind_copy_to: Vec<String>,
    #[serde(default)]
    pub set_scl: Option<i32>,
    #[serde(default = "default_when_created")]
    pub when_changed: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
    /// A management scope's name: the group's roles write only to the
    /// recipients it admits (`-CustomRecipientWriteScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_recipient_write_scope: Option<String>,
    #[serde(default)]
    pub guid: Uuid,
    #[serde(default = "default_when_created")]
    pub when_created: i64,
}

/// An Entra app's service principal as Exchange knows it
/// (`New-ServicePrincipal`): what a role group names to give the app
/// Exchange permissions of its own, instead of an Entra role's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePrincipal {
    pub app_id: String,
    /// The enterprise application's object id in Entra.
    pub object_id: String,
    pub display_name: String,
    #[serde(default)]
    pub guid: Uuid,
}

/// A custom management role: a copy of its parent's entries, narrowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementRole {
    pub name: String,
    pub parent: String,
    pub entries: Vec<RoleEntry>,
    #[serde(default)]
    pub guid: Uuid,
}

/// One cmdlet of a role, and the parameters the role allows with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    pub cmdlet: String,
    pub parameters: Vec<String>,
}

/// A management scope: the recipients a role assignment may write to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementScope {
    pub name: String,
    pub recipient_restriction_filter: String,
    #[serde(default)]
    pub guid: Uuid,
}

/// The organisation itself: what `Get-OrganizationConfig` and
/// `Get-AcceptedDomain` describe and every DN is rooted in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub id: Uuid,
    pub guid: Uuid,
    pub display_name: String,
    /// `contoso.onmicrosoft.com`.
    pub initial_domain: String,
    /// The domain new addresses use (`contoso.com`).
    pub default_domain: String,
    /// Every accepted domain, the initial one included.
    pub accepted_domains: Vec<String>,
    pub when_created: i64,
}

// Defaults for hand-written tenant files: only what identifies a recipient
// is required; everything else takes the value a new mailbox has.

/// 2024-01-01T00:00:00Z.
fn default_when_created() -> i64 {
    1_704_067_200
}

fn default_issue_warning_quota() -> u64 {
    98 << 30
}

fn default_prohibit_send_quota() -> u64 {
    99 << 30
}

fn default_prohibit_send_receive_quota() -> u64 {
    100 << 30
}

fn yes() -> bool {
    true
}

fn default_inheritance() -> String {
    "All".to_owned()
}

fn default_mode() -> String {
    "Enforce".to_owned()
}

impl Default for AutoReply {
    fn default() -> Self {
        AutoReply {
            state: AutoReplyState::Disabled,
            external_audience: ExternalAudience::All,
            start_time: default_when_created(),
            end_time: default_when_created() + 86_400,
            internal_message: String::new(),
            external_message: String::new(),
        }
    }
}

impl Default for JunkEmail {
    /// Junk filtering is on and contacts are trusted, as for a new mailbox.
    fn default() -> Self {
        JunkEmail {
            enabled: true,
            trusted_lists_only: false,
            contacts_trusted: true,
            trusted_senders_and_domains: Vec::new(),
            blocked_senders_and_domains: Vec::new(),
        }
    }
}
