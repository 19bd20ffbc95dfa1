//! `xlingo logits`: the burn reference model's logits for one or more prompts, written as a
//! safetensors file, so that outside implementations can be compared with ours on exactly the
//! same token ids (scripts/reference/check_hf_export.py compares HF transformers and PEFT).
//!
//! For prompt N the file holds `ids.N` (I64, [positions]: the token ids fed to the model) and
//! `logits.N` (F32, [positions, vocab], or [1, vocab] with `--last-only`): row t is the
//! distribution over the token after position t, from one forward pass over the whole prompt.
//! The metadata (`xlingo.*`, JSON strings) names the model, the texts tokenised (rendered chat
//! template included), and the settings.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use xlingo_model::ForwardOptions;

use crate::assets::{DEFAULT_MODEL, write_atomically};
use crate::session::{
    DeviceChoice, Engine, EngineChoice, EngineSpec, KvCache, Session, resolve_model,
};

#[derive(Args, Debug)]
pub struct LogitsArgs {
    /// A GGUF file, a Hugging Face checkpoint directory, or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// A prompt; repeat the flag for more (prompt N is `ids.N` / `logits.N` in the output).
    #[arg(long, required = true)]
    prompt: Vec<String>,
    /// Wrap each prompt as a user message in the model's chat template (with the generation
    /// prompt), as `generate --chat` does.
    #[arg(long)]
    chat: bool,
    /// System message (with --chat).
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Only the last position's logits (default: every position).
    #[arg(long)]
    last_only: bool,
    /// Device of the burn reference model.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: LogitsArgs) -> Result<()> {
    let path = resolve_model(&args.model)?;
    let started = Instant::now();
    let spec = EngineSpec {
        engine: EngineChoice::Reference,
        device: args.device,
        context: None,
        sequences: 1,
        kv_cache: KvCache::F32,
    };
    let session =
        Session::load(&path, &spec).with_context(|| format!("loading {}", path.display()))?;
    let Engine::Reference { model, device } = &session.engine else {
        unreachable!("the reference engine was asked for");
    };
    eprintln!(
        "[xlingo] {} ({} layers, d {}) with {}, loaded in {:.1}s",
        path.display(),
        session.config.n_layers,
        session.config.hidden_size,
        session.engine.describe(),
        started.elapsed().as_secs_f64()
    );

    let mut tensors: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = Vec::new();
    let mut texts = Vec::new();
    for (n, prompt) in args.prompt.iter().enumerate() {
        let text = session.prompt_text(prompt, args.chat, args.system.as_deref(), &path)?;
        let ids = session.encode(&text, !args.chat)?;
        if ids.is_empty() {
            bail!("prompt {n} tokenises to nothing");
        }
        if ids.len() > session.config.context_length {
            bail!(
                "prompt {n} has {} tokens, more than the model's context of {}",
                ids.len(),
                session.config.context_length
            );
        }
        let tokens = xlingo_model::token_tensor(&ids, device);
        let out = model.model.forward(
            tokens,
            &mut model.model.new_cache(),
            ForwardOptions {
                last_only: args.last_only,
                ..Default::default()
            },
        );
        let [_, rows, vocab] = out.logits.dims();
        let logits = out
            .logits
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
        tensors.push((
            format!("ids.{n}"),
            vec![ids.len()],
            Dtype::I64,
            ids.iter().flat_map(|&t| (t as i64).to_le_bytes()).collect(),
        ));
        tensors.push((
            format!("logits.{n}"),
            vec![rows, vocab],
            Dtype::F32,
            logits.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
        texts.push(text);
    }

    let views = tensors
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = [
        (
            "xlingo.model",
            serde_json::json!(path.display().to_string()),
        ),
        ("xlingo.prompts", serde_json::json!(args.prompt)),
        ("xlingo.texts", serde_json::json!(texts)),
        ("xlingo.chat", serde_json::json!(args.chat)),
        ("xlingo.system", serde_json::json!(args.system)),
        ("xlingo.last_only", serde_json::json!(args.last_only)),
        (
            "xlingo.engine",
            serde_json::json!(session.engine.describe()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let bytes = safetensors::serialize(views, Some(metadata))?;
    write_atomically(&args.out, &bytes)?;
    eprintln!(
        "[xlingo] logits of {} prompt(s) written to {}",
        args.prompt.len(),
        args.out.display()
    );
    Ok(())
}
