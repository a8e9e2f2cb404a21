//! `exorun.toml`: parsing and strict validation.
//!
//! A manifest is the plugin's whole claim to power over a tenant, so it is
//! read strictly: unknown keys, duplicate cmdlets or parameters, invalid
//! patterns, non Verb-Noun names and ill-typed defaults are errors, each
//! pointing at the file, line and column with a message that says what to fix.

mod raw;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde::de::DeserializeSeed;

use crate::capabilities::{Capabilities, NO_CMDLETS};
use crate::capability::{Grant, Grants, KnownKeys};
use crate::inputs::InputSpec;
use crate::limits::{Ceilings, LimitError, Limits};
use crate::operator::{AppliedPolicy, Policy};
use crate::outputs::Outputs;
use crate::source::{ManifestError, Source};
use raw::RawPlugin;

/// The largest manifest read. Real manifests are a few KiB; a manifest
/// from a marketplace must not be able to make the host parse, compile or
/// show megabytes of grants.
pub const MAX_MANIFEST_BYTES: usize = 256 << 10;

static PLUGIN_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]{0,63}$").expect("static regex"));

/// Whether `name` is a valid `[plugin] name`.
pub(crate) fn is_plugin_name(name: &str) -> bool {
    PLUGIN_NAME.is_match(name)
}

/// The `[plugin]` table.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub authors: Vec<String>,
    /// The component file, resolved against the manifest's folder.
    pub component: PathBuf,
    /// Lowercase hex SHA-256 the component must have; `None` only before the
    /// first `exorun build`, and such a plugin is refused at load.
    pub sha256: Option<String>,
}

/// A validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub path: PathBuf,
    /// SHA-256 of the manifest file's bytes, lowercase hex: what a plan
    /// binds, so it can only be applied under the grants it was made under.
    pub sha256: String,
    pub plugin: PluginInfo,
    /// What the manifest grants, one entry per capability of
    /// [`crate::capability::REGISTRY`] that it uses (narrowed by the
    /// operator policy when [`Manifest::policy`] is set).
    grants: Grants,
    /// The operator policy these grants were narrowed by, if any.
    policy: Option<Arc<AppliedPolicy>>,
}

impl Manifest {
    /// Reads and validates a manifest file (or `exorun.toml` inside a folder).
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let path = if path.is_dir() {
            path.join("exorun.toml")
        } else {
            path.to_path_buf()
        };
        let read = |source| ManifestError::Read {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(read)?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_MANIFEST_BYTES as u64 + 1),
            &mut text,
        )
        .map_err(read)?;
        Manifest::parse(&path, &text)
    }

    /// Validates manifest text; `path` names the file in errors and anchors
    /// the relative component path.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let source = Source { path, text };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(source.error(
                0,
                format!(
                    "the manifest is larger than {MAX_MANIFEST_BYTES} bytes; a manifest declares grants, not data"
                ),
            ));
        }
        // Every top-level key belongs to [plugin] or to a capability.
        let document = toml::de::Deserializer::parse(text).map_err(|e| source.toml_error(e))?;
        KnownKeys
            .deserialize(document)
            .map_err(|e| source.toml_error(e))?;
        let raw: RawPlugin = source
            .key("plugin")?
            .ok_or_else(|| source.error(0, "missing field `plugin`".to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let plugin = validate_plugin(&source, raw, base)?;
        let grants = Grants::parse(&source)?;
        Ok(Manifest {
            path: path.to_path_buf(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
            plugin,
            grants,
            policy: None,
        })
    }

    /// This manifest narrowed by the operator policy: what a run may do
    /// is the manifest's grants ∩ the policy's rules, and the gate names
    /// the policy's rule when it refuses. Applying a policy to an already
    /// narrowed manifest narrows further.
    pub fn narrowed(&self, policy: &Policy) -> Manifest {
        if policy.is_empty() {
            return self.clone();
        }
        let rules = policy.rules_for(&self.plugin.name);
        let mut applied = self.policy.as_deref().cloned().unwrap_or_default();
        applied.files.extend(
            policy
                .files()
                .iter()
                .map(|f| (f.label.clone(), f.path.clone(), f.sha256.clone())),
        );
        let grants = self.grants.narrowed(&rules, &mut applied.narrowings);
        Manifest {
            grants,
            policy: Some(Arc::new(applied)),
            ..self.clone()
        }
    }

    /// The operator policy applied with [`Manifest::narrowed`], if any.
    pub fn policy(&self) -> Option<&AppliedPolicy> {
        self.policy.as_deref()
    }

    /// The grant of type `T`, when the manifest has one.
    pub fn grant<T: Grant>(&self) -> Option<&T> {
        self.grants.get()
    }

    /// Every grant, as the capabilities describe and check them.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// `[[cmdlet]]`: the cmdlets, parameters and values the plugin may use.
    pub fn capabilities(&self) -> &Capabilities {
        self.grant().unwrap_or(&NO_CMDLETS)
    }

    /// `[inputs]`: the inputs an operator passes to a run.
    pub fn inputs(&self) -> &[InputSpec] {
        self.grant::<Vec<InputSpec>>().map_or(&[], Vec::as_slice)
    }

    /// `[limits]`, with the defaults for what the manifest leaves out.
    pub fn limits(&self) -> Limits {
        self.grant().copied().unwrap_or_default()
    }

    /// `[outputs]`: a per-run folder for report files; `None` means the
    /// plugin gets no filesystem at all.
    pub fn outputs(&self) -> Option<&Outputs> {
        self.grant()
    }

    /// Refuses a manifest that asks any capability for more than the
    /// operator's ceilings allow.
    pub fn within(&self, ceilings: &Ceilings) -> Result<(), LimitError> {
        self.grants.within(ceilings)
    }
}

fn validate_plugin(
    loc: &Source<'_>,
    raw: raw::RawPlugin,
    base: &Path,
) -> Result<PluginInfo, ManifestError> {
    let name = raw.name.get_ref();
    if !PLUGIN_NAME.is_match(name) {
        return Err(loc.error_at(
            &raw.name,
            format!(
                "plugin name '{name}' must be 1-64 lowercase letters, digits and dashes, starting with a letter or digit"
            ),
        ));
    }
    let version = semver::Version::parse(raw.version.get_ref()).map_err(|e| {
        loc.error_at(
            &raw.version,
            format!(
                "version '{}' is not semantic versioning (like 1.2.0): {e}",
                raw.version.get_ref()
            ),
        )
    })?;
    if raw.component.get_ref().trim().is_empty() {
        return Err(loc.error_at(
            &raw.component,
            "component must name the .wasm file, relative to this manifest".to_owned(),
        ));
    }
    let sha256 = match raw.sha256 {
        None => None,
        Some(s) if s.get_ref().is_empty() => None,
        Some(s) => {
            let hex = s.get_ref().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(loc.error_at(
                    &s,
                    "sha256 must be 64 hexadecimal digits; run `exorun build` to record it"
                        .to_owned(),
                ));
            }
            Some(hex)
        }
    };
    Ok(PluginInfo {
        name: name.clone(),
        version,
        description: raw.description,
        authors: raw.authors,
        component: base.join(raw.component.get_ref()),
        sha256,
    })
}

#[cfg(test)]
mod tests;
