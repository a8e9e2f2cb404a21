//! Wrappers for values that must never reach a log, an error message or a
//! terminal: access tokens, client assertions, certificate passwords.
//!
//! The wrapper's `Debug` and `Display` both print `<redacted>`, so a secret
//! that ends up inside a struct that derives `Debug`, or in a `tracing` field,
//! is still not printed. Reading the value takes an explicit call to
//! [`SecretString::expose`], which is easy to find in review.
//!
//! Both are thin newtypes over `secrecy`'s boxes, which wipe the value when
//! it is dropped; the newtypes add the one redaction text every exorun
//! message uses and equality in constant time.

use std::fmt;

use secrecy::{ExposeSecret, SecretSlice};

/// A string that is never printed. Kept in a `secrecy` box, which wipes it
/// when dropped.
#[derive(Clone)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into().into())
    }

    /// The secret itself; call only where it is sent or used for crypto.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        SecretString(value.into())
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString(value.into())
    }
}

/// Compared in constant time, so a comparison never tells by its duration
/// how much of a secret was guessed right.
impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Bytes that are never printed (PFX files, PEM files holding keys); wiped
/// when dropped.
#[derive(Clone)]
pub struct SecretBytes(SecretSlice<u8>);

impl SecretBytes {
    pub fn new(value: Vec<u8>) -> Self {
        SecretBytes(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.expose(), other.expose())
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.expose().len())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_print_redacted() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
        let b = SecretBytes::new(b"key".to_vec());
        assert_eq!(format!("{b:?}"), "<redacted 3 bytes>");
        assert_eq!(b.expose(), b"key");
    }

    #[test]
    fn equal_secrets_compare_equal_and_different_lengths_do_not() {
        assert_eq!(SecretString::new("abc"), SecretString::from("abc"));
        assert_ne!(SecretString::new("abc"), SecretString::new("abd"));
        assert_ne!(SecretString::new("abc"), SecretString::new("abcd"));
        assert_ne!(
            SecretBytes::new(vec![1, 2]),
            SecretBytes::new(vec![1, 2, 3])
        );
    }
}
