//! What a manifest can grant, one unit per capability.
//!
//! A capability owns its top-level keys of `exorun.toml`: it reads and
//! validates them ([`Capability::parse`]), refuses grants above the
//! operator's ceilings ([`Capability::within`]) and says what it grants
//! ([`Capability::describe`]), which is all `exorun inspect` prints. The
//! [`REGISTRY`] lists them; [`crate::Manifest`] reads `[plugin]` itself and
//! hands every other key to the capability that owns it, so a key no
//! capability owns is an error and a capability cannot be left out of
//! `inspect`.
//!
//! The host half of each capability (its WIT interface, per-run state and
//! report) lives in the sandbox crate's `capability` module. Adding one is
//! described in `docs/adding-a-capability.md`.

pub mod cmdlets;
pub mod inputs;
pub mod limits;
pub mod outputs;
pub mod scope;

use std::any::Any;
use std::fmt::Debug;
use std::sync::{Arc, LazyLock};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::limits::{Ceilings, LimitError};
use crate::operator::{Narrowing, Rules};
pub use crate::source::{ManifestError, Source};

/// One thing a manifest can grant. Implementations are unit structs listed
/// in [`REGISTRY`].
pub trait Capability: Sync {
    /// Its name in `exorun inspect`, in errors and in the docs.
    fn name(&self) -> &'static str;

    /// The top-level manifest keys it owns (`cmdlet` for `[[cmdlet]]`).
    fn keys(&self) -> &'static [&'static str];

    /// Reads and validates its keys. `None`: the manifest grants nothing of
    /// this capability, and the run gets nothing of it.
    fn parse(&self, source: &Source<'_>) -> Result<Option<Arc<dyn Grant>>, ManifestError>;

    /// Refuses a grant above what the operator allows.
    fn within(&self, _grants: &Grants, _ceilings: &Ceilings) -> Result<(), LimitError> {
        Ok(())
    }

    /// Narrows this capability's grant by the operator policy's rule sets
    /// (in order, each narrowing what the ones before left), noting each
    /// change in `notes`. `None`: the policy changes nothing here.
    ///
    /// The result must allow nothing the grant did not: a policy never
    /// widens. The default changes nothing.
    fn narrow(
        &self,
        _grants: &Grants,
        _rules: &[&Rules],
        _notes: &mut Vec<Narrowing>,
    ) -> Option<Arc<dyn Grant>> {
        None
    }

    /// What the manifest grants of this capability (or that it grants
    /// nothing), for `exorun inspect`.
    fn describe(&self, grants: &Grants) -> Section;

    /// How this capability's grant changes from `old` to `new`, for the
    /// permission diff of `exorun upgrade`. A widening is held until an
    /// operator approves it.
    ///
    /// The default fails closed: any difference in what [`describe`]
    /// shows is one widening. A capability that can tell narrowing from
    /// widening says so at a finer level.
    ///
    /// [`describe`]: Capability::describe
    fn compare(&self, old: &Grants, new: &Grants) -> Vec<Change> {
        let (before, after) = (self.describe(old).json, self.describe(new).json);
        if before == after {
            return Vec::new();
        }
        vec![Change::widens(format!(
            "{}: changed (shown as a widening: this capability does not compare finer)",
            self.name()
        ))]
    }
}

/// One difference between two manifests' grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub direction: Direction,
    /// What changed, in the terms of `exorun inspect`; plugin text in it is
    /// already escaped.
    pub text: String,
}

/// Whether a change gives the plugin more power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Less power: applies at once.
    Narrows,
    /// Neither more nor less power (an input renamed, say): applies at once.
    Neutral,
    /// More power, or a change exorun cannot prove is not more: held until
    /// an operator approves it.
    Widens,
}

impl Change {
    pub fn widens(text: impl Into<String>) -> Change {
        Change {
            direction: Direction::Widens,
            text: text.into(),
        }
    }

    pub fn narrows(text: impl Into<String>) -> Change {
        Change {
            direction: Direction::Narrows,
            text: text.into(),
        }
    }

    pub fn neutral(text: impl Into<String>) -> Change {
        Change {
            direction: Direction::Neutral,
            text: text.into(),
        }
    }

    /// A number that went from `old` to `new`: higher widens.
    pub fn number(what: &str, old: u64, new: u64) -> Option<Change> {
        let text = format!("{what}: {old} → {new}");
        match new.cmp(&old) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(Change::widens(text)),
            std::cmp::Ordering::Less => Some(Change::narrows(text)),
        }
    }
}

/// A validated grant, as [`Capability::parse`] made it. Found again by its
/// type with [`Grants::get`].
pub trait Grant: Any + Debug + Send + Sync {}
impl<T: Any + Debug + Send + Sync> Grant for T {}

/// What one manifest grants: one entry per capability it uses.
#[derive(Clone, Debug, Default)]
pub struct Grants(Vec<Arc<dyn Grant>>);

impl Grants {
    /// The grant of type `T`, when the manifest has one.
    pub fn get<T: Grant>(&self) -> Option<&T> {
        self.0.iter().find_map(|grant| {
            let any: &dyn Any = grant.as_ref();
            any.downcast_ref::<T>()
        })
    }

    /// These grants narrowed by the operator policy's rule sets,
    /// capability by capability.
    pub(crate) fn narrowed(&self, rules: &[&Rules], notes: &mut Vec<Narrowing>) -> Grants {
        let mut grants = self.0.clone();
        for capability in REGISTRY {
            let Some(narrowed) = capability.narrow(self, rules, notes) else {
                continue;
            };
            let kind = {
                let any: &dyn Any = narrowed.as_ref();
                any.type_id()
            };
            let same = grants.iter().position(|g| {
                let any: &dyn Any = g.as_ref();
                any.type_id() == kind
            });
            match same {
                Some(index) => grants[index] = narrowed,
                None => grants.push(narrowed),
            }
        }
        Grants(grants)
    }

    /// Reads every registered capability's keys from the manifest.
    pub(crate) fn parse(source: &Source<'_>) -> Result<Grants, ManifestError> {
        let mut grants = Vec::with_capacity(REGISTRY.len());
        for capability in REGISTRY {
            grants.extend(capability.parse(source)?);
        }
        Ok(Grants(grants))
    }

    /// Every change from `old` to `new`, capability by capability, in the
    /// order `exorun inspect` shows them.
    pub fn compare(old: &Grants, new: &Grants) -> Vec<Change> {
        REGISTRY.iter().flat_map(|c| c.compare(old, new)).collect()
    }

    /// Everything these grants allow, as one JSON value: the top-level
    /// fields of `exorun inspect --json` that the capabilities own.
    pub fn permissions_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for section in REGISTRY.iter().map(|c| c.describe(self)) {
            for (key, value) in section.json {
                out.insert(key.to_owned(), value);
            }
        }
        serde_json::Value::Object(out)
    }

    /// Everything these grants allow as text, capability by capability,
    /// each section after an empty line: what `exorun inspect` prints and
    /// every consent screen (CLI and dashboard) shows.
    pub fn permission_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for section in REGISTRY.iter().map(|c| c.describe(self)) {
            lines.push(String::new());
            lines.extend(section.text);
        }
        lines
    }

    /// SHA-256 of [`Grants::permissions_json`] (compact JSON), lowercase
    /// hex: what an operator consented to, recorded in the lock file. Two
    /// manifests that differ only in `[plugin]` text have the same digest.
    pub fn permissions_sha256(&self) -> String {
        let mut bytes = Vec::new();
        canonical_json(&self.permissions_json(), &mut bytes);
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    }

    /// Refuses grants above the operator's ceilings, capability by
    /// capability.
    pub fn within(&self, ceilings: &Ceilings) -> Result<(), LimitError> {
        REGISTRY.iter().try_for_each(|c| c.within(self, ceilings))
    }
}

/// Compact JSON with every object's keys sorted, so that a digest of it
/// does not depend on whether some crate in the build turned on
/// serde_json's `preserve_order`.
fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(key).unwrap_or_default());
                out.push(b':');
                canonical_json(&map[key], out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// One capability as `exorun inspect` shows it.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Lines of the text view, already aligned; plugin text in them must be
    /// escaped by the capability ([`exorun_cmdlet::Escaped`]).
    pub text: Vec<String>,
    /// Top-level fields of the `--json` view.
    pub json: Vec<(&'static str, serde_json::Value)>,
}

/// Every capability, in the order `exorun inspect` shows them.
pub static REGISTRY: &[&dyn Capability] = &[
    &cmdlets::CmdletsCapability,
    &inputs::InputsCapability,
    &limits::LimitsCapability,
    &outputs::OutputsCapability,
    &scope::ScopeCapability,
];

/// Every top-level manifest key: `plugin` and the keys of the registry.
pub(crate) fn known_keys() -> &'static [&'static str] {
    static KEYS: LazyLock<&'static [&'static str]> = LazyLock::new(|| {
        let mut keys = vec!["plugin"];
        keys.extend(REGISTRY.iter().flat_map(|c| c.keys().iter().copied()));
        Box::leak(keys.into_boxed_slice())
    });
    &KEYS
}

/// Refuses a top-level key that neither `[plugin]` nor any capability owns,
/// at the key's position, naming the keys there are.
pub(crate) struct KnownKeys;

impl<'de> DeserializeSeed<'de> for KnownKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KnownKeys {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manifest table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KnownKey)?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// One top-level key, checked inside the key's own deserializer so that
/// the error carries the key's position.
struct KnownKey;

impl<'de> DeserializeSeed<'de> for KnownKey {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KnownKey {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manifest key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<(), E> {
        if known_keys().contains(&key) {
            Ok(())
        } else {
            Err(E::unknown_field(key, known_keys()))
        }
    }
}
