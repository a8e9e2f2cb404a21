//! The manifest's text as the capabilities read it, and its errors, each
//! located at a file, line and column.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use toml::Spanned;

/// A manifest problem, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
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

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text
            .get(..offset)
            .unwrap_or(self.text)
            .matches('\n')
            .count()
            + 1
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
