//! Small text helpers shared by the readers: BOM and line-ending handling, whitespace, and
//! the normalisation that decides when two source sentences are "the same" for splits.

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// Drop a UTF-8 byte-order mark: editors on Windows write one, and it would otherwise end up
/// glued to the first field of the first record.
pub fn strip_bom(s: &str) -> &str {
    s.strip_prefix('\u{feff}').unwrap_or(s)
}

/// Decode bytes as UTF-8 (BOM removed), or say at which byte the encoding breaks.
pub fn utf8(file: &str, bytes: &[u8]) -> crate::Result<String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(strip_bom(s).to_string()),
        Err(e) => Err(crate::DataError::format(
            file,
            format!("not UTF-8 at byte {}", e.valid_up_to()),
        )),
    }
}

/// Lines with 1-based numbers, without their `\n` or `\r\n` (a BOM on the first is removed).
pub fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    strip_bom(text)
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Runs of whitespace (any Unicode space, tabs, newlines) become one space; ends trimmed.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key under which two source sentences count as duplicates: Unicode NFKC (full-width and
/// compatibility forms folded), lower case, whitespace collapsed, punctuation stripped at both
/// ends. "Hello, world!" and "  hello,   WORLD " share a key, so a split never puts one in
/// training and the other in test.
pub fn normalise(s: &str) -> String {
    let folded: String = s.nfkc().collect::<String>().to_lowercase();
    let collapsed = collapse_whitespace(&folded);
    collapsed
        .trim_matches(|c: char| c.is_whitespace() || c.is_punctuation())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_drop_bom_and_crlf() {
        let lines: Vec<_> = numbered_lines("\u{feff}a\r\nb\n\r\nc").collect();
        assert_eq!(lines, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
    }

    #[test]
    fn normalise_folds_case_width_space_and_end_punctuation() {
        assert_eq!(normalise("  Hello,\t WORLD!! "), "hello, world");
        assert_eq!(normalise("¿Qué tal?"), "qué tal");
        // NFKC: full-width letters and the "ﬁ" ligature become plain ones.
        assert_eq!(normalise("ＡＢＣ ﬁne"), "abc fine");
        assert_eq!(normalise("«…»"), "");
        // Punctuation inside is kept: it can change the meaning.
        assert_ne!(
            normalise("Let's eat, grandma"),
            normalise("Let's eat grandma")
        );
    }

    #[test]
    fn utf8_reports_the_bad_byte() {
        let err = utf8("f.txt", b"ab\xffcd").unwrap_err().to_string();
        assert!(err.contains("f.txt") && err.contains("byte 2"), "{err}");
    }
}
