//! `xlingo experiment scaling`: the x-LLaMA scaling-law experiment end to end. For each
//! language: hold out a test set, build CoIT data from nested subsets of the remaining
//! translation pairs at five or more sizes, fine-tune a model on each, translate the test set
//! with each (and with the untrained model), then fit quality against data size and plot it.
//!
//! Every stage is an ordinary xlingo command line, run in this process and appended to
//! OUT/commands.sh, so any single point can be redone by hand. A stage whose output exists is
//! skipped, training resumes from its newest checkpoint and evaluation from its last
//! prediction, so rerunning the same command after an interruption finishes the grid.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::{Value, json};
use xlingo_data::record::Pair;
use xlingo_data::split::shuffle;
use xlingo_data::text::{collapse_whitespace, normalise};

use crate::assets::{DEFAULT_MODEL, write_atomically, write_json};
use crate::run_command_line;

#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Translation quality vs translation-data size (x-LLaMA's scaling law): data at five or
    /// more sizes, one fine-tuning run and one evaluation per size and language, the fitted
    /// laws (`scaling allocate` reads them) and a report.
    Scaling(ScalingArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Bleu,
    Chrf,
    #[value(name = "chrf++")]
    #[serde(rename = "chrf++")]
    ChrfPlusPlus,
}

impl Metric {
    /// The key of the score in an eval summary.
    fn key(self) -> &'static str {
        match self {
            Metric::Bleu => "bleu",
            Metric::Chrf => "chrf",
            Metric::ChrfPlusPlus => "chrf++",
        }
    }
}

#[derive(Args, Debug, Serialize)]
pub struct ScalingArgs {
    /// A GGUF model file or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Parallel text for one language, as LANG=FILE.tsv (English, tab, translation); repeat
    /// for several languages.
    #[arg(long = "pairs", value_name = "LANG=TSV")]
    pairs: Vec<String>,
    /// Spanish from the English–Spanish Bible verse pairs of scripts/fetch-data.sh.
    #[arg(long)]
    bible: bool,
    /// Translation pairs to train on, comma-separated (at least five sizes; nested subsets
    /// of one shuffled pool, so a larger set holds every smaller one).
    #[arg(long, value_delimiter = ',', default_value = "100,200,400,800,1600")]
    sizes: Vec<usize>,
    /// Pairs held out for the test set (never trained on, even as a duplicate).
    #[arg(long, default_value_t = 50)]
    test_size: usize,
    /// Longest test sentence in characters (English side), to keep evaluation quick.
    #[arg(long, default_value_t = 160)]
    test_max_chars: usize,
    /// Passes over each size's data; the step count follows from it.
    #[arg(long, default_value_t = 1.0, conflicts_with = "steps")]
    epochs: f64,
    /// The same number of optimizer steps for every size instead (matched compute).
    #[arg(long)]
    steps: Option<usize>,
    /// The fewest optimizer steps of any run.
    #[arg(long, default_value_t = 4)]
    min_steps: usize,
    /// Warm-up as a share of each run's steps.
    #[arg(long, default_value_t = 0.05)]
    warmup_ratio: f64,
    /// English instruction data (Alpaca JSON/JSONL) mixed in as CoIT's general tasks.
    #[arg(long)]
    general_en: Option<PathBuf>,
    /// General examples per translation example (with --general-en).
    #[arg(long, default_value_t = 1.0)]
    general_ratio: f64,
    #[arg(long, value_enum, default_value = "lora")]
    method: crate::train::MethodArg,
    #[arg(long, default_value_t = 8)]
    rank: usize,
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    #[arg(long, default_value = "q,k,v,o")]
    targets: String,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    #[arg(long, default_value_t = 192)]
    max_len: usize,
    /// Checkpoint every N steps, so an interrupted run loses at most N steps.
    #[arg(long, default_value_t = 25)]
    save_every: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The score the laws are fitted to.
    #[arg(long, value_enum, default_value = "chrf")]
    metric: Metric,
    /// Longest translation, in tokens.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    #[arg(long, value_enum, default_value = "auto")]
    engine: crate::session::EngineChoice,
    /// Where training (and the reference engine's evaluation) runs: burn's CPU backend, or
    /// its wgpu backend on the GPU.
    #[arg(long, value_enum, default_value = "cpu")]
    device: crate::train::TrainDevice,
    /// Keep each run's F16 GGUF and checkpoints after its evaluation (LoRA runs keep their
    /// adapter anyway).
    #[arg(long)]
    keep_models: bool,
    /// Output directory (reuse it to resume).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(command: ExperimentCommand) -> Result<()> {
    match command {
        ExperimentCommand::Scaling(args) => scaling(args),
    }
}

/// One language of the grid: where its held-out test set and training pool are.
struct Language {
    code: String,
    dir: PathBuf,
    pool_len: usize,
}

impl Language {
    fn pool(&self) -> PathBuf {
        self.dir.join("pool.tsv")
    }
    fn test_source(&self) -> PathBuf {
        self.dir.join("test.en")
    }
    fn test_reference(&self) -> PathBuf {
        self.dir.join(format!("test.{}", self.code))
    }
    fn coit(&self, size: usize) -> PathBuf {
        self.dir.join(format!("coit-{size}.jsonl"))
    }
}

fn scaling(args: ScalingArgs) -> Result<()> {
    check_args(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    claim_directory(&args)?;
    let sources = sources(&args)?;
    let mut languages = Vec::new();
    for (code, source) in &sources {
        languages.push(prepare_language(&args, code, source)?);
    }
    let mut stages = Stages::new(&args, &languages);
    for lang in &languages {
        stages.evaluate(lang, None)?;
        for &size in &args.sizes {
            if size > lang.pool_len {
                eprintln!(
                    "[xlingo] {}: skipping size {size}: only {} training pairs after the test set",
                    lang.code, lang.pool_len
                );
                continue;
            }
            stages.build_data(lang, size)?;
            stages.train(lang, size)?;
            stages.evaluate(lang, Some(size))?;
        }
    }
    summarise(&args, &languages)
}

fn check_args(args: &ScalingArgs) -> Result<()> {
    let distinct: BTreeSet<usize> = args.sizes.iter().copied().collect();
    if distinct.len() < 5 || distinct.contains(&0) {
        bail!(
            "--sizes: give at least five different positive sizes (got {:?}); a law with three parameters needs more points than that to be tested",
            args.sizes
        );
    }
    if args.sizes.windows(2).any(|w| w[0] >= w[1]) {
        bail!(
            "--sizes: list the sizes in increasing order (got {:?})",
            args.sizes
        );
    }
    if args.test_size == 0 {
        bail!("--test-size must be at least 1");
    }
    if !(args.epochs > 0.0 && args.epochs.is_finite()) {
        bail!("--epochs must be a positive number (got {})", args.epochs);
    }
    if args.pairs.is_empty() && !args.bible {
        bail!("give parallel text: --pairs LANG=FILE.tsv (repeatable) or --bible (Spanish)");
    }
    Ok(())
}

/// Refuses to mix two experiments in one directory: the settings are written on the first
/// run, and a rerun must use the same ones (that is what makes resuming safe).
fn claim_directory(args: &ScalingArgs) -> Result<()> {
    let path = args.out.join("experiment.json");
    let mut settings = serde_json::to_value(args)?;
    settings["out"] = Value::Null;
    settings["keep_models"] = Value::Null;
    let wanted = json!({"experiment": "scaling", "settings": settings});
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not an experiment file", path.display()))?;
            if found != wanted {
                let differ = differing_keys(&found["settings"], &wanted["settings"]);
                bail!(
                    "{} holds an experiment with other settings ({}); rerun it with the same ones, or use another --out",
                    args.out.display(),
                    differ.join(", ")
                );
            }
            eprintln!("[xlingo] resuming the experiment in {}", args.out.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_json(&path, &wanted),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn differing_keys(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["the file's format".into()];
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| v.map_or("unset".to_owned(), Value::to_string);
            format!("{k}: {} then, {} now", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// Where each language's translation pairs come from.
enum PairSource {
    Tsv(PathBuf),
    Bible,
}

fn sources(args: &ScalingArgs) -> Result<BTreeMap<String, PairSource>> {
    let mut out = BTreeMap::new();
    for spec in &args.pairs {
        let Some((code, file)) = spec.split_once('=') else {
            bail!("--pairs {spec}: expected LANG=FILE.tsv, e.g. --pairs zh=en-zh.tsv");
        };
        if code.is_empty() || code == "en" {
            bail!("--pairs {spec}: LANG is the target language's code (English is the source)");
        }
        if out
            .insert(code.to_owned(), PairSource::Tsv(file.into()))
            .is_some()
        {
            bail!("--pairs: language `{code}` given twice");
        }
    }
    if args.bible && out.insert("es".into(), PairSource::Bible).is_some() {
        bail!("--bible gives Spanish, and --pairs es=… does too: give one");
    }
    Ok(out)
}

fn read_pairs(source: &PairSource) -> Result<Vec<Pair>> {
    match source {
        PairSource::Tsv(path) => {
            let parsed = xlingo_data::fs::load_tsv(path)?;
            if let Some(first) = parsed.issues.first() {
                eprintln!(
                    "[xlingo] {}: skipped {} malformed lines (first: {first})",
                    path.display(),
                    parsed.issues.len()
                );
            }
            Ok(parsed.records)
        }
        PairSource::Bible => crate::data::bible_pairs(),
    }
}

/// Splits a language's pairs once: duplicates (same normalised English) are dropped, the rest
/// shuffled by the seed; the first `--test-size` short enough are the test set, the others the
/// training pool, in that order (size n trains on the pool's first n pairs).
fn prepare_language(args: &ScalingArgs, code: &str, source: &PairSource) -> Result<Language> {
    let dir = args.out.join("data").join(code);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut lang = Language {
        code: code.to_owned(),
        dir,
        pool_len: 0,
    };
    if lang.pool().exists() && lang.test_reference().exists() {
        lang.pool_len = line_count(&lang.pool())?;
        return Ok(lang);
    }
    let (test, pool) = split_pairs(
        read_pairs(source)?,
        args.test_size,
        args.test_max_chars,
        args.seed,
    );
    if test.len() < args.test_size {
        bail!(
            "{code}: only {} pairs of at most {} characters for a test set of {}",
            test.len(),
            args.test_max_chars,
            args.test_size
        );
    }
    let lines = |side: fn(&Pair) -> &str, set: &[Pair]| -> String {
        set.iter().map(|p| side(p).to_owned() + "\n").collect()
    };
    write_atomically(&lang.test_source(), lines(|p| &p.source, &test).as_bytes())?;
    write_atomically(
        &lang.test_reference(),
        lines(|p| &p.target, &test).as_bytes(),
    )?;
    let tsv: String = pool
        .iter()
        .map(|p| format!("{}\t{}\n", p.source, p.target))
        .collect();
    write_atomically(&lang.pool(), tsv.as_bytes())?;
    lang.pool_len = pool.len();
    eprintln!(
        "[xlingo] {code}: {} test pairs, {} training pairs in the pool",
        test.len(),
        pool.len()
    );
    Ok(lang)
}

/// (test, pool) as [`prepare_language`] describes; whitespace inside a sentence is collapsed
/// so that every pair is one TSV line.
fn split_pairs(
    pairs: Vec<Pair>,
    test_size: usize,
    test_max_chars: usize,
    seed: u64,
) -> (Vec<Pair>, Vec<Pair>) {
    let mut seen = BTreeSet::new();
    let mut unique: Vec<Pair> = pairs
        .into_iter()
        .map(|p| Pair {
            source: collapse_whitespace(&p.source),
            target: collapse_whitespace(&p.target),
            ..p
        })
        .filter(|p| !p.source.is_empty() && !p.target.is_empty())
        .filter(|p| seen.insert(normalise(&p.source)))
        .collect();
    shuffle(&mut unique, seed);
    let (mut test, mut pool) = (Vec::new(), Vec::new());
    for p in unique {
        if test.len() < test_size && p.source.chars().count() <= test_max_chars {
            test.push(p);
        } else {
            pool.push(p);
        }
    }
    (test, pool)
}

fn line_count(path: &Path) -> Result<usize> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().count())
}

/// Runs the grid's stages as xlingo command lines, numbering them and logging each.
struct Stages<'a> {
    args: &'a ScalingArgs,
    done: usize,
    total: usize,
}

impl<'a> Stages<'a> {
    fn new(args: &'a ScalingArgs, languages: &[Language]) -> Self {
        let sizes = |l: &Language| args.sizes.iter().filter(|&&n| n <= l.pool_len).count();
        let total = languages.iter().map(|l| 1 + 3 * sizes(l)).sum();
        Stages {
            args,
            done: 0,
            total,
        }
    }

    fn run_dir(&self, lang: &Language, size: Option<usize>) -> PathBuf {
        let name = size.map_or("base".to_owned(), |n| n.to_string());
        self.args.out.join("runs").join(&lang.code).join(name)
    }

    /// Runs `command` unless `output` exists, announcing it as the next stage.
    fn stage(&mut self, what: &str, output: &Path, command: Vec<String>) -> Result<()> {
        self.done += 1;
        if output.exists() {
            eprintln!("[xlingo] stage {}/{}: {what}: done", self.done, self.total);
            return Ok(());
        }
        eprintln!("[xlingo] stage {}/{}: {what}", self.done, self.total);
        let log = self.args.out.join("commands.sh");
        if !log.exists() {
            write_atomically(
                &log,
                b"# The stages of this experiment, in the order they ran.\n",
            )?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let line: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
        writeln!(file, "{}", line.join(" "))?;
        run_command_line(&command).with_context(|| format!("stage {what}"))
    }

    fn build_data(&mut self, lang: &Language, size: usize) -> Result<()> {
        let a = self.args;
        #[rustfmt::skip]
        let mut cmd = argv(&[
            "data", "coit", "--lang", &lang.code, "--tsv", &path(&lang.pool()),
            "--max-pairs", &size.to_string(), "--seed", &a.seed.to_string(),
            "--out", &path(&lang.coit(size)),
        ]);
        match &a.general_en {
            Some(general) => cmd.extend([
                "--general-en".into(),
                path(general),
                "--general-ratio".into(),
                a.general_ratio.to_string(),
            ]),
            None => cmd.extend(["--general-ratio".into(), "0".into()]),
        }
        let what = format!("{} data, {size} pairs", lang.code);
        self.stage(&what, &lang.coit(size), cmd)
    }

    fn train(&mut self, lang: &Language, size: usize) -> Result<()> {
        let a = self.args;
        let out = self.run_dir(lang, Some(size));
        // CoIT may add general examples to the pairs: the epoch is over what was built.
        let steps = steps_for(a, line_count(&lang.coit(size))?);
        let warmup = ((steps as f64 * a.warmup_ratio).ceil() as usize).min(steps);
        #[rustfmt::skip]
        let mut cmd = argv(&[
            "train", "sft", "--model", &a.model, "--data", &path(&lang.coit(size)),
            "--out", &path(&out), "--method", &value_name(a.method),
            "--rank", &a.rank.to_string(), "--alpha", &a.alpha.to_string(),
            "--targets", &a.targets, "--lr", &a.lr.to_string(),
            "--steps", &steps.to_string(), "--warmup", &warmup.to_string(),
            "--batch-size", &a.batch_size.to_string(), "--grad-accum", &a.grad_accum.to_string(),
            "--max-len", &a.max_len.to_string(), "--valid-fraction", "0",
            "--eval-every", "0", "--save-every", &a.save_every.to_string(),
            "--seed", &a.seed.to_string(), "--export", "gguf,adapter",
            "--device", &value_name(a.device),
        ]);
        if xlingo_train::checkpoint::latest(&out.join("checkpoints"))
            .ok()
            .flatten()
            .is_some()
        {
            cmd.push("--resume".into());
        }
        let what = format!("{} training on {size} pairs ({steps} steps)", lang.code);
        self.stage(&what, &out.join("summary.json"), cmd)
    }

    fn evaluate(&mut self, lang: &Language, size: Option<usize>) -> Result<()> {
        let a = self.args;
        let run = self.run_dir(lang, size);
        let model = match size {
            Some(_) => path(&run.join("model-f16.gguf")),
            None => a.model.clone(),
        };
        #[rustfmt::skip]
        let cmd = argv(&[
            "eval", "translation", "--model", &model, "--source", &path(&lang.test_source()),
            "--reference", &path(&lang.test_reference()), "--target-lang", &lang.code,
            "--max-tokens", &a.max_tokens.to_string(), "--engine", &value_name(a.engine),
            "--device", &value_name(a.device),
            "--out", &path(&run.join("eval")),
        ]);
        let what = match size {
            Some(n) => format!("{} evaluation after {n} pairs", lang.code),
            None => format!("{} evaluation of the untrained model", lang.code),
        };
        self.stage(&what, &run.join("eval/summary.json"), cmd)?;
        if size.is_some() && !a.keep_models {
            // The GGUF is hundreds of MB per run, and so are full fine-tuning's checkpoints;
            // a finished run is not resumed, and a LoRA run keeps its adapter, the result.
            let _ = std::fs::remove_file(run.join("model-f16.gguf"));
            let _ = std::fs::remove_dir_all(run.join("checkpoints"));
        }
        Ok(())
    }
}

/// Optimizer steps for a run on `examples` examples: --steps, or --epochs passes.
fn steps_for(args: &ScalingArgs, examples: usize) -> usize {
    let per_step = (args.batch_size * args.grad_accum).max(1);
    let steps = args
        .steps
        .unwrap_or_else(|| (args.epochs * examples as f64 / per_step as f64).ceil() as usize);
    steps.max(args.min_steps).max(1)
}

/// The name clap accepts for a value (what a command line must say).
fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

fn argv(args: &[&str]) -> Vec<String> {
    std::iter::once("xlingo")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Gathers every evaluation into results.json and points.json, fits the laws (fits.json,
/// fits.svg) and writes report.html.
fn summarise(args: &ScalingArgs, languages: &[Language]) -> Result<()> {
    let mut rows = Vec::new();
    let mut points: BTreeMap<String, Vec<[f64; 2]>> = BTreeMap::new();
    let mut metrics_logs = Vec::new();
    for lang in languages {
        let sizes = std::iter::once(None).chain(args.sizes.iter().map(|&n| Some(n)));
        for size in sizes {
            let name = size.map_or("base".to_owned(), |n| n.to_string());
            let run = args.out.join("runs").join(&lang.code).join(name);
            let Ok(text) = std::fs::read_to_string(run.join("eval/summary.json")) else {
                continue;
            };
            let eval: Value = serde_json::from_str(&text).with_context(|| {
                format!("{}: not JSON", run.join("eval/summary.json").display())
            })?;
            let train: Value = std::fs::read_to_string(run.join("summary.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            let score = |k: &str| eval[k]["score"].as_f64();
            rows.push(json!({
                "lang": lang.code, "pairs": size.unwrap_or(0),
                "examples": train["train_examples"], "steps": train["steps"],
                "bleu": score("bleu"), "chrf": score("chrf"), "chrf++": score("chrf++"),
                "off_target": eval["off_target"]["rate"],
            }));
            if let (Some(n), Some(y)) = (size, score(args.metric.key())) {
                points
                    .entry(lang.code.clone())
                    .or_default()
                    .push([n as f64, y]);
            }
            if size.is_some() && run.join("metrics.jsonl").exists() {
                metrics_logs.push(path(&run.join("metrics.jsonl")));
            }
        }
    }
    print_table(&rows);
    let results = json!({"metric": args.metric.key(), "runs": rows});
    write_json(&args.out.join("results.json"), &results)?;
    let points_path = args.out.join("points.json");
    write_json(&points_path, &serde_json::to_value(&points)?)?;
    let fits = args.out.join("fits.json");
    let fitted = run_command_line(&argv(&[
        "scaling",
        "fit",
        "--points",
        &path(&points_path),
        "--out",
        &path(&fits),
    ]));
    if let Err(e) = &fitted {
        eprintln!("[xlingo] warning: no scaling law fitted: {e:#}");
    }
    let mut inputs = metrics_logs;
    if fitted.is_ok() {
        inputs.insert(0, path(&fits));
    }
    if !inputs.is_empty() {
        let mut cmd = argv(&["report", "--title", "xlingo scaling experiment", "--out"]);
        cmd.push(path(&args.out.join("report.html")));
        cmd.extend(inputs);
        run_command_line(&cmd)?;
    }
    let available: BTreeMap<&str, usize> = languages
        .iter()
        .map(|l| (l.code.as_str(), l.pool_len))
        .collect();
    write_json(
        &args.out.join("available.json"),
        &serde_json::to_value(available)?,
    )?;
    eprintln!(
        "[xlingo] wrote {}/results.json, points.json, fits.json, fits.svg, report.html; split a budget with: xlingo scaling allocate --fits {} --available {} --budget N --out allocation.json",
        args.out.display(),
        path(&fits),
        path(&args.out.join("available.json"))
    );
    fitted
}

fn print_table(rows: &[Value]) {
    println!("lang    pairs  steps    BLEU    chrF  chrF++  off-target");
    for r in rows {
        let num = |k: &str| r[k].as_f64().map_or("-".into(), |v| format!("{v:.2}"));
        println!(
            "{:<6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>10}",
            r["lang"].as_str().unwrap_or("?"),
            r["pairs"].as_u64().unwrap_or(0),
            r["steps"].as_u64().map_or("-".into(), |s| s.to_string()),
            num("bleu"),
            num("chrf"),
            num("chrf++"),
            r["off_target"]
                .as_f64()
                .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(i: usize, source: &str) -> Pair {
        Pair::new(format!("p{i}"), source, format!("t{i}"))
    }

    #[test]
    fn split_drops_duplicates_and_keeps_long_sentences_out_of_the_test_set() {
        let mut pairs: Vec<Pair> = (0..40).map(|i| pair(i, &format!("sentence {i}"))).collect();
        pairs.push(pair(40, "Sentence 3.")); // a duplicate of "sentence 3" once normalised
        pairs.push(pair(41, &"long ".repeat(40)));
        let (test, pool) = split_pairs(pairs, 10, 50, 7);
        assert_eq!(test.len(), 10);
        assert_eq!(test.len() + pool.len(), 41);
        assert!(test.iter().all(|p| p.source.chars().count() <= 50));
        let test_sources: BTreeSet<String> = test.iter().map(|p| normalise(&p.source)).collect();
        assert!(
            pool.iter()
                .all(|p| !test_sources.contains(&normalise(&p.source)))
        );
        // Deterministic for a seed, different for another.
        assert_eq!(
            split_pairs((0..40).map(|i| pair(i, &i.to_string())).collect(), 5, 50, 7).0,
            split_pairs((0..40).map(|i| pair(i, &i.to_string())).collect(), 5, 50, 7).0
        );
        assert_ne!(
            split_pairs((0..40).map(|i| pair(i, &i.to_string())).collect(), 5, 50, 7).0,
            split_pairs((0..40).map(|i| pair(i, &i.to_string())).collect(), 5, 50, 8).0
        );
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("--max-pairs"), "--max-pairs");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
