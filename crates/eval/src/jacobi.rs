//! Jacobi methods for the small decompositions of [`crate::subspace`] and [`crate::pca`]: a
//! thin SVD of a tall `d × L` matrix (one-sided Jacobi, Hestenes) and the eigen-decomposition
//! of a small symmetric matrix (cyclic Jacobi).
//!
//! Not nalgebra's `SVD`: with singular vectors requested it returns wrong singular values for
//! some matrices, rank-deficient ones among them (nalgebra 0.35.0, dimforge/nalgebra#1172; on
//! the centred language means of `tests/fixtures/lsar_numpy.json`, case 3, its `U S Vᵀ` missed
//! the input by 3.6e-2). Every matrix the probe decomposes is rank-deficient by construction.
//! Jacobi methods are simple, accurate to a few ulps relative to the largest singular value,
//! and cost O(d·L²) per sweep, which is nothing for L languages.

use nalgebra::DMatrix;

const MAX_SWEEPS: usize = 100;

/// `A = U diag(s) Vᵀ`, k = min(rows, cols), `s` descending. Columns of `u` belonging to a zero
/// singular value are zero (callers use only those of non-negligible singular values).
pub(crate) struct ThinSvd {
    /// rows × k
    pub u: DMatrix<f64>,
    pub s: Vec<f64>,
    /// cols × k
    pub v: DMatrix<f64>,
}

/// Thin SVD by one-sided Jacobi; `None` if it did not converge in 100 sweeps or the input is
/// not finite.
pub(crate) fn thin_svd(a: &DMatrix<f64>) -> Option<ThinSvd> {
    if a.iter().any(|x| !x.is_finite()) {
        return None;
    }
    if a.nrows() < a.ncols() {
        let t = thin_svd(&a.transpose())?;
        return Some(ThinSvd {
            u: t.v,
            s: t.s,
            v: t.u,
        });
    }
    let (rows, cols) = a.shape();
    let mut w = a.clone();
    let mut v = DMatrix::<f64>::identity(cols, cols);
    // Columns count as orthogonal when |a_p·a_q| ≤ √rows·ε·‖a_p‖‖a_q‖ (rounding in the dot
    // product of length `rows` is about that).
    let tolerance = (rows as f64).sqrt() * f64::EPSILON;
    let mut converged = false;
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..cols {
            for q in p + 1..cols {
                let alpha = w.column(p).norm_squared();
                let beta = w.column(q).norm_squared();
                let gamma = w.column(p).dot(&w.column(q));
                if gamma == 0.0 || gamma.abs() <= tolerance * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate_columns(&mut w, p, q, c, s);
                rotate_columns(&mut v, p, q, c, s);
            }
        }
        if !rotated {
            converged = true;
            break;
        }
    }
    if !converged {
        return None;
    }
    let norms: Vec<f64> = (0..cols).map(|j| w.column(j).norm()).collect();
    let mut order: Vec<usize> = (0..cols).collect();
    order.sort_by(|&i, &j| norms[j].total_cmp(&norms[i]));
    let mut u = DMatrix::<f64>::zeros(rows, cols);
    let mut v_sorted = DMatrix::<f64>::zeros(cols, cols);
    let mut s = Vec::with_capacity(cols);
    for (k, &j) in order.iter().enumerate() {
        let sigma = norms[j];
        if sigma > 0.0 {
            u.set_column(k, &(w.column(j) / sigma));
        }
        v_sorted.set_column(k, &v.column(j));
        s.push(sigma);
    }
    Some(ThinSvd { u, s, v: v_sorted })
}

/// Eigenvalues (descending) and eigenvectors (columns, in the same order) of a symmetric
/// matrix, by cyclic Jacobi; `None` if not converged or not finite.
pub(crate) fn symmetric_eigen(b: &DMatrix<f64>) -> Option<(Vec<f64>, DMatrix<f64>)> {
    if b.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = b.nrows();
    let mut a = (b + b.transpose()) * 0.5;
    let mut v = DMatrix::<f64>::identity(n, n);
    let scale = a.norm();
    let mut converged = false;
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[(i, j)] * a[(i, j)])
            .sum();
        if off.sqrt() <= f64::EPSILON * scale || off == 0.0 {
            converged = true;
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[(p, q)];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[(q, q)] - a[(p, p)]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (1.0 + theta * theta).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                // A ← Jᵀ A J with J the rotation in the (p, q) plane.
                rotate_columns(&mut a, p, q, c, s);
                rotate_rows(&mut a, p, q, c, s);
                a[(p, q)] = 0.0;
                a[(q, p)] = 0.0;
                rotate_columns(&mut v, p, q, c, s);
            }
        }
    }
    if !converged {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[(j, j)].total_cmp(&a[(i, i)]));
    let values = order.iter().map(|&i| a[(i, i)]).collect();
    let vectors = DMatrix::from_fn(n, n, |r, k| v[(r, order[k])]);
    Some((values, vectors))
}

/// Columns p, q ← c·p − s·q, s·p + c·q.
fn rotate_columns(m: &mut DMatrix<f64>, p: usize, q: usize, c: f64, s: f64) {
    for r in 0..m.nrows() {
        let (x, y) = (m[(r, p)], m[(r, q)]);
        m[(r, p)] = c * x - s * y;
        m[(r, q)] = s * x + c * y;
    }
}

/// Rows p, q ← c·p − s·q, s·p + c·q.
fn rotate_rows(m: &mut DMatrix<f64>, p: usize, q: usize, c: f64, s: f64) {
    for col in 0..m.ncols() {
        let (x, y) = (m[(p, col)], m[(q, col)]);
        m[(p, col)] = c * x - s * y;
        m[(q, col)] = s * x + c * y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn check_svd(a: &DMatrix<f64>) -> ThinSvd {
        let svd = thin_svd(a).expect("converges");
        let k = a.nrows().min(a.ncols());
        assert_eq!(
            (svd.u.shape(), svd.v.shape()),
            ((a.nrows(), k), (a.ncols(), k))
        );
        let rebuilt = &svd.u * DMatrix::from_diagonal(&svd.s.clone().into()) * svd.v.transpose();
        assert!((rebuilt - a).norm() <= 1e-13 * a.norm().max(1.0));
        assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
        // Singular vectors of non-negligible singular values are orthonormal.
        let kept = svd.s.iter().filter(|&&x| x > 1e-12 * svd.s[0]).count();
        for m in [&svd.u, &svd.v] {
            let m = m.columns(0, kept);
            assert!((m.tr_mul(&m) - DMatrix::identity(kept, kept)).norm() < 1e-13);
        }
        svd
    }

    #[test]
    fn svd_of_tall_wide_and_rank_deficient_matrices() {
        let mut seed = 1;
        let a = DMatrix::from_fn(40, 6, |_, _| lcg(&mut seed));
        let svd = check_svd(&a);
        assert!((svd.v.tr_mul(&svd.v) - DMatrix::identity(6, 6)).norm() < 1e-13);
        check_svd(&a.transpose());
        // Centred columns: rank 5 of 6, the last singular value ~0.
        let mean = a.column_mean();
        let centred = &a - &mean * DMatrix::from_element(1, 6, 1.0);
        let svd = check_svd(&centred);
        assert!(svd.s[5] < 1e-14 * svd.s[0]);
        // The all-ones 3 × 5 matrix of nalgebra#1172: σ₁ = √15, the rest 0.
        let ones = DMatrix::from_element(3, 5, 1.0);
        let svd = check_svd(&ones);
        assert!((svd.s[0] - 15f64.sqrt()).abs() < 1e-14);
        assert!(svd.s[1..].iter().all(|&s| s < 1e-15));
        // Its full-rank 3 × 3 example, Σσ² = ‖A‖²_F = 21.
        let a = DMatrix::from_row_slice(3, 3, &[1., 2., 2., 2., -1., -1., 2., 1., -1.]);
        let svd = check_svd(&a);
        assert!((svd.s.iter().map(|s| s * s).sum::<f64>() - 21.0).abs() < 1e-12);
        assert!(thin_svd(&DMatrix::from_element(2, 2, f64::NAN)).is_none());
    }

    #[test]
    fn symmetric_eigen_reconstructs() {
        let mut seed = 2;
        let g = DMatrix::from_fn(9, 9, |_, _| lcg(&mut seed));
        let b = g.tr_mul(&g);
        let (values, vectors) = symmetric_eigen(&b).expect("converges");
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        let rebuilt = &vectors * DMatrix::from_diagonal(&values.into()) * vectors.transpose();
        assert!((rebuilt - &b).norm() < 1e-13 * b.norm());
        assert!((vectors.tr_mul(&vectors) - DMatrix::identity(9, 9)).norm() < 1e-13);
        let (values, _) = symmetric_eigen(&DMatrix::zeros(3, 3)).unwrap();
        assert_eq!(values, [0.0; 3]);
    }
}
