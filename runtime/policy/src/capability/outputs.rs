//! `[outputs]`: a fresh folder per run for report files, capped in bytes
//! and entries. Without the table a plugin gets no filesystem at all.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{Capability, Change, Grant, Grants, Section, Source};
use crate::limits::{Ceilings, LimitError};
use crate::operator::{Narrowing, Rules};
use crate::outputs::{MAX_OUTPUTS_FILES, MAX_OUTPUTS_MIB, Outputs};
use crate::source::ManifestError;

/// The per-run outputs folder.
pub struct OutputsCapability;

impl Capability for OutputsCapability {
    fn name(&self) -> &'static str {
        "outputs"
    }

    fn keys(&self) -> &'static [&'static str] {
        &["outputs"]
    }

    fn parse(&self, source: &Source<'_>) -> Result<Option<Arc<dyn Grant>>, ManifestError> {
        let Some(raw) = source.key::<RawOutputs>("outputs")? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(validate_outputs(source, raw)?)))
    }

    fn within(&self, grants: &Grants, ceilings: &Ceilings) -> Result<(), LimitError> {
        match grants.get::<Outputs>() {
            Some(outputs) => outputs.within(ceilings),
            None => Ok(()),
        }
    }

    /// The policy's `[limits] outputs-mib` lowers the folder's cap; a
    /// plugin without the folder stays without it.
    fn narrow(
        &self,
        grants: &Grants,
        rules: &[&Rules],
        notes: &mut Vec<Narrowing>,
    ) -> Option<Arc<dyn Grant>> {
        let mut outputs = *grants.get::<Outputs>()?;
        let mut changed = false;
        for (mib, origin) in rules.iter().filter_map(|r| r.limits.outputs_mib.as_ref()) {
            if *mib < outputs.max_mib {
                notes.push(Narrowing {
                    capability: "outputs",
                    key: Some("limits.outputs-mib".to_owned()),
                    text: format!("outputs: MiB {} → {mib}", outputs.max_mib),
                    origin: origin.clone(),
                });
                outputs.max_mib = *mib;
                changed = true;
            }
        }
        changed.then(|| Arc::new(outputs) as Arc<dyn Grant>)
    }

    /// Gaining a folder widens, losing it narrows; within it, higher caps
    /// widen.
    fn compare(&self, old: &Grants, new: &Grants) -> Vec<Change> {
        match (old.get::<Outputs>(), new.get::<Outputs>()) {
            (None, None) => Vec::new(),
            (None, Some(new)) => vec![Change::widens(format!(
                "new outputs folder: up to {} MiB in {} files",
                new.max_mib, new.max_files
            ))],
            (Some(_), None) => vec![Change::narrows("outputs folder removed")],
            (Some(old), Some(new)) => [
                Change::number("outputs: MiB", old.max_mib, new.max_mib),
                Change::number("outputs: files", old.max_files, new.max_files),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    fn describe(&self, grants: &Grants) -> Section {
        match grants.get::<Outputs>() {
            Some(outputs) => Section {
                text: vec![format!(
                    "Outputs    a fresh folder per run (/outputs): at most {} MiB written, {} files and folders; no links",
                    outputs.max_mib, outputs.max_files
                )],
                json: vec![(
                    "outputs",
                    json!({"maxMiB": outputs.max_mib, "maxFiles": outputs.max_files}),
                )],
            },
            None => Section {
                text: vec!["Outputs    none: no filesystem at all".to_owned()],
                json: vec![("outputs", serde_json::Value::Null)],
            },
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOutputs {
    max_mib: Option<Spanned<u64>>,
    max_files: Option<Spanned<u64>>,
}

fn validate_outputs(loc: &Source<'_>, raw: RawOutputs) -> Result<Outputs, ManifestError> {
    let defaults = Outputs::default();
    let bounded = |value: Option<Spanned<u64>>, key: &str, ceiling: u64| match value {
        Some(v) if *v.get_ref() == 0 => Err(loc.error_at(
            &v,
            format!(
                "[outputs] {key} must be greater than 0 (leave [outputs] out for no folder at all)"
            ),
        )),
        Some(v) if *v.get_ref() > ceiling => {
            Err(loc.error_at(&v, format!("[outputs] {key} may be at most {ceiling}")))
        }
        Some(v) => Ok(Some(*v.get_ref())),
        None => Ok(None),
    };
    Ok(Outputs {
        max_mib: bounded(raw.max_mib, "max-mib", MAX_OUTPUTS_MIB)?.unwrap_or(defaults.max_mib),
        max_files: bounded(raw.max_files, "max-files", MAX_OUTPUTS_FILES)?
            .unwrap_or(defaults.max_files),
    })
}
