//! `xlingo generate`: prompt in, streamed tokens out.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use xlingo_formats::tokenizer::StreamDecoder;
use xlingo_model::{GenerateOptions, SamplingParams, StopReason};

use crate::assets::DEFAULT_MODEL;
use crate::session::{DeviceChoice, EngineChoice, EngineSpec, KvCache, Session, resolve_model};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A GGUF file, a Hugging Face checkpoint directory, or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// The prompt text.
    #[arg(
        long,
        conflicts_with = "prompt_file",
        required_unless_present = "prompt_file"
    )]
    prompt: Option<String>,
    /// Read the prompt from a UTF-8 file.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Wrap the prompt as a user message in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// System message (with --chat).
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// 0 keeps all tokens.
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    /// 1.0 is off.
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Stop when this text appears (repeatable); it is not printed.
    #[arg(long)]
    stop: Vec<String>,
    /// Which engine runs the model.
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineChoice,
    /// Device of the reference engine.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// KV-cache positions of the WGSL engine (default: the model's context length, at most
    /// 8192; the cache is allocated up front).
    #[arg(long)]
    context: Option<usize>,
    /// How the WGSL engine keeps keys and values.
    #[arg(long, value_enum, default_value = "f16")]
    kv_cache: KvCache,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let prompt = read_prompt(&args)?;
    let path = resolve_model(&args.model)?;
    let started = Instant::now();
    let spec = EngineSpec {
        engine: args.engine,
        device: args.device,
        context: args.context,
        sequences: 1,
        kv_cache: args.kv_cache,
    };
    let mut session =
        Session::load(&path, &spec).with_context(|| format!("loading {}", path.display()))?;
    eprintln!(
        "[xlingo] {} ({} layers, d {}) with {}, loaded in {:.1}s",
        path.display(),
        session.config.n_layers,
        session.config.hidden_size,
        session.engine.describe(),
        started.elapsed().as_secs_f64()
    );
    if let crate::session::Engine::Gpu(e) = &session.engine {
        for note in e.notes() {
            eprintln!("[xlingo] note: {note}");
        }
    }

    let ids = session.prompt_ids(&prompt, args.chat, args.system.as_deref(), &path)?;

    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        stop_ids: session.stop_ids.clone(),
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            seed: args.seed,
            ..SamplingParams::default()
        },
    };
    let mut decoder = StreamDecoder::new(&session.tokenizer, true);
    let mut out = std::io::stdout().lock();
    let mut held = String::new();
    let started = Instant::now();
    let mut first_token = None;
    let (generated, reason) = session.engine.generate(&ids, &options, |token| {
        first_token.get_or_insert_with(|| started.elapsed());
        held.push_str(&decoder.push(token).unwrap_or_default());
        if let Some(cut) = args.stop.iter().filter_map(|s| held.find(s.as_str())).min() {
            held.truncate(cut);
            let _ = write!(out, "{held}");
            held.clear();
            return false;
        }
        // Hold back a tail that could still become a stop string.
        let keep = args
            .stop
            .iter()
            .map(|s| s.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        let mut split = held.len().saturating_sub(keep);
        while !held.is_char_boundary(split) {
            split -= 1;
        }
        let ready: String = held.drain(..split).collect();
        let _ = write!(out, "{ready}");
        let _ = out.flush();
        true
    })?;
    if reason != StopReason::Callback {
        held.push_str(&decoder.flush());
        let _ = write!(out, "{held}");
    }
    writeln!(out)?;
    let total = started.elapsed().as_secs_f64();
    let ttft = first_token.map_or(total, |d| d.as_secs_f64());
    let decode_rate = if generated.len() > 1 {
        (generated.len() - 1) as f64 / (total - ttft).max(1e-9)
    } else {
        0.0
    };
    eprintln!(
        "[xlingo] prompt {} tokens, generated {} tokens ({reason:?}); time to first token {:.2}s, decode {:.1} tok/s",
        ids.len(),
        generated.len(),
        ttft,
        decode_rate
    );
    Ok(())
}

fn read_prompt(args: &GenerateArgs) -> Result<String> {
    match (&args.prompt, &args.prompt_file) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            String::from_utf8(bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{}: invalid UTF-8 at byte {}",
                    path.display(),
                    e.utf8_error().valid_up_to()
                )
            })
        }
        (None, None) => bail!("give --prompt or --prompt-file"),
    }
}
