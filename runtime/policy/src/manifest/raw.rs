//! The manifest exactly as written, before validation, in the order written
//! (so `inspect` shows parameters as the author listed them). Every table denies
//! unknown keys, and the values that later checks can reject keep their
//! spans so that errors can point at the line.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub plugin: RawPlugin,
    #[serde(default, rename = "cmdlet")]
    pub cmdlets: Vec<Spanned<RawCmdlet>>,
    #[serde(default)]
    pub inputs: IndexMap<String, Spanned<RawInput>>,
    #[serde(default)]
    pub limits: RawLimits,
    pub outputs: Option<RawOutputs>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCmdlet {
    pub name: Spanned<String>,
    #[serde(default)]
    pub parameters: IndexMap<String, Spanned<RawParam>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParam {
    pub set: Option<Vec<String>>,
    pub pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub clear: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInput {
    #[serde(rename = "type")]
    pub ty: Spanned<String>,
    pub default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sensitive: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLimits {
    pub memory_mib: Option<Spanned<u64>>,
    pub timeout_seconds: Option<Spanned<u64>>,
    pub max_calls: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawOutputs {
    pub max_mib: Option<Spanned<u64>>,
    pub max_files: Option<Spanned<u64>>,
}
