//! Dense 3×3 algebra for the three-parameter laws: Cholesky solves with Jacobi scaling, so
//! that parameters of very different sizes (an offset in BLEU points, a scale in examples)
//! do not ruin the conditioning.

/// A symmetric 3×3 matrix, row-major.
pub(crate) type Mat3 = [[f64; 3]; 3];

/// Smallest pivot (relative to a unit diagonal) accepted as non-singular: below it the
/// matrix's condition number is beyond what f64 resolves.
const MIN_PIVOT: f64 = 1e-13;

/// Solves `m · v = rhs` for symmetric positive-definite `m` by Cholesky; `None` when `m` is
/// not numerically positive definite.
pub(crate) fn cholesky_solve(m: &Mat3, rhs: [f64; 3]) -> Option<[f64; 3]> {
    let l = cholesky(m)?;
    let mut z = [0.0; 3];
    for i in 0..3 {
        let s: f64 = (0..i).map(|j| l[i][j] * z[j]).sum();
        z[i] = (rhs[i] - s) / l[i][i];
    }
    let mut v = [0.0; 3];
    for i in (0..3).rev() {
        let s: f64 = (i + 1..3).map(|j| l[j][i] * v[j]).sum();
        v[i] = (z[i] - s) / l[i][i];
    }
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// Lower-triangular `l` with `l·lᵀ = m`; `None` on a pivot below [`MIN_PIVOT`]·diag.
fn cholesky(m: &Mat3) -> Option<Mat3> {
    let mut l = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d.is_nan() || d <= MIN_PIVOT * m[i][i].abs() || d <= 0.0 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// Jacobi scaling factors `1/√m_ii` (0 for a zero diagonal entry, whose variable then
/// stays put).
pub(crate) fn jacobi_scale(m: &Mat3) -> [f64; 3] {
    std::array::from_fn(|i| {
        if m[i][i] > 0.0 {
            1.0 / m[i][i].sqrt()
        } else {
            0.0
        }
    })
}

/// `D·m·D` for diagonal `D = diag(d)`.
pub(crate) fn scale(m: &Mat3, d: [f64; 3]) -> Mat3 {
    std::array::from_fn(|i| std::array::from_fn(|j| d[i] * m[i][j] * d[j]))
}

/// Inverse of a symmetric positive-definite matrix, computed on its Jacobi-scaled form;
/// `None` when it is singular to working precision (a parameter the data cannot identify).
pub(crate) fn inverse_spd(m: &Mat3) -> Option<Mat3> {
    let d = jacobi_scale(m);
    if d.contains(&0.0) {
        return None;
    }
    let s = scale(m, d);
    let mut inv = [[0.0; 3]; 3];
    for col in 0..3 {
        let mut e = [0.0; 3];
        e[col] = 1.0;
        let v = cholesky_solve(&s, e)?;
        for row in 0..3 {
            inv[row][col] = d[row] * v[row] * d[col];
        }
    }
    Some(inv)
}

/// `Jᵀ·J` and `Jᵀ·r` from per-point Jacobian rows and residuals.
pub(crate) fn normal_equations(rows: &[[f64; 3]], residuals: &[f64]) -> (Mat3, [f64; 3]) {
    let mut a = [[0.0; 3]; 3];
    let mut g = [0.0; 3];
    for (row, r) in rows.iter().zip(residuals) {
        for i in 0..3 {
            g[i] += row[i] * r;
            for j in 0..3 {
                a[i][j] += row[i] * row[j];
            }
        }
    }
    (a, g)
}

/// `vᵀ·m·v`.
pub(crate) fn quadratic_form(m: &Mat3, v: [f64; 3]) -> f64 {
    (0..3)
        .map(|i| (0..3).map(|j| v[i] * m[i][j] * v[j]).sum::<f64>())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_a_badly_scaled_spd_matrix() {
        // m = D·s·D with s well conditioned and D spanning 12 orders of magnitude.
        let s = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.25], [0.5, 0.25, 2.0]];
        let d = [1e-6, 1.0, 1e6];
        let m = scale(&s, d);
        let inv = inverse_spd(&m).expect("invertible");
        // s · (D·m⁻¹·D) = I, compared in the well-scaled coordinates.
        let back = scale(&inv, d);
        for (i, s_row) in s.iter().enumerate() {
            for j in 0..3 {
                let p: f64 = s_row.iter().zip(&back).map(|(a, row)| a * row[j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((p - want).abs() < 1e-12, "({i},{j}) = {p}");
            }
        }
    }

    #[test]
    fn singular_matrix_has_no_inverse() {
        let m = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 10.0]];
        assert!(inverse_spd(&m).is_none());
    }

    #[test]
    fn cholesky_solve_matches_hand_solution() {
        let m = [[4.0, 2.0, 0.0], [2.0, 5.0, 1.0], [0.0, 1.0, 3.0]];
        // m · [1, -1, 2] = [2, -1, 5]
        let v = cholesky_solve(&m, [2.0, -1.0, 5.0]).expect("spd");
        for (got, want) in v.iter().zip([1.0, -1.0, 2.0]) {
            assert!((got - want).abs() < 1e-14);
        }
    }
}
