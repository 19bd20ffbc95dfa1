//! Nonlinear least-squares fits of the laws in [`LawForm`] to (data size, score) points, and
//! model choice by AIC / AICc.
//!
//! How a fit is found: every form is linear in two of its parameters once the third (the
//! exponent or scale `q`) is fixed. So `q` is first profiled over a log-spaced grid spanning
//! the data, each grid value solved exactly by linear least squares (variable projection);
//! the best few local minima of that profile, with the signs the constraints require, start
//! Levenberg–Marquardt ([`super::lm`]) on all three parameters. The constraints hold by
//! construction: the solver works on `ln b`, `ln c`, `ln a` or `√b` instead of the
//! constrained parameter itself. The logarithm's bound `b = 0` is a start of its own (its
//! `√b` column is zero there, so the run stays on the bound and fits `a·ln x + c`), and a
//! fit that runs off to a degenerate limit is reported as [`FitStatus::Boundary`].

use serde::{Deserialize, Serialize};

use super::error::ScalingError;
use super::law::{Law, LawForm, Params};
use super::linalg::{Mat3, inverse_spd, normal_equations};
use super::lm::{Evaluation, FitStatus, Minimum, minimise};

/// Knobs of [`fit_laws`]; the defaults suit learning curves of a handful to hundreds of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Forms to fit (default: all four).
    pub forms: Vec<LawForm>,
    /// Levenberg–Marquardt iterations per start.
    pub max_iterations: usize,
    /// Starts per form: the best local minima of the profile over the nonlinear parameter.
    pub restarts: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            forms: LawForm::ALL.to_vec(),
            max_iterations: 500,
            restarts: 3,
        }
    }
}

/// One form fitted to the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormFit {
    /// The form and its fitted parameters.
    #[serde(flatten)]
    pub law: Law,
    pub formula: String,
    /// Number of points.
    pub n: usize,
    /// Sum of squared residuals.
    pub sse: f64,
    /// `1 − SSE/SST`.
    pub r2: f64,
    /// `n·ln(SSE/n) + 2k`, `k` = 3 curve parameters (the noise variance is not counted; it
    /// adds the same constant to every form). SSE/n is floored at (ε·max|y|)² so that an
    /// exact fit gives a finite number.
    pub aic: f64,
    /// `AIC + 2k(k+1)/(n−k−1)`; absent when `n ≤ k + 1`.
    pub aicc: Option<f64>,
    pub status: FitStatus,
    /// Iterations of the start that won.
    pub iterations: usize,
    /// Starts tried.
    pub starts: usize,
    /// `SSE/(n − k)`; absent when `n = k`.
    pub residual_variance: Option<f64>,
    /// Covariance of `(a, b, c)`: `s²·(JᵀJ)⁻¹` with the Jacobian at the fit; absent when the
    /// Jacobian is singular (a parameter the data do not identify), the fit is at a
    /// [`FitStatus::Boundary`], or `n = k`.
    pub covariance: Option<Mat3>,
}

/// Which information criterion chose the law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Small-sample corrected AIC, used whenever it is defined (`n > k + 1`); Burnham &
    /// Anderson recommend it for `n/k < 40` and it tends to AIC for large `n`.
    Aicc,
    /// Plain AIC, only when `n = k + 1` leaves AICc undefined.
    Aic,
}

/// Every form's fit and the chosen one: what `xlingo scaling fit` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    pub n: usize,
    pub criterion: Criterion,
    pub chosen: LawForm,
    pub fits: Vec<FormFit>,
    /// Forms for which no start gave finite predictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<LawForm>,
}

impl FitReport {
    /// The fit of the chosen form (always present in a report from [`fit_laws`]).
    pub fn chosen_fit(&self) -> Option<&FormFit> {
        self.fit(self.chosen)
    }

    /// The fit of `form`, if it was fitted.
    pub fn fit(&self, form: LawForm) -> Option<&FormFit> {
        self.fits.iter().find(|f| f.law.form == form)
    }
}

/// Fits every form in `options` to the points `(xs[i], ys[i])` and chooses one by AICc
/// (AIC when `n = k + 1`).
pub fn fit_laws(xs: &[f64], ys: &[f64], options: &FitOptions) -> Result<FitReport, ScalingError> {
    validate_points(xs, ys)?;
    let mut fits = Vec::new();
    let mut failed = Vec::new();
    for &form in &options.forms {
        match fit_validated(form, xs, ys, options) {
            Some(fit) => fits.push(fit),
            None => failed.push(form),
        }
    }
    let criterion = if fits.iter().all(|f| f.aicc.is_some()) {
        Criterion::Aicc
    } else {
        Criterion::Aic
    };
    let score = |f: &FormFit| match criterion {
        Criterion::Aicc => f.aicc.unwrap_or(f.aic),
        Criterion::Aic => f.aic,
    };
    let chosen = fits
        .iter()
        .min_by(|p, q| score(p).total_cmp(&score(q)))
        .map(|f| f.law.form)
        .ok_or(ScalingError::NoFit)?;
    Ok(FitReport {
        n: xs.len(),
        criterion,
        chosen,
        fits,
        failed,
    })
}

/// Fits one form.
pub fn fit_form(
    form: LawForm,
    xs: &[f64],
    ys: &[f64],
    options: &FitOptions,
) -> Result<FormFit, ScalingError> {
    validate_points(xs, ys)?;
    fit_validated(form, xs, ys, options).ok_or(ScalingError::NoFit)
}

/// Rejects data no three-parameter law can be fitted to, naming the first bad point.
pub fn validate_points(xs: &[f64], ys: &[f64]) -> Result<(), ScalingError> {
    if xs.len() != ys.len() {
        return Err(ScalingError::LengthMismatch {
            xs: xs.len(),
            ys: ys.len(),
        });
    }
    let k = LawForm::PowerLaw.parameter_count();
    if xs.len() < k + 1 {
        return Err(ScalingError::TooFewPoints {
            n: xs.len(),
            parameters: k,
            needed: k + 1,
        });
    }
    if let Some((index, &x)) = xs
        .iter()
        .enumerate()
        .find(|(_, x)| !(x.is_finite() && **x > 0.0))
    {
        return Err(ScalingError::NonPositiveX { index, x });
    }
    if let Some((index, &y)) = ys.iter().enumerate().find(|(_, y)| !y.is_finite()) {
        return Err(ScalingError::NonFiniteY { index, y });
    }
    let mut distinct = xs.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < k {
        return Err(ScalingError::TooFewDistinctX {
            distinct: distinct.len(),
            parameters: k,
        });
    }
    if ys.iter().all(|&y| y == ys[0]) {
        return Err(ScalingError::ConstantY(ys[0]));
    }
    Ok(())
}

fn fit_validated(form: LawForm, xs: &[f64], ys: &[f64], options: &FitOptions) -> Option<FormFit> {
    let starts = initial_guesses(form, xs, ys, options.restarts.max(1));
    let evaluate = |phi: &Params| evaluate(form, phi, xs, ys);
    let floor = rounding_floor(ys);
    let runs: Vec<Minimum> = starts
        .iter()
        .filter_map(|start| {
            minimise(
                evaluate,
                to_free(form, *start),
                options.max_iterations,
                floor,
            )
        })
        .collect();
    let best = best_run(runs)?;
    let (theta, _) = from_free(form, &best.phi);
    let law = Law::new(form, theta);
    let status = if degenerate(&law, xs) {
        FitStatus::Boundary
    } else {
        best.status
    };
    Some(summarise(
        law,
        xs,
        ys,
        best.sse,
        status,
        best.iterations,
        starts.len(),
    ))
}

/// The run with the least sum of squares, except that a converged run within 1e-9 of it is
/// preferred to one that merely crawled a little further along a flat valley.
fn best_run(runs: Vec<Minimum>) -> Option<Minimum> {
    let least = runs.iter().map(|r| r.sse).fold(f64::INFINITY, f64::min);
    let converged =
        |r: &&Minimum| r.status == FitStatus::Converged && r.sse <= least * (1.0 + 1e-9);
    let pick = runs
        .iter()
        .position(|r| converged(&r))
        .or_else(|| runs.iter().position(|r| r.sse == least))?;
    runs.into_iter().nth(pick)
}

/// Whether the law has run to a limit where, over the data's range, it is no longer its own
/// form (see [`FitStatus::Boundary`]); the thresholds are dimensionless, relative to the data.
fn degenerate(law: &Law, xs: &[f64]) -> bool {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    const EDGE: f64 = 1e-3;
    match law.form {
        LawForm::PowerLaw => law.c * (hi / lo).ln() < EDGE,
        LawForm::Logarithmic => hi / law.b < EDGE,
        LawForm::SaturatingExponential => hi / law.c < EDGE || lo / law.c > 700.0,
        LawForm::Rational => hi / law.b < EDGE || law.b / lo < EDGE,
    }
}

/// Goodness of fit, information criteria and the parameter covariance of a finished fit.
fn summarise(
    law: Law,
    xs: &[f64],
    ys: &[f64],
    sse: f64,
    status: FitStatus,
    iterations: usize,
    starts: usize,
) -> FormFit {
    let n = xs.len();
    let k = law.form.parameter_count();
    let (aic, aicc) = information_criteria(sse, ys, k);
    let residual_variance = (n > k).then(|| sse / (n - k) as f64);
    let identified = status != FitStatus::Boundary;
    let covariance = residual_variance.filter(|_| identified).and_then(|s2| {
        let rows: Vec<Params> = xs.iter().map(|&x| law.gradient(x)).collect();
        let (jtj, _) = normal_equations(&rows, &vec![0.0; n]);
        inverse_spd(&jtj).map(|inv| inv.map(|row| row.map(|v| v * s2)))
    });
    FormFit {
        law,
        formula: law.form.formula().to_string(),
        n,
        sse,
        r2: r_squared(sse, ys),
        aic,
        aicc,
        status,
        iterations,
        starts,
        residual_variance,
        covariance,
    }
}

/// A sum of squares at which the residuals are at the rounding level of the scores: 32 ulps
/// of the largest score per point.
fn rounding_floor(ys: &[f64]) -> f64 {
    let y_scale = ys.iter().fold(0.0_f64, |m, y| m.max(y.abs()));
    ys.len() as f64 * (32.0 * f64::EPSILON * y_scale).powi(2)
}

/// `1 − SSE/SST` (the data are never constant here: [`validate_points`] rejects that).
pub fn r_squared(sse: f64, ys: &[f64]) -> f64 {
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let sst: f64 = ys.iter().map(|y| (y - mean) * (y - mean)).sum();
    1.0 - sse / sst
}

/// Gaussian AIC `n·ln(SSE/n) + 2k` and AICc `AIC + 2k(k+1)/(n−k−1)` (absent for `n ≤ k+1`).
pub fn information_criteria(sse: f64, ys: &[f64], k: usize) -> (f64, Option<f64>) {
    let n = ys.len() as f64;
    let y_scale = ys.iter().fold(0.0_f64, |m, y| m.max(y.abs()));
    let floor = (f64::EPSILON * y_scale).powi(2).max(f64::MIN_POSITIVE);
    let kf = k as f64;
    let aic = n * (sse / n).max(floor).ln() + 2.0 * kf;
    let aicc = (ys.len() > k + 1).then(|| aic + 2.0 * kf * (kf + 1.0) / (n - kf - 1.0));
    (aic, aicc)
}

/// Unconstrained parameters `φ` from constrained `θ = (a, b, c)`.
fn to_free(form: LawForm, [a, b, c]: Params) -> Params {
    match form {
        LawForm::PowerLaw | LawForm::SaturatingExponential => [a, b.ln(), c.ln()],
        LawForm::Logarithmic => [a.ln(), b.sqrt(), c],
        LawForm::Rational => [a.ln(), b.ln(), c],
    }
}

/// `θ(φ)` and the diagonal `dθ/dφ`.
fn from_free(form: LawForm, &[p, q, r]: &Params) -> (Params, Params) {
    match form {
        LawForm::PowerLaw | LawForm::SaturatingExponential => {
            let (b, c) = (q.exp(), r.exp());
            ([p, b, c], [1.0, b, c])
        }
        LawForm::Logarithmic => {
            let a = p.exp();
            ([a, q * q, r], [a, 2.0 * q, 1.0])
        }
        LawForm::Rational => {
            let (a, b) = (p.exp(), q.exp());
            ([a, b, r], [a, b, 1.0])
        }
    }
}

/// Residuals and Jacobian in the free parameters; `None` if any prediction is not finite.
fn evaluate(form: LawForm, phi: &Params, xs: &[f64], ys: &[f64]) -> Option<Evaluation> {
    let (theta, chain) = from_free(form, phi);
    let law = Law::new(form, theta);
    let mut residuals = Vec::with_capacity(xs.len());
    let mut jacobian = Vec::with_capacity(xs.len());
    for (&x, &y) in xs.iter().zip(ys) {
        let g = law.gradient(x);
        let row: Params = std::array::from_fn(|j| g[j] * chain[j]);
        let r = y - law.eval(x);
        if !r.is_finite() || !row.iter().all(|v| v.is_finite()) {
            return None;
        }
        residuals.push(r);
        jacobian.push(row);
    }
    let sse = residuals.iter().map(|r| r * r).sum();
    Some(Evaluation {
        sse,
        residuals,
        jacobian,
    })
}

/// Grid points of the profile over the nonlinear parameter.
const PROFILE_POINTS: usize = 120;

/// Starting parameters: the best `count` local minima (with admissible signs) of the sum of
/// squares profiled over the form's nonlinear parameter; one rough guess if there is none.
fn initial_guesses(form: LawForm, xs: &[f64], ys: &[f64], count: usize) -> Vec<Params> {
    let profile: Vec<Option<(f64, Params)>> = profile_grid(form, xs)
        .into_iter()
        .map(|q| profile_point(form, q, xs, ys))
        .collect();
    let sse_at = |i: usize| profile[i].map_or(f64::INFINITY, |(sse, _)| sse);
    let mut minima: Vec<(f64, Params)> = (0..profile.len())
        .filter(|&i| {
            let here = sse_at(i);
            here.is_finite()
                && (i == 0 || here <= sse_at(i - 1))
                && (i + 1 == profile.len() || here <= sse_at(i + 1))
        })
        .filter_map(|i| profile[i])
        .collect();
    minima.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut starts: Vec<Params> = minima.into_iter().take(count).map(|(_, p)| p).collect();
    if starts.is_empty() {
        starts.push(fallback_guess(form, xs, ys));
    }
    starts
}

/// Values of the nonlinear parameter, log-spaced: the exponent `c` of the power law, the
/// shift `b` of the logarithm (and `b = 0`, its bound), the scale `c` of the exponential, the
/// half-saturation `b` of the rational form. The ranges reach far enough past the data for
/// the degenerate limits ([`FitStatus::Boundary`]) to be approached from the start.
fn profile_grid(form: LawForm, xs: &[f64]) -> Vec<f64> {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    let (from, to) = match form {
        LawForm::PowerLaw => (1e-6 / (hi / lo).ln(), 5.0),
        LawForm::Logarithmic => (lo * 1e-4, hi * 1e5),
        LawForm::SaturatingExponential => (lo / 20.0, hi * 1e5),
        LawForm::Rational => (lo * 1e-5, hi * 1e5),
    };
    let step = (to / from).ln() / (PROFILE_POINTS - 1) as f64;
    let grid = (0..PROFILE_POINTS).map(|i| from * (step * i as f64).exp());
    if form == LawForm::Logarithmic {
        std::iter::once(0.0).chain(grid).collect()
    } else {
        grid.collect()
    }
}

/// The basis function multiplying the form's positive linear coefficient, given `q`.
fn basis(form: LawForm, q: f64, x: f64) -> f64 {
    match form {
        LawForm::PowerLaw => -x.powf(-q),
        LawForm::Logarithmic => (x + q).ln(),
        LawForm::SaturatingExponential => -(-x / q).exp(),
        LawForm::Rational => x / (x + q),
    }
}

/// Exact least squares `y ≈ s·basis(x; q) + t` at fixed `q`: `(SSE, θ)` if `s > 0`.
fn profile_point(form: LawForm, q: f64, xs: &[f64], ys: &[f64]) -> Option<(f64, Params)> {
    let gs: Vec<f64> = xs.iter().map(|&x| basis(form, q, x)).collect();
    let (slope, intercept) = simple_regression(&gs, ys)?;
    if slope.is_nan() || slope <= 0.0 {
        return None;
    }
    let sse: f64 = gs
        .iter()
        .zip(ys)
        .map(|(g, y)| (y - slope * g - intercept).powi(2))
        .sum();
    Some((sse, assemble(form, q, slope, intercept)))
}

/// Ordinary least squares of `ys` on `gs`: `(slope, intercept)`; `None` if `gs` is constant.
fn simple_regression(gs: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let n = gs.len() as f64;
    let gm = gs.iter().sum::<f64>() / n;
    let ym = ys.iter().sum::<f64>() / n;
    let sgg: f64 = gs.iter().map(|g| (g - gm) * (g - gm)).sum();
    let sgy: f64 = gs.iter().zip(ys).map(|(g, y)| (g - gm) * (y - ym)).sum();
    if !sgg.is_finite() || sgg <= 0.0 {
        return None;
    }
    let slope = sgy / sgg;
    Some((slope, ym - slope * gm))
}

/// `(a, b, c)` from the profile's `q`, slope and intercept.
fn assemble(form: LawForm, q: f64, slope: f64, intercept: f64) -> Params {
    match form {
        LawForm::PowerLaw | LawForm::SaturatingExponential => [intercept, slope, q],
        LawForm::Logarithmic | LawForm::Rational => [slope, q, intercept],
    }
}

/// A guess with the right signs for data the profile could not fit with a positive slope
/// (e.g. decreasing scores): flat at the mean, curving at the middle of the data.
fn fallback_guess(form: LawForm, xs: &[f64], ys: &[f64]) -> Params {
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let spread = ys.iter().map(|y| (y - mean).abs()).fold(0.0, f64::max);
    let mid = xs.iter().sum::<f64>() / xs.len() as f64;
    let small = 1e-3 * spread.max(1e-9);
    match form {
        LawForm::PowerLaw => [mean, small, 0.5],
        LawForm::Logarithmic => [small, mid, mean],
        LawForm::SaturatingExponential => [mean, small, mid],
        LawForm::Rational => [small, mid, mean],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_parameters_round_trip() {
        for form in LawForm::ALL {
            let theta = [2.5, 30.0, 0.7];
            let (back, _) = from_free(form, &to_free(form, theta));
            for (p, q) in back.iter().zip(theta) {
                assert!((p - q).abs() < 1e-12 * q.abs(), "{form}: {back:?}");
            }
        }
    }

    #[test]
    fn exact_data_is_fitted_exactly_from_the_profile_start() {
        let law = Law::new(LawForm::Rational, [30.0, 500.0, 2.0]);
        let xs = [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0];
        let ys: Vec<f64> = xs.iter().map(|&x| law.eval(x)).collect();
        let fit = fit_form(LawForm::Rational, &xs, &ys, &FitOptions::default()).expect("fit");
        assert_eq!(fit.status, FitStatus::Converged);
        for (got, want) in fit.law.params().iter().zip(law.params()) {
            assert!((got - want).abs() < 1e-6 * want.abs(), "{:?}", fit.law);
        }
    }
}
