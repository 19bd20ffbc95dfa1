//! Errors, each naming the input that caused it.

use std::path::PathBuf;

/// Bad arguments to BLEU or chrF.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricError {
    #[error("unknown BLEU tokenizer {0:?} (known: none, 13a, intl, zh, char)")]
    UnknownTokenizer(String),
    #[error("unknown MLQA language {0:?} (known: en, es, hi, vi, de, ar, zh)")]
    UnknownMlqaLanguage(String),
    #[error("no hypotheses: a corpus score needs at least one segment")]
    NoHypotheses,
    #[error("{hypotheses} hypotheses but references for {references} segments")]
    SegmentCount {
        hypotheses: usize,
        references: usize,
    },
    #[error("segment {segment} has no reference")]
    NoReferences { segment: usize },
    #[error("reference stream {stream} has {got} segments but stream 0 has {expected}")]
    StreamLength {
        stream: usize,
        expected: usize,
        got: usize,
    },
    #[error("{what} must be at least 1, got {got}")]
    ZeroOrder { what: &'static str, got: usize },
}

/// A SQuAD-format file (XQuAD, MLQA) or predictions file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `json_path` is where in the document it went wrong, e.g. `data[2].paragraphs[0].qas[5].id`
    /// (`.` for the top level).
    #[error("{source_name}: at {json_path}: {message}")]
    Json {
        source_name: String,
        json_path: String,
        message: String,
    },
}

/// Bad arguments to the off-target rate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LangIdError {
    #[error(
        "expected language {0:?} is not an ISO 639-1 code the detector knows (see xlingo_eval::langid::SUPPORTED)"
    )]
    UnsupportedLanguage(String),
    #[error("no outputs: the off-target rate of an empty set is undefined")]
    NoOutputs,
}
