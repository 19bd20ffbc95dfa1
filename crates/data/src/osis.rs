//! OSIS markup (the XML dialect of SWORD Bible modules) to plain text.
//!
//! Verse texts are fragments, not documents: milestones open in one verse and close in
//! another, so this is a tolerant tag scanner, not an XML parser. The care is in the
//! spaces. Modules often write `God</w><note>…</note><w>created</w>` or
//! `allí</w><transChange>también</transChange>`: dropping the tags naively glues words
//! ("Godcreated"). But `preguntándo<transChange>le</transChange>` marks an added enclitic
//! inside one word, where a space would be wrong. So:
//!
//! * `<note>` and `<title>` are dropped with their content (footnotes, cross-references and
//!   headings are not part of the verse);
//! * inline markup (`transChange`, `hi`, `divineName`, `foreign`, `name`, `seg`, …) can sit
//!   inside a word and vanishes without a trace;
//! * every other tag (`w`, `q`, `l`, `lg`, `div`, `milestone`, `lb`, …) and every dropped
//!   element marks a word boundary: a space is put there only where a word would otherwise
//!   touch a word or follow closing punctuation (`country,<note>…</note>shunning`), so
//!   `God</w>,` stays "God,", `“<w>Let` stays "“Let" and `Beth-baal</w>-<w>meón` stays whole;
//!   between two characters of scripts written without spaces (Han, kana, Thai, …) none is put;
//! * an end-of-chapter milestone (`<chapter eID=…/>`) ends the verse: modules append back
//!   matter there (the WEB's glossary follows Revelation 22:21);
//! * XML entities are decoded and whitespace is collapsed.

use unicode_categories::UnicodeCategories;

use crate::text::collapse_whitespace;

const DROPPED: &[&str] = &["note", "title"];
const INLINE: &[&str] = &[
    "transChange",
    "hi",
    "divineName",
    "foreign",
    "name",
    "seg",
    "abbr",
    "rdg",
    "index",
    "d",
];

/// One tag as the scanner sees it.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    self_closing: bool,
    body: &'a str,
}

fn parse_tag(raw: &str) -> Tag<'_> {
    let closing = raw.starts_with('/');
    let self_closing = raw.ends_with('/');
    let inner = raw.trim_start_matches('/').trim_end_matches('/');
    let name_end = inner
        .find(|c: char| c.is_whitespace())
        .unwrap_or(inner.len());
    Tag {
        name: &inner[..name_end],
        closing,
        self_closing,
        body: &inner[name_end..],
    }
}

/// Builds the output, inserting a space at a word boundary only where letters would touch.
#[derive(Default)]
struct Writer {
    out: String,
    boundary: bool,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_mark()
}

/// Punctuation that a following word is separated from by a space.
const CLOSING: &[char] = &[
    ',', '.', ';', ':', '!', '?', '”', '’', '»', ')', ']', '}', '…', '،', '؛', '؟',
];

/// Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana, Han.
fn unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x3040..=0x30FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Whether a word boundary between `prev` and `next` must become a space.
fn needs_space(prev: char, next: char) -> bool {
    if !is_word_char(next) {
        return false;
    }
    if is_word_char(prev) {
        return !(unspaced_script(prev) && unspaced_script(next));
    }
    CLOSING.contains(&prev)
}

impl Writer {
    fn text(&mut self, s: &str) {
        let Some(first) = s.chars().next() else {
            return;
        };
        if self.boundary
            && self
                .out
                .chars()
                .next_back()
                .is_some_and(|prev| needs_space(prev, first))
        {
            self.out.push(' ');
        }
        self.boundary = false;
        self.out.push_str(s);
    }
}

/// Plain text of an OSIS fragment (see the module documentation for the rules).
pub fn strip_osis(markup: &str) -> String {
    let mut w = Writer::default();
    let mut dropping = 0usize;
    let mut rest = markup;
    while let Some(lt) = rest.find('<') {
        if dropping == 0 {
            w.text(&decode_entities(&rest[..lt]));
        }
        let Some(gt) = rest[lt..].find('>') else {
            // An unterminated tag: the rest is not text either.
            rest = "";
            break;
        };
        let tag = parse_tag(&rest[lt + 1..lt + gt]);
        rest = &rest[lt + gt + 1..];
        if tag.name.starts_with(['!', '?']) {
            continue;
        }
        if tag.name == "chapter" && tag.body.contains("eID=") {
            rest = "";
            break;
        }
        if DROPPED.contains(&tag.name) {
            if tag.closing {
                dropping = dropping.saturating_sub(1);
            } else if !tag.self_closing {
                dropping += 1;
            }
            w.boundary = true;
        } else if !INLINE.contains(&tag.name) {
            w.boundary = true;
        }
    }
    if dropping == 0 {
        w.text(&decode_entities(rest));
    }
    collapse_whitespace(&w.out)
}

/// XML's five named entities and numeric character references; anything else is kept as is.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after
            .find(';')
            .and_then(|semi| entity(&after[..semi]).map(|c| (c, semi)))
        {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_tags_separate_glued_words() {
        let s = r#"<w lemma="strong:H7225">In</w> <w lemma="strong:H0430">the beginning</w>, <w lemma="x">God</w><note placement="foot"><reference type="annotateRef">1:1 </reference>The Hebrew word “Elohim”.</note><w lemma="x">created</w> the heavens."#;
        assert_eq!(strip_osis(s), "In the beginning, God created the heavens.");
    }

    #[test]
    fn inline_markup_inside_a_word_adds_no_space() {
        let s = r#"<w lemma="strong:H0178">al pythón</w>, preguntándo<transChange type="added">le</transChange>, <w>hay allí</w><transChange type="added">también</transChange><w>bdelio</w>"#;
        assert_eq!(
            strip_osis(s),
            "al pythón, preguntándole, hay allí también bdelio"
        );
    }

    #[test]
    fn titles_and_notes_are_dropped_even_when_nested() {
        let s = r#"<div type="x-milestone" subType="x-preverse" sID="pv1"/><title type="psalm">A Psalm <note>of <hi>David</hi></note>.</title><l level="1">The LORD is my shepherd:</l><l level="1">I shall not want.</l>"#;
        assert_eq!(strip_osis(s), "The LORD is my shepherd: I shall not want.");
    }

    #[test]
    fn no_space_between_words_of_unspaced_scripts() {
        assert_eq!(
            strip_osis("<w>起初</w><w>神</w><note>n</note><w>创造</w>"),
            "起初神创造"
        );
        assert_eq!(strip_osis("<w>Dios</w><w>神</w>"), "Dios 神");
    }

    #[test]
    fn chapter_end_cuts_back_matter() {
        let s = r#"Amen. <chapter eID="Rev.22"/><div type="glossary"/> Abaddon is Hebrew for destruction."#;
        assert_eq!(strip_osis(s), "Amen.");
    }

    #[test]
    fn entities_punctuation_and_broken_tags() {
        assert_eq!(
            strip_osis("Tom &amp; Jerry&#x2019;s &#65;&bogus; <lb/>end"),
            "Tom & Jerry’s A&bogus; end"
        );
        assert_eq!(
            strip_osis("<q who=\"Jesus\">“Follow me</q>”<w>and</w>"),
            "“Follow me” and"
        );
        assert_eq!(strip_osis("<w>said</w>, “<w>Let</w>"), "said, “Let");
        assert_eq!(
            strip_osis("<w>y Beth-baal</w>-<w>meón</w>"),
            "y Beth-baal-meón"
        );
        assert_eq!(
            strip_osis("the country,<note>n</note>shunning"),
            "the country, shunning"
        );
        assert_eq!(strip_osis("<w>forever</w>—”"), "forever—”");
        assert_eq!(strip_osis("word<w unterminated"), "word");
        assert_eq!(strip_osis("<!-- c -->a<?pi?>b"), "ab");
    }
}
