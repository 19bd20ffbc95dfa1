//! `xlingo eval translation|qa`: generate with the model, score with xlingo-eval, write every
//! prediction (JSONL, one line per item as it is produced) and a summary (JSON). A re-run with
//! the same output directory skips the items already predicted, so an interrupted evaluation
//! resumes where it stopped.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use xlingo_eval::langid::{self, OffTargetReport};
use xlingo_eval::qa::{MlqaLang, Normalization, QaConfig};
use xlingo_eval::spm::SentencePiece;
use xlingo_eval::squad::read_squad;
use xlingo_eval::{BleuConfig, ChrfConfig, Flores, Tokenizer, corpus_bleu, corpus_chrf};
use xlingo_model::{GenerateOptions, SamplingParams};

use crate::assets::{DEFAULT_MODEL, write_atomically};
use crate::session::{
    DeviceChoice, EngineChoice, EngineSpec, KvCache, Session, Text, resolve_model,
};

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Translate a test set (Flores-style: one sentence per line, files aligned by line) and
    /// score it: BLEU, chrF, chrF++ (sacreBLEU-identical) and the off-target rate.
    Translation(TranslationArgs),
    /// Answer SQuAD-format questions (XQuAD, MLQA) and score them: exact match, F1,
    /// inclusion accuracy and the off-target rate.
    Qa(QaArgs),
    /// Answer open-ended instructions in one language and measure whether the answers are in
    /// it (the off-target rate; Lens's open-ended check), with the answers' lengths.
    Chat(ChatArgs),
    /// Score reference responses with teacher forcing: NLL per token, perplexity and top-1
    /// accuracy (no generation; e.g. English fluency before and after tuning).
    Lm(crate::lm::LmArgs),
}

/// What every evaluation shares: the model, how to prompt it, and where results go.
#[derive(Args, Debug)]
pub struct Common {
    /// A GGUF file, a Hugging Face checkpoint directory, or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Directory for predictions.jsonl and summary.json (created; reused to resume).
    #[arg(long)]
    out: PathBuf,
    /// Evaluate only the first N items.
    #[arg(long)]
    limit: Option<usize>,
    /// Longest answer, in tokens.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// How prompts are written: the model's chat template, or x-LLM's Alpaca layout.
    #[arg(long, value_enum, default_value = "chat")]
    prompt: PromptStyle,
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineChoice,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// KV-cache positions of the WGSL engine (default: the longest prompt plus --max-tokens).
    #[arg(long)]
    context: Option<usize>,
    /// How the WGSL engine keeps keys and values.
    #[arg(long, value_enum, default_value = "f16")]
    kv_cache: KvCache,
    /// Prompts the WGSL engine decodes together: each step reads the weights once for all of
    /// them (the KV cache holds this many sequences). The reference engine runs one at a time.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PromptStyle {
    /// The instruction and input as one user message in the model's chat template.
    Chat,
    /// "Below is an instruction that describes a task…" (x-LLM, Alpaca).
    Alpaca,
}

#[derive(Args, Debug)]
pub struct TranslationArgs {
    #[command(flatten)]
    common: Common,
    /// Source sentences, one per line.
    #[arg(long)]
    source: PathBuf,
    /// Reference translations, one per line, aligned with --source.
    #[arg(long)]
    reference: PathBuf,
    /// ISO 639-1 code of the source language.
    #[arg(long, default_value = "en")]
    source_lang: String,
    /// ISO 639-1 code of the target language.
    #[arg(long)]
    target_lang: String,
    /// BLEU tokeniser: none, 13a, intl, zh, char, or flores101 / flores200 (spBLEU, with
    /// --spm-model). Default: zh for Chinese, char for Japanese and Thai, else 13a.
    #[arg(long)]
    tokenize: Option<String>,
    /// The SentencePiece model of --tokenize flores101|flores200 (the file sacreBLEU downloads:
    /// dl.fbaipublicfiles.com/fairseq/models/flores/sacrebleu_tokenizer_spm.model for FLORES-101,
    /// tinyurl.com/flores200sacrebleuspm for FLORES-200).
    #[arg(long)]
    spm_model: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct QaArgs {
    #[command(flatten)]
    common: Common,
    /// A SQuAD v1.1-format JSON file (XQuAD, MLQA).
    #[arg(long)]
    data: PathBuf,
    /// ISO 639-1 code of the questions' language (answers are expected in it).
    #[arg(long)]
    lang: String,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    common: Common,
    /// Instructions: JSONL objects keyed by language (`{"id": …, "en": …, "es": …}`, as
    /// crates/data/assets/lens-prompts.jsonl) or a text file with one instruction per line.
    #[arg(long)]
    prompts: PathBuf,
    /// ISO 639-1 code of the instructions' language (answers are expected in it).
    #[arg(long)]
    lang: String,
    /// Skip the first N instructions (e.g. to evaluate on held-out ones).
    #[arg(long, default_value_t = 0)]
    skip: usize,
}

pub fn run(command: EvalCommand) -> Result<()> {
    match command {
        EvalCommand::Translation(args) => translation(args),
        EvalCommand::Qa(args) => qa(args),
        EvalCommand::Chat(args) => chat(args),
        EvalCommand::Lm(args) => crate::lm::run(args),
    }
}

/// Instructions in `lang` from JSONL (field `lang`, id from `id` or the line) or plain lines.
fn read_instructions(path: &Path, lang: &str) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let id = format!("line-{}", n + 1);
        if !jsonl {
            out.push((id, line.trim().to_string()));
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a JSON object", path.display(), n + 1))?;
        let Some(prompt) = value.get(lang).and_then(Value::as_str) else {
            bail!("{}:{}: no string field `{lang}`", path.display(), n + 1);
        };
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .map_or(id, str::to_string);
        out.push((id, prompt.to_string()));
    }
    Ok(out)
}

fn chat(args: ChatArgs) -> Result<()> {
    let all = read_instructions(&args.prompts, &args.lang)?;
    let rest = all.get(args.skip..).unwrap_or_default();
    let n = args.common.limit.unwrap_or(rest.len()).min(rest.len());
    if n == 0 {
        bail!("{}: no instructions left to answer", args.prompts.display());
    }
    let items: Vec<Item> = rest[..n]
        .iter()
        .map(|(id, prompt)| Item {
            id: id.clone(),
            instruction: prompt.clone(),
            input: String::new(),
        })
        .collect();
    let predictions = predict(&args.common, &items)?;
    let outputs: Vec<&str> = items
        .iter()
        .map(|it| predictions[&it.id].as_str())
        .collect();
    let off = langid::off_target_rate(&outputs, &args.lang)?;
    let mean_chars =
        outputs.iter().map(|o| o.chars().count()).sum::<usize>() as f64 / outputs.len() as f64;
    println!(
        "off-target {:.1}% of {} answers in `{}`; mean answer {:.0} characters",
        off.rate * 100.0,
        outputs.len(),
        args.lang,
        mean_chars
    );
    let summary = json!({
        "task": "chat",
        "model": args.common.model,
        "prompts": args.prompts.display().to_string(),
        "lang": args.lang,
        "skip": args.skip,
        "items": n,
        "prompt": format!("{:?}", args.common.prompt).to_lowercase(),
        "decoding": {"greedy": true, "max_tokens": args.common.max_tokens},
        "mean_answer_chars": mean_chars,
        "off_target": off_target_json(&off),
    });
    write_summary(&args.common.out, &summary)
}

/// x-LLM's QA instruction and input layout.
const QA_INSTRUCTION: &str = "Answer the final question with following context";

/// The same names training prompts use (CoIT), so evaluation asks exactly as training did.
fn language_name(code: &str) -> Result<&'static str> {
    xlingo_data::coit::language_name(code)
        .with_context(|| format!("unknown language code `{code}` (ISO 639-1, e.g. en, es, zh, ar)"))
}

fn translation(args: TranslationArgs) -> Result<()> {
    // Aligned by line; a blank line on either side is skipped (and reported) as a pair.
    let parsed = xlingo_data::fs::load_line_aligned(&args.source, &args.reference)?;
    for issue in &parsed.issues {
        eprintln!("[xlingo] skipped: {issue}");
    }
    let pairs = parsed.records;
    let tokenizer = bleu_tokenizer(&args)?;
    // x-LLM's evaluation instruction: translation template 0 (the one CoIT data uses for k = 0).
    let instruction = xlingo_data::coit::eval_instruction(
        language_name(&args.source_lang)?,
        language_name(&args.target_lang)?,
    );
    let n = args.common.limit.unwrap_or(pairs.len()).min(pairs.len());
    let items: Vec<Item> = pairs[..n]
        .iter()
        .map(|p| Item {
            id: p.id.clone(),
            instruction: instruction.clone(),
            input: p.source.clone(),
        })
        .collect();
    let predictions = predict(&args.common, &items)?;

    let hyps: Vec<&str> = items
        .iter()
        .map(|it| predictions[&it.id].as_str())
        .collect();
    let refs: Vec<Vec<&str>> = pairs[..n].iter().map(|p| vec![p.target.as_str()]).collect();
    let bleu = corpus_bleu(
        &hyps,
        &refs,
        &BleuConfig {
            tokenizer,
            ..BleuConfig::default()
        },
    )?;
    let chrf = corpus_chrf(&hyps, &refs, &ChrfConfig::default())?;
    let chrf_pp = corpus_chrf(&hyps, &refs, &ChrfConfig::chrf_plus_plus())?;
    let off = langid::off_target_rate(&hyps, &args.target_lang)?;
    println!("{}", bleu.format(2, true));
    println!("{}", chrf.format(2, true));
    println!("{}", chrf_pp.format(2, true));
    println!("off-target rate {:.1}%", off.rate * 100.0);
    let summary = json!({
        "task": "translation",
        "model": args.common.model,
        "source": args.source.display().to_string(),
        "reference": args.reference.display().to_string(),
        "source_lang": args.source_lang,
        "target_lang": args.target_lang,
        "items": n,
        "instruction": instruction,
        "prompt": format!("{:?}", args.common.prompt).to_lowercase(),
        "decoding": {"greedy": true, "max_tokens": args.common.max_tokens},
        "bleu": {"score": bleu.score, "signature": bleu.signature.long(), "bp": bleu.bp,
                 "precisions": bleu.precisions, "sys_len": bleu.sys_len, "ref_len": bleu.ref_len},
        "chrf": {"score": chrf.score, "signature": chrf.signature.long()},
        "chrf++": {"score": chrf_pp.score, "signature": chrf_pp.signature.long()},
        "off_target": off_target_json(&off),
    });
    write_summary(&args.common.out, &summary)
}

fn qa(args: QaArgs) -> Result<()> {
    let examples = read_squad(&args.data)?;
    let n = args
        .common
        .limit
        .unwrap_or(examples.len())
        .min(examples.len());
    let examples = &examples[..n];
    let items: Vec<Item> = examples
        .iter()
        .map(|e| Item {
            id: e.id.clone(),
            instruction: QA_INSTRUCTION.to_string(),
            input: format!("Context: {}\nQuestion: {}\nAnswer: ", e.context, e.question),
        })
        .collect();
    let predictions = predict(&args.common, &items)?;
    let answer = match args.lang.parse::<MlqaLang>() {
        Ok(lang) => Normalization::Mlqa(lang),
        Err(_) => Normalization::Squad,
    };
    let config = QaConfig {
        answer,
        ..QaConfig::default()
    };
    let scores = xlingo_eval::qa::evaluate(examples, &predictions, config);
    let outputs: Vec<&str> = items
        .iter()
        .map(|it| predictions[&it.id].as_str())
        .collect();
    let off = langid::off_target_rate(&outputs, &args.lang)?;
    println!(
        "exact match {:.2}  F1 {:.2}  inclusion {:.2}  off-target {:.1}%  ({} questions)",
        scores.exact_match,
        scores.f1,
        scores.inclusion,
        off.rate * 100.0,
        scores.total
    );
    let summary = json!({
        "task": "qa",
        "model": args.common.model,
        "data": args.data.display().to_string(),
        "lang": args.lang,
        "items": n,
        "normalization": format!("{answer:?}"),
        "prompt": format!("{:?}", args.common.prompt).to_lowercase(),
        "decoding": {"greedy": true, "max_tokens": args.common.max_tokens},
        "exact_match": scores.exact_match,
        "f1": scores.f1,
        "inclusion": scores.inclusion,
        "off_target": off_target_json(&off),
    });
    write_summary(&args.common.out, &summary)
}

/// The BLEU tokeniser asked for, spBLEU's with its SentencePiece model loaded.
fn bleu_tokenizer(args: &TranslationArgs) -> Result<Tokenizer> {
    let Some(name) = &args.tokenize else {
        if args.spm_model.is_some() {
            bail!("--spm-model goes with --tokenize flores101 or flores200");
        }
        return Ok(default_bleu_tokenizer(&args.target_lang));
    };
    match (Flores::from_name(name), &args.spm_model) {
        (Some(flores), Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let model = SentencePiece::from_bytes(&path.display().to_string(), &bytes)?;
            Ok(Tokenizer::spm(flores, model))
        }
        (Some(_), None) => Err(anyhow::anyhow!(
            "--tokenize: {} with --spm-model FILE",
            name.parse::<Tokenizer>().unwrap_err()
        )),
        (None, Some(_)) => bail!("--spm-model goes with --tokenize flores101 or flores200"),
        (None, None) => name
            .parse::<Tokenizer>()
            .map_err(|e| anyhow::anyhow!("--tokenize: {e}")),
    }
}

/// sacreBLEU's own choice per target language, as far as our tokenisers go (it uses ja-mecab
/// for Japanese, which needs MeCab; character level is the usual stand-in).
fn default_bleu_tokenizer(lang: &str) -> Tokenizer {
    match lang {
        "zh" => Tokenizer::Zh,
        "ja" | "th" => Tokenizer::Char,
        _ => Tokenizer::Mteval13a,
    }
}

fn off_target_json(report: &OffTargetReport) -> Value {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for item in &report.items {
        if let Some(reason) = &item.off_target {
            *reasons.entry(reason.to_string()).or_default() += 1;
        }
    }
    json!({"rate": report.rate, "reasons": reasons})
}

/// One prompt to answer.
struct Item {
    id: String,
    instruction: String,
    input: String,
}

/// Answers for every item (id → text): those already in `out/predictions.jsonl` are reused,
/// the rest are generated greedily and appended one line at a time.
fn predict(common: &Common, items: &[Item]) -> Result<HashMap<String, String>> {
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("creating {}", common.out.display()))?;
    let path = common.out.join("predictions.jsonl");
    // Reuse a prediction only for the same item: same id and same input.
    let inputs: HashMap<&str, &str> = items
        .iter()
        .map(|i| (i.id.as_str(), i.input.as_str()))
        .collect();
    let mut done: HashMap<String, String> = read_predictions(&path)?
        .into_iter()
        .filter(|(id, (input, _))| inputs.get(id.as_str()) == Some(&input.as_str()))
        .map(|(id, (_, prediction))| (id, prediction))
        .collect();
    let todo: Vec<&Item> = items.iter().filter(|i| !done.contains_key(&i.id)).collect();
    if !done.is_empty() {
        eprintln!(
            "[xlingo] resuming: {} of {} items already in {}",
            done.len(),
            items.len(),
            path.display()
        );
    }
    if todo.is_empty() {
        return Ok(done);
    }

    let model_path = resolve_model(&common.model)?;
    // Prompts first (tokenizer and template only), so that the KV cache is sized for them.
    let text =
        Text::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let prompts = todo
        .iter()
        .map(|item| prompt_ids(&text, common.prompt, item))
        .collect::<Result<Vec<_>>>()?;
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let spec = EngineSpec {
        engine: common.engine,
        device: common.device,
        context: Some(
            common
                .context
                .unwrap_or((longest + common.max_tokens + 1).min(text.config.context_length)),
        ),
        sequences: common.batch_size.max(1),
        kv_cache: common.kv_cache,
    };
    let mut session = Session::load(&model_path, &spec)
        .with_context(|| format!("loading {}", model_path.display()))?;
    eprintln!("[xlingo] evaluating with {}", session.engine.describe());
    let options = GenerateOptions {
        max_tokens: common.max_tokens,
        stop_ids: session.stop_ids.clone(),
        sampling: SamplingParams::greedy(),
    };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} items, {per_sec}, ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("generating");
    bar.set_position(done.len() as u64);
    let started = Instant::now();
    let generating = todo.len();
    // Each answer is appended as soon as it is finished (batched answers finish out of
    // order), so an interrupted run keeps them; the first write error ends the run.
    let failed: std::cell::RefCell<Option<anyhow::Error>> = Default::default();
    let tokenizer = &session.tokenizer;
    let mut save = |i: usize, tokens: &[u32]| -> Result<()> {
        let item = todo[i];
        let text = tokenizer
            .decode(tokens, true)
            .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
        let prediction = clean_prediction(&text);
        let line = json!({
            "id": item.id,
            "input": item.input,
            "prediction": prediction,
            "raw": text,
            "prompt_tokens": prompts[i].len(),
            "generated_tokens": tokens.len(),
        });
        writeln!(file, "{line}")?;
        file.flush()?;
        done.insert(item.id.clone(), prediction);
        bar.inc(1);
        Ok(())
    };
    session.engine.generate_batch(
        &prompts,
        &options,
        |_, _| failed.borrow().is_none(),
        |i, tokens, _| {
            if failed.borrow().is_none() {
                *failed.borrow_mut() = save(i, tokens).err();
            }
        },
    )?;
    if let Some(e) = failed.into_inner() {
        return Err(e.context(format!("writing {}", path.display())));
    }
    file.sync_all()?;
    bar.finish_and_clear();
    eprintln!(
        "[xlingo] generated {generating} answers in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(done)
}

/// The prompt's token ids in the chosen style, rendered exactly as training renders a
/// prompt (xlingo-data), so that a tuned model is asked the way it was taught.
fn prompt_ids(text: &Text, style: PromptStyle, item: &Item) -> Result<Vec<u32>> {
    let example = xlingo_data::Example {
        instruction: item.instruction.clone(),
        input: item.input.clone(),
        output: String::new(),
        lang: String::new(),
        kind: xlingo_data::Kind::General,
    };
    let (style, add_special) = match style {
        PromptStyle::Chat => {
            let template = text
                .template
                .as_ref()
                .context("the model has no chat template; use --prompt alpaca")?;
            (
                xlingo_data::prompt::PromptStyle::Chat {
                    template,
                    system: None,
                },
                false,
            )
        }
        PromptStyle::Alpaca => (xlingo_data::prompt::PromptStyle::Alpaca, true),
    };
    let prompt = xlingo_data::prompt::render(&example, &style)
        .map_err(|e| anyhow::anyhow!("prompt: {e}"))?
        .prompt;
    let encoding = text
        .tokenizer
        .encode(prompt.as_str(), add_special)
        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
    Ok(encoding.get_ids().to_vec())
}

/// The scored answer: the generated text without surrounding whitespace, and without the
/// replacement characters a reply cut at --max-tokens leaves when its last token ends inside
/// a multi-byte character (byte-level tokenizers). Nothing else is cut (x-LLM scores the whole
/// output); `raw` in predictions.jsonl keeps it untouched.
fn clean_prediction(text: &str) -> String {
    text.trim()
        .trim_end_matches('\u{FFFD}')
        .trim_end()
        .to_string()
}

/// Predictions of an earlier run: id → (input, prediction). A last line cut off by a crash is ignored (and
/// that item generated again); any other unreadable line is an error naming it.
fn read_predictions(path: &Path) -> Result<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut good_bytes = 0usize;
    for (i, line) in lines.iter().enumerate() {
        let record = serde_json::from_str::<Value>(line).ok();
        let field = |name: &str| Some(record.as_ref()?[name].as_str()?.to_string());
        match (field("id"), field("input"), field("prediction")) {
            (Some(id), Some(input), Some(prediction)) => {
                out.insert(id, (input, prediction));
                good_bytes += line.len() + 1;
            }
            _ if i + 1 == lines.len() => {
                eprintln!(
                    "[xlingo] {}: dropping an incomplete last line (an interrupted run)",
                    path.display()
                );
                // Cut it off so that appended lines start on a line of their own.
                let f = OpenOptions::new().write(true).open(path)?;
                f.set_len(good_bytes as u64)?;
            }
            _ => bail!(
                "{}: line {} is not a prediction record (JSON with \"id\", \"input\" and \"prediction\")",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

fn write_summary(out: &Path, summary: &Value) -> Result<()> {
    let path = out.join("summary.json");
    write_atomically(&path, serde_json::to_string_pretty(summary)?.as_bytes())?;
    eprintln!("[xlingo] wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::clean_prediction;

    #[test]
    fn a_reply_cut_inside_a_character_loses_only_the_partial_character() {
        assert_eq!(clean_prediction(" 牛油果熟没\u{FFFD}\n"), "牛油果熟没");
        assert_eq!(clean_prediction("a \u{FFFD} b"), "a \u{FFFD} b");
        assert_eq!(clean_prediction("  hola  "), "hola");
    }
}
