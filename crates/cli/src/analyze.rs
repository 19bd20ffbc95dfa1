//! `xlingo analyze`: layer-wise representation analysis of parallel text (x-LLaMA §analysis).
//!
//! Every passage goes through the burn reference model alone (no padding); its hidden states
//! after the embeddings and after every layer are pooled two ways — the mean over its real
//! tokens and the last token — and xlingo-eval compares languages per layer: cosine
//! similarity of translations, parallel-passage retrieval, and a 2-D PCA.
//!
//! Outputs in --out: passages.json (what was analysed), states/<lang>.safetensors (the pooled
//! vectors, reused by a re-run, so an interrupted analysis resumes per language),
//! analysis.json, and SVG figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use safetensors::tensor::{Dtype, TensorView};
use serde_json::json;
use xlingo_eval::repr::{LanguageStates, ReprAnalysis, ReprOptions, analyze};

use crate::assets::{DEFAULT_MODEL, count_bar, write_atomically, write_json};
use crate::parallel::{Corpus, file_corpus, fitting, parse_lang_file, udhr_corpus};
use crate::session::{
    DeviceChoice, Engine, EngineChoice, EngineSpec, KvCache, Session, resolve_model,
};

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// A GGUF file, a Hugging Face checkpoint directory, or a known asset name.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Languages to take from the Universal Declaration of Human Rights (ISO 639-1 codes or
    /// the udhr package's file codes such as deu_1901); the first is the pivot of the plots.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "en,es,fr,de,pt,ru,zh,ja,ar,hi"
    )]
    langs: Vec<String>,
    /// Parallel text instead of the UDHR: LANG=FILE, one passage per line, files aligned by
    /// line (Flores style). Repeat for every language.
    #[arg(long = "file", value_parser = parse_lang_file)]
    files: Vec<(String, PathBuf)>,
    /// Number of parallel passages (the first ones that fit --max-tokens in every language).
    #[arg(long, default_value_t = 64)]
    passages: usize,
    /// Passages longer than this in any language are skipped (never truncated: a truncated
    /// passage is no longer a translation of the others).
    #[arg(long, default_value_t = 160)]
    max_tokens: usize,
    /// Output directory (created; reused to resume).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
}

pub fn run(args: AnalyzeArgs) -> Result<()> {
    let corpus = if args.files.is_empty() {
        udhr_corpus(&args.langs)?
    } else {
        file_corpus(&args.files)?
    };
    if corpus.languages.len() < 2 {
        bail!("representation analysis needs at least two languages");
    }
    let model_path = resolve_model(&args.model)?;
    let spec = EngineSpec {
        engine: EngineChoice::Reference,
        device: args.device,
        context: None,
        sequences: 1,
        kv_cache: KvCache::F32,
    };
    let session = Session::load(&model_path, &spec)
        .with_context(|| format!("loading {}", model_path.display()))?;
    let corpus = fitting(&corpus, 0, args.passages, args.max_tokens, |text| {
        Ok(encode(&session, text)?.len())
    })?;
    std::fs::create_dir_all(args.out.join("states"))
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_json(&args.out.join("passages.json"), &passages_json(&corpus))?;

    let key = StatesKey {
        model: model_path.display().to_string(),
        passages: corpus.names.clone(),
    };
    let mut mean = Vec::new();
    let mut last = Vec::new();
    for (l, lang) in corpus.languages.iter().enumerate() {
        let path = args.out.join("states").join(format!("{lang}.safetensors"));
        let (m, t) = match read_states(&path, &key)? {
            Some(states) => {
                eprintln!("[xlingo] {lang}: states from {}", path.display());
                states
            }
            None => {
                let states = compute_states(&session, lang, &corpus.texts[l])?;
                write_states(&path, &key, &states)?;
                states
            }
        };
        mean.push(LanguageStates {
            language: lang.clone(),
            layers: m,
        });
        last.push(LanguageStates {
            language: lang.clone(),
            layers: t,
        });
    }

    let options = ReprOptions::default();
    let by_mean = analyze(&mean, &options).context("analysing mean-pooled states")?;
    let by_last = analyze(&last, &options).context("analysing last-token states")?;
    let summary = json!({
        "model": model_path.display().to_string(),
        "languages": corpus.languages,
        "passages": corpus.names.len(),
        "max_tokens": args.max_tokens,
        "pooling": { "mean": by_mean, "last": by_last },
    });
    write_json(&args.out.join("analysis.json"), &summary)?;
    report(&by_mean, "mean over tokens");
    report(&by_last, "last token");
    crate::figures::write_figures(
        &args.out,
        &crate::figures::repr_figures(&by_mean, &by_last)?,
    )?;
    eprintln!("[xlingo] wrote {}", args.out.display());
    Ok(())
}

fn encode(session: &Session, text: &str) -> Result<Vec<u32>> {
    Ok(session
        .tokenizer
        .encode(text, true)
        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?
        .get_ids()
        .to_vec())
}

fn passages_json(corpus: &Corpus) -> serde_json::Value {
    let rows: Vec<_> = corpus
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let texts: serde_json::Map<_, _> = corpus
                .languages
                .iter()
                .zip(&corpus.texts)
                .map(|(lang, t)| (lang.clone(), json!(t[i])))
                .collect();
            json!({ "name": name, "texts": texts })
        })
        .collect();
    json!({ "languages": corpus.languages, "passages": rows })
}

/// Per-layer pooled states of every passage: ([layer][passage] mean, [layer][passage] last).
type Pooled = (Vec<Vec<Vec<f32>>>, Vec<Vec<Vec<f32>>>);

fn compute_states(session: &Session, lang: &str, texts: &[String]) -> Result<Pooled> {
    let Engine::Reference { model, device } = &session.engine else {
        bail!("representation analysis runs on the reference engine");
    };
    let bar = count_bar(texts.len(), "passages");
    bar.set_message(format!("{lang}: hidden states"));
    let started = Instant::now();
    let layers = model.config.n_layers + 1;
    let mut mean = vec![Vec::with_capacity(texts.len()); layers];
    let mut last = vec![Vec::with_capacity(texts.len()); layers];
    for text in texts {
        let ids = encode(session, text)?;
        let states = xlingo_model::sentence_states(&model.model, &ids, device)?;
        for (layer, (m, t)) in states.mean.into_iter().zip(states.last).enumerate() {
            mean[layer].push(m);
            last[layer].push(t);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "[xlingo] {lang}: {} passages in {:.1}s",
        texts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok((mean, last))
}

/// What the saved states were computed from; a mismatch means they are recomputed.
struct StatesKey {
    model: String,
    passages: Vec<String>,
}

impl StatesKey {
    fn fingerprint(&self) -> String {
        serde_json::to_string(&json!({ "model": self.model, "passages": self.passages }))
            .unwrap_or_default()
    }
}

fn write_states(path: &Path, key: &StatesKey, (mean, last): &Pooled) -> Result<()> {
    let flatten = |x: &Vec<Vec<Vec<f32>>>| -> (Vec<u8>, Vec<usize>) {
        let shape = vec![x.len(), x[0].len(), x[0][0].len()];
        let bytes = x
            .iter()
            .flatten()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        (bytes, shape)
    };
    let (mean_bytes, shape) = flatten(mean);
    let (last_bytes, _) = flatten(last);
    let views = [
        (
            "mean",
            TensorView::new(Dtype::F32, shape.clone(), &mean_bytes)?,
        ),
        ("last", TensorView::new(Dtype::F32, shape, &last_bytes)?),
    ];
    let metadata = std::collections::HashMap::from([("key".to_string(), key.fingerprint())]);
    let bytes = safetensors::serialize(views, Some(metadata))?;
    write_atomically(path, &bytes)
}

fn read_states(path: &Path, key: &StatesKey) -> Result<Option<Pooled>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let same = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("key"))
        .is_some_and(|k| *k == key.fingerprint());
    if !same {
        return Ok(None);
    }
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let unflatten = |name: &str| -> Result<Vec<Vec<Vec<f32>>>> {
        let t = tensors
            .tensor(name)
            .with_context(|| format!("{}: tensor `{name}`", path.display()))?;
        let [layers, n, d] = t.shape() else {
            bail!("{}: tensor `{name}` is not 3-D", path.display());
        };
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(values
            .chunks(n * d)
            .take(*layers)
            .map(|layer| layer.chunks(*d).map(<[f32]>::to_vec).collect())
            .collect())
    };
    Ok(Some((unflatten("mean")?, unflatten("last")?)))
}

/// The headline on stderr: where cross-lingual similarity peaks.
fn report(analysis: &ReprAnalysis, pooling: &str) {
    let best = |f: fn(&xlingo_eval::repr::LayerAnalysis) -> f64| {
        analysis
            .layers
            .iter()
            .max_by(|a, b| f(a).total_cmp(&f(b)))
            .map(|l| (l.layer, f(l)))
            .unwrap_or_default()
    };
    let (cos_layer, cos) = best(|l| l.mean_cosine_centered);
    let (ret_layer, ret) = best(|l| l.mean_retrieval);
    eprintln!(
        "[xlingo] {pooling}: centred cosine peaks at layer {cos_layer} ({cos:.3}), retrieval at layer {ret_layer} ({:.1}%)",
        100.0 * ret
    );
}
