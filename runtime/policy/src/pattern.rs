//! `pattern = '…'` in a manifest: JEA's `ValidatePattern`, anchored, and
//! case-insensitive exactly as .NET's `OrdinalIgnoreCase` (see
//! [`crate::ordinal`]), with a memory budget a hostile manifest cannot
//! exceed.
//!
//! How: the pattern is parsed case-sensitively into regex-syntax's HIR,
//! every literal and class is widened to its ordinal case partners
//! ([`crate::ordinal::close_class`]), and the result is compiled by
//! regex-automata's meta engine, which reports its heap use. Matching is
//! then case-sensitive on the raw value: no copy of the value is made per
//! check. The regex crate's own `(?i)` cannot be used: it folds, so `k`
//! would match the Kelvin sign.
//!
//! Memory: each pattern's NFA is capped at [`PATTERN_SIZE_LIMIT`], and all
//! the patterns of one manifest together (compiled size plus the lazy-DFA
//! cache each may grow while matching) at `PATTERNS_TOTAL_LIMIT`.

use regex_automata::meta;
use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind};

use crate::ordinal::close_class;

/// The largest compiled NFA of one pattern.
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// The most memory all patterns of one manifest may take, compiled and
/// with their matching caches full.
pub const PATTERNS_TOTAL_LIMIT: usize = 16 << 20;
/// The lazy DFA's cache per pattern: manifests' patterns are small, and a
/// full cache only makes the engine fall back to a slower one, never fail.
const HYBRID_CACHE: usize = 256 << 10;

/// A compiled pattern and its source text (for messages and `inspect`).
#[derive(Clone, Debug)]
pub struct Pattern {
    pub source: String,
    regex: meta::Regex,
    /// Heap bytes the compiled pattern may take, caches included.
    bytes: usize,
}

impl Pattern {
    /// True when the whole of `text` matches, ignoring case as .NET does.
    pub fn is_full_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// Heap bytes this pattern may take, caches included.
    pub fn memory(&self) -> usize {
        self.bytes
    }

    /// Compiles `source` within `budget` bytes (what is left of the
    /// manifest's [`PATTERNS_TOTAL_LIMIT`]). The error says what is wrong
    /// in words a manifest author can act on.
    pub fn compile(source: &str, budget: usize) -> Result<Pattern, String> {
        let ast = ast::parse::Parser::new()
            .parse(source)
            .map_err(|e| last_line(&e.to_string()))?;
        if mentions_case_flag(&ast) {
            return Err(
                "drop the (?i) flag: patterns already ignore case, as PowerShell's -match does"
                    .to_owned(),
            );
        }
        let hir = regex_syntax::hir::translate::TranslatorBuilder::new()
            .case_insensitive(false)
            .build()
            .translate(source, &ast)
            .map_err(|e| last_line(&e.to_string()))?;
        let hir = Hir::concat(vec![
            Hir::look(regex_syntax::hir::Look::Start),
            close_cases(hir)?,
            Hir::look(regex_syntax::hir::Look::End),
        ]);
        let nfa_limit = PATTERN_SIZE_LIMIT.min(budget.saturating_sub(HYBRID_CACHE));
        let regex = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(nfa_limit))
                    .onepass_size_limit(Some(nfa_limit))
                    .dfa_size_limit(Some(nfa_limit.min(64 << 10)))
                    .hybrid_cache_capacity(HYBRID_CACHE),
            )
            .build_from_hir(&hir)
            .map_err(|e| {
                if e.size_limit().is_some() {
                    format!(
                        "it compiles to more than {nfa_limit} bytes (the manifest's patterns may take {PATTERNS_TOTAL_LIMIT} bytes in all); simplify it"
                    )
                } else {
                    last_line(&e.to_string())
                }
            })?;
        let bytes = regex.memory_usage() + HYBRID_CACHE;
        if bytes > budget {
            return Err(format!(
                "it needs {bytes} bytes, more than the {budget} left of the {PATTERNS_TOTAL_LIMIT} bytes all the manifest's patterns may take; simplify it"
            ));
        }
        Ok(Pattern {
            source: source.to_owned(),
            regex,
            bytes,
        })
    }
}

/// The regex error's last line alone says what is wrong (the lines above
/// quote the pattern).
fn last_line(text: &str) -> String {
    let reason = text.lines().last().unwrap_or_default();
    reason.trim().trim_start_matches("error: ").to_owned()
}

/// True when the pattern sets or clears the `i` flag anywhere.
fn mentions_case_flag(ast: &Ast) -> bool {
    let flags_mention = |flags: &ast::Flags| {
        flags.items.iter().any(|item| {
            matches!(
                item.kind,
                ast::FlagsItemKind::Flag(ast::Flag::CaseInsensitive)
            )
        })
    };
    match ast {
        Ast::Flags(set) => flags_mention(&set.flags),
        Ast::Group(group) => {
            matches!(&group.kind, ast::GroupKind::NonCapturing(flags) if flags_mention(flags))
                || mentions_case_flag(&group.ast)
        }
        Ast::Repetition(rep) => mentions_case_flag(&rep.ast),
        Ast::Alternation(alt) => alt.asts.iter().any(mentions_case_flag),
        Ast::Concat(concat) => concat.asts.iter().any(mentions_case_flag),
        _ => false,
    }
}

/// Widens every literal and class to its ordinal case partners.
fn close_cases(hir: Hir) -> Result<Hir, String> {
    Ok(match hir.into_kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Look(look) => Hir::look(look),
        HirKind::Literal(literal) => {
            let text = std::str::from_utf8(&literal.0)
                .map_err(|_| "a pattern must match text, not raw bytes".to_owned())?;
            Hir::concat(
                text.chars()
                    .map(|c| {
                        let single = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
                        Hir::class(Class::Unicode(close_class(&single)))
                    })
                    .collect(),
            )
        }
        HirKind::Class(Class::Unicode(class)) => Hir::class(Class::Unicode(close_class(&class))),
        HirKind::Class(Class::Bytes(bytes)) => {
            // Only ASCII byte classes translate to text; anything above
            // 0x7F could match half a character.
            let mut class = ClassUnicode::empty();
            for range in bytes.iter() {
                if range.end() > 0x7F {
                    return Err("a pattern must match text, not raw bytes".to_owned());
                }
                class.push(ClassUnicodeRange::new(
                    char::from(range.start()),
                    char::from(range.end()),
                ));
            }
            Hir::class(Class::Unicode(close_class(&class)))
        }
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(close_cases(*rep.sub)?);
            Hir::repetition(rep)
        }
        HirKind::Capture(mut capture) => {
            capture.sub = Box::new(close_cases(*capture.sub)?);
            Hir::capture(capture)
        }
        HirKind::Concat(subs) => Hir::concat(
            subs.into_iter()
                .map(close_cases)
                .collect::<Result<_, _>>()?,
        ),
        HirKind::Alternation(subs) => Hir::alternation(
            subs.into_iter()
                .map(close_cases)
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(source: &str) -> Pattern {
        Pattern::compile(source, PATTERNS_TOTAL_LIMIT).unwrap()
    }

    #[test]
    fn matches_the_whole_value_ignoring_ascii_case() {
        let p = pattern(r"[^@]+@contoso\.com");
        assert!(p.is_full_match("ann@contoso.com"));
        assert!(p.is_full_match("ANN@CONTOSO.COM"));
        assert!(!p.is_full_match("ann@contoso.com.evil.example"));
        assert!(!p.is_full_match("eve@evil.example@contoso.com"));
        assert!(!p.is_full_match("ann@contoso.comx"));
    }

    #[test]
    fn long_s_does_not_match_s_nor_kelvin_k() {
        let p = pattern(r"[^@]+@contoso\.com");
        assert!(!p.is_full_match("ann@conto\u{017F}o.com"));
        let k = pattern("kelly");
        assert!(!k.is_full_match("\u{212A}elly"));
        assert!(k.is_full_match("KELLY"));
    }

    #[test]
    fn non_ascii_letters_match_their_simple_uppercase() {
        let p = pattern("müller-[a-zß]+");
        assert!(p.is_full_match("MÜLLER-STRAßE"));
        assert!(!p.is_full_match("MÜLLER-STRASSE\u{017F}"));
    }

    #[test]
    fn the_case_flag_is_refused() {
        let error = Pattern::compile("(?i)abc", PATTERNS_TOTAL_LIMIT).unwrap_err();
        assert!(error.contains("drop the (?i) flag"), "{error}");
        assert!(Pattern::compile("a(?-i:b)", PATTERNS_TOTAL_LIMIT).is_err());
    }

    #[test]
    fn a_pattern_beyond_the_budget_is_refused() {
        let error = Pattern::compile(r"\w{50}\w{50}\w{50}", 1 << 20).unwrap_err();
        assert!(error.contains("simplify it"), "{error}");
    }
}
