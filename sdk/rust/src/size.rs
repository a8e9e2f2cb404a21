//! Exchange's ByteQuantifiedSize strings, such as
//! `"99 GB (106,300,440,576 bytes)"`, which reports must turn into numbers.

/// The byte count inside a ByteQuantifiedSize string; `None` for
/// `"Unlimited"` or anything without a `(… bytes)` part.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let open = text.rfind('(')?;
    let inner = text[open + 1..].strip_suffix(')')?;
    let digits = inner.trim().strip_suffix("bytes")?.trim();
    digits.replace(',', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn reads_the_byte_count() {
        assert_eq!(
            parse_bytes("99 GB (106,300,440,576 bytes)"),
            Some(106_300_440_576)
        );
        assert_eq!(parse_bytes("0 B (0 bytes)"), Some(0));
        assert_eq!(parse_bytes("Unlimited"), None);
    }
}
