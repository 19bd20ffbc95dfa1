//! Question-answering metrics: exact match and token F1 as in the official SQuAD v1.1 and MLQA
//! evaluation scripts, and x-LLM's inclusion accuracy.
//!
//! Extractive QA answers are compared after normalisation, so "The Eiffel Tower." and
//! "eiffel tower" count as the same answer. SQuAD's normalisation is English-only; MLQA's
//! official script (`mlqa_evaluation_v1.py`, read from facebookresearch/MLQA) adds Unicode
//! punctuation, per-language article lists, and character-level tokens for Chinese. x-LLM
//! scores generative models, whose answers are sentences rather than spans, by whether the
//! gold answer occurs inside the prediction.
//!
//! The Python scripts lowercase with `str.lower()` and find articles with `re`'s Unicode `\b`;
//! Rust's `to_lowercase()` and `regex`'s `\b` agree with them except at combining marks
//! (Python's `\w` excludes them), which none of the article lists involve in NFC text.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::MetricError;
use crate::pystr;
use crate::squad::QaExample;

/// The languages MLQA's evaluation script knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MlqaLang {
    En,
    Es,
    Hi,
    Vi,
    De,
    Ar,
    Zh,
}

impl MlqaLang {
    pub const ALL: [MlqaLang; 7] = [
        MlqaLang::En,
        MlqaLang::Es,
        MlqaLang::Hi,
        MlqaLang::Vi,
        MlqaLang::De,
        MlqaLang::Ar,
        MlqaLang::Zh,
    ];

    /// The ISO 639-1 code MLQA uses.
    pub fn code(self) -> &'static str {
        match self {
            MlqaLang::En => "en",
            MlqaLang::Es => "es",
            MlqaLang::Hi => "hi",
            MlqaLang::Vi => "vi",
            MlqaLang::De => "de",
            MlqaLang::Ar => "ar",
            MlqaLang::Zh => "zh",
        }
    }
}

impl FromStr for MlqaLang {
    type Err = MetricError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        MlqaLang::ALL
            .into_iter()
            .find(|l| l.code() == code)
            .ok_or_else(|| MetricError::UnknownMlqaLanguage(code.to_owned()))
    }
}

/// How answers are normalised before they are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// SQuAD v1.1: lowercase, drop ASCII punctuation, drop English articles, squeeze spaces.
    Squad,
    /// MLQA: lowercase, drop all Unicode punctuation, drop the language's articles, squeeze
    /// spaces (Chinese: one token per CJK character).
    Mlqa(MlqaLang),
    /// Lowercase only: x-LLM's inclusion accuracy (`output.lower() in prediction.lower()`).
    Lowercase,
}

/// Compiles a pattern that is a constant of this file (a failure is a bug here, not bad input).
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in pattern {pattern:?}: {e}"))
}

static EN_ARTICLES: LazyLock<Regex> = LazyLock::new(|| compile(r"\b(a|an|the)\b"));
static ES_ARTICLES: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\b(un|una|unos|unas|el|la|los|las)\b"));
static VI_ARTICLES: LazyLock<Regex> = LazyLock::new(|| compile(r"\b(của|là|cái|chiếc|những)\b"));
static DE_ARTICLES: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"));
/// MLQA's Arabic rule `\sال^|ال`: the first branch can never match (`^` after text), so every
/// "ال" is replaced, including inside words. Kept as written for identical scores.
static AR_ARTICLES: LazyLock<Regex> = LazyLock::new(|| compile(r"\sال^|ال"));
/// MLQA's `PUNCT`: every character whose Unicode category starts with P, plus Python's
/// `string.punctuation` (which adds the ASCII symbols $ + < = > ^ ` | ~).
static MLQA_PUNCT: LazyLock<Regex> = LazyLock::new(|| compile(r"[\p{P}$+<=>^`|~]"));

/// Whether `c` is in MLQA's `PUNCT` set.
fn is_mlqa_punct(c: char) -> bool {
    let mut buf = [0u8; 4];
    MLQA_PUNCT.is_match(c.encode_utf8(&mut buf))
}

/// SQuAD's `normalize_answer`.
fn normalize_squad(s: &str) -> String {
    let no_punct: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    pystr::squeeze_spaces(&EN_ARTICLES.replace_all(&no_punct, " "))
}

/// MLQA's `remove_articles`.
fn remove_mlqa_articles(text: &str, lang: MlqaLang) -> String {
    let articles = match lang {
        MlqaLang::En => &EN_ARTICLES,
        MlqaLang::Es => &ES_ARTICLES,
        MlqaLang::Vi => &VI_ARTICLES,
        MlqaLang::De => &DE_ARTICLES,
        MlqaLang::Ar => &AR_ARTICLES,
        MlqaLang::Hi | MlqaLang::Zh => return text.to_owned(),
    };
    articles.replace_all(text, " ").into_owned()
}

/// MLQA's `mixed_segmentation`: each CJK ideograph (U+4E00..=U+9FA5) and punctuation mark is a
/// token; runs of other characters are split on whitespace.
fn mixed_segmentation(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut run = String::new();
    for c in text.chars() {
        if ('\u{4e00}'..='\u{9fa5}').contains(&c) || is_mlqa_punct(c) {
            tokens.extend(pystr::split(&run).map(str::to_owned));
            run.clear();
            tokens.push(c.to_string());
        } else {
            run.push(c);
        }
    }
    tokens.extend(pystr::split(&run).map(str::to_owned));
    tokens
}

/// MLQA's `normalize_answer(s, lang)`.
fn normalize_mlqa(s: &str, lang: MlqaLang) -> String {
    let no_punct: String = s
        .to_lowercase()
        .chars()
        .filter(|&c| !is_mlqa_punct(c))
        .collect();
    let text = remove_mlqa_articles(&no_punct, lang);
    let tokens: Vec<String> = match lang {
        MlqaLang::Zh => mixed_segmentation(&text),
        _ => pystr::split(&text).map(str::to_owned).collect(),
    };
    tokens
        .into_iter()
        .filter(|t| !pystr::strip(t).is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Normalises an answer for comparison.
pub fn normalize_answer(s: &str, normalization: Normalization) -> String {
    match normalization {
        Normalization::Squad => normalize_squad(s),
        Normalization::Mlqa(lang) => normalize_mlqa(s, lang),
        Normalization::Lowercase => s.to_lowercase(),
    }
}

/// Whether prediction and gold are equal after normalisation.
pub fn exact_match(prediction: &str, gold: &str, normalization: Normalization) -> bool {
    normalize_answer(prediction, normalization) == normalize_answer(gold, normalization)
}

/// Token-level F1 (0..=1) between the normalised prediction and gold, counting each token as
/// many times as it occurs in both (the official scripts' `Counter` intersection).
pub fn f1(prediction: &str, gold: &str, normalization: Normalization) -> f64 {
    let pred = normalize_answer(prediction, normalization);
    let gold = normalize_answer(gold, normalization);
    let pred_tokens: Vec<&str> = pystr::split(&pred).collect();
    let gold_tokens: Vec<&str> = pystr::split(&gold).collect();
    let mut gold_counts: HashMap<&str, usize> = HashMap::new();
    for t in &gold_tokens {
        *gold_counts.entry(t).or_insert(0) += 1;
    }
    let mut same = 0usize;
    for t in &pred_tokens {
        if let Some(n) = gold_counts.get_mut(t).filter(|n| **n > 0) {
            *n -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / pred_tokens.len() as f64;
    let recall = same as f64 / gold_tokens.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Whether the normalised gold answer occurs (as a substring, like x-LLM's `in`) in the
/// normalised prediction. An empty normalised gold is contained in everything, as in x-LLM.
pub fn includes(prediction: &str, gold: &str, normalization: Normalization) -> bool {
    normalize_answer(prediction, normalization).contains(&normalize_answer(gold, normalization))
}

/// Exact match against the best of several gold answers (false when there are none).
pub fn max_exact_match<G: AsRef<str>>(prediction: &str, golds: &[G], n: Normalization) -> bool {
    golds.iter().any(|g| exact_match(prediction, g.as_ref(), n))
}

/// F1 against the best of several gold answers (0 when there are none).
pub fn max_f1<G: AsRef<str>>(prediction: &str, golds: &[G], n: Normalization) -> f64 {
    golds
        .iter()
        .map(|g| f1(prediction, g.as_ref(), n))
        .fold(0.0, f64::max)
}

/// Inclusion against any of several gold answers (false when there are none).
pub fn max_inclusion<G: AsRef<str>>(prediction: &str, golds: &[G], n: Normalization) -> bool {
    golds.iter().any(|g| includes(prediction, g.as_ref(), n))
}

/// Which normalisation each metric of [`evaluate`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QaConfig {
    /// For exact match and F1 (SQuAD's by default; `Mlqa(lang)` for MLQA's script).
    pub answer: Normalization,
    /// For inclusion accuracy (lowercase only by default, as x-LLM).
    pub inclusion: Normalization,
}

impl Default for QaConfig {
    fn default() -> Self {
        QaConfig {
            answer: Normalization::Squad,
            inclusion: Normalization::Lowercase,
        }
    }
}

/// Dataset-level QA scores, in percent like the official scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct QaScores {
    pub exact_match: f64,
    pub f1: f64,
    pub inclusion: f64,
    /// Questions in the dataset (the denominator).
    pub total: usize,
    /// Questions without a prediction: they score 0, as in the official scripts.
    pub unanswered: usize,
}

/// Scores predictions (question id → answer) against a dataset like the official SQuAD/MLQA
/// `evaluate`: every question counts, unanswered ones score 0. All scores are 0 for an empty
/// dataset.
pub fn evaluate(
    examples: &[QaExample],
    predictions: &HashMap<String, String>,
    config: QaConfig,
) -> QaScores {
    let (mut em, mut f, mut inc, mut unanswered) = (0.0, 0.0, 0.0, 0usize);
    for example in examples {
        let Some(prediction) = predictions.get(&example.id) else {
            unanswered += 1;
            continue;
        };
        let golds: Vec<&str> = example.answers.iter().map(|a| a.text.as_str()).collect();
        em += f64::from(u8::from(max_exact_match(prediction, &golds, config.answer)));
        f += max_f1(prediction, &golds, config.answer);
        inc += f64::from(u8::from(max_inclusion(
            prediction,
            &golds,
            config.inclusion,
        )));
    }
    let total = examples.len();
    let percent = |x: f64| {
        if total == 0 {
            0.0
        } else {
            100.0 * x / total as f64
        }
    };
    QaScores {
        exact_match: percent(em),
        f1: percent(f),
        inclusion: percent(inc),
        total,
        unanswered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squad::Answer;

    const SQ: Normalization = Normalization::Squad;

    #[test]
    fn squad_normalisation() {
        assert_eq!(normalize_answer("The  Eiffel Tower!", SQ), "eiffel tower");
        // Articles only as whole words; "the" inside "theatre" stays.
        assert_eq!(
            normalize_answer("An apple, the theatre.", SQ),
            "apple theatre"
        );
        // Only ASCII punctuation: the French guillemets stay.
        assert_eq!(normalize_answer("«Paris»", SQ), "«paris»");
        // Punctuation is deleted, not replaced by a space, so "U.S." and "US" agree.
        assert_eq!(normalize_answer("U.S.", SQ), "us");
    }

    #[test]
    fn squad_exact_match_and_f1_by_hand() {
        assert!(exact_match("the Denver Broncos", "Denver Broncos", SQ));
        assert!(!exact_match("Denver", "Denver Broncos", SQ));
        // pred {denver, broncos, won}, gold {denver, broncos}: P = 2/3, R = 1, F1 = 0.8.
        assert!((f1("Denver Broncos won", "Denver Broncos", SQ) - 0.8).abs() < 1e-12);
        // Repeated tokens count once per occurrence in both: pred [a1 a1 b], gold [a1 c]:
        // common 1, P = 1/3, R = 1/2, F1 = 0.4.
        assert!((f1("a1 a1 b", "a1 c", SQ) - 0.4).abs() < 1e-12);
        assert_eq!(f1("", "Denver", SQ), 0.0);
        // Max over ground truths (SQuAD dev: "Santa Clara" with three golds).
        let golds = [
            "Santa Clara, California",
            "Levi's Stadium",
            "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California.",
        ];
        assert!(max_exact_match("Levi's Stadium", &golds, SQ));
        assert!((max_f1("Santa Clara", &golds, SQ) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn mlqa_languages() {
        let es = Normalization::Mlqa(MlqaLang::Es);
        assert_eq!(normalize_answer("¡La Casa Blanca!", es), "casa blanca");
        let de = Normalization::Mlqa(MlqaLang::De);
        assert_eq!(
            normalize_answer("Die Straße „Unter den Linden“", de),
            "straße unter linden"
        );
        let vi = Normalization::Mlqa(MlqaLang::Vi);
        assert_eq!(
            normalize_answer("Thủ đô của Việt Nam", vi),
            "thủ đô việt nam"
        );
        let ar = Normalization::Mlqa(MlqaLang::Ar);
        // Every "ال" goes, also inside a word, as in MLQA's script.
        assert_eq!(normalize_answer("الكتاب، المفيد", ar), "كتاب مفيد");
        let hi = Normalization::Mlqa(MlqaLang::Hi);
        assert_eq!(normalize_answer("भारत की राजधानी।", hi), "भारत की राजधानी");
        let en = Normalization::Mlqa(MlqaLang::En);
        assert_eq!(
            normalize_answer("The “smart” answer — a test", en),
            "smart answer test"
        );
    }

    #[test]
    fn mlqa_chinese_is_character_level() {
        let zh = Normalization::Mlqa(MlqaLang::Zh);
        assert_eq!(normalize_answer("北京大学（PKU）", zh), "北 京 大 学 pku");
        // pred 北京大学 vs gold 北京: 2 of 4 characters, P = 1/2, R = 1, F1 = 2/3.
        assert!((f1("北京大学", "北京", zh) - 2.0 / 3.0).abs() < 1e-12);
        // Under SQuAD's whitespace tokens the same pair shares nothing.
        assert_eq!(f1("北京大学", "北京", SQ), 0.0);
    }

    #[test]
    fn inclusion() {
        let lc = Normalization::Lowercase;
        assert!(includes("The answer is Paris.", "paris", lc));
        assert!(!includes("The answer is London.", "paris", lc));
        // Substring semantics, as x-LLM.
        assert!(includes("1990s", "1990", lc));
        assert!(max_inclusion(
            "It was the U.S. Army",
            &["u.s. army", "army"],
            lc
        ));
        assert!(includes("it was the US army", "U.S. Army", SQ));
        assert!(!max_inclusion("x", &[] as &[&str], lc));
    }

    #[test]
    fn unknown_mlqa_language() {
        assert_eq!(
            "fr".parse::<MlqaLang>(),
            Err(MetricError::UnknownMlqaLanguage("fr".into()))
        );
        assert_eq!("zh".parse::<MlqaLang>(), Ok(MlqaLang::Zh));
    }

    #[test]
    fn evaluate_counts_unanswered_as_zero() {
        let ex = |id: &str, gold: &str| QaExample {
            id: id.into(),
            context: String::new(),
            question: String::new(),
            answers: vec![Answer {
                text: gold.into(),
                answer_start: None,
            }],
        };
        let examples = [ex("q1", "Denver Broncos"), ex("q2", "Paris"), ex("q3", "x")];
        let predictions: HashMap<String, String> = [
            ("q1".to_owned(), "Denver Broncos won".to_owned()),
            ("q2".to_owned(), "paris".to_owned()),
        ]
        .into();
        let s = evaluate(&examples, &predictions, QaConfig::default());
        assert_eq!((s.total, s.unanswered), (3, 1));
        assert!((s.exact_match - 100.0 / 3.0).abs() < 1e-9);
        assert!((s.f1 - 100.0 * 1.8 / 3.0).abs() < 1e-9);
        assert!((s.inclusion - 200.0 / 3.0).abs() < 1e-9);
    }
}
