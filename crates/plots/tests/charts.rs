//! The charts' SVG: well formed, every point drawn once, labels present, errors that name the
//! offending series, deterministic output.

#![cfg(not(target_family = "wasm"))]

mod common;

use roxmltree::{Document, Node};
use xlingo_plots::*;

fn parse(svg: &str) -> Document<'_> {
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc
}

fn elements<'a>(doc: &'a Document<'a>, tag: &'a str) -> impl Iterator<Item = Node<'a, 'a>> + 'a {
    doc.descendants()
        .filter(move |n| n.is_element() && n.tag_name().name() == tag)
}

fn count(doc: &Document<'_>, tag: &str) -> usize {
    elements(doc, tag).count()
}

fn texts(doc: &Document<'_>) -> Vec<String> {
    elements(doc, "text")
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

fn has_text(doc: &Document<'_>, s: &str) -> bool {
    texts(doc).iter().any(|t| t == s)
}

fn attr_i(n: &Node<'_, '_>, a: &str) -> i32 {
    n.attribute(a).unwrap().parse().unwrap()
}

/// Circles (markers) filled with `colour`.
fn circles_of(doc: &Document<'_>, colour: &str) -> usize {
    elements(doc, "circle")
        .filter(|n| n.attribute("fill") == Some(colour))
        .count()
}

fn size_of(doc: &Document<'_>) -> (u32, u32) {
    let r = doc.root_element();
    (
        r.attribute("width").unwrap().parse().unwrap(),
        r.attribute("height").unwrap().parse().unwrap(),
    )
}

#[test]
fn line_chart_draws_every_point_and_its_labels() {
    let chart = common::line();
    let svg = line_chart(&chart).unwrap();
    let doc = parse(&svg);
    assert_eq!(size_of(&doc), (800, 480));
    // One marker per point, plus one per legend entry.
    let points: usize = chart.series.iter().map(|s| s.points.len()).sum();
    assert_eq!(count(&doc, "circle"), points + chart.series.len());
    for (i, s) in chart.series.iter().enumerate() {
        assert_eq!(
            circles_of(&doc, PALETTE[i]),
            s.points.len() + 1,
            "{}",
            s.name
        );
        assert!(has_text(&doc, &s.name), "legend entry {}", s.name);
    }
    for label in [&chart.title, &chart.x_label, &chart.y_label] {
        assert!(has_text(&doc, label), "{label}");
    }
    // Integer x ticks over layers 0–4, y ticks over the fixed range.
    for tick in ["0", "1", "2", "3", "4", "0.0", "1.0"] {
        assert!(has_text(&doc, tick), "tick {tick}");
    }
    assert!(
        !has_text(&doc, "0.5") || !has_text(&doc, "1.5"),
        "no fractional layers"
    );
    // The dashed series is drawn in pieces.
    let dashes = elements(&doc, "polyline")
        .filter(|n| n.attribute("stroke") == Some(PALETTE[1]))
        .count();
    assert!(dashes > 5, "{dashes} pieces");
}

#[test]
fn markers_follow_the_option_and_the_fixed_range() {
    let mut chart = common::line();
    chart.markers = Some(false);
    let doc_svg = line_chart(&chart).unwrap();
    assert_eq!(count(&parse(&doc_svg), "circle"), 0);
    // Long series get no markers by default.
    chart.markers = None;
    chart.series[0].points = (0..200).map(|i| (f64::from(i), 0.5)).collect();
    let svg = line_chart(&chart).unwrap();
    assert_eq!(circles_of(&parse(&svg), PALETTE[0]), 0);
    // Points outside a fixed y range are clipped away, not drawn on the margin.
    let mut chart = common::line();
    chart.y_range = Some(ValueRange { min: 0.0, max: 0.5 });
    let svg = line_chart(&chart).unwrap();
    let doc = parse(&svg);
    let inside: usize = chart
        .series
        .iter()
        .flat_map(|s| &s.points)
        .filter(|p| p.1 <= 0.5)
        .count();
    assert_eq!(count(&doc, "circle"), inside + chart.series.len());
    let top = elements(&doc, "circle")
        .map(|n| attr_i(&n, "cy"))
        .min()
        .unwrap();
    for line in elements(&doc, "polyline") {
        for p in line.attribute("points").unwrap().split_whitespace() {
            let y: i32 = p.split(',').nth(1).unwrap().parse().unwrap();
            assert!(y >= top - 60, "a line leaves the plot: y = {y}");
        }
    }
}

#[test]
fn log_x_and_many_series() {
    let series: Vec<LineSeries> = (0..10)
        .map(|i| LineSeries {
            name: format!("series {i}"),
            points: vec![
                (10.0, f64::from(i)),
                (1000.0, f64::from(i) + 1.0),
                (1e5, f64::from(i) + 1.5),
            ],
            ..Default::default()
        })
        .collect();
    let chart = LineChart {
        title: "ten".into(),
        series,
        log_x: true,
        ..Default::default()
    };
    let svg = line_chart(&chart).unwrap();
    let doc = parse(&svg);
    for tick in ["10", "100", "1k", "10k", "100k"] {
        assert!(has_text(&doc, tick), "log tick {tick}");
    }
    // Eight colours as circles, then the ninth and tenth series in the next shape.
    assert_eq!(count(&doc, "circle"), 8 * 4);
    for i in 0..10 {
        assert!(has_text(&doc, &format!("series {i}")));
    }
}

#[test]
fn nan_and_infinity_name_the_series() {
    let mut chart = common::line();
    chart.series[1].points[2].1 = f64::NAN;
    let err = line_chart(&chart).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PlotError::NotFinite { .. }), "{err:?}");
    assert!(
        msg.contains("\"en–sw\"") && msg.contains("point 2") && msg.contains("NaN"),
        "{msg}"
    );

    let mut panels = common::scatter();
    panels.panels[1].groups[0].points[0].0 = f64::INFINITY;
    let msg = scatter_panels(&panels).unwrap_err().to_string();
    assert!(
        msg.contains("\"layer 6\"") && msg.contains("\"es\"") && msg.contains("inf"),
        "{msg}"
    );

    let mut bars = common::bars();
    bars.groups[0].values[1] = f64::NAN;
    let msg = bar_chart(&bars).unwrap_err().to_string();
    assert!(
        msg.contains("\"before\"") && msg.contains("\"de\""),
        "{msg}"
    );

    let mut scaling = common::scaling();
    scaling.series[1].band.as_mut().unwrap()[0].upper = f64::NEG_INFINITY;
    let msg = scaling_chart(&scaling).unwrap_err().to_string();
    assert!(
        msg.contains("\"sw\"") && msg.contains("band point 0"),
        "{msg}"
    );

    let mut fixed = common::line();
    fixed.y_range = Some(ValueRange {
        min: 0.0,
        max: f64::NAN,
    });
    assert!(
        line_chart(&fixed)
            .unwrap_err()
            .to_string()
            .contains("y_range")
    );
}

#[test]
fn empty_input_is_an_error() {
    assert!(matches!(
        line_chart(&LineChart::default()),
        Err(PlotError::Empty { .. })
    ));
    let mut chart = common::line();
    chart.series[0].points.clear();
    let msg = line_chart(&chart).unwrap_err().to_string();
    assert!(
        msg.contains("en–es") && msg.contains("nothing to plot"),
        "{msg}"
    );

    assert!(matches!(
        scatter_panels(&ScatterPanels::default()),
        Err(PlotError::Empty { .. })
    ));
    let mut panels = common::scatter();
    panels.panels[2].groups.clear();
    assert!(
        scatter_panels(&panels)
            .unwrap_err()
            .to_string()
            .contains("layer 12")
    );

    assert!(matches!(
        bar_chart(&BarChart::default()),
        Err(PlotError::Empty { .. })
    ));
    let mut bars = common::bars();
    bars.groups.clear();
    assert!(matches!(bar_chart(&bars), Err(PlotError::Empty { .. })));

    assert!(matches!(
        scaling_chart(&ScalingChart::default()),
        Err(PlotError::Empty { .. })
    ));
    let mut scaling = common::scaling();
    scaling.series[0].observed.clear();
    scaling.series[0].fit.clear();
    assert!(
        scaling_chart(&scaling)
            .unwrap_err()
            .to_string()
            .contains("\"es\"")
    );
}

#[test]
fn mismatched_and_invalid_input() {
    let mut bars = common::bars();
    bars.groups[1].values.pop();
    let err = bar_chart(&bars).unwrap_err();
    assert_eq!(
        err,
        PlotError::LengthMismatch {
            field: "group \"after\", values".into(),
            expected: 3,
            found: 2
        }
    );
    let mut bars = common::bars();
    bars.groups[1].errors.as_mut().unwrap().push(None);
    assert!(bar_chart(&bars).unwrap_err().to_string().contains("errors"));
    let mut bars = common::bars();
    bars.groups[1].errors.as_mut().unwrap()[0] = Some(ValueRange { min: 5.0, max: 1.0 });
    assert!(
        bar_chart(&bars)
            .unwrap_err()
            .to_string()
            .contains("error bar")
    );

    let mut panels = common::scatter();
    panels.panels[0].groups[1].labels.as_mut().unwrap().pop();
    let msg = scatter_panels(&panels).unwrap_err().to_string();
    assert!(msg.contains("labels") && msg.contains("\"es\""), "{msg}");

    let mut chart = common::line();
    chart.log_x = true;
    let msg = line_chart(&chart).unwrap_err().to_string();
    assert!(msg.contains("en–es") && msg.contains("log"), "{msg}");

    let mut scaling = common::scaling();
    let b = &mut scaling.series[0].band.as_mut().unwrap()[1];
    std::mem::swap(&mut b.lower, &mut b.upper);
    assert!(
        scaling_chart(&scaling)
            .unwrap_err()
            .to_string()
            .contains("lower")
    );

    let mut chart = common::line();
    chart.size = Some(Size {
        width: 50,
        height: 40,
    });
    assert!(
        line_chart(&chart)
            .unwrap_err()
            .to_string()
            .contains("too small")
    );
    chart.y_range = Some(ValueRange { min: 1.0, max: 1.0 });
    chart.size = None;
    assert!(
        line_chart(&chart)
            .unwrap_err()
            .to_string()
            .contains("y_range")
    );
}

#[test]
fn scatter_panels_share_colours_and_legend() {
    let chart = common::scatter();
    let svg = scatter_panels(&chart).unwrap();
    let doc = parse(&svg);
    let points: usize = chart
        .panels
        .iter()
        .flat_map(|p| &p.groups)
        .map(|g| g.points.len())
        .sum();
    let names = ["en", "es", "de"];
    // One marker per point and one per legend entry.
    assert_eq!(count(&doc, "circle"), points + names.len());
    // A group has its colour wherever it is: en 3 + 3 points, es 2 + 2, de 1 + 2.
    assert_eq!(circles_of(&doc, PALETTE[0]), 6 + 1);
    assert_eq!(circles_of(&doc, PALETTE[1]), 4 + 1);
    assert_eq!(circles_of(&doc, PALETTE[2]), 3 + 1);
    for t in [
        "PCA by layer",
        "PC1",
        "PC2",
        "layer 0",
        "layer 6",
        "layer 12",
        "en",
        "es",
        "de",
    ] {
        assert!(has_text(&doc, t), "{t}");
    }
    // Point labels are off by default, on when asked.
    assert!(!has_text(&doc, "en0"));
    let with_labels = scatter_panels(&ScatterPanels {
        show_labels: true,
        ..chart.clone()
    })
    .unwrap();
    let doc2 = parse(&with_labels);
    assert!(has_text(&doc2, "en0") && has_text(&doc2, "de1"));
    // The chart grows with the grid.
    let (w3, h3) = size_of(&doc);
    let two_columns = scatter_panels(&ScatterPanels {
        columns: Some(2),
        ..chart.clone()
    })
    .unwrap();
    let (w2, h2) = size_of(&parse(&two_columns));
    assert!(w2 < w3 && h2 > h3, "{w2}×{h2} vs {w3}×{h3}");
}

#[test]
fn bar_chart_bars_error_bars_and_values() {
    let chart = common::bars();
    let svg = bar_chart(&chart).unwrap();
    let doc = parse(&svg);
    for (i, g) in chart.groups.iter().enumerate() {
        let bars = elements(&doc, "rect")
            .filter(|n| n.attribute("fill") == Some(PALETTE[i]))
            .count();
        // One bar per category and one legend swatch.
        assert_eq!(bars, g.values.len() + 1, "{}", g.name);
        assert!(has_text(&doc, &g.name));
    }
    for t in [
        "es",
        "de",
        "sw",
        "BLEU",
        "language",
        "BLEU before and after",
        "0.85",
        "3.95",
        "0.6",
    ] {
        assert!(has_text(&doc, t), "{t}");
    }
    // Two error bars, each a vertical line and two caps.
    let error_lines = elements(&doc, "polyline")
        .filter(|n| n.attribute("stroke") == Some("#222222"))
        .count();
    assert_eq!(error_lines, 2 * 3);
    let quiet = bar_chart(&BarChart {
        show_values: false,
        ..chart
    })
    .unwrap();
    assert!(!has_text(&parse(&quiet), "3.95"));
}

#[test]
fn bar_chart_long_names_and_negative_values() {
    let chart = BarChart {
        title: "Speed".into(),
        y_label: "tok/s".into(),
        categories: vec![
            "an engine with a rather long descriptive name".into(),
            "llama.cpp".into(),
            "x".repeat(80),
        ],
        groups: vec![BarGroup {
            name: "decode".into(),
            values: vec![-3.0, 89.1, 12.0],
            ..Default::default()
        }],
        show_values: true,
        ..Default::default()
    };
    let svg = bar_chart(&chart).unwrap();
    let doc = parse(&svg);
    // A single group needs no legend.
    assert!(!has_text(&doc, "decode"));
    assert!(
        texts(&doc).iter().any(|t| t.ends_with('…')),
        "the long name is cut"
    );
    assert!(has_text(&doc, "−3"));
}

#[test]
fn scaling_chart_has_bands_fits_and_points() {
    let chart = common::scaling();
    let svg = scaling_chart(&chart).unwrap();
    let doc = parse(&svg);
    for (i, s) in chart.series.iter().enumerate() {
        let bands: Vec<_> = elements(&doc, "polygon")
            .filter(|n| n.attribute("fill") == Some(PALETTE[i]))
            .collect();
        assert_eq!(bands.len(), 1, "one band for {}", s.name);
        let opacity: f64 = bands[0].attribute("opacity").unwrap().parse().unwrap();
        assert!(opacity > 0.0 && opacity < 0.5, "translucent: {opacity}");
        let corners = bands[0]
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .count();
        assert!(corners >= 2 * s.band.as_ref().unwrap().len(), "{corners}");
        // Observed points and the legend's marker.
        assert_eq!(circles_of(&doc, PALETTE[i]), s.observed.len() + 1);
        let fit_lines = elements(&doc, "polyline")
            .filter(|n| n.attribute("stroke") == Some(PALETTE[i]))
            .count();
        assert!(fit_lines >= 1);
        assert!(has_text(&doc, &s.name));
    }
    for t in [
        "95% confidence band",
        "examples",
        "chrF",
        "100",
        "1k",
        "10k",
    ] {
        assert!(has_text(&doc, t), "{t}");
    }
    // The band is drawn under the points: every polygon comes before the first circle.
    let order: Vec<&str> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    let last_polygon = order.iter().rposition(|t| *t == "polygon").unwrap();
    let first_circle = order.iter().position(|t| *t == "circle").unwrap();
    assert!(last_polygon < first_circle);
}

/// Whether the segment a–b passes through the open rectangle `r` (left, top, right, bottom).
fn crosses(a: (f64, f64), b: (f64, f64), r: (f64, f64, f64, f64)) -> bool {
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    for (p, q) in [
        (-dx, a.0 - r.0),
        (dx, r.2 - a.0),
        (-dy, a.1 - r.1),
        (dy, r.3 - a.1),
    ] {
        if p == 0.0 {
            if q <= 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    t0 < t1
}

fn points_of(n: &Node<'_, '_>) -> Vec<(f64, f64)> {
    n.attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_legend_keeps_off_the_data() {
    let mut framed = 0;
    for ((name, svg), legend_markers) in common::rendered().into_iter().zip([2, 0, 0, 2]) {
        let doc = parse(&svg);
        // A legend inside the plot is framed: the rectangle with the legend's border colour.
        let Some(frame) = elements(&doc, "rect").find(|n| n.attribute("stroke") == Some("#CCCCCC"))
        else {
            continue;
        };
        framed += 1;
        let (x, y) = (
            f64::from(attr_i(&frame, "x")),
            f64::from(attr_i(&frame, "y")),
        );
        let (w, h) = (
            f64::from(attr_i(&frame, "width")),
            f64::from(attr_i(&frame, "height")),
        );
        let r = (x, y, x + w, y + h);
        let inside = |p: (f64, f64)| p.0 > r.0 && p.0 < r.2 && p.1 > r.1 && p.1 < r.3;
        // The only markers inside are the legend's own swatches.
        let markers_inside = elements(&doc, "circle")
            .filter(|n| inside((f64::from(attr_i(n, "cx")), f64::from(attr_i(n, "cy")))))
            .count();
        assert_eq!(
            markers_inside, legend_markers,
            "{name}: markers under the legend"
        );
        // No line, band or bar of the data passes under it (the swatches lie wholly inside).
        for n in elements(&doc, "polyline").chain(elements(&doc, "polygon")) {
            let pts = points_of(&n);
            if pts.iter().all(|&p| inside(p)) {
                continue;
            }
            for seg in pts.windows(2) {
                assert!(
                    !crosses(seg[0], seg[1], r),
                    "{name}: {seg:?} crosses the legend {r:?}"
                );
            }
        }
        for n in
            elements(&doc, "rect").filter(|n| PALETTE.contains(&n.attribute("fill").unwrap_or("")))
        {
            let (bx, by) = (f64::from(attr_i(&n, "x")), f64::from(attr_i(&n, "y")));
            let (bw, bh) = (
                f64::from(attr_i(&n, "width")),
                f64::from(attr_i(&n, "height")),
            );
            let swatch = inside((bx + 0.5, by + 0.5)) && inside((bx + bw - 0.5, by + bh - 0.5));
            let apart = bx + bw <= r.0 || bx >= r.2 || by + bh <= r.1 || by >= r.3;
            assert!(swatch || apart, "{name}: a bar under the legend");
        }
    }
    assert!(
        framed >= 2,
        "the samples should have legends inside the plot"
    );
}

#[test]
fn output_is_deterministic_and_survives_json() {
    let first = common::rendered();
    let second = common::rendered();
    assert_eq!(first, second);
    // The same charts built from JSON (as the CLI and the web app do) draw the same bytes.
    let line: LineChart =
        serde_json::from_str(&serde_json::to_string(&common::line()).unwrap()).unwrap();
    assert_eq!(line_chart(&line).unwrap(), first[0].1);
    let scatter: ScatterPanels =
        serde_json::from_str(&serde_json::to_string(&common::scatter()).unwrap()).unwrap();
    assert_eq!(scatter_panels(&scatter).unwrap(), first[1].1);
    let bars: BarChart =
        serde_json::from_str(&serde_json::to_string(&common::bars()).unwrap()).unwrap();
    assert_eq!(bar_chart(&bars).unwrap(), first[2].1);
    let scaling: ScalingChart =
        serde_json::from_str(&serde_json::to_string(&common::scaling()).unwrap()).unwrap();
    assert_eq!(scaling_chart(&scaling).unwrap(), first[3].1);
}

#[test]
fn json_input_is_compact_and_lenient() {
    let chart: LineChart = serde_json::from_str(
        r#"{"title": "Loss", "x_label": "step", "y_label": "loss",
            "series": [{"name": "train", "points": [[0, 3.7], [50, 2.9], [100, 2.6]]},
                       {"name": "validation", "points": [[0, 3.8], [100, 2.7]], "dashed": true}]}"#,
    )
    .unwrap();
    let doc_svg = line_chart(&chart).unwrap();
    assert!(has_text(&parse(&doc_svg), "validation"));
    // A band straight from `xlingo scaling fit` (extra fields ignored); log x by default.
    let chart: ScalingChart = serde_json::from_str(
        r#"{"series": [{"name": "es", "observed": [[100, 10], [1000, 20]],
            "band": [{"x": 100, "y": 10, "std_error": 1, "lower": 8, "upper": 12,
                      "prediction_lower": 6, "prediction_upper": 14},
                     {"x": 1000, "y": 20, "std_error": 1, "lower": 18, "upper": 22,
                      "prediction_lower": 16, "prediction_upper": 24}]}]}"#,
    )
    .unwrap();
    assert!(chart.log_x);
    let doc_svg = scaling_chart(&chart).unwrap();
    assert_eq!(count(&parse(&doc_svg), "polygon"), 1);
}

#[test]
fn hostile_text_stays_text() {
    let mut chart = common::line();
    chart.title = "<script>alert(1)</script> & \"quotes\" \u{0}\u{7}bell".into();
    chart.series[0].name = "日本語 – Ελληνικά – العربية".into();
    let svg = line_chart(&chart).unwrap();
    let doc = parse(&svg);
    assert!(!svg.contains("<script"));
    assert!(has_text(
        &doc,
        "<script>alert(1)</script> & \"quotes\" bell"
    ));
    assert!(has_text(&doc, "日本語 – Ελληνικά – العربية"));
}
