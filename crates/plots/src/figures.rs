//! xlingo's own figures, built from its JSON outputs (`xlingo analyze`, `lens probe`, training
//! metrics, `eval` summaries, `scaling fit`, `bench --json`), for the CLI (files and
//! `xlingo report`) and the web app's Results view alike. [`Outputs`] sorts a set of output
//! files by what they hold and draws every chart they support.

use serde_json::Value;
use xlingo_eval::repr::ReprAnalysis;

use crate::{
    BandPoint as PlotBand, BarChart, BarGroup, LineChart, LineSeries, PlotError, ScalingChart,
    ScalingSeries, ScatterGroup, ScatterPanel, ScatterPanels, ValueRange, bar_chart, line_chart,
    scaling_chart, scatter_panels,
};

/// One chart: its file name, a caption for the report, and the SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub file: String,
    pub title: String,
    pub description: String,
    pub svg: String,
}

fn figure(
    file: &str,
    title: &str,
    description: String,
    svg: Result<String, PlotError>,
) -> Result<Figure, PlotError> {
    Ok(Figure {
        file: file.to_string(),
        title: title.to_string(),
        description,
        svg: svg?,
    })
}

/// Up to `n` layers spread evenly from the first to the last.
fn spread(layers: &[usize], n: usize) -> Vec<usize> {
    if layers.len() <= n {
        return layers.to_vec();
    }
    let mut picked: Vec<usize> = (0..n)
        .map(|i| layers[i * (layers.len() - 1) / (n - 1)])
        .collect();
    picked.dedup();
    picked
}

fn curve(
    analysis: &ReprAnalysis,
    f: impl Fn(&xlingo_eval::repr::LayerAnalysis) -> f64,
) -> Vec<(f64, f64)> {
    analysis
        .layers
        .iter()
        .map(|l| (l.layer as f64, f(l)))
        .collect()
}

/// similarity.svg (mean cosine of translations per layer, raw and centred, both poolings),
/// similarity-pairs.svg (centred cosine of the first language with each other one),
/// retrieval.svg, pca.svg.
pub fn repr_figures(
    by_mean: &ReprAnalysis,
    by_last: &ReprAnalysis,
) -> Result<Vec<Figure>, PlotError> {
    let mut figures = Vec::new();
    let line = |name: &str, points, color, dashed| LineSeries {
        name: name.to_string(),
        points,
        dashed,
        color: Some(color),
    };
    let similarity = LineChart {
        title: format!(
            "Cross-lingual similarity of translations per layer ({} languages, {} passages)",
            by_mean.languages.len(),
            by_mean.n_sentences
        ),
        x_label: "layer (0 = embeddings)".into(),
        y_label: "mean cosine similarity over language pairs".into(),
        series: vec![
            line("mean-pooled", curve(by_mean, |l| l.mean_cosine), 0, false),
            line(
                "mean-pooled, centred",
                curve(by_mean, |l| l.mean_cosine_centered),
                0,
                true,
            ),
            line("last token", curve(by_last, |l| l.mean_cosine), 1, false),
            line(
                "last token, centred",
                curve(by_last, |l| l.mean_cosine_centered),
                1,
                true,
            ),
            line(
                "non-translations, mean-pooled, centred",
                curve(by_mean, |l| l.mean_cosine_unrelated),
                7,
                true,
            ),
        ],
        integer_x: true,
        ..Default::default()
    };
    figures.push(figure(
        "similarity.svg",
        "Cross-lingual similarity per layer",
        "Mean cosine similarity between a passage and its translation, averaged over language pairs. \
         Centred: each language's mean vector removed first, so that what all sentences share \
         (the anisotropy of the hidden states) does not count as similarity."
            .into(),
        line_chart(&similarity),
    )?);

    let pivot = &by_mean.languages[0];
    let pairs: Vec<LineSeries> = by_mean.languages[1..]
        .iter()
        .map(|other| LineSeries {
            name: format!("{pivot}–{other}"),
            points: by_mean
                .layers
                .iter()
                .filter_map(|l| {
                    l.pairs
                        .iter()
                        .find(|p| (&p.a, &p.b) == (pivot, other) || (&p.a, &p.b) == (other, pivot))
                        .map(|p| (l.layer as f64, p.cosine_centered))
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    let pair_chart = LineChart {
        title: format!("Centred cosine similarity with {pivot} per layer (mean-pooled)"),
        x_label: "layer (0 = embeddings)".into(),
        y_label: "cosine similarity of translations".into(),
        series: pairs,
        integer_x: true,
        ..Default::default()
    };
    figures.push(figure(
        "similarity-pairs.svg",
        "Similarity with the pivot language, per language",
        format!(
            "Centred cosine similarity of mean-pooled passages with their {pivot} translations."
        ),
        line_chart(&pair_chart),
    )?);

    let chance = 1.0 / by_mean.n_sentences.max(1) as f64;
    let n_layers = by_mean.layers.len();
    let retrieval = LineChart {
        title: "Parallel-passage retrieval accuracy per layer (nearest neighbour, centred cosine)"
            .into(),
        x_label: "layer (0 = embeddings)".into(),
        y_label: "accuracy, mean over language pairs".into(),
        series: vec![
            line(
                "mean-pooled",
                curve(by_mean, |l| l.mean_retrieval),
                0,
                false,
            ),
            line("last token", curve(by_last, |l| l.mean_retrieval), 1, false),
            LineSeries {
                name: "chance".into(),
                points: vec![(0.0, chance), ((n_layers - 1) as f64, chance)],
                dashed: true,
                color: Some(7),
            },
        ],
        y_range: Some(ValueRange { min: 0.0, max: 1.0 }),
        integer_x: true,
        markers: None,
        ..Default::default()
    };
    figures.push(figure(
        "retrieval.svg",
        "Parallel-passage retrieval per layer",
        format!(
            "Share of passages whose nearest neighbour (centred cosine) among the other language's \
             {} passages is their translation, averaged over pairs and both directions.",
            by_mean.n_sentences
        ),
        line_chart(&retrieval),
    )?);

    let layers: Vec<usize> = by_mean
        .layers
        .iter()
        .filter(|l| l.pca.is_some())
        .map(|l| l.layer)
        .collect();
    let panels: Vec<ScatterPanel> = spread(&layers, 6)
        .into_iter()
        .filter_map(|layer| {
            let l = by_mean.layers.iter().find(|l| l.layer == layer)?;
            let pca = l.pca.as_ref()?;
            Some(ScatterPanel {
                title: format!(
                    "layer {layer} ({:.0}% + {:.0}% of variance)",
                    100.0 * pca.explained_variance_ratio[0],
                    100.0 * pca.explained_variance_ratio[1]
                ),
                groups: by_mean
                    .languages
                    .iter()
                    .zip(&pca.points)
                    .map(|(lang, points)| ScatterGroup {
                        name: lang.clone(),
                        points: points.iter().map(|p| (p[0], p[1])).collect(),
                        labels: None,
                    })
                    .collect(),
            })
        })
        .collect();
    if !panels.is_empty() {
        let pca = ScatterPanels {
            title: "Mean-pooled passage representations, first two principal components".into(),
            x_label: "PC 1".into(),
            y_label: "PC 2".into(),
            panels,
            columns: Some(3),
            ..Default::default()
        };
        figures.push(figure(
            "pca.svg",
            "Languages in the first two principal components",
            "PCA of all languages' mean-pooled passages at each shown layer: separate clusters \
             are language-specific representations, overlapping ones shared."
                .into(),
            scatter_panels(&pca),
        )?);
    }
    Ok(figures)
}

/// lens-subspaces.svg: each language's prompts at some layers, on the agnostic coordinate
/// (x) and the first language-specific coordinate (y), from `xlingo lens probe`'s
/// projections.json.
pub fn lens_figure(projections: &[Value]) -> Result<Figure, PlotError> {
    let layers: Vec<usize> = projections
        .iter()
        .filter_map(|p| p["layer"].as_u64().map(|l| l as usize))
        .collect();
    let panels: Vec<ScatterPanel> = spread(&layers, 6)
        .into_iter()
        .filter_map(|layer| {
            let p = projections.iter().find(|p| p["layer"] == layer)?;
            let groups = p["languages"]
                .as_array()?
                .iter()
                .map(|lang| {
                    let xs = lang["agnostic"].as_array().cloned().unwrap_or_default();
                    let ys = lang["specific"].as_array().cloned().unwrap_or_default();
                    ScatterGroup {
                        name: lang["language"].as_str().unwrap_or("?").to_string(),
                        points: xs
                            .iter()
                            .zip(&ys)
                            .filter_map(|(x, y)| Some((x.as_f64()?, y[0].as_f64()?)))
                            .collect(),
                        labels: None,
                    }
                })
                .collect();
            Some(ScatterPanel {
                title: format!("layer {layer}"),
                groups,
            })
        })
        .collect();
    let chart = ScatterPanels {
        title: "Prompts in the language-agnostic direction (x) and the first language-specific direction (y)".into(),
        x_label: "agnostic coordinate".into(),
        y_label: "specific coordinate 1".into(),
        panels,
        columns: Some(3),
        ..Default::default()
    };
    figure(
        "lens-subspaces.svg",
        "Language subspaces (Lens probe)",
        "Each prompt's last-token state projected on the language-agnostic direction and the \
         first language-specific direction; Lens pulls languages together along x and apart along y."
            .into(),
        scatter_panels(&chart),
    )
}

/// loss.svg from a training run's metrics.jsonl (SFT: loss and validation loss; Lens: the
/// total and its three terms).
pub fn loss_figure(metrics: &[Value], run: &str) -> Result<Figure, PlotError> {
    let series_of = |key: &dyn Fn(&Value) -> Option<f64>| -> Vec<(f64, f64)> {
        metrics
            .iter()
            .filter_map(|m| Some((m["step"].as_f64()?, key(m)?)))
            .filter(|(_, y)| y.is_finite())
            .collect()
    };
    let lens = metrics.iter().any(|m| m["loss"].is_object());
    let mut series = Vec::new();
    let mut push = |name: &str, points: Vec<(f64, f64)>, color: usize, dashed: bool| {
        if !points.is_empty() {
            series.push(LineSeries {
                name: name.into(),
                points,
                dashed,
                color: Some(color),
            });
        }
    };
    if lens {
        for (i, term) in ["total", "retain", "specific_push", "agnostic_pull"]
            .iter()
            .enumerate()
        {
            push(
                &term.replace('_', " "),
                series_of(&|m| m["loss"][term].as_f64()),
                i,
                false,
            );
        }
    } else {
        push(
            "training loss",
            series_of(&|m| m["loss"].as_f64()),
            0,
            false,
        );
        push(
            "validation loss",
            series_of(&|m| m["valid_loss"].as_f64()),
            1,
            true,
        );
    }
    let chart = LineChart {
        title: format!("Training loss: {run}"),
        x_label: "optimizer step".into(),
        y_label: if lens {
            "Lens loss (mean over the step's prompts)".into()
        } else {
            "loss per response token".into()
        },
        series,
        integer_x: true,
        ..Default::default()
    };
    figure(
        "loss.svg",
        &format!("Loss curves: {run}"),
        if lens {
            "The Lens objective and its terms per optimizer step: keep the pivot (retain), push \
             each language along its own direction (specific push), pull it toward the pivot \
             in the shared direction (agnostic pull)."
                .into()
        } else {
            "Training loss per optimizer step; validation loss (held-out examples) where measured, \
             step 0 being the model before training."
                .into()
        },
        line_chart(&chart),
    )
}

/// Scores of evaluation runs side by side: (run label, summary.json of `xlingo eval`).
pub fn eval_figure(runs: &[(String, Value)]) -> Result<Option<Figure>, PlotError> {
    // (metric label, how to read it), only metrics present in some run.
    type Read = fn(&Value) -> Option<f64>;
    let metrics: [(&str, Read); 7] = [
        ("BLEU", |s| s["bleu"]["score"].as_f64()),
        ("chrF", |s| s["chrf"]["score"].as_f64()),
        ("chrF++", |s| s["chrf++"]["score"].as_f64()),
        ("exact match", |s| s["exact_match"].as_f64()),
        ("F1", |s| s["f1"].as_f64()),
        ("inclusion", |s| s["inclusion"].as_f64()),
        ("off-target %", |s| {
            s["off_target"]["rate"].as_f64().map(|r| 100.0 * r)
        }),
    ];
    let present: Vec<&(&str, Read)> = metrics
        .iter()
        .filter(|(_, read)| runs.iter().any(|(_, s)| read(s).is_some()))
        .collect();
    if runs.is_empty() || present.is_empty() {
        return Ok(None);
    }
    let chart = BarChart {
        title: "Evaluation results".into(),
        x_label: String::new(),
        y_label: "score (off-target: % of outputs)".into(),
        categories: present.iter().map(|(name, _)| name.to_string()).collect(),
        groups: runs
            .iter()
            .map(|(label, s)| BarGroup {
                name: label.clone(),
                values: present
                    .iter()
                    .map(|(_, read)| read(s).unwrap_or(0.0))
                    .collect(),
                ..Default::default()
            })
            .collect(),
        show_values: true,
        ..Default::default()
    };
    Ok(Some(figure(
        "eval.svg",
        "Evaluation results",
        "Each run's summary.json: BLEU, chrF and chrF++ are sacreBLEU-identical; the off-target \
         rate is the share of outputs not in the requested language (a metric missing from a \
         run shows as 0)."
            .into(),
        bar_chart(&chart),
    )?))
}

/// A scaling-law fit file (`xlingo scaling fit`): per language, the points, the chosen law and
/// its 95% band.
pub fn scaling_figure(fits: &Value) -> Result<Figure, PlotError> {
    let object = fits.as_object().ok_or_else(|| PlotError::Invalid {
        field: "scaling fit".into(),
        reason: "must be a JSON object of language → fit".into(),
    })?;
    let series = object
        .iter()
        .map(|(lang, fit)| {
            let band: Vec<&Value> = fit["band"]["points"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            ScalingSeries {
                name: format!(
                    "{lang} ({})",
                    fit["report"]["chosen"].as_str().unwrap_or("law")
                ),
                observed: fit["observed"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                            .collect()
                    })
                    .unwrap_or_default(),
                fit: band
                    .iter()
                    .filter_map(|p| Some((p["x"].as_f64()?, p["y"].as_f64()?)))
                    .collect(),
                band: Some(
                    band.iter()
                        .filter_map(|p| {
                            Some(PlotBand {
                                x: p["x"].as_f64()?,
                                lower: p["lower"].as_f64()?,
                                upper: p["upper"].as_f64()?,
                            })
                        })
                        .collect(),
                ),
                color: None,
            }
        })
        .collect();
    let chart = ScalingChart {
        title: "Translation quality vs data size".into(),
        x_label: "training examples".into(),
        y_label: "score".into(),
        series,
        log_x: true,
        band_label: Some("95% band".into()),
        size: None,
    };
    figure(
        "scaling.svg",
        "Scaling laws",
        "Observed scores, the law chosen by AICc for each language, and its 95% confidence band \
         (delta method)."
            .into(),
        scaling_chart(&chart),
    )
}

/// `xlingo bench --json` output (or benches/compare.py's): decode and prefill speed per engine.
pub fn bench_figure(bench: &Value) -> Result<Option<Figure>, PlotError> {
    let Some(results) = bench["results"].as_array() else {
        return Ok(None);
    };
    let name = |r: &Value| {
        r["name"]
            .as_str()
            .or(r["engine"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let stat = |r: &Value, key: &str| -> (f64, Option<ValueRange>) {
        let s = &r[key];
        let median = s["median"].as_f64().unwrap_or(0.0);
        let range = match (s["min"].as_f64(), s["max"].as_f64()) {
            (Some(min), Some(max)) => Some(ValueRange { min, max }),
            _ => None,
        };
        (median, range)
    };
    let group = |key: &str, label: &str, color: usize| {
        let (values, errors): (Vec<f64>, Vec<Option<ValueRange>>) =
            results.iter().map(|r| stat(r, key)).unzip();
        BarGroup {
            name: label.into(),
            values,
            errors: Some(errors),
            color: Some(color),
        }
    };
    let chart = BarChart {
        title: format!(
            "Speed, {} prompt + {} generated tokens",
            bench["prompt_tokens"], bench["gen_tokens"]
        ),
        x_label: String::new(),
        y_label: "tokens per second (median; bars: min–max)".into(),
        categories: results.iter().map(name).collect(),
        groups: vec![
            group("prefill_tok_s", "prefill", 0),
            group("decode_tok_s", "decode", 1),
        ],
        show_values: true,
        ..Default::default()
    };
    Ok(Some(figure(
        "bench.svg",
        "Inference speed",
        "Prefill and decode speed per engine, measured in one invocation on the same model and prompt."
            .into(),
        bar_chart(&chart),
    )?))
}

/// A figure with a small table of details under it (label, text).
pub type FigureWithTable = (Figure, Vec<(String, String)>);

/// A set of xlingo output files, sorted by what they hold.
#[derive(Default)]
pub struct Outputs {
    figures: Vec<FigureWithTable>,
    evals: Vec<(String, Value)>,
}

impl Outputs {
    /// Add one output file (its name, for `.jsonl`, and its text) under a run label. Returns
    /// false when it is no output these figures know (e.g. predictions, passages).
    pub fn add(&mut self, label: &str, file_name: &str, text: &str) -> Result<bool, PlotError> {
        let bad = |reason: String| PlotError::Invalid {
            field: file_name.to_string(),
            reason,
        };
        if file_name.ends_with(".jsonl") {
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if !lines.iter().any(|l| l.get("step").is_some()) {
                return Ok(false);
            }
            self.figures.push((loss_figure(&lines, label)?, Vec::new()));
            return Ok(true);
        }
        let Ok(json) = serde_json::from_str::<Value>(text) else {
            return Ok(false);
        };
        if json.get("pooling").is_some() {
            let pooling = |key: &str| -> Result<ReprAnalysis, PlotError> {
                serde_json::from_value(json["pooling"][key].clone())
                    .map_err(|e| bad(format!("pooling.{key}: {e}")))
            };
            for f in repr_figures(&pooling("mean")?, &pooling("last")?)? {
                self.figures.push((f, Vec::new()));
            }
        } else if json
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(|p| p.get("layer").is_some() && p.get("languages").is_some())
        {
            let layers = json.as_array().cloned().unwrap_or_default();
            self.figures.push((lens_figure(&layers)?, Vec::new()));
        } else if json.get("task").is_some() {
            self.evals.push((label.to_string(), json));
        } else if json.get("results").is_some_and(Value::is_array) {
            match bench_figure(&json)? {
                Some(f) => self.figures.push((f, Vec::new())),
                None => return Ok(false),
            }
        } else if json
            .as_object()
            .is_some_and(|o| !o.is_empty() && o.values().all(|v| v.get("law").is_some()))
        {
            self.figures.push((scaling_figure(&json)?, Vec::new()));
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Every chart, each with a small table of details (the evaluation runs' descriptions).
    pub fn into_figures(mut self) -> Result<Vec<FigureWithTable>, PlotError> {
        if let Some(f) = eval_figure(&self.evals)? {
            let table = self
                .evals
                .iter()
                .map(|(label, s)| (label.clone(), describe_eval(s)))
                .collect();
            self.figures.push((f, table));
        }
        Ok(self.figures)
    }
}

/// One line per evaluation run.
fn describe_eval(s: &Value) -> String {
    let mut parts = vec![format!(
        "{} on {} items ({})",
        s["task"].as_str().unwrap_or("?"),
        s["items"],
        s["model"].as_str().unwrap_or("?")
    )];
    if let Some(sig) = s["bleu"]["signature"].as_str() {
        parts.push(format!("BLEU {sig}"));
    }
    parts.join("; ")
}
