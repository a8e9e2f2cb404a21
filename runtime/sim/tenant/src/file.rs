//! The tenant file: the tenant's whole state as JSON, for demos that start
//! from a hand-made tenant and for saving a tenant after a run.
//!
//! Loading goes list by list and element by element, so an error names
//! where it is (`mailboxes[12] (alias "jdoe")`) as well as what is wrong.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Tenant;
use crate::directory::{Directory, DirectoryParts};
use crate::error::TenantFileError;
use crate::model::{
    DistributionGroup, MailContact, MailUser, Mailbox, ManagementRole, ManagementScope,
    Organization, RoleGroup, ServicePrincipal, TransportRule, primary_smtp,
};

const FORMAT: u32 = 1;

#[derive(Serialize)]
struct TenantFile<'a> {
    format: u32,
    organization: &'a Organization,
    rule_sequence: u64,
    mailboxes: Vec<&'a Mailbox>,
    mail_users: Vec<&'a MailUser>,
    mail_contacts: Vec<&'a MailContact>,
    distribution_groups: Vec<&'a DistributionGroup>,
    transport_rules: Vec<&'a TransportRule>,
    role_groups: Vec<&'a RoleGroup>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    service_principals: &'a [ServicePrincipal],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    management_roles: &'a [ManagementRole],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    management_scopes: &'a [ManagementScope],
}

const KEYS: &[&str] = &[
    "format",
    "organization",
    "rule_sequence",
    "mailboxes",
    "mail_users",
    "mail_contacts",
    "distribution_groups",
    "transport_rules",
    "role_groups",
    "service_principals",
    "management_roles",
    "management_scopes",
];

pub fn save(org: &Organization, dir: &Directory) -> String {
    let file = TenantFile {
        format: FORMAT,
        organization: org,
        rule_sequence: dir.rule_sequence,
        mailboxes: dir.mailboxes.iter().map(|m| m.as_ref()).collect(),
        mail_users: dir.mail_users.iter().map(|m| m.as_ref()).collect(),
        mail_contacts: dir.contacts.iter().map(|m| m.as_ref()).collect(),
        distribution_groups: dir.groups.iter().map(|m| m.as_ref()).collect(),
        transport_rules: dir.transport_rules.iter().map(|m| m.as_ref()).collect(),
        role_groups: dir.role_groups.iter().map(|m| m.as_ref()).collect(),
        service_principals: &dir.service_principals,
        management_roles: &dir.management_roles,
        management_scopes: &dir.management_scopes,
    };
    // Plain data with string keys: serialisation cannot fail.
    serde_json::to_string_pretty(&file).unwrap_or_default()
}

pub fn load(text: &str) -> Result<Tenant, TenantFileError> {
    let value: Value = serde_json::from_str(text).map_err(TenantFileError::Syntax)?;
    let Value::Object(mut root) = value else {
        return Err(shape("$", "expected an object"));
    };
    if let Some(unknown) = root.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(shape(
            unknown,
            &format!(
                "unknown field `{unknown}`, expected one of {}",
                KEYS.join(", ")
            ),
        ));
    }
    let format: u32 = field(&mut root, "format")?;
    if format != FORMAT {
        return Err(shape(
            "format",
            &format!("unsupported format {format}, expected {FORMAT}"),
        ));
    }
    let org: Organization = field(&mut root, "organization")?;
    let rule_sequence: u64 = root.remove("rule_sequence").map_or(Ok(0), |v| {
        serde_json::from_value(v).map_err(|e| shape("rule_sequence", &e.to_string()))
    })?;
    let parts = DirectoryParts {
        initial_domain: org.initial_domain.clone(),
        mailboxes: list(&mut root, "mailboxes")?,
        mail_users: list(&mut root, "mail_users")?,
        contacts: list(&mut root, "mail_contacts")?,
        groups: list(&mut root, "distribution_groups")?,
        transport_rules: list(&mut root, "transport_rules")?,
        role_groups: list(&mut root, "role_groups")?,
        service_principals: list(&mut root, "service_principals")?,
        management_roles: list(&mut root, "management_roles")?,
        management_scopes: list(&mut root, "management_scopes")?,
        rule_sequence,
    };
    check(&org, &parts)?;
    let mut parts = parts;
    fill_missing_guids(&mut parts);
    Ok(Tenant::from_parts(org, Directory::new(parts)))
}

fn shape(path: &str, message: &str) -> TenantFileError {
    TenantFileError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn field<T: DeserializeOwned>(
    root: &mut Map<String, Value>,
    key: &str,
) -> Result<T, TenantFileError> {
    let value = root
        .remove(key)
        .ok_or_else(|| shape(key, "missing field"))?;
    serde_json::from_value(value).map_err(|e| shape(key, &e.to_string()))
}

/// A list, element by element; an absent list is empty.
fn list<T: DeserializeOwned>(
    root: &mut Map<String, Value>,
    key: &str,
) -> Result<Vec<T>, TenantFileError> {
    let Some(value) = root.remove(key) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(shape(key, "expected a list"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let label = item
                .get("alias")
                .or_else(|| item.get("name"))
                .and_then(Value::as_str)
                .map(|a| format!(" ({a:?})"))
                .unwrap_or_default();
            serde_json::from_value(item)
                .map_err(|e| shape(&format!("{key}[{i}]{label}"), &e.to_string()))
        })
        .collect()
}

/// Facts serde cannot check: every recipient needs exactly one primary address.
fn check(org: &Organization, parts: &DirectoryParts) -> Result<(), TenantFileError> {
    if !org
        .accepted_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&org.initial_domain))
    {
        return Err(TenantFileError::Inconsistent(format!(
            "organization.accepted_domains must include the initial domain {}",
            org.initial_domain
        )));
    }
    let addresses = parts
        .mailboxes
        .iter()
        .map(|m| ("mailboxes", &m.alias, &m.email_addresses))
        .chain(
            parts
                .mail_users
                .iter()
                .map(|m| ("mail_users", &m.alias, &m.email_addresses)),
        )
        .chain(
            parts
                .contacts
                .iter()
                .map(|m| ("mail_contacts", &m.alias, &m.email_addresses)),
        )
        .chain(
            parts
                .groups
                .iter()
                .map(|m| ("distribution_groups", &m.alias, &m.email_addresses)),
        );
    for (list, alias, addresses) in addresses {
        let primaries = addresses.iter().filter(|a| a.starts_with("SMTP:")).count();
        if primaries != 1 || primary_smtp(addresses).is_empty() {
            return Err(TenantFileError::Inconsistent(format!(
                "{list} entry {alias:?} must have exactly one primary address (\"SMTP:...\") in email_addresses, found {primaries}"
            )));
        }
    }
    Ok(())
}

/// A hand-written file may leave GUIDs out; each gets one derived from what
/// it belongs to, so that loading the same file twice gives the same tenant.
fn fill_missing_guids(parts: &mut DirectoryParts) {
    fn fill(guid: &mut Uuid, label: &str) {
        if guid.is_nil() {
            *guid = derived_uuid(label);
        }
    }
    for m in &mut parts.mailboxes {
        fill(&mut m.guid, &format!("mailbox/{}/guid", m.alias));
        fill(
            &mut m.exchange_guid,
            &format!("mailbox/{}/exchange", m.alias),
        );
        fill(
            &mut m.external_directory_object_id,
            &format!("mailbox/{}/edoid", m.alias),
        );
    }
    for u in &mut parts.mail_users {
        fill(&mut u.guid, &format!("mailuser/{}/guid", u.alias));
        fill(
            &mut u.external_directory_object_id,
            &format!("mailuser/{}/edoid", u.alias),
        );
    }
    for c in &mut parts.contacts {
        fill(&mut c.guid, &format!("contact/{}/guid", c.alias));
        fill(
            &mut c.external_directory_object_id,
            &format!("contact/{}/edoid", c.alias),
        );
    }
    for g in &mut parts.groups {
        fill(&mut g.guid, &format!("group/{}/guid", g.alias));
        fill(
            &mut g.external_directory_object_id,
            &format!("group/{}/edoid", g.alias),
        );
    }
    for r in &mut parts.transport_rules {
        fill(&mut r.guid, &format!("transportrule/{}", r.name));
    }
    for r in &mut parts.role_groups {
        fill(&mut r.guid, &format!("rolegroup/{}", r.name));
    }
}

/// A version-4-shaped UUID from a label (FNV-1a, then splitmix64).
fn derived_uuid(label: &str) -> Uuid {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in label.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let high = crate::cmdlets::splitmix64(hash);
    let low = crate::cmdlets::splitmix64(high);
    let bits = (u128::from(high) << 64) | u128::from(low);
    uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid()
}
