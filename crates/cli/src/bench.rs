//! `xlingo bench`: prefill and decode speed, time to first token and memory of one engine on
//! one model — a benchmark, not a test. benches/compare.py runs it beside llama.cpp and the
//! reference engine and prints the ratios.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use xlingo_model::{GenerateOptions, SamplingParams};

use crate::assets::DEFAULT_MODEL;
use crate::session::{
    DeviceChoice, Engine, EngineChoice, EngineSpec, KvCache, Session, resolve_model,
};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A GGUF file, a Hugging Face checkpoint directory, or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineChoice,
    /// Device of the reference engine.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Prompt length in tokens (a fixed English passage, repeated as needed).
    #[arg(long, default_value_t = 64)]
    prompt_tokens: usize,
    /// Tokens to generate (greedy unless --sample; stop tokens ignored).
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    /// Measured runs; the statistics are over these.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Unmeasured runs first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// KV-cache positions of the WGSL engine (default: prompt + generated tokens).
    #[arg(long)]
    context: Option<usize>,
    /// How the WGSL engine keeps keys and values.
    #[arg(long, value_enum, default_value = "f16")]
    kv_cache: KvCache,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also time each WGSL kernel of one decode step and one prefill chunk (gpu engine).
    #[arg(long)]
    profile: bool,
    /// Sequences decoded together (the WGSL engine's batched generation, as `xlingo eval`
    /// uses it): this many prompts (the passage from different offsets) per run; prefill and
    /// decode tok/s count all of them. WGSL engine only.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Sample with `xlingo generate`'s defaults (llama.cpp's: temperature 0.8, top-k 40, top-p
    /// 0.95, min-p 0.05; seed 0) instead of greedy decoding; add a repetition penalty with
    /// --repeat-penalty.
    #[arg(long)]
    sample: bool,
    /// With --sample: the repetition penalty (1.0 is off).
    #[arg(long, default_value_t = 1.0, requires = "sample")]
    repeat_penalty: f32,
}

const PASSAGE: &str = "The history of languages is a history of people moving, trading and \
telling stories. Words travel along rivers and roads; grammar changes slowly, sounds change \
faster, and every generation hears the language of its parents a little differently. ";

struct Run {
    prefill_tok_s: f64,
    decode_tok_s: f64,
    ttft_s: f64,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.runs == 0 || args.prompt_tokens == 0 || args.gen_tokens < 2 || args.batch_size == 0 {
        bail!("need --runs ≥ 1, --prompt-tokens ≥ 1, --gen-tokens ≥ 2 and --batch-size ≥ 1");
    }
    let path = resolve_model(&args.model)?;
    let spec = EngineSpec {
        engine: args.engine,
        device: args.device,
        context: Some(
            args.context
                .unwrap_or(args.prompt_tokens + args.gen_tokens + 1),
        ),
        sequences: args.batch_size,
        kv_cache: args.kv_cache,
    };
    let mut session =
        Session::load(&path, &spec).with_context(|| format!("loading {}", path.display()))?;
    if args.batch_size > 1 && matches!(session.engine, Engine::Reference { .. }) {
        bail!(
            "--batch-size {} needs the WGSL engine (--engine gpu): the reference engine serves one prompt at a time",
            args.batch_size
        );
    }
    let passage = prompt_ids(&session, args.prompt_tokens + args.batch_size - 1)?;
    let prompts: Vec<Vec<u32>> = (0..args.batch_size)
        .map(|i| passage[i..i + args.prompt_tokens].to_vec())
        .collect();
    let prompt = &prompts[0];
    let options = GenerateOptions {
        max_tokens: args.gen_tokens,
        stop_ids: vec![],
        sampling: if args.sample {
            SamplingParams {
                repeat_penalty: args.repeat_penalty,
                ..SamplingParams::default()
            }
        } else {
            SamplingParams::greedy()
        },
    };
    if !args.json {
        eprintln!(
            "[xlingo] bench {} with {}",
            path.display(),
            session.engine.describe()
        );
    }
    let mut runs = Vec::new();
    for i in 0..args.warmup + args.runs {
        // Every run measures the whole prompt: no prefix reused from the previous run.
        session.engine.reset();
        let started = Instant::now();
        let mut first = vec![None; args.batch_size];
        let mut generated = 0;
        let mut on_token = |i: usize| {
            first[i].get_or_insert_with(|| started.elapsed().as_secs_f64());
            generated += 1;
            true
        };
        if args.batch_size == 1 {
            session.engine.generate(prompt, &options, |_| on_token(0))?;
        } else {
            session
                .engine
                .generate_batch(&prompts, &options, |i, _| on_token(i), |_, _, _| {})?;
        }
        let total = started.elapsed().as_secs_f64();
        // Prefill: until every prompt has its first token; decode: the tokens after those.
        let firsts: Vec<f64> = first.iter().map(|t| t.unwrap_or(total)).collect();
        let all_first = firsts.iter().copied().fold(0.0, f64::max);
        let run = Run {
            prefill_tok_s: (args.batch_size * prompt.len()) as f64 / all_first,
            decode_tok_s: (generated - args.batch_size) as f64 / (total - all_first).max(1e-9),
            ttft_s: firsts[0],
        };
        if !args.json {
            eprintln!(
                "[xlingo] {} {}: prefill {:.1} tok/s, decode {:.1} tok/s, first token {:.3}s",
                if i < args.warmup { "warm-up" } else { "run" },
                i + 1,
                run.prefill_tok_s,
                run.decode_tok_s,
                run.ttft_s
            );
        }
        if i >= args.warmup {
            runs.push(run);
        }
    }
    if let (true, Engine::Gpu(e)) = (args.profile, &mut session.engine) {
        for (what, tokens) in [
            ("decode step", &prompt[..1]),
            ("prefill chunk", &prompt[..]),
        ] {
            let n = tokens.len().min(e.prefill_chunk());
            eprintln!("[xlingo] profile of one {what} ({n} tokens):");
            for (name, seconds, count) in e.profile(tokens) {
                eprintln!(
                    "  {name:<18} {:>8.2} ms in {count} dispatches",
                    seconds * 1e3
                );
            }
        }
    }
    let (engine, device, gpu_bytes) = match &session.engine {
        Engine::Gpu(e) => (
            "gpu",
            e.gpu().adapter.to_string(),
            Some(e.gpu_buffer_bytes()),
        ),
        Engine::Reference { device, .. } => ("reference", format!("burn {device:?}"), None),
    };
    let prefill = stats(runs.iter().map(|r| r.prefill_tok_s));
    let decode = stats(runs.iter().map(|r| r.decode_tok_s));
    let ttft = stats(runs.iter().map(|r| r.ttft_s));
    let peak = peak_host_bytes();
    if args.json {
        let report = json!({
            "engine": engine,
            "device": device,
            "model": path.display().to_string(),
            "prompt_tokens": prompt.len(),
            "gen_tokens": args.gen_tokens,
            "batch_size": args.batch_size,
            "kv_cache": format!("{:?}", args.kv_cache).to_lowercase(),
            "sampling": format!("{:?}", options.sampling),
            "runs": args.runs,
            "prefill_tok_s": prefill.to_json(),
            "decode_tok_s": decode.to_json(),
            "ttft_s": ttft.to_json(),
            "peak_host_bytes": peak,
            "gpu_buffer_bytes": gpu_bytes,
        });
        println!("{report}");
    } else {
        println!("engine   {engine} ({device})");
        println!("model    {}", path.display());
        println!(
            "prompt   {} tokens, generate {} tokens, {} runs{}",
            prompt.len(),
            args.gen_tokens,
            args.runs,
            match args.batch_size {
                1 => String::new(),
                n => format!(", {n} sequences together (tok/s count all)"),
            }
        );
        if args.sample {
            println!("sampling {:?}", options.sampling);
        }
        println!("prefill  {} tok/s", prefill.show(1));
        println!("decode   {} tok/s", decode.show(1));
        println!("TTFT     {} s", ttft.show(3));
        if let Some(peak) = peak {
            println!("host     peak {:.1} MB resident", peak as f64 / 1e6);
        }
        if let Some(bytes) = gpu_bytes {
            println!("gpu      {:.1} MB in buffers", bytes as f64 / 1e6);
        }
    }
    Ok(())
}

/// `n` tokens of the passage, repeated as needed.
fn prompt_ids(session: &Session, n: usize) -> Result<Vec<u32>> {
    let text = PASSAGE.repeat(n / 16 + 1);
    let ids = session
        .tokenizer
        .encode(text.as_str(), false)
        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?
        .get_ids()
        .to_vec();
    if ids.len() < n {
        bail!(
            "the tokenizer made only {} tokens of the passage",
            ids.len()
        );
    }
    Ok(ids[..n].to_vec())
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(values: impl Iterator<Item = f64>) -> Stats {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Stats {
        median,
        min: v[0],
        max: v[v.len() - 1],
    }
}

impl Stats {
    fn to_json(&self) -> serde_json::Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }

    fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} (min {:.d$}, max {:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// The process's peak resident set (VmHWM), where the OS reports it.
fn peak_host_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
