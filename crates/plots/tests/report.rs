//! The HTML report: self-contained, escaped, every chart inline.
#![cfg(not(target_family = "wasm"))]

mod common;

use xlingo_plots::PlotError;
use xlingo_plots::report::{Report, Section, html_page};

fn sample() -> Report {
    let sections = common::rendered()
        .into_iter()
        .map(|(name, svg)| Section {
            heading: format!("Chart <{name}>"),
            description: Some(format!("What {name} shows & why.\n\nA second paragraph.")),
            svg: Some(svg),
            table: vec![("rows <b>".into(), "3 & \"4\"".into())],
        })
        .collect();
    Report {
        title: "<script>alert('x')</script> results".into(),
        intro: Some("Runs of 2025 <i>and</i> more.".into()),
        sections,
    }
}

#[test]
fn the_page_escapes_text_and_holds_every_svg() {
    let report = sample();
    let html = html_page(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Not one script: the title's is text.
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(
        html.contains("<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; results</title>")
    );
    assert!(html.contains("<h1>&lt;script&gt;"));
    assert!(html.contains("Runs of 2025 &lt;i&gt;and&lt;/i&gt; more."));
    assert!(html.contains("<h2>Chart &lt;line&gt;</h2>"));
    assert!(html.contains("<p>What bars shows &amp; why.</p>\n<p>A second paragraph.</p>"));
    assert!(html.contains("<th>rows &lt;b&gt;</th><td>3 &amp; &quot;4&quot;</td>"));
    // Each chart's SVG inline, as it is.
    for s in &report.sections {
        let svg = s.svg.as_deref().unwrap();
        assert!(html.contains(svg.trim()), "{} is missing", s.heading);
    }
    assert_eq!(html.matches("<svg ").count(), report.sections.len());
    assert_eq!(html.matches("<section>").count(), report.sections.len());
    // Nothing to fetch: no links, sources, imports or URLs but the SVG namespace.
    let lower = html.to_ascii_lowercase();
    for outside in [
        "<link", "src=", "href=", "@import", "url(", "<script", "<iframe",
    ] {
        assert!(!lower.contains(outside), "{outside}");
    }
    let urls = lower.matches("http").count();
    assert_eq!(
        urls,
        lower
            .matches("xmlns=\"http://www.w3.org/2000/svg\"")
            .count()
    );
    // Deterministic.
    assert_eq!(html_page(&report).unwrap(), html);
}

#[test]
fn svg_with_scripts_is_refused() {
    let mut report = sample();
    report.sections[1].svg = Some("<svg onload=\"alert(1)\"></svg>".into());
    let err = html_page(&report).unwrap_err();
    assert!(matches!(err, PlotError::Invalid { .. }));
    assert!(err.to_string().contains("Chart <scatter>"), "{err}");
    report.sections[1].svg = Some("<svg><script>alert(1)</script></svg>".into());
    assert!(html_page(&report).is_err());
    report.sections[1].svg = Some("<p>not svg</p>".into());
    assert!(html_page(&report).is_err());
}

#[test]
fn minimal_reports() {
    let html = html_page(&Report::default()).unwrap();
    assert!(html.contains("<title>Report</title>"));
    let report: Report = serde_json::from_str(
        r#"{"title": "Run", "sections": [{"heading": "Numbers", "table": [["BLEU", "3.95"]]}]}"#,
    )
    .unwrap();
    let html = html_page(&report).unwrap();
    assert!(html.contains("<th>BLEU</th><td>3.95</td>") && !html.contains("<figure>"));
}
