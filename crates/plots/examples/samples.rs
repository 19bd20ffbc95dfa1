//! Writes sample charts and a report to a directory (default: a fresh one under the system
//! temp dir), to look at them:
//!
//! ```sh
//! cargo run -p xlingo-plots --example samples -- /tmp/xlingo-plots
//! ```

use std::path::PathBuf;

use xlingo_plots::report::{Report, Section, html_page};
use xlingo_plots::*;

/// A small deterministic generator (no dependency): uniform in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal (sum of uniforms).
    fn normal(&mut self) -> f64 {
        (0..6).map(|_| self.next()).sum::<f64>() - 3.0
    }
}

fn similarity() -> LineChart {
    let langs = [
        ("en–es", 0.92, 0.05),
        ("en–de", 0.9, 0.06),
        ("en–zh", 0.78, 0.12),
        ("en–sw", 0.64, 0.2),
    ];
    let mut series: Vec<LineSeries> = langs
        .iter()
        .map(|&(name, peak, drop)| LineSeries {
            name: name.into(),
            points: (0..=30)
                .map(|l| {
                    let t = f64::from(l) / 30.0;
                    let y = 0.35 + (peak - 0.35) * (1.0 - (-(t * 6.0)).exp()) - drop * t * t;
                    (f64::from(l), y)
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    series.push(LineSeries {
        name: "random pairs".into(),
        points: (0..=30)
            .map(|l| (f64::from(l), 0.18 + 0.002 * f64::from(l)))
            .collect(),
        dashed: true,
        color: Some(6),
    });
    LineChart {
        title: "Cross-lingual similarity of sentence representations by layer".into(),
        x_label: "layer".into(),
        y_label: "mean cosine similarity".into(),
        series,
        y_range: Some(ValueRange { min: 0.0, max: 1.0 }),
        integer_x: true,
        ..Default::default()
    }
}

fn loss() -> LineChart {
    let mut rng = Lcg(7);
    let train: Vec<(f64, f64)> = (0..=150)
        .map(|s| {
            let s = f64::from(s);
            (s, 2.45 + 1.3 * (-s / 35.0).exp() + 0.08 * rng.normal())
        })
        .collect();
    let valid: Vec<(f64, f64)> = [0.0f64, 25.0, 50.0, 75.0, 100.0, 125.0, 150.0]
        .iter()
        .map(|&s| (s, 2.54 + 1.19 * (-s / 40.0).exp()))
        .collect();
    LineChart {
        title: "CoIT LoRA, SmolLM2-135M, en→es".into(),
        x_label: "step".into(),
        y_label: "loss (nats/token)".into(),
        series: vec![
            LineSeries {
                name: "train".into(),
                points: train,
                ..Default::default()
            },
            LineSeries {
                name: "validation".into(),
                points: valid,
                dashed: true,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn pca() -> ScatterPanels {
    let mut rng = Lcg(42);
    let langs = ["en", "es", "de", "zh", "sw", "ar"];
    let panels = [0, 6, 12, 18, 24, 30]
        .iter()
        .map(|&layer| {
            let spread = 1.0 - f64::from(layer) / 40.0;
            ScatterPanel {
                title: format!("layer {layer}"),
                groups: langs
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let a = i as f64 * 1.05;
                        let (cx, cy) = (3.0 * spread * a.cos(), 2.0 * spread * a.sin());
                        let points: Vec<(f64, f64)> = (0..15)
                            .map(|_| (cx + 0.45 * rng.normal(), cy + 0.4 * rng.normal()))
                            .collect();
                        ScatterGroup {
                            name: (*l).into(),
                            labels: Some((0..points.len()).map(|k| format!("{l}{k}")).collect()),
                            points,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    ScatterPanels {
        title: "PCA of mean-pooled hidden states (FLORES devtest, 15 sentences per language)"
            .into(),
        x_label: "PC1".into(),
        y_label: "PC2".into(),
        panels,
        columns: Some(3),
        ..Default::default()
    }
}

fn bench() -> BarChart {
    let r = |min: f64, max: f64| Some(ValueRange { min, max });
    BarChart {
        title: "Throughput on 2 CPU cores (SmolLM2-135M Q4_1)".into(),
        y_label: "tokens per second".into(),
        categories: vec![
            "xlingo WGSL engine (lavapipe)".into(),
            "xlingo burn reference (CPU)".into(),
            "llama.cpp (CPU)".into(),
        ],
        groups: vec![
            BarGroup {
                name: "prefill".into(),
                values: vec![2.4, 52.2, 213.7],
                errors: Some(vec![r(2.2, 2.6), r(49.0, 55.1), r(205.0, 220.3)]),
                ..Default::default()
            },
            BarGroup {
                name: "decode".into(),
                values: vec![1.5, 10.2, 89.1],
                errors: Some(vec![r(1.4, 1.6), r(9.6, 10.9), None]),
                ..Default::default()
            },
        ],
        show_values: true,
        ..Default::default()
    }
}

fn bleu() -> BarChart {
    let langs = ["es", "de", "fr", "zh", "ar", "sw", "hi", "ru"];
    let before = [0.85, 1.1, 1.4, 0.3, 0.2, 0.1, 0.4, 0.9];
    let after = [3.95, 3.1, 4.4, 1.2, 0.9, 0.6, 1.5, 2.8];
    BarChart {
        title: "BLEU on 20 held-out verses, before and after CoIT".into(),
        x_label: "target language".into(),
        y_label: "BLEU".into(),
        categories: langs.iter().map(|s| s.to_string()).collect(),
        groups: vec![
            BarGroup {
                name: "base model".into(),
                values: before.to_vec(),
                ..Default::default()
            },
            BarGroup {
                name: "after CoIT (LoRA)".into(),
                values: after.to_vec(),
                ..Default::default()
            },
        ],
        show_values: true,
        ..Default::default()
    }
}

fn scaling() -> ScalingChart {
    let mut rng = Lcg(3);
    let langs = [("es", 42.0, 0.45), ("de", 38.0, 0.42), ("sw", 24.0, 0.35)];
    let sizes = [100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0];
    let series = langs
        .iter()
        .map(|&(name, top, rate)| {
            let law = |x: f64| top * (1.0 - (x / 50.0f64).powf(-rate));
            let observed = sizes
                .iter()
                .map(|&x| (x, law(x) + 0.8 * rng.normal()))
                .collect();
            let xs: Vec<f64> = (0..=40)
                .map(|k| 10f64.powf(2.0 + 2.7 * f64::from(k) / 40.0))
                .collect();
            let fit = xs.iter().map(|&x| (x, law(x))).collect();
            let band = xs
                .iter()
                .map(|&x| {
                    let w = 0.8 + 0.9 * (x.log10() - 3.2).abs();
                    BandPoint {
                        x,
                        lower: law(x) - w,
                        upper: law(x) + w,
                    }
                })
                .collect();
            ScalingSeries {
                name: name.into(),
                observed,
                fit,
                band: Some(band),
                color: None,
            }
        })
        .collect();
    ScalingChart {
        title: "chrF against CoIT examples per language".into(),
        x_label: "training examples".into(),
        y_label: "chrF".into(),
        series,
        band_label: Some("95% confidence band".into()),
        ..Default::default()
    }
}

/// Awkward input: long, rotated category names and negative values.
fn edge_bars() -> BarChart {
    BarChart {
        title: "Change in chrF after tuning (a title long enough that it has to wrap onto a second line somewhere around here)".into(),
        y_label: "Δ chrF".into(),
        categories: vec![
            "Spanish (es)".into(),
            "Chinese, simplified (zh-Hans)".into(),
            "Swahili (sw)".into(),
            "Arabic (ar)".into(),
            "Supercalifragilisticexpialidocious".into(),
        ],
        groups: vec![
            BarGroup {
                name: "LoRA".into(),
                values: vec![4.2, -1.3, 2.2, 0.0, 12.5],
                ..Default::default()
            },
            BarGroup {
                name: "full fine-tuning".into(),
                values: vec![5.1, -0.4, 3.9, -2.2, 8.0],
                ..Default::default()
            },
            BarGroup {
                name: "Lens".into(),
                values: vec![3.3, 0.8, 1.1, 0.6, 9.1],
                ..Default::default()
            },
        ],
        show_values: true,
        ..Default::default()
    }
}

/// Many series: colours run out and marker shapes take over; the legend goes beside the plot.
fn edge_many() -> LineChart {
    let names = [
        "en",
        "es",
        "de",
        "fr",
        "zh",
        "ar",
        "sw",
        "hi",
        "ru",
        "ja",
        "日本語",
        "Ελληνικά",
    ];
    LineChart {
        title: "Twelve languages".into(),
        x_label: "layer".into(),
        y_label: "similarity".into(),
        series: names
            .iter()
            .enumerate()
            .map(|(i, n)| LineSeries {
                name: (*n).into(),
                points: (0..12)
                    .map(|l| (f64::from(l), 0.3 + 0.05 * i as f64 + 0.02 * f64::from(l)))
                    .collect(),
                ..Default::default()
            })
            .collect(),
        integer_x: true,
        ..Default::default()
    }
}

/// A small chart with point labels in its panels.
fn edge_labels() -> ScatterPanels {
    let mut p = pca();
    p.panels.truncate(2);
    for panel in &mut p.panels {
        for g in &mut panel.groups {
            g.points.truncate(3);
            if let Some(l) = &mut g.labels {
                l.truncate(3);
            }
        }
    }
    p.show_labels = true;
    p.columns = None;
    p.title = "Point labels".into();
    p
}

fn edge_small() -> LineChart {
    LineChart {
        size: Some(Size {
            width: 320,
            height: 200,
        }),
        ..loss()
    }
}

/// A narrow chart whose legend fits neither in a corner nor beside the plot.
fn edge_narrow() -> LineChart {
    let mut chart = loss();
    chart.size = Some(Size {
        width: 420,
        height: 320,
    });
    chart.series[0].name = "training loss (every step)".into();
    chart.series[1].name = "validation loss (5% held out)".into();
    chart.series[0].points[140].1 = 3.7;
    chart
}

/// Many categories: 40 languages, labels turned upwards.
fn edge_languages() -> BarChart {
    let mut rng = Lcg(11);
    let langs: Vec<String> = [
        "Afrikaans",
        "Amharic",
        "Arabic",
        "Bengali",
        "Bulgarian",
        "Catalan",
        "Chinese",
        "Czech",
        "Danish",
        "Dutch",
        "Estonian",
        "Finnish",
        "French",
        "German",
        "Greek",
        "Gujarati",
        "Hausa",
        "Hebrew",
        "Hindi",
        "Hungarian",
        "Icelandic",
        "Igbo",
        "Indonesian",
        "Italian",
        "Japanese",
        "Kannada",
        "Korean",
        "Latvian",
        "Lithuanian",
        "Malay",
        "Marathi",
        "Nepali",
        "Norwegian",
        "Persian",
        "Polish",
        "Portuguese",
        "Romanian",
        "Russian",
        "Swahili",
        "Yoruba",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let before: Vec<f64> = langs.iter().map(|_| 5.0 + 20.0 * rng.next()).collect();
    let after: Vec<f64> = before.iter().map(|b| b + 8.0 * rng.next()).collect();
    BarChart {
        title: "chrF on FLORES devtest, 40 languages".into(),
        y_label: "chrF".into(),
        categories: langs,
        groups: vec![
            BarGroup {
                name: "before".into(),
                values: before,
                ..Default::default()
            },
            BarGroup {
                name: "after".into(),
                values: after,
                ..Default::default()
            },
        ],
        size: Some(Size {
            width: 900,
            height: 420,
        }),
        ..Default::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("xlingo-plots-{}", std::process::id()))
        });
    std::fs::create_dir_all(&dir)?;
    let charts = [
        (
            "similarity",
            "Layer-wise similarity",
            line_chart(&similarity())?,
        ),
        ("loss", "Loss curves", line_chart(&loss())?),
        ("pca", "PCA per layer", scatter_panels(&pca())?),
        ("bench", "Speed", bar_chart(&bench())?),
        ("bleu", "BLEU before and after", bar_chart(&bleu())?),
        ("scaling", "Scaling", scaling_chart(&scaling())?),
        (
            "edge-bars",
            "Edge case: long names, negative values",
            bar_chart(&edge_bars())?,
        ),
        (
            "edge-many",
            "Edge case: twelve series",
            line_chart(&edge_many())?,
        ),
        (
            "edge-labels",
            "Edge case: point labels",
            scatter_panels(&edge_labels())?,
        ),
        (
            "edge-small",
            "Edge case: 320×200",
            line_chart(&edge_small())?,
        ),
        (
            "edge-languages",
            "Edge case: forty categories",
            bar_chart(&edge_languages())?,
        ),
        (
            "edge-narrow",
            "Edge case: legend underneath",
            line_chart(&edge_narrow())?,
        ),
    ];
    let mut sections = Vec::new();
    for (file, heading, svg) in charts {
        std::fs::write(dir.join(format!("{file}.svg")), &svg)?;
        sections.push(Section {
            heading: heading.into(),
            description: Some(format!("Sample data (`{file}.svg`).")),
            svg: Some(svg),
            table: vec![("file".into(), format!("{file}.svg"))],
        });
    }
    let report = Report {
        title: "xlingo-plots samples".into(),
        intro: Some("Every chart kind with made-up but plausible data.".into()),
        sections,
    };
    std::fs::write(dir.join("report.html"), html_page(&report)?)?;
    println!("{}", dir.display());
    Ok(())
}
