//! `xlingo lens probe|train` (Lens, METHODS.md part b).
//!
//! probe: parallel prompts, chat-templated as user turns, go through the model; the last
//! token's hidden state at every layer (the top one after the final norm, as Hugging Face's
//! `hidden_states[-1]`) feeds xlingo-eval's LSAR probe, which finds per layer the
//! language-agnostic direction, a rank-r language-specific subspace and each language's
//! shift from the pivot. Written: subspaces.safetensors + subspaces.json, projections.json
//! and a figure of the languages in both subspaces per layer.
//!
//! train: the top K layers are tuned with xlingo-train's Lens loss on prompts alone (no
//! responses), with the SFT machinery: AdamW, cosine schedule, accumulation, clipping,
//! metrics.jsonl, atomic checkpoints, --resume, and the same exports.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, DeviceKind};
use clap::{Args, Subcommand};
use serde_json::json;
use xlingo_eval::subspace::{
    LayerSubspaces, ProbeOptions, from_safetensors, probe_layer, safetensors_metadata,
    to_safetensors,
};
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::tokenizer_from_gguf;
use xlingo_formats::{Gguf, ModelConfig};
use xlingo_model::LoadedModel;
use xlingo_train::{
    CosineSchedule, LensSpace, LensTrainer, LensWeights, LoraSettings, ParallelPrompt, SftConfig,
    Trainer, checkpoint, step_batches,
};

use crate::assets::{DEFAULT_MODEL, count_bar, write_atomically, write_json};
use crate::parallel::{Corpus, fitting, prompt_corpus};
use crate::session::resolve_model;
use crate::train::{
    ExportKind, MethodArg, TrainDevice, abort_after_step, export_all, keep_metrics_up_to,
    model_identity, open_trainer, step_bar,
};

#[derive(Subcommand, Debug)]
pub enum LensCommand {
    /// Find each layer's language-agnostic direction and language-specific subspace from
    /// parallel prompts (LSAR), with every language's shift from the pivot.
    Probe(ProbeArgs),
    /// Tune the top layers: pull the target languages toward the pivot in the agnostic
    /// direction, push them along their own shift in the specific subspace, keep the pivot.
    Train(TrainArgs),
}

/// Where the parallel prompts come from and how many.
#[derive(Args, Debug, Clone)]
pub struct PromptArgs {
    /// A GGUF model file or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Languages, the pivot first (ISO 639-1 codes, or udhr file codes).
    #[arg(long, value_delimiter = ',', default_value = "en,es,zh")]
    langs: Vec<String>,
    /// Parallel prompts: JSONL with one object per prompt keyed by language
    /// (`{"en": "…", "es": "…"}`), or `udhr` for paragraphs of the UDHR. Default: xlingo's
    /// bundled en/es/zh instructions (crates/data/assets/lens-prompts.jsonl) when they cover
    /// --langs, else the UDHR.
    #[arg(long)]
    prompts: Option<String>,
    /// Skip the first N prompts (e.g. to train on other prompts than those probed).
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// Use at most N prompts (200: the bundled prompts' training part; p201–p240 stay
    /// held out for `xlingo eval chat --skip 200`).
    #[arg(long, default_value_t = 200)]
    max_prompts: usize,
    /// Prompts longer than this (chat template included) in any language are left out.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    #[command(flatten)]
    prompts: PromptArgs,
    /// Rank of the language-specific subspace (default: languages − 1).
    #[arg(long)]
    rank: Option<usize>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    prompts: PromptArgs,
    /// The probe's output directory (its top layer's subspaces are used).
    #[arg(long)]
    space: PathBuf,
    /// Output directory: metrics.jsonl, checkpoints/, exports, summary.json.
    #[arg(long)]
    out: PathBuf,
    /// Decoder layers to tune, counted from the top (Lens tunes the last 2 of 32).
    #[arg(long, default_value_t = 2)]
    top_layers: usize,
    #[arg(long, value_enum, default_value = "full")]
    method: MethodArg,
    /// LoRA rank, alpha and targets (with --method lora).
    #[arg(long, default_value_t = 8)]
    rank: usize,
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    #[arg(long, default_value = "q,k,v,o,gate,up,down", value_delimiter = ',')]
    targets: Vec<String>,
    /// LoRA dropout (with --method lora).
    #[arg(long, default_value_t = 0.0)]
    lora_dropout: f64,
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    /// Passes over the prompts (ignored when --steps is given).
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Optimizer steps (default: --epochs passes over the prompts).
    #[arg(long)]
    steps: Option<usize>,
    /// Prompts per optimizer step (one at a time, accumulated).
    #[arg(long, default_value_t = 8)]
    grad_accum: usize,
    /// Warm-up as a share of the steps.
    #[arg(long, default_value_t = 0.05)]
    warmup_ratio: f64,
    #[arg(long, default_value_t = 0.1)]
    weight_decay: f32,
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f32,
    /// Weight of the pivot-retention term.
    #[arg(long, default_value_t = 1.0)]
    w_retain: f64,
    /// Weight of the language-specific push.
    #[arg(long, default_value_t = 1.0)]
    w_push: f64,
    /// Weight of the language-agnostic pull.
    #[arg(long, default_value_t = 1.0)]
    w_pull: f64,
    /// How far along its shift each language is pushed (multiples of the shift).
    #[arg(long, default_value_t = 1.0)]
    push_scale: f64,
    #[arg(long, default_value_t = 50)]
    save_every: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "cpu")]
    device: TrainDevice,
    /// Continue from the newest checkpoint in OUT/checkpoints (its settings win).
    #[arg(long)]
    resume: bool,
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
}

pub fn run(command: LensCommand) -> Result<()> {
    match command {
        LensCommand::Probe(args) => probe(args),
        LensCommand::Train(args) => train(args),
    }
}

/// The model file with what prompts need.
struct Loaded {
    path: PathBuf,
    gguf: Gguf,
    config: ModelConfig,
    tokenizer: tokenizers::Tokenizer,
    template: Option<ChatTemplate>,
}

fn load(model: &str) -> Result<Loaded> {
    let path = resolve_model(model)?;
    let gguf = Gguf::open(&path).with_context(|| format!("loading {}", path.display()))?;
    Ok(Loaded {
        config: ModelConfig::from_gguf(&gguf.header)?,
        tokenizer: tokenizer_from_gguf(&gguf.header)?,
        template: ChatTemplate::from_gguf(&gguf.header)?,
        gguf,
        path,
    })
}

/// A text as a user turn of the model's chat template, ready for the assistant's answer
/// (plain text for models without a template), as token ids.
fn prompt_ids(m: &Loaded, text: &str) -> Result<Vec<u32>> {
    xlingo_data::prompt::user_prompt_ids(text, &m.tokenizer, m.template.as_ref())
        .map_err(|e| anyhow::anyhow!(e))
}

/// The parallel prompts, tokenised: `ids[l][i]`.
fn tokenised_prompts(m: &Loaded, args: &PromptArgs) -> Result<(Corpus, Vec<Vec<Vec<u32>>>)> {
    if args.langs.len() < 2 {
        bail!("--langs needs the pivot and at least one other language");
    }
    let corpus = prompt_corpus(args.prompts.as_deref(), &args.langs)?;
    let corpus = fitting(&corpus, args.skip, args.max_prompts, args.max_tokens, |t| {
        Ok(prompt_ids(m, t)?.len())
    })?;
    let ids = corpus
        .texts
        .iter()
        .map(|texts| texts.iter().map(|t| prompt_ids(m, t)).collect())
        .collect::<Result<_>>()?;
    Ok((corpus, ids))
}

fn probe(args: ProbeArgs) -> Result<()> {
    let m = load(&args.prompts.model)?;
    let (corpus, ids) = tokenised_prompts(&m, &args.prompts)?;
    let device = Device::flex();
    let model = LoadedModel::from_gguf(&m.gguf, &device)?.model;
    let n_layers = m.config.n_layers;
    // states[layer - 1][language] = one vector per prompt, for layers 1..=n_layers.
    let mut states: Vec<Vec<(String, Vec<Vec<f32>>)>> = vec![Vec::new(); n_layers];
    let total: usize = ids.iter().map(Vec::len).sum();
    let bar = count_bar(total, "prompts");
    for (lang, prompts) in corpus.languages.iter().zip(&ids) {
        bar.set_message(format!("{lang}: hidden states"));
        let mut per_layer = vec![Vec::new(); n_layers];
        for p in prompts {
            let s = xlingo_model::sentence_states(&model, p, &device)?;
            for layer in 1..n_layers {
                per_layer[layer - 1].push(s.last[layer].clone());
            }
            per_layer[n_layers - 1].push(s.normed_last);
            bar.inc(1);
        }
        for (layer, rows) in per_layer.into_iter().enumerate() {
            states[layer].push((lang.clone(), rows));
        }
    }
    bar.finish_and_clear();

    let options = ProbeOptions {
        rank: args.rank,
        pivot: corpus.languages[0].clone(),
    };
    let mut layers = Vec::new();
    let mut projections = Vec::new();
    for (i, per_lang) in states.iter().enumerate() {
        let layer = i + 1;
        let space =
            probe_layer(per_lang, &options).with_context(|| format!("probing layer {layer}"))?;
        let mut languages = Vec::new();
        for (lang, rows) in per_lang {
            let coords = rows
                .iter()
                .map(|h| space.coordinates(h))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            languages.push(json!({
                "language": lang,
                "agnostic": coords.iter().map(|c| c.0).collect::<Vec<_>>(),
                "specific": coords.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
            }));
        }
        projections.push(json!({ "layer": layer, "languages": languages }));
        layers.push((layer, space));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (bytes, metadata) = to_safetensors(&layers)?;
    write_atomically(&args.out.join("subspaces.safetensors"), &bytes)?;
    let top = &layers[n_layers - 1].1;
    let summary = json!({
        "model": m.path.display().to_string(),
        "languages": corpus.languages,
        "pivot": options.pivot,
        "prompts": corpus.len(),
        "rank": top.rank,
        "hidden_size": top.dim,
        "top_layer_note": "layer n_layers is the last token after the final norm (Hugging Face's hidden_states[-1]); the others are the residual stream",
        "layers": layers.iter().map(|(layer, s)| json!({
            "layer": layer,
            "singular_values": s.singular_values,
            "shift_norms": s.shifts.iter().map(|(lang, d)| (lang.clone(), json!(norm(d)))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "safetensors_metadata": metadata,
    });
    write_json(&args.out.join("subspaces.json"), &summary)?;
    write_json(&args.out.join("projections.json"), &json!(projections))?;
    crate::figures::write_figures(&args.out, &[crate::figures::lens_figure(&projections)?])?;
    let shifts: Vec<String> = top
        .shifts
        .iter()
        .filter(|(lang, _)| *lang != options.pivot)
        .map(|(lang, d)| format!("{lang} {:.2}", norm(d)))
        .collect();
    eprintln!(
        "[xlingo] probed {} layers on {} prompts × {} languages (rank {}); top-layer shifts from {}: {}; wrote {}",
        n_layers,
        corpus.len(),
        corpus.languages.len(),
        top.rank,
        options.pivot,
        shifts.join(", "),
        args.out.display()
    );
    Ok(())
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

/// The top layer's subspaces from a probe directory.
fn read_space(dir: &Path, n_layers: usize, hidden: usize) -> Result<LensSpace> {
    let st = dir.join("subspaces.safetensors");
    let bytes = std::fs::read(&st).with_context(|| format!("reading {}", st.display()))?;
    let layers: Vec<(usize, LayerSubspaces)> = safetensors_metadata(&bytes)
        .and_then(|meta| from_safetensors(&bytes, &meta))
        .with_context(|| format!("reading {}", st.display()))?;
    let Some((_, top)) = layers.into_iter().find(|(layer, _)| *layer == n_layers) else {
        bail!(
            "{}: no subspaces for layer {n_layers}, the model's top layer (probed on another model?)",
            st.display()
        );
    };
    if top.dim != hidden {
        bail!(
            "{}: subspaces of size {}, the model's hidden size is {hidden} (probed on another model?)",
            st.display(),
            top.dim
        );
    }
    Ok(LensSpace {
        agnostic: top.agnostic.clone(),
        specific: top.specific.clone(),
        shifts: top.shifts.iter().cloned().collect(),
    })
}

fn train(args: TrainArgs) -> Result<()> {
    let m = load(&args.prompts.model)?;
    let space = read_space(&args.space, m.config.n_layers, m.config.hidden_size)?;
    let (corpus, ids) = tokenised_prompts(&m, &args.prompts)?;
    let pivot = &corpus.languages[0];
    for lang in &corpus.languages[1..] {
        if !space.shifts.contains_key(lang) {
            bail!(
                "{}: `{lang}` was not probed (probed: {}); probe it with the pivot first",
                args.space.display(),
                space.shifts.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let prompts: Vec<ParallelPrompt> = (0..corpus.len())
        .map(|i| ParallelPrompt {
            pivot: ids[0][i].clone(),
            targets: corpus.languages[1..]
                .iter()
                .zip(&ids[1..])
                .map(|(lang, lang_ids)| (lang.clone(), lang_ids[i].clone()))
                .collect(),
        })
        .collect();
    let steps = args
        .steps
        .unwrap_or_else(|| (args.epochs * prompts.len()).div_ceil(args.grad_accum.max(1)));
    let weights = LensWeights {
        retain: args.w_retain,
        specific_push: args.w_push,
        agnostic_pull: args.w_pull,
        push_scale: args.push_scale,
    };
    let config = SftConfig {
        method: args.method.into(),
        lora: LoraSettings {
            rank: args.rank,
            alpha: args.alpha,
            targets: args.targets.clone(),
            dropout: args.lora_dropout,
        },
        schedule: CosineSchedule {
            peak_lr: args.lr,
            min_lr: 0.0,
            warmup_steps: (args.warmup_ratio * steps as f64).ceil() as usize,
            total_steps: steps,
        },
        batch_size: 1,
        grad_accum: args.grad_accum,
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        weight_decay: args.weight_decay,
        seed: args.seed,
        top_layers: Some(args.top_layers),
    };

    let device = match args.device {
        TrainDevice::Cpu => Device::flex(),
        TrainDevice::Gpu => Device::wgpu(DeviceKind::DefaultDevice),
    }
    .autodiff();
    let base = LoadedModel::from_gguf(&m.gguf, &device)?.model;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // The frozen parts and θ0's outputs come from the base model, also when resuming.
    let mut lens = LensTrainer::new(
        base.clone(),
        config.clone(),
        weights.clone(),
        &space,
        &prompts,
        device.clone(),
    )?;
    let identity = model_identity(&m.path)?;
    let trainer = open_trainer(
        base,
        &args.out,
        args.resume,
        &identity,
        device.clone(),
        |base| Ok(Trainer::new(base, config, device.clone())?),
    )?;
    lens.set_trainer(trainer);
    let cfg = lens.trainer().config().clone();
    let all: Vec<usize> = (0..prompts.len()).collect();

    let metrics_path = args.out.join("metrics.jsonl");
    keep_metrics_up_to(&metrics_path, lens.trainer().steps_done())?;
    let mut metrics = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .with_context(|| format!("opening {}", metrics_path.display()))?;
    eprintln!(
        "[xlingo] Lens on the top {} layers ({:?}, {} trainable parameters): {} prompts in {} (pivot {pivot}), {} steps of {}",
        args.top_layers,
        cfg.method,
        lens.trainer().trainable_params(),
        prompts.len(),
        corpus.languages.join(", "),
        cfg.schedule.total_steps,
        cfg.grad_accum
    );
    if lens.trainer().steps_done() == 0 {
        let start = lens.evaluate(&all)?;
        writeln!(metrics, "{}", json!({"step": 0, "eval": start}))?;
        metrics.flush()?;
    }
    let bar = step_bar(cfg.schedule.total_steps, lens.trainer().steps_done());
    let started = Instant::now();
    while lens.trainer().steps_done() < cfg.schedule.total_steps {
        let step = lens.trainer().steps_done();
        let indices: Vec<usize> = step_batches(prompts.len(), 1, cfg.grad_accum, step, cfg.seed)
            .into_iter()
            .flatten()
            .collect();
        let report = lens.step(&indices)?;
        let done = report.step == cfg.schedule.total_steps;
        let mut line = json!({"step": report.step, "lr": report.lr, "loss": report.losses,
            "elapsed_s": started.elapsed().as_secs_f64()});
        if done {
            line["eval"] = json!(lens.evaluate(&all)?);
        }
        writeln!(metrics, "{line}")?;
        metrics.flush()?;
        let l = &report.losses;
        bar.set_message(format!(
            "loss {:.4} (retain {:.4}, push {:.4}, pull {:.4})",
            l.total, l.retain, l.specific_push, l.agnostic_pull
        ));
        bar.set_position(report.step as u64);
        if done || (args.save_every > 0 && report.step % args.save_every == 0) {
            metrics.sync_all()?;
            let extra = json!({"model": identity});
            checkpoint::save(lens.trainer(), &args.out.join("checkpoints"), extra, 2)?;
        }
        if abort_after_step() == Some(report.step) {
            std::process::abort();
        }
    }
    bar.finish_and_clear();
    let end = lens.evaluate(&all)?;
    let kinds = if args.no_export {
        &[][..]
    } else {
        &args.export[..]
    };
    let (exports, skipped_exports) = export_all(
        lens.trainer().model(),
        &cfg,
        &m.gguf,
        &m.config,
        &args.out,
        &args.prompts.model,
        kinds,
    )?;
    let summary = json!({
        "model": args.prompts.model, "space": args.space, "languages": corpus.languages,
        "prompts": prompts.len(), "config": cfg, "weights": weights,
        "steps": lens.trainer().steps_done(),
        "trainable_params": lens.trainer().trainable_params(),
        "final": end, "exports": exports, "skipped_exports": skipped_exports,
    });
    write_json(&args.out.join("summary.json"), &summary)?;
    eprintln!(
        "[xlingo] done: {} steps; loss {:.4} (retain {:.4}, push {:.4}, pull {:.4}); wrote {}",
        lens.trainer().steps_done(),
        end.total,
        end.retain,
        end.specific_push,
        end.agnostic_pull,
        args.out.display()
    );
    Ok(())
}
