//! sacreBLEU's BLEU tokenisers (`13a`, `intl`, `zh`, `char`, `none`), reproduced from
//! sacreBLEU 2.5.1's `tokenizers/` so that token counts, and therefore scores, are identical.
//!
//! BLEU is only comparable across papers when the tokenisation is the same, which is why the
//! tokeniser's name is part of the signature.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::error::MetricError;
use crate::pystr;
use crate::spm::SentencePiece;

/// Which of sacreBLEU's tokenisers BLEU runs before counting n-grams.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tokenizer {
    /// No tokenisation: the text is split on whitespace only (for pre-tokenised text).
    None,
    /// mteval-v13a (WMT's standard, sacreBLEU's default): Western punctuation split off.
    #[default]
    Mteval13a,
    /// mteval-v14 "international": every Unicode punctuation and symbol split off.
    Intl,
    /// Chinese: each CJK character is a token, the rest as 13a.
    Zh,
    /// Every character is a token.
    Char,
    /// spBLEU: the pieces of a SentencePiece model (FLORES-101's or FLORES-200's).
    Spm(SpmTokenizer),
}

/// Which FLORES SentencePiece model spBLEU uses: the name in sacreBLEU's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flores {
    /// FLORES-101's model (sacreBLEU's `spm` and `flores101`).
    Flores101,
    /// FLORES-200's (NLLB's) model.
    Flores200,
}

impl Flores {
    pub fn name(self) -> &'static str {
        match self {
            Flores::Flores101 => "flores101",
            Flores::Flores200 => "flores200",
        }
    }

    /// Where sacreBLEU downloads the model from.
    pub fn url(self) -> &'static str {
        match self {
            Flores::Flores101 => {
                "https://dl.fbaipublicfiles.com/fairseq/models/flores/sacrebleu_tokenizer_spm.model"
            }
            Flores::Flores200 => "https://tinyurl.com/flores200sacrebleuspm",
        }
    }

    /// sacreBLEU's names for it: `spm` is the old name of `flores101`.
    pub fn from_name(name: &str) -> Option<Flores> {
        match name {
            "spm" | "flores101" => Some(Flores::Flores101),
            "flores200" => Some(Flores::Flores200),
            _ => None,
        }
    }
}

/// A FLORES name with the user's copy of its SentencePiece model.
#[derive(Debug, Clone)]
pub struct SpmTokenizer {
    pub flores: Flores,
    pub model: Arc<SentencePiece>,
}

/// Two spBLEU tokenisers are the same when they claim the same FLORES model (the signature
/// cannot tell two files apart either).
impl PartialEq for SpmTokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.flores == other.flores
    }
}

impl Eq for SpmTokenizer {}

impl Tokenizer {
    /// Every tokeniser, in a fixed order.
    pub const ALL: [Tokenizer; 5] = [
        Tokenizer::None,
        Tokenizer::Mteval13a,
        Tokenizer::Intl,
        Tokenizer::Zh,
        Tokenizer::Char,
    ];

    /// The name sacreBLEU uses on its command line and in the `tok:` field of the signature.
    pub fn name(&self) -> &'static str {
        match self {
            Tokenizer::None => "none",
            Tokenizer::Mteval13a => "13a",
            Tokenizer::Intl => "intl",
            Tokenizer::Zh => "zh",
            Tokenizer::Char => "char",
            Tokenizer::Spm(s) => s.flores.name(),
        }
    }

    /// spBLEU with the given FLORES model (the user's copy of the file sacreBLEU downloads).
    pub fn spm(flores: Flores, model: SentencePiece) -> Tokenizer {
        Tokenizer::Spm(SpmTokenizer {
            flores,
            model: Arc::new(model),
        })
    }

    /// Tokenises one line; tokens are separated by single spaces (as sacreBLEU returns them).
    pub fn tokenize(&self, line: &str) -> String {
        match self {
            Tokenizer::None => line.to_owned(),
            Tokenizer::Mteval13a => tokenize_13a(line),
            Tokenizer::Intl => tokenize_intl(line),
            Tokenizer::Zh => tokenize_zh(line),
            Tokenizer::Char => tokenize_char(line),
            Tokenizer::Spm(s) => s.model.encode(line).join(" "),
        }
    }
}

impl fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tokenizer {
    type Err = MetricError;

    /// The tokenisers that need no file; spBLEU's names say which model file is missing.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(flores) = Flores::from_name(name) {
            return Err(MetricError::SpmModelNeeded {
                name: name.to_owned(),
                url: flores.url(),
            });
        }
        Tokenizer::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| MetricError::UnknownTokenizer(name.to_owned()))
    }
}

/// Compiles a pattern that is a constant of this file (a failure is a bug here, not bad input).
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in pattern {pattern:?}: {e}"))
}

/// sacreBLEU's `TokenizerRegexp`: the language-dependent part of 13a, shared with `zh`.
/// Each rule is a regex and its replacement, applied in order like Python's `re.sub`.
static REGEXP_RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
    [
        // Python: ([\{-\~\[-\` -\&\(-\+\:-\@\/]) — ASCII punctuation except ' - . ,
        (
            compile(r"([\x7B-\x7E\x5B-\x60\x20-\x26\x28-\x2B\x3A-\x40\x2F])"),
            " ${1} ",
        ),
        // period and comma unless preceded by a digit
        (compile(r"([^0-9])([\.,])"), "${1} ${2} "),
        // period and comma unless followed by a digit
        (compile(r"([\.,])([^0-9])"), " ${1} ${2}"),
        // dash when preceded by a digit
        (compile(r"([0-9])(-)"), "${1} ${2} "),
    ]
});

/// sacreBLEU's `TokenizerRegexp.__call__`.
fn regexp_post_tokenize(line: &str) -> String {
    let mut line = line.to_owned();
    for (re, replacement) in REGEXP_RULES.iter() {
        line = re.replace_all(&line, *replacement).into_owned();
    }
    pystr::squeeze_spaces(&line)
}

/// sacreBLEU's `Tokenizer13a`: mteval-v13a's language-independent clean-up, then the rules.
fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        // The order matters ("&amp;quot;" becomes "&quot;", not '"'), as in sacreBLEU.
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    regexp_post_tokenize(&format!(" {line} "))
}

/// sacreBLEU's `TokenizerV14International` rules (Python's `regex` module with \p{..}).
static INTL_RULES: LazyLock<[(Regex, &str); 3]> = LazyLock::new(|| {
    [
        // punctuation preceded by a non-digit
        (compile(r"(\P{N})(\p{P})"), "${1} ${2} "),
        // punctuation followed by a non-digit
        (compile(r"(\p{P})(\P{N})"), " ${1} ${2}"),
        // symbols
        (compile(r"(\p{S})"), " ${1} "),
    ]
});

/// sacreBLEU's `TokenizerV14International`. Like mteval-v14 a sentence-final "2019." keeps
/// its period (there is no padding space), a known quirk sacreBLEU keeps for compatibility.
fn tokenize_intl(line: &str) -> String {
    let mut line = line.to_owned();
    for (re, replacement) in INTL_RULES.iter() {
        line = re.replace_all(&line, *replacement).into_owned();
    }
    pystr::squeeze_spaces(&line)
}

/// The code-point ranges sacreBLEU's `zh` tokeniser treats as Chinese, inclusive.
///
/// sacreBLEU writes two of its ranges as `u'\u20000'`–`u'\u2a6d6'` and `u'\u2f800'`–
/// `u'\u2fa1d'`, meaning CJK Extension B and the Compatibility Supplement; but `\u` takes
/// exactly four hex digits, so those are two-character strings ("\u2000" + "0"), and Python's
/// string comparison turns them into U+2001..=U+2A6D and U+2F81..=U+2FA1 (general
/// punctuation such as “ ” — …, currency, arrows, maths, ...). Scores only match sacreBLEU
/// with the ranges as they really behave, so they are kept so here.
const ZH_RANGES: [(u32, u32); 22] = [
    (0x3400, 0x4db5),
    (0x4e00, 0x9fa5),
    (0x9fa6, 0x9fbb),
    (0xf900, 0xfa2d),
    (0xfa30, 0xfa6a),
    (0xfa70, 0xfad9),
    (0x2001, 0x2a6d), // written u'\u20000'..u'\u2a6d6' in sacreBLEU, see above
    (0x2f81, 0x2fa1), // written u'\u2f800'..u'\u2fa1d' in sacreBLEU, see above
    (0xff00, 0xffef),
    (0x2e80, 0x2eff),
    (0x3000, 0x303f),
    (0x31c0, 0x31ef),
    (0x2f00, 0x2fdf),
    (0x2ff0, 0x2fff),
    (0x3100, 0x312f),
    (0x31a0, 0x31bf),
    (0xfe10, 0xfe1f),
    (0xfe30, 0xfe4f),
    (0x2600, 0x26ff),
    (0x2700, 0x27bf),
    (0x3200, 0x32ff),
    (0x3300, 0x33ff),
];

/// sacreBLEU's `TokenizerZh._is_chinese_char`.
fn is_zh_char(c: char) -> bool {
    let c = u32::from(c);
    ZH_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// sacreBLEU's `TokenizerZh`: spaces around each Chinese character, then the 13a rules
/// (without 13a's entity clean-up and padding).
fn tokenize_zh(line: &str) -> String {
    let line = pystr::strip(line);
    let mut spaced = String::with_capacity(line.len() * 2);
    for c in line.chars() {
        if is_zh_char(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    regexp_post_tokenize(&spaced)
}

/// sacreBLEU's `TokenizerChar`: `" ".join(line)` (whitespace characters included; they
/// vanish when the n-grams are counted).
fn tokenize_char(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    for (i, c) in line.chars().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Tokenizer::ALL {
            assert_eq!(t.name().parse::<Tokenizer>().ok(), Some(t));
        }
        let err = "flores200".parse::<Tokenizer>().unwrap_err().to_string();
        assert!(
            err.contains("SentencePiece model") && err.contains("tinyurl.com"),
            "{err}"
        );
    }

    #[test]
    fn mteval_13a_keeps_numbers_and_splits_punctuation() {
        assert_eq!(
            Tokenizer::Mteval13a.tokenize("It costs $1,000.50 (approx.), isn't it?"),
            "It costs $ 1,000.50 ( approx . ) , isn't it ?"
        );
        assert_eq!(
            Tokenizer::Mteval13a.tokenize("A &amp; B &lt;x&gt; 2019-2020."),
            "A & B < x > 2019 - 2020 ."
        );
    }

    #[test]
    fn intl_splits_unicode_punctuation_and_symbols() {
        assert_eq!(
            Tokenizer::Intl.tokenize("¿Qué tal? «Bien», dijo… 3.5€"),
            "¿ Qué tal ? « Bien » , dijo … 3.5 €"
        );
        // mteval-v14's quirk: a final period after a digit stays attached.
        assert_eq!(Tokenizer::Intl.tokenize("in 2019."), "in 2019.");
    }

    #[test]
    fn zh_splits_characters_and_general_punctuation() {
        assert_eq!(Tokenizer::Zh.tokenize("我爱北京。ok"), "我 爱 北 京 。 ok");
        // U+201C/U+201D fall in the mis-written range U+2001..=U+2A6D.
        assert_eq!(Tokenizer::Zh.tokenize("“hi”"), "“ hi ”");
        assert!(!is_zh_char('\u{2000}'));
        assert!(!is_zh_char('\u{20000}'));
    }

    #[test]
    fn char_joins_every_character() {
        assert_eq!(Tokenizer::Char.tokenize("ab c"), "a b   c");
        assert_eq!(Tokenizer::None.tokenize(" a  b "), " a  b ");
    }
}
