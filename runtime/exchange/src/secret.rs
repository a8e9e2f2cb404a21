//! Wrappers for values that must never reach a log, an error message or a
//! terminal: access tokens, client assertions, certificate passwords.
//!
//! The wrapper's `Debug` and `Display` both print `<redacted>`, so a secret
//! that ends up inside a struct that derives `Debug`, or in a `tracing` field,
//! is still not printed. Reading the value takes an explicit call to
//! [`SecretString::expose`], which is easy to find in review.

use std::fmt;

use zeroize::Zeroize;

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret itself; call only where it is sent or used for crypto.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        SecretString(value.to_owned())
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString(value)
    }
}

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

impl Drop for SecretString {
    /// Overwrites the bytes so a freed token does not linger in the heap.
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Bytes that are never printed (PFX files, PEM files holding keys).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(value: Vec<u8>) -> Self {
        SecretBytes(value)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

impl Drop for SecretBytes {
    /// Overwrites the bytes (a PFX, a private key) before they are freed.
    fn drop(&mut self) {
        self.0.zeroize();
    }
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
    }
}
