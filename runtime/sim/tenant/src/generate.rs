//! A deterministic, realistic tenant from a seed: same options, same tenant,
//! byte for byte.
//!
//! The first mailboxes are fixed characters that tests and demos can name
//! (`jose.nunez` forwards externally, `reception` is ambiguous, ...); the
//! rest are drawn from the seed.

use std::collections::{HashMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::Tenant;
use crate::directory::{Directory, DirectoryParts};
use crate::model::{
    AutoReply, AutoReplyState, DistributionGroup, ExternalAudience, InboxRule, JunkEmail,
    MailContact, MailUser, Mailbox, MailboxKind, MailboxPermission, MailboxStatistics,
    Organization, RoleGroup, TransportRule,
};
use crate::names::{external_target, internal_target, legacy_exchange_dn};

/// How big a tenant to generate, and from which seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateOptions {
    pub mailboxes: usize,
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            mailboxes: 50,
            seed: 1,
        }
    }
}

/// "Now" for the generated tenant, fixed so that output never depends on the
/// clock: 2024-06-01T00:00:00Z.
const NOW: i64 = 1_717_200_000;
const DAY: i64 = 86_400;
const GB: u64 = 1 << 30;

const INITIAL_DOMAIN: &str = "contoso.onmicrosoft.com";
const DEFAULT_DOMAIN: &str = "contoso.com";
const SECOND_DOMAIN: &str = "fabrikam.com";
const EXTERNAL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "proton.me",
    "partner.example",
    "example.org",
];

/// (display form, ASCII form for aliases).
const FIRST_NAMES: &[(&str, &str)] = &[
    ("Adele", "adele"),
    ("Alex", "alex"),
    ("Ana", "ana"),
    ("Ben", "ben"),
    ("Chloé", "chloe"),
    ("Christie", "christie"),
    ("Diego", "diego"),
    ("Elif", "elif"),
    ("Emma", "emma"),
    ("François", "francois"),
    ("Grace", "grace"),
    ("Hanna", "hanna"),
    ("Henrietta", "henrietta"),
    ("Irvin", "irvin"),
    ("Isaiah", "isaiah"),
    ("Jürgen", "jurgen"),
    ("José", "jose"),
    ("Johanna", "johanna"),
    ("Joni", "joni"),
    ("Kasper", "kasper"),
    ("Lee", "lee"),
    ("Lidia", "lidia"),
    ("Łukasz", "lukasz"),
    ("Lynne", "lynne"),
    ("Maja", "maja"),
    ("Megan", "megan"),
    ("Miriam", "miriam"),
    ("Nestor", "nestor"),
    ("Noémie", "noemie"),
    ("Olga", "olga"),
    ("Patti", "patti"),
    ("Pradeep", "pradeep"),
    ("Raúl", "raul"),
    ("Renée", "renee"),
    ("Sakura", "sakura"),
    ("Søren", "soren"),
    ("Sven", "sven"),
    ("Tomás", "tomas"),
    ("Zoë", "zoe"),
    ("Åsa", "asa"),
    ("Ömer", "omer"),
    ("Ines", "ines"),
];

const LAST_NAMES: &[(&str, &str)] = &[
    ("Vance", "vance"),
    ("Wilber", "wilber"),
    ("Silva", "silva"),
    ("Walker", "walker"),
    ("Dubois", "dubois"),
    ("Cline", "cline"),
    ("García", "garcia"),
    ("Yılmaz", "yilmaz"),
    ("Brown", "brown"),
    ("Müller", "muller"),
    ("Johnson", "johnson"),
    ("Núñez", "nunez"),
    ("Holden", "holden"),
    ("Bellew", "bellew"),
    ("Gupta", "gupta"),
    ("Kowalski", "kowalski"),
    ("Lambert", "lambert"),
    ("Öberg", "oberg"),
    ("Jensen", "jensen"),
    ("Bowen", "bowen"),
    ("Patel", "patel"),
    ("Fernández", "fernandez"),
    ("Nguyen", "nguyen"),
    ("O'Brien", "obrien"),
    ("Larsson", "larsson"),
    ("Nowak", "nowak"),
    ("Schäfer", "schafer"),
    ("Lefèvre", "lefevre"),
    ("Kim", "kim"),
    ("Tanaka", "tanaka"),
    ("Rossi", "rossi"),
    ("Søndergaard", "sondergaard"),
    ("Wójcik", "wojcik"),
    ("Brooks", "brooks"),
];

/// East Asian names: family name first in the display name, no space.
const ASIAN_NAMES: &[(&str, &str, &str, &str)] = &[
    ("李", "li", "雷", "lei"),
    ("王", "wang", "芳", "fang"),
    ("张", "zhang", "伟", "wei"),
    ("陈", "chen", "静", "jing"),
    ("山田", "yamada", "花子", "hanako"),
    ("佐藤", "sato", "健", "ken"),
    ("김", "kim", "민준", "minjun"),
];

const DEPARTMENTS: &[(&str, &[&str])] = &[
    (
        "Sales",
        &["Account Executive", "Sales Manager", "Sales Representative"],
    ),
    (
        "Marketing",
        &["Marketing Specialist", "Brand Manager", "Content Writer"],
    ),
    (
        "Engineering",
        &[
            "Software Engineer",
            "Senior Software Engineer",
            "Engineering Manager",
        ],
    ),
    (
        "Finance",
        &["Accountant", "Financial Analyst", "Controller"],
    ),
    (
        "Human Resources",
        &["HR Generalist", "Recruiter", "HR Manager"],
    ),
    (
        "IT",
        &[
            "Systems Administrator",
            "Help Desk Technician",
            "IT Manager",
        ],
    ),
    ("Legal", &["Counsel", "Paralegal"]),
    (
        "Operations",
        &["Operations Manager", "Logistics Coordinator"],
    ),
];

const CITIES: &[(&str, &str)] = &[
    ("Seattle", "United States"),
    ("London", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Oslo", "Norway"),
    ("Stockholm", "Sweden"),
    ("Kraków", "Poland"),
    ("Paris", "France"),
    ("München", "Germany"),
    ("Madrid", "Spain"),
    ("København", "Denmark"),
    ("Shanghai", "China"),
    ("Tokyo", "Japan"),
];

/// Quota tiers: (warning, prohibit send, prohibit send and receive).
const QUOTAS_100: (u64, u64, u64) = (98 * GB, 99 * GB, 100 * GB);
const QUOTAS_50: (u64, u64, u64) = (49 * GB, 49 * GB + GB / 2, 50 * GB);

/// A fixed character of the generated tenant.
struct Character {
    first: &'static str,
    last: &'static str,
    display: &'static str,
    alias: &'static str,
    name: Option<&'static str>,
    kind: MailboxKind,
}

const fn person(
    first: &'static str,
    last: &'static str,
    display: &'static str,
    alias: &'static str,
) -> Character {
    Character {
        first,
        last,
        display,
        alias,
        name: None,
        kind: MailboxKind::User,
    }
}

const fn resource(display: &'static str, alias: &'static str, kind: MailboxKind) -> Character {
    Character {
        first: "",
        last: "",
        display,
        alias,
        name: Some(display),
        kind,
    }
}

const CHARACTERS: &[Character] = &[
    person("MOD", "Administrator", "MOD Administrator", "admin"),
    person("José", "Núñez", "José Núñez", "jose.nunez"),
    person("Zoë", "Brooks", "Zoë Brooks", "zoe.brooks"),
    person("Åsa", "Öberg", "Åsa Öberg", "asa.oberg"),
    person("Łukasz", "Kowalski", "Łukasz Kowalski", "lukasz.kowalski"),
    person("Søren", "Jensen", "Søren Jensen", "soren.jensen"),
    person("Jürgen", "Müller", "Jürgen Müller", "jurgen.muller"),
    person("François", "Dupont", "François Dupont", "francois.dupont"),
    person("雷", "李", "李雷", "lei.li"),
    resource("Sales Team", "sales", MailboxKind::Shared),
    // "reception" is this mailbox's alias and the next one's Name: an
    // identity that matches two mailboxes, on purpose.
    resource("Reception Desk", "reception", MailboxKind::Shared),
    resource("Reception", "reception.room", MailboxKind::Room),
    resource("Conference Room Oslo", "room.oslo", MailboxKind::Room),
    resource("Projector 1", "projector1", MailboxKind::Equipment),
];

struct Generator {
    rng: ChaCha8Rng,
    org: Organization,
    used: HashSet<String>,
    /// The next number to try for a base alias already taken, so that
    /// numbering 100,000 mailboxes stays linear.
    next_suffix: HashMap<String, u32>,
}

pub fn generate(opts: &GenerateOptions) -> Tenant {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let org = Organization {
        id: uuid(&mut rng),
        guid: uuid(&mut rng),
        display_name: "Contoso".to_owned(),
        initial_domain: INITIAL_DOMAIN.to_owned(),
        default_domain: DEFAULT_DOMAIN.to_owned(),
        accepted_domains: vec![
            DEFAULT_DOMAIN.to_owned(),
            SECOND_DOMAIN.to_owned(),
            INITIAL_DOMAIN.to_owned(),
        ],
        when_created: 1_552_554_000, // 2019-03-14
    };
    let mut g = Generator {
        rng,
        org,
        used: HashSet::with_capacity(opts.mailboxes * 2 + 64),
        next_suffix: HashMap::new(),
    };
    let started = std::time::Instant::now();
    let mut mailboxes = g.mailboxes(opts.mailboxes);
    g.wire_mailboxes(&mut mailboxes);
    let mail_users = g.mail_users((opts.mailboxes / 50).max(2));
    let contacts = g.contacts((opts.mailboxes / 50).max(2));
    let groups = g.groups(&mailboxes, &contacts, (opts.mailboxes / 50).max(7));
    let transport_rules = g.transport_rules();
    let role_groups = g.role_groups(&mailboxes);
    let parts = DirectoryParts {
        initial_domain: g.org.initial_domain.clone(),
        mailboxes,
        mail_users,
        contacts,
        groups,
        transport_rules,
        role_groups,
        service_principals: Vec::new(),
        management_roles: Vec::new(),
        management_scopes: Vec::new(),
        rule_sequence: opts.seed,
    };
    let tenant = Tenant::from_parts(g.org, Directory::new(parts));
    tracing::info!(
        mailboxes = opts.mailboxes,
        seed = opts.seed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "generated tenant"
    );
    tenant
}

fn uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random::<u128>().to_le_bytes()).into_uuid()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

impl Generator {
    /// Makes an alias unique across the tenant by numbering repeats.
    fn unique(&mut self, base: &str) -> String {
        if self.used.insert(base.to_owned()) {
            return base.to_owned();
        }
        let next = self.next_suffix.entry(base.to_owned()).or_insert(2);
        loop {
            let candidate = format!("{base}{next}");
            *next += 1;
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
        }
    }

    fn mailboxes(&mut self, count: usize) -> Vec<Mailbox> {
        let mut out = Vec::with_capacity(count);
        for character in CHARACTERS.iter().take(count) {
            self.used.insert(character.alias.to_owned());
            if let Some(name) = character.name {
                self.used.insert(name.to_lowercase());
            }
            let mut m = self.mailbox(
                character.first,
                character.last,
                character.display,
                character.alias.to_owned(),
                character.kind,
            );
            if let Some(name) = character.name {
                m.name = name.to_owned();
            }
            out.push(m);
        }
        while out.len() < count {
            let (first, last, display, base) = if self.rng.random_bool(0.06) {
                let (family, family_ascii, given, given_ascii) = *pick(&mut self.rng, ASIAN_NAMES);
                (
                    given,
                    family,
                    format!("{family}{given}"),
                    format!("{given_ascii}.{family_ascii}"),
                )
            } else {
                let (first, first_ascii) = *pick(&mut self.rng, FIRST_NAMES);
                let (last, last_ascii) = *pick(&mut self.rng, LAST_NAMES);
                (
                    first,
                    last,
                    format!("{first} {last}"),
                    format!("{first_ascii}.{last_ascii}"),
                )
            };
            let alias = self.unique(&base);
            let kind = match self.rng.random_range(0..100) {
                0..=2 => MailboxKind::Shared,
                3 => MailboxKind::Room,
                _ => MailboxKind::User,
            };
            out.push(self.mailbox(first, last, &display, alias, kind));
        }
        out
    }

    fn mailbox(
        &mut self,
        first: &str,
        last: &str,
        display: &str,
        alias: String,
        kind: MailboxKind,
    ) -> Mailbox {
        let rng = &mut self.rng;
        let guid = uuid(rng);
        let exchange_guid = uuid(rng);
        let external_directory_object_id = uuid(rng);
        let is_user = kind == MailboxKind::User;
        let upn = format!("{alias}@{DEFAULT_DOMAIN}");
        let mut email_addresses = vec![format!("smtp:{alias}@{INITIAL_DOMAIN}")];
        if rng.random_bool(0.1) {
            email_addresses.push(format!("smtp:{alias}@{SECOND_DOMAIN}"));
        }
        if is_user {
            email_addresses.push(format!("SPO:SPO_{}@SPO_{}", uuid(rng), self.org.id));
            email_addresses.push(format!("SIP:{upn}"));
        }
        email_addresses.push(format!("SMTP:{upn}"));
        let when_created = NOW - rng.random_range(30..5 * 365) * DAY - rng.random_range(0..DAY);
        let (department, titles) = *pick(rng, DEPARTMENTS);
        let (city, country) = *pick(rng, CITIES);
        let quotas = if !is_user || rng.random_bool(0.2) {
            QUOTAS_50
        } else {
            QUOTAS_100
        };
        let item_count: u64 = if is_user {
            rng.random_range(0..60_000)
        } else {
            rng.random_range(0..5_000)
        };
        let avg_item = rng.random_range(20_000..120_000);
        let total_item_size = (item_count * avg_item).min(quotas.0 - GB);
        let deleted_item_count = item_count / rng.random_range(10..40);
        let statistics = MailboxStatistics {
            item_count,
            total_item_size,
            deleted_item_count,
            total_deleted_item_size: deleted_item_count * avg_item,
            last_logon_time: rng
                .random_bool(if is_user { 0.95 } else { 0.3 })
                .then(|| NOW - rng.random_range(0..60 * DAY)),
        };
        Mailbox {
            name: alias.clone(),
            alias,
            display_name: display.to_owned(),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            user_principal_name: upn,
            email_addresses,
            kind,
            guid,
            exchange_guid,
            external_directory_object_id,
            archive_guid: (is_user && rng.random_bool(0.3)).then(|| uuid(rng)),
            when_created,
            department: if is_user {
                department.to_owned()
            } else {
                String::new()
            },
            // Users carry their country in CustomAttribute1, a common
            // tagging scheme for regional admin scopes.
            custom_attributes: if is_user {
                vec![country.to_owned()]
            } else {
                Vec::new()
            },
            title: if is_user {
                (*pick(rng, titles)).to_owned()
            } else {
                String::new()
            },
            city: city.to_owned(),
            usage_location: country.to_owned(),
            issue_warning_quota: quotas.0,
            prohibit_send_quota: quotas.1,
            prohibit_send_receive_quota: quotas.2,
            account_disabled: !is_user,
            forwarding_address: None,
            forwarding_smtp_address: None,
            deliver_to_mailbox_and_forward: false,
            hidden_from_address_lists_enabled: kind == MailboxKind::Equipment,
            grant_send_on_behalf_to: Vec::new(),
            statistics,
            auto_reply: AutoReply {
                state: AutoReplyState::Disabled,
                external_audience: ExternalAudience::All,
                start_time: NOW,
                end_time: NOW + DAY,
                internal_message: String::new(),
                external_message: String::new(),
            },
            junk_email: JunkEmail {
                enabled: true,
                trusted_lists_only: false,
                contacts_trusted: true,
                trusted_senders_and_domains: Vec::new(),
                blocked_senders_and_domains: Vec::new(),
            },
            inbox_rules: Vec::new(),
            permissions: Vec::new(),
            send_as: Vec::new(),
        }
    }

    fn external_address(&mut self, alias: &str) -> String {
        let local = alias.replace('.', "");
        let domain = *pick(&mut self.rng, EXTERNAL_DOMAINS);
        format!("{local}@{domain}")
    }

    /// Everything that links mailboxes to each other or to the outside:
    /// forwarding, rules, delegates, auto-replies, junk lists.
    fn wire_mailboxes(&mut self, mailboxes: &mut [Mailbox]) {
        let count = mailboxes.len();
        if count == 0 {
            return;
        }
        // Snapshot of what a target looks like, so one mailbox can refer to another.
        let targets: Vec<(String, String, String, String)> = mailboxes
            .iter()
            .map(|m| {
                let legacy = legacy_exchange_dn(m.exchange_guid, &m.alias);
                (
                    m.name.clone(),
                    m.display_name.clone(),
                    m.user_principal_name.clone(),
                    legacy,
                )
            })
            .collect();
        let users: Vec<usize> = (0..count)
            .filter(|i| mailboxes[*i].kind == MailboxKind::User)
            .collect();
        for (i, mailbox) in mailboxes.iter_mut().enumerate() {
            let other = |g: &mut Self| users[g.rng.random_range(0..users.len().max(1))];
            let m_alias = mailbox.alias.clone();
            let kind = mailbox.kind;
            let is_user = kind == MailboxKind::User;
            let roll: u32 = self.rng.random_range(0..1000);
            // Forwarding: ~2% external, ~1% internal SMTP, ~1% ForwardingAddress.
            if is_user && i >= CHARACTERS.len() {
                match roll {
                    0..=19 => {
                        mailbox.forwarding_smtp_address =
                            Some(format!("smtp:{}", self.external_address(&m_alias)));
                        mailbox.deliver_to_mailbox_and_forward = self.rng.random_bool(0.5);
                    }
                    20..=29 => {
                        let t = other(self);
                        mailbox.forwarding_smtp_address = Some(format!("smtp:{}", targets[t].2));
                        mailbox.deliver_to_mailbox_and_forward = true;
                    }
                    30..=39 => {
                        let t = other(self);
                        mailbox.forwarding_address = Some(targets[t].0.clone());
                        mailbox.deliver_to_mailbox_and_forward = self.rng.random_bool(0.5);
                    }
                    _ => {}
                }
            }
            if is_user {
                let rules = self.inbox_rules(&m_alias, &targets, &users);
                mailbox.inbox_rules = rules;
                self.auto_reply(mailbox);
                self.junk(mailbox);
            }
            // Delegation.
            if kind == MailboxKind::Shared && !users.is_empty() {
                for _ in 0..self.rng.random_range(2..=4) {
                    let t = other(self);
                    add_full_access(mailbox, &targets[t].2);
                }
                let t = other(self);
                push_unique(&mut mailbox.send_as, &targets[t].2);
                if self.rng.random_bool(0.3) {
                    let t = other(self);
                    push_unique(&mut mailbox.grant_send_on_behalf_to, &targets[t].0);
                }
            } else if is_user && i >= CHARACTERS.len() {
                if self.rng.random_bool(0.02) {
                    let sid = format!(
                        "S-1-5-21-{}-{}-{}-{}",
                        self.rng.random_range(1_000_000_000u64..4_000_000_000),
                        self.rng.random_range(1_000_000_000u64..4_000_000_000),
                        self.rng.random_range(1_000_000_000u64..4_000_000_000),
                        self.rng.random_range(1000..50_000)
                    );
                    add_full_access(mailbox, &sid);
                }
                if self.rng.random_bool(0.01) {
                    let t = other(self);
                    if t != i {
                        add_full_access(mailbox, &targets[t].2);
                    }
                }
                if self.rng.random_bool(0.005) {
                    let t = other(self);
                    if t != i {
                        push_unique(&mut mailbox.send_as, &targets[t].2);
                    }
                }
            }
        }
        self.wire_characters(mailboxes, &targets);
    }

    /// The fixed characters' fixed traits, which tests rely on.
    fn wire_characters(
        &mut self,
        mailboxes: &mut [Mailbox],
        targets: &[(String, String, String, String)],
    ) {
        // Characters sit at the front; positions are looked up once, before any edit.
        let aliases: Vec<String> = mailboxes
            .iter()
            .take(CHARACTERS.len())
            .map(|m| m.alias.clone())
            .collect();
        let find = |alias: &str| aliases.iter().position(|a| a == alias);
        if let Some(i) = find("jose.nunez") {
            let m = &mut mailboxes[i];
            m.forwarding_smtp_address = Some("smtp:jose.nunez@gmail.com".to_owned());
            m.deliver_to_mailbox_and_forward = false;
            m.inbox_rules = vec![rule(
                self.rng.random::<u64>() | (1 << 63),
                "Forward to personal",
                1,
                |r| r.forward_to = vec![external_target("jose.nunez.private@outlook.com")],
            )];
        }
        if let Some(i) = find("zoe.brooks") {
            let reply = &mut mailboxes[i].auto_reply;
            reply.state = AutoReplyState::Enabled;
            reply.external_audience = ExternalAudience::Known;
            reply.internal_message = "<html><body>I'm away until Monday. For urgent matters contact Søren Jensen.</body></html>".to_owned();
            reply.external_message = "<html><body>I'm away until Monday.</body></html>".to_owned();
        }
        if let Some(i) = find("asa.oberg") {
            let reply = &mut mailboxes[i].auto_reply;
            reply.state = AutoReplyState::Scheduled;
            reply.external_audience = ExternalAudience::All;
            reply.start_time = 1_719_820_800; // 2024-07-01T08:00:00Z
            reply.end_time = 1_721_062_800; // 2024-07-15T17:00:00Z
            reply.internal_message =
                "<html><body>Semester! Tillbaka den 15 juli.</body></html>".to_owned();
            reply.external_message =
                "<html><body>Out of office until 15 July.</body></html>".to_owned();
        }
        let soren = find("soren.jensen").map(|i| targets[i].clone());
        if let (Some(i), Some(soren)) = (find("lukasz.kowalski"), soren) {
            let m = &mut mailboxes[i];
            m.forwarding_address = Some(soren.0.clone());
            m.deliver_to_mailbox_and_forward = true;
            m.inbox_rules = vec![
                rule(
                    self.rng.random::<u64>() | (1 << 63),
                    "Redirect invoices",
                    1,
                    |r| {
                        r.subject_contains_words = vec!["invoice".to_owned()];
                        r.redirect_to = vec![external_target("lukasz@example.org")];
                    },
                ),
                rule(
                    self.rng.random::<u64>() | (1 << 63),
                    "Copy to Søren",
                    2,
                    |r| {
                        r.forward_to = vec![internal_target(&soren.1, &soren.3)];
                    },
                ),
            ];
        }
        let zoe = find("zoe.brooks").map(|i| targets[i].clone());
        let francois = find("francois.dupont").map(|i| targets[i].clone());
        if let (Some(i), Some(zoe), Some(francois)) = (find("sales"), zoe, francois) {
            let m = &mut mailboxes[i];
            m.permissions.clear();
            add_full_access(m, &zoe.2);
            add_full_access(m, &francois.2);
            m.send_as = vec![zoe.2.clone()];
            m.grant_send_on_behalf_to = vec![francois.0.clone()];
        }
    }

    fn inbox_rules(
        &mut self,
        alias: &str,
        targets: &[(String, String, String, String)],
        users: &[usize],
    ) -> Vec<InboxRule> {
        let count = match self.rng.random_range(0..10) {
            0..=3 => 0,
            4..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut rules = Vec::with_capacity(count);
        for n in 0..count {
            let id = self.rng.random::<u64>() | (1 << 63);
            let priority = n as u32 + 1;
            let roll = self.rng.random_range(0..100);
            let boss = &targets[users[self.rng.random_range(0..users.len())]];
            let r = match roll {
                0..=29 => rule(id, "Newsletters", priority, |r| {
                    r.subject_contains_words = vec!["newsletter".to_owned()];
                    r.move_to_folder = Some("Newsletters".to_owned());
                }),
                30..=54 => rule(id, &format!("From {}", boss.1), priority, |r| {
                    r.from = vec![internal_target(&boss.1, &boss.3)];
                    r.move_to_folder = Some("Important".to_owned());
                    r.stop_processing_rules = true;
                }),
                55..=79 => rule(id, "Delete spam", priority, |r| {
                    r.subject_contains_words = vec!["[SPAM]".to_owned()];
                    r.delete_message = true;
                }),
                80..=87 => rule(id, "Redirect to colleague", priority, |r| {
                    r.redirect_to = vec![internal_target(&boss.1, &boss.3)];
                }),
                88..=93 => {
                    let external = self.external_address(alias);
                    rule(id, "Forward to personal", priority, |r| {
                        r.forward_to = vec![external_target(&external)]
                    })
                }
                94..=96 => {
                    let external = self.external_address(alias);
                    rule(id, "Redirect externally", priority, |r| {
                        r.redirect_to = vec![external_target(&external)]
                    })
                }
                _ => {
                    let external = self.external_address(alias);
                    rule(id, "Attach and forward", priority, |r| {
                        r.forward_as_attachment_to = vec![external_target(&external)];
                    })
                }
            };
            rules.push(r);
        }
        rules
    }

    fn auto_reply(&mut self, m: &mut Mailbox) {
        let roll = self.rng.random_range(0..100);
        let reply = &mut m.auto_reply;
        match roll {
            0..=4 => {
                reply.state = AutoReplyState::Enabled;
                reply.external_audience = if roll % 2 == 0 {
                    ExternalAudience::All
                } else {
                    ExternalAudience::Known
                };
                reply.internal_message = format!(
                    "<html><body>{} is out of the office.</body></html>",
                    m.display_name
                );
                reply.external_message = "<html><body>I am out of the office with limited access to email.</body></html>".to_owned();
            }
            5..=7 => {
                reply.state = AutoReplyState::Scheduled;
                reply.external_audience = ExternalAudience::All;
                reply.start_time = NOW + self.rng.random_range(1..60) * DAY + 8 * 3600;
                reply.end_time = reply.start_time + self.rng.random_range(3..15) * DAY;
                reply.internal_message = "<html><body>On holiday.</body></html>".to_owned();
                reply.external_message =
                    "<html><body>On holiday, back soon.</body></html>".to_owned();
            }
            _ => {}
        }
    }

    fn junk(&mut self, m: &mut Mailbox) {
        let roll = self.rng.random_range(0..100);
        let junk = &mut m.junk_email;
        match roll {
            0..=4 => junk.enabled = false,
            5..=14 => {
                junk.trusted_senders_and_domains = vec![
                    "partner.example".to_owned(),
                    "newsletter@vendor.example".to_owned(),
                ]
            }
            15..=19 => junk.blocked_senders_and_domains = vec!["spam.example".to_owned()],
            _ => {}
        }
    }

    fn mail_users(&mut self, count: usize) -> Vec<MailUser> {
        (0..count)
            .map(|n| {
                let (first, first_ascii) = *pick(&mut self.rng, FIRST_NAMES);
                let (last, last_ascii) = *pick(&mut self.rng, LAST_NAMES);
                let guest = n % 2 == 0;
                let domain = *pick(&mut self.rng, EXTERNAL_DOMAINS);
                let local = self.unique(&format!("{first_ascii}.{last_ascii}.ext"));
                let external = format!("{}@{domain}", local.trim_end_matches(".ext"));
                let (name, upn, addresses) = if guest {
                    let name = format!(
                        "{}_{domain}#EXT#",
                        external.split('@').next().unwrap_or_default()
                    );
                    let upn = format!("{name}@{INITIAL_DOMAIN}");
                    (
                        name,
                        upn.clone(),
                        vec![format!("smtp:{upn}"), format!("SMTP:{external}")],
                    )
                } else {
                    let upn = format!("{local}@{DEFAULT_DOMAIN}");
                    (
                        local.clone(),
                        upn.clone(),
                        vec![
                            format!("smtp:{local}@{INITIAL_DOMAIN}"),
                            format!("SMTP:{upn}"),
                        ],
                    )
                };
                MailUser {
                    alias: name.clone(),
                    name,
                    display_name: if guest {
                        format!("{first} {last} (Guest)")
                    } else {
                        format!("{first} {last} (Contractor)")
                    },
                    user_principal_name: upn,
                    external_email_address: format!("SMTP:{external}"),
                    email_addresses: addresses,
                    guest,
                    guid: uuid(&mut self.rng),
                    external_directory_object_id: uuid(&mut self.rng),
                    when_created: NOW - self.rng.random_range(1..700) * DAY,
                }
            })
            .collect()
    }

    fn contacts(&mut self, count: usize) -> Vec<MailContact> {
        (0..count)
            .map(|_| {
                let (first, first_ascii) = *pick(&mut self.rng, FIRST_NAMES);
                let (last, last_ascii) = *pick(&mut self.rng, LAST_NAMES);
                let alias = self.unique(&format!("{first_ascii}{last_ascii}.contact"));
                let domain = *pick(
                    &mut self.rng,
                    &[
                        "partner.example",
                        "supplier.example",
                        "fabrikam-partners.example",
                    ],
                );
                let external = format!("{first_ascii}.{last_ascii}@{domain}");
                MailContact {
                    name: alias.clone(),
                    display_name: format!("{first} {last} (External)"),
                    alias,
                    external_email_address: format!("SMTP:{external}"),
                    email_addresses: vec![format!("SMTP:{external}")],
                    guid: uuid(&mut self.rng),
                    external_directory_object_id: uuid(&mut self.rng),
                    when_created: NOW - self.rng.random_range(1..900) * DAY,
                }
            })
            .collect()
    }

    fn groups(
        &mut self,
        mailboxes: &[Mailbox],
        contacts: &[MailContact],
        count: usize,
    ) -> Vec<DistributionGroup> {
        const NAMED: &[(&str, &str, bool)] = &[
            ("All Staff", "allstaff", false),
            ("Sales Department", "salesdept", false),
            ("Marketing", "marketing", false),
            ("IT Admins", "itadmins", true),
            ("Finance", "finance", false),
            ("Oslo Office", "oslo.office", false),
            ("Board", "board", true),
        ];
        let users: Vec<&Mailbox> = mailboxes
            .iter()
            .filter(|m| m.kind == MailboxKind::User)
            .collect();
        (0..count)
            .map(|n| {
                let (display, alias, security) = match NAMED.get(n) {
                    Some((d, a, s)) => ((*d).to_owned(), self.unique(a), *s),
                    None => {
                        let a = self.unique(&format!("project{:04}", n + 1));
                        (
                            format!("Project Team {:04}", n + 1),
                            a,
                            self.rng.random_bool(0.2),
                        )
                    }
                };
                let mut members = Vec::new();
                let size = if n == 0 {
                    users.len().min(500)
                } else {
                    self.rng.random_range(3..=30).min(users.len())
                };
                if n == 0 {
                    members.extend(users.iter().take(size).map(|m| m.guid));
                } else {
                    for _ in 0..size {
                        let guid = users[self.rng.random_range(0..users.len())].guid;
                        if !members.contains(&guid) {
                            members.push(guid);
                        }
                    }
                    if !contacts.is_empty() && self.rng.random_bool(0.3) {
                        members.push(contacts[self.rng.random_range(0..contacts.len())].guid);
                    }
                }
                let manager = users.first().map(|m| m.name.clone()).into_iter().collect();
                DistributionGroup {
                    name: display.clone(),
                    display_name: display,
                    email_addresses: vec![
                        format!("SMTP:{alias}@{DEFAULT_DOMAIN}"),
                        format!("smtp:{alias}@{INITIAL_DOMAIN}"),
                    ],
                    alias,
                    security_enabled: security,
                    guid: uuid(&mut self.rng),
                    external_directory_object_id: uuid(&mut self.rng),
                    when_created: NOW - self.rng.random_range(1..1500) * DAY,
                    managed_by: manager,
                    members,
                }
            })
            .collect()
    }

    fn transport_rules(&mut self) -> Vec<TransportRule> {
        let mut rule = |name: &str, priority: u32, edit: &dyn Fn(&mut TransportRule)| {
            let mut r = TransportRule {
                name: name.to_owned(),
                guid: uuid(&mut self.rng),
                priority,
                enabled: true,
                mode: "Enforce".to_owned(),
                comments: String::new(),
                sent_to_scope: None,
                from_scope: None,
                subject_contains_words: Vec::new(),
                redirect_message_to: Vec::new(),
                blind_copy_to: Vec::new(),
                set_scl: None,
                when_changed: NOW - i64::from(priority + 1) * 40 * DAY,
            };
            edit(&mut r);
            r
        };
        vec![
            rule("Redirect invoices to Finance", 0, &|r| {
                r.subject_contains_words = vec!["invoice".to_owned()];
                r.redirect_message_to = vec!["finance@contoso.com".to_owned()];
            }),
            rule("Legal hold copy", 1, &|r| {
                r.sent_to_scope = Some("NotInOrganization".to_owned());
                r.redirect_message_to = vec!["archive@legal-hold.example".to_owned()];
                r.comments = "Copies outbound mail to the external legal archive.".to_owned();
            }),
            rule("Bypass spam filtering for partners", 2, &|r| {
                r.from_scope = Some("NotInOrganization".to_owned());
                r.set_scl = Some(-1);
            }),
            rule("Board BCC", 3, &|r| {
                r.blind_copy_to = vec!["board@contoso.com".to_owned()];
            }),
            rule("External disclaimer (test)", 4, &|r| {
                r.enabled = false;
                r.mode = "Audit".to_owned();
                r.sent_to_scope = Some("NotInOrganization".to_owned());
            }),
        ]
    }

    fn role_groups(&mut self, mailboxes: &[Mailbox]) -> Vec<RoleGroup> {
        const GROUPS: &[(&str, &str, &[&str])] = &[
            (
                "Organization Management",
                "Members of this management role group have permissions to manage Exchange objects and their properties in the Exchange organization.",
                &[
                    "Organization Configuration",
                    "Mail Recipients",
                    "Transport Rules",
                    "Role Management",
                    "View-Only Configuration",
                ],
            ),
            (
                "Recipient Management",
                "Members of this management role group have rights to create, manage, and remove Exchange recipient objects in the Exchange organization.",
                &[
                    "Mail Recipients",
                    "Mail Recipient Creation",
                    "Distribution Groups",
                    "Move Mailboxes",
                ],
            ),
            (
                "View-Only Organization Management",
                "Members of this management role group can view recipient and configuration objects and their properties in the Exchange organization.",
                &["View-Only Configuration", "View-Only Recipients"],
            ),
            (
                "Help Desk",
                "Members of this management role group can view and manage the configuration for individual recipients and view recipients in an Exchange organization.",
                &["Reset Password", "User Options", "View-Only Recipients"],
            ),
            (
                "Compliance Management",
                "This role group will allow a specified user, responsible for compliance, to properly configure and manage compliance settings within Exchange in accordance with their policy.",
                &[
                    "Data Loss Prevention",
                    "Journaling",
                    "Retention Management",
                    "Transport Rules",
                ],
            ),
            (
                "Discovery Management",
                "Members of this management role group can perform searches of mailboxes in the Exchange organization for data that meets specific criteria.",
                &["Legal Hold", "Mailbox Search"],
            ),
            (
                "Records Management",
                "Members of this management role group can configure compliance features such as retention policy tags, message classifications, and transport rules.",
                &[
                    "Audit Logs",
                    "Journaling",
                    "Message Tracking",
                    "Retention Management",
                    "Transport Rules",
                ],
            ),
            (
                "Hygiene Management",
                "Members of this management role group can manage Exchange anti-spam features and grant permissions for antivirus products to integrate with Exchange.",
                &[
                    "Transport Hygiene",
                    "View-Only Configuration",
                    "View-Only Recipients",
                ],
            ),
            (
                "Security Administrator",
                "Membership in this role group is synchronized across services and managed centrally.",
                &["Security Admin"],
            ),
            (
                "Security Reader",
                "Membership in this role group is synchronized across services and managed centrally.",
                &["Security Reader"],
            ),
        ];
        let admin = mailboxes.first().map(|m| m.name.clone());
        GROUPS
            .iter()
            .enumerate()
            .map(|(n, (name, description, roles))| {
                let mut members = Vec::new();
                if n == 0 {
                    members.push(format!(
                        "TenantAdmins_{}",
                        &uuid(&mut self.rng).simple().to_string()[..8]
                    ));
                    members.extend(admin.clone());
                }
                RoleGroup {
                    name: (*name).to_owned(),
                    description: (*description).to_owned(),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    members,
                    custom_recipient_write_scope: None,
                    guid: uuid(&mut self.rng),
                    when_created: self.org.when_created,
                }
            })
            .collect()
    }
}

fn rule(
    rule_identity: u64,
    name: &str,
    priority: u32,
    edit: impl FnOnce(&mut InboxRule),
) -> InboxRule {
    let mut r = InboxRule {
        rule_identity,
        name: name.to_owned(),
        priority,
        enabled: true,
        from: Vec::new(),
        subject_contains_words: Vec::new(),
        forward_to: Vec::new(),
        redirect_to: Vec::new(),
        forward_as_attachment_to: Vec::new(),
        move_to_folder: None,
        delete_message: false,
        mark_as_read: false,
        stop_processing_rules: false,
    };
    edit(&mut r);
    r
}

fn add_full_access(m: &mut Mailbox, user: &str) {
    if m.user_principal_name.eq_ignore_ascii_case(user)
        || m.permissions.iter().any(|p| p.user == user)
    {
        return;
    }
    m.permissions.push(MailboxPermission {
        user: user.to_owned(),
        access_rights: vec!["FullAccess".to_owned()],
        deny: false,
        inheritance_type: "All".to_owned(),
    });
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}
