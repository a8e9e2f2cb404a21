//! The hash chain: how a record is sealed into a line, and how a line is
//! checked without re-serializing it.
//!
//! A line is `{…,"prev":"<64 hex>","hash":"<64 hex>"}` followed by `\n`.
//!
//! * `hash` is the SHA-256 of the record's *canonical bytes*: the line with
//!   its final `,"hash":"<64 hex>"` member removed, i.e. the bytes from the
//!   opening `{` up to and including the `prev` value's closing quote, then
//!   `}`. That is exactly what the writer's serializer produced before the
//!   hash was known, so a verifier never re-serializes (and never depends on
//!   a JSON library's formatting): it cuts 75 bytes off the end of the line.
//! * `prev` is the SHA-256 of the previous record's exact line bytes,
//!   without the `\n` (the hash included), or 64 zeros for the first record.
//!
//! Both hashes of a line cost one pass: the SHA-256 state after the shared
//! prefix is cloned and finished twice.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `prev` of the first record.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_MEMBER: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
pub(crate) const SUFFIX_LEN: usize = HASH_MEMBER.len() + 64 + 2;

/// Turns a record serialized without its hash (ending in `}`) into its line
/// (without the newline), returning the record hash, the line and the
/// line's own SHA-256 (the next record's `prev`). Like [`inspect`], it
/// hashes the shared prefix once and finishes the state twice.
pub(crate) fn seal(canonical: &[u8]) -> (String, Vec<u8>, [u8; 32]) {
    let body = canonical.strip_suffix(b"}").unwrap_or(canonical);
    let mut prefix = Sha256::new();
    prefix.update(body);
    let mut whole = prefix.clone();
    prefix.update(b"}");
    let hash = to_hex(&prefix.finalize().into());
    let mut line = Vec::with_capacity(body.len() + SUFFIX_LEN + 2);
    line.extend_from_slice(body);
    line.extend_from_slice(HASH_MEMBER);
    line.extend_from_slice(&hash);
    line.extend_from_slice(b"\"}");
    whole.update(&line[body.len()..]);
    // Hex digits are ASCII: never the empty fallback.
    let hash = std::str::from_utf8(&hash).unwrap_or_default().to_owned();
    (hash, line, whole.finalize().into())
}

/// SHA-256 of a line's bytes, what the next record's `prev` holds.
#[cfg(test)]
pub(crate) fn line_hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

/// Lowercase hex of a digest, on the stack.
pub(crate) fn to_hex(digest: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(digest, &mut out);
    out
}

/// The fields of a line that the chain needs, borrowed from the line.
#[derive(Deserialize)]
struct ChainFields<'a> {
    seq: u64,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    hash: &'a str,
}

/// A line that is a whole record as far as its shape goes; whether its
/// hashes agree is for the caller to judge.
pub(crate) struct Sealed<'a> {
    pub seq: u64,
    pub prev: &'a str,
    pub hash: &'a str,
    /// SHA-256 of the canonical bytes, what `hash` should be.
    pub computed: [u8; 32],
    /// SHA-256 of the whole line, what the next `prev` should be.
    pub line_hash: [u8; 32],
}

impl Sealed<'_> {
    pub fn hash_matches(&self) -> bool {
        self.hash.as_bytes() == to_hex(&self.computed)
    }
}

/// Why a line is not a sealed record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unsealed {
    /// It does not end in a hash member: a write that never finished, or
    /// not a record at all.
    Incomplete,
    /// It ends like a record but is not valid JSON or lacks a chain field.
    Invalid(String),
}

/// Checks one line (without its newline) in a single pass over its bytes
/// for hashing plus one borrowing JSON parse.
pub(crate) fn inspect(line: &[u8]) -> Result<Sealed<'_>, Unsealed> {
    if line.len() < SUFFIX_LEN + 1 || !line.ends_with(b"\"}") {
        return Err(Unsealed::Incomplete);
    }
    let cut = line.len() - SUFFIX_LEN;
    let suffix = &line[cut..];
    let digits = &suffix[HASH_MEMBER.len()..HASH_MEMBER.len() + 64];
    if !suffix.starts_with(HASH_MEMBER) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(Unsealed::Incomplete);
    }
    let fields: ChainFields<'_> =
        serde_json::from_slice(line).map_err(|e| Unsealed::Invalid(e.to_string()))?;
    let mut canonical = Sha256::new();
    canonical.update(&line[..cut]);
    let mut whole = canonical.clone();
    canonical.update(b"}");
    whole.update(suffix);
    Ok(Sealed {
        seq: fields.seq,
        prev: fields.prev,
        hash: fields.hash,
        computed: canonical.finalize().into(),
        line_hash: whole.finalize().into(),
    })
}

/// True when a line that is not a sealed record could be the start of one
/// that a crash cut short: a non-empty prefix of `{"seq":<next>,…`. Such a
/// line is harmless (it holds no complete record and the chain links the
/// records on either side of it directly), so it is reported, not fatal.
pub(crate) fn looks_torn(line: &[u8], next_seq: Option<u64>) -> bool {
    if line.is_empty() {
        return false;
    }
    let start = match next_seq {
        Some(seq) => format!("{{\"seq\":{seq},"),
        None => "{\"seq\":".to_owned(),
    };
    let start = start.as_bytes();
    if line.len() <= start.len() {
        start.starts_with(line)
    } else {
        line.starts_with(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_appends_the_hash_of_the_canonical_bytes_as_the_last_member() {
        let canonical = br#"{"seq":1,"prev":"00"}"#;
        let (hash, line, _) = seal(canonical);
        assert_eq!(hash, hex::encode(Sha256::digest(canonical)));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            format!(r#"{{"seq":1,"prev":"00","hash":"{hash}"}}"#)
        );
    }

    #[test]
    fn inspecting_a_sealed_line_recomputes_both_hashes() {
        let canonical = format!(r#"{{"seq":7,"prev":"{ZERO_HASH}"}}"#);
        let (hash, line, _) = seal(canonical.as_bytes());
        let sealed = inspect(&line).unwrap();
        assert_eq!(sealed.seq, 7);
        assert_eq!(sealed.prev, ZERO_HASH);
        assert_eq!(sealed.hash, hash);
        assert!(sealed.hash_matches());
        assert_eq!(sealed.line_hash, line_hash(&line));
    }

    #[test]
    fn a_line_without_a_hash_member_is_incomplete() {
        assert_eq!(
            inspect(br#"{"seq":1,"prev":"#).err(),
            Some(Unsealed::Incomplete)
        );
        assert_eq!(inspect(b"hello").err(), Some(Unsealed::Incomplete));
    }

    #[test]
    fn a_line_with_a_hash_member_but_bad_json_is_invalid() {
        let line = format!(r#"{{"seq":,"hash":"{ZERO_HASH}"}}"#);
        assert!(matches!(
            inspect(line.as_bytes()),
            Err(Unsealed::Invalid(_))
        ));
    }

    #[test]
    fn torn_lines_are_prefixes_of_the_next_record() {
        assert!(looks_torn(b"{", Some(12)));
        assert!(looks_torn(b"{\"seq\":1", Some(12)));
        assert!(looks_torn(b"{\"seq\":12,\"time\":\"20", Some(12)));
        assert!(!looks_torn(b"{\"seq\":13,\"time\":\"20", Some(12)));
        assert!(!looks_torn(b"{\"seq\":2", Some(12)));
        assert!(!looks_torn(b"", Some(12)));
        assert!(!looks_torn(b"garbage", Some(12)));
        assert!(looks_torn(b"{\"seq\":99,\"ti", None));
        assert!(!looks_torn(b"garbage", None));
    }
}
