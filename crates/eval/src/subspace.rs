//! The language-subspace probe Lens uses (METHODS.md, b; the LSAR method of Xie et al. 2022):
//! from the hidden states of parallel prompts at one layer, a language-agnostic direction and
//! an r-dimensional language-specific subspace, and each language's shift from the pivot
//! language inside the latter.
//!
//! With `μ_l` the mean of language l's states (d-vectors), `L` languages and rank `r`:
//!
//! ```text
//! W = [μ_1 … μ_L] (d × L)             w_c = W·1/L
//! U S Vᵀ = svd(W − w_c·1ᵀ) (thin)     W_s = U[:, :r]    Γ = V[:, :r]·diag(S[:r])
//! W' = w_c·1ᵀ + W_s·Γᵀ
//! w_c' = pinv(W')ᵀ·1,  then w_c' ← w_c' / ‖w_c'‖²           (language-agnostic direction)
//! U' = svd(W' − w_c'·1ᵀ) (thin)       W_s' = U'[:, :r]       (language-specific basis)
//! δ_l = mean_i P_s h_{l,i} − mean_i P_s h_{pivot,i},  P_s = W_s'·W_s'ᵀ
//! ```
//!
//! `W − w_c·1ᵀ` has rank at most L − 1, so r ≤ L − 1 (Lens: r = L − 1; r = 1 for one target
//! language and English), and r < d. Everything is f64 on the `d × L` matrices (thin SVDs, no
//! `d × d` matrix). The pseudo-inverse drops singular values ≤ [`PINV_RTOL`] × the largest
//! (when r < L − 1, `W'` has rank r + 1 < L and its smallest singular values are round-off).
//!
//! By construction every column of `W'` has the same component `w_c'` along the agnostic
//! direction, so the specific subspace is orthogonal to it. When r = L − 1, `W' = W` and the
//! specific subspace is the span of the differences of the language means.
//!
//! Signs: each basis vector of `W_s'` is flipped so that its largest-magnitude entry is
//! positive (the subspace, projections and shifts do not depend on it). The number of states
//! may differ between languages: only their means enter.
//!
//! [`to_safetensors`] / [`from_safetensors`] store the subspaces of several layers in
//! safetensors bytes (no file access, so it works in the browser too).

use std::collections::HashMap;

use nalgebra::{DMatrix, DVector};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::ReprError;
use crate::jacobi::{self, ThinSvd};
use crate::pca::fix_sign;

/// Relative cut-off of the pseudo-inverse: singular values of `W'` at or below this times the
/// largest count as zero. The states are f32 (relative precision 6e-8), so structure below it
/// is not in the data.
pub const PINV_RTOL: f64 = 1e-10;
/// Singular value r of the centred means at or below this times the largest: the means do not
/// span r dimensions.
const RANK_RTOL: f64 = 1e-10;
/// `W'ᵀ w` (w = pinv(W')ᵀ·1) must equal 1 this closely for an agnostic direction to exist.
const AGNOSTIC_TOLERANCE: f64 = 1e-6;

/// Options of [`probe_layer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeOptions {
    /// Dimension r of the language-specific subspace; default L − 1.
    pub rank: Option<usize>,
    /// The central language the shifts are measured from (default "en").
    pub pivot: String,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            rank: None,
            pivot: "en".to_string(),
        }
    }
}

/// The subspaces of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSubspaces {
    /// Hidden size d.
    pub dim: usize,
    /// Dimension r of the specific subspace.
    pub rank: usize,
    /// In the order given to [`probe_layer`].
    pub languages: Vec<String>,
    pub pivot: String,
    /// Unit vector along `w_c'`, the language-agnostic direction.
    pub agnostic: Vec<f32>,
    /// `w_c'` as the method computes it: `pinv(W')ᵀ·1 / ‖pinv(W')ᵀ·1‖²`. Every column of `W'`
    /// has exactly this component along the agnostic direction.
    pub agnostic_raw: Vec<f32>,
    /// r orthonormal d-vectors spanning `W_s'`.
    pub specific: Vec<Vec<f32>>,
    /// `(language, δ_l)` in `languages` order: `δ_l = mean_i P_s h_{l,i} − mean_i P_s
    /// h_{pivot,i}`, a d-vector in the specific subspace; the pivot's is 0.
    pub shifts: Vec<(String, Vec<f32>)>,
    /// All min(d, L) singular values of the centred means `W − w_c·1ᵀ` (the first SVD),
    /// largest first: how many languages' directions matter. The last is ~0.
    pub singular_values: Vec<f64>,
}

/// Probes one layer. `states`: per language (name, its states there, each a d-vector; at least
/// one per language, any number). At least 2 languages, unique non-empty names, the pivot
/// among them, finite values.
pub fn probe_layer(
    states: &[(String, Vec<Vec<f32>>)],
    options: &ProbeOptions,
) -> Result<LayerSubspaces, ReprError> {
    let dim = validate(states)?;
    let languages: Vec<String> = states.iter().map(|(l, _)| l.clone()).collect();
    let n_langs = languages.len();
    let max_rank = (n_langs - 1).min(dim - 1);
    let rank = options.rank.unwrap_or(n_langs - 1);
    if rank == 0 || rank > max_rank {
        return Err(ReprError::Rank {
            rank,
            languages: n_langs,
            dim,
            max: max_rank,
        });
    }
    let pivot = languages
        .iter()
        .position(|l| *l == options.pivot)
        .ok_or_else(|| ReprError::UnknownPivot {
            pivot: options.pivot.clone(),
            languages: languages.clone(),
        })?;

    // W = [μ_1 … μ_L]
    let mut w = DMatrix::<f64>::zeros(dim, n_langs);
    for (l, (_, vectors)) in states.iter().enumerate() {
        let mut column = w.column_mut(l);
        for v in vectors {
            for (acc, &x) in column.iter_mut().zip(v) {
                *acc += x as f64;
            }
        }
        column /= vectors.len() as f64;
    }
    let ones_t = DMatrix::<f64>::from_element(1, n_langs, 1.0);
    let w_c = w.column_mean();

    // First SVD: the rank-r language structure of the centred means.
    let first = thin_svd(&w - &w_c * &ones_t, "the SVD of the centred language means")?;
    let singular_values = first.s.clone();
    let ratio = if first.s[0] > 0.0 {
        first.s[rank - 1] / first.s[0]
    } else {
        0.0
    };
    if ratio <= RANK_RTOL {
        return Err(ReprError::DegenerateMeans { rank, ratio });
    }
    let w_s = first.u.columns(0, rank);
    let gamma_t = DMatrix::from_fn(rank, n_langs, |k, l| first.s[k] * first.v[(l, k)]);
    let w_prime = &w_c * &ones_t + w_s * gamma_t;

    // w_c' = pinv(W')ᵀ·1 / ‖·‖²; pinv(W')ᵀ = U S⁺ Vᵀ.
    let second = thin_svd(w_prime.clone(), "the SVD of W' (pseudo-inverse)")?;
    let cutoff = PINV_RTOL * second.s[0];
    let mut p = DVector::<f64>::zeros(dim);
    for k in 0..second.s.len() {
        let sigma = second.s[k];
        if sigma > cutoff {
            let v_dot_ones: f64 = second.v.column(k).sum();
            p.axpy(v_dot_ones / sigma, &second.u.column(k), 1.0);
        }
    }
    let residual = w_prime
        .tr_mul(&p)
        .iter()
        .map(|q| (q - 1.0).abs())
        .fold(0.0, f64::max);
    let p_norm2 = p.norm_squared();
    let usable = residual <= AGNOSTIC_TOLERANCE && p_norm2 > 0.0 && p_norm2.is_finite();
    if !usable {
        return Err(ReprError::NoAgnosticDirection { residual });
    }
    let agnostic_raw = &p / p_norm2;

    // Second SVD: the specific basis W_s'.
    let third = thin_svd(
        &w_prime - &agnostic_raw * &ones_t,
        "the SVD of W' minus the agnostic component",
    )?;
    let ratio = if third.s[0] > 0.0 {
        third.s[rank - 1] / third.s[0]
    } else {
        0.0
    };
    if ratio <= RANK_RTOL {
        return Err(ReprError::DegenerateMeans { rank, ratio });
    }
    let mut basis = third.u.columns(0, rank).into_owned();
    for mut column in basis.column_iter_mut() {
        let mut v = column.clone_owned();
        fix_sign(&mut v);
        column.copy_from(&v);
    }

    // δ_l = P_s μ_l − P_s μ_pivot (the mean of the projections is the projection of the mean).
    let projected = &basis * basis.tr_mul(&w); // d × L: P_s μ_l
    let shifts = languages
        .iter()
        .enumerate()
        .map(|(l, name)| {
            let delta: Vec<f32> = if l == pivot {
                vec![0.0; dim]
            } else {
                (0..dim)
                    .map(|j| (projected[(j, l)] - projected[(j, pivot)]) as f32)
                    .collect()
            };
            (name.clone(), delta)
        })
        .collect();

    let norm = agnostic_raw.norm();
    Ok(LayerSubspaces {
        dim,
        rank,
        languages,
        pivot: options.pivot.clone(),
        agnostic: agnostic_raw.iter().map(|&x| (x / norm) as f32).collect(),
        agnostic_raw: agnostic_raw.iter().map(|&x| x as f32).collect(),
        specific: basis
            .column_iter()
            .map(|c| c.iter().map(|&x| x as f32).collect())
            .collect(),
        shifts,
        singular_values,
    })
}

fn validate(states: &[(String, Vec<Vec<f32>>)]) -> Result<usize, ReprError> {
    if states.len() < 2 {
        return Err(ReprError::TooFewLanguages {
            what: "the language-subspace probe",
            needed: 2,
            got: states.len(),
        });
    }
    let mut dim = None;
    for (index, (language, vectors)) in states.iter().enumerate() {
        if language.is_empty() {
            return Err(ReprError::EmptyLanguageName { index });
        }
        if states[..index].iter().any(|(l, _)| l == language) {
            return Err(ReprError::DuplicateLanguage(language.clone()));
        }
        if vectors.is_empty() {
            return Err(ReprError::TooFewVectors {
                language: language.clone(),
                layer: None,
                what: "states",
                needed: 1,
                got: 0,
            });
        }
        let expected = *dim.get_or_insert(vectors[0].len());
        for (index, v) in vectors.iter().enumerate() {
            if v.len() != expected {
                return Err(ReprError::Dimension {
                    language: language.clone(),
                    layer: None,
                    what: "state",
                    index,
                    expected,
                    got: v.len(),
                });
            }
            if let Some((component, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(ReprError::NonFinite {
                    language: language.clone(),
                    layer: None,
                    what: "state",
                    index,
                    component,
                    value,
                });
            }
        }
    }
    let dim = dim.unwrap_or(0);
    if dim < 2 {
        return Err(ReprError::TooFewDimensions {
            what: "the language-subspace probe (a specific subspace and an agnostic direction)",
            needed: 2,
            dim,
        });
    }
    Ok(dim)
}

fn thin_svd(m: DMatrix<f64>, what: &'static str) -> Result<ThinSvd, ReprError> {
    jacobi::thin_svd(&m).ok_or(ReprError::NoConvergence { what })
}

impl LayerSubspaces {
    /// `P_s h = Σ_k (h·s_k) s_k`, the component of `h` in the language-specific subspace.
    pub fn project_specific(&self, h: &[f32]) -> Result<Vec<f32>, ReprError> {
        let (_, coordinates) = self.coordinates(h)?;
        let mut out = vec![0.0f64; self.dim];
        for (c, s) in coordinates.iter().zip(&self.specific) {
            for (o, &x) in out.iter_mut().zip(s) {
                *o += c * x as f64;
            }
        }
        Ok(out.into_iter().map(|x| x as f32).collect())
    }

    /// `(h·a) a`, a = [`LayerSubspaces::agnostic`]: the component of `h` along the
    /// language-agnostic direction.
    pub fn project_agnostic(&self, h: &[f32]) -> Result<Vec<f32>, ReprError> {
        let (c, _) = self.coordinates(h)?;
        Ok(self
            .agnostic
            .iter()
            .map(|&a| (c * a as f64) as f32)
            .collect())
    }

    /// `h·a` and `(h·s_1, …, h·s_r)`: coordinates for plots.
    pub fn coordinates(&self, h: &[f32]) -> Result<(f64, Vec<f64>), ReprError> {
        if h.len() != self.dim {
            return Err(ReprError::VectorLength {
                expected: self.dim,
                got: h.len(),
            });
        }
        let dot = |v: &[f32]| -> f64 { v.iter().zip(h).map(|(&a, &b)| a as f64 * b as f64).sum() };
        Ok((
            dot(&self.agnostic),
            self.specific.iter().map(|s| dot(s)).collect(),
        ))
    }

    /// δ of `language`, if it was probed.
    pub fn shift(&self, language: &str) -> Option<&[f32]> {
        self.shifts
            .iter()
            .find(|(l, _)| l == language)
            .map(|(_, d)| d.as_slice())
    }

    /// Checks that the fields agree with each other (lengths, languages, finiteness); `layer`
    /// only names the layer in the error.
    pub fn check(&self, layer: usize) -> Result<(), ReprError> {
        let bad = |field: &str, reason: String| ReprError::Subspaces {
            layer,
            field: field.to_string(),
            reason,
        };
        let finite_vector = |field: &str, v: &[f32]| -> Result<(), ReprError> {
            if v.len() != self.dim {
                return Err(bad(
                    field,
                    format!("length {}, dim is {}", v.len(), self.dim),
                ));
            }
            match v.iter().position(|x| !x.is_finite()) {
                Some(i) => Err(bad(field, format!("component {i} is {}", v[i]))),
                None => Ok(()),
            }
        };
        if self.dim == 0 {
            return Err(bad("dim", "is 0".into()));
        }
        if self.rank == 0 || self.rank != self.specific.len() {
            return Err(bad(
                "specific",
                format!("{} vectors but rank {}", self.specific.len(), self.rank),
            ));
        }
        finite_vector("agnostic", &self.agnostic)?;
        finite_vector("agnostic_raw", &self.agnostic_raw)?;
        for (k, s) in self.specific.iter().enumerate() {
            finite_vector(&format!("specific[{k}]"), s)?;
        }
        for (index, language) in self.languages.iter().enumerate() {
            if language.is_empty() {
                return Err(bad("languages", format!("language #{index} is empty")));
            }
            if self.languages[..index].contains(language) {
                return Err(bad("languages", format!("{language:?} is listed twice")));
            }
        }
        if !self.languages.contains(&self.pivot) {
            return Err(bad(
                "pivot",
                format!("{:?} is not among {:?}", self.pivot, self.languages),
            ));
        }
        let shift_languages: Vec<&String> = self.shifts.iter().map(|(l, _)| l).collect();
        if shift_languages != self.languages.iter().collect::<Vec<_>>() {
            return Err(bad(
                "shifts",
                format!(
                    "languages {shift_languages:?}, expected {:?}",
                    self.languages
                ),
            ));
        }
        for (language, delta) in &self.shifts {
            finite_vector(&format!("shift.{language}"), delta)?;
        }
        if let Some(s) = self.singular_values.iter().find(|s| !s.is_finite()) {
            return Err(bad("singular_values", format!("{s} is not finite")));
        }
        Ok(())
    }
}

/// The `format` field of the metadata written by [`to_safetensors`].
pub const SAFETENSORS_FORMAT: &str = "xlingo-lens-subspaces";
const SAFETENSORS_VERSION: u32 = 1;
/// Key of the header's `__metadata__` entry holding a copy of the metadata JSON.
pub const SAFETENSORS_METADATA_KEY: &str = "xlingo_lens_subspaces";

#[derive(Serialize, Deserialize)]
struct FileMetadata {
    format: String,
    version: u32,
    layers: Vec<LayerMetadata>,
}

#[derive(Serialize, Deserialize)]
struct LayerMetadata {
    layer: usize,
    dim: usize,
    rank: usize,
    pivot: String,
    languages: Vec<String>,
}

/// The subspaces of several layers (`(layer index, subspaces)`) as safetensors bytes and the
/// metadata JSON needed to read them back ([`from_safetensors`]); a copy of the metadata is
/// also in the header's `__metadata__` under [`SAFETENSORS_METADATA_KEY`]
/// ([`safetensors_metadata`]). Tensors, per layer i: `layer.{i}.agnostic` [d],
/// `layer.{i}.agnostic_raw` [d], `layer.{i}.specific` [r, d], `layer.{i}.shift.{lang}` [d]
/// (F32, one per language, the pivot's zero), `layer.{i}.singular_values` [min(d, L)] (F64).
pub fn to_safetensors(
    layers: &[(usize, LayerSubspaces)],
) -> Result<(Vec<u8>, serde_json::Value), ReprError> {
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut meta = Vec::new();
    for (position, (layer, s)) in layers.iter().enumerate() {
        if layers[..position].iter().any(|(l, _)| l == layer) {
            return Err(ReprError::DuplicateLayer(*layer));
        }
        s.check(*layer)?;
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        tensors.push((
            format!("layer.{layer}.agnostic"),
            Dtype::F32,
            vec![s.dim],
            f32_bytes(&s.agnostic),
        ));
        tensors.push((
            format!("layer.{layer}.agnostic_raw"),
            Dtype::F32,
            vec![s.dim],
            f32_bytes(&s.agnostic_raw),
        ));
        tensors.push((
            format!("layer.{layer}.specific"),
            Dtype::F32,
            vec![s.rank, s.dim],
            f32_bytes(&s.specific.concat()),
        ));
        for (language, delta) in &s.shifts {
            tensors.push((
                format!("layer.{layer}.shift.{language}"),
                Dtype::F32,
                vec![s.dim],
                f32_bytes(delta),
            ));
        }
        tensors.push((
            format!("layer.{layer}.singular_values"),
            Dtype::F64,
            vec![s.singular_values.len()],
            s.singular_values
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ));
        meta.push(LayerMetadata {
            layer: *layer,
            dim: s.dim,
            rank: s.rank,
            pivot: s.pivot.clone(),
            languages: s.languages.clone(),
        });
    }
    let metadata = serde_json::to_value(FileMetadata {
        format: SAFETENSORS_FORMAT.to_string(),
        version: SAFETENSORS_VERSION,
        layers: meta,
    })
    .map_err(|e| ReprError::Format(format!("metadata: {e}")))?;
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| ReprError::Format(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let header = HashMap::from([(SAFETENSORS_METADATA_KEY.to_string(), metadata.to_string())]);
    let bytes = safetensors::serialize(views, Some(header))
        .map_err(|e| ReprError::Format(format!("serialising: {e}")))?;
    Ok((bytes, metadata))
}

/// The metadata JSON stored in the header of bytes written by [`to_safetensors`].
pub fn safetensors_metadata(bytes: &[u8]) -> Result<serde_json::Value, ReprError> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| ReprError::Format(format!("not safetensors: {e}")))?;
    let text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(SAFETENSORS_METADATA_KEY))
        .ok_or_else(|| {
            ReprError::Format(format!(
                "no {SAFETENSORS_METADATA_KEY:?} entry in the header's __metadata__ (not written by xlingo?)"
            ))
        })?;
    serde_json::from_str(text).map_err(|e| ReprError::Format(format!("header metadata: {e}")))
}

/// Reads back what [`to_safetensors`] wrote, given its metadata JSON (returned by it, or
/// [`safetensors_metadata`] of the bytes). Layers in the metadata's order.
pub fn from_safetensors(
    bytes: &[u8],
    metadata: &serde_json::Value,
) -> Result<Vec<(usize, LayerSubspaces)>, ReprError> {
    let meta: FileMetadata = serde_json::from_value(metadata.clone())
        .map_err(|e| ReprError::Format(format!("metadata: {e}")))?;
    if meta.format != SAFETENSORS_FORMAT {
        return Err(ReprError::Format(format!(
            "metadata format {:?}, expected {SAFETENSORS_FORMAT:?}",
            meta.format
        )));
    }
    if meta.version != SAFETENSORS_VERSION {
        return Err(ReprError::Format(format!(
            "metadata version {}, this build reads version {SAFETENSORS_VERSION}",
            meta.version
        )));
    }
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| ReprError::Format(format!("not safetensors: {e}")))?;
    let mut out: Vec<(usize, LayerSubspaces)> = Vec::with_capacity(meta.layers.len());
    for m in meta.layers {
        if out.iter().any(|(l, _)| *l == m.layer) {
            return Err(ReprError::DuplicateLayer(m.layer));
        }
        let layer = m.layer;
        let read = |name: String, dtype: Dtype, shape: &[usize]| -> Result<Vec<u8>, ReprError> {
            let view = file
                .tensor(&name)
                .map_err(|e| ReprError::Format(format!("tensor {name}: {e}")))?;
            if view.dtype() != dtype || view.shape() != shape {
                return Err(ReprError::Format(format!(
                    "tensor {name}: {:?} {:?}, expected {dtype:?} {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view.data().to_vec())
        };
        let f32s = |bytes: Vec<u8>| -> Vec<f32> {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let vector = |name: String| read(name, Dtype::F32, &[m.dim]).map(f32s);
        let specific = f32s(read(
            format!("layer.{layer}.specific"),
            Dtype::F32,
            &[m.rank, m.dim],
        )?);
        let singular_name = format!("layer.{layer}.singular_values");
        let singular_len = file
            .tensor(&singular_name)
            .map_err(|e| ReprError::Format(format!("tensor {singular_name}: {e}")))?
            .shape()
            .iter()
            .product::<usize>();
        let singular_values = read(singular_name, Dtype::F64, &[singular_len])?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        let subspaces = LayerSubspaces {
            dim: m.dim,
            rank: m.rank,
            agnostic: vector(format!("layer.{layer}.agnostic"))?,
            agnostic_raw: vector(format!("layer.{layer}.agnostic_raw"))?,
            specific: specific.chunks(m.dim.max(1)).map(<[f32]>::to_vec).collect(),
            shifts: m
                .languages
                .iter()
                .map(|l| Ok((l.clone(), vector(format!("layer.{layer}.shift.{l}"))?)))
                .collect::<Result<_, ReprError>>()?,
            languages: m.languages,
            pivot: m.pivot,
            singular_values,
        };
        subspaces.check(layer)?;
        out.push((layer, subspaces));
    }
    Ok(out)
}
