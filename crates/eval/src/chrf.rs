//! chrF (Popović, 2015) and chrF++ (Popović, 2017) exactly as sacreBLEU 2.5.1 computes them.
//!
//! Character n-grams need no tokeniser, which makes chrF fairer than BLEU across scripts
//! (Chinese, Hindi, Arabic). By default sacreBLEU removes whitespace before counting character
//! n-grams and averages precision and recall over the orders that occur in both hypothesis and
//! reference (`eff:yes`); `eps_smoothing` switches to chrF++.py's per-order F-score average.

use std::collections::HashMap;
use std::fmt;

use crate::corpus;
use crate::error::MetricError;
use crate::pystr;
use crate::signature::{self, Signature};

/// chrF's settings. [`ChrfConfig::default`] is chrF (sacreBLEU's defaults);
/// [`ChrfConfig::chrf_plus_plus`] is chrF++ (word order 2).
#[derive(Debug, Clone, PartialEq)]
pub struct ChrfConfig {
    /// Character n-gram order (6).
    pub char_order: usize,
    /// Word n-gram order: 0 for chrF, 2 for chrF++.
    pub word_order: usize,
    /// Recall is `beta` times as important as precision (2).
    pub beta: u32,
    /// Lowercase before counting (`case:lc`).
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams (`space:yes`); sacreBLEU removes it by default.
    pub whitespace: bool,
    /// chrF++.py / Moses / NLTK epsilon smoothing (`eff:no`) instead of sacreBLEU's effective
    /// order (`eff:yes`, the default).
    pub eps_smoothing: bool,
}

impl Default for ChrfConfig {
    /// sacreBLEU's chrF: character order 6, no word n-grams, beta 2.
    fn default() -> Self {
        ChrfConfig {
            char_order: 6,
            word_order: 0,
            beta: 2,
            lowercase: false,
            whitespace: false,
            eps_smoothing: false,
        }
    }
}

impl ChrfConfig {
    /// chrF++: chrF plus word unigrams and bigrams.
    pub fn chrf_plus_plus() -> Self {
        ChrfConfig {
            word_order: 2,
            ..ChrfConfig::default()
        }
    }

    /// The metric's name as sacreBLEU prints it: `chrF2`, `chrF2++`.
    pub fn name(&self) -> String {
        format!("chrF{}{}", self.beta, "+".repeat(self.word_order))
    }

    /// The reproducibility signature for these settings and reference count.
    pub fn signature(&self, nrefs: Option<usize>) -> Signature {
        Signature::new(nrefs)
            .with("case", "c", signature::case(self.lowercase))
            .with("eff", "e", signature::yes_no(!self.eps_smoothing))
            .with("nc", "nc", self.char_order.to_string())
            .with("nw", "nw", self.word_order.to_string())
            .with("space", "s", signature::yes_no(self.whitespace))
    }

    fn order(&self) -> usize {
        self.char_order + self.word_order
    }

    fn check(&self) -> Result<(), MetricError> {
        if self.char_order == 0 {
            return Err(MetricError::ZeroOrder {
                what: "char_order",
                got: 0,
            });
        }
        Ok(())
    }

    fn preprocess(&self, sentence: &str) -> String {
        if self.lowercase {
            sentence.to_lowercase()
        } else {
            sentence.to_owned()
        }
    }

    /// All n-gram counts of one segment: character orders 1..=char_order, then word orders
    /// 1..=word_order.
    fn ngrams(&self, sentence: &str) -> Vec<HashMap<String, u64>> {
        let mut all = char_ngrams(sentence, self.char_order, self.whitespace);
        if self.word_order > 0 {
            let words = split_punctuation(sentence);
            all.extend((1..=self.word_order).map(|n| word_ngrams(&words, n)));
        }
        all
    }

    /// sacreBLEU's `_compute_f_score` over flattened `[hyp, ref, match]` triples, in percent.
    fn f_score(&self, stats: &[u64]) -> f64 {
        const EPS: f64 = 1e-16;
        let factor = f64::from(self.beta * self.beta);
        let (mut score, mut avg_prec, mut avg_rec) = (0.0, 0.0, 0.0);
        let mut effective_order = 0usize;
        for triple in stats.chunks_exact(3) {
            let (n_hyp, n_ref, n_match) = (triple[0], triple[1], triple[2]);
            let prec = if n_hyp > 0 {
                n_match as f64 / n_hyp as f64
            } else {
                EPS
            };
            let rec = if n_ref > 0 {
                n_match as f64 / n_ref as f64
            } else {
                EPS
            };
            let denom = factor * prec + rec;
            score += if denom > 0.0 {
                (1.0 + factor) * prec * rec / denom
            } else {
                EPS
            };
            if n_hyp > 0 && n_ref > 0 {
                avg_prec += prec;
                avg_rec += rec;
                effective_order += 1;
            }
        }
        if self.eps_smoothing {
            return 100.0 * score / self.order() as f64;
        }
        if effective_order == 0 {
            return 0.0;
        }
        avg_prec /= effective_order as f64;
        avg_rec /= effective_order as f64;
        if avg_prec + avg_rec == 0.0 {
            return 0.0;
        }
        100.0 * ((1.0 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec))
    }
}

/// A chrF or chrF++ score.
#[derive(Debug, Clone, PartialEq)]
pub struct ChrfScore {
    /// `chrF2` or `chrF2++`.
    pub name: String,
    /// The score in 0..=100.
    pub score: f64,
    /// Summed `[hyp, ref, match]` counts per order (characters first, then words).
    pub stats: Vec<u64>,
    pub signature: Signature,
}

impl ChrfScore {
    /// sacreBLEU's `score.format(width, signature=...)`, e.g. `chrF2|nrefs:1|... = 56.78`.
    pub fn format(&self, width: usize, with_signature: bool) -> String {
        if with_signature {
            format!("{}|{} = {:.width$}", self.name, self.signature, self.score)
        } else {
            format!("{} = {:.width$}", self.name, self.score)
        }
    }
}

impl fmt::Display for ChrfScore {
    /// As Python's `str(score)`: width 2, no signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(2, false))
    }
}

/// sacreBLEU's `extract_all_char_ngrams`: counts of character (code point) n-grams of orders
/// 1..=max_order, with whitespace removed unless `include_whitespace`.
fn char_ngrams(
    line: &str,
    max_order: usize,
    include_whitespace: bool,
) -> Vec<HashMap<String, u64>> {
    let chars: Vec<char> = if include_whitespace {
        line.chars().collect()
    } else {
        line.chars().filter(|&c| !pystr::is_space(c)).collect()
    };
    (1..=max_order)
        .map(|n| {
            let mut map = HashMap::new();
            for window in chars.windows(n) {
                *map.entry(window.iter().collect::<String>()).or_insert(0) += 1;
            }
            map
        })
        .collect()
}

/// ASCII punctuation (Python's `string.punctuation`), which chrF++ splits off words.
fn is_ascii_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// sacreBLEU's `CHRF._remove_punctuation`: splits on whitespace, then one ASCII punctuation
/// character off the end of a word, or else off its start (so `(hi)` gives `(hi` and `)`,
/// sacreBLEU issue #124, kept for identical scores).
fn split_punctuation(sentence: &str) -> Vec<String> {
    let mut words = Vec::new();
    for word in pystr::split(sentence) {
        let mut chars = word.chars();
        let (first, last) = (chars.next(), chars.next_back());
        match (first, last) {
            (Some(_), Some(last)) if is_ascii_punct(last) => {
                words.push(word[..word.len() - last.len_utf8()].to_owned());
                words.push(last.to_string());
            }
            (Some(first), Some(_)) if is_ascii_punct(first) => {
                words.push(first.to_string());
                words.push(word[first.len_utf8()..].to_owned());
            }
            _ => words.push(word.to_owned()),
        }
    }
    words
}

/// sacreBLEU's `extract_word_ngrams`: counts of word n-grams joined by spaces.
fn word_ngrams(words: &[String], n: usize) -> HashMap<String, u64> {
    let mut map = HashMap::new();
    for window in words.windows(n) {
        *map.entry(window.join(" ")).or_insert(0) += 1;
    }
    map
}

/// sacreBLEU's `_get_match_statistics` for one order: `[hyp, ref, match]`. Hypothesis n-grams
/// are not counted when the reference has none of this order.
fn match_stats(hyp: &HashMap<String, u64>, reference: &HashMap<String, u64>) -> [u64; 3] {
    let mut matches = 0;
    let mut hyp_count = 0;
    for (ngram, &count) in hyp {
        hyp_count += count;
        if let Some(&ref_count) = reference.get(ngram) {
            matches += count.min(ref_count);
        }
    }
    let ref_count = reference.values().sum();
    let hyp_count = if reference.is_empty() { 0 } else { hyp_count };
    [hyp_count, ref_count, matches]
}

/// sacreBLEU's `_compute_segment_statistics`: the statistics against the reference with the
/// best F-score (the first one on ties).
fn segment_stats(
    hyp: &[HashMap<String, u64>],
    refs: &[Vec<HashMap<String, u64>>],
    config: &ChrfConfig,
) -> Vec<u64> {
    let mut best: Option<(f64, Vec<u64>)> = None;
    for reference in refs {
        let stats: Vec<u64> = hyp
            .iter()
            .zip(reference)
            .flat_map(|(h, r)| match_stats(h, r))
            .collect();
        let f = config.f_score(&stats);
        if best.as_ref().is_none_or(|(best_f, _)| f > *best_f) {
            best = Some((f, stats));
        }
    }
    best.map_or_else(|| vec![0; 3 * config.order()], |(_, stats)| stats)
}

/// Corpus chrF / chrF++. `references[i]` are the references of `hypotheses[i]`; statistics
/// are summed over the corpus before the F-score, as in sacreBLEU.
pub fn corpus_chrf<H: AsRef<str>, R: AsRef<str>>(
    hypotheses: &[H],
    references: &[Vec<R>],
    config: &ChrfConfig,
) -> Result<ChrfScore, MetricError> {
    config.check()?;
    corpus::check(hypotheses, references)?;
    let per_segment: Vec<Vec<u64>> = hypotheses
        .iter()
        .zip(references)
        .map(|(hyp, refs)| {
            let refs: Vec<_> = refs
                .iter()
                .map(|r| config.ngrams(&config.preprocess(r.as_ref())))
                .collect();
            let hyp = config.ngrams(&config.preprocess(hyp.as_ref()));
            segment_stats(&hyp, &refs, config)
        })
        .collect();
    let stats = corpus::sum_stats(&per_segment);
    let nrefs = signature::count_refs(references.iter().map(Vec::len));
    Ok(ChrfScore {
        name: config.name(),
        score: config.f_score(&stats),
        stats,
        signature: config.signature(nrefs),
    })
}

/// Sentence chrF / chrF++ of one hypothesis against its references.
pub fn sentence_chrf<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    config: &ChrfConfig,
) -> Result<ChrfScore, MetricError> {
    let refs: Vec<&str> = references.iter().map(AsRef::as_ref).collect();
    corpus_chrf(&[hypothesis], &[refs], config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_split_like_sacrebleu() {
        assert_eq!(
            split_punctuation("(hi) a, .x y"),
            ["(hi", ")", "a", ",", ".", "x", "y"]
        );
        assert_eq!(split_punctuation("« x »"), ["«", "x", "»"]);
    }

    #[test]
    fn identical_scores_100_and_disjoint_0() {
        let cfg = ChrfConfig::chrf_plus_plus();
        let same = sentence_chrf("Guten Morgen!", &["Guten Morgen!"], &cfg).expect("valid");
        assert!((same.score - 100.0).abs() < 1e-9);
        let none = sentence_chrf("xyz", &["abc"], &cfg).expect("valid");
        assert_eq!(none.score, 0.0);
    }

    #[test]
    fn by_hand_char_order_1() {
        // "ab" vs "abc" with only unigrams: P = 2/2, R = 2/3, F2 = 5PR/(4P+R) = (10/3)/(14/3).
        let cfg = ChrfConfig {
            char_order: 1,
            ..ChrfConfig::default()
        };
        let s = sentence_chrf("a b", &["abc"], &cfg).expect("valid");
        assert!((s.score - 100.0 * 10.0 / 14.0).abs() < 1e-9, "{}", s.score);
        assert_eq!(s.stats, [2, 3, 2]);
    }

    #[test]
    fn best_reference_is_chosen() {
        let cfg = ChrfConfig::default();
        let s = sentence_chrf("hello world", &["goodbye", "hello world"], &cfg).expect("valid");
        assert!((s.score - 100.0).abs() < 1e-9);
    }

    #[test]
    fn names_and_signatures() {
        let cfg = ChrfConfig::chrf_plus_plus();
        assert_eq!(cfg.name(), "chrF2++");
        assert_eq!(
            cfg.signature(Some(1)).long(),
            "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.5.1"
        );
    }
}
