//! Evaluation metrics for xlingo, pure Rust so that the CLI and the web app (wasm32) score
//! outputs with the same code:
//!
//! - translation: BLEU ([`bleu`]) and chrF / chrF++ ([`chrf`]), identical to sacreBLEU 2.5.1
//!   (tokenisers, smoothing, signatures), checked against scores recorded from sacreBLEU itself;
//!   spBLEU (`flores101` / `flores200`) with the user's FLORES SentencePiece model, encoded by
//!   our own SentencePiece reader ([`spm`]: BPE and unigram, byte fallback, the model's
//!   precompiled normalisation), checked piece for piece against the `sentencepiece` package
//!   and score for score against sacreBLEU on two small models trained for the test;
//! - question answering ([`qa`]): SQuAD v1.1 and MLQA exact match and F1, and x-LLM's
//!   inclusion accuracy, with a reader for SQuAD-format JSON (XQuAD, MLQA);
//! - off-target rate ([`langid`]): how often an output is not in the language asked for;
//! - scaling laws ([`scaling`]): translation quality against data size (four concave forms,
//!   chosen by AICc, delta-method bands) and the exact allocation of a data budget across
//!   languages that maximises the weighted predicted quality;
//! - representations ([`repr`]): per-layer cross-lingual similarity (raw and centred cosine,
//!   chance level) and parallel-sentence retrieval of the hidden states of parallel sentences,
//!   with a joint 2-D PCA ([`pca`]);
//! - language subspaces ([`subspace`]): the LSAR probe Lens uses (a language-agnostic direction,
//!   an r-dimensional language-specific subspace and each language's shift from the pivot),
//!   stored as safetensors bytes.
//!
//! The FLORES models themselves cannot be downloaded here, so spBLEU was checked on stand-ins of
//! the same kinds (scripts/reference/spm_fixture.py), not on the FLORES files.

pub mod bleu;
pub mod chrf;
mod corpus;
pub mod error;
mod jacobi;
pub mod langid;
pub mod pca;
mod pystr;
pub mod qa;
pub mod repr;
pub mod scaling;
pub mod signature;
pub mod spm;
pub mod squad;
pub mod subspace;
pub mod tokenize;

pub use bleu::{BleuConfig, BleuScore, Smoothing, corpus_bleu, sentence_bleu};
pub use chrf::{ChrfConfig, ChrfScore, corpus_chrf, sentence_chrf};
pub use corpus::transpose_streams;
pub use error::{LangIdError, MetricError, ReadError, ReprError};
pub use pca::{Pca2Fit, pca_2d};
pub use repr::{
    LanguageStates, LayerAnalysis, PairStats, Pca2, ReprAnalysis, ReprOptions, analyze,
};
pub use signature::{SACREBLEU_VERSION, Signature};
pub use subspace::{
    LayerSubspaces, ProbeOptions, from_safetensors, probe_layer, safetensors_metadata,
    to_safetensors,
};
pub use tokenize::{Flores, Tokenizer};
