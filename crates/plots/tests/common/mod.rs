//! Small sample charts shared by the native tests and the wasm32 test.
#![allow(dead_code)]

use xlingo_plots::*;

pub fn line() -> LineChart {
    LineChart {
        title: "Retrieval accuracy by layer".into(),
        x_label: "layer".into(),
        y_label: "top-1 accuracy".into(),
        series: vec![
            LineSeries {
                name: "en–es".into(),
                points: vec![(0.0, 0.2), (1.0, 0.45), (2.0, 0.7), (3.0, 0.8), (4.0, 0.78)],
                ..Default::default()
            },
            LineSeries {
                name: "en–sw".into(),
                points: vec![(0.0, 0.1), (1.0, 0.2), (2.0, 0.35), (3.0, 0.4), (4.0, 0.38)],
                dashed: true,
                ..Default::default()
            },
        ],
        y_range: Some(ValueRange { min: 0.0, max: 1.0 }),
        integer_x: true,
        ..Default::default()
    }
}

pub fn scatter() -> ScatterPanels {
    let group = |name: &str, pts: &[(f64, f64)]| ScatterGroup {
        name: name.into(),
        points: pts.to_vec(),
        labels: Some((0..pts.len()).map(|i| format!("{name}{i}")).collect()),
    };
    ScatterPanels {
        title: "PCA by layer".into(),
        x_label: "PC1".into(),
        y_label: "PC2".into(),
        panels: vec![
            ScatterPanel {
                title: "layer 0".into(),
                groups: vec![
                    group("en", &[(0.0, 0.0), (0.5, 0.2), (0.1, 0.4)]),
                    group("es", &[(2.0, 1.0), (2.4, 1.3)]),
                ],
            },
            ScatterPanel {
                title: "layer 6".into(),
                // The other order: colours must follow the names, not the positions.
                groups: vec![
                    group("es", &[(-1.0, 0.0), (-1.2, 0.3)]),
                    group("en", &[(1.0, 0.5), (1.1, 0.2), (0.9, 0.1)]),
                    group("de", &[(0.0, -1.0)]),
                ],
            },
            ScatterPanel {
                title: "layer 12".into(),
                groups: vec![group("de", &[(3.0, 3.0), (3.5, 2.5)])],
            },
        ],
        ..Default::default()
    }
}

pub fn bars() -> BarChart {
    BarChart {
        title: "BLEU before and after".into(),
        x_label: "language".into(),
        y_label: "BLEU".into(),
        categories: vec!["es".into(), "de".into(), "sw".into()],
        groups: vec![
            BarGroup {
                name: "before".into(),
                values: vec![0.85, 1.2, 0.1],
                ..Default::default()
            },
            BarGroup {
                name: "after".into(),
                values: vec![3.95, 3.1, 0.6],
                errors: Some(vec![
                    Some(ValueRange { min: 3.5, max: 4.3 }),
                    None,
                    Some(ValueRange { min: 0.4, max: 0.9 }),
                ]),
                ..Default::default()
            },
        ],
        show_values: true,
        ..Default::default()
    }
}

pub fn scaling() -> ScalingChart {
    let series = |name: &str, scale: f64| {
        let law = |x: f64| scale * (1.0 - (x / 50.0f64).powf(-0.4));
        let xs = [100.0, 300.0, 1000.0, 3000.0, 10000.0];
        ScalingSeries {
            name: name.into(),
            observed: xs.iter().map(|&x| (x, law(x) + 0.3)).collect(),
            fit: (0..=20)
                .map(|k| 10f64.powf(2.0 + 2.0 * f64::from(k) / 20.0))
                .map(|x| (x, law(x)))
                .collect(),
            band: Some(
                xs.iter()
                    .map(|&x| BandPoint {
                        x,
                        lower: law(x) - 1.0,
                        upper: law(x) + 1.0,
                    })
                    .collect(),
            ),
            color: None,
        }
    };
    ScalingChart {
        title: "chrF against data size".into(),
        x_label: "examples".into(),
        y_label: "chrF".into(),
        series: vec![series("es", 40.0), series("sw", 25.0)],
        band_label: Some("95% confidence band".into()),
        ..Default::default()
    }
}

/// Every sample, rendered: (file stem, SVG).
pub fn rendered() -> Vec<(&'static str, String)> {
    vec![
        ("line", line_chart(&line()).expect("line chart")),
        (
            "scatter",
            scatter_panels(&scatter()).expect("scatter panels"),
        ),
        ("bars", bar_chart(&bars()).expect("bar chart")),
        ("scaling", scaling_chart(&scaling()).expect("scaling chart")),
    ]
}
