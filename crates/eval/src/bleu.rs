//! BLEU (Papineni et al., 2002) exactly as sacreBLEU 2.5.1 computes it: same tokenisers,
//! clipped n-gram counts against the union (max count) of the references, the closest
//! reference length (the shorter on ties) for the brevity penalty, the same smoothing methods,
//! and the same floating-point order, so scores agree to the last digits.

use std::collections::HashMap;
use std::fmt;

use crate::corpus;
use crate::error::MetricError;
use crate::pystr;
use crate::signature::{self, Signature};
use crate::tokenize::Tokenizer;

/// How BLEU treats an n-gram order with no matches (Chen and Cherry, 2014).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smoothing {
    /// No smoothing: one order without matches makes BLEU 0.
    None,
    /// Method 1: a zero match count becomes `value` (sacreBLEU's default 0.1).
    Floor(f64),
    /// Method 2: `value` (default 1) added to matches and totals of orders 2 and up.
    AddK(f64),
    /// Method 3, NIST's (mteval-v13a): the k-th order without matches gets 1/2^k matches.
    /// sacreBLEU's default for corpus and sentence BLEU.
    Exp,
}

impl Smoothing {
    /// Floor smoothing with sacreBLEU's default value, 0.1.
    pub const FLOOR: Smoothing = Smoothing::Floor(0.1);
    /// Add-k smoothing with sacreBLEU's default value, 1.
    pub const ADD_K: Smoothing = Smoothing::AddK(1.0);

    /// The `smooth:` field of the signature, e.g. `exp` or `floor[0.10]`.
    fn signature(self) -> String {
        match self {
            Smoothing::None => "none".to_owned(),
            Smoothing::Exp => "exp".to_owned(),
            Smoothing::Floor(v) => format!("floor[{v:.2}]"),
            Smoothing::AddK(v) => format!("add-k[{v:.2}]"),
        }
    }
}

/// BLEU's settings. [`BleuConfig::default`] is sacreBLEU's `corpus_bleu`;
/// [`BleuConfig::sentence`] is its `sentence_bleu`.
#[derive(Debug, Clone, PartialEq)]
pub struct BleuConfig {
    pub tokenizer: Tokenizer,
    /// Lowercase hypotheses and references before tokenising (`case:lc`).
    pub lowercase: bool,
    pub smoothing: Smoothing,
    /// Average only over the orders that have n-grams at all (up to the longest hypothesis
    /// length), so short sentences are not scored 0 for lacking 4-grams.
    pub effective_order: bool,
    /// The largest n-gram order (4).
    pub max_ngram_order: usize,
}

impl Default for BleuConfig {
    /// sacreBLEU's `corpus_bleu` defaults: 13a, mixed case, exp smoothing, no effective order.
    fn default() -> Self {
        BleuConfig {
            tokenizer: Tokenizer::Mteval13a,
            lowercase: false,
            smoothing: Smoothing::Exp,
            effective_order: false,
            max_ngram_order: 4,
        }
    }
}

impl BleuConfig {
    /// sacreBLEU's `sentence_bleu` defaults: as corpus BLEU (exp smoothing) but with
    /// effective order on (`eff:yes`).
    pub fn sentence() -> Self {
        BleuConfig {
            effective_order: true,
            ..BleuConfig::default()
        }
    }

    /// The reproducibility signature for these settings and reference count.
    pub fn signature(&self, nrefs: Option<usize>) -> Signature {
        Signature::new(nrefs)
            .with("case", "c", signature::case(self.lowercase))
            .with("eff", "e", signature::yes_no(self.effective_order))
            .with("tok", "tok", self.tokenizer.name().to_owned())
            .with("smooth", "s", self.smoothing.signature())
    }

    fn check(&self) -> Result<(), MetricError> {
        if self.max_ngram_order == 0 {
            return Err(MetricError::ZeroOrder {
                what: "max_ngram_order",
                got: 0,
            });
        }
        Ok(())
    }

    /// sacreBLEU's `_preprocess_segment`: optional lowercasing, trailing whitespace off,
    /// then the tokeniser.
    fn preprocess(&self, sentence: &str) -> String {
        if self.lowercase {
            self.tokenizer
                .tokenize(pystr::rstrip(&sentence.to_lowercase()))
        } else {
            self.tokenizer.tokenize(pystr::rstrip(sentence))
        }
    }
}

/// A BLEU score and the statistics behind it (sacreBLEU's `BLEUScore`).
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScore {
    /// BLEU in 0..=100.
    pub score: f64,
    /// Matched n-grams per order (before any add-k smoothing).
    pub counts: Vec<u64>,
    /// Hypothesis n-grams per order (before any add-k smoothing).
    pub totals: Vec<u64>,
    /// Smoothed precisions per order, in percent.
    pub precisions: Vec<f64>,
    /// Brevity penalty.
    pub bp: f64,
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Effective reference length in tokens.
    pub ref_len: u64,
    pub signature: Signature,
}

impl BleuScore {
    /// `sys_len / ref_len`, 0 when there is no reference token.
    pub fn ratio(&self) -> f64 {
        if self.ref_len == 0 {
            0.0
        } else {
            self.sys_len as f64 / self.ref_len as f64
        }
    }

    /// sacreBLEU's `score.format(width, signature=...)`: e.g.
    /// `BLEU|nrefs:1|...|version:2.5.1 = 23.45 60.0/30.0/12.5/5.0 (BP = 1.000 ratio = ...)`.
    pub fn format(&self, width: usize, with_signature: bool) -> String {
        let name = if with_signature {
            format!("BLEU|{}", self.signature)
        } else {
            "BLEU".to_owned()
        };
        let precisions: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        format!(
            "{name} = {:.width$} {} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            self.score,
            precisions.join("/"),
            self.bp,
            self.ratio(),
            self.sys_len,
            self.ref_len
        )
    }
}

impl fmt::Display for BleuScore {
    /// As Python's `str(score)`: width 2, no signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(2, false))
    }
}

/// N-gram counts of one tokenised segment, one map per order (index n-1); an n-gram is its
/// tokens joined by single spaces, which is unambiguous because tokens contain no whitespace.
type NgramCounts = Vec<HashMap<String, u64>>;

/// sacreBLEU's `extract_all_word_ngrams`: counts of all 1..=max_order-grams and the length.
fn word_ngrams(line: &str, max_order: usize) -> (NgramCounts, u64) {
    let tokens: Vec<&str> = pystr::split(line).collect();
    let counts = (1..=max_order)
        .map(|n| {
            let mut map = HashMap::new();
            for window in tokens.windows(n) {
                *map.entry(window.join(" ")).or_insert(0) += 1;
            }
            map
        })
        .collect();
    (counts, tokens.len() as u64)
}

/// The references of one segment: max count of each n-gram over the references, and lengths.
struct RefInfo {
    ngrams: NgramCounts,
    lens: Vec<u64>,
}

/// sacreBLEU's `_extract_reference_info`.
fn reference_info(refs: &[String], max_order: usize) -> RefInfo {
    let mut ngrams: NgramCounts = vec![HashMap::new(); max_order];
    let mut lens = Vec::with_capacity(refs.len());
    for reference in refs {
        let (counts, len) = word_ngrams(reference, max_order);
        lens.push(len);
        for (merged, order) in ngrams.iter_mut().zip(counts) {
            for (ngram, count) in order {
                let slot = merged.entry(ngram).or_insert(0);
                *slot = (*slot).max(count);
            }
        }
    }
    RefInfo { ngrams, lens }
}

/// sacreBLEU's `_get_closest_ref_len`: the reference length nearest the hypothesis length,
/// the shorter one on a tie.
fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut best: Option<(u64, u64)> = None; // (difference, length)
    for &len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        best = match best {
            Some((d, l)) if d < diff || (d == diff && l <= len) => Some((d, l)),
            _ => Some((diff, len)),
        };
    }
    best.map_or(0, |(_, len)| len)
}

/// sacreBLEU's `_compute_segment_statistics`: `[hyp_len, ref_len, matches.., totals..]`.
fn segment_stats(hypothesis: &str, refs: &RefInfo, max_order: usize) -> Vec<u64> {
    let (hyp_ngrams, hyp_len) = word_ngrams(hypothesis, max_order);
    let mut correct = vec![0u64; max_order];
    let mut total = vec![0u64; max_order];
    for (n, (hyp, reference)) in hyp_ngrams.iter().zip(&refs.ngrams).enumerate() {
        for (ngram, &count) in hyp {
            total[n] += count;
            if let Some(&ref_count) = reference.get(ngram) {
                correct[n] += count.min(ref_count);
            }
        }
    }
    let mut stats = vec![hyp_len, closest_ref_len(hyp_len, &refs.lens)];
    stats.extend(correct);
    stats.extend(total);
    stats
}

/// sacreBLEU's `my_log`: log with log(0) floored to -9999999999.
fn floored_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

/// sacreBLEU's brevity penalty: exp(1 - r/c) when the hypothesis is shorter, 0 if it is empty.
fn brevity_penalty(sys_len: u64, ref_len: u64) -> f64 {
    if sys_len >= ref_len {
        1.0
    } else if sys_len == 0 {
        0.0
    } else {
        (1.0 - ref_len as f64 / sys_len as f64).exp()
    }
}

/// Smoothed precisions (percent) and the number of orders to average (sacreBLEU's loop in
/// `compute_bleu`, including its early `break` at the first order without n-grams).
fn precisions(correct: &[u64], total: &[u64], config: &BleuConfig) -> (Vec<f64>, usize) {
    let max_order = config.max_ngram_order;
    let mut precisions = vec![0.0; max_order];
    let mut smooth_mteval = 1.0;
    let mut eff_order = max_order;
    for n in 1..=max_order {
        let (mut c, mut t) = (correct[n - 1] as f64, total[n - 1] as f64);
        if let Smoothing::AddK(k) = config.smoothing
            && n > 1
        {
            c += k;
            t += k;
        }
        if t == 0.0 {
            break;
        }
        if config.effective_order {
            eff_order = n;
        }
        precisions[n - 1] = if c != 0.0 {
            100.0 * c / t
        } else {
            match config.smoothing {
                Smoothing::Exp => {
                    smooth_mteval *= 2.0;
                    100.0 / (smooth_mteval * t)
                }
                Smoothing::Floor(v) => 100.0 * v / t,
                Smoothing::None | Smoothing::AddK(_) => 0.0,
            }
        };
    }
    (precisions, eff_order)
}

/// sacreBLEU's `compute_bleu` from summed statistics.
fn score_from_stats(stats: &[u64], config: &BleuConfig, signature: Signature) -> BleuScore {
    let order = config.max_ngram_order;
    let (sys_len, ref_len) = (stats[0], stats[1]);
    let correct = stats[2..2 + order].to_vec();
    let total = stats[2 + order..2 + 2 * order].to_vec();
    let bp = brevity_penalty(sys_len, ref_len);
    let (precisions, score) = if correct.iter().all(|&c| c == 0) {
        (vec![0.0; order], 0.0)
    } else {
        let (precisions, eff_order) = precisions(&correct, &total, config);
        let log_sum: f64 = precisions[..eff_order]
            .iter()
            .map(|&p| floored_log(p))
            .sum();
        let score = bp * (log_sum / eff_order as f64).exp();
        (precisions, score)
    };
    BleuScore {
        score,
        counts: correct,
        totals: total,
        precisions,
        bp,
        sys_len,
        ref_len,
        signature,
    }
}

/// Corpus BLEU. `references[i]` are the references of `hypotheses[i]` (one or more; see
/// [`crate::transpose_streams`] for sacreBLEU's stream layout). N-gram statistics are summed
/// over the corpus before the score is computed, as BLEU is defined.
pub fn corpus_bleu<H: AsRef<str>, R: AsRef<str>>(
    hypotheses: &[H],
    references: &[Vec<R>],
    config: &BleuConfig,
) -> Result<BleuScore, MetricError> {
    config.check()?;
    corpus::check(hypotheses, references)?;
    let order = config.max_ngram_order;
    let per_segment: Vec<Vec<u64>> = hypotheses
        .iter()
        .zip(references)
        .map(|(hyp, refs)| {
            let refs: Vec<String> = refs.iter().map(|r| config.preprocess(r.as_ref())).collect();
            let info = reference_info(&refs, order);
            segment_stats(&config.preprocess(hyp.as_ref()), &info, order)
        })
        .collect();
    let nrefs = signature::count_refs(references.iter().map(Vec::len));
    Ok(score_from_stats(
        &corpus::sum_stats(&per_segment),
        config,
        config.signature(nrefs),
    ))
}

/// Sentence BLEU of one hypothesis against its references. Use [`BleuConfig::sentence`] for
/// sacreBLEU's `sentence_bleu` (exp smoothing with effective order).
pub fn sentence_bleu<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    config: &BleuConfig,
) -> Result<BleuScore, MetricError> {
    let refs: Vec<&str> = references.iter().map(AsRef::as_ref).collect();
    corpus_bleu(&[hypothesis], &[refs], config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn identical_sentence_scores_100() {
        let s = sentence_bleu(
            "the cat sat on the mat",
            &["the cat sat on the mat"],
            &BleuConfig::sentence(),
        );
        let s = s.expect("valid input");
        assert!(close(s.score, 100.0), "{}", s.score);
        assert_eq!(s.counts, [6, 5, 4, 3]);
    }

    #[test]
    fn brevity_penalty_by_hand() {
        // Hypothesis of 4 tokens, all matching, reference of 6: BP = exp(1 - 6/4).
        let s = corpus_bleu(&["a b c d"], &[vec!["a b c d e f"]], &BleuConfig::default());
        let s = s.expect("valid input");
        assert!(close(s.bp, (-0.5f64).exp()));
        assert!(close(s.score, 100.0 * (-0.5f64).exp()));
    }

    #[test]
    fn exp_smoothing_by_hand() {
        // 3 tokens against 4: unigrams 3/3, bigrams 1/2, trigrams 0/1 (-> 100/(2*1)), no
        // 4-grams, so without effective order the 4th precision is 0 and BLEU is 0; with it,
        // the geometric mean runs over 3 orders.
        let hyp = ["a b x"];
        let refs = [vec!["a b c x"]];
        let corpus = corpus_bleu(&hyp, &refs, &BleuConfig::default()).expect("valid input");
        assert!(close(corpus.score, 0.0));
        let sent = corpus_bleu(&hyp, &refs, &BleuConfig::sentence()).expect("valid input");
        assert_eq!(sent.precisions[..3], [100.0, 50.0, 50.0]);
        let bp = (1.0 - 4.0 / 3.0f64).exp();
        let expected = bp * ((100.0f64.ln() + 50f64.ln() + 50f64.ln()) / 3.0).exp();
        assert!(close(sent.score, expected), "{} vs {expected}", sent.score);
    }

    #[test]
    fn closest_reference_prefers_shorter_on_tie() {
        assert_eq!(closest_ref_len(5, &[7, 3]), 3);
        assert_eq!(closest_ref_len(5, &[6, 4, 9]), 4);
        assert_eq!(closest_ref_len(5, &[9, 6]), 6);
    }

    #[test]
    fn multiple_references_clip_to_max_count() {
        let refs = vec![vec!["the the cat", "the cat the the"]];
        let s = corpus_bleu(&["the the the the"], &refs, &BleuConfig::default()).expect("valid");
        assert_eq!(s.counts[0], 3);
    }

    #[test]
    fn signatures() {
        let cfg = BleuConfig::default();
        assert_eq!(
            cfg.signature(Some(1)).long(),
            "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1"
        );
        let cfg = BleuConfig {
            smoothing: Smoothing::FLOOR,
            lowercase: true,
            tokenizer: Tokenizer::Zh,
            ..BleuConfig::sentence()
        };
        assert_eq!(
            cfg.signature(Some(2)).short(),
            "#:2|c:lc|e:yes|tok:zh|s:floor[0.10]|v:2.5.1"
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        let cfg = BleuConfig::default();
        let empty: [Vec<&str>; 1] = [vec![]];
        assert_eq!(
            corpus_bleu(&["x"], &empty, &cfg),
            Err(MetricError::NoReferences { segment: 0 })
        );
        let zero = BleuConfig {
            max_ngram_order: 0,
            ..cfg
        };
        assert!(corpus_bleu(&["x"], &[vec!["x"]], &zero).is_err());
    }
}
