//! Centred principal component analysis onto two components, for plots of representations
//! ([`crate::repr`]) and of language subspaces.
//!
//! The covariance matrix is never formed (hidden sizes reach 4096): the two leading
//! eigenvectors of `XᵀX` (X the centred rows) come from block subspace iteration with
//! Rayleigh–Ritz, applying `v ↦ Xᵀ(Xv)`, from a fixed start so that the result is
//! deterministic. When the hidden size is at most the block size the start block is the whole
//! space and the result is exact after one step; otherwise iteration stops when both Ritz
//! pairs have residual `‖XᵀX v − θ v‖ ≤ 1e-10·θ₁` (reported in [`Pca2Fit::converged`]).
//!
//! Signs: each component is flipped so that its largest-magnitude loading (the first such on a
//! tie) is positive, so plots of the same data always look the same.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::ReprError;
use crate::jacobi::symmetric_eigen;

/// Columns in the iteration block: 2 wanted + 8 for faster convergence.
const BLOCK: usize = 10;
const MAX_ITERATIONS: usize = 300;
const RESIDUAL_TOLERANCE: f64 = 1e-10;

/// A two-component PCA of a set of rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pca2Fit {
    /// Mean row (subtracted before projecting).
    pub mean: Vec<f64>,
    /// The two principal axes, unit length and orthogonal, first = most variance.
    pub components: [Vec<f64>; 2],
    /// Sample variance along each axis (denominator rows − 1).
    pub explained_variance: [f64; 2],
    /// `explained_variance / total_variance`; both 0 when every row is the same.
    pub explained_variance_ratio: [f64; 2],
    /// Sum of the per-dimension sample variances.
    pub total_variance: f64,
    /// Each input row's coordinates on the two axes, in input order.
    pub points: Vec<[f64; 2]>,
    /// Subspace-iteration steps taken.
    pub iterations: usize,
    /// Whether both Ritz pairs met the residual tolerance (always true when the hidden size is
    /// at most 10, where the result is exact).
    pub converged: bool,
}

impl Pca2Fit {
    /// Coordinates of a new row on the two axes.
    pub fn transform(&self, row: &[f32]) -> Result<[f64; 2], ReprError> {
        if row.len() != self.mean.len() {
            return Err(ReprError::VectorLength {
                expected: self.mean.len(),
                got: row.len(),
            });
        }
        let mut out = [0.0; 2];
        for (k, component) in self.components.iter().enumerate() {
            out[k] = row
                .iter()
                .zip(&self.mean)
                .zip(component)
                .map(|((&x, &m), &c)| (x as f64 - m) * c)
                .sum();
        }
        Ok(out)
    }
}

/// Centred PCA of `rows` (each a d-vector, d ≥ 2, at least 2 rows, all finite).
pub fn pca_2d(rows: &[Vec<f32>]) -> Result<Pca2Fit, ReprError> {
    if rows.len() < 2 {
        return Err(ReprError::TooFewRows { got: rows.len() });
    }
    let dim = rows[0].len();
    if dim < 2 {
        return Err(ReprError::TooFewDimensions {
            what: "a 2-component PCA",
            needed: 2,
            dim,
        });
    }
    for (row, values) in rows.iter().enumerate() {
        if values.len() != dim {
            return Err(ReprError::RowDimension {
                row,
                expected: dim,
                got: values.len(),
            });
        }
        if let Some((component, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ReprError::RowNonFinite {
                row,
                component,
                value,
            });
        }
    }
    let x = DMatrix::from_fn(rows.len(), dim, |i, j| rows[i][j] as f64);
    pca_2d_matrix(x)
}

/// [`pca_2d`] on an already validated `m × d` matrix (m ≥ 2, d ≥ 2, finite), consumed.
pub(crate) fn pca_2d_matrix(mut x: DMatrix<f64>) -> Result<Pca2Fit, ReprError> {
    let (m, dim) = x.shape();
    let mean: Vec<f64> = (0..dim).map(|j| x.column(j).mean()).collect();
    for (j, mu) in mean.iter().enumerate() {
        x.column_mut(j).add_scalar_mut(-mu);
    }
    let total_ss = x.norm_squared();

    let (components, thetas, iterations, converged) = leading_eigenpairs(&x, total_ss)?;

    let denominator = (m - 1) as f64;
    let explained_variance = [thetas[0] / denominator, thetas[1] / denominator];
    let explained_variance_ratio = if total_ss > 0.0 {
        [thetas[0] / total_ss, thetas[1] / total_ss]
    } else {
        [0.0, 0.0]
    };
    let basis = DMatrix::from_columns(&[components[0].clone(), components[1].clone()]);
    let projected = &x * &basis;
    let points = (0..m)
        .map(|i| [projected[(i, 0)], projected[(i, 1)]])
        .collect();
    Ok(Pca2Fit {
        mean,
        components: [
            components[0].iter().copied().collect(),
            components[1].iter().copied().collect(),
        ],
        explained_variance,
        explained_variance_ratio,
        total_variance: total_ss / denominator,
        points,
        iterations,
        converged,
    })
}

/// The two leading eigenpairs of `XᵀX` (eigenvalues clamped at 0), by block subspace iteration.
#[allow(clippy::type_complexity)]
fn leading_eigenpairs(
    x: &DMatrix<f64>,
    total_ss: f64,
) -> Result<([DVector<f64>; 2], [f64; 2], usize, bool), ReprError> {
    let dim = x.ncols();
    let k = dim.min(BLOCK);
    let mut q = if k == dim {
        DMatrix::identity(dim, dim)
    } else {
        let mut rng = SplitMix64(0x05EE_D0F2_D0CA);
        let start = DMatrix::from_fn(dim, k, |_, _| rng.uniform_symmetric());
        start.qr().q()
    };
    let mut iterations = 0;
    loop {
        iterations += 1;
        let y = x.tr_mul(&(x * &q)); // XᵀX Q, d × k
        let b = q.tr_mul(&y);
        let (values, eigenvectors) = symmetric_eigen(&b).ok_or(ReprError::NoConvergence {
            what: "PCA: eigen-decomposition of the Rayleigh quotient",
        })?;
        let theta = [values[0].max(0.0), values[1].max(0.0)];
        let mut vectors = [DVector::zeros(dim), DVector::zeros(dim)];
        let mut residual_ok = true;
        for (slot, &value) in values.iter().take(2).enumerate() {
            let e = eigenvectors.column(slot);
            let v = &q * e;
            let cv = &y * e;
            let residual = (&cv - &v * value).norm();
            // Exact (whole space) when k == dim; otherwise judged against the leading
            // eigenvalue (or the total, when everything is ~0).
            let scale = theta[0].max(total_ss * f64::EPSILON);
            if k < dim && residual > RESIDUAL_TOLERANCE * scale {
                residual_ok = false;
            }
            vectors[slot] = v;
        }
        if k == dim || residual_ok || iterations >= MAX_ITERATIONS {
            let converged = k == dim || residual_ok;
            for v in &mut vectors {
                let norm = v.norm();
                if norm > 0.0 {
                    *v /= norm;
                }
                fix_sign(v);
            }
            return Ok((vectors, theta, iterations, converged));
        }
        q = y.qr().q();
    }
}

/// Flips `v` so that its largest-magnitude entry (the first on a tie) is positive.
pub(crate) fn fix_sign(v: &mut DVector<f64>) {
    let mut best = 0;
    for (i, value) in v.iter().enumerate() {
        if value.abs() > v[best].abs() {
            best = i;
        }
    }
    if v[best] < 0.0 {
        v.neg_mut();
    }
}

/// SplitMix64: a fixed, dependency-free generator for the deterministic start block.
struct SplitMix64(u64);

impl SplitMix64 {
    fn uniform_symmetric(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1_u64 << 53) as f64 * 2.0 - 1.0
    }
}
