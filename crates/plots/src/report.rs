//! A self-contained HTML report: a title, an optional introduction and sections, each with a
//! heading, a paragraph, a chart (inline SVG) and a small key/value table.
//!
//! The page has inline CSS only: no scripts, no fonts, no images or style sheets to fetch, so
//! it can be mailed, attached to a run or opened from disk as it is. All text is escaped; the
//! SVG is inserted as it is (it is expected to come from this crate's charts) after a check
//! that it is an `<svg>` element without scripts.

use serde::{Deserialize, Serialize};

use crate::error::PlotError;

/// A report page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub title: String,
    /// A paragraph under the title.
    pub intro: Option<String>,
    pub sections: Vec<Section>,
}

/// One section of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Section {
    pub heading: String,
    /// A paragraph under the heading.
    pub description: Option<String>,
    /// A chart from this crate (an SVG document), shown inline.
    pub svg: Option<String>,
    /// Rows of a two-column table (`[["BLEU", "3.95"], ...]` in JSON), e.g. the numbers behind
    /// the chart or the run's settings.
    pub table: Vec<(String, String)>,
}

const CSS: &str = "\
:root { color-scheme: light; }
body { margin: 0; background: #f6f6f4; color: #222;
  font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; }
main { max-width: 880px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7em; line-height: 1.25; margin: 0.4em 0 0.3em; }
h2 { font-size: 1.25em; margin: 0 0 0.4em; }
p { margin: 0.3em 0 0.8em; }
section { background: #fff; border: 1px solid #e2e2de; border-radius: 8px;
  padding: 16px 20px; margin: 20px 0; }
figure { margin: 12px 0; overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
table { border-collapse: collapse; margin: 8px 0 0; font-size: 0.92em; }
th, td { text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid #eee;
  vertical-align: top; }
th { font-weight: 600; color: #444; }
td { font-variant-numeric: tabular-nums; }
@media print { body { background: #fff; } section { border: none; padding: 0; }
  section, figure { break-inside: avoid; } }
";

/// Writes `text` with `&`, `<`, `>`, `"` and `'` escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
}

fn escaped(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    escape_into(&mut s, text);
    s
}

/// Checks that `svg` is one SVG element with nothing active in it.
fn check_svg(svg: &str, field: &str) -> Result<(), PlotError> {
    let body = svg.trim_start();
    let body = if body.starts_with("<?xml") {
        body.find("?>").map_or("", |i| body[i + 2..].trim_start())
    } else {
        body
    };
    if !body.starts_with("<svg") || !svg.trim_end().ends_with("</svg>") {
        return Err(PlotError::invalid(field, "not an <svg> document"));
    }
    // Text in a well-formed SVG has its `<` escaped, so every `<` opens a tag.
    for tag in svg.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("").to_ascii_lowercase();
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if ["script", "foreignobject", "iframe", "object", "embed"].contains(&name.as_str()) {
            return Err(PlotError::invalid(
                field,
                format!("contains a <{name}> element"),
            ));
        }
        if tag.contains("javascript:") {
            return Err(PlotError::invalid(field, "contains a javascript: URL"));
        }
        // Attribute names outside quoted values: no event handlers (onload=, onclick=, …).
        let mut unquoted = String::new();
        let mut quote = None;
        for c in tag.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None => unquoted.push(c),
            }
        }
        let is_handler = unquoted.split(|c: char| c.is_whitespace()).any(|attr| {
            attr.starts_with("on")
                && attr.contains('=')
                && attr[2..]
                    .chars()
                    .take_while(|c| *c != '=')
                    .all(|c| c.is_ascii_alphabetic())
        });
        if is_handler {
            return Err(PlotError::invalid(
                field,
                "contains an event handler attribute",
            ));
        }
    }
    Ok(())
}

/// The report as one HTML document.
pub fn html_page(report: &Report) -> Result<String, PlotError> {
    for (i, s) in report.sections.iter().enumerate() {
        if let Some(svg) = &s.svg {
            let name = crate::validate::name("section", &s.heading, i);
            check_svg(svg, &format!("{name}, svg"))?;
        }
    }
    let title = if report.title.trim().is_empty() {
        "Report"
    } else {
        report.title.as_str()
    };
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>");
    escape_into(&mut out, title);
    out.push_str("</title>\n<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n<main>\n<h1>");
    escape_into(&mut out, title);
    out.push_str("</h1>\n");
    if let Some(intro) = report.intro.as_deref().filter(|s| !s.trim().is_empty()) {
        paragraphs(&mut out, intro);
    }
    for s in &report.sections {
        out.push_str("<section>\n");
        if !s.heading.is_empty() {
            out.push_str("<h2>");
            escape_into(&mut out, &s.heading);
            out.push_str("</h2>\n");
        }
        if let Some(d) = s.description.as_deref().filter(|s| !s.trim().is_empty()) {
            paragraphs(&mut out, d);
        }
        if let Some(svg) = &s.svg {
            out.push_str("<figure>\n");
            out.push_str(svg.trim());
            out.push_str("\n</figure>\n");
        }
        if !s.table.is_empty() {
            out.push_str("<table>\n");
            for (k, v) in &s.table {
                out.push_str(&format!(
                    "<tr><th>{}</th><td>{}</td></tr>\n",
                    escaped(k),
                    escaped(v)
                ));
            }
            out.push_str("</table>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
}

/// `text` as paragraphs, split at blank lines.
fn paragraphs(out: &mut String, text: &str) {
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        escape_into(out, para);
        out.push_str("</p>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_checks() {
        assert!(check_svg("<svg width=\"1\"></svg>", "s").is_ok());
        assert!(check_svg("<?xml version=\"1.0\"?>\n<svg></svg>\n", "s").is_ok());
        assert!(check_svg("<p>hi</p>", "s").is_err());
        assert!(check_svg("<svg><script>alert(1)</script></svg>", "s").is_err());
        assert!(check_svg("<svg onload=\"x()\"></svg>", "s").is_err());
        assert!(check_svg("<svg><text> one=two</text></svg>", "s").is_ok());
    }
}
