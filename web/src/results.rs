//! The Results view: open xlingo's JSON outputs (analysis.json, projections.json,
//! metrics.jsonl, eval summary.json, scaling fits, bench --json) and see the same charts as
//! `xlingo report`, drawn here by xlingo-plots (the SVG is byte-identical to the CLI's).

use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use xlingo_plots::figures::{FigureWithTable, Outputs};
use yew::prelude::*;

use crate::glue;

/// An output file as read: (run label, file name, text).
type OutputFile = (String, String, String);

#[derive(Default, Clone, PartialEq)]
struct Shown {
    files: Vec<OutputFile>,
    figures: Vec<FigureWithTable>,
    /// Files that are not xlingo outputs, or could not be drawn, with why.
    skipped: Vec<String>,
}

/// Draw every chart the files support.
fn draw(files: Vec<OutputFile>) -> Shown {
    let mut outputs = Outputs::default();
    let mut skipped = Vec::new();
    for (label, name, text) in &files {
        match outputs.add(label, name, text) {
            Ok(true) => {}
            Ok(false) => skipped.push(format!("{name}: not an xlingo output these charts know")),
            Err(e) => skipped.push(format!("{name}: {e}")),
        }
    }
    let figures = outputs.into_figures().unwrap_or_else(|e| {
        skipped.push(e.to_string());
        Vec::new()
    });
    Shown {
        files,
        figures,
        skipped,
    }
}

#[function_component(Results)]
pub fn results() -> Html {
    let shown = use_state(Shown::default);
    let on_files = {
        let shown = shown.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let Some(list) = input.files() else { return };
            let files: Vec<web_sys::File> =
                (0..list.length()).filter_map(|i| list.get(i)).collect();
            input.set_value("");
            let shown = shown.clone();
            spawn_local(async move {
                let mut all = shown.files.clone();
                let mut unreadable = Vec::new();
                for file in files {
                    let name = file.name();
                    match glue::read_file(&file, |_, _| {}).await {
                        Ok(bytes) => {
                            let label = name
                                .rsplit_once('.')
                                .map_or(name.as_str(), |(stem, _)| stem)
                                .to_string();
                            all.retain(|(_, n, _)| *n != name);
                            all.push((label, name, String::from_utf8_lossy(&bytes).into_owned()));
                        }
                        Err(e) => unreadable.push(e),
                    }
                }
                let mut next = draw(all);
                next.skipped.extend(unreadable);
                shown.set(next);
            });
        })
    };
    let on_clear = {
        let shown = shown.clone();
        Callback::from(move |_| shown.set(Shown::default()))
    };
    html! {
        <section class="results" aria-labelledby="results-heading">
            <h2 id="results-heading">{ "Results" }</h2>
            <p class="hint">
                { "Open outputs of the xlingo command-line tool — analysis.json, projections.json \
                   (lens probe), metrics.jsonl (training), an eval run's summary.json, a scaling \
                   fit, bench --json — to chart them. Nothing leaves this page." }
            </p>
            <div class="results-actions">
                <label class="file-label">
                    <input type="file" accept=".json,.jsonl" multiple=true onchange={on_files}
                        aria-label="Open xlingo output files" data-testid="results-files" />
                    <span class="button-like">{ "Open output files…" }</span>
                </label>
                if !shown.files.is_empty() {
                    <button onclick={on_clear}>{ "Clear" }</button>
                    <span class="hint">{ format!("{} file(s)", shown.files.len()) }</span>
                }
            </div>
            { for shown.skipped.iter().map(|s| html! { <p class="notice" role="status">{ s }</p> }) }
            { for shown.figures.iter().map(|(f, table)| html! {
                <figure class="chart" data-file={f.file.clone()}>
                    <figcaption><strong>{ f.title.clone() }</strong>{ " — " }{ f.description.clone() }</figcaption>
                    { Html::from_html_unchecked(AttrValue::from(f.svg.clone())) }
                    if !table.is_empty() {
                        <table>{ for table.iter().map(|(k, v)| html! { <tr><th>{ k }</th><td>{ v }</td></tr> }) }</table>
                    }
                </figure>
            }) }
        </section>
    }
}
