//! The Tune view: LoRA fine-tuning of the loaded model on WebGPU, in the browser.
//!
//! The model's GGUF is read into burn's LLaMA (crates/model) on burn's wgpu device, and the
//! same trainer as `xlingo train sft --method lora` (crates/train) takes the steps; values
//! come off the GPU only through asynchronous reads. Data: a bundled English→Spanish or
//! English→Chinese translation sample of our own making (CoIT translation instructions), or
//! the user's Alpaca JSON/JSONL file. The loss curve is drawn live; at the end the adapter
//! downloads in PEFT's format, and the chat can switch to the tuned model (the adapted
//! matrices merged into a copy of the GGUF, in F16; every other tensor as it was).

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use tokenizers::Tokenizer;
use web_sys::HtmlInputElement;
use xlingo_data::coit::{language_name, translation_instruction};
use xlingo_data::prompt::{Overflow, PromptStyle, TokenizeConfig, tokenize_examples};
use xlingo_data::{Example as DataExample, Kind};
use xlingo_formats::chat::ChatTemplate;
use xlingo_plots::{LineChart, LineSeries, line_chart};
use xlingo_train::{CosineSchedule, Example, LoraSettings, Method, SftConfig};
use yew::prelude::*;

use crate::glue;

/// Which data to tune on.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// The bundled parallel prompts, English → this language (`es` or `zh`).
    Bundled(String),
    /// An Alpaca JSON or JSONL file: (name, text).
    File(String, String),
}

/// Settings a user can change (the rest are the CLI's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct TuneSettings {
    pub steps: usize,
    pub lr: f64,
    pub rank: usize,
    /// Comma-separated among q, k, v, o, gate, up, down.
    pub targets: String,
    pub batch_size: usize,
    /// Cap on prompt + response tokens.
    pub max_len: usize,
}

impl Default for TuneSettings {
    fn default() -> Self {
        TuneSettings {
            steps: 30,
            lr: 1e-3,
            rank: 8,
            targets: "q,v".into(),
            batch_size: 4,
            max_len: 96,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TuneRequest {
    pub data: DataSource,
    pub settings: TuneSettings,
}

/// Held-out examples scored every this many steps (and at the start and end).
const EVAL_EVERY: usize = 10;
/// At most this many held-out examples (each evaluation reads them all).
const MAX_VALIDATION: usize = 16;

impl TuneRequest {
    pub fn config(&self) -> Result<SftConfig, String> {
        let s = &self.settings;
        if s.steps == 0 || s.batch_size == 0 || s.rank == 0 {
            return Err("Steps, batch size and rank must be at least 1.".into());
        }
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return Err("The learning rate must be a positive number.".into());
        }
        let targets: Vec<String> = s
            .targets
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(SftConfig {
            method: Method::Lora,
            lora: LoraSettings {
                rank: s.rank,
                alpha: 2.0 * s.rank as f64,
                targets,
                dropout: 0.0,
            },
            schedule: CosineSchedule {
                peak_lr: s.lr,
                min_lr: s.lr / 10.0,
                warmup_steps: (s.steps / 10).min(10),
                total_steps: s.steps,
            },
            batch_size: s.batch_size,
            grad_accum: 1,
            ..SftConfig::default()
        })
    }
}

/// The request's records as instruction examples: (training, held out), and a description.
fn records(data: &DataSource) -> Result<(Vec<DataExample>, Vec<DataExample>, String), String> {
    match data {
        DataSource::Bundled(lang) => {
            let target = language_name(lang).ok_or_else(|| format!("unknown language `{lang}`"))?;
            let mut all = Vec::new();
            for (k, line) in xlingo_data::bundled::LENS_PROMPTS.lines().enumerate() {
                let row: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| format!("bundled data: {e}"))?;
                let text = |code: &str| row[code].as_str().unwrap_or_default().to_string();
                all.push(DataExample {
                    instruction: translation_instruction(k, "English", target),
                    input: text("en"),
                    output: text(lang),
                    lang: lang.clone(),
                    kind: Kind::Translation,
                });
            }
            let held_out = all.split_off(xlingo_data::bundled::LENS_TRAIN_PROMPTS);
            let about = format!(
                "{} English→{target} translation instructions of the bundled sample ({} held out)",
                all.len(),
                held_out.len()
            );
            Ok((all, held_out, about))
        }
        DataSource::File(name, text) => {
            let parsed = if text.trim_start().starts_with('[') {
                xlingo_data::alpaca::parse_alpaca_json(name, text).map_err(|e| e.to_string())?
            } else {
                xlingo_data::alpaca::parse_alpaca_jsonl(name, text)
            };
            if let Some(issue) = parsed.issues.first() {
                return Err(format!(
                    "{issue} ({} bad record(s) in all; fix them or remove them)",
                    parsed.issues.len()
                ));
            }
            let all: Vec<DataExample> = parsed
                .records
                .into_iter()
                .map(|r| DataExample {
                    instruction: r.instruction,
                    input: r.input,
                    output: r.output,
                    lang: String::new(),
                    kind: Kind::General,
                })
                .collect();
            if all.len() < 2 {
                return Err(format!("{name}: give at least two instructions"));
            }
            // Every tenth record (up to MAX_VALIDATION) is held out to measure progress.
            let (mut train, mut held_out) = (Vec::new(), Vec::new());
            for (i, e) in all.into_iter().enumerate() {
                if (i + 1) % 10 == 0 && held_out.len() < MAX_VALIDATION {
                    held_out.push(e);
                } else {
                    train.push(e);
                }
            }
            let about = format!(
                "{} instructions from {name} ({} held out)",
                train.len(),
                held_out.len()
            );
            Ok((train, held_out, about))
        }
    }
}

/// Tokenised training and held-out examples, as `xlingo train sft` makes them: the chat
/// template when the model has one (else the Alpaca template), loss on the response only.
pub fn examples(
    request: &TuneRequest,
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    eos_id: Option<u32>,
) -> Result<(Vec<Example>, Vec<Example>, String), String> {
    let (train, mut held_out, about) = records(&request.data)?;
    held_out.truncate(MAX_VALIDATION);
    let (style, chat) = match template {
        Some(template) => (
            PromptStyle::Chat {
                template,
                system: None,
            },
            true,
        ),
        None => (PromptStyle::Alpaca, false),
    };
    let cfg = TokenizeConfig {
        max_len: request.settings.max_len.max(8),
        overflow: Overflow::Truncate,
        add_special_tokens: !chat,
        eos_id: if chat { None } else { eos_id },
    };
    let tokenize = |set: &[DataExample]| -> Vec<Example> {
        tokenize_examples(set, &style, tokenizer, &cfg)
            .0
            .into_iter()
            .map(|t| Example::from_labels(t.input_ids, &t.labels))
            .filter(|e| e.targets() > 0)
            .collect()
    };
    let (train, held_out) = (tokenize(&train), tokenize(&held_out));
    if train.is_empty() {
        return Err(format!(
            "no example has a response token left within {} tokens: raise the length cap",
            cfg.max_len
        ));
    }
    Ok((train, held_out, about))
}

thread_local! {
    /// burn's wgpu runtime can be initialised once per page; later runs reuse its device.
    static DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// burn's WebGPU device (initialised on first use).
pub async fn device() -> Result<Device, String> {
    if let Some(d) = DEVICE.with(|d| d.borrow().clone()) {
        return Ok(d);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU for training: {e:?}"))?;
    DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// What the view shows of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TuneState {
    /// While running: what it is doing.
    pub phase: Option<String>,
    pub about: Option<String>,
    pub total_steps: usize,
    /// (step, training loss)
    pub train: Vec<(usize, f32)>,
    /// (steps done, held-out loss)
    pub validation: Vec<(usize, f32)>,
    /// Training tokens per second over the steps so far.
    pub tokens_per_s: Option<f64>,
    pub error: Option<String>,
    /// Object URLs of the adapter files, once done.
    pub downloads: Option<Downloads>,
    /// A tuned model can be chatted with.
    pub tuned: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Downloads {
    pub safetensors: String,
    pub config: String,
    pub bytes: usize,
}

impl Downloads {
    pub fn new(adapter: &xlingo_train::export::PeftAdapter) -> Result<Self, String> {
        Ok(Downloads {
            safetensors: object_url(&adapter.safetensors, "application/octet-stream")?,
            config: object_url(&adapter.config_json, "application/json")?,
            bytes: adapter.safetensors.len(),
        })
    }
}

impl Downloads {
    /// The two download links (`testid` on the safetensors one).
    pub fn view(&self, testid: &'static str) -> Html {
        html! {
            <p class="results-actions">
                <a class="button-like" href={self.safetensors.clone()} download="adapter_model.safetensors"
                    data-testid={testid}>{ "Download adapter_model.safetensors" }</a>
                <a class="button-like" href={self.config.clone()} download="adapter_config.json">
                    { "Download adapter_config.json" }</a>
                <span class="hint">{ format!("{:.1} MB; load with PEFT's PeftModel.from_pretrained", self.bytes as f64 / 1e6) }</span>
            </p>
        }
    }
}

/// What a Tune or Lens run is doing, for the page's `data-state`.
pub fn run_status(phase: &Option<String>, error: &Option<String>) -> &'static str {
    if phase.is_some() {
        "running"
    } else if error.is_some() {
        "failed"
    } else {
        "done"
    }
}

/// The Start/Stop buttons, the load hint, the phase and the error of a Tune or Lens run;
/// `view` names the data-testids (`{view}-start`, `{view}-stop`, `{view}-error`).
pub struct RunControls<'a> {
    pub view: &'static str,
    pub start_label: &'static str,
    pub ready: bool,
    pub phase: &'a Option<String>,
    pub error: Option<&'a String>,
    pub on_start: Callback<MouseEvent>,
    pub on_stop: Callback<MouseEvent>,
}

impl RunControls<'_> {
    pub fn view(self) -> Html {
        let running = self.phase.is_some();
        html! {
            <>
            <div class="results-actions">
                if running {
                    <button onclick={self.on_stop} data-testid={format!("{}-stop", self.view)}>{ "Stop" }</button>
                } else {
                    <button class="primary" onclick={self.on_start} disabled={!self.ready}
                        data-testid={format!("{}-start", self.view)}>{ self.start_label }</button>
                }
                if !self.ready && !running {
                    <span class="hint">{ "Load a model first (left)." }</span>
                }
                if let Some(phase) = self.phase {
                    <span class="hint" role="status">{ phase }</span>
                }
            </div>
            if let Some(e) = self.error {
                <p class="notice" role="alert" data-testid={format!("{}-error", self.view)}>{ e }</p>
            }
            </>
        }
    }
}

fn object_url(bytes: &[u8], mime: &str) -> Result<String, String> {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|e| format!("{e:?}"))?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))
}

/// A callback for a number input that writes into the settings held in `state` (text that
/// is not a number is ignored).
pub fn number_setting<T: Clone + 'static>(
    state: &UseStateHandle<T>,
    apply: fn(&mut T, f64),
) -> Callback<Event> {
    let state = state.clone();
    Callback::from(move |e: Event| {
        let value = e.target_unchecked_into::<HtmlInputElement>().value();
        if let Ok(v) = value.trim().parse::<f64>() {
            let mut next = (*state).clone();
            apply(&mut next, v);
            state.set(next);
        }
    })
}

/// A callback for a file input: `then` gets the picked file's (name, text), or why not.
pub fn on_text_file(then: impl Fn(Result<(String, String), String>) + 'static) -> Callback<Event> {
    let then = Rc::new(then);
    Callback::from(move |e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        let then = then.clone();
        wasm_bindgen_futures::spawn_local(async move { then(glue::read_text_file(&file).await) });
    })
}

#[derive(Properties, PartialEq)]
pub struct Props {
    /// A model is loaded and nothing else runs.
    pub ready: bool,
    pub state: TuneState,
    pub on_start: Callback<TuneRequest>,
    pub on_stop: Callback<()>,
    pub on_chat: Callback<()>,
}

#[function_component(Tune)]
pub fn tune(props: &Props) -> Html {
    let settings = use_state(TuneSettings::default);
    let data = use_state(|| DataSource::Bundled("es".into()));
    let problem = use_state(|| None::<String>);
    let running = props.state.phase.is_some();

    let set_number = |apply: fn(&mut TuneSettings, f64)| number_setting(&settings, apply);
    let on_targets = {
        let settings = settings.clone();
        Callback::from(move |e: Event| {
            let mut next = (*settings).clone();
            next.targets = e.target_unchecked_into::<HtmlInputElement>().value();
            settings.set(next);
        })
    };
    let choose_bundled = |lang: &'static str| {
        let data = data.clone();
        Callback::from(move |_| data.set(DataSource::Bundled(lang.into())))
    };
    let on_file = {
        let (data, problem) = (data.clone(), problem.clone());
        on_text_file(move |picked| match picked {
            Ok((name, text)) => {
                problem.set(None);
                data.set(DataSource::File(name, text));
            }
            Err(e) => problem.set(Some(e)),
        })
    };
    let start = {
        let (settings, data, on_start) = (settings.clone(), data.clone(), props.on_start.clone());
        Callback::from(move |_| {
            on_start.emit(TuneRequest {
                data: (*data).clone(),
                settings: (*settings).clone(),
            })
        })
    };
    let stop = props.on_stop.reform(|_| ());
    let chat = props.on_chat.reform(|_| ());
    let s = &*settings;
    let data_label = match &*data {
        DataSource::Bundled(lang) => format!(
            "bundled sample, English → {}",
            language_name(lang).unwrap_or(lang)
        ),
        DataSource::File(name, _) => name.clone(),
    };
    html! {
        <section class="results tune" aria-labelledby="tune-heading">
            <h2 id="tune-heading">{ "Tune" }</h2>
            <p class="hint">
                { "LoRA fine-tuning of the loaded model on your GPU, in this tab: the trainer of " }
                <code>{ "xlingo train sft --method lora" }</code>
                { " (the same loss, optimizer and schedule), with the model's weights in f32 on \
                   WebGPU. Tune on the bundled translation sample or on your own Alpaca JSON/JSONL \
                   file, watch the loss, then chat with the tuned model or download the adapter \
                   (PEFT format). For long runs use the native binary." }
            </p>
            <fieldset class="tune-data" disabled={running}>
                <legend>{ "Data" }</legend>
                <button class={classes!(matches!(&*data, DataSource::Bundled(l) if l == "es").then_some("current"))}
                    onclick={choose_bundled("es")} data-testid="tune-data-es">{ "English → Spanish sample" }</button>
                <button class={classes!(matches!(&*data, DataSource::Bundled(l) if l == "zh").then_some("current"))}
                    onclick={choose_bundled("zh")} data-testid="tune-data-zh">{ "English → Chinese sample" }</button>
                <label class="button-like">
                    { "Your file…" }
                    <input type="file" accept=".json,.jsonl" class="visually-hidden"
                        onchange={on_file} data-testid="tune-file" />
                </label>
                <span class="hint" data-testid="tune-data">{ data_label }</span>
            </fieldset>
            <fieldset class="tune-settings" disabled={running}>
                <legend>{ "Settings" }</legend>
                <label>{ "steps" }<input type="number" min="1" value={s.steps.to_string()}
                    onchange={set_number(|s, v| s.steps = v as usize)} data-testid="tune-steps" /></label>
                <label>{ "learning rate" }<input type="number" step="any" value={s.lr.to_string()}
                    onchange={set_number(|s, v| s.lr = v)} data-testid="tune-lr" /></label>
                <label>{ "rank" }<input type="number" min="1" value={s.rank.to_string()}
                    onchange={set_number(|s, v| s.rank = v as usize)} /></label>
                <label>{ "targets" }<input type="text" value={s.targets.clone()} onchange={on_targets}
                    title="any of q, k, v, o, gate, up, down" /></label>
                <label>{ "batch" }<input type="number" min="1" value={s.batch_size.to_string()}
                    onchange={set_number(|s, v| s.batch_size = v as usize)} data-testid="tune-batch" /></label>
                <label>{ "max tokens" }<input type="number" min="8" value={s.max_len.to_string()}
                    onchange={set_number(|s, v| s.max_len = v as usize)} data-testid="tune-max-len" /></label>
            </fieldset>
            { RunControls {
                view: "tune",
                start_label: "Start tuning",
                ready: props.ready,
                phase: &props.state.phase,
                error: problem.as_ref().or(props.state.error.as_ref()),
                on_start: start,
                on_stop: stop,
            }.view() }
            { view_run(&props.state, chat, props.ready) }
        </section>
    }
}

fn view_run(state: &TuneState, chat: Callback<MouseEvent>, ready: bool) -> Html {
    if state.train.is_empty() && state.validation.is_empty() {
        return html! {};
    }
    let status = run_status(&state.phase, &state.error);
    html! {
        <div class="tune-run" data-testid="tune-run" data-state={status}
            data-steps={state.train.len().to_string()}>
            if let Some(about) = &state.about {
                <p class="hint">{ about }</p>
            }
            <p class="hint">
                { format!("step {} of {}", state.train.len(), state.total_steps) }
                if let Some(t) = state.tokens_per_s {
                    { format!(" · {t:.0} tokens/s") }
                }
            </p>
            { chart(state) }
            <ol class="visually-hidden" data-testid="tune-losses">
                { for state.train.iter().map(|(step, loss)| html! {
                    <li data-step={step.to_string()} data-loss={loss.to_string()}>{ format!("{step}: {loss}") }</li>
                }) }
            </ol>
            <ol class="visually-hidden" data-testid="tune-validation">
                { for state.validation.iter().map(|(step, loss)| html! {
                    <li data-step={step.to_string()} data-loss={loss.to_string()}>{ format!("{step}: {loss}") }</li>
                }) }
            </ol>
            if let Some(d) = &state.downloads {
                { d.view("tune-download") }
            }
            if state.tuned {
                <p class="results-actions">
                    <button class="primary" onclick={chat} disabled={!ready}
                        data-testid="tune-chat">{ "Chat with the tuned model" }</button>
                    <span class="hint">{ "The adapted matrices are merged into a copy of the model (F16)." }</span>
                </p>
            }
        </div>
    }
}

fn chart(state: &TuneState) -> Html {
    let points = |v: &[(usize, f32)]| v.iter().map(|&(s, l)| (s as f64, l as f64)).collect();
    let mut series = vec![LineSeries {
        name: "training".into(),
        points: points(&state.train),
        color: Some(0),
        ..Default::default()
    }];
    if !state.validation.is_empty() {
        series.push(LineSeries {
            name: "held out".into(),
            points: points(&state.validation),
            dashed: true,
            color: Some(1),
        });
    }
    let spec = LineChart {
        title: "Loss".into(),
        x_label: "step".into(),
        y_label: "loss per target token".into(),
        series,
        integer_x: true,
        ..Default::default()
    };
    match line_chart(&spec) {
        Ok(svg) => html! {
            <figure class="chart" data-testid="tune-chart">
                { Html::from_html_unchecked(AttrValue::from(svg)) }
            </figure>
        },
        Err(e) => html! { <p class="hint">{ format!("chart: {e}") }</p> },
    }
}

/// Progress the training task reports to the App.
pub enum TuneEvent {
    Phase(String),
    Step {
        step: usize,
        loss: f32,
        tokens_per_s: f64,
    },
    Validation(usize, f32),
}

/// The run itself: load the model into the trainer, score the held-out set, take the steps
/// (stopping early when `cancel` is set), and make the adapter's files.
pub async fn run(
    gguf: Rc<xlingo_formats::Gguf>,
    config: xlingo_formats::ModelConfig,
    name: String,
    sft: SftConfig,
    (train, held_out): (Vec<Example>, Vec<Example>),
    cancel: Rc<std::cell::Cell<bool>>,
    report: impl Fn(TuneEvent),
) -> Result<(xlingo_train::Trainer, xlingo_train::export::PeftAdapter), String> {
    report(TuneEvent::Phase("starting WebGPU for training".into()));
    let device = device().await?.autodiff();
    report(TuneEvent::Phase(
        "reading the weights into the trainer (f32)".into(),
    ));
    glue::yield_to_browser().await;
    let model = xlingo_model::LoadedModel::from_gguf(&gguf, &device)
        .map_err(|e| e.to_string())?
        .model;
    let mut trainer =
        xlingo_train::Trainer::new(model, sft.clone(), device).map_err(|e| e.to_string())?;
    if !held_out.is_empty() {
        report(TuneEvent::Phase("scoring the held-out examples".into()));
        let loss = trainer
            .eval_loss_async(&held_out)
            .await
            .map_err(|e| e.to_string())?;
        report(TuneEvent::Validation(0, loss));
    }
    let started = glue::now_ms();
    let mut tokens = 0usize;
    for step in 0..sft.schedule.total_steps {
        if cancel.get() {
            break;
        }
        report(TuneEvent::Phase(format!(
            "training: step {} of {}",
            step + 1,
            sft.schedule.total_steps
        )));
        let batches =
            xlingo_train::step_batches(train.len(), sft.batch_size, sft.grad_accum, step, sft.seed);
        let micro: Vec<Vec<&Example>> = batches
            .iter()
            .map(|b| b.iter().map(|&i| &train[i]).collect())
            .collect();
        let r = trainer
            .step_async(&micro)
            .await
            .map_err(|e| e.to_string())?;
        tokens += r.input_tokens;
        let seconds = (glue::now_ms() - started) / 1000.0;
        report(TuneEvent::Step {
            step: r.step,
            loss: r.loss,
            tokens_per_s: tokens as f64 / seconds.max(1e-3),
        });
        let last = step + 1 == sft.schedule.total_steps;
        if !held_out.is_empty() && ((step + 1) % EVAL_EVERY == 0 || last) {
            let loss = trainer
                .eval_loss_async(&held_out)
                .await
                .map_err(|e| e.to_string())?;
            report(TuneEvent::Validation(r.step, loss));
        }
        glue::yield_to_browser().await;
    }
    report(TuneEvent::Phase("making the adapter files".into()));
    let adapter =
        xlingo_train::export::peft_adapter_async(trainer.model(), &config, &sft.lora, &name)
            .await
            .map_err(|e| e.to_string())?;
    Ok((trainer, adapter))
}
