//! The plan file: JSON a person can read and a program can apply exactly.
//!
//! ```json
//! {
//!   "format": "exorun-plan/1",
//!   "createdAt": "2026-11-28T22:18:00.123Z",
//!   "whatIfRunId": "5f0c2a8e-…",
//!   "operator": "alice",
//!   "plugin": {"name": "…", "version": "0.1.0", "sha256": "…", "manifestSha256": "…"},
//!   "tenant": "contoso.onmicrosoft.com",
//!   "appId": "…",
//!   "inputs": {"domain": "contoso.com"},
//!   "calls": [{"cmdlet": "Set-Mailbox", "parameters": {"Identity": "ann@contoso.com", "ForwardingSmtpAddress": null}}],
//!   "checksum": "<sha256 of the plan without this member>"
//! }
//! ```
//!
//! Parameter values map one to one onto [`Value`]: `null`, booleans,
//! integers, strings, arrays of strings and objects (hashtables) of those;
//! members keep their order. The checksum covers the plan's content (the
//! compact serialization without `checksum`), so an accidental edit is
//! refused. It is no seal: whoever can edit the plan can recompute it. What
//! makes an edited plan harmless is that it chooses nothing: `exorun apply`
//! takes the plugin from the operator (`--plugin`), refuses it unless its
//! manifest and component are the very ones the plan was captured under
//! (`manifestSha256`, `sha256`), and checks every call again against that
//! manifest. The plan's digest (SHA-256 of the file's bytes) is what the
//! audit trail records, what `--expect-sha256` pins, and what stops the same
//! plan from being applied twice.
//!
//! The file holds the values the calls need, sensitive ones included, so
//! it is written readable by its owner only.

use std::fmt;
use std::io::Write;
use std::path::Path;

use exorun_cmdlet::{Call, Value};
use serde::de::{MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The `format` of the files this version writes and reads.
pub const PLAN_FORMAT: &str = "exorun-plan/2";

/// The largest plan file read (a plan is a list of calls, not a data set).
const MAX_PLAN_BYTES: u64 = 64 << 20;

/// Which plugin build made the plan. No path: the plan names the plugin,
/// the operator supplies it at apply time, and the digests must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanPlugin {
    pub name: String,
    pub version: String,
    /// The component's SHA-256, as the manifest pins it.
    pub sha256: String,
    /// SHA-256 of the manifest file's bytes the what-if run was checked
    /// against: the grants the plan was captured under.
    pub manifest_sha256: String,
}

/// A reviewed-to-be list of changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    /// RFC 3339 UTC with milliseconds, as audit records are.
    pub created_at: String,
    pub what_if_run_id: String,
    pub operator: String,
    pub plugin: PlanPlugin,
    pub tenant: String,
    pub app_id: String,
    /// The run's inputs with defaults applied; sensitive ones redacted.
    #[serde(with = "ordered_strings")]
    pub inputs: Vec<(String, String)>,
    #[serde(with = "calls")]
    pub calls: Vec<Call>,
    /// Empty while the checksum is being computed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
}

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the plan {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the plan {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the plan {path} is larger than {MAX_PLAN_BYTES} bytes")]
    TooLarge { path: String },
    #[error("{path} is not an exorun plan: {detail}")]
    Invalid { path: String, detail: String },
    #[error("{path} is a plan of format '{found}'; this exorun reads {PLAN_FORMAT}")]
    Format { path: String, found: String },
    #[error(
        "the plan {path} was altered after it was written: its content no longer matches its checksum"
    )]
    Altered { path: String },
}

/// A plan's file, created empty before the run; dropped unwritten (the
/// what-if run failed) it is removed again.
#[derive(Debug)]
pub struct PlanFile {
    file: Option<std::fs::File>,
    path: std::path::PathBuf,
}

impl PlanFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PlanFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A plan read back, with the digest of its file.
#[derive(Clone, Debug)]
pub struct ReadPlan {
    pub plan: Plan,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

impl Plan {
    /// The checksum of this plan's content.
    pub fn compute_checksum(&self) -> String {
        let body = Plan {
            checksum: String::new(),
            ..self.clone()
        };
        // Serializing these types cannot fail: every map key is a string.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    /// Creates the plan's file before the what-if run starts, so a path
    /// that cannot be written fails before anything runs: a new file only
    /// (never over an existing one, never through a link, dangling or
    /// not), readable by its owner only.
    pub fn reserve(path: &Path) -> Result<PlanFile, PlanError> {
        let io = |source| PlanError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        // O_CREAT | O_EXCL never follows a link in the last component.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(io)?;
        Ok(PlanFile {
            file: Some(file),
            path: path.to_path_buf(),
        })
    }

    /// Seals the plan and writes it to a new file (never over an existing
    /// one), readable by its owner only. Returns the file's SHA-256.
    pub fn write_new(&mut self, path: &Path) -> Result<String, PlanError> {
        let reserved = Plan::reserve(path)?;
        self.write_into(reserved)
    }

    /// Seals the plan and writes it into its reserved file. Returns the
    /// file's SHA-256.
    pub fn write_into(&mut self, mut reserved: PlanFile) -> Result<String, PlanError> {
        let path = reserved.path.clone();
        self.checksum = self.compute_checksum();
        let mut text = serde_json::to_vec_pretty(&*self).map_err(|e| PlanError::Invalid {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        text.push(b'\n');
        let io = |source| PlanError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut file = reserved
            .file
            .take()
            .ok_or_else(|| io(std::io::Error::other("the plan file was already written")))?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(hex::encode(Sha256::digest(&text)))
    }

    /// Reads and checks a plan file: its size, its format and its checksum.
    pub fn read(path: &Path) -> Result<ReadPlan, PlanError> {
        let bytes = Plan::read_bytes(path)?;
        Plan::from_bytes(&bytes, &path.display().to_string())
    }

    /// A plan file's bytes, read as [`Plan::read`] reads them (a regular
    /// file, at most the largest plan), for a caller that keeps them.
    pub fn read_bytes(path: &Path) -> Result<Vec<u8>, PlanError> {
        let shown = path.display().to_string();
        let io = |source| PlanError::Read {
            path: shown.clone(),
            source,
        };
        // One open file for every check, so it cannot be swapped between
        // them; a FIFO or device would block or never end.
        let file = std::fs::File::open(path).map_err(io)?;
        if !file.metadata().map_err(io)?.is_file() {
            return Err(PlanError::Invalid {
                path: shown,
                detail: "it is not a regular file".to_owned(),
            });
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_PLAN_BYTES + 1),
            &mut bytes,
        )
        .map_err(io)?;
        if bytes.len() as u64 > MAX_PLAN_BYTES {
            return Err(PlanError::TooLarge { path: shown });
        }
        Ok(bytes)
    }

    /// [`Plan::read`] on bytes already in memory; `path` names them in errors.
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<ReadPlan, PlanError> {
        // The format first, so that a newer plan says so rather than
        // failing on a field this version does not know.
        #[derive(Deserialize)]
        struct FormatOnly {
            format: Option<String>,
        }
        let format: FormatOnly = serde_json::from_slice(bytes).map_err(|e| PlanError::Invalid {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        match format.format.as_deref() {
            Some(PLAN_FORMAT) => {}
            Some(other) => {
                return Err(PlanError::Format {
                    path: path.to_owned(),
                    found: other.to_owned(),
                });
            }
            None => {
                return Err(PlanError::Invalid {
                    path: path.to_owned(),
                    detail: "it has no \"format\"".to_owned(),
                });
            }
        }
        let plan: Plan = serde_json::from_slice(bytes).map_err(|e| PlanError::Invalid {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        if plan.checksum.is_empty() || !plan.checksum.eq_ignore_ascii_case(&plan.compute_checksum())
        {
            return Err(PlanError::Altered {
                path: path.to_owned(),
            });
        }
        Ok(ReadPlan {
            plan,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
    }
}

/// `[(name, text)]` as a JSON object in that order.
mod ordered_strings {
    use super::*;

    pub fn serialize<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of input names to texts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(pairs)
            }
        }
        d.deserialize_map(V)
    }
}

/// Calls as `[{"cmdlet": …, "parameters": {…}}]`.
mod calls {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CallJson {
        cmdlet: String,
        parameters: Parameters,
    }

    pub fn serialize<S: Serializer>(calls: &[Call], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(calls.len()))?;
        for call in calls {
            seq.serialize_element(&CallJson {
                cmdlet: call.cmdlet.clone(),
                parameters: Parameters(call.parameters.clone()),
            })?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Call>, D::Error> {
        let calls = Vec::<CallJson>::deserialize(d)?;
        Ok(calls
            .into_iter()
            .map(|c| Call {
                cmdlet: c.cmdlet,
                parameters: c.parameters.0,
            })
            .collect())
    }
}

/// A call's parameters as a JSON object, in order.
struct Parameters(Vec<(String, Value)>);

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Parameters;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of parameter names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parameters, A::Error> {
                let mut pairs = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    pairs.push((name, value));
                }
                Ok(Parameters(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exorun_cmdlet::Leaf;

    pub(crate) fn sample() -> Plan {
        Plan {
            format: PLAN_FORMAT.to_owned(),
            created_at: "2026-11-28T22:18:00.123Z".to_owned(),
            what_if_run_id: "run-1".to_owned(),
            operator: "alice".to_owned(),
            plugin: PlanPlugin {
                name: "cleanup".to_owned(),
                version: "0.1.0".to_owned(),
                sha256: "ab".repeat(32),
                manifest_sha256: "cd".repeat(32),
            },
            tenant: "contoso.onmicrosoft.com".to_owned(),
            app_id: "app".to_owned(),
            inputs: vec![
                ("zeta".to_owned(), "1".to_owned()),
                ("alpha".to_owned(), "x".to_owned()),
            ],
            calls: vec![
                Call::new("Set-Mailbox")
                    .param("Identity", "ann@contoso.com")
                    .param("ForwardingSmtpAddress", Value::Null)
                    .param("HiddenFromAddressListsEnabled", true)
                    .param("Count", 7i64)
                    .param("Text", "$null"),
                Call::new("Set-Mailbox")
                    .param("Identity", "bob@contoso.com")
                    .param(
                        "EmailAddresses",
                        Value::Table(vec![
                            ("Remove".to_owned(), Leaf::Text("b@x.com".to_owned())),
                            ("Add".to_owned(), Leaf::Texts(vec!["a@x.com".to_owned()])),
                        ]),
                    )
                    .param("Empty", Value::Texts(vec![]))
                    .param("EmptyTable", Value::Table(vec![])),
            ],
            checksum: String::new(),
        }
    }

    #[test]
    fn a_written_plan_reads_back_identical_with_the_digest_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan.json");
        let mut plan = sample();
        let digest = plan.write_new(&path).unwrap();
        let read = Plan::read(&path).unwrap();
        assert_eq!(read.plan, plan);
        assert_eq!(read.sha256, digest);
        assert_eq!(
            digest,
            hex::encode(Sha256::digest(std::fs::read(&path).unwrap()))
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""ForwardingSmtpAddress": null"#), "{text}");
        assert!(text.find("\"zeta\"").unwrap() < text.find("\"alpha\"").unwrap());
        assert!(text.find("\"Remove\"").unwrap() < text.find("\"Add\"").unwrap());
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan.json");
        std::fs::write(&path, "keep").unwrap();
        assert!(matches!(
            sample().write_new(&path),
            Err(PlanError::Write { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
    }

    #[cfg(unix)]
    #[test]
    fn the_plan_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan.json");
        sample().write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_edited_call_is_refused_as_altered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan.json");
        sample().write_new(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("ann@contoso.com", "ceo@contoso.com")).unwrap();
        let error = Plan::read(&path).unwrap_err();
        assert!(matches!(error, PlanError::Altered { .. }), "{error}");
        assert!(error.to_string().ends_with(
            "was altered after it was written: its content no longer matches its checksum"
        ));
    }

    #[test]
    fn a_plan_without_checksum_is_refused_as_altered() {
        let mut plan = sample();
        plan.checksum = String::new();
        let bytes = serde_json::to_vec(&plan).unwrap();
        assert!(matches!(
            Plan::from_bytes(&bytes, "p"),
            Err(PlanError::Altered { .. })
        ));
    }

    #[test]
    fn another_format_is_named() {
        let error = Plan::from_bytes(br#"{"format":"exorun-plan/9","x":1}"#, "p").unwrap_err();
        assert_eq!(
            error.to_string(),
            "p is a plan of format 'exorun-plan/9'; this exorun reads exorun-plan/2"
        );
    }

    #[test]
    fn fractions_and_nested_tables_are_not_parameter_values() {
        for bad in [r#"1.5"#, r#"{"Add":{"x":1}}"#, r#"[1]"#] {
            let text = format!(r#"{{"P":{bad}}}"#);
            assert!(serde_json::from_str::<Parameters>(&text).is_err(), "{bad}");
        }
    }
}
