//! The 2-D PCA (`xlingo_eval::pca`): points on a known line and plane (explained variance
//! ratios known exactly), in few and in many dimensions (exact path and subspace iteration),
//! against a brute-force eigen-decomposition of the covariance, the sign convention, and bad
//! input.

mod repr_support;

use nalgebra::{DMatrix, SymmetricEigen};
use repr_support::{Rng, columns, dot, to_f32};
use xlingo_eval::{ReprError, pca_2d};

/// Rows `offset + a_i u + b_i v` (u, v the first two columns of a random orthogonal matrix).
fn plane(d: usize, a: &[f64], b: &[f64], seed: u64) -> (Vec<Vec<f32>>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let q = columns(&rng.orthogonal(d));
    let offset = rng.normal_vec(d, 2.0);
    let rows = a
        .iter()
        .zip(b)
        .map(|(&ai, &bi)| {
            let row: Vec<f64> = (0..d)
                .map(|j| offset[j] + ai * q[0][j] + bi * q[1][j])
                .collect();
            to_f32(&row)
        })
        .collect();
    (rows, q[0].clone(), q[1].clone())
}

#[test]
fn points_on_a_line_have_all_variance_on_one_axis() {
    let t = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
    let (rows, u, _) = plane(5, &t, &[0.0; 6], 1);
    let fit = pca_2d(&rows).unwrap();
    assert!((fit.explained_variance_ratio[0] - 1.0).abs() < 1e-6);
    assert!(fit.explained_variance_ratio[1].abs() < 1e-6);
    assert!((dot(&fit.components[0], &u).abs() - 1.0).abs() < 1e-6);
    let sign = dot(&fit.components[0], &u).signum();
    let mean_t = t.iter().sum::<f64>() / t.len() as f64;
    for (p, ti) in fit.points.iter().zip(t) {
        assert!((p[0] - sign * (ti - mean_t)).abs() < 1e-5, "{p:?} vs {ti}");
    }
    assert!(fit.converged);
}

/// a = (3, −3, 0, 0), b = (0, 0, 1, −1): centred, uncorrelated; sums of squares 18 and 2, so
/// sample variances 6 and 2/3 and ratios 0.9 and 0.1.
fn check_plane(d: usize) {
    let a = [3.0, -3.0, 0.0, 0.0];
    let b = [0.0, 0.0, 1.0, -1.0];
    let (rows, u, v) = plane(d, &a, &b, 2);
    let fit = pca_2d(&rows).unwrap();
    assert!(fit.converged, "d = {d}");
    let tol = 1e-6; // the rows are f32
    assert!(
        (fit.explained_variance_ratio[0] - 0.9).abs() < tol,
        "{fit:?}"
    );
    assert!(
        (fit.explained_variance_ratio[1] - 0.1).abs() < tol,
        "{fit:?}"
    );
    assert!((fit.explained_variance[0] - 6.0).abs() < 1e-5);
    assert!((fit.explained_variance[1] - 2.0 / 3.0).abs() < 1e-5);
    assert!((fit.total_variance - 20.0 / 3.0).abs() < 1e-5);
    assert!((dot(&fit.components[0], &u).abs() - 1.0).abs() < tol);
    assert!((dot(&fit.components[1], &v).abs() - 1.0).abs() < tol);
    assert!(dot(&fit.components[0], &fit.components[1]).abs() < 1e-9);
    let (su, sv) = (
        dot(&fit.components[0], &u).signum(),
        dot(&fit.components[1], &v).signum(),
    );
    for (i, p) in fit.points.iter().enumerate() {
        assert!((p[0] - su * a[i]).abs() < 1e-5 && (p[1] - sv * b[i]).abs() < 1e-5);
    }
    for (row, p) in rows.iter().zip(&fit.points) {
        let t = fit.transform(row).unwrap();
        assert!((t[0] - p[0]).abs() < 1e-9 && (t[1] - p[1]).abs() < 1e-9);
    }
}

#[test]
fn points_on_a_plane_recover_the_known_variance_ratios_in_few_dimensions() {
    check_plane(6); // d ≤ 10: the exact path
}

#[test]
fn points_on_a_plane_recover_the_known_variance_ratios_in_many_dimensions() {
    check_plane(300); // subspace iteration; the rows span only 3 dimensions
}

#[test]
fn agrees_with_a_brute_force_eigen_decomposition() {
    let mut rng = Rng::new(3);
    let (m, d) = (200, 40);
    let q = rng.orthogonal(d);
    let scales: Vec<f64> = (0..d).map(|j| 5.0 * 0.8f64.powi(j as i32)).collect();
    let rows: Vec<Vec<f32>> = (0..m)
        .map(|_| {
            let z = DMatrix::from_fn(d, 1, |j, _| scales[j] * rng.normal() + 1.0);
            to_f32((&q * z).as_slice())
        })
        .collect();
    let fit = pca_2d(&rows).unwrap();
    assert!(fit.converged);

    let x = DMatrix::from_fn(m, d, |i, j| rows[i][j] as f64);
    let mean = x.row_mean();
    let centred = DMatrix::from_fn(m, d, |i, j| x[(i, j)] - mean[j]);
    let cov = centred.tr_mul(&centred) / (m - 1) as f64;
    let eigen = SymmetricEigen::new(cov.clone());
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| eigen.eigenvalues[j].total_cmp(&eigen.eigenvalues[i]));
    let total = cov.trace();
    for (k, &index) in order.iter().enumerate().take(2) {
        let lambda = eigen.eigenvalues[index];
        assert!(
            (fit.explained_variance[k] - lambda).abs() < 1e-9 * lambda,
            "{k}"
        );
        assert!((fit.explained_variance_ratio[k] - lambda / total).abs() < 1e-10);
        let v: Vec<f64> = eigen
            .eigenvectors
            .column(order[k])
            .iter()
            .copied()
            .collect();
        assert!(
            (dot(&fit.components[k], &v).abs() - 1.0).abs() < 1e-8,
            "{k}"
        );
    }
    assert!((fit.total_variance - total).abs() < 1e-9 * total);
}

#[test]
fn signs_are_fixed_by_the_largest_loading() {
    let mut rng = Rng::new(4);
    let rows: Vec<Vec<f32>> = (0..30)
        .map(|i| to_f32(&rng.normal_vec(20, 1.0 + (i % 3) as f64)))
        .collect();
    let negated: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r.iter().map(|x| -x).collect())
        .collect();
    let (fit, neg) = (pca_2d(&rows).unwrap(), pca_2d(&negated).unwrap());
    for k in 0..2 {
        let c = &fit.components[k];
        let largest = c
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        assert!(largest > 0.0);
        for (x, y) in c.iter().zip(&neg.components[k]) {
            assert!((x - y).abs() < 1e-8);
        }
        for (p, q) in fit.points.iter().zip(&neg.points) {
            assert!((p[k] + q[k]).abs() < 1e-6);
        }
    }
}

#[test]
fn identical_rows_have_no_variance_to_explain() {
    let rows = vec![vec![1.0, 2.0, 3.0]; 4];
    let fit = pca_2d(&rows).unwrap();
    assert_eq!(fit.explained_variance_ratio, [0.0, 0.0]);
    assert_eq!(fit.total_variance, 0.0);
    assert!(fit.points.iter().all(|p| *p == [0.0, 0.0]));
}

#[test]
fn bad_rows_are_errors() {
    assert_eq!(
        pca_2d(&[vec![1.0, 2.0]]).unwrap_err(),
        ReprError::TooFewRows { got: 1 }
    );
    assert!(matches!(
        pca_2d(&[vec![1.0], vec![2.0]]).unwrap_err(),
        ReprError::TooFewDimensions { dim: 1, .. }
    ));
    let e = pca_2d(&[vec![1.0, 2.0], vec![1.0, 2.0], vec![1.0]]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "PCA: row 2: dimension 1, expected 2 (that of row 0)"
    );
    let e = pca_2d(&[vec![1.0, 2.0], vec![f32::NAN, 2.0]]).unwrap_err();
    assert_eq!(e.to_string(), "PCA: row 1, component 0: NaN is not finite");
    let fit = pca_2d(&[vec![1.0, 2.0], vec![2.0, 1.0]]).unwrap();
    assert!(matches!(
        fit.transform(&[1.0]),
        Err(ReprError::VectorLength {
            expected: 2,
            got: 1
        })
    ));
}
