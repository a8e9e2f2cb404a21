//! `*` wildcards, matched the one way both users need: iteratively, with a
//! single backtrack point, so no pattern or text can make it slow.
//! Cmdlet globs (`Remove-*`) match bytes ignoring ASCII case; a scope's
//! `-like` matches characters as .NET's `OrdinalIgnoreCase`, with `?` for
//! one character.

/// Whether `text` matches `pattern`: `star` matches any run, `one` (when
/// given) exactly one item, and anything else an item that `same` accepts.
pub(crate) fn matches<T: Copy + PartialEq>(
    pattern: &[T],
    text: &[T],
    star: T,
    one: Option<T>,
    same: impl Fn(T, T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == star {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (Some(pattern[p]) == one || same(pattern[p], text[t])) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = backtrack {
            p = sp + 1;
            t = st + 1;
            backtrack = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == star)
}
