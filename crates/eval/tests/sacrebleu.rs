//! Every score in `fixtures/sacrebleu.json` (written by `scripts/reference/sacrebleu_fixture.py`
//! from PyPI sacreBLEU) recomputed here: scores within 0.01, signatures, tokenisations, counts
//! and lengths exactly. Run with `--nocapture` to see the largest difference per table.

use std::collections::HashMap;

use serde::Deserialize;
use xlingo_eval::spm::SentencePiece;
use xlingo_eval::{
    BleuConfig, ChrfConfig, Flores, SACREBLEU_VERSION, Smoothing, Tokenizer, corpus_bleu,
    corpus_chrf, sentence_bleu, sentence_chrf,
};

const TOLERANCE: f64 = 0.01;

#[derive(Deserialize)]
struct Fixture {
    sacrebleu_version: String,
    sets: HashMap<String, Set>,
    tokenize: Vec<TokenizeRecord>,
    bleu_corpus: Vec<BleuRecord>,
    bleu_sentence: Vec<BleuRecord>,
    chrf_corpus: Vec<ChrfRecord>,
    chrf_sentence: Vec<ChrfRecord>,
}

#[derive(Deserialize)]
struct Set {
    hypotheses: Vec<String>,
    /// sacreBLEU's streams; `None` is an absent reference.
    references: Vec<Vec<Option<String>>>,
}

#[derive(Deserialize)]
struct TokenizeRecord {
    tokenize: String,
    input: String,
    output: String,
}

#[derive(Deserialize)]
struct BleuRecord {
    set: String,
    /// Present for sentence-level records: the segment scored.
    index: Option<usize>,
    tokenize: String,
    lowercase: bool,
    smooth_method: String,
    effective_order: bool,
    score: f64,
    counts: Vec<u64>,
    totals: Vec<u64>,
    precisions: Vec<f64>,
    bp: f64,
    sys_len: u64,
    ref_len: u64,
    signature: String,
    signature_short: Option<String>,
    formatted: String,
}

#[derive(Deserialize)]
struct ChrfRecord {
    set: String,
    index: Option<usize>,
    word_order: usize,
    lowercase: bool,
    whitespace: bool,
    eps_smoothing: bool,
    score: f64,
    name: String,
    signature: String,
    signature_short: Option<String>,
    formatted: String,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sacrebleu.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl Set {
    /// The references of segment `i`, absent ones left out.
    fn refs_of(&self, i: usize) -> Vec<&str> {
        self.references
            .iter()
            .filter_map(|stream| stream[i].as_deref())
            .collect()
    }

    /// The hypotheses and per-segment references of the whole set, or of segment `index`.
    fn inputs(&self, index: Option<usize>) -> (Vec<&str>, Vec<Vec<&str>>) {
        match index {
            Some(i) => (vec![self.hypotheses[i].as_str()], vec![self.refs_of(i)]),
            None => (
                self.hypotheses.iter().map(String::as_str).collect(),
                (0..self.hypotheses.len())
                    .map(|i| self.refs_of(i))
                    .collect(),
            ),
        }
    }
}

/// Collects mismatches and the largest score difference of one table.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
    max_diff: f64,
    compared: usize,
}

impl Report {
    fn score(&mut self, what: &str, ours: f64, theirs: f64) {
        let diff = (ours - theirs).abs();
        self.max_diff = self.max_diff.max(diff);
        self.compared += 1;
        if diff > TOLERANCE || diff.is_nan() {
            self.failures
                .push(format!("{what}: ours {ours}, sacreBLEU {theirs}"));
        }
    }

    fn exact<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, ours: T, theirs: T) {
        if ours != theirs {
            self.failures
                .push(format!("{what}: ours {ours:?}, sacreBLEU {theirs:?}"));
        }
    }

    fn finish(self, table: &str) {
        eprintln!(
            "{table}: {} scores compared, largest difference {:e}",
            self.compared, self.max_diff
        );
        assert!(self.compared > 0, "{table}: nothing compared");
        assert!(
            self.failures.is_empty(),
            "{table}: {} mismatches, first ones:\n{}",
            self.failures.len(),
            self.failures
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn smoothing(name: &str) -> Smoothing {
    match name {
        "exp" => Smoothing::Exp,
        "floor" => Smoothing::FLOOR,
        "add-k" => Smoothing::ADD_K,
        "none" => Smoothing::None,
        other => panic!("fixture names an unknown smoothing {other:?}"),
    }
}

#[test]
fn fixture_is_from_the_reproduced_version() {
    assert_eq!(fixture().sacrebleu_version, SACREBLEU_VERSION);
}

#[test]
fn tokenisers_match_exactly() {
    let fx = fixture();
    let mut report = Report::default();
    for rec in &fx.tokenize {
        let tok: Tokenizer = rec.tokenize.parse().expect("fixture tokenizer is known");
        report.compared += 1;
        report.exact(
            &format!("{} {:?}", rec.tokenize, rec.input),
            tok.tokenize(&rec.input),
            rec.output.clone(),
        );
    }
    report.finish("tokenize");
}

fn check_bleu(records: &[BleuRecord], sets: &HashMap<String, Set>, table: &str) {
    check_bleu_with(records, sets, table, |name| {
        name.parse().expect("fixture tokenizer is known")
    });
}

fn check_bleu_with(
    records: &[BleuRecord],
    sets: &HashMap<String, Set>,
    table: &str,
    tokenizer: impl Fn(&str) -> Tokenizer,
) {
    let mut report = Report::default();
    for rec in records {
        let what = format!(
            "{} #{:?} tok:{} lc:{} smooth:{} eff:{}",
            rec.set, rec.index, rec.tokenize, rec.lowercase, rec.smooth_method, rec.effective_order
        );
        let config = BleuConfig {
            tokenizer: tokenizer(&rec.tokenize),
            lowercase: rec.lowercase,
            smoothing: smoothing(&rec.smooth_method),
            effective_order: rec.effective_order,
            max_ngram_order: 4,
        };
        let (hyps, refs) = sets[&rec.set].inputs(rec.index);
        let ours = match rec.index {
            Some(_) => sentence_bleu(hyps[0], &refs[0], &config),
            None => corpus_bleu(&hyps, &refs, &config),
        };
        let ours = ours.expect("fixture inputs are valid");
        report.score(&what, ours.score, rec.score);
        report.score(&format!("{what} bp"), ours.bp, rec.bp);
        for (n, (p, q)) in ours.precisions.iter().zip(&rec.precisions).enumerate() {
            report.score(&format!("{what} precision {}", n + 1), *p, *q);
        }
        report.exact(
            &format!("{what} lengths"),
            (ours.sys_len, ours.ref_len),
            (rec.sys_len, rec.ref_len),
        );
        // sacreBLEU reports add-k's smoothed counts; ours are the raw ones.
        if rec.smooth_method != "add-k" {
            report.exact(&format!("{what} counts"), &ours.counts, &rec.counts);
            report.exact(&format!("{what} totals"), &ours.totals, &rec.totals);
        }
        report.exact(
            &format!("{what} signature"),
            ours.signature.long(),
            rec.signature.clone(),
        );
        if let Some(short) = &rec.signature_short {
            report.exact(
                &format!("{what} short signature"),
                &ours.signature.short(),
                short,
            );
        }
        report.exact(
            &format!("{what} str()"),
            ours.to_string(),
            rec.formatted.clone(),
        );
    }
    report.finish(table);
}

#[test]
fn corpus_bleu_matches_sacrebleu() {
    let fx = fixture();
    check_bleu(&fx.bleu_corpus, &fx.sets, "corpus BLEU");
}

#[test]
fn sentence_bleu_matches_sacrebleu() {
    let fx = fixture();
    check_bleu(&fx.bleu_sentence, &fx.sets, "sentence BLEU");
}

fn check_chrf(records: &[ChrfRecord], sets: &HashMap<String, Set>, table: &str) {
    let mut report = Report::default();
    for rec in records {
        let what = format!(
            "{} #{:?} nw:{} lc:{} space:{} eps:{}",
            rec.set, rec.index, rec.word_order, rec.lowercase, rec.whitespace, rec.eps_smoothing
        );
        let config = ChrfConfig {
            word_order: rec.word_order,
            lowercase: rec.lowercase,
            whitespace: rec.whitespace,
            eps_smoothing: rec.eps_smoothing,
            ..ChrfConfig::default()
        };
        let (hyps, refs) = sets[&rec.set].inputs(rec.index);
        let ours = match rec.index {
            Some(_) => sentence_chrf(hyps[0], &refs[0], &config),
            None => corpus_chrf(&hyps, &refs, &config),
        };
        let ours = ours.expect("fixture inputs are valid");
        report.score(&what, ours.score, rec.score);
        report.exact(&format!("{what} name"), &ours.name, &rec.name);
        report.exact(
            &format!("{what} signature"),
            ours.signature.long(),
            rec.signature.clone(),
        );
        if let Some(short) = &rec.signature_short {
            report.exact(
                &format!("{what} short signature"),
                &ours.signature.short(),
                short,
            );
        }
        report.exact(
            &format!("{what} format()"),
            ours.format(2, true),
            rec.formatted.clone(),
        );
    }
    report.finish(table);
}

#[test]
fn corpus_chrf_matches_sacrebleu() {
    let fx = fixture();
    check_chrf(&fx.chrf_corpus, &fx.sets, "corpus chrF");
}

#[test]
fn sentence_chrf_matches_sacrebleu() {
    let fx = fixture();
    check_chrf(&fx.chrf_sentence, &fx.sets, "sentence chrF");
}

/// spBLEU: `fixtures/spm.json` (scripts/reference/spm_fixture.py) has sacreBLEU's scores with
/// `tokenize=flores101` and `flores200` run on two small SentencePiece models of ours (BPE, and
/// unigram with byte fallback) standing in for the FLORES downloads, on the same sets.
#[test]
fn spbleu_matches_sacrebleu() {
    #[derive(Deserialize)]
    struct SpmFixture {
        sacrebleu_version: String,
        models: HashMap<String, String>,
        bleu: Vec<BleuRecord>,
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let spm: SpmFixture =
        serde_json::from_slice(&std::fs::read(format!("{dir}/spm.json")).unwrap()).unwrap();
    assert_eq!(spm.sacrebleu_version, SACREBLEU_VERSION);
    assert_eq!(spm.bleu.len(), 142);
    let tokenizers: HashMap<String, Tokenizer> = spm
        .models
        .iter()
        .map(|(name, file)| {
            let path = format!("{dir}/{file}");
            let model = SentencePiece::from_bytes(&path, &std::fs::read(&path).unwrap()).unwrap();
            let flores = Flores::from_name(name).unwrap();
            (name.clone(), Tokenizer::spm(flores, model))
        })
        .collect();
    check_bleu_with(&spm.bleu, &fixture().sets, "spBLEU", |name| {
        tokenizers[name].clone()
    });
}
