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

use std::any::Any;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use toml::Spanned;

use crate::limits::{Ceilings, LimitError};
use crate::manifest::{Manifest, ManifestError};

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
    fn within(&self, _manifest: &Manifest, _ceilings: &Ceilings) -> Result<(), LimitError> {
        Ok(())
    }

    /// What the manifest grants of this capability (or that it grants
    /// nothing), for `exorun inspect`.
    fn describe(&self, manifest: &Manifest) -> Section;
}

/// A validated grant, as [`Capability::parse`] made it. Found again by its
/// type with [`Manifest::grant`].
pub trait Grant: Any + Debug + Send + Sync {}
impl<T: Any + Debug + Send + Sync> Grant for T {}

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

/// The manifest text, as a capability reads its keys from it.
pub struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// The value of one top-level key, deserialized with its spans kept
    /// (so [`Source::error_at`] can point at the line); `None` when the
    /// manifest does not have the key.
    pub fn key<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ManifestError> {
        let deserializer =
            toml::de::Deserializer::parse(self.text).map_err(|e| self.toml_error(e))?;
        PickKey {
            key,
            _value: PhantomData,
        }
        .deserialize(deserializer)
        .map_err(|e| self.toml_error(e))
    }

    /// An error at the position of a spanned value.
    pub fn error_at<T>(&self, spanned: &Spanned<T>, message: String) -> ManifestError {
        self.error(spanned.span().start, message)
    }

    /// An error at a byte offset, as `file:line:column: message`.
    pub fn error(&self, offset: usize, message: String) -> ManifestError {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ManifestError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    pub(crate) fn toml_error(&self, e: toml::de::Error) -> ManifestError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        self.error(offset, e.message().trim_end().to_owned())
    }
}

/// Deserializes one key of the top-level table and skips the others.
struct PickKey<'k, T> {
    key: &'k str,
    _value: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for PickKey<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for PickKey<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manifest table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.key {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
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
