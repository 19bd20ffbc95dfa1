//! Odd but finite input never panics and still gives well-formed SVG.
#![cfg(not(target_family = "wasm"))]

mod common;

use xlingo_plots::*;

fn well_formed(svg: &str) {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
}

#[test]
fn extreme_values_draw_or_fail_cleanly() {
    let cases: Vec<Vec<(f64, f64)>> = vec![
        vec![(0.0, 0.0)],
        vec![(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)],
        vec![(0.0, 1e300), (1.0, -1e300)],
        vec![(0.0, f64::MAX), (1.0, f64::MIN)],
        vec![(1e-300, 1e-300), (2e-300, 3e-300)],
        vec![(1e15, 1e15 + 1.0), (1e15 + 2.0, 1e15)],
        vec![(-5.0, 1e-9), (5.0, 2e-9)],
        vec![(0.0, 1e6), (1e9, 1e12)],
        vec![(f64::MIN_POSITIVE, 0.0), (f64::MAX, 1.0)],
    ];
    for points in cases {
        for log_x in [false, true] {
            let line = LineChart {
                title: "extreme".into(),
                series: vec![LineSeries {
                    name: "s".into(),
                    points: points.clone(),
                    ..Default::default()
                }],
                log_x,
                integer_x: !log_x,
                ..Default::default()
            };
            match line_chart(&line) {
                Ok(svg) => well_formed(&svg),
                Err(e) => assert!(log_x && e.to_string().contains("log"), "{points:?}: {e}"),
            }
            let scaling = ScalingChart {
                series: vec![ScalingSeries {
                    name: "s".into(),
                    observed: points.clone(),
                    fit: points.clone(),
                    ..Default::default()
                }],
                log_x,
                ..Default::default()
            };
            if let Ok(svg) = scaling_chart(&scaling) {
                well_formed(&svg);
            }
        }
        let panels = ScatterPanels {
            panels: vec![ScatterPanel {
                title: "p".into(),
                groups: vec![ScatterGroup {
                    name: "g".into(),
                    points: points.clone(),
                    labels: None,
                }],
            }],
            ..Default::default()
        };
        well_formed(&scatter_panels(&panels).unwrap());
        let bars = BarChart {
            categories: points.iter().map(|p| format!("{}", p.0)).collect(),
            groups: vec![BarGroup {
                name: "g".into(),
                values: points.iter().map(|p| p.1).collect(),
                ..Default::default()
            }],
            show_values: true,
            ..Default::default()
        };
        well_formed(&bar_chart(&bars).unwrap());
    }
}

#[test]
fn many_things_at_once() {
    // 300 categories, 45 scatter groups (colours and shapes cycle), 40 panels.
    let bars = BarChart {
        categories: (0..300).map(|i| format!("category number {i}")).collect(),
        groups: (0..3)
            .map(|g| BarGroup {
                name: format!("g{g}"),
                values: (0..300).map(|i| f64::from(i * (g + 1))).collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    well_formed(&bar_chart(&bars).unwrap());
    let panel = |p: usize| ScatterPanel {
        title: format!("layer {p}"),
        groups: (0..45)
            .map(|g| ScatterGroup {
                name: format!("lang{g}"),
                points: vec![(g as f64, p as f64), (g as f64 + 0.5, -(p as f64))],
                labels: None,
            })
            .collect(),
    };
    let panels = ScatterPanels {
        panels: (0..40).map(panel).collect(),
        panel_size: Some(Size {
            width: 200,
            height: 150,
        }),
        ..Default::default()
    };
    let svg = scatter_panels(&panels).unwrap();
    well_formed(&svg);
    // Every point has a marker: circles, squares, triangles, diamonds…
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let markers = doc
        .descendants()
        .filter(|n| n.attribute("opacity") == Some("0.85"))
        .count();
    assert_eq!(markers, 40 * 45 * 2);
    // A grid too large to draw is an error, not a 100 MB string.
    let huge = ScatterPanels {
        panels: (0..400).map(panel).collect(),
        ..Default::default()
    };
    assert!(
        scatter_panels(&huge)
            .unwrap_err()
            .to_string()
            .contains("too large")
    );
}
