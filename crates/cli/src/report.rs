//! `xlingo report`: one self-contained HTML page (inline SVG, no scripts, nothing fetched)
//! with the charts of whatever xlingo outputs it is given: analysis directories, Lens probes,
//! training runs (metrics.jsonl), evaluation summaries, scaling fits and benchmark JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use xlingo_plots::figures::Outputs;
use xlingo_plots::report::{Report, Section, html_page};

use crate::assets::write_atomically;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// xlingo outputs: directories (of `analyze`, `lens probe`, `train`, `eval`) or files (an
    /// eval summary, a scaling fit, `bench --json`, metrics.jsonl). Directories are searched
    /// one level deep.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "xlingo report")]
    title: String,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let mut outputs = Outputs::default();
    let mut used = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            scan_dir(input, &mut outputs, &mut used)?;
        } else if !add(&mut outputs, input, &label(input))? {
            bail!(
                "{}: not an xlingo output this report knows (analysis, Lens probe, metrics.jsonl, eval summary, scaling fit, bench JSON)",
                input.display()
            );
        } else {
            used.push(input.display().to_string());
        }
    }
    let figures = outputs
        .into_figures()
        .map_err(|e| anyhow::anyhow!("report: {e}"))?;
    if figures.is_empty() {
        bail!("nothing to chart in {:?}", args.inputs);
    }
    let report = Report {
        title: args.title.clone(),
        intro: Some(format!(
            "Made by xlingo {} from: {}.",
            env!("CARGO_PKG_VERSION"),
            used.join(", ")
        )),
        sections: figures
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

fn label(path: &Path) -> String {
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    match path.file_name().and_then(|n| n.to_str()) {
        // summary.json / metrics.jsonl are named after their run directory.
        Some("summary.json" | "metrics.jsonl") => path.parent().and_then(stem),
        _ => stem(path),
    }
    .unwrap_or_else(|| path.display().to_string())
}

fn add(outputs: &mut Outputs, path: &Path, label: &str) -> Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    outputs
        .add(label, name, &text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn scan_dir(dir: &Path, outputs: &mut Outputs, used: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    entries.sort();
    for path in entries {
        let candidate = if path.is_dir() {
            path.join("summary.json")
        } else {
            path.clone()
        };
        let is_output = candidate
            .extension()
            .is_some_and(|e| e == "json" || e == "jsonl");
        if candidate.is_file() && is_output {
            let label = if path.is_dir() {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else if candidate.file_name().is_some_and(|n| n == "metrics.jsonl") {
                dir.display().to_string()
            } else {
                label(&candidate)
            };
            if add(outputs, &candidate, &label)? {
                used.push(candidate.display().to_string());
            }
        }
    }
    Ok(())
}
