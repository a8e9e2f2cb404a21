//! `[plugin]` exactly as written, before validation. Like every table of
//! the manifest it denies unknown keys, and the values that later checks
//! can reject keep their spans so that errors can point at the line. The
//! other tables belong to the capabilities (`crate::capability`).

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlugin {
    pub name: Spanned<String>,
    pub version: Spanned<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    pub component: Spanned<String>,
    pub sha256: Option<Spanned<String>>,
}
