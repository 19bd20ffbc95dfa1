//! `xlingo train sft`: fine-tune a GGUF model on instruction data (Alpaca JSON/JSONL, or the
//! JSONL that `xlingo data` writes), all weights or LoRA, with a progress bar, a JSONL metrics
//! log, validation loss, atomic checkpoints, `--resume`, and export at the end (GGUF F16, a
//! Hugging Face checkpoint, and the PEFT adapter with LoRA).

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, DeviceKind};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use xlingo_data::prompt::{Overflow, PromptStyle, TokenizeConfig, tokenize_examples};
use xlingo_data::record::{Example as DataExample, Kind};
use xlingo_data::split::{SplitConfig, split_by_source};
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::{TokenizerInfo, tokenizer_from_gguf};
use xlingo_formats::{GgmlType, Gguf, ModelConfig};
use xlingo_model::LoadedModel;
use xlingo_model::llama::Llama;
use xlingo_train::checkpoint;
use xlingo_train::export::{export_gguf, export_hf, export_peft};
use xlingo_train::{
    CosineSchedule, Example, LoraSettings, Method, SftConfig, Trainer, step_batches,
};

use crate::assets::{DEFAULT_MODEL, write_atomically};
use crate::session::resolve_model;

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Supervised fine-tuning on instruction data (loss on the responses only).
    Sft(SftArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MethodArg {
    Lora,
    Full,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Lora => Method::Lora,
            MethodArg::Full => Method::Full,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrainDevice {
    /// burn's CPU backend.
    Cpu,
    /// burn's wgpu backend (Vulkan, Metal, DX12).
    Gpu,
}

/// What a finished run writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportKind {
    /// The merged model as F16 GGUF (`model-f16.gguf`: our engine and llama.cpp load it).
    Gguf,
    /// The merged model as a Hugging Face checkpoint (`hf/`).
    Hf,
    /// The PEFT adapter (`adapter/`; LoRA runs only).
    Adapter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptArg {
    /// The model's chat template (falls back to Alpaca when it has none).
    Chat,
    Alpaca,
}

#[derive(Args, Debug)]
pub struct SftArgs {
    /// A GGUF model file or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Instruction data: Alpaca JSON or JSONL (instruction, input, output), e.g. from
    /// `xlingo data coit`.
    #[arg(long)]
    data: PathBuf,
    /// Output directory: metrics.jsonl, checkpoints/, exports, summary.json.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "lora")]
    method: MethodArg,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// LoRA alpha (the update is scaled by alpha / rank).
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    /// LoRA target projections, comma-separated: q, k, v, o, gate, up, down.
    #[arg(long, default_value = "q,k,v,o", value_delimiter = ',')]
    targets: Vec<String>,
    /// LoRA dropout: the share of the adapters' input dropped while training (PEFT's
    /// lora_dropout; 0.05 or 0.1 are usual).
    #[arg(long, default_value_t = 0.0)]
    lora_dropout: f64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// Optimizer steps.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Warm-up steps (linear from 0), then cosine decay to lr/10.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    #[arg(long, default_value_t = 4)]
    grad_accum: usize,
    /// Clip gradient norms to this, each parameter tensor on its own as burn does (0: off).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f32,
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// Longest example in tokens (longer ones are truncated).
    #[arg(long, default_value_t = 512)]
    max_len: usize,
    /// Share of the data held out for validation (split by source sentence).
    #[arg(long, default_value_t = 0.05)]
    valid_fraction: f64,
    /// Validation loss every N steps (0: only at the end).
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 50)]
    save_every: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train only the top K decoder layers (everything else frozen); default: all layers.
    #[arg(long)]
    top_layers: Option<usize>,
    #[arg(long, value_enum, default_value = "chat")]
    prompt: PromptArg,
    #[arg(long, value_enum, default_value = "cpu")]
    device: TrainDevice,
    /// Continue from the newest checkpoint in OUT/checkpoints (its settings win).
    #[arg(long)]
    resume: bool,
    /// Skip the exports at the end.
    #[arg(long)]
    no_export: bool,
    /// Which exports to write at the end, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gguf,hf,adapter"
    )]
    export: Vec<ExportKind>,
    /// Also append each step's micro-batches (token ids and loss masks) to OUT/batches.jsonl,
    /// so that another trainer can replay exactly the same data (benches/train_bench.py).
    #[arg(long)]
    log_batches: bool,
}

pub fn run(command: TrainCommand) -> Result<()> {
    match command {
        TrainCommand::Sft(args) => sft(args),
    }
}

/// Tests simulate a crash after this step (`XLINGO_ABORT_AFTER_STEP`): the process aborts
/// right after the step, as a kill would, leaving only what was already on disk.
pub(crate) fn abort_after_step() -> Option<usize> {
    std::env::var("XLINGO_ABORT_AFTER_STEP").ok()?.parse().ok()
}

fn sft(args: SftArgs) -> Result<()> {
    let model_path = resolve_model(&args.model)?;
    let gguf =
        Gguf::open(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let config = ModelConfig::from_gguf(&gguf.header)?;
    let tokenizer = tokenizer_from_gguf(&gguf.header)?;
    let info = TokenizerInfo::from_gguf(&gguf.header)?;
    let template = ChatTemplate::from_gguf(&gguf.header)?;

    let (train, valid) = load_examples(&args, &tokenizer, template.as_ref(), &info)?;
    eprintln!(
        "[xlingo] {} training and {} validation examples from {}",
        train.len(),
        valid.len(),
        args.data.display()
    );
    if train.is_empty() {
        bail!(
            "{}: no training examples left after splitting and tokenising",
            args.data.display()
        );
    }

    let device = match args.device {
        TrainDevice::Cpu => Device::flex(),
        TrainDevice::Gpu => Device::wgpu(DeviceKind::DefaultDevice),
    }
    .autodiff();
    let base = LoadedModel::from_gguf(&gguf, &device)?.model;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ckpt_dir = args.out.join("checkpoints");
    let identity = model_identity(&model_path)?;
    let mut trainer = open_trainer(
        base,
        &args.out,
        args.resume,
        &identity,
        device.clone(),
        |base| Ok(Trainer::new(base, sft_config(&args), device.clone())?),
    )?;
    let cfg = trainer.config().clone();
    let metrics_path = args.out.join("metrics.jsonl");
    keep_metrics_up_to(&metrics_path, trainer.steps_done())?;
    if args.log_batches {
        keep_metrics_up_to(&args.out.join("batches.jsonl"), trainer.steps_done())?;
    }
    let mut metrics = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .with_context(|| format!("opening {}", metrics_path.display()))?;
    eprintln!(
        "[xlingo] {:?} fine-tuning, {} trainable parameters, {} steps of {}×{} examples",
        cfg.method,
        trainer.trainable_params(),
        cfg.schedule.total_steps,
        cfg.batch_size,
        cfg.grad_accum
    );

    let bar = step_bar(cfg.schedule.total_steps, trainer.steps_done());
    // Throughput counts training steps only (not validation or checkpoints).
    let mut train_seconds = 0.0f64;
    let mut tokens_seen = 0usize;
    let mut input_tokens_seen = 0usize;
    let mut batch_log = match args.log_batches {
        true => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(args.out.join("batches.jsonl"))
                .with_context(|| format!("opening {}", args.out.join("batches.jsonl").display()))?,
        ),
        false => None,
    };
    let mut last_valid = None;
    // The starting point, so that the log shows how far validation loss fell.
    if trainer.steps_done() == 0 && !valid.is_empty() {
        let v = trainer.eval_loss(&valid);
        writeln!(metrics, "{}", json!({"step": 0, "valid_loss": v}))?;
        metrics.flush()?;
        bar.set_message(format!("valid {v:.3} before training"));
        last_valid = Some(v);
    }
    while trainer.steps_done() < cfg.schedule.total_steps {
        let step = trainer.steps_done();
        let micro: Vec<Vec<&Example>> =
            step_batches(train.len(), cfg.batch_size, cfg.grad_accum, step, cfg.seed)
                .into_iter()
                .map(|idx| idx.into_iter().map(|i| &train[i]).collect())
                .collect();
        if let Some(log) = batch_log.as_mut() {
            let batches: Vec<Vec<serde_json::Value>> = micro
                .iter()
                .map(|m| {
                    m.iter()
                        .map(|e| {
                            let mask: Vec<u8> = e.loss_on_next.iter().map(|&b| b as u8).collect();
                            json!({"ids": e.ids, "loss_on_next": mask})
                        })
                        .collect()
                })
                .collect();
            writeln!(
                log,
                "{}",
                json!({"step": step + 1, "micro_batches": batches})
            )?;
        }
        let step_started = Instant::now();
        let report = trainer.step(&micro)?;
        let step_seconds = step_started.elapsed().as_secs_f64();
        train_seconds += step_seconds;
        tokens_seen += report.tokens;
        input_tokens_seen += report.input_tokens;
        let elapsed = train_seconds.max(1e-9);
        let mut line = json!({
            "step": report.step, "loss": report.loss, "lr": report.lr,
            "tokens": report.tokens, "input_tokens": report.input_tokens,
            "step_s": step_seconds,
            "tokens_per_s": tokens_seen as f64 / elapsed,
            "input_tokens_per_s": input_tokens_seen as f64 / elapsed,
        });
        let done = report.step == cfg.schedule.total_steps;
        if !valid.is_empty()
            && (done || (args.eval_every > 0 && report.step % args.eval_every == 0))
        {
            let v = trainer.eval_loss(&valid);
            line["valid_loss"] = json!(v);
            last_valid = Some(v);
        }
        writeln!(metrics, "{line}")?;
        metrics.flush()?;
        bar.set_message(format!(
            "loss {:.3}{} {:.0} tok/s",
            report.loss,
            last_valid
                .map(|v| format!(" (valid {v:.3})"))
                .unwrap_or_default(),
            tokens_seen as f64 / elapsed
        ));
        bar.set_position(report.step as u64);
        if done || (args.save_every > 0 && report.step % args.save_every == 0) {
            metrics.sync_all()?;
            let extra = json!({"data": args.data, "model": identity});
            checkpoint::save(&trainer, &ckpt_dir, extra, 2)?;
        }
        if abort_after_step() == Some(report.step) {
            std::process::abort();
        }
    }
    bar.finish_and_clear();

    let kinds = if args.no_export {
        &[][..]
    } else {
        &args.export[..]
    };
    let (exports, skipped_exports) = export_all(
        trainer.model(),
        &cfg,
        &gguf,
        &config,
        &args.out,
        &args.model,
        kinds,
    )?;
    let summary = json!({
        "model": args.model, "data": args.data, "method": cfg.method,
        "config": cfg, "steps": trainer.steps_done(),
        "trainable_params": trainer.trainable_params(),
        "train_examples": train.len(), "valid_examples": valid.len(),
        "final_valid_loss": last_valid, "exports": exports,
        "skipped_exports": skipped_exports,
    });
    write_atomically(
        &args.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    eprintln!(
        "[xlingo] done: {} steps{}; wrote {}",
        trainer.steps_done(),
        last_valid
            .map(|v| format!(", validation loss {v:.3}"))
            .unwrap_or_default(),
        args.out.display()
    );
    Ok(())
}

fn sft_config(args: &SftArgs) -> SftConfig {
    SftConfig {
        method: args.method.into(),
        lora: LoraSettings {
            rank: args.rank,
            alpha: args.alpha,
            targets: args.targets.clone(),
            dropout: args.lora_dropout,
        },
        schedule: CosineSchedule {
            peak_lr: args.lr,
            min_lr: args.lr / 10.0,
            warmup_steps: args.warmup,
            total_steps: args.steps,
        },
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        weight_decay: args.weight_decay,
        seed: args.seed,
        top_layers: args.top_layers,
    }
}

/// Read, split (by source, so no validation source is trained on) and tokenise the data.
fn load_examples(
    args: &SftArgs,
    tokenizer: &tokenizers::Tokenizer,
    template: Option<&ChatTemplate>,
    info: &TokenizerInfo,
) -> Result<(Vec<Example>, Vec<Example>)> {
    let parsed = xlingo_data::fs::load_alpaca(&args.data)?;
    for issue in parsed.issues.iter().take(5) {
        eprintln!("[xlingo] skipped: {issue}");
    }
    if parsed.issues.len() > 5 {
        eprintln!(
            "[xlingo] … and {} more malformed records",
            parsed.issues.len() - 5
        );
    }
    let examples: Vec<DataExample> = parsed.records.into_iter().map(general_example).collect();
    let splits = split_by_source(
        examples,
        |e| e.source_text(),
        &SplitConfig {
            valid: args.valid_fraction,
            test: 0.0,
            seed: args.seed,
        },
    )?;
    let prompts = Prompts {
        prompt: args.prompt,
        max_len: args.max_len,
        tokenizer,
        template,
        info,
    };
    Ok((
        prompts.tokenize(&splits.train),
        prompts.tokenize(&splits.valid),
    ))
}

/// An Alpaca record as a training example (no language attached: the prompt is all it needs).
pub(crate) fn general_example(r: xlingo_data::Instruction) -> DataExample {
    DataExample {
        instruction: r.instruction,
        input: r.input,
        output: r.output,
        lang: String::new(),
        kind: Kind::General,
    }
}

/// How instruction records become token ids with a loss mask (shared by training and by
/// `xlingo eval lm`, so both see the same prompts).
pub(crate) struct Prompts<'a> {
    pub prompt: PromptArg,
    pub max_len: usize,
    pub tokenizer: &'a tokenizers::Tokenizer,
    pub template: Option<&'a ChatTemplate>,
    pub info: &'a TokenizerInfo,
}

impl Prompts<'_> {
    /// The records as examples, responses truncated to `max_len` tokens in all; records with
    /// no response token left are dropped (reported on stderr).
    pub fn tokenize(&self, set: &[DataExample]) -> Vec<Example> {
        let (style, chat) = match (self.prompt, self.template) {
            (PromptArg::Chat, Some(t)) => (
                PromptStyle::Chat {
                    template: t,
                    system: None,
                },
                true,
            ),
            _ => (PromptStyle::Alpaca, false),
        };
        let cfg = TokenizeConfig {
            max_len: self.max_len,
            overflow: Overflow::Truncate,
            add_special_tokens: !chat,
            eos_id: if chat { None } else { self.info.eos_id },
        };
        let (tokenized, report) = tokenize_examples(set, &style, self.tokenizer, &cfg);
        if report.truncated + report.dropped_too_long + report.failed.len() > 0 {
            eprintln!(
                "[xlingo] {} truncated, {} dropped as too long, {} failed to render",
                report.truncated,
                report.dropped_too_long,
                report.failed.len()
            );
        }
        tokenized
            .into_iter()
            .map(|t| Example::from_labels(t.input_ids, &t.labels))
            .filter(|e| e.targets() > 0)
            .collect()
    }
}

/// What a checkpoint remembers of the model file it was trained from (its name and size): a
/// checkpoint holds only the trained weights, so resuming over another model is refused.
pub(crate) fn model_identity(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    Ok(json!({"file": file, "bytes": bytes}))
}

/// The trainer of a run in `out`: restored from its newest checkpoint with `resume` (whose
/// settings win; `model` must be the [`model_identity`] it was trained from), else a new one
/// from `fresh` — refusing to start over a previous run.
pub(crate) fn open_trainer(
    base: Llama,
    out: &Path,
    resume: bool,
    model: &serde_json::Value,
    device: Device,
    fresh: impl FnOnce(Llama) -> Result<Trainer>,
) -> Result<Trainer> {
    let ckpt_dir = out.join("checkpoints");
    std::fs::create_dir_all(&ckpt_dir)
        .with_context(|| format!("creating {}", ckpt_dir.display()))?;
    match (resume, checkpoint::latest(&ckpt_dir)?) {
        (true, Some(dir)) => {
            if let Some(trained_from) = checkpoint::state(&dir)?.extra.get("model")
                && trained_from != model
            {
                bail!(
                    "{}: trained from the model {trained_from}, but the model given is {model}; resume with the same --model",
                    dir.display()
                );
            }
            let (trainer, state) = checkpoint::resume(base, &dir, device)?;
            eprintln!(
                "[xlingo] resuming from {} (step {}; its settings are used)",
                dir.display(),
                state.step
            );
            Ok(trainer)
        }
        (true, None) => bail!("--resume: no checkpoint in {}", ckpt_dir.display()),
        (false, Some(dir)) => bail!(
            "{} already holds a run (checkpoint {}); use --resume or another --out",
            out.display(),
            dir.display()
        ),
        (false, None) => fresh(base),
    }
}

/// Write the trained model as the `kinds` asked for: F16 GGUF, Hugging Face safetensors and,
/// for LoRA, a PEFT adapter; returns the paths written and the exports skipped (with why).
pub(crate) fn export_all(
    model: &Llama,
    cfg: &SftConfig,
    gguf: &Gguf,
    config: &ModelConfig,
    out: &Path,
    base_name: &str,
    kinds: &[ExportKind],
) -> Result<(Vec<String>, Vec<String>)> {
    let mut exports = Vec::new();
    let mut skipped = Vec::new();
    if kinds.contains(&ExportKind::Gguf) {
        let gguf_out = out.join("model-f16.gguf");
        export_gguf(model, gguf, GgmlType::F16, &gguf_out)?;
        exports.push(gguf_out.display().to_string());
    }
    let hf = out.join("hf");
    // Some models (Llama 3.1's RoPE factors) have no config.json form: keep the others.
    match kinds
        .contains(&ExportKind::Hf)
        .then(|| export_hf(model, config, gguf, &hf))
    {
        Some(Ok(())) => exports.push(hf.display().to_string()),
        Some(Err(e)) => {
            eprintln!("[xlingo] warning: no Hugging Face export: {e}");
            skipped.push(e.to_string());
        }
        None => {}
    }
    if cfg.method == Method::Lora && kinds.contains(&ExportKind::Adapter) {
        let adapter = out.join("adapter");
        export_peft(model, config, &cfg.lora, base_name, &adapter)?;
        exports.push(adapter.display().to_string());
    }
    Ok((exports, skipped))
}

/// The progress bar of a training run.
pub(crate) fn step_bar(total: usize, done: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] step {pos}/{len} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_position(done as u64);
    bar
}

/// After a crash, metrics.jsonl (and batches.jsonl) may hold steps past the checkpoint being
/// resumed: drop them.
pub(crate) fn keep_metrics_up_to(path: &Path, step: usize) -> Result<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let kept: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s as usize <= step)
        })
        .collect();
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())?;
    Ok(())
}
