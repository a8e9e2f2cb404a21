//! The answer to one call: a snapshot of objects, rendered a page at a time.

use std::sync::Arc;

use exorun_cmdlet::ResultSize;
use serde_json::Value;

use crate::directory::Recipient;
use crate::model::{DistributionGroup, MailContact, MailUser, Mailbox, Organization};
use crate::render;
use crate::shape::Obj;

/// The warning Exchange adds when `-ResultSize` cut the output short.
pub const MORE_RESULTS_WARNING: &str = "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.";

/// One object of a result, held as a cheap handle until a page renders it.
#[derive(Clone, Debug)]
pub(crate) enum Item {
    /// Small results are rendered when the call runs.
    Ready(Value),
    Mailbox(Arc<Mailbox>),
    Statistics(Arc<Mailbox>),
    Recipient(Recipient),
    User(Recipient),
    MailUser(Arc<MailUser>),
    MailContact(Arc<MailContact>),
    Group(Arc<DistributionGroup>),
    /// One SendAs entry; Get-RecipientPermission may list every mailbox.
    SendAs {
        owner: Arc<Mailbox>,
        trustee: String,
    },
}

impl Item {
    fn render_into(&self, o: &mut Obj, org: &Organization) {
        match self {
            // Ready values never reach here: `render` and `render_text` take them as they are.
            Item::Ready(_) => {}
            Item::Mailbox(m) => render::mailbox_of(o, &Recipient::Mailbox(m.clone()), m, org),
            Item::Statistics(m) => render::statistics(o, m),
            Item::Recipient(r) => render::recipient(o, r, org),
            Item::User(r) => render::user(o, r, org),
            Item::MailUser(u) => render::mail_user(o, u, &Recipient::MailUser(u.clone()), org),
            Item::MailContact(c) => render::mail_contact(o, c, &Recipient::Contact(c.clone()), org),
            Item::Group(g) => render::distribution_group(o, g, &Recipient::Group(g.clone()), org),
            Item::SendAs { owner, trustee } => render::recipient_permission(o, owner, trustee),
        }
    }

    pub fn render(&self, org: &Organization) -> Value {
        if let Item::Ready(v) = self {
            return v.clone();
        }
        let mut o = Obj::new();
        self.render_into(&mut o, org);
        o.build()
    }

    pub fn render_text(&self, org: &Organization) -> String {
        if let Item::Ready(v) = self {
            return v.to_string();
        }
        let mut o = Obj::text();
        self.render_into(&mut o, org);
        o.build_text()
    }
}

/// The answer to one call. Holds handles to the matching objects (no copy of
/// the tenant) and renders JSON per page, so the server can keep it behind a
/// skip token and page through 100,000 mailboxes.
#[derive(Clone, Debug)]
pub struct Execution {
    items: Vec<Item>,
    warnings: Vec<String>,
    org: Arc<Organization>,
}

impl Execution {
    pub(crate) fn new(items: Vec<Item>, org: Arc<Organization>) -> Self {
        Execution {
            items,
            warnings: Vec::new(),
            org,
        }
    }

    /// A write's answer: `value: []`.
    pub(crate) fn empty(org: Arc<Organization>) -> Self {
        Self::new(Vec::new(), org)
    }

    /// Caps the items at `-ResultSize`, warning when that hides some.
    pub(crate) fn capped(items: Vec<Item>, size: ResultSize, org: Arc<Organization>) -> Self {
        let mut items = items;
        let mut warnings = Vec::new();
        let cap = usize::try_from(size.cap()).unwrap_or(usize::MAX);
        if items.len() > cap {
            items.truncate(cap);
            warnings.push(MORE_RESULTS_WARNING.to_owned());
        }
        Execution {
            items,
            warnings,
            org,
        }
    }

    pub(crate) fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Number of objects after ResultSize capping.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Renders objects `[offset, offset + limit)`; past the end is empty.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<Value> {
        let start = offset.min(self.items.len());
        let end = start.saturating_add(limit).min(self.items.len());
        self.items[start..end]
            .iter()
            .map(|item| item.render(&self.org))
            .collect()
    }

    /// Renders objects `[offset, offset + limit)` straight to compact JSON
    /// text, several times faster than [`Execution::page`] because no
    /// `serde_json::Value` tree is built. The text parses to the same value
    /// as `page` gives (key order aside).
    pub fn page_json(&self, offset: usize, limit: usize) -> Vec<String> {
        let start = offset.min(self.items.len());
        let end = start.saturating_add(limit).min(self.items.len());
        self.items[start..end]
            .iter()
            .map(|item| item.render_text(&self.org))
            .collect()
    }

    /// `@adminapi.warnings`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
