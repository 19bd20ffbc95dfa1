//! `xlingo scaling fit|allocate`: fit translation quality against data size per language
//! (several concave forms, chosen by AICc, with a confidence band), then split a data budget
//! across languages where the fitted laws say it helps most.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use xlingo_eval::scaling::{
    AllocationProblem, FitOptions, FitReport, LanguageSpec, Law, allocate, fit_laws,
};

use crate::assets::write_atomically;

#[derive(Subcommand, Debug)]
pub enum ScalingCommand {
    /// Fit quality vs data size for each language: power law, logarithmic, saturating
    /// exponential and Michaelis–Menten; parameters, R², AIC/AICc, the chosen form and a 95%
    /// confidence band.
    Fit(FitArgs),
    /// Split a budget of examples across languages to maximise the predicted quality
    /// (exact for concave laws), beside uniform and proportional splits.
    Allocate(AllocateArgs),
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// JSON: {"es": [[size, score], ...], "zh": [...]}.
    #[arg(long)]
    points: PathBuf,
    /// Where to write the fits (JSON; `allocate` reads it).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub struct AllocateArgs {
    /// The output of `xlingo scaling fit`.
    #[arg(long)]
    fits: PathBuf,
    /// Examples to split across the languages.
    #[arg(long)]
    budget: u64,
    /// JSON: {"es": examples available, ...} (every fitted language).
    #[arg(long)]
    available: PathBuf,
    /// JSON: {"es": weight, ...} (default 1 for each language).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Where to write the report (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Also write the optimal budget map ({"es": count, ...}, what the MuIT mixer reads).
    #[arg(long)]
    budget_map: Option<PathBuf>,
}

/// What `fit` writes per language.
#[derive(Debug, Serialize, Deserialize)]
struct LanguageFit {
    report: FitReport,
    /// The chosen law, for `allocate`.
    law: Law,
    /// The chosen law and its 95% band on a log-spaced grid over the data's sizes.
    band: Option<xlingo_eval::scaling::ConfidenceBand>,
    /// The points fitted, [[size, score], ...].
    #[serde(default)]
    observed: Vec<[f64; 2]>,
}

/// 48 sizes spaced evenly on a log scale from the smallest to the largest.
fn log_grid(xs: &[f64]) -> Vec<f64> {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min).ln();
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max).ln();
    (0..48)
        .map(|i| (lo + (hi - lo) * i as f64 / 47.0).exp())
        .collect()
}

pub fn run(command: ScalingCommand) -> Result<()> {
    match command {
        ScalingCommand::Fit(args) => fit(args),
        ScalingCommand::Allocate(args) => allocate_cmd(args),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &PathBuf, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not {what}", path.display()))
}

fn fit(args: FitArgs) -> Result<()> {
    let points: BTreeMap<String, Vec<[f64; 2]>> = read_json(
        &args.points,
        "a JSON object of language → [[size, score], ...]",
    )?;
    if points.is_empty() {
        bail!("{}: no languages", args.points.display());
    }
    let mut out = BTreeMap::new();
    for (lang, pts) in &points {
        let xs: Vec<f64> = pts.iter().map(|p| p[0]).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p[1]).collect();
        let report = fit_laws(&xs, &ys, &FitOptions::default())
            .with_context(|| format!("{}: language `{lang}`", args.points.display()))?;
        let chosen = report
            .chosen_fit()
            .context("no form could be fitted")?
            .clone();
        println!("{lang}: {} points", report.n);
        for f in &report.fits {
            println!(
                "  {:<24} R² {:.4}  AIC {:>9.2}  AICc {:>9}  {}{}",
                format!("{:?}", f.law.form),
                f.r2,
                f.aic,
                f.aicc.map_or("-".into(), |a| format!("{a:.2}")),
                f.formula,
                if f.law.form == report.chosen {
                    "  ← chosen"
                } else {
                    ""
                }
            );
        }
        let band = chosen.confidence_band(&log_grid(&xs), 0.95).ok();
        out.insert(
            lang.clone(),
            LanguageFit {
                law: chosen.law,
                report,
                band,
                observed: pts.clone(),
            },
        );
    }
    let json = serde_json::to_value(&out)?;
    write_atomically(&args.out, serde_json::to_string_pretty(&json)?.as_bytes())?;
    let figure = crate::figures::scaling_figure(&json)?;
    let svg = args.out.with_extension("svg");
    write_atomically(&svg, figure.svg.as_bytes())?;
    eprintln!(
        "[xlingo] wrote {} and {}",
        args.out.display(),
        svg.display()
    );
    Ok(())
}

fn allocate_cmd(args: AllocateArgs) -> Result<()> {
    let fits: BTreeMap<String, LanguageFit> =
        read_json(&args.fits, "the output of `xlingo scaling fit`")?;
    let available: BTreeMap<String, u64> = read_json(
        &args.available,
        "a JSON object of language → examples available",
    )?;
    let weights: BTreeMap<String, f64> = match &args.weights {
        Some(p) => read_json(p, "a JSON object of language → weight")?,
        None => BTreeMap::new(),
    };
    let mut languages = Vec::new();
    for (lang, fit) in &fits {
        let Some(&avail) = available.get(lang) else {
            bail!(
                "{}: no available count for `{lang}`",
                args.available.display()
            );
        };
        languages.push(LanguageSpec {
            lang: lang.clone(),
            law: fit.law,
            weight: weights.get(lang).copied().unwrap_or(1.0),
            available: avail,
        });
    }
    let report = allocate(&AllocationProblem {
        budget: args.budget,
        languages,
    })?;
    println!("budget {}", report.budget);
    for (name, a) in [
        ("optimal", &report.optimal),
        ("uniform", &report.uniform),
        ("proportional", &report.proportional),
    ] {
        let counts: Vec<String> = a.counts.iter().map(|(l, c)| format!("{l} {c}")).collect();
        println!(
            "  {name:<13} predicted Σ {:.3}   {}",
            a.objective,
            counts.join(", ")
        );
    }
    write_atomically(&args.out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    if let Some(path) = &args.budget_map {
        write_atomically(
            path,
            serde_json::to_string_pretty(report.budget_map())?.as_bytes(),
        )?;
    }
    Ok(())
}
