//! Tokenizers: build a [`tokenizers::Tokenizer`] from GGUF metadata (the way llama.cpp reads
//! `tokenizer.ggml.*`), or load a Hugging Face `tokenizer.json`; plus the facts generation
//! needs ([`TokenizerInfo`]: BOS/EOS/stop ids) and a streaming UTF-8 decoder ([`StreamDecoder`]).
//!
//! # GGUF tokenizer models
//!
//! * `tokenizer.ggml.model == "gpt2"`: byte-level BPE from `tokenizer.ggml.tokens` and
//!   `tokenizer.ggml.merges` ("a b" strings). The pre-tokenizer is chosen by
//!   `tokenizer.ggml.pre` and uses llama.cpp's regexes (`src/llama-vocab.cpp`), applied one
//!   after another as `Split(Isolated)` steps (a piece is split by every regex in turn, matches
//!   and the gaps between them both kept, as llama.cpp's `unicode_regex_split` does), then
//!   `ByteLevel(add_prefix_space=false, use_regex=false)`.
//! * `tokenizer.ggml.model == "llama"`: llama.cpp's SentencePiece ("SPM") tokenizer, a
//!   BPE-by-score over characters with byte fallback. Built as a BPE whose merges are derived
//!   from the vocabulary scores (every split of a token into two vocabulary pieces is a merge,
//!   ranked by the merged token's score, highest first), `byte_fallback=true`, normaliser
//!   `[Prepend("▁") if tokenizer.ggml.add_space_prefix (default true), Replace(" ", "▁")]`,
//!   decoder `[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]`.
//!
//! # Special tokens
//!
//! Token types (`tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined,
//! 5 unused, 6 byte): control and unknown tokens become *special* added tokens, user-defined
//! tokens become non-special added tokens; all are matched whole in the raw text before
//! normalisation. That is llama.cpp's `parse_special=true`. llama.cpp's `parse_special=false`
//! (control and unknown tokens are not matched, user-defined tokens still are) corresponds to
//! `Tokenizer::set_encode_special_tokens(true)`; see [`encode_ids`].
//!
//! # BOS / EOS
//!
//! A `TemplateProcessing` post-processor adds BOS and/or EOS when `add_special_tokens` is true
//! in `encode`, following llama.cpp's defaults when the GGUF keys are absent:
//! `tokenizer.ggml.add_bos_token` defaults to true for SPM ("llama") vocabularies and for the
//! BPE pre-tokenizers llama.cpp marks so (`llama3`/`llama-bpe` family, `tekken`, `chameleon`),
//! false for all other BPE vocabularies; `tokenizer.ggml.add_eos_token` defaults to false.
//! Default special ids when `tokenizer.ggml.bos_token_id`/`eos_token_id` are absent: SPM
//! BOS 1, EOS 2 (llama.cpp's defaults); BPE none (llama.cpp's legacy default of 11 is not
//! copied: it is a Falcon-specific accident).

use std::collections::{HashMap, HashSet};

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence as NormSequence};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{FormatError, Result};
use crate::gguf::{GgufHeader, MetaValue};

/// GGUF token types (`tokenizer.ggml.token_type`).
pub mod token_type {
    pub const NORMAL: i64 = 1;
    pub const UNKNOWN: i64 = 2;
    pub const CONTROL: i64 = 3;
    pub const USER_DEFINED: i64 = 4;
    pub const UNUSED: i64 = 5;
    pub const BYTE: i64 = 6;
}

fn tok_err(e: impl std::fmt::Display) -> FormatError {
    FormatError::Tokenizer(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer regexes (llama.cpp src/llama-vocab.cpp, llm_tokenizer_bpe constructor)
// ---------------------------------------------------------------------------------------------

const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const RE_QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
// Non-ASCII characters are written as escapes: an editor or tool that NFC-normalises the
// source would otherwise silently turn e.g. U+1F7D into U+03CE and break the ranges.
const RE_DEEPSEEK_LLM: &[&str] = &[
    "[\r\n]",
    "\\s?[A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+",
    "\\s?[!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}]+",
    "\\s+$",
    "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+",
    "\\p{N}+",
];
const RE_DEEPSEEK_CODER: &[&str] = &[
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+",
    "\\p{N}",
];
const RE_DEEPSEEK3: &[&str] = &[
    "\\p{N}{1,3}",
    "[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];
const RE_FALCON: &[&str] = &["[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"];
const RE_STARCODER: &[&str] = &["\\p{N}", RE_GPT2];
const RE_DEFAULT: &[&str] = &[
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    RE_GPT2,
    "\\p{N}+",
    "[0-9][0-9][0-9]",
];
const RE_BLOOM: &str = " ?[^(\\s|.,!?\u{2026}\u{3002}\u{ff0c}\u{3001}\u{964}\u{6d4}\u{60c})]+";
const RE_TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const RE_GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const RE_SEED_CODER: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";
const RE_BAILINGMOE: &str = r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";
const RE_MINICPM5: &[&str] = &[
    "\\p{N}{1,3}",
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];

/// How llama.cpp pre-tokenises one `tokenizer.ggml.pre` value.
#[derive(Debug, Clone, Copy)]
struct PreSpec {
    regexes: &'static [&'static str],
    ignore_merges: bool,
    /// llama.cpp's default for `add_bos` when `tokenizer.ggml.add_bos_token` is absent.
    add_bos: bool,
}

const fn spec(regexes: &'static [&'static str]) -> PreSpec {
    PreSpec {
        regexes,
        ignore_merges: false,
        add_bos: false,
    }
}

/// The pre-tokenizer for a `tokenizer.ggml.pre` value (None or "default" gives llama.cpp's
/// default). Unknown values are an error, as in llama.cpp.
fn pre_spec(pre: Option<&str>) -> Result<PreSpec> {
    let pre = pre.unwrap_or("default");
    let s = match pre {
        "default" => spec(RE_DEFAULT),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => PreSpec {
            regexes: &[RE_LLAMA3],
            ignore_merges: true,
            add_bos: true,
        },
        "dbrx" | "smaug-bpe" | "chatglm-bpe" => spec(&[RE_LLAMA3]),
        "glm4" | "glm5" => PreSpec {
            ignore_merges: true,
            ..spec(&[RE_LLAMA3])
        },
        "deepseek-llm" => spec(RE_DEEPSEEK_LLM),
        "deepseek-coder" => spec(RE_DEEPSEEK_CODER),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => spec(RE_DEEPSEEK3),
        "falcon" => spec(RE_FALCON),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => spec(RE_STARCODER),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe"
        | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" | "exaone4" => spec(&[RE_GPT2]),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "stablelm2" | "hunyuan" | "megrez"
        | "solar-open" | "grok-2" => spec(&[RE_QWEN2]),
        "qwen35" => spec(&[RE_QWEN35]),
        "poro-chat" | "bloom" | "gpt3-finnish" => spec(&[RE_BLOOM]),
        "viking" => spec(&[RE_BLOOM, "\\p{N}"]),
        "tekken" => PreSpec {
            regexes: &[RE_TEKKEN],
            ignore_merges: true,
            add_bos: true,
        },
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => spec(&[RE_GPT4O]),
        "seed-coder" => spec(&[RE_SEED_CODER]),
        "bailingmoe" | "bailingmoe2" | "llada-moe" => spec(&[RE_BAILINGMOE]),
        "minicpm5" => PreSpec {
            ignore_merges: true,
            ..spec(RE_MINICPM5)
        },
        other => {
            return Err(FormatError::Tokenizer(format!(
                "unsupported pre-tokenizer `tokenizer.ggml.pre = {other}`"
            )));
        }
    };
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Metadata helpers
// ---------------------------------------------------------------------------------------------

fn opt_bool(h: &GgufHeader, key: &str) -> Result<Option<bool>> {
    match h.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| FormatError::WrongKeyType {
                key: key.into(),
                expected: "a bool".into(),
            }),
    }
}

fn opt_id(h: &GgufHeader, key: &str, n_vocab: usize) -> Result<Option<u32>> {
    match h.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(id) if (id as usize) < n_vocab => Ok(Some(id as u32)),
            // llama.cpp ignores out-of-range ids with a warning; so do we.
            Some(_) => Ok(None),
            None => Err(FormatError::WrongKeyType {
                key: key.into(),
                expected: "an unsigned integer".into(),
            }),
        },
    }
}

fn token_types(h: &GgufHeader, n: usize) -> Result<Vec<i64>> {
    per_token_values(
        h,
        "tokenizer.ggml.token_type",
        n,
        token_type::NORMAL,
        "integers",
        |v| v.as_i64(),
    )
}

fn token_scores(h: &GgufHeader, n: usize) -> Result<Vec<f64>> {
    per_token_values(h, "tokenizer.ggml.scores", n, 0.0, "numbers", |v| {
        v.as_f64()
    })
}

/// One value per token from an optional metadata array (`default` for every token when absent).
fn per_token_values<T: Clone>(
    h: &GgufHeader,
    key: &str,
    n: usize,
    default: T,
    kind: &str,
    convert: impl Fn(&MetaValue) -> Option<T>,
) -> Result<Vec<T>> {
    if h.get(key).is_none() {
        return Ok(vec![default; n]);
    }
    let arr = h.get_array(key)?;
    if arr.len() < n {
        return Err(FormatError::Tokenizer(format!(
            "{key} has {} entries for {n} tokens",
            arr.len()
        )));
    }
    arr[..n]
        .iter()
        .map(|v| {
            convert(v).ok_or_else(|| FormatError::WrongKeyType {
                key: key.into(),
                expected: format!("an array of {kind}"),
            })
        })
        .collect()
}

/// Token texts as llama.cpp keeps them (an empty token becomes `[EMPTY_i]`).
fn token_texts(h: &GgufHeader) -> Result<Vec<String>> {
    Ok(h.get_str_array("tokenizer.ggml.tokens")?
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            if t.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                t.to_string()
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// TokenizerInfo
// ---------------------------------------------------------------------------------------------

/// Facts about a GGUF tokenizer that the CLI (`inspect`) and generation (stop tokens) need.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerInfo {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), …
    pub kind: String,
    /// Number of tokens in `tokenizer.ggml.tokens`.
    pub vocab_size: usize,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// Whether `encode(…, add_special_tokens=true)` prepends BOS (llama.cpp's default applied).
    pub add_bos: bool,
    pub add_eos: bool,
    /// `tokenizer.ggml.pre`.
    pub pre: Option<String>,
    /// SPM only: whether a space is prepended to the text (`tokenizer.ggml.add_space_prefix`).
    pub add_space_prefix: bool,
    /// Ids that end generation: EOS, EOT (`tokenizer.ggml.eot_token_id`, or found by text like
    /// llama.cpp: `<|eot_id|>`, `<|im_end|>`, `<|end|>`, `<end_of_turn>`, …) and EOM
    /// (`tokenizer.ggml.eom_token_id` or `<|eom_id|>`). Sorted, without duplicates.
    pub stop_ids: Vec<u32>,
}

/// Token texts llama.cpp treats as EOT when `tokenizer.ggml.eot_token_id` is absent.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];

impl TokenizerInfo {
    pub fn from_gguf(h: &GgufHeader) -> Result<Self> {
        let kind = h.get_str("tokenizer.ggml.model")?.to_string();
        let tokens = h.get_str_array("tokenizer.ggml.tokens")?;
        let n = tokens.len();
        let pre = match h.get("tokenizer.ggml.pre") {
            None => None,
            Some(_) => Some(h.get_str("tokenizer.ggml.pre")?.to_string()),
        };
        let is_spm = kind == "llama";
        let (default_bos, default_eos, default_add_bos) = if is_spm {
            (Some(1u32), Some(2u32), true)
        } else {
            let add_bos = if kind == "gpt2" {
                pre_spec(pre.as_deref()).map(|s| s.add_bos).unwrap_or(false)
            } else {
                false
            };
            (None, None, add_bos)
        };
        let in_range = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
        let bos_id = opt_id(h, "tokenizer.ggml.bos_token_id", n)?.or(in_range(default_bos));
        let eos_id = opt_id(h, "tokenizer.ggml.eos_token_id", n)?.or(in_range(default_eos));
        let add_bos = opt_bool(h, "tokenizer.ggml.add_bos_token")?.unwrap_or(default_add_bos);
        let add_eos = opt_bool(h, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        let add_space_prefix =
            is_spm && opt_bool(h, "tokenizer.ggml.add_space_prefix")?.unwrap_or(true);

        let find = |texts: &[&str]| {
            // llama.cpp iterates a map, so which of several candidates wins is unspecified;
            // prefer the order of `texts`.
            texts
                .iter()
                .find_map(|t| tokens.iter().position(|x| x == t).map(|i| i as u32))
        };
        let eot_id = opt_id(h, "tokenizer.ggml.eot_token_id", n)?.or_else(|| find(EOT_TEXTS));
        let eom_id = opt_id(h, "tokenizer.ggml.eom_token_id", n)?.or_else(|| find(&["<|eom_id|>"]));
        let mut stop_ids: Vec<u32> = [eos_id, eot_id, eom_id].into_iter().flatten().collect();
        stop_ids.sort_unstable();
        stop_ids.dedup();

        Ok(TokenizerInfo {
            kind,
            vocab_size: n,
            bos_id,
            eos_id,
            add_bos,
            add_eos,
            pre,
            add_space_prefix,
            stop_ids,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Building the tokenizer
// ---------------------------------------------------------------------------------------------

/// Load a Hugging Face `tokenizer.json`.
pub fn tokenizer_from_json_bytes(bytes: &[u8]) -> Result<Tokenizer> {
    Tokenizer::from_bytes(bytes).map_err(|e| FormatError::Tokenizer(format!("tokenizer.json: {e}")))
}

/// Build a tokenizer from GGUF metadata (`tokenizer.ggml.*`). See the module documentation.
pub fn tokenizer_from_gguf(h: &GgufHeader) -> Result<Tokenizer> {
    let info = TokenizerInfo::from_gguf(h)?;
    let texts = token_texts(h)?;
    let types = token_types(h, texts.len())?;
    let mut tokenizer = match info.kind.as_str() {
        "gpt2" => build_bpe(h, &info, &texts)?,
        "llama" => build_spm(h, &info, &texts, &types)?,
        other => {
            return Err(FormatError::Tokenizer(format!(
                "unsupported tokenizer model `tokenizer.ggml.model = {other}` \
                 (supported: gpt2, llama)"
            )));
        }
    };
    add_special_tokens(&mut tokenizer, &texts, &types)?;
    set_post_processor(&mut tokenizer, &info, &texts)?;
    Ok(tokenizer)
}

fn vocab_map(texts: &[String]) -> Vocab {
    let mut vocab = Vocab::default();
    for (i, t) in texts.iter().enumerate() {
        // Duplicates: the last one wins, as in llama.cpp's `token_to_id[word] = i`.
        vocab.insert(t.clone(), i as u32);
    }
    vocab
}

fn build_bpe(h: &GgufHeader, info: &TokenizerInfo, texts: &[String]) -> Result<Tokenizer> {
    let spec = pre_spec(info.pre.as_deref())?;
    let vocab = vocab_map(texts);
    let merges: Vec<(String, String)> = h
        .get_str_array("tokenizer.ggml.merges")?
        .into_iter()
        .filter_map(|m| {
            // llama.cpp: split at the first space after byte 0 (a space is never inside a
            // multi-byte character, so byte positions are safe).
            let pos = m.as_bytes().iter().skip(1).position(|&b| b == b' ')? + 1;
            Some((m[..pos].to_string(), m[pos + 1..].to_string()))
        })
        .filter(|(a, b)| vocab.contains_key(a) && vocab.contains_key(b))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(tok_err)?;
    let mut tokenizer = Tokenizer::new(bpe);

    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for re in spec.regexes {
        let split = Split::new(
            SplitPattern::Regex((*re).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| FormatError::Tokenizer(format!("pre-tokenizer regex {re:?}: {e}")))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    tokenizer.with_pre_tokenizer(Some(PreSequence::new(steps)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, false, false)));
    Ok(tokenizer)
}

/// SentencePiece merges from scores: every split of a vocabulary token into two vocabulary
/// pieces is a merge; merges are ranked by the merged token's score (highest first), ties by
/// the merged token's id, then by the left piece's id.
fn spm_merges(texts: &[String], scores: &[f64], vocab: &Vocab) -> Vec<(String, String)> {
    let mut merges: Vec<(f64, u32, u32, usize)> = Vec::new();
    for (id, t) in texts.iter().enumerate() {
        if vocab.get(t) != Some(&(id as u32)) {
            continue; // a duplicate text; the other id owns it
        }
        for (pos, _) in t.char_indices().skip(1) {
            let (l, r) = t.split_at(pos);
            if let (Some(&li), Some(_)) = (vocab.get(l), vocab.get(r)) {
                merges.push((scores[id], id as u32, li, pos));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    merges
        .into_iter()
        .map(|(_, id, _, pos)| {
            let t = &texts[id as usize];
            (t[..pos].to_string(), t[pos..].to_string())
        })
        .collect()
}

fn build_spm(
    h: &GgufHeader,
    info: &TokenizerInfo,
    texts: &[String],
    types: &[i64],
) -> Result<Tokenizer> {
    let scores = token_scores(h, texts.len())?;
    let vocab = vocab_map(texts);
    let merges = spm_merges(texts, &scores, &vocab);
    let unk = opt_id(h, "tokenizer.ggml.unknown_token_id", texts.len())?
        .or_else(|| {
            types
                .iter()
                .position(|&t| t == token_type::UNKNOWN)
                .map(|i| i as u32)
        })
        .or(Some(0).filter(|_| !texts.is_empty()));
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(texts[unk as usize].clone());
    }
    let bpe = builder.build().map_err(tok_err)?;
    let mut tokenizer = Tokenizer::new(bpe);

    let mut norm: Vec<NormalizerWrapper> = Vec::new();
    if info.add_space_prefix {
        norm.push(Prepend::new("\u{2581}".into()).into());
    }
    norm.push(Replace::new(" ", "\u{2581}").map_err(tok_err)?.into());
    tokenizer
        .with_normalizer(Some(NormSequence::new(norm)))
        .map_err(tok_err)?;

    let mut dec: Vec<DecoderWrapper> = vec![
        DecoderWrapper::Replace(Replace::new("\u{2581}", " ").map_err(tok_err)?),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if info.add_space_prefix {
        dec.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(dec)));
    Ok(tokenizer)
}

/// Control and unknown tokens become special added tokens, user-defined tokens non-special
/// added tokens; all are matched on the raw text (`normalized=false`).
fn add_special_tokens(tokenizer: &mut Tokenizer, texts: &[String], types: &[i64]) -> Result<()> {
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (t, &ty) in texts.iter().zip(types) {
        match ty {
            token_type::CONTROL | token_type::UNKNOWN => {
                special.push(AddedToken::from(t.clone(), true).normalized(false))
            }
            token_type::USER_DEFINED => {
                user.push(AddedToken::from(t.clone(), false).normalized(false))
            }
            _ => {}
        }
    }
    if !special.is_empty() {
        tokenizer.add_special_tokens(special).map_err(tok_err)?;
    }
    if !user.is_empty() {
        tokenizer.add_tokens(user).map_err(tok_err)?;
    }
    Ok(())
}

fn set_post_processor(
    tokenizer: &mut Tokenizer,
    info: &TokenizerInfo,
    texts: &[String],
) -> Result<()> {
    let bos = info.bos_id.filter(|_| info.add_bos);
    let eos = info.eos_id.filter(|_| info.add_eos);
    if bos.is_none() && eos.is_none() {
        return Ok(());
    }
    let mut single = Vec::new();
    let mut pair = Vec::new();
    let mut specials: Vec<(String, u32)> = Vec::new();
    if let Some(b) = bos {
        single.push(texts[b as usize].clone());
        specials.push((texts[b as usize].clone(), b));
    }
    single.push("$A".to_string());
    if let Some(e) = eos {
        single.push(texts[e as usize].clone());
        if Some(e) != bos {
            specials.push((texts[e as usize].clone(), e));
        }
    }
    for piece in &single {
        pair.push(piece.clone());
    }
    for piece in &single {
        pair.push(if piece == "$A" {
            "$B:1".to_string()
        } else {
            format!("{piece}:1")
        });
    }
    let tp = TemplateProcessing::builder()
        .try_single(single.join(" "))
        .map_err(tok_err)?
        .try_pair(pair.join(" "))
        .map_err(tok_err)?
        .special_tokens(specials)
        .build()
        .map_err(tok_err)?;
    tokenizer.with_post_processor(Some(tp));
    Ok(())
}

/// Encode like llama.cpp's `llama_tokenize(text, add_special, parse_special)`:
/// `add_special` adds BOS/EOS as configured; `parse_special=false` stops control and unknown
/// tokens from being matched in the text (user-defined tokens still are).
pub fn encode_ids(
    tokenizer: &mut Tokenizer,
    text: &str,
    add_special: bool,
    parse_special: bool,
) -> Result<Vec<u32>> {
    let before = tokenizer.get_encode_special_tokens();
    tokenizer.set_encode_special_tokens(!parse_special);
    let res = tokenizer.encode_fast(text, add_special);
    tokenizer.set_encode_special_tokens(before);
    Ok(res.map_err(tok_err)?.get_ids().to_vec())
}

// ---------------------------------------------------------------------------------------------
// Streaming decoding
// ---------------------------------------------------------------------------------------------

/// How token strings map to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceKind {
    /// GPT-2 byte-level: every char stands for one byte.
    ByteLevel,
    /// SentencePiece: "▁" is a space, `<0xXX>` is a raw byte.
    SentencePiece,
    /// Anything else: decode each token on its own with the tokenizer's decoder.
    Plain,
}

fn gpt2_char_to_byte() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        let c = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + n).expect("valid char");
            n += 1;
            c
        };
        map.insert(c, b);
    }
    map
}

fn piece_kind(tokenizer: &Tokenizer) -> PieceKind {
    fn kind_of(d: &DecoderWrapper) -> Option<PieceKind> {
        match d {
            DecoderWrapper::ByteLevel(_) => Some(PieceKind::ByteLevel),
            DecoderWrapper::ByteFallback(_) | DecoderWrapper::Metaspace(_) => {
                Some(PieceKind::SentencePiece)
            }
            _ => None,
        }
    }
    match tokenizer.get_decoder() {
        Some(DecoderWrapper::Sequence(seq)) => seq
            .get_decoders()
            .iter()
            .find_map(kind_of)
            .unwrap_or(PieceKind::Plain),
        Some(d) => kind_of(d).unwrap_or(PieceKind::Plain),
        None => PieceKind::Plain,
    }
}

fn sp_byte(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Turns token ids, one at a time, into text, holding back bytes of a UTF-8 character that
/// is split across tokens until it is complete. Generation streams its tokens through this.
///
/// Each token's bytes are computed from its vocabulary string: GPT-2 byte-level tokens map
/// every char to one byte, SentencePiece tokens map "▁" to a space and `<0xXX>` to that byte,
/// added tokens give their text (special ones are dropped when `skip_special`). Invalid UTF-8
/// becomes U+FFFD, as in a lossy decode.
pub struct StreamDecoder {
    kind: PieceKind,
    /// Per id: its bytes (None: unknown id).
    pieces: Vec<Option<Vec<u8>>>,
    special: HashSet<u32>,
    skip_special: bool,
    strip_leading_space: bool,
    at_start: bool,
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// A decoder for `tokenizer`'s ids. `skip_special` drops special added tokens (BOS, EOS,
    /// `<|im_end|>`, …) from the output.
    pub fn new(tokenizer: &Tokenizer, skip_special: bool) -> Self {
        let kind = piece_kind(tokenizer);
        let n = tokenizer.get_vocab_size(true);
        let added = tokenizer.get_added_tokens_decoder();
        let special: HashSet<u32> = added
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        let gpt2 = (kind == PieceKind::ByteLevel).then(gpt2_char_to_byte);
        let mut pieces = Vec::with_capacity(n);
        for id in 0..n as u32 {
            if let Some(t) = added.get(&id) {
                pieces.push(Some(t.content.as_bytes().to_vec()));
                continue;
            }
            let Some(tok) = tokenizer.id_to_token(id) else {
                pieces.push(None);
                continue;
            };
            let bytes = match kind {
                PieceKind::ByteLevel => {
                    let map = gpt2.as_ref().expect("map built for byte-level");
                    tok.chars()
                        .map(|c| map.get(&c).copied())
                        .collect::<Option<Vec<u8>>>()
                        .unwrap_or_else(|| tok.as_bytes().to_vec())
                }
                PieceKind::SentencePiece => match sp_byte(&tok) {
                    Some(b) => vec![b],
                    None => tok.replace('▁', " ").into_bytes(),
                },
                PieceKind::Plain => tokenizer
                    .decode(&[id], false)
                    .unwrap_or_default()
                    .into_bytes(),
            };
            pieces.push(Some(bytes));
        }
        StreamDecoder {
            kind,
            pieces,
            special,
            skip_special,
            strip_leading_space: false,
            at_start: true,
            pending: Vec::new(),
        }
    }

    /// Drop one leading space from the first text produced (what a SentencePiece decoder's
    /// `Strip` does when decoding a whole sequence from its start). Off by default: generated
    /// continuations keep their leading space.
    pub fn with_strip_leading_space(mut self, strip: bool) -> Self {
        self.strip_leading_space = strip;
        self
    }

    /// Whether tokens are GPT-2 byte-level strings.
    pub fn is_byte_level(&self) -> bool {
        self.kind == PieceKind::ByteLevel
    }

    /// The raw bytes of one token (None for an id outside the vocabulary).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.pieces.get(id as usize)?.as_deref()
    }

    /// Feed one token; returns the text completed by it (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String> {
        if self.skip_special && self.special.contains(&id) {
            return Ok(String::new());
        }
        let bytes = self
            .pieces
            .get(id as usize)
            .and_then(|p| p.as_deref())
            .ok_or_else(|| FormatError::Tokenizer(format!("token id {id} is out of range")))?;
        let mut bytes = bytes;
        if self.at_start && !bytes.is_empty() {
            self.at_start = false;
            if self.strip_leading_space && bytes[0] == b' ' {
                bytes = &bytes[1..];
            }
        }
        self.pending.extend_from_slice(bytes);
        Ok(self.take_complete())
    }

    /// Feed several tokens; returns the text completed by them.
    pub fn push_all(&mut self, ids: &[u32]) -> Result<String> {
        let mut out = String::new();
        for &id in ids {
            out.push_str(&self.push(id)?);
        }
        Ok(out)
    }

    /// Bytes held back, waiting for the rest of a UTF-8 character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// End of stream: whatever is held back, lossily decoded.
    pub fn flush(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }

    /// Forget held-back bytes and start a new stream.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.at_start = true;
    }

    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(
                        std::str::from_utf8(&self.pending[start..start + valid])
                            .expect("valid prefix"),
                    );
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            start += valid + bad;
                        }
                        None => {
                            // Incomplete character at the end: hold it back.
                            start += valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_byte_map_is_a_bijection() {
        let m = gpt2_char_to_byte();
        assert_eq!(m.len(), 256);
        let bytes: HashSet<u8> = m.values().copied().collect();
        assert_eq!(bytes.len(), 256);
        assert_eq!(m[&'Ġ'], b' ');
        assert_eq!(m[&'Ċ'], b'\n');
        assert_eq!(m[&'a'], b'a');
    }

    #[test]
    fn sp_byte_tokens() {
        assert_eq!(sp_byte("<0x0A>"), Some(b'\n'));
        assert_eq!(sp_byte("<0xE2>"), Some(0xE2));
        assert_eq!(sp_byte("<0x0A"), None);
        assert_eq!(sp_byte("<0x0AB>"), None);
    }

    #[test]
    fn all_pre_tokenizer_regexes_compile() {
        for pre in [
            "default",
            "llama-bpe",
            "dbrx",
            "glm4",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "starcoder",
            "gpt-2",
            "qwen2",
            "qwen35",
            "bloom",
            "viking",
            "tekken",
            "gpt-4o",
            "seed-coder",
            "bailingmoe",
            "minicpm5",
        ] {
            let spec = pre_spec(Some(pre)).unwrap();
            for re in spec.regexes {
                Split::new(
                    SplitPattern::Regex(re.to_string()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap_or_else(|e| panic!("{pre}: {re}: {e}"));
            }
        }
        assert!(pre_spec(Some("no-such-pre")).is_err());
    }
}
