//! Case-insensitive comparison exactly as PowerShell and Exchange do it:
//! .NET's `StringComparison.OrdinalIgnoreCase`.
//!
//! Why not Unicode case folding (`str::to_lowercase`, or the regex crate's
//! `(?i)`): folding makes the Kelvin sign `K` (U+212A) equal to `k` and the
//! long s `ſ` (U+017F) equal to `s`, which .NET does not. A gate that
//! folds would accept `UnliKited`-style spellings that the tenant reads as
//! a different word, or a pattern written for `contoso.com` would admit
//! `contoſo.com`, a different domain. The gate must never allow what the
//! tenant would read differently, so it compares as .NET does.
//!
//! .NET (ICU mode, `OrdinalCasing`): two strings are equal when each pair of
//! characters has the same *simple* uppercase mapping (`u_toupper`), with
//! U+0131 (dotless i) and U+017F (long s) pinned to themselves; surrogate
//! pairs are upper-cased as whole scalars. There is no folding to lower
//! case. See `docs/threat-model.md` (gate, "case") for the sources.

use std::sync::LazyLock;

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

/// The simple uppercase mapping of one character as .NET's
/// `OrdinalIgnoreCase` applies it.
pub fn upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    // Pinned by .NET ("disable Turkish I behaviour on ordinal operations").
    if c == '\u{0131}' || c == '\u{017F}' {
        return c;
    }
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(one), None) => one,
        // Rust gives the *full* mapping; where that is several characters
        // the simple mapping is the character itself, except for the
        // Greek letters with iota subscript, whose simple uppercase is the
        // matching letter with prosgegrammeni (UnicodeData.txt).
        _ => match c as u32 {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(c as u32 + 8).unwrap_or(c)
            }
            0x1FB3 => '\u{1FBC}',
            0x1FC3 => '\u{1FCC}',
            0x1FF3 => '\u{1FFC}',
            _ => c,
        },
    }
}

/// `a` and `b` are equal under .NET's `OrdinalIgnoreCase`.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    let mut left = a.chars();
    let mut right = b.chars();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y || upper(x) == upper(y) => {}
            _ => return false,
        }
    }
}

/// Every character whose uppercase differs from itself, with that
/// uppercase: about 1,400 pairs, computed once.
static CHANGED_BY_UPPER: LazyLock<Vec<(char, char)>> = LazyLock::new(|| {
    // No character above U+1FFFF has a case mapping.
    (0u32..0x2_0000)
        .filter_map(char::from_u32)
        .filter_map(|c| {
            let u = upper(c);
            (u != c).then_some((c, u))
        })
        .collect()
});

/// The smallest class holding `class` and every character that is equal
/// to one of its members under `OrdinalIgnoreCase`: `{x : upper(x) ∈
/// upper(class)}`. A pattern whose classes are all closed this way and
/// that is matched case-sensitively matches exactly what .NET's
/// ordinal-ignore-case comparison would.
pub fn close_class(class: &ClassUnicode) -> ClassUnicode {
    let mut closed = class.clone();
    let images = ClassUnicode::new(
        CHANGED_BY_UPPER
            .iter()
            .filter(|&&(c, _)| holds(class, c))
            .map(|&(_, u)| ClassUnicodeRange::new(u, u)),
    );
    closed.union(&images);
    let preimages = ClassUnicode::new(
        CHANGED_BY_UPPER
            .iter()
            .filter(|&&(_, u)| holds(&closed, u))
            .map(|&(c, _)| ClassUnicodeRange::new(c, c)),
    );
    closed.union(&preimages);
    closed
}

/// `c` is a member of `class` (whose ranges are sorted and disjoint).
fn holds(class: &ClassUnicode, c: char) -> bool {
    class
        .ranges()
        .binary_search_by(|r| {
            if r.end() < c {
                std::cmp::Ordering::Less
            } else if r.start() > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kelvin_sign_is_not_k() {
        assert!(!eq_ignore_case("\u{212A}", "k"));
        assert!(!eq_ignore_case("\u{212A}", "K"));
    }

    #[test]
    fn long_s_and_dotless_i_are_not_ascii_letters() {
        assert!(!eq_ignore_case("\u{017F}", "s"));
        assert!(!eq_ignore_case("\u{017F}", "S"));
        assert!(!eq_ignore_case("\u{0131}", "i"));
        assert!(!eq_ignore_case("\u{0131}", "I"));
        assert!(!eq_ignore_case("\u{0130}", "i"));
    }

    #[test]
    fn letters_with_simple_uppercase_compare_equal() {
        assert!(eq_ignore_case("Müller", "MÜLLER"));
        assert!(eq_ignore_case("ÿ", "\u{0178}"));
        assert!(eq_ignore_case("µ", "\u{039C}"));
        assert!(eq_ignore_case("\u{10428}", "\u{10400}"));
        assert!(eq_ignore_case("\u{1FB3}", "\u{1FBC}"));
    }

    #[test]
    fn sharp_s_is_not_double_s() {
        assert!(!eq_ignore_case("straße", "STRASSE"));
        assert!(eq_ignore_case("straße", "STRAßE"));
    }

    #[test]
    fn closing_a_class_adds_case_partners_but_not_folding_partners() {
        let k = ClassUnicode::new([ClassUnicodeRange::new('k', 'k')]);
        let closed = close_class(&k);
        let members: Vec<(char, char)> = closed.iter().map(|r| (r.start(), r.end())).collect();
        assert_eq!(members, vec![('K', 'K'), ('k', 'k')]);
        let s = ClassUnicode::new([ClassUnicodeRange::new('s', 's')]);
        assert!(
            !close_class(&s)
                .iter()
                .any(|r| r.start() <= '\u{017F}' && '\u{017F}' <= r.end())
        );
    }
}
