//! Python `str` behaviour that the reference scripts (sacreBLEU, SQuAD, MLQA) rely on.
//!
//! Scores only match the Python originals when text is split and stripped the way Python does
//! it, and Python's idea of whitespace differs from Rust's: `str.split()` / `str.strip()` also
//! treat U+001C..U+001F (the ASCII file/group/record/unit separators) as whitespace, which
//! `char::is_whitespace` (the Unicode `White_Space` property) does not.

/// Python's `str.isspace()` for one character.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `s.split()` with no argument: runs of whitespace separate, no empty pieces.
pub(crate) fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|piece| !piece.is_empty())
}

/// Python's `' '.join(s.split())`: one space between words, none at the ends.
pub(crate) fn squeeze_spaces(s: &str) -> String {
    split(s).collect::<Vec<_>>().join(" ")
}

/// Python's `s.strip()`.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `s.rstrip()`.
pub(crate) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_python_whitespace() {
        // U+001F is whitespace to Python but not to `char::is_whitespace`.
        assert!(!'\u{1f}'.is_whitespace());
        assert_eq!(
            split("a\u{1f}b\u{a0}c  d").collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(squeeze_spaces("  x \t y\n"), "x y");
        assert_eq!(strip("\u{1c} x \u{3000}"), "x");
        assert_eq!(rstrip(" x \u{2028}"), " x");
    }

    #[test]
    fn zero_width_space_is_not_whitespace() {
        // U+200B is a format character (Cf) in both Python and Rust.
        assert_eq!(split("a\u{200b}b").count(), 1);
    }
}
