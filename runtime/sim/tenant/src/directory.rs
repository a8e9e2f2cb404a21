//! The tenant's objects and the identity index over them.
//!
//! Records are held as `Arc`s and replaced whole on every write, so a reader
//! that took a snapshot (an [`crate::Execution`] being paged) keeps a
//! consistent view while writers go on. Identity lookup goes through one hash
//! map of lower-cased keys: `Get-Mailbox -Identity` never scans.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::ExoError;
use crate::model::{
    DistributionGroup, MailContact, MailUser, Mailbox, ManagementRole, ManagementScope, RoleGroup,
    ServicePrincipal, TransportRule, primary_smtp,
};
use crate::names::{distinguished_name, legacy_exchange_dn, strip_smtp_prefix};

/// A recipient's place in the directory. Recipients are never deleted, so
/// positions are stable for the life of the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientId {
    Mailbox(u32),
    MailUser(u32),
    Contact(u32),
    Group(u32),
}

impl RecipientId {
    pub fn is_mailbox(self) -> bool {
        matches!(self, RecipientId::Mailbox(_))
    }
}

/// A snapshot of one recipient of any kind.
#[derive(Clone, Debug)]
pub enum Recipient {
    Mailbox(Arc<Mailbox>),
    MailUser(Arc<MailUser>),
    Contact(Arc<MailContact>),
    Group(Arc<DistributionGroup>),
}

impl Recipient {
    pub fn name(&self) -> &str {
        match self {
            Recipient::Mailbox(m) => &m.name,
            Recipient::MailUser(m) => &m.name,
            Recipient::Contact(c) => &c.name,
            Recipient::Group(g) => &g.name,
        }
    }

    pub fn alias(&self) -> &str {
        match self {
            Recipient::Mailbox(m) => &m.alias,
            Recipient::MailUser(m) => &m.alias,
            Recipient::Contact(c) => &c.alias,
            Recipient::Group(g) => &g.alias,
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            Recipient::Mailbox(m) => &m.display_name,
            Recipient::MailUser(m) => &m.display_name,
            Recipient::Contact(c) => &c.display_name,
            Recipient::Group(g) => &g.display_name,
        }
    }

    pub fn guid(&self) -> Uuid {
        match self {
            Recipient::Mailbox(m) => m.guid,
            Recipient::MailUser(m) => m.guid,
            Recipient::Contact(c) => c.guid,
            Recipient::Group(g) => g.guid,
        }
    }

    pub fn email_addresses(&self) -> &[String] {
        match self {
            Recipient::Mailbox(m) => &m.email_addresses,
            Recipient::MailUser(m) => &m.email_addresses,
            Recipient::Contact(c) => &c.email_addresses,
            Recipient::Group(g) => &g.email_addresses,
        }
    }

    pub fn primary_smtp_address(&self) -> &str {
        primary_smtp(self.email_addresses())
    }

    /// The UPN for users, the primary address otherwise: how Exchange names
    /// a trustee in permission output.
    pub fn trustee_name(&self) -> &str {
        match self {
            Recipient::Mailbox(m) => &m.user_principal_name,
            Recipient::MailUser(m) => &m.user_principal_name,
            other => other.primary_smtp_address(),
        }
    }

    /// X.500 address used in inbox-rule display forms.
    pub fn legacy_exchange_dn(&self) -> String {
        let guid = match self {
            Recipient::Mailbox(m) => m.exchange_guid,
            other => other.guid(),
        };
        legacy_exchange_dn(guid, self.alias())
    }
}

/// One key may name several recipients (that is how ambiguity arises), but
/// nearly always names one: keep the common case allocation-free.
#[derive(Clone, Debug)]
enum Slot {
    One(RecipientId),
    Many(Vec<RecipientId>),
}

#[derive(Debug)]
pub struct Directory {
    pub initial_domain: String,
    pub mailboxes: Vec<Arc<Mailbox>>,
    pub mail_users: Vec<Arc<MailUser>>,
    pub contacts: Vec<Arc<MailContact>>,
    pub groups: Vec<Arc<DistributionGroup>>,
    pub transport_rules: Vec<Arc<TransportRule>>,
    pub role_groups: Vec<Arc<RoleGroup>>,
    /// Exchange RBAC for apps: service principals, custom roles and
    /// management scopes (`crate::roles`).
    pub service_principals: Vec<ServicePrincipal>,
    pub management_roles: Vec<ManagementRole>,
    pub management_scopes: Vec<ManagementScope>,
    /// Feeds the RuleIdentity of the next New-InboxRule; saved with the
    /// tenant so that a reloaded tenant never reuses an identity.
    pub rule_sequence: u64,
    /// Names, aliases, UPNs and SMTP addresses, lower-cased.
    index: HashMap<Box<str>, Slot>,
    /// Guid, ExchangeGuid and ExternalDirectoryObjectId. Kept apart from the
    /// text keys: 16-byte keys hash faster and cost less memory.
    guids: HashMap<u128, Slot>,
}

pub struct DirectoryParts {
    pub initial_domain: String,
    pub mailboxes: Vec<Mailbox>,
    pub mail_users: Vec<MailUser>,
    pub contacts: Vec<MailContact>,
    pub groups: Vec<DistributionGroup>,
    pub transport_rules: Vec<TransportRule>,
    pub role_groups: Vec<RoleGroup>,
    pub service_principals: Vec<ServicePrincipal>,
    pub management_roles: Vec<ManagementRole>,
    pub management_scopes: Vec<ManagementScope>,
    pub rule_sequence: u64,
}

impl Directory {
    pub fn new(parts: DirectoryParts) -> Self {
        let mut dir = Directory {
            initial_domain: parts.initial_domain,
            mailboxes: parts.mailboxes.into_iter().map(Arc::new).collect(),
            mail_users: parts.mail_users.into_iter().map(Arc::new).collect(),
            contacts: parts.contacts.into_iter().map(Arc::new).collect(),
            groups: parts.groups.into_iter().map(Arc::new).collect(),
            transport_rules: parts.transport_rules.into_iter().map(Arc::new).collect(),
            role_groups: parts.role_groups.into_iter().map(Arc::new).collect(),
            service_principals: parts.service_principals,
            management_roles: parts.management_roles,
            management_scopes: parts.management_scopes,
            rule_sequence: parts.rule_sequence,
            index: HashMap::new(),
            guids: HashMap::new(),
        };
        let total =
            dir.mailboxes.len() + dir.mail_users.len() + dir.contacts.len() + dir.groups.len();
        dir.index.reserve(total * 4);
        dir.guids.reserve(total * 2);
        for id in dir.all_ids().collect::<Vec<_>>() {
            dir.index_insert(id);
        }
        dir
    }

    pub fn all_ids(&self) -> impl Iterator<Item = RecipientId> + use<> {
        let mailboxes = (0..self.mailboxes.len() as u32).map(RecipientId::Mailbox);
        let users = (0..self.mail_users.len() as u32).map(RecipientId::MailUser);
        let contacts = (0..self.contacts.len() as u32).map(RecipientId::Contact);
        let groups = (0..self.groups.len() as u32).map(RecipientId::Group);
        mailboxes.chain(users).chain(contacts).chain(groups)
    }

    /// The recipient at `id`. Ids only come from this directory, so the
    /// position exists; a stale one would be a bug, reported as not found.
    pub fn recipient(&self, id: RecipientId) -> Option<Recipient> {
        Some(match id {
            RecipientId::Mailbox(i) => Recipient::Mailbox(self.mailboxes.get(i as usize)?.clone()),
            RecipientId::MailUser(i) => {
                Recipient::MailUser(self.mail_users.get(i as usize)?.clone())
            }
            RecipientId::Contact(i) => Recipient::Contact(self.contacts.get(i as usize)?.clone()),
            RecipientId::Group(i) => Recipient::Group(self.groups.get(i as usize)?.clone()),
        })
    }

    /// The text keys a recipient answers to, lower-cased: Name, Alias, UPN
    /// and each SMTP proxy (prefix stripped). DistinguishedName and
    /// LegacyExchangeDN are not stored: [`Directory::lookup`] derives them
    /// from the name and the GUID they contain.
    fn text_keys(recipient: &Recipient) -> Vec<String> {
        let mut keys = Vec::with_capacity(6);
        keys.push(recipient.name().to_lowercase());
        keys.push(recipient.alias().to_lowercase());
        for address in recipient.email_addresses() {
            let stripped = strip_smtp_prefix(address);
            if stripped.len() != address.len() {
                keys.push(stripped.to_lowercase());
            }
        }
        match recipient {
            Recipient::Mailbox(m) => keys.push(m.user_principal_name.to_lowercase()),
            Recipient::MailUser(m) => keys.push(m.user_principal_name.to_lowercase()),
            _ => {}
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn guid_keys(recipient: &Recipient) -> Vec<u128> {
        let mut keys = vec![recipient.guid().as_u128()];
        match recipient {
            Recipient::Mailbox(m) => {
                keys.push(m.exchange_guid.as_u128());
                keys.push(m.external_directory_object_id.as_u128());
            }
            Recipient::MailUser(m) => keys.push(m.external_directory_object_id.as_u128()),
            Recipient::Contact(c) => keys.push(c.external_directory_object_id.as_u128()),
            Recipient::Group(g) => keys.push(g.external_directory_object_id.as_u128()),
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn index_insert(&mut self, id: RecipientId) {
        let Some(recipient) = self.recipient(id) else {
            return;
        };
        for key in Self::text_keys(&recipient) {
            slot_insert(&mut self.index, key.into_boxed_str(), id);
        }
        for key in Self::guid_keys(&recipient) {
            slot_insert(&mut self.guids, key, id);
        }
    }

    fn index_remove(&mut self, id: RecipientId) {
        let Some(recipient) = self.recipient(id) else {
            return;
        };
        for key in Self::text_keys(&recipient) {
            slot_remove(&mut self.index, key.as_str(), id);
        }
        for key in Self::guid_keys(&recipient) {
            slot_remove(&mut self.guids, &key, id);
        }
    }

    /// Every recipient the identity names.
    pub fn lookup(&self, identity: &str) -> Vec<RecipientId> {
        let key = normalise_identity(identity);
        let mut found = slot_ids(self.index.get(key.as_str()));
        if let Ok(guid) = Uuid::try_parse(&key) {
            found.extend(slot_ids(self.guids.get(&guid.as_u128())));
        } else if let Some(rest) = key.strip_prefix("cn=") {
            // A DistinguishedName: look the CN up as a name, then compare whole DNs.
            let name = unescape_dn(rest);
            found.extend(
                slot_ids(self.index.get(name.as_str()))
                    .into_iter()
                    .filter(|id| {
                        self.recipient(*id).is_some_and(|r| {
                            distinguished_name(r.name(), &self.initial_domain)
                                .eq_ignore_ascii_case(identity.trim())
                        })
                    }),
            );
        } else if key.starts_with("/o=") {
            // A LegacyExchangeDN ends in `cn=<32 hex>-<alias>`: the hex is a GUID.
            let guid = key
                .rsplit("/cn=")
                .next()
                .and_then(|tail| tail.get(..32))
                .and_then(|hex| Uuid::try_parse(hex).ok());
            if let Some(guid) = guid {
                found.extend(
                    slot_ids(self.guids.get(&guid.as_u128()))
                        .into_iter()
                        .filter(|id| {
                            self.recipient(*id).is_some_and(|r| {
                                r.legacy_exchange_dn().eq_ignore_ascii_case(identity.trim())
                            })
                        }),
                );
            }
        }
        found.sort_unstable_by_key(|id| match id {
            RecipientId::Mailbox(i) => (0, *i),
            RecipientId::MailUser(i) => (1, *i),
            RecipientId::Contact(i) => (2, *i),
            RecipientId::Group(i) => (3, *i),
        });
        found.dedup();
        found
    }

    /// Resolves an identity among the recipients `accept` admits, with
    /// Exchange's not-found and ambiguous errors.
    pub fn resolve(
        &self,
        identity: &str,
        accept: impl Fn(RecipientId) -> bool,
    ) -> Result<RecipientId, ExoError> {
        let mut matches = self.lookup(identity);
        matches.retain(|id| accept(*id));
        match matches[..] {
            [] => Err(ExoError::not_found(identity)),
            [one] => Ok(one),
            _ => Err(ExoError::ambiguous(identity)),
        }
    }

    /// Resolves a mailbox identity to its position.
    pub fn resolve_mailbox(&self, identity: &str) -> Result<usize, ExoError> {
        match self.resolve(identity, RecipientId::is_mailbox)? {
            RecipientId::Mailbox(i) => Ok(i as usize),
            _ => Err(ExoError::not_found(identity)),
        }
    }

    /// Any recipient by identity.
    pub fn resolve_recipient(&self, identity: &str) -> Result<Recipient, ExoError> {
        let id = self.resolve(identity, |_| true)?;
        self.recipient(id)
            .ok_or_else(|| ExoError::not_found(identity))
    }

    /// Swaps in a changed mailbox and re-indexes its keys.
    pub fn replace_mailbox(&mut self, position: usize, mailbox: Mailbox) {
        let id = RecipientId::Mailbox(position as u32);
        self.index_remove(id);
        if let Some(slot) = self.mailboxes.get_mut(position) {
            *slot = Arc::new(mailbox);
        }
        self.index_insert(id);
    }

    /// Swaps in a changed group; groups' keys never change through the
    /// cmdlets we serve (only members do), so no re-indexing.
    pub fn replace_group(&mut self, position: usize, group: DistributionGroup) {
        if let Some(slot) = self.groups.get_mut(position) {
            *slot = Arc::new(group);
        }
    }

    /// A recipient by Guid (group members are kept by Guid).
    pub fn by_guid(&self, guid: Uuid) -> Option<Recipient> {
        slot_ids(self.guids.get(&guid.as_u128()))
            .into_iter()
            .filter_map(|id| self.recipient(id))
            .find(|r| r.guid() == guid)
    }
}

fn slot_insert<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Slot>, key: K, id: RecipientId) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, Slot::One(id));
        }
        Some(Slot::One(existing)) if *existing == id => {}
        Some(slot @ Slot::One(_)) => {
            if let Slot::One(existing) = *slot {
                *slot = Slot::Many(vec![existing, id]);
            }
        }
        Some(Slot::Many(ids)) => {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
}

fn slot_remove<K, Q>(map: &mut HashMap<K, Slot>, key: &Q, id: RecipientId)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let mut emptied = false;
    if let Some(slot) = map.get_mut(key) {
        match slot {
            Slot::One(existing) => emptied = *existing == id,
            Slot::Many(ids) => {
                ids.retain(|i| *i != id);
                match ids[..] {
                    [] => emptied = true,
                    [only] => *slot = Slot::One(only),
                    _ => {}
                }
            }
        }
    }
    if emptied {
        map.remove(key);
    }
}

fn slot_ids(slot: Option<&Slot>) -> Vec<RecipientId> {
    match slot {
        Some(Slot::One(id)) => vec![*id],
        Some(Slot::Many(ids)) => ids.clone(),
        None => Vec::new(),
    }
}

/// `Doe\, Jane,OU=...` → `doe, jane`: the CN value of a DN.
fn unescape_dn(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => out.extend(chars.next()),
            ',' => break,
            other => out.push(other),
        }
    }
    out
}

/// `SMTP:x@y` and `smtp:x@y` name the same recipient as `x@y`; a GUID may come
/// in braces or upper case.
fn normalise_identity(identity: &str) -> String {
    let trimmed = strip_smtp_prefix(identity.trim());
    let unbraced = trimmed
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(trimmed);
    unbraced.to_lowercase()
}

impl Recipient {
    /// `RecipientTypeDetails` as Exchange prints it.
    pub fn type_details(&self) -> &'static str {
        match self {
            Recipient::Mailbox(m) => m.kind.recipient_type_details(),
            Recipient::MailUser(u) if u.guest => "GuestMailUser",
            Recipient::MailUser(_) => "MailUser",
            Recipient::Contact(_) => "MailContact",
            Recipient::Group(g) if g.security_enabled => "MailUniversalSecurityGroup",
            Recipient::Group(_) => "MailUniversalDistributionGroup",
        }
    }

    /// Ambiguous name resolution: a prefix of any of the names a person
    /// would type into an address book search.
    pub fn matches_anr(&self, prefix: &str) -> bool {
        let prefix = prefix.to_lowercase();
        let starts = |s: &str| s.to_lowercase().starts_with(&prefix);
        let mut names = vec![
            self.name(),
            self.alias(),
            self.display_name(),
            self.primary_smtp_address(),
        ];
        if let Recipient::Mailbox(m) = self {
            names.push(&m.first_name);
            names.push(&m.last_name);
        }
        names.into_iter().any(starts)
    }
}
