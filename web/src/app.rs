//! The page: a model panel (load, progress, facts, cache), settings, and the chat.
//!
//! Everything runs on the main thread. WebGPU work is asynchronous (it runs in the browser's
//! GPU process), and each token ends with an awaited read-back, so the event loop renders and
//! handles input between tokens; the long host-side steps of loading (checksum, parsing,
//! upload) are preceded by a yield so the progress bar is drawn first.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;
use web_sys::{DragEvent, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement, KeyboardEvent};
use xlingo_gpu::Engine;
use yew::prelude::*;

use crate::chat::{self, Finished, Role, Settings, Turn, TurnStats};
use crate::glue::{self, CachedModel, WebGpuStatus};
use crate::model::{self, ModelSource, Parsed, Progress, Stage};

/// A parsed model and its engine (None while a reply is being generated: the task owns it).
pub struct LoadedModel {
    pub parsed: Parsed,
    pub engine: Option<Box<Engine>>,
    /// What the engine reported at load, shown while the engine is busy.
    pub facts: EngineFacts,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineFacts {
    pub context: usize,
    pub kv_cache_bytes: u64,
    pub gpu_buffer_bytes: u64,
}

impl EngineFacts {
    fn of(engine: &Engine) -> Self {
        EngineFacts {
            context: engine.context(),
            kv_cache_bytes: engine.kv_cache_bytes(),
            gpu_buffer_bytes: engine.gpu_buffer_bytes(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Problem {
    /// Something the user can fix or retry.
    Message(String),
    /// The GPU device is gone; the engine can be restarted from the parsed model.
    DeviceLost(String),
    /// No WebGPU in this browser.
    NoWebGpu(String),
}

/// A reply in progress.
struct Live {
    started_ms: f64,
    first_token_ms: Option<f64>,
    last_token_ms: f64,
    prompt_tokens: usize,
    generated: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field {
    Temperature,
    TopK,
    TopP,
    MinP,
    RepeatPenalty,
    MaxTokens,
    Seed,
    Context,
}

pub enum Msg {
    WebGpu(WebGpuStatus),
    Load(ModelSource),
    Progress(Stage, f64, f64),
    Loaded(Result<Box<LoadedModel>, String>),
    Restart,
    Restarted(Box<LoadedModel>, Result<(), String>),
    Cached(Vec<CachedModel>),
    ClearCache,
    UrlInput(String),
    DragOver(bool),
    Input(String),
    System(String),
    Setting(Field, String),
    Send,
    Stop,
    Regenerate,
    ClearChat,
    Token(String, u32),
    Done(Box<Finished>),
    /// Redraw the live timer while the prompt is read (no tokens arrive then).
    Tick,
    Theme(String),
    Dismiss,
    Page(Page),
    /// Analyse these sentences' hidden states (the Representations view).
    ReprCompute(crate::reprs::Request),
    ReprProgress(usize, usize),
    ReprDone(Box<Engine>, Result<Rc<crate::reprs::Computed>, String>),
    /// LoRA-tune the loaded model (the Tune view).
    TuneStart(crate::tune::TuneRequest),
    TuneEvent(crate::tune::TuneEvent),
    TuneDone(Result<TuneResult, String>),
    TuneStop,
    /// Chat with the tuned model (its adapters merged into a copy of the GGUF).
    TuneChat,
    /// Probe and Lens-tune the loaded model (the Lens view).
    LensStart(crate::lens::LensRequest),
    LensEvent(crate::lens::LensEvent),
    LensDone(Result<TuneResult, String>),
}

type TuneResult = Box<(xlingo_train::Trainer, xlingo_train::export::PeftAdapter)>;

/// What the main area shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Chat,
    Results,
    Representations,
    Tune,
    Lens,
}

pub struct App {
    webgpu: Option<WebGpuStatus>,
    theme: String,
    model: Option<Box<LoadedModel>>,
    loading: Option<(String, Progress)>,
    cached: Vec<CachedModel>,
    url: String,
    drag_over: bool,
    system: String,
    turns: Vec<Turn>,
    input: String,
    settings: Settings,
    live: Option<Live>,
    cancel: Rc<Cell<bool>>,
    /// Replies generated so far: each takes the next seed, so "regenerate" gives a new answer.
    replies: u64,
    /// The reply whose prompt is being read (its number), 0 when none: the timer runs meanwhile.
    ticking: Rc<Cell<u64>>,
    problem: Option<Problem>,
    notice: Option<String>,
    transcript: NodeRef,
    page: Page,
    repr: crate::reprs::ReprState,
    tune: crate::tune::TuneState,
    lens: crate::lens::LensState,
    tune_cancel: Rc<Cell<bool>>,
    /// The last tuning run's trainer (its model holds the adapters), for "chat with it".
    tuned: Option<Rc<xlingo_train::Trainer>>,
}

const DEFAULT_SYSTEM: &str = "You are a helpful assistant.";

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        ctx.link()
            .send_future(async { Msg::WebGpu(glue::webgpu_status().await) });
        ctx.link()
            .send_future(async { Msg::Cached(glue::cache_list().await) });
        let theme = glue::stored_theme();
        glue::apply_theme(&theme);
        App {
            webgpu: None,
            theme,
            model: None,
            loading: None,
            cached: Vec::new(),
            url: String::new(),
            drag_over: false,
            system: DEFAULT_SYSTEM.to_string(),
            turns: Vec::new(),
            input: String::new(),
            settings: Settings::default(),
            live: None,
            cancel: Rc::new(Cell::new(false)),
            replies: 0,
            ticking: Rc::new(Cell::new(0)),
            problem: None,
            notice: None,
            transcript: NodeRef::default(),
            page: Page::Chat,
            repr: Default::default(),
            tune: Default::default(),
            lens: Default::default(),
            tune_cancel: Rc::new(Cell::new(false)),
            tuned: None,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::WebGpu(status) => {
                if !status.available {
                    self.problem = Some(Problem::NoWebGpu(status.reason.clone()));
                }
                self.webgpu = Some(status);
            }
            Msg::Load(source) => self.start_load(ctx, source),
            Msg::Progress(stage, bytes, total) => {
                if let Some((_, p)) = &mut self.loading {
                    if p.stage != stage {
                        p.since_ms = glue::now_ms();
                    }
                    p.stage = stage;
                    p.bytes = bytes;
                    p.total = total;
                }
            }
            Msg::Loaded(result) => {
                self.loading = None;
                match result {
                    Ok(model) => {
                        self.notice = model
                            .engine
                            .as_ref()
                            .map(|e| e.notes().join(" "))
                            .filter(|n| !n.is_empty());
                        self.model = Some(model);
                        self.problem = None;
                    }
                    Err(e) => self.problem = Some(Problem::Message(e)),
                }
                ctx.link()
                    .send_future(async { Msg::Cached(glue::cache_list().await) });
            }
            Msg::Restart => self.restart(ctx),
            Msg::Restarted(model, result) => {
                self.loading = None;
                self.problem = result.err().map(Problem::Message);
                self.model = Some(model);
            }
            Msg::Cached(list) => self.cached = list,
            Msg::ClearCache => {
                ctx.link().send_future(async {
                    if let Err(e) = glue::cache_clear().await {
                        web_sys::console::warn_1(&e.into());
                    }
                    Msg::Cached(glue::cache_list().await)
                });
            }
            Msg::UrlInput(url) => self.url = url,
            Msg::DragOver(over) => self.drag_over = over,
            Msg::Input(text) => self.input = text,
            Msg::System(text) => self.system = text,
            Msg::Setting(field, value) => self.set(field, &value),
            Msg::Send => {
                if self.input.trim().is_empty() || !self.can_generate() {
                    return false;
                }
                self.turns.push(Turn {
                    role: Role::User,
                    text: std::mem::take(&mut self.input),
                    tokens: Vec::new(),
                    stats: None,
                });
                self.start_reply(ctx);
            }
            Msg::Stop => self.cancel.set(true),
            Msg::Regenerate => {
                if !self.can_generate() {
                    return false;
                }
                if self.turns.last().is_some_and(|t| t.role == Role::Assistant) {
                    self.turns.pop();
                }
                if self.turns.last().is_some_and(|t| t.role == Role::User) {
                    self.start_reply(ctx);
                }
            }
            Msg::ClearChat => {
                if self.live.is_none() {
                    self.turns.clear();
                    self.notice = None;
                }
            }
            Msg::Token(text, token) => self.on_token(text, token),
            Msg::Tick => return self.live.is_some(),
            Msg::Done(finished) => self.finish_reply(*finished),
            Msg::Theme(theme) => {
                glue::apply_theme(&theme);
                self.theme = theme;
            }
            Msg::Dismiss => {
                self.problem = None;
                self.notice = None;
            }
            Msg::Page(page) => self.page = page,
            Msg::ReprCompute(request) => self.start_repr(ctx, request),
            Msg::ReprProgress(done, total) => self.repr.progress = Some((done, total)),
            Msg::ReprDone(engine, result) => {
                self.repr.progress = None;
                match result {
                    Ok(r) => self.repr.result = Some(r),
                    Err(e) => self.repr.error = Some(e),
                }
                // A lost device's engine is dropped: "Restart the engine" builds a new one.
                let lost = engine.gpu().lost();
                if let Some(model) = self.model.as_mut() {
                    model.engine = lost.is_none().then_some(engine);
                }
                if let Some(reason) = lost {
                    self.problem = Some(Problem::DeviceLost(reason));
                }
            }
            Msg::TuneStart(request) => self.start_tune(ctx, request),
            Msg::TuneEvent(event) => self.on_tune_event(event),
            Msg::TuneDone(result) => {
                let end = self.end_run(result);
                (self.tune.downloads, self.tune.error, self.tune.tuned) = end;
                self.tune.phase = None;
                self.lens.tuned = false;
            }
            Msg::TuneStop => self.tune_cancel.set(true),
            Msg::LensStart(request) => self.start_lens(ctx, request),
            Msg::LensEvent(event) => {
                use crate::lens::LensEvent as Event;
                match event {
                    Event::Phase(p) => self.lens.phase = Some(p),
                    Event::Probed(p) => self.lens.probed = Some(p),
                    Event::Step(step, losses) => self.lens.steps.push((step, losses)),
                    Event::Eval(step, losses) => self.lens.evals.push((step, losses)),
                }
            }
            Msg::LensDone(result) => {
                let end = self.end_run(result);
                (self.lens.downloads, self.lens.error, self.lens.tuned) = end;
                self.lens.phase = None;
                self.tune.tuned = false;
            }
            Msg::TuneChat => self.chat_with_tuned(ctx),
        }
        true
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first: bool) {
        if self.live.is_some()
            && let Some(el) = self.transcript.cast::<web_sys::Element>()
        {
            el.set_scroll_top(el.scroll_height());
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        html! {
            <div class="app" data-status={self.status()}>
                { self.view_header(ctx) }
                <div class="layout">
                    <aside class="sidebar">
                        { self.view_model_panel(ctx) }
                        { self.view_settings(ctx) }
                        { self.view_gpu() }
                    </aside>
                    if self.page == Page::Results {
                        <main class="results-page"><crate::results::Results /></main>
                    } else if self.page == Page::Tune {
                        <main class="results-page">
                            { self.view_problem(ctx) }
                            <crate::tune::Tune ready={self.can_generate() && !self.training()}
                                state={self.tune.clone()}
                                on_start={ctx.link().callback(Msg::TuneStart)}
                                on_stop={ctx.link().callback(|_| Msg::TuneStop)}
                                on_chat={ctx.link().callback(|_| Msg::TuneChat)} />
                        </main>
                    } else if self.page == Page::Lens {
                        <main class="results-page">
                            { self.view_problem(ctx) }
                            <crate::lens::Lens ready={self.can_generate() && !self.training()}
                                state={self.lens.clone()}
                                on_start={ctx.link().callback(Msg::LensStart)}
                                on_stop={ctx.link().callback(|_| Msg::TuneStop)}
                                on_chat={ctx.link().callback(|_| Msg::TuneChat)} />
                        </main>
                    } else if self.page == Page::Representations {
                        <main class="results-page">
                            { self.view_problem(ctx) }
                            <crate::reprs::Representations ready={self.can_generate()}
                                state={self.repr.clone()}
                                on_compute={ctx.link().callback(Msg::ReprCompute)} />
                        </main>
                    } else {
                        <main class="chat">
                            { self.view_problem(ctx) }
                            { self.view_transcript() }
                            { self.view_stats() }
                            { self.view_composer(ctx) }
                        </main>
                    }
                </div>
            </div>
        }
    }
}

impl App {
    /// For tests and styling: what the page is doing.
    fn status(&self) -> &'static str {
        if self.loading.is_some() {
            "loading"
        } else if self.live.is_some() {
            "generating"
        } else if self.repr.progress.is_some() {
            "analysing"
        } else if self.training() {
            "tuning"
        } else if self.model.as_ref().is_some_and(|m| m.engine.is_some()) {
            "ready"
        } else {
            "no-model"
        }
    }

    fn can_generate(&self) -> bool {
        self.live.is_none()
            && self.loading.is_none()
            && self.model.as_ref().is_some_and(|m| m.engine.is_some())
    }

    fn webgpu_ok(&self) -> bool {
        self.webgpu.as_ref().is_some_and(|s| s.available)
    }

    fn set(&mut self, field: Field, value: &str) {
        let s = &mut self.settings;
        let f = |v: &str| v.trim().parse::<f32>().ok().filter(|x| x.is_finite());
        let u = |v: &str| v.trim().parse::<u64>().ok();
        match field {
            Field::Temperature => s.temperature = f(value).map_or(s.temperature, |x| x.max(0.0)),
            Field::TopK => s.top_k = u(value).map_or(s.top_k, |x| x as usize),
            Field::TopP => s.top_p = f(value).map_or(s.top_p, |x| x.clamp(0.0, 1.0)),
            Field::MinP => s.min_p = f(value).map_or(s.min_p, |x| x.clamp(0.0, 1.0)),
            Field::RepeatPenalty => {
                s.repeat_penalty = f(value).map_or(s.repeat_penalty, |x| x.max(0.01))
            }
            Field::MaxTokens => s.max_tokens = u(value).map_or(s.max_tokens, |x| x.max(1) as usize),
            Field::Seed => s.seed = u(value).unwrap_or(s.seed),
            Field::Context => s.context = u(value).map_or(s.context, |x| x.max(64) as usize),
        }
    }

    fn start_load(&mut self, ctx: &Context<Self>, source: ModelSource) {
        if self.loading.is_some() || self.live.is_some() || self.training() || !self.webgpu_ok() {
            return;
        }
        // The last tuning run belongs to the model being replaced.
        self.tuned = None;
        self.tune = Default::default();
        self.lens = Default::default();
        // Free the previous model's GPU buffers and memory before reading the next one.
        self.model = None;
        self.problem = None;
        self.notice = None;
        self.loading = Some((
            source.label(),
            Progress {
                stage: Stage::Cache,
                bytes: 0.0,
                total: 0.0,
                since_ms: glue::now_ms(),
            },
        ));
        let link = ctx.link().clone();
        let context = self.settings.context;
        spawn_local(async move {
            let p = link.clone();
            let progress =
                move |stage, done, total| p.send_message(Msg::Progress(stage, done, total));
            let result = load(source, progress, context).await;
            link.send_message(Msg::Loaded(result));
        });
    }

    fn restart(&mut self, ctx: &Context<Self>) {
        let Some(mut model) = self.model.take() else {
            return;
        };
        if self.live.is_some() {
            self.model = Some(model);
            return;
        }
        model.engine = None;
        self.problem = None;
        self.loading = Some((
            model.parsed.info.name.clone(),
            Progress {
                stage: Stage::Upload,
                bytes: 0.0,
                total: 0.0,
                since_ms: glue::now_ms(),
            },
        ));
        let link = ctx.link().clone();
        let context = self.settings.context;
        spawn_local(async move {
            glue::yield_to_browser().await;
            let result = model::start_engine(&model.parsed, context).await;
            let result = result.map(|engine| {
                model.facts = EngineFacts::of(&engine);
                model.engine = Some(Box::new(engine));
            });
            link.send_message(Msg::Restarted(model, result));
        });
    }

    /// Start a tuning run on the loaded model (the Tune view); it reports with TuneEvent and
    /// ends with TuneDone. The chat engine stays free meanwhile.
    fn start_tune(&mut self, ctx: &Context<Self>, request: crate::tune::TuneRequest) {
        if self.training() || !self.can_generate() {
            return;
        }
        let Some(model) = self.model.as_ref() else {
            return;
        };
        let parsed = &model.parsed;
        let prepared = request.config().and_then(|sft| {
            let eos = parsed.stop_ids.first().copied();
            crate::tune::examples(&request, &parsed.tokenizer, parsed.template.as_deref(), eos)
                .map(|examples| (sft, examples))
        });
        let (sft, (train, held_out, about)) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.tune = crate::tune::TuneState {
                    error: Some(e),
                    ..Default::default()
                };
                return;
            }
        };
        self.tune = crate::tune::TuneState {
            phase: Some("starting".into()),
            about: Some(about),
            total_steps: sft.schedule.total_steps,
            ..Default::default()
        };
        self.tuned = None;
        self.tune_cancel.set(false);
        let (gguf, config) = (parsed.gguf.clone(), parsed.config.clone());
        let name = parsed.info.name.clone();
        let cancel = self.tune_cancel.clone();
        let link = ctx.link().clone();
        spawn_local(async move {
            let events = link.clone();
            let result = crate::tune::run(
                gguf,
                config,
                name,
                sft,
                (train, held_out),
                cancel,
                move |e| events.send_message(Msg::TuneEvent(e)),
            )
            .await;
            link.send_message(Msg::TuneDone(result.map(Box::new)));
        });
    }

    /// The end of a Tune or Lens run: its trainer becomes the one "chat with the tuned model"
    /// uses (the latest run's). Returns the adapter's downloads, the error, and whether there
    /// is a tuned model.
    fn end_run(
        &mut self,
        result: Result<TuneResult, String>,
    ) -> (Option<crate::tune::Downloads>, Option<String>, bool) {
        match result {
            Ok(done) => {
                let (trainer, adapter) = *done;
                self.tuned = Some(Rc::new(trainer));
                match crate::tune::Downloads::new(&adapter) {
                    Ok(d) => (Some(d), None, true),
                    Err(e) => (None, Some(format!("adapter download: {e}")), true),
                }
            }
            Err(e) => (None, Some(e), false),
        }
    }

    /// A Tune or Lens run is going on.
    fn training(&self) -> bool {
        self.tune.phase.is_some() || self.lens.phase.is_some()
    }

    /// Start a Lens run (probe, then tuning) on the loaded model; it reports with LensEvent
    /// and ends with LensDone.
    fn start_lens(&mut self, ctx: &Context<Self>, request: crate::lens::LensRequest) {
        if self.training() || !self.can_generate() {
            return;
        }
        let Some(model) = self.model.as_ref() else {
            return;
        };
        let parsed = &model.parsed;
        let prepared = crate::lens::prepare(
            &request,
            &parsed.tokenizer,
            parsed.template.as_deref(),
            parsed.config.n_layers,
        );
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.lens = crate::lens::LensState {
                    error: Some(e),
                    ..Default::default()
                };
                return;
            }
        };
        self.lens = crate::lens::LensState {
            phase: Some("starting".into()),
            total_steps: prepared.config.schedule.total_steps,
            ..Default::default()
        };
        self.tune_cancel.set(false);
        let (gguf, config) = (parsed.gguf.clone(), parsed.config.clone());
        let name = parsed.info.name.clone();
        let cancel = self.tune_cancel.clone();
        let link = ctx.link().clone();
        spawn_local(async move {
            let events = link.clone();
            let result = crate::lens::run(gguf, config, name, prepared, cancel, move |e| {
                events.send_message(Msg::LensEvent(e))
            })
            .await;
            link.send_message(Msg::LensDone(result.map(Box::new)));
        });
    }

    fn on_tune_event(&mut self, event: crate::tune::TuneEvent) {
        use crate::tune::TuneEvent as Event;
        match event {
            Event::Phase(p) => self.tune.phase = Some(p),
            Event::Step {
                step,
                loss,
                tokens_per_s,
            } => {
                self.tune.train.push((step, loss));
                self.tune.tokens_per_s = Some(tokens_per_s);
            }
            Event::Validation(step, loss) => self.tune.validation.push((step, loss)),
        }
    }

    /// Replace the chat's model by the tuned one: the adapters merged into a copy of the GGUF.
    fn chat_with_tuned(&mut self, ctx: &Context<Self>) {
        if !self.can_generate() || self.training() {
            return;
        }
        let (Some(trainer), Some(model)) = (self.tuned.clone(), self.model.as_ref()) else {
            return;
        };
        let gguf = model.parsed.gguf.clone();
        let base = model.parsed.info.name.clone();
        let name = if base.ends_with("+ LoRA") {
            base
        } else {
            format!("{base} + LoRA")
        };
        self.loading = Some((
            name.clone(),
            Progress {
                stage: Stage::Parse,
                bytes: 0.0,
                total: 0.0,
                since_ms: glue::now_ms(),
            },
        ));
        self.page = Page::Chat;
        let context = self.settings.context;
        let link = ctx.link().clone();
        spawn_local(async move {
            let result = async {
                let bytes = xlingo_train::export::merged_gguf_async(trainer.model(), &gguf)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut parsed = model::parse(&name, bytes, false)?;
                // The panel shows the GGUF's own name, which the copy keeps: say it is tuned.
                parsed.info.name = name;
                let engine = model::start_engine(&parsed, context).await?;
                Ok(Box::new(LoadedModel {
                    parsed,
                    facts: EngineFacts::of(&engine),
                    engine: Some(Box::new(engine)),
                }))
            }
            .await;
            link.send_message(Msg::Loaded(result));
        });
    }

    /// Lend the engine to the Representations view's analysis; it comes back with ReprDone.
    fn start_repr(&mut self, ctx: &Context<Self>, request: crate::reprs::Request) {
        if !self.can_generate() {
            return;
        }
        let Some(model) = self.model.as_mut() else {
            return;
        };
        let Some(engine) = model.engine.take() else {
            return;
        };
        self.repr = crate::reprs::ReprState {
            progress: Some((0, request.iter().map(|(_, s)| s.len()).sum())),
            ..Default::default()
        };
        let tokenizer = model.parsed.tokenizer.clone();
        let name = model.parsed.info.name.clone();
        let link = ctx.link().clone();
        spawn_local(async move {
            let progress = link.clone();
            let (engine, result) =
                crate::reprs::compute(engine, tokenizer, name, request, move |d, t| {
                    progress.send_message(Msg::ReprProgress(d, t))
                })
                .await;
            link.send_message(Msg::ReprDone(engine, result));
        });
    }

    fn start_reply(&mut self, ctx: &Context<Self>) {
        let Some(model) = self.model.as_mut() else {
            return;
        };
        let Some(engine) = model.engine.take() else {
            return;
        };
        let p = &model.parsed;
        let prompt = match chat::build_prompt(
            &p.tokenizer,
            p.template.as_deref(),
            &self.system,
            &self.turns,
            engine.context(),
            self.settings.max_tokens,
        ) {
            Ok(prompt) => prompt,
            Err(e) => {
                model.engine = Some(engine);
                self.problem = Some(Problem::Message(e));
                return;
            }
        };
        self.notice = match (prompt.dropped_turns, p.template.is_none()) {
            (0, false) => None,
            (0, true) => Some(
                "This model has no chat template; using a plain User:/Assistant: layout.".into(),
            ),
            (n, _) => Some(format!(
                "The conversation is longer than the context: the oldest {n} message(s) were left out."
            )),
        };
        let options = self.settings.options(&p.stop_ids, self.replies);
        self.replies += 1;
        self.turns.push(Turn {
            role: Role::Assistant,
            text: String::new(),
            tokens: Vec::new(),
            stats: None,
        });
        let now = glue::now_ms();
        self.live = Some(Live {
            started_ms: now,
            first_token_ms: None,
            last_token_ms: now,
            prompt_tokens: prompt.ids.len(),
            generated: 0,
        });
        self.problem = None;
        self.cancel.set(false);
        let link = ctx.link().clone();
        let cancel = self.cancel.clone();
        let tokenizer = p.tokenizer.clone();
        spawn_local(async move {
            let l = link.clone();
            let finished = chat::reply(
                engine,
                tokenizer,
                prompt.ids,
                options,
                cancel,
                move |text, token| l.send_message(Msg::Token(text, token)),
            )
            .await;
            link.send_message(Msg::Done(Box::new(finished)));
        });
        // Until the first token, nothing else redraws the "reading the prompt" timer.
        let link = ctx.link().clone();
        let ticking = self.ticking.clone();
        let id = self.replies;
        ticking.set(id);
        spawn_local(async move {
            while ticking.get() == id {
                glue::sleep_ms(250.0).await;
                link.send_message(Msg::Tick);
            }
        });
    }

    fn on_token(&mut self, text: String, token: u32) {
        let now = glue::now_ms();
        self.ticking.set(0);
        if let Some(live) = &mut self.live {
            live.first_token_ms.get_or_insert(now);
            live.last_token_ms = now;
            live.generated += 1;
        }
        if let Some(turn) = self.turns.last_mut() {
            turn.text.push_str(&text);
            turn.tokens.push(token);
        }
    }

    fn finish_reply(&mut self, finished: Finished) {
        let live = self.live.take();
        self.ticking.set(0);
        let lost = finished.engine.gpu().lost();
        if let Some(model) = &mut self.model {
            model.engine = Some(finished.engine);
        }
        let Some(turn) = self.turns.last_mut() else {
            return;
        };
        match finished.result {
            Ok((_, reason)) => {
                if reason != xlingo_gpu::StopReason::Callback {
                    turn.text.push_str(&finished.tail);
                }
                if let Some(live) = live {
                    turn.stats = Some(stats(&live, chat::describe_stop(reason)));
                }
            }
            Err(e) => {
                self.problem = Some(match lost {
                    Some(reason) => {
                        if let Some(model) = &mut self.model {
                            model.engine = None;
                        }
                        Problem::DeviceLost(reason)
                    }
                    None => Problem::Message(e),
                });
                if turn.text.is_empty() {
                    self.turns.pop();
                }
            }
        }
    }

    fn view_header(&self, ctx: &Context<Self>) -> Html {
        let on_theme = ctx.link().callback(|e: Event| {
            Msg::Theme(e.target_unchecked_into::<HtmlSelectElement>().value())
        });
        let badge = match &self.webgpu {
            None => html! { <span class="badge">{ "WebGPU: checking…" }</span> },
            Some(s) if s.available => html! {
                <span class="badge ok" title={s.description.clone()}>
                    { format!("WebGPU: {}", adapter_name(s)) }
                </span>
            },
            Some(_) => html! { <span class="badge bad">{ "WebGPU unavailable" }</span> },
        };
        let tab = |page: Page, label: &str, testid: &str| {
            let current = self.page == page;
            html! {
                <button class={classes!(current.then_some("current"))}
                    aria-pressed={current.to_string()} data-testid={testid.to_string()}
                    onclick={ctx.link().callback(move |_| Msg::Page(page))}>{ label }</button>
            }
        };
        html! {
            <header class="topbar">
                <div class="brand">
                    <span class="logo" aria-hidden="true">{ "x" }</span>
                    <span class="name">{ "xlingo" }</span>
                    <span class="tagline">{ "chat with a language model on your own GPU" }</span>
                </div>
                <nav class="tabs" aria-label="View">
                    { tab(Page::Chat, "Chat", "chat-tab") }
                    { tab(Page::Results, "Results", "results-tab") }
                    { tab(Page::Representations, "Representations", "reprs-tab") }
                    { tab(Page::Tune, "Tune", "tune-tab") }
                    { tab(Page::Lens, "Lens", "lens-tab") }
                </nav>
                <div class="topbar-right">
                    { badge }
                    <label class="theme">
                        <span class="visually-hidden">{ "Theme" }</span>
                        <select onchange={on_theme} aria-label="Theme">
                            <option value="" selected={self.theme.is_empty()}>{ "System theme" }</option>
                            <option value="light" selected={self.theme == "light"}>{ "Light" }</option>
                            <option value="dark" selected={self.theme == "dark"}>{ "Dark" }</option>
                        </select>
                    </label>
                </div>
            </header>
        }
    }

    fn view_model_panel(&self, ctx: &Context<Self>) -> Html {
        let busy = self.loading.is_some()
            || self.live.is_some()
            || self.repr.progress.is_some()
            || self.training()
            || !self.webgpu_ok();
        let link = ctx.link();
        let on_file = link.batch_callback(|e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let file = input.files().and_then(|f| f.get(0));
            input.set_value("");
            file.map(|f| Msg::Load(ModelSource::File(f)))
        });
        let on_drop = link.batch_callback(|e: DragEvent| {
            e.prevent_default();
            let file = e
                .data_transfer()
                .and_then(|d| d.files())
                .and_then(|f| f.get(0));
            vec![Msg::DragOver(false)]
                .into_iter()
                .chain(file.map(|f| Msg::Load(ModelSource::File(f))))
                .collect::<Vec<_>>()
        });
        let on_drag_over = link.callback(|e: DragEvent| {
            e.prevent_default();
            Msg::DragOver(true)
        });
        let on_drag_leave = link.callback(|_: DragEvent| Msg::DragOver(false));
        let url = self.url.clone();
        let on_url_submit = link.batch_callback(move |e: SubmitEvent| {
            e.prevent_default();
            let url = url.trim().to_string();
            (!url.is_empty()).then(|| Msg::Load(ModelSource::Url(url)))
        });
        let on_url_input = link.callback(|e: InputEvent| {
            Msg::UrlInput(e.target_unchecked_into::<HtmlInputElement>().value())
        });
        html! {
            <section class="panel" aria-labelledby="model-heading">
                <h2 id="model-heading">{ "Model" }</h2>
                <button class="primary wide" disabled={busy}
                    onclick={link.callback(|_| Msg::Load(ModelSource::Default))}>
                    { format!("Load {} · {:.0} MB", model::DEFAULT_NAME, model::DEFAULT_SIZE as f64 / 1e6) }
                </button>
                <div class={classes!("dropzone", self.drag_over.then_some("over"))}
                    ondragover={on_drag_over} ondragleave={on_drag_leave} ondrop={on_drop}>
                    <label class="file-label">
                        <input type="file" accept=".gguf" disabled={busy} onchange={on_file}
                            aria-label="Open a GGUF model file" data-testid="model-file" />
                        <span class="button-like">{ "Open a GGUF file…" }</span>
                    </label>
                    <span class="hint">{ "or drop one here" }</span>
                </div>
                <form class="url-row" onsubmit={on_url_submit}>
                    <input type="url" placeholder="https://…/model.gguf" value={self.url.clone()}
                        oninput={on_url_input} aria-label="Model URL" disabled={busy} />
                    <button type="submit" disabled={busy || self.url.trim().is_empty()}>{ "Load URL" }</button>
                </form>
                { self.view_progress() }
                { self.view_model_info() }
                { self.view_cache(ctx) }
            </section>
        }
    }

    fn view_progress(&self) -> Html {
        let Some((label, p)) = &self.loading else {
            return html! {};
        };
        let elapsed_s = ((glue::now_ms() - p.since_ms) / 1000.0).max(1e-3);
        let byte_stage = matches!(p.stage, Stage::Download | Stage::ReadFile);
        let detail = if byte_stage && p.bytes > 0.0 {
            let speed = p.bytes / 1e6 / elapsed_s;
            if p.total > 0.0 {
                format!(
                    "{:.1} / {:.1} MB · {speed:.1} MB/s",
                    p.bytes / 1e6,
                    p.total / 1e6
                )
            } else {
                format!("{:.1} MB · {speed:.1} MB/s", p.bytes / 1e6)
            }
        } else {
            String::new()
        };
        let fraction = (byte_stage && p.total > 0.0).then(|| (p.bytes / p.total).clamp(0.0, 1.0));
        html! {
            <div class="progress" role="status" aria-live="polite">
                <div class="progress-label">
                    <strong>{ label.clone() }</strong>
                    <span>{ format!(": {}", p.stage.describe()) }</span>
                </div>
                <div class="bar" role="progressbar" aria-label="Loading progress"
                    aria-valuemin="0" aria-valuemax="100"
                    aria-valuenow={fraction.map(|f| format!("{:.0}", f * 100.0))}>
                    <div class={classes!("fill", fraction.is_none().then_some("indeterminate"))}
                        style={fraction.map(|f| format!("width: {:.1}%", f * 100.0)).unwrap_or_default()} />
                </div>
                <div class="progress-detail">{ detail }</div>
            </div>
        }
    }

    fn view_model_info(&self) -> Html {
        let Some(model) = &self.model else {
            return html! {};
        };
        let i = &model.parsed.info;
        let c = &i.config;
        let f = model.facts;
        let row = |k: &str, v: String| html! { <><dt>{ k.to_string() }</dt><dd>{ v }</dd></> };
        html! {
            <div class="model-info" data-testid="model-info">
                <h3>{ i.name.clone() }</h3>
                <dl>
                    { row("Architecture", format!("{} · {} layers · d {} · {} heads ({} KV)", c.arch, c.n_layers, c.hidden_size, c.n_heads, c.n_kv_heads)) }
                    { row("Quantisation", format!("{} ({})", i.quant, i.quant_mix)) }
                    { row("Parameters", format_count(i.params)) }
                    { row("Context", format!("{} of {} positions (KV cache {:.1} MB)", f.context, c.context_length, f.kv_cache_bytes as f64 / 1e6)) }
                    { row("Vocabulary", format!("{} tokens", c.vocab_size)) }
                    { row("File", format!("{:.1} MB{}", i.file_bytes as f64 / 1e6, if i.from_cache { " (from the browser cache)" } else { "" })) }
                    { row("On the GPU", format!("{:.1} MB of buffers", f.gpu_buffer_bytes as f64 / 1e6)) }
                    { row("Chat template", if model.parsed.template.is_some() { "the model's own".into() } else { "none (plain layout)".into() }) }
                </dl>
            </div>
        }
    }

    fn view_cache(&self, ctx: &Context<Self>) -> Html {
        if self.cached.is_empty() {
            return html! {};
        }
        let busy = self.loading.is_some() || self.live.is_some() || self.repr.progress.is_some();
        let total: f64 = self.cached.iter().map(|c| c.size).sum();
        let items = self.cached.iter().map(|c| {
            let source = if c.key == model::DEFAULT_KEY {
                ModelSource::Default
            } else {
                ModelSource::Url(c.key.clone())
            };
            let label = source.label();
            html! {
                <li>
                    <button class="link" disabled={busy} title={c.key.clone()}
                        onclick={ctx.link().callback(move |_| Msg::Load(source.clone()))}>
                        { label }
                    </button>
                    <span class="muted">{ format!("{:.0} MB", c.size / 1e6) }</span>
                </li>
            }
        });
        html! {
            <div class="cache">
                <h3>{ "In this browser's cache" }</h3>
                <ul>{ for items }</ul>
                <button class="quiet" disabled={busy} onclick={ctx.link().callback(|_| Msg::ClearCache)}>
                    { format!("Clear cache ({:.0} MB)", total / 1e6) }
                </button>
            </div>
        }
    }

    fn view_settings(&self, ctx: &Context<Self>) -> Html {
        let s = &self.settings;
        let number = |field: Field,
                      label: &'static str,
                      value: String,
                      step: &'static str,
                      help: &'static str| {
            let id = format!("setting-{field:?}").to_lowercase();
            html! {
                <div class="field">
                    <label for={id.clone()} title={help}>{ label }</label>
                    <input id={id} type="number" step={step} min="0" value={value} title={help}
                        onchange={ctx.link().callback(move |e: Event| {
                            Msg::Setting(field, e.target_unchecked_into::<HtmlInputElement>().value())
                        })} />
                </div>
            }
        };
        html! {
            <details class="panel" open=true>
                <summary><h2>{ "Settings" }</h2></summary>
                <label for="system-prompt" class="block-label">{ "System prompt" }</label>
                <textarea id="system-prompt" rows="3" value={self.system.clone()}
                    oninput={ctx.link().callback(|e: InputEvent| {
                        Msg::System(e.target_unchecked_into::<HtmlTextAreaElement>().value())
                    })} />
                <div class="fields">
                    { number(Field::Temperature, "Temperature", s.temperature.to_string(), "0.05", "0 is greedy (always the most likely token)") }
                    { number(Field::TopK, "Top-k", s.top_k.to_string(), "1", "keep the k most likely tokens; 0 keeps all") }
                    { number(Field::TopP, "Top-p", s.top_p.to_string(), "0.01", "keep the smallest set reaching this probability; 1 keeps all") }
                    { number(Field::MinP, "Min-p", s.min_p.to_string(), "0.01", "drop tokens less likely than this × the most likely") }
                    { number(Field::RepeatPenalty, "Repeat penalty", s.repeat_penalty.to_string(), "0.05", "1 is off; above 1 discourages repeating recent tokens") }
                    { number(Field::MaxTokens, "Max tokens", s.max_tokens.to_string(), "1", "longest reply") }
                    { number(Field::Seed, "Seed", s.seed.to_string(), "1", "sampling seed; each new reply uses the next one") }
                    { number(Field::Context, "Context", s.context.to_string(), "64", "KV-cache positions; applies when a model is loaded") }
                </div>
            </details>
        }
    }

    fn view_gpu(&self) -> Html {
        let Some(s) = self.webgpu.as_ref().filter(|s| s.available) else {
            return html! {};
        };
        let row = |k: &str, v: String| html! { <><dt>{ k.to_string() }</dt><dd>{ v }</dd></> };
        let mb = |b: f64| format!("{:.0} MB", b / 1e6);
        html! {
            <details class="panel">
                <summary><h2>{ "GPU" }</h2></summary>
                <dl data-testid="gpu-info">
                    { row("Vendor", or_dash(&s.vendor)) }
                    { row("Architecture", or_dash(&s.architecture)) }
                    { row("Device", or_dash(if s.description.is_empty() { &s.device } else { &s.description })) }
                    { row("shader-f16", if s.shader_f16 { "yes".into() } else { "no".into() }) }
                    { row("Max buffer", mb(s.max_buffer_size)) }
                    { row("Max storage binding", mb(s.max_storage_buffer_binding_size)) }
                    { row("Workgroup memory", format!("{:.0} KB", s.max_compute_workgroup_storage_size / 1024.0)) }
                    { row("Invocations / workgroup", format!("{}", s.max_compute_invocations_per_workgroup)) }
                </dl>
            </details>
        }
    }

    fn view_problem(&self, ctx: &Context<Self>) -> Html {
        let dismiss = ctx.link().callback(|_| Msg::Dismiss);
        match (&self.problem, &self.notice) {
            (Some(Problem::NoWebGpu(reason)), _) => html! {
                <div class="alert error" role="alert">
                    <strong>{ "This browser does not offer WebGPU" }</strong>
                    <span class="muted">{ format!(" ({reason})") }</span>
                    <p>{ "xlingo runs the model on your GPU through WebGPU. Use a current Chrome or Edge (113+ on Windows, macOS and ChromeOS; 121+ on Android), Safari 26+, or Firefox 141+ on Windows. On Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu and Vulkan (start it with --enable-features=Vulkan). Check that hardware acceleration is on in the browser's settings." }</p>
                </div>
            },
            (Some(Problem::DeviceLost(reason)), _) => html! {
                <div class="alert error" role="alert">
                    <strong>{ "The GPU device was lost" }</strong>
                    <p>{ format!("{reason}. This happens when the GPU driver resets or the browser reclaims the GPU. The model is still in memory.") }</p>
                    <button class="primary" onclick={ctx.link().callback(|_| Msg::Restart)}>{ "Restart the engine" }</button>
                </div>
            },
            (Some(Problem::Message(message)), _) => html! {
                <div class="alert error" role="alert" data-testid="error">
                    <pre class="message">{ message.clone() }</pre>
                    <button class="quiet" onclick={dismiss} aria-label="Dismiss">{ "Dismiss" }</button>
                </div>
            },
            (None, Some(notice)) => html! {
                <div class="alert info" role="status">
                    <span>{ notice.clone() }</span>
                    <button class="quiet" onclick={dismiss} aria-label="Dismiss">{ "Dismiss" }</button>
                </div>
            },
            (None, None) => html! {},
        }
    }

    fn view_transcript(&self) -> Html {
        let body = if self.turns.is_empty() {
            let hint = if self.model.is_some() {
                "Ask something. The reply is generated on your GPU, token by token."
            } else {
                "Load a model to start: the default one, a GGUF file, or a URL."
            };
            html! { <div class="empty">{ hint }</div> }
        } else {
            let generating = self.live.is_some();
            let last = self.turns.len() - 1;
            self.turns
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let streaming = generating && i == last;
                    let tokens = t.tokens.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                    html! {
                        <article class={classes!("msg", t.role.name(), streaming.then_some("streaming"))}
                            data-tokens={tokens} aria-label={format!("{} message", t.role.name())}>
                            <div class="role">{ if t.role == Role::User { "You" } else { "Model" } }</div>
                            <div class="content">{ t.text.clone() }</div>
                            { t.stats.as_ref().map(view_turn_stats).unwrap_or_default() }
                        </article>
                    }
                })
                .collect::<Html>()
        };
        html! {
            <div class="transcript" ref={self.transcript.clone()} role="log" aria-live="polite"
                aria-label="Conversation">
                { body }
            </div>
        }
    }

    fn view_stats(&self) -> Html {
        let Some(live) = &self.live else {
            return html! { <div class="live-stats" aria-hidden="true"></div> };
        };
        let text = match live.first_token_ms {
            None => format!(
                "reading the prompt ({} tokens)… {:.1} s",
                live.prompt_tokens,
                (glue::now_ms() - live.started_ms) / 1000.0
            ),
            Some(_) => {
                let s = stats(live, "");
                format!(
                    "first token {:.2} s · {:.1} tok/s · {} tokens",
                    s.ttft_ms / 1000.0,
                    s.decode_tps,
                    s.generated
                )
            }
        };
        html! { <div class="live-stats" role="status" data-testid="live-stats">{ text }</div> }
    }

    fn view_composer(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let on_key = link.batch_callback(|e: KeyboardEvent| {
            (e.key() == "Enter" && !e.shift_key() && !e.is_composing()).then(|| {
                e.prevent_default();
                Msg::Send
            })
        });
        let on_input = link.callback(|e: InputEvent| {
            Msg::Input(e.target_unchecked_into::<HtmlTextAreaElement>().value())
        });
        let on_submit = link.callback(|e: SubmitEvent| {
            e.prevent_default();
            Msg::Send
        });
        let generating = self.live.is_some();
        let ready = self.can_generate();
        let can_regenerate = ready && self.turns.iter().any(|t| t.role == Role::User);
        html! {
            <form class="composer" onsubmit={on_submit}>
                <textarea rows="2" value={self.input.clone()} oninput={on_input} onkeydown={on_key}
                    aria-label="Message" data-testid="message"
                    placeholder={if ready || generating { "Message (Enter to send, Shift+Enter for a new line)" } else { "Load a model first" }} />
                <div class="actions">
                    if generating {
                        <button type="button" class="danger" onclick={link.callback(|_| Msg::Stop)}>{ "Stop" }</button>
                    } else {
                        <button type="submit" class="primary" disabled={!ready || self.input.trim().is_empty()}>{ "Send" }</button>
                    }
                    <button type="button" disabled={!can_regenerate} onclick={link.callback(|_| Msg::Regenerate)}>{ "Regenerate" }</button>
                    <button type="button" disabled={generating || self.turns.is_empty()} onclick={link.callback(|_| Msg::ClearChat)}>{ "Clear" }</button>
                </div>
            </form>
        }
    }
}

/// Read, parse and upload a model, reporting each stage.
async fn load(
    source: ModelSource,
    progress: impl Fn(Stage, f64, f64) + Clone + 'static,
    context: usize,
) -> Result<Box<LoadedModel>, String> {
    let (bytes, from_cache) = model::read_source(&source, progress.clone()).await?;
    progress(Stage::Parse, 0.0, 0.0);
    glue::yield_to_browser().await;
    let parsed = model::parse(&source.label(), bytes, from_cache)?;
    progress(Stage::Upload, 0.0, 0.0);
    glue::yield_to_browser().await;
    let engine = model::start_engine(&parsed, context).await?;
    Ok(Box::new(LoadedModel {
        parsed,
        facts: EngineFacts::of(&engine),
        engine: Some(Box::new(engine)),
    }))
}

fn stats(live: &Live, stop: &str) -> TurnStats {
    let first = live.first_token_ms.unwrap_or(live.last_token_ms);
    let decode_ms = live.last_token_ms - first;
    TurnStats {
        prompt_tokens: live.prompt_tokens,
        generated: live.generated,
        ttft_ms: first - live.started_ms,
        decode_tps: if live.generated > 1 && decode_ms > 0.0 {
            (live.generated - 1) as f64 * 1000.0 / decode_ms
        } else {
            0.0
        },
        stop: stop.to_string(),
    }
}

fn view_turn_stats(s: &TurnStats) -> Html {
    html! {
        <div class="turn-stats">
            { format!(
                "{} prompt tokens · first token {:.2} s · {} tokens at {:.1} tok/s · {}",
                s.prompt_tokens, s.ttft_ms / 1000.0, s.generated, s.decode_tps, s.stop
            ) }
        </div>
    }
}

fn adapter_name(s: &WebGpuStatus) -> String {
    let parts: Vec<&str> = [s.vendor.as_str(), s.architecture.as_str()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        "available".into()
    } else {
        parts.join(" ")
    }
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s.to_string()
    }
}

fn format_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} K", n as f64 / 1e3),
        n => n.to_string(),
    }
}
