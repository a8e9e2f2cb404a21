//! Showing text a plugin chose on a terminal or in a log line.
//!
//! A plugin controls cmdlet names, parameter values, log lines and error
//! messages. Written raw, an ESC or OSC sequence could clear the screen,
//! set the window title or move the cursor, a CR or LF could forge an
//! `exorun:` line, and a bidirectional override could make `moc.osotnoc`
//! read as `contoso.com`. [`Escaped`] shows every such character as a
//! visible escape (`\x1b`, `\r`, `\u{202e}`) and passes the rest through.

use std::fmt;

/// Displays a string with control and bidirectional-formatting characters
/// escaped. Cheap: it writes runs of safe text in one piece.
pub struct Escaped<'a>(pub &'a str);

/// True for characters that must never reach a terminal raw.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(index) = rest.find(is_unsafe_char) {
            f.write_str(&rest[..index])?;
            let c = rest[index..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[index + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// The escaped text as a `String`.
pub fn escaped(text: &str) -> String {
    Escaped(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_and_line_breaks_are_shown_escaped() {
        assert_eq!(
            escaped("a\u{1b}]0;owned\u{7}b\r\nexorun: ok\t"),
            "a\\x1b]0;owned\\x07b\\r\\nexorun: ok\\t"
        );
    }

    #[test]
    fn bidirectional_overrides_are_shown_escaped() {
        assert_eq!(escaped("x\u{202E}moc"), "x\\u{202e}moc");
        assert_eq!(escaped("\u{9b}2J"), "\\u{9b}2J");
    }

    #[test]
    fn plain_text_passes_unchanged() {
        assert_eq!(
            escaped("Müller <ann@contoso.com>"),
            "Müller <ann@contoso.com>"
        );
    }
}
