//! `xlingo`: make a LLaMA-family model better at your language, on your own machine.

mod analyze;
mod assets;
mod bench;
mod data;
mod eval;
mod experiment;
mod figures;
mod generate;
mod inspect;
mod lens;
mod lm;
mod logits;
mod parallel;
mod report;
mod scaling;
mod session;
mod tiny;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xlingo",
    version,
    about = "Cross-lingual tuning, evaluation and chat for LLaMA-family models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download a known asset into the cache (~/.cache/xlingo, or $XLINGO_CACHE), checksummed.
    Fetch {
        /// Asset name (see --list).
        asset: Option<String>,
        /// List the known assets and whether they are cached.
        #[arg(long)]
        list: bool,
        /// Download again even if cached.
        #[arg(long)]
        force: bool,
    },
    /// Generate text from a prompt, streaming tokens to stdout.
    Generate(generate::GenerateArgs),
    /// Write the burn reference model's logits for prompts (safetensors: token ids and f32
    /// logits of every position), to compare with other implementations.
    Logits(logits::LogitsArgs),
    /// Measure prefill and decode speed, time to first token and memory (see benches/).
    Bench(bench::BenchArgs),
    /// Evaluate a model: translation (BLEU, chrF, chrF++), question answering (EM, F1,
    /// inclusion) and open-ended answers, with the off-target rate, or the likelihood of
    /// reference responses; predictions and a summary are written, and a re-run resumes.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Layer-wise representation analysis of parallel text (the UDHR by default): cosine
    /// similarity of translations, parallel-passage retrieval and PCA per layer, as JSON and SVG.
    Analyze(analyze::AnalyzeArgs),
    /// Lens: probe the language-agnostic and language-specific subspaces, and tune the top
    /// layers to pull languages toward the pivot in one and push them apart in the other.
    #[command(subcommand)]
    Lens(lens::LensCommand),
    /// One self-contained HTML page with the charts of xlingo outputs (analysis, Lens probes,
    /// training runs, evaluations, scaling fits, benchmarks).
    Report(report::ReportArgs),
    /// Build training data: CoIT (translation + general instructions for one language) and
    /// MuIT (several languages mixed under a budget).
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Fine-tune a model (supervised, full or LoRA), with checkpoints, --resume and export.
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Scaling laws of quality vs data size, and a data budget split across languages.
    #[command(subcommand)]
    Scaling(scaling::ScalingCommand),
    /// Whole experiments, run stage by stage and resumed where they stopped.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
    /// Write a tiny random model (GGUF with a byte-level tokenizer and a chat template), to try
    /// the tools end to end in seconds.
    Tiny(tiny::TinyArgs),
    /// Show a model file's architecture, hyper-parameters, tensors, tokenizer and chat template.
    Inspect {
        /// A GGUF file or a Hugging Face checkpoint directory.
        path: PathBuf,
        /// List every tensor (default: the first 20 and a summary).
        #[arg(long)]
        all_tensors: bool,
    },
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an xlingo command line (`["xlingo", "train", "sft", …]`) in this process: experiments
/// are built from the same commands a user would type, so each stage can be rerun by hand.
pub(crate) fn run_command_line(args: &[String]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(args)
        .map_err(|e| anyhow::anyhow!("{}: {}", args.join(" "), e.render()))?;
    dispatch(cli.command)
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Fetch { asset, list, force } => fetch(asset, list, force),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Logits(args) => logits::run(args),
        Command::Tiny(args) => tiny::run(args),
        Command::Eval(command) => eval::run(command),
        Command::Analyze(args) => analyze::run(args),
        Command::Lens(command) => lens::run(command),
        Command::Report(args) => report::run(args),
        Command::Train(command) => train::run(command),
        Command::Data(command) => data::run(command),
        Command::Scaling(command) => scaling::run(command),
        Command::Experiment(command) => experiment::run(command),
        Command::Inspect { path, all_tensors } => inspect::run(&path, all_tensors),
    }
}

fn fetch(asset: Option<String>, list: bool, force: bool) -> anyhow::Result<()> {
    if list || asset.is_none() {
        for a in assets::ASSETS {
            let path = assets::cached_path(a);
            let state = if path.exists() {
                format!("cached at {}", path.display())
            } else {
                "not cached".into()
            };
            println!(
                "{:<24} {:>6.1} MB  {}  [{state}]",
                a.name,
                a.size as f64 / 1e6,
                a.description
            );
        }
        return Ok(());
    }
    let name = asset.expect("checked above");
    let a = assets::find(&name)
        .ok_or_else(|| anyhow::anyhow!("unknown asset `{name}` (see `xlingo fetch --list`)"))?;
    let path = if force {
        assets::fetch(a)?
    } else {
        assets::ensure(a)?
    };
    println!("{}", path.display());
    Ok(())
}

/// Rust ignores SIGPIPE, so `xlingo inspect … | head` would panic on a closed pipe; a command-line
/// tool should end quietly instead, like other Unix tools.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default at start-up, before any threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
