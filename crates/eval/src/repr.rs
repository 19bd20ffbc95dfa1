//! Per-layer cross-lingual analysis of the representations of parallel sentences (METHODS.md,
//! a: "Representation analysis"; x-LLaMA's finding is that alignment peaks in the middle
//! layers).
//!
//! Input: for every language, one d-vector per sentence per layer (the caller mean-pools the
//! hidden states over the real tokens); sentence i of every language translates sentence i.
//! For every layer and every pair of languages (a, b), with `cos` the cosine similarity:
//!
//! - `cosine`: mean over i of cos(a_i, b_i) on the raw vectors, as the x-LLaMA paper reports it.
//!   Hidden states share a large common direction, so this is high even for unrelated
//!   sentences;
//! - `cosine_centered`: the same after subtracting each language's mean vector at that layer
//!   (removes the common direction and each language's own offset);
//! - `cosine_unrelated`: mean of the centred cos(a_i, b_j) over i ≠ j, the chance level the
//!   centred cosine should be compared with;
//! - `retrieval`: parallel-sentence retrieval accuracy: the fraction of sentences a_i whose
//!   nearest neighbour among the b_j by centred cosine is b_i, averaged over a→b and b→a. A tie
//!   for the nearest neighbour that includes the right sentence counts 1/(number tied), the
//!   expected accuracy of breaking the tie at random. Chance is 1/n.
//!
//! and optionally a joint 2-D PCA of all languages' raw vectors ([`crate::pca`]).
//! Everything is computed in f64; no data are sampled, so the result is deterministic.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::ReprError;
use crate::pca::pca_2d_matrix;

/// One language's sentence representations: `layers[layer][sentence]` is a d-vector (layer 0
/// = the embeddings, then the output of each decoder layer). Sentence i of every language is a
/// translation of sentence i.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanguageStates {
    pub language: String,
    pub layers: Vec<Vec<Vec<f32>>>,
}

/// What [`analyze`] computes besides the cosines and retrieval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReprOptions {
    /// A joint 2-D PCA of all languages' sentences at every layer (default true).
    pub pca: bool,
}

impl Default for ReprOptions {
    fn default() -> Self {
        ReprOptions { pca: true }
    }
}

/// The analysis of all layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReprAnalysis {
    /// In input order; [`PairStats`] and [`Pca2::points`] follow it.
    pub languages: Vec<String>,
    pub n_layers: usize,
    pub n_sentences: usize,
    pub dim: usize,
    pub layers: Vec<LayerAnalysis>,
}

/// One layer: the pair statistics and their means over all pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerAnalysis {
    pub layer: usize,
    /// Mean over language pairs of [`PairStats::cosine`] (raw, as in the x-LLaMA paper).
    pub mean_cosine: f64,
    /// Mean over pairs of [`PairStats::cosine_centered`].
    pub mean_cosine_centered: f64,
    /// Mean over pairs of [`PairStats::cosine_unrelated`] (the chance level of the above).
    pub mean_cosine_unrelated: f64,
    /// Mean over pairs of [`PairStats::retrieval`].
    pub mean_retrieval: f64,
    /// Every unordered pair (a before b in the input order).
    pub pairs: Vec<PairStats>,
    pub pca: Option<Pca2>,
}

/// Statistics of one language pair at one layer (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairStats {
    pub a: String,
    pub b: String,
    /// Mean over i of cos(a_i, b_i), raw vectors.
    pub cosine: f64,
    /// Mean over i of cos(a_i, b_i) after removing each language's mean vector at this layer.
    pub cosine_centered: f64,
    /// Mean over i ≠ j of the centred cos(a_i, b_j): what non-parallel sentences score.
    pub cosine_unrelated: f64,
    /// Mean of `retrieval_a_to_b` and `retrieval_b_to_a`.
    pub retrieval: f64,
    /// Fraction of a_i whose nearest b_j (centred cosine) is b_i.
    pub retrieval_a_to_b: f64,
    /// Fraction of b_i whose nearest a_j (centred cosine) is a_i.
    pub retrieval_b_to_a: f64,
}

/// A joint PCA of all languages' raw sentence vectors at one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pca2 {
    /// Share of the total variance along each of the two components.
    pub explained_variance_ratio: [f64; 2],
    /// `points[language][sentence]`, languages in [`ReprAnalysis::languages`] order.
    pub points: Vec<Vec<[f64; 2]>>,
    /// See [`crate::pca::Pca2Fit::converged`].
    pub converged: bool,
}

/// Analyses every layer of `langs` (at least 2 languages, the same number of layers, the same
/// number of sentences (at least 2) at every layer, one dimension throughout, finite values,
/// no zero vectors before or after centring).
pub fn analyze(langs: &[LanguageStates], options: &ReprOptions) -> Result<ReprAnalysis, ReprError> {
    let (n_layers, n_sentences, dim) = validate(langs)?;
    if options.pca && dim < 2 {
        return Err(ReprError::TooFewDimensions {
            what: "the 2-D PCA (ReprOptions::pca)",
            needed: 2,
            dim,
        });
    }
    let layers = (0..n_layers)
        .map(|layer| analyze_layer(langs, layer, n_sentences, dim, options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReprAnalysis {
        languages: langs.iter().map(|l| l.language.clone()).collect(),
        n_layers,
        n_sentences,
        dim,
        layers,
    })
}

fn validate(langs: &[LanguageStates]) -> Result<(usize, usize, usize), ReprError> {
    if langs.len() < 2 {
        return Err(ReprError::TooFewLanguages {
            what: "a cross-lingual analysis",
            needed: 2,
            got: langs.len(),
        });
    }
    for (index, lang) in langs.iter().enumerate() {
        if lang.language.is_empty() {
            return Err(ReprError::EmptyLanguageName { index });
        }
        if langs[..index].iter().any(|l| l.language == lang.language) {
            return Err(ReprError::DuplicateLanguage(lang.language.clone()));
        }
    }
    let first = &langs[0];
    let n_layers = first.layers.len();
    for lang in langs {
        if lang.layers.is_empty() {
            return Err(ReprError::NoLayers {
                language: lang.language.clone(),
            });
        }
        if lang.layers.len() != n_layers {
            return Err(ReprError::LayerCount {
                language: lang.language.clone(),
                first: first.language.clone(),
                expected: n_layers,
                got: lang.layers.len(),
            });
        }
    }
    let n_sentences = first.layers[0].len();
    if n_sentences < 2 {
        return Err(ReprError::TooFewVectors {
            language: first.language.clone(),
            layer: Some(0),
            what: "sentences",
            needed: 2,
            got: n_sentences,
        });
    }
    let dim = first.layers[0][0].len();
    if dim == 0 {
        return Err(ReprError::TooFewDimensions {
            what: "a cosine similarity",
            needed: 1,
            dim,
        });
    }
    for layer in 0..n_layers {
        for lang in langs {
            let sentences = &lang.layers[layer];
            if sentences.len() != n_sentences {
                return Err(ReprError::SentenceCount {
                    language: lang.language.clone(),
                    layer,
                    first: first.language.clone(),
                    expected: n_sentences,
                    got: sentences.len(),
                });
            }
            for (index, vector) in sentences.iter().enumerate() {
                if vector.len() != dim {
                    return Err(ReprError::Dimension {
                        language: lang.language.clone(),
                        layer: Some(layer),
                        what: "sentence",
                        index,
                        expected: dim,
                        got: vector.len(),
                    });
                }
                if let Some((component, &value)) =
                    vector.iter().enumerate().find(|(_, v)| !v.is_finite())
                {
                    return Err(ReprError::NonFinite {
                        language: lang.language.clone(),
                        layer: Some(layer),
                        what: "sentence",
                        index,
                        component,
                        value,
                    });
                }
            }
        }
    }
    Ok((n_layers, n_sentences, dim))
}

/// One language at one layer: unit raw vectors and unit centred vectors, as `d × n` columns.
struct Prepared {
    raw: DMatrix<f64>,
    centered: DMatrix<f64>,
}

fn prepare(
    lang: &LanguageStates,
    layer: usize,
    n: usize,
    dim: usize,
) -> Result<Prepared, ReprError> {
    let sentences = &lang.layers[layer];
    let mut raw = DMatrix::from_fn(dim, n, |j, i| sentences[i][j] as f64);
    let mean = raw.column_mean();
    let mut centered = &raw - &mean * nalgebra::RowDVector::from_element(n, 1.0);
    for (matrix, is_centered) in [(&mut raw, false), (&mut centered, true)] {
        for (sentence, mut column) in matrix.column_iter_mut().enumerate() {
            let norm = column.norm();
            if norm == 0.0 || !norm.is_finite() {
                return Err(ReprError::ZeroVector {
                    language: lang.language.clone(),
                    layer,
                    sentence,
                    centered: is_centered,
                });
            }
            column /= norm;
        }
    }
    Ok(Prepared { raw, centered })
}

fn analyze_layer(
    langs: &[LanguageStates],
    layer: usize,
    n: usize,
    dim: usize,
    options: &ReprOptions,
) -> Result<LayerAnalysis, ReprError> {
    let prepared = langs
        .iter()
        .map(|lang| prepare(lang, layer, n, dim))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pairs = Vec::new();
    for a in 0..langs.len() {
        // Row-major copy of a's centred vectors so that the n × n similarities are one gemm.
        let a_rows = prepared[a].centered.transpose();
        for b in a + 1..langs.len() {
            let (pa, pb) = (&prepared[a], &prepared[b]);
            let cosine = (0..n)
                .map(|i| pa.raw.column(i).dot(&pb.raw.column(i)))
                .sum::<f64>()
                / n as f64;
            let similarity = &a_rows * &pb.centered; // [i, j] = cos(a_i, b_j), centred
            let trace = similarity.trace();
            let cosine_centered = trace / n as f64;
            let cosine_unrelated = (similarity.sum() - trace) / (n * (n - 1)) as f64;
            let retrieval_a_to_b = (0..n)
                .map(|i| retrieval_credit(similarity.row(i).iter().copied(), i))
                .sum::<f64>()
                / n as f64;
            let retrieval_b_to_a = (0..n)
                .map(|i| retrieval_credit(similarity.column(i).iter().copied(), i))
                .sum::<f64>()
                / n as f64;
            pairs.push(PairStats {
                a: langs[a].language.clone(),
                b: langs[b].language.clone(),
                cosine,
                cosine_centered,
                cosine_unrelated,
                retrieval: (retrieval_a_to_b + retrieval_b_to_a) / 2.0,
                retrieval_a_to_b,
                retrieval_b_to_a,
            });
        }
    }
    drop(prepared);
    let mean_of = |f: fn(&PairStats) -> f64| pairs.iter().map(f).sum::<f64>() / pairs.len() as f64;
    let pca = if options.pca {
        let m = langs.len() * n;
        let rows = DMatrix::from_fn(m, dim, |r, j| langs[r / n].layers[layer][r % n][j] as f64);
        let fit = pca_2d_matrix(rows)?;
        Some(Pca2 {
            explained_variance_ratio: fit.explained_variance_ratio,
            points: fit.points.chunks(n).map(<[[f64; 2]]>::to_vec).collect(),
            converged: fit.converged,
        })
    } else {
        None
    };
    Ok(LayerAnalysis {
        layer,
        mean_cosine: mean_of(|p| p.cosine),
        mean_cosine_centered: mean_of(|p| p.cosine_centered),
        mean_cosine_unrelated: mean_of(|p| p.cosine_unrelated),
        mean_retrieval: mean_of(|p| p.retrieval),
        pairs,
        pca,
    })
}

/// 1/(number of candidates tied for the highest similarity) if `right` is among them, else 0.
fn retrieval_credit(similarities: impl Iterator<Item = f64> + Clone, right: usize) -> f64 {
    let best = similarities.clone().fold(f64::NEG_INFINITY, f64::max);
    let mut tied = 0usize;
    let mut right_is_best = false;
    for (j, s) in similarities.enumerate() {
        if s == best {
            tied += 1;
            right_is_best |= j == right;
        }
    }
    if right_is_best {
        1.0 / tied as f64
    } else {
        0.0
    }
}
