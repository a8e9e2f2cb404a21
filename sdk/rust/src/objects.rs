//! Typed views of the objects common automations read. Every field is
//! optional or defaulted: Exchange adds properties over time and a report
//! should not break when one is missing.

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mailbox {
    pub identity: String,
    pub name: String,
    pub alias: String,
    pub display_name: String,
    pub user_principal_name: String,
    pub primary_smtp_address: String,
    pub recipient_type_details: String,
    pub email_addresses: Vec<String>,
    pub forwarding_address: Option<String>,
    pub forwarding_smtp_address: Option<String>,
    pub deliver_to_mailbox_and_forward: bool,
    pub hidden_from_address_lists_enabled: bool,
    pub issue_warning_quota: Option<String>,
    pub prohibit_send_quota: Option<String>,
    pub prohibit_send_receive_quota: Option<String>,
    pub guid: String,
    pub external_directory_object_id: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MailboxStatistics {
    pub display_name: String,
    pub item_count: u64,
    pub total_item_size: Option<String>,
    pub deleted_item_count: u64,
    pub total_deleted_item_size: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InboxRule {
    pub name: String,
    pub identity: String,
    pub rule_identity: serde_json::Value,
    pub mailbox_owner_id: String,
    pub enabled: bool,
    pub forward_to: Option<Vec<String>>,
    pub forward_as_attachment_to: Option<Vec<String>>,
    pub redirect_to: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AcceptedDomain {
    pub name: String,
    pub domain_name: String,
    pub domain_type: String,
    pub default: bool,
}

/// The SMTP address inside a rule target such as
/// `"x@ext.com" [SMTP:x@ext.com]`; `None` for internal `[EX:…]` targets.
pub fn smtp_target(entry: &str) -> Option<&str> {
    let start = entry.find("[SMTP:")? + "[SMTP:".len();
    let end = entry[start..].find(']')? + start;
    Some(&entry[start..end])
}

/// The domain of an address, lowercased, with any `smtp:` prefix dropped.
pub fn domain_of(address: &str) -> Option<String> {
    let address = address
        .strip_prefix("smtp:")
        .or_else(|| address.strip_prefix("SMTP:"))
        .unwrap_or(address);
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_target_reads_external_entries_only() {
        assert_eq!(
            smtp_target("\"x@ext.com\" [SMTP:x@ext.com]"),
            Some("x@ext.com")
        );
        assert_eq!(
            smtp_target("\"Jane Doe\" [EX:/o=ExchangeLabs/cn=jdoe]"),
            None
        );
    }

    #[test]
    fn domain_of_strips_prefix_and_lowercases() {
        assert_eq!(
            domain_of("smtp:A@Fabrikam.COM").as_deref(),
            Some("fabrikam.com")
        );
        assert_eq!(domain_of("nobody"), None);
    }
}
