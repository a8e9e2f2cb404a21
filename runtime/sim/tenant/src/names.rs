//! Derived names: distinguished names, legacy DNs and display forms that
//! Exchange computes from a recipient's facts.

use uuid::Uuid;

/// The simulated forest, shaped like `EURPR07A013.PROD.OUTLOOK.COM`.
pub const FOREST: &str = "EMUPR01A001";

pub fn distinguished_name(name: &str, initial_domain: &str) -> String {
    format!(
        "CN={},OU={initial_domain},OU=Microsoft Exchange Hosted Organizations,DC={FOREST},DC=PROD,DC=OUTLOOK,DC=COM",
        escape_dn(name)
    )
}

fn escape_dn(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        if matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// `/o=ExchangeLabs/.../cn=<32 hex>-<alias>`, the X.500 address that
/// internal inbox-rule targets are displayed with.
pub fn legacy_exchange_dn(guid: Uuid, alias: &str) -> String {
    format!(
        "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={}-{alias}",
        guid.simple()
    )
}

pub fn organizational_unit(initial_domain: &str) -> String {
    format!(
        "{}.prod.outlook.com/Microsoft Exchange Hosted Organizations/{initial_domain}",
        FOREST.to_ascii_lowercase()
    )
}

pub fn organization_id(initial_domain: &str) -> String {
    format!(
        "{FOREST}.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/{initial_domain} - {FOREST}.PROD.OUTLOOK.COM/ConfigurationUnits/{initial_domain}/Configuration"
    )
}

/// The display form of an internal inbox-rule target.
pub fn internal_target(display_name: &str, legacy_dn: &str) -> String {
    format!("\"{display_name}\" [EX:{legacy_dn}]")
}

/// The display form of an external inbox-rule target (form unverified).
pub fn external_target(address: &str) -> String {
    format!("\"{address}\" [SMTP:{address}]")
}

/// True for something shaped like `local@domain.tld`.
pub fn is_smtp_address(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | ';'))
                && !domain.contains('@')
        }
        None => false,
    }
}

/// Strips a proxy prefix (`smtp:`, `SMTP:`) from an address.
pub fn strip_smtp_prefix(text: &str) -> &str {
    match text.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("smtp:") => &text[5..],
        _ => text,
    }
}
