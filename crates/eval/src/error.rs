//! Errors, each naming the input that caused it.

use std::path::PathBuf;

/// Bad arguments to BLEU or chrF.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricError {
    #[error(
        "unknown BLEU tokenizer {0:?} (known: none, 13a, intl, zh, char, and flores101, flores200 with their SentencePiece model)"
    )]
    UnknownTokenizer(String),
    #[error(
        "BLEU tokenizer {name:?} (spBLEU) needs its SentencePiece model file: download {url} and pass it as the model"
    )]
    SpmModelNeeded { name: String, url: &'static str },
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

/// Bad input to the representation analysis ([`crate::repr`]), the 2-D PCA ([`crate::pca`]) or
/// the language-subspace probe ([`crate::subspace`]), or a subspace file that cannot be read.
/// Each names the language, layer, sentence (or state) and component at fault.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ReprError {
    #[error("{got} language(s): {what} needs at least {needed}")]
    TooFewLanguages {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("language #{index} has an empty name")]
    EmptyLanguageName { index: usize },
    #[error("language {0:?} is listed twice")]
    DuplicateLanguage(String),
    #[error("language {language:?} has no layers")]
    NoLayers { language: String },
    #[error("language {language:?} has {got} layers but {first:?} has {expected}")]
    LayerCount {
        language: String,
        first: String,
        expected: usize,
        got: usize,
    },
    #[error(
        "language {language:?}, layer {layer}: {got} sentences but {first:?} has {expected} at layer 0 (sentence i of every language, at every layer, must be the translation of sentence i)"
    )]
    SentenceCount {
        language: String,
        layer: usize,
        first: String,
        expected: usize,
        got: usize,
    },
    #[error("language {language:?}{}: {got} {what}, at least {needed} needed", at_layer(.layer))]
    TooFewVectors {
        language: String,
        layer: Option<usize>,
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("language {language:?}{}, {what} {index}: dimension {got}, expected {expected}", at_layer(.layer))]
    Dimension {
        language: String,
        layer: Option<usize>,
        what: &'static str,
        index: usize,
        expected: usize,
        got: usize,
    },
    #[error("language {language:?}{}, {what} {index}, component {component}: {value} is not finite", at_layer(.layer))]
    NonFinite {
        language: String,
        layer: Option<usize>,
        what: &'static str,
        index: usize,
        component: usize,
        value: f32,
    },
    #[error(
        "language {language:?}, layer {layer}, sentence {sentence}: {} vector, its cosine with anything is undefined",
        if *.centered { "after removing the language's mean it is the zero" } else { "zero" }
    )]
    ZeroVector {
        language: String,
        layer: usize,
        sentence: usize,
        centered: bool,
    },
    #[error("dimension {dim}: {what} needs at least {needed}")]
    TooFewDimensions {
        what: &'static str,
        needed: usize,
        dim: usize,
    },
    #[error("PCA: {got} rows, at least 2 needed")]
    TooFewRows { got: usize },
    #[error("PCA: row {row}: dimension {got}, expected {expected} (that of row 0)")]
    RowDimension {
        row: usize,
        expected: usize,
        got: usize,
    },
    #[error("PCA: row {row}, component {component}: {value} is not finite")]
    RowNonFinite {
        row: usize,
        component: usize,
        value: f32,
    },
    #[error(
        "rank {rank} is out of range: with {languages} languages and hidden size {dim} it must be between 1 and {max} (the centred language means span at most languages - 1 dimensions, and the agnostic direction needs one more)"
    )]
    Rank {
        rank: usize,
        languages: usize,
        dim: usize,
        max: usize,
    },
    #[error("pivot language {pivot:?} is not among the probed languages {languages:?}")]
    UnknownPivot {
        pivot: String,
        languages: Vec<String>,
    },
    #[error(
        "the language means do not span {rank} dimensions: singular value {rank} of the centred means is {ratio:e} of the largest (are two languages' states the same?); lower the rank"
    )]
    DegenerateMeans { rank: usize, ratio: f64 },
    #[error(
        "no language-agnostic direction: the mean of the language means lies (almost) inside their language-specific subspace (|W'^T w - 1| = {residual:e})"
    )]
    NoAgnosticDirection { residual: f64 },
    #[error("{what} did not converge")]
    NoConvergence { what: &'static str },
    #[error("vector of length {got}, the subspaces are {expected}-dimensional")]
    VectorLength { expected: usize, got: usize },
    #[error("layer {layer}: {field}: {reason}")]
    Subspaces {
        layer: usize,
        field: String,
        reason: String,
    },
    #[error("layer {0} is listed twice")]
    DuplicateLayer(usize),
    #[error("subspace file: {0}")]
    Format(String),
}

impl ReprError {
    /// Names `layer` in an error from input given without one ([`crate::subspace::probe_layer`]
    /// sees one layer and does not know its index): `probe_layer(..).map_err(|e| e.at_layer(i))`.
    pub fn at_layer(mut self, at: usize) -> Self {
        match &mut self {
            ReprError::TooFewVectors { layer, .. }
            | ReprError::Dimension { layer, .. }
            | ReprError::NonFinite { layer, .. } => {
                layer.get_or_insert(at);
            }
            _ => {}
        }
        self
    }
}

fn at_layer(layer: &Option<usize>) -> String {
    layer.map(|l| format!(", layer {l}")).unwrap_or_default()
}
