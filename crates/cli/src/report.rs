//! `xlingo report`: one self-contained HTML page (inline SVG, no scripts, nothing fetched)
//! with the charts of whatever xlingo outputs it is given: analysis directories, Lens probes,
//! training runs (metrics.jsonl), evaluation summaries, scaling fits and benchmark JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use xlingo_eval::repr::ReprAnalysis;
use xlingo_plots::report::{Report, Section, html_page};

use crate::assets::write_atomically;
use crate::figures::{
    Figure, bench_figure, eval_figure, lens_figure, loss_figure, repr_figures, scaling_figure,
};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// xlingo outputs: directories (of `analyze`, `lens probe`, `train`, `eval`) or JSON files
    /// (an eval summary, a scaling fit, `bench --json`). Directories are searched one level
    /// deep for these files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "xlingo report")]
    title: String,
}

/// What was found, in the order the page shows it.
#[derive(Default)]
struct Found {
    figures: Vec<(Figure, Vec<(String, String)>)>,
    evals: Vec<(String, Value)>,
    used: Vec<String>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let mut found = Found::default();
    for input in &args.inputs {
        if input.is_dir() {
            scan_dir(input, &mut found)?;
        } else {
            let json = read_json(input)?;
            if !classify_json(input, json, &mut found)? {
                bail!(
                    "{}: not an xlingo output this report knows (eval summary, scaling fit, bench JSON)",
                    input.display()
                );
            }
        }
    }
    if let Some(f) = eval_figure(&found.evals)? {
        let table = found
            .evals
            .iter()
            .map(|(label, s)| (label.clone(), describe_eval(s)))
            .collect();
        found.figures.push((f, table));
    }
    if found.figures.is_empty() {
        bail!("nothing to chart in {:?}", args.inputs);
    }
    let report = Report {
        title: args.title.clone(),
        intro: Some(format!(
            "Made by xlingo {} from: {}.",
            env!("CARGO_PKG_VERSION"),
            found.used.join(", ")
        )),
        sections: found
            .figures
            .into_iter()
            .map(|(f, table)| Section {
                heading: f.title,
                description: Some(f.description),
                svg: Some(f.svg),
                table,
            })
            .collect(),
    };
    let html = html_page(&report).map_err(|e| anyhow::anyhow!("report: {e}"))?;
    write_atomically(&args.out, html.as_bytes())?;
    eprintln!(
        "[xlingo] wrote {} ({} charts)",
        args.out.display(),
        report.sections.len()
    );
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))
}

fn label(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn scan_dir(dir: &Path, found: &mut Found) -> Result<()> {
    let analysis = dir.join("analysis.json");
    if analysis.exists() {
        let json = read_json(&analysis)?;
        let pooling = |key: &str| -> Result<ReprAnalysis> {
            serde_json::from_value(json["pooling"][key].clone())
                .with_context(|| format!("{}: pooling.{key}", analysis.display()))
        };
        for f in repr_figures(&pooling("mean")?, &pooling("last")?)? {
            found.figures.push((f, Vec::new()));
        }
        found.used.push(analysis.display().to_string());
    }
    let projections = dir.join("projections.json");
    if projections.exists() {
        let json = read_json(&projections)?;
        let layers = json.as_array().cloned().unwrap_or_default();
        found.figures.push((lens_figure(&layers)?, Vec::new()));
        found.used.push(projections.display().to_string());
    }
    let metrics = dir.join("metrics.jsonl");
    if metrics.exists() {
        let text = std::fs::read_to_string(&metrics)
            .with_context(|| format!("reading {}", metrics.display()))?;
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        found
            .figures
            .push((loss_figure(&lines, &dir.display().to_string())?, Vec::new()));
        found.used.push(metrics.display().to_string());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.extension().is_some_and(|e| e == "json")
            && !["analysis.json", "projections.json", "passages.json"].contains(&name)
        {
            if let Ok(json) = read_json(&path) {
                classify_json(&path, json, found)?;
            }
        } else if path.is_dir() && path.join("summary.json").exists() {
            // An `xlingo eval` output directory.
            let json = read_json(&path.join("summary.json"))?;
            if json.get("task").is_some() {
                found.evals.push((label(&path), json));
                found.used.push(path.display().to_string());
            }
        }
    }
    Ok(())
}

/// Add a JSON output to `found`; false when it is none this report knows.
fn classify_json(path: &Path, json: Value, found: &mut Found) -> Result<bool> {
    let name = if path.file_name().is_some_and(|n| n == "summary.json") {
        path.parent().map(label).unwrap_or_else(|| label(path))
    } else {
        label(path)
    };
    if json.get("task").is_some() {
        found.evals.push((name, json));
    } else if json.get("results").is_some_and(Value::is_array) {
        if let Some(f) = bench_figure(&json)? {
            found.figures.push((f, Vec::new()));
        }
    } else if json
        .as_object()
        .is_some_and(|o| !o.is_empty() && o.values().all(|v| v.get("law").is_some()))
    {
        found.figures.push((scaling_figure(&json)?, Vec::new()));
    } else {
        return Ok(false);
    }
    found.used.push(path.display().to_string());
    Ok(true)
}

/// One line per evaluation run for the table under the chart.
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
