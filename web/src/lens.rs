//! The Lens view: probe the loaded model's language subspaces and tune its top layers with
//! Lens, on WebGPU in the browser (METHODS.md part b; `xlingo lens probe` and `xlingo lens
//! train` natively).
//!
//! Parallel prompts (the bundled en/es/zh instructions, or the user's JSONL keyed by language)
//! run through burn's LLaMA on burn's wgpu device; every layer's last-token state is probed
//! with xlingo-eval's LSAR probe (the numbers `xlingo lens probe` writes), and the languages
//! are plotted on each layer's agnostic and first specific coordinate. Then LoRA adapters on
//! the top layers train with the Lens losses (crates/train's `LensTrainer`, read
//! asynchronously), with the terms drawn live; the adapter downloads and the chat can switch
//! to the tuned model, as in the Tune view.

use std::cell::Cell;
use std::rc::Rc;

use burn::module::Module;
use serde_json::json;
use tokenizers::Tokenizer;
use web_sys::HtmlInputElement;
use xlingo_eval::subspace::{LayerSubspaces, ProbeOptions, probe_layer};
use xlingo_formats::chat::ChatTemplate;
use xlingo_plots::{LineChart, LineSeries, line_chart};
use xlingo_train::{
    CosineSchedule, LensLosses, LensSpace, LensTrainer, LensWeights, LoraSettings, Method,
    ParallelPrompt, SftConfig,
};
use yew::prelude::*;

use crate::glue;
use crate::tune::{Downloads, RunControls, number_setting, on_text_file};

#[derive(Clone, Debug, PartialEq)]
pub struct LensSettings {
    /// Languages, the pivot first.
    pub langs: String,
    /// How many parallel prompts to probe and train on.
    pub prompts: usize,
    pub top_layers: usize,
    pub steps: usize,
    pub lr: f64,
    pub rank: usize,
}

impl Default for LensSettings {
    fn default() -> Self {
        LensSettings {
            langs: "en,es,zh".into(),
            prompts: 16,
            top_layers: 2,
            steps: 20,
            lr: 1e-3,
            rank: 8,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LensRequest {
    /// None: the bundled prompts; else (file name, JSONL text).
    pub file: Option<(String, String)>,
    pub settings: LensSettings,
}

/// Prompts per optimizer step (accumulated one at a time, as `xlingo lens train` does).
const PROMPTS_PER_STEP: usize = 4;

impl LensRequest {
    fn langs(&self) -> Result<Vec<String>, String> {
        let langs: Vec<String> = self
            .settings
            .langs
            .split(',')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if langs.len() < 2 {
            return Err("Give the pivot and at least one other language, e.g. en,es,zh.".into());
        }
        if let Some((i, l)) = langs
            .iter()
            .enumerate()
            .find(|(i, l)| langs[..*i].contains(l))
        {
            return Err(format!("`{l}` is given twice (position {}).", i + 1));
        }
        Ok(langs)
    }

    /// The prompts' texts: `texts[language][i]`.
    fn texts(&self, langs: &[String]) -> Result<Vec<Vec<String>>, String> {
        let (origin, text) = match &self.file {
            Some((name, text)) => (name.as_str(), text.as_str()),
            None => ("the bundled prompts", xlingo_data::bundled::LENS_PROMPTS),
        };
        let mut texts = vec![Vec::new(); langs.len()];
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if texts[0].len() == self.settings.prompts {
                break;
            }
            let row: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("{origin}, line {}: not a JSON object ({e})", n + 1))?;
            for (l, lang) in langs.iter().enumerate() {
                let t = row[lang.as_str()]
                    .as_str()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| format!("{origin}, line {}: no `{lang}` text", n + 1))?;
                texts[l].push(t.to_string());
            }
        }
        if texts[0].len() < 2 {
            return Err(format!("{origin}: give at least two parallel prompts"));
        }
        Ok(texts)
    }

    fn config(&self, n_layers: usize) -> Result<SftConfig, String> {
        let s = &self.settings;
        if s.top_layers == 0 || s.top_layers > n_layers {
            return Err(format!(
                "Top layers must be between 1 and {n_layers} (the model's layers)."
            ));
        }
        if s.steps == 0 || s.rank == 0 || !(s.lr.is_finite() && s.lr > 0.0) {
            return Err("Steps and rank must be at least 1, the learning rate positive.".into());
        }
        Ok(SftConfig {
            method: Method::Lora,
            lora: LoraSettings {
                rank: s.rank,
                alpha: 2.0 * s.rank as f64,
                targets: xlingo_train::sft::LORA_TARGETS
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
                dropout: 0.0,
            },
            schedule: CosineSchedule {
                peak_lr: s.lr,
                min_lr: 0.0,
                warmup_steps: s.steps.div_ceil(20),
                total_steps: s.steps,
            },
            batch_size: 1,
            grad_accum: PROMPTS_PER_STEP.min(s.prompts),
            max_grad_norm: Some(1.0),
            weight_decay: 0.1,
            seed: 0,
            top_layers: Some(s.top_layers),
        })
    }
}

/// Everything a run needs, prepared on the main thread before it starts.
pub struct Prepared {
    pub langs: Vec<String>,
    /// `ids[language][i]`
    pub ids: Vec<Vec<Vec<u32>>>,
    pub config: SftConfig,
}

pub fn prepare(
    request: &LensRequest,
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    n_layers: usize,
) -> Result<Prepared, String> {
    let langs = request.langs()?;
    let texts = request.texts(&langs)?;
    let ids = texts
        .iter()
        .map(|lang| {
            lang.iter()
                .map(|t| xlingo_data::prompt::user_prompt_ids(t, tokenizer, template))
                .collect()
        })
        .collect::<Result<_, _>>()?;
    Ok(Prepared {
        langs,
        ids,
        config: request.config(n_layers)?,
    })
}

/// The probe's outcome, shown before tuning starts.
#[derive(Debug, PartialEq)]
pub struct Probed {
    pub svg: String,
    pub pivot: String,
    pub layers: Vec<ProbedLayer>,
}

#[derive(Debug, PartialEq)]
pub struct ProbedLayer {
    /// 1-based.
    pub layer: usize,
    pub singular_values: Vec<f64>,
    /// Each language's shift norm ‖δ‖ from the pivot.
    pub shift_norms: Vec<(String, f64)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LensState {
    pub phase: Option<String>,
    pub probed: Option<Rc<Probed>>,
    pub total_steps: usize,
    /// (step, terms) per optimizer step.
    pub steps: Vec<(usize, LensLosses)>,
    /// (steps done, terms over all prompts): at the start and the end.
    pub evals: Vec<(usize, LensLosses)>,
    pub error: Option<String>,
    pub downloads: Option<Downloads>,
    pub tuned: bool,
}

pub enum LensEvent {
    Phase(String),
    Probed(Rc<Probed>),
    Step(usize, LensLosses),
    Eval(usize, LensLosses),
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
}

/// Probe, then tune: the Lens method end to end on the browser's GPU.
pub async fn run(
    gguf: Rc<xlingo_formats::Gguf>,
    config: xlingo_formats::ModelConfig,
    name: String,
    prepared: Prepared,
    cancel: Rc<Cell<bool>>,
    report: impl Fn(LensEvent),
) -> Result<(xlingo_train::Trainer, xlingo_train::export::PeftAdapter), String> {
    let Prepared {
        langs,
        ids,
        config: sft,
    } = prepared;
    report(LensEvent::Phase("starting WebGPU for training".into()));
    let device = crate::tune::device().await?.autodiff();
    report(LensEvent::Phase("reading the weights (f32)".into()));
    glue::yield_to_browser().await;
    let model = xlingo_model::LoadedModel::from_gguf(&gguf, &device)
        .map_err(|e| e.to_string())?
        .model;

    // The probe: every layer's last-token state (the top one after the final norm).
    let n_layers = config.n_layers;
    let frozen = model.valid();
    let inner = frozen.embed.weight.val().device();
    let mut states: Vec<Vec<(String, Vec<Vec<f32>>)>> = vec![Vec::new(); n_layers];
    let total: usize = ids.iter().map(Vec::len).sum();
    let mut done = 0;
    for (lang, prompts) in langs.iter().zip(&ids) {
        let mut per_layer = vec![Vec::new(); n_layers];
        for p in prompts {
            report(LensEvent::Phase(format!(
                "probe: hidden states of prompt {} of {total}",
                done + 1
            )));
            let s = xlingo_model::sentence_states_async(&frozen, p, &inner)
                .await
                .map_err(|e| format!("`{lang}`: {e}"))?;
            for layer in 1..n_layers {
                per_layer[layer - 1].push(s.last[layer].clone());
            }
            per_layer[n_layers - 1].push(s.normed_last);
            done += 1;
        }
        for (layer, rows) in per_layer.into_iter().enumerate() {
            states[layer].push((lang.clone(), rows));
        }
    }
    report(LensEvent::Phase("probe: subspaces".into()));
    glue::yield_to_browser().await;
    let options = ProbeOptions {
        rank: None,
        pivot: langs[0].clone(),
    };
    let mut spaces: Vec<LayerSubspaces> = Vec::new();
    let mut projections = Vec::new();
    for (i, per_lang) in states.iter().enumerate() {
        let space = probe_layer(per_lang, &options).map_err(|e| format!("layer {}: {e}", i + 1))?;
        let mut languages = Vec::new();
        for (lang, rows) in per_lang {
            let coords = rows
                .iter()
                .map(|h| space.coordinates(h))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            languages.push(json!({
                "language": lang,
                "agnostic": coords.iter().map(|c| c.0).collect::<Vec<_>>(),
                "specific": coords.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
            }));
        }
        projections.push(json!({ "layer": i + 1, "languages": languages }));
        spaces.push(space);
    }
    let figure = xlingo_plots::figures::lens_figure(&projections).map_err(|e| e.to_string())?;
    let probed = Probed {
        svg: figure.svg,
        pivot: langs[0].clone(),
        layers: spaces
            .iter()
            .enumerate()
            .map(|(i, s)| ProbedLayer {
                layer: i + 1,
                singular_values: s.singular_values.clone(),
                shift_norms: s.shifts.iter().map(|(l, d)| (l.clone(), norm(d))).collect(),
            })
            .collect(),
    };
    report(LensEvent::Probed(Rc::new(probed)));

    // Lens on the top layers, against the top layer's subspaces.
    let top = spaces.last().ok_or("the model has no layers")?;
    let space = LensSpace {
        agnostic: top.agnostic.clone(),
        specific: top.specific.clone(),
        shifts: top
            .shifts
            .iter()
            .filter(|(l, _)| *l != langs[0])
            .cloned()
            .collect(),
    };
    let prompts: Vec<ParallelPrompt> = (0..ids[0].len())
        .map(|i| ParallelPrompt {
            pivot: ids[0][i].clone(),
            targets: langs[1..]
                .iter()
                .zip(&ids[1..])
                .map(|(lang, lang_ids)| (lang.clone(), lang_ids[i].clone()))
                .collect(),
        })
        .collect();
    report(LensEvent::Phase("Lens: the frozen model's outputs".into()));
    let mut lens = LensTrainer::new_async(
        model,
        sft.clone(),
        LensWeights::default(),
        &space,
        &prompts,
        device,
    )
    .await
    .map_err(|e| e.to_string())?;
    let all: Vec<usize> = (0..prompts.len()).collect();
    let start = lens.evaluate_async(&all).await.map_err(|e| e.to_string())?;
    report(LensEvent::Eval(0, start));
    let mut steps_done = 0;
    for step in 0..sft.schedule.total_steps {
        if cancel.get() {
            break;
        }
        report(LensEvent::Phase(format!(
            "Lens: step {} of {}",
            step + 1,
            sft.schedule.total_steps
        )));
        let indices: Vec<usize> =
            xlingo_train::step_batches(prompts.len(), 1, sft.grad_accum, step, sft.seed)
                .into_iter()
                .flatten()
                .collect();
        let r = lens.step_async(&indices).await.map_err(|e| e.to_string())?;
        steps_done = r.step;
        report(LensEvent::Step(r.step, r.losses));
        glue::yield_to_browser().await;
    }
    let end = lens.evaluate_async(&all).await.map_err(|e| e.to_string())?;
    report(LensEvent::Eval(steps_done, end));
    report(LensEvent::Phase("making the adapter files".into()));
    let trainer = lens.into_trainer();
    let adapter =
        xlingo_train::export::peft_adapter_async(trainer.model(), &config, &sft.lora, &name)
            .await
            .map_err(|e| e.to_string())?;
    Ok((trainer, adapter))
}

#[derive(Properties, PartialEq)]
pub struct Props {
    pub ready: bool,
    pub state: LensState,
    pub on_start: Callback<LensRequest>,
    pub on_stop: Callback<()>,
    pub on_chat: Callback<()>,
}

#[function_component(Lens)]
pub fn lens_view(props: &Props) -> Html {
    let settings = use_state(LensSettings::default);
    let file = use_state(|| None::<(String, String)>);
    let problem = use_state(|| None::<String>);
    let running = props.state.phase.is_some();
    let set_number = |apply: fn(&mut LensSettings, f64)| number_setting(&settings, apply);
    let on_langs = {
        let settings = settings.clone();
        Callback::from(move |e: Event| {
            let mut next = (*settings).clone();
            next.langs = e.target_unchecked_into::<HtmlInputElement>().value();
            settings.set(next);
        })
    };
    let on_file = {
        let (file, problem) = (file.clone(), problem.clone());
        on_text_file(move |picked| match picked {
            Ok(picked) => {
                problem.set(None);
                file.set(Some(picked));
            }
            Err(e) => problem.set(Some(e)),
        })
    };
    let bundled = {
        let file = file.clone();
        Callback::from(move |_| file.set(None))
    };
    let start = {
        let (settings, file, on_start) = (settings.clone(), file.clone(), props.on_start.clone());
        Callback::from(move |_| {
            on_start.emit(LensRequest {
                file: (*file).clone(),
                settings: (*settings).clone(),
            })
        })
    };
    let s = &*settings;
    let source = match &*file {
        Some((name, _)) => name.clone(),
        None => "bundled en/es/zh instructions".to_string(),
    };
    html! {
        <section class="results tune lens" aria-labelledby="lens-heading">
            <h2 id="lens-heading">{ "Lens" }</h2>
            <p class="hint">
                { "Lens on your GPU, in this tab: parallel prompts run through the model; each \
                   layer's last-token states give a language-agnostic direction and a \
                   language-specific subspace (the probe of " }<code>{ "xlingo lens probe" }</code>
                { "), plotted below. Then LoRA adapters on the top layers learn to pull each \
                   language toward the pivot in the agnostic direction and push it along its own \
                   shift in the specific subspace, keeping the pivot where it was (" }
                <code>{ "xlingo lens train" }</code>{ "). The first language is the pivot." }
            </p>
            <fieldset class="tune-data" disabled={running}>
                <legend>{ "Prompts" }</legend>
                <button class={classes!(file.is_none().then_some("current"))} onclick={bundled}>
                    { "Bundled sample" }</button>
                <label class="button-like">
                    { "Your JSONL…" }
                    <input type="file" accept=".jsonl,.json" class="visually-hidden"
                        onchange={on_file} data-testid="lens-file" />
                </label>
                <span class="hint" data-testid="lens-source">{ source }</span>
            </fieldset>
            <fieldset class="tune-settings" disabled={running}>
                <legend>{ "Settings" }</legend>
                <label>{ "languages" }<input type="text" value={s.langs.clone()} onchange={on_langs}
                    data-testid="lens-langs" /></label>
                <label>{ "prompts" }<input type="number" min="2" value={s.prompts.to_string()}
                    onchange={set_number(|s, v| s.prompts = v as usize)} data-testid="lens-prompts" /></label>
                <label>{ "top layers" }<input type="number" min="1" value={s.top_layers.to_string()}
                    onchange={set_number(|s, v| s.top_layers = v as usize)} data-testid="lens-top" /></label>
                <label>{ "steps" }<input type="number" min="1" value={s.steps.to_string()}
                    onchange={set_number(|s, v| s.steps = v as usize)} data-testid="lens-steps" /></label>
                <label>{ "learning rate" }<input type="number" step="any" value={s.lr.to_string()}
                    onchange={set_number(|s, v| s.lr = v)} data-testid="lens-lr" /></label>
                <label>{ "LoRA rank" }<input type="number" min="1" value={s.rank.to_string()}
                    onchange={set_number(|s, v| s.rank = v as usize)} /></label>
            </fieldset>
            { RunControls {
                view: "lens",
                start_label: "Probe and tune",
                ready: props.ready,
                phase: &props.state.phase,
                error: problem.as_ref().or(props.state.error.as_ref()),
                on_start: start,
                on_stop: props.on_stop.reform(|_| ()),
            }.view() }
            if let Some(p) = &props.state.probed {
                { view_probe(p) }
            }
            { view_training(&props.state, props.on_chat.reform(|_| ()), props.ready) }
        </section>
    }
}

fn view_probe(p: &Probed) -> Html {
    html! {
        <div data-testid="lens-probe">
            <table class="reprs-table">
                <thead><tr><th>{ "layer" }</th><th>{ "singular values" }</th>
                    <th>{ format!("shift norms from {}", p.pivot) }</th></tr></thead>
                <tbody>
                    { for p.layers.iter().map(|ProbedLayer { layer, singular_values: sv, shift_norms: shifts }| html! {
                        <tr data-layer={layer.to_string()}
                            data-singular={sv.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")}
                            data-shifts={shifts.iter().map(|(l, n)| format!("{l}={n}")).collect::<Vec<_>>().join(",")}>
                            <td>{ layer }</td>
                            <td>{ sv.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" ") }</td>
                            <td>{ shifts.iter().filter(|(l, _)| *l != p.pivot)
                                .map(|(l, n)| format!("{l} {n:.3}")).collect::<Vec<_>>().join(", ") }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <figure class="chart" data-file="lens-subspaces.svg">
                { Html::from_html_unchecked(AttrValue::from(p.svg.clone())) }
            </figure>
        </div>
    }
}

fn view_training(state: &LensState, chat: Callback<MouseEvent>, ready: bool) -> Html {
    if state.steps.is_empty() && state.evals.is_empty() {
        return html! {};
    }
    let status = crate::tune::run_status(&state.phase, &state.error);
    let line = |name: &str, color: usize, f: fn(&LensLosses) -> f32| LineSeries {
        name: name.into(),
        points: state
            .steps
            .iter()
            .map(|(s, l)| (*s as f64, f(l) as f64))
            .collect(),
        color: Some(color),
        dashed: false,
    };
    let chart = LineChart {
        title: "Lens loss".into(),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![
            line("total", 0, |l| l.total),
            line("retain", 1, |l| l.retain),
            line("specific push", 2, |l| l.specific_push),
            line("agnostic pull", 3, |l| l.agnostic_pull),
        ],
        integer_x: true,
        ..Default::default()
    };
    let svg = if state.steps.is_empty() {
        None
    } else {
        line_chart(&chart).ok()
    };
    let row = |(step, l): &(usize, LensLosses)| {
        html! {
            <li data-step={step.to_string()} data-total={l.total.to_string()}
                data-retain={l.retain.to_string()} data-push={l.specific_push.to_string()}
                data-pull={l.agnostic_pull.to_string()}>
                { format!("{step}: total {:.4} (retain {:.4}, push {:.4}, pull {:.4})",
                    l.total, l.retain, l.specific_push, l.agnostic_pull) }
            </li>
        }
    };
    html! {
        <div class="tune-run" data-testid="lens-run" data-state={status}>
            <p class="hint">{ format!("step {} of {}", state.steps.len(), state.total_steps) }</p>
            if let Some(svg) = svg {
                <figure class="chart">{ Html::from_html_unchecked(AttrValue::from(svg)) }</figure>
            }
            <p class="hint">{ "Over all prompts, before and after:" }</p>
            <ol data-testid="lens-evals">{ for state.evals.iter().map(row) }</ol>
            <ol class="visually-hidden" data-testid="lens-steps-list">{ for state.steps.iter().map(row) }</ol>
            if let Some(d) = &state.downloads {
                { d.view("lens-download") }
            }
            if state.tuned {
                <p class="results-actions">
                    <button class="primary" onclick={chat} disabled={!ready}
                        data-testid="lens-chat">{ "Chat with the Lens-tuned model" }</button>
                </p>
            }
        </div>
    }
}
