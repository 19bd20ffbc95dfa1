//! `xlingo eval lm`: how well a model predicts reference responses (teacher forcing): the
//! negative log-likelihood per response token, its perplexity, and the share of response
//! tokens that are the model's top prediction. It needs no generation and no judge, so it is
//! the quick check that tuning for one language has not cost another its fluency (English,
//! for Lens and CoIT). Scores per record go to scores.jsonl as they are computed, so a re-run
//! resumes; summary.json has the totals.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use xlingo_data::record::Example as DataExample;
use xlingo_formats::Gguf;
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::{TokenizerInfo, tokenizer_from_gguf};
use xlingo_model::LoadedModel;
use xlingo_train::{Batch, TargetScore, score_targets};

use crate::assets::{DEFAULT_MODEL, count_bar, write_json};
use crate::session::{DeviceChoice, resolve_model};
use crate::train::{PromptArg, Prompts, general_example};

#[derive(Args, Debug)]
pub struct LmArgs {
    /// A GGUF model file or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Instruction data with reference responses (Alpaca JSON/JSONL).
    #[arg(long)]
    data: PathBuf,
    /// Skip the first N records (e.g. those a model was trained on).
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// Score at most N records.
    #[arg(long)]
    limit: Option<usize>,
    /// Longest prompt + response in tokens (longer responses are cut).
    #[arg(long, default_value_t = 1024)]
    max_len: usize,
    #[arg(long, value_enum, default_value = "chat")]
    prompt: PromptArg,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Records per forward pass.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Directory for scores.jsonl and summary.json (reused to resume).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: LmArgs) -> Result<()> {
    let model_path = resolve_model(&args.model)?;
    let gguf =
        Gguf::open(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let tokenizer = tokenizer_from_gguf(&gguf.header)?;
    let info = TokenizerInfo::from_gguf(&gguf.header)?;
    let template = ChatTemplate::from_gguf(&gguf.header)?;
    let prompts = Prompts {
        prompt: args.prompt,
        max_len: args.max_len,
        tokenizer: &tokenizer,
        template: template.as_ref(),
        info: &info,
    };
    let records = read_records(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let scores_path = args.out.join("scores.jsonl");
    let mut done = read_scores(&scores_path)?;
    let todo: Vec<usize> = (0..records.len())
        .filter(|i| !done.contains_key(&(args.skip + i)))
        .collect();
    if !done.is_empty() {
        eprintln!(
            "[xlingo] resuming: {} of {} records already scored",
            records.len() - todo.len(),
            records.len()
        );
    }

    let device = args.device.device();
    let model = LoadedModel::from_gguf(&gguf, &device)?.model;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&scores_path)
        .with_context(|| format!("opening {}", scores_path.display()))?;
    let bar = count_bar(todo.len(), "records");
    for chunk in todo.chunks(args.batch_size.max(1)) {
        // A record whose response does not fit at all is scored as empty (0 targets).
        let examples: Vec<Option<xlingo_train::Example>> = chunk
            .iter()
            .map(|&i| prompts.tokenize(std::slice::from_ref(&records[i])).pop())
            .collect();
        let present: Vec<&xlingo_train::Example> = examples.iter().flatten().collect();
        let mut scores = match present.is_empty() {
            true => Vec::new(),
            false => score_targets(&model, &Batch::new(&present, &device)),
        }
        .into_iter();
        for (&i, example) in chunk.iter().zip(&examples) {
            let score = match example {
                Some(_) => scores.next().context("one score per example")?,
                None => TargetScore {
                    nll: 0.0,
                    correct: 0,
                    targets: 0,
                },
            };
            let index = args.skip + i;
            writeln!(
                log,
                "{}",
                json!({"index": index, "nll": score.nll, "correct": score.correct, "targets": score.targets})
            )?;
            done.insert(index, score);
        }
        log.flush()?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let wanted = (args.skip..args.skip + records.len()).filter_map(|i| done.get(&i));
    let summary = summarise(wanted.copied(), &args)?;
    println!(
        "{} response tokens: NLL {:.4} per token, perplexity {:.2}, top-1 accuracy {:.2}%",
        summary["targets"],
        summary["nll_per_token"].as_f64().unwrap_or(f64::NAN),
        summary["perplexity"].as_f64().unwrap_or(f64::NAN),
        summary["accuracy"].as_f64().unwrap_or(f64::NAN)
    );
    write_json(&args.out.join("summary.json"), &summary)?;
    Ok(())
}

/// The records to score: `--skip`, then at most `--limit`.
fn read_records(args: &LmArgs) -> Result<Vec<DataExample>> {
    let parsed = xlingo_data::fs::load_alpaca(&args.data)?;
    if let Some(first) = parsed.issues.first() {
        eprintln!(
            "[xlingo] skipped {} malformed records (first: {first})",
            parsed.issues.len()
        );
    }
    let records: Vec<DataExample> = parsed
        .records
        .into_iter()
        .skip(args.skip)
        .take(args.limit.unwrap_or(usize::MAX))
        .map(general_example)
        .collect();
    if records.is_empty() {
        bail!(
            "{}: no records to score after --skip {}",
            args.data.display(),
            args.skip
        );
    }
    Ok(records)
}

/// Scores already in scores.jsonl, by record index (a torn last line is ignored).
fn read_scores(path: &Path) -> Result<BTreeMap<usize, TargetScore>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(index), Some(nll), Some(correct), Some(targets)) = (
            v["index"].as_u64(),
            v["nll"].as_f64(),
            v["correct"].as_u64(),
            v["targets"].as_u64(),
        ) else {
            continue;
        };
        out.insert(
            index as usize,
            TargetScore {
                nll,
                correct: correct as usize,
                targets: targets as usize,
            },
        );
    }
    Ok(out)
}

fn summarise(scores: impl Iterator<Item = TargetScore>, args: &LmArgs) -> Result<Value> {
    let (mut nll, mut correct, mut targets, mut records, mut empty) = (0.0, 0, 0, 0, 0);
    for s in scores {
        nll += s.nll;
        correct += s.correct;
        targets += s.targets;
        records += 1;
        empty += (s.targets == 0) as usize;
    }
    if targets == 0 {
        bail!("{}: no response tokens to score", args.data.display());
    }
    let per_token = nll / targets as f64;
    Ok(json!({
        "task": "lm", "model": args.model, "data": args.data, "skip": args.skip,
        "records": records, "records_without_targets": empty, "targets": targets,
        "nll_per_token": per_token, "perplexity": per_token.exp(),
        "accuracy": 100.0 * correct as f64 / targets as f64,
        "prompt": args.prompt, "max_len": args.max_len,
    }))
}
