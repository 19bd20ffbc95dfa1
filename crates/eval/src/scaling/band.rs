//! Pointwise confidence bands for a fitted law by the delta method.
//!
//! `Var f̂(x) ≈ g(x)ᵀ·C·g(x)` with `g = ∂f/∂(a, b, c)` at the fit and `C = s²·(JᵀJ)⁻¹`,
//! `s² = SSE/(n − k)`; the band is `f̂(x) ± t_{(1+level)/2, n−k}·√Var`. It is the linearised
//! band that `scipy.optimize.curve_fit`'s `pcov` gives; it ignores the curvature of the model
//! in its parameters, so it is optimistic for poorly determined fits (few points, or a fit far
//! outside the data). The prediction band adds `s²` for a new observation's noise.

use serde::{Deserialize, Serialize};

use super::error::ScalingError;
use super::fit::FormFit;
use super::linalg::quadratic_form;
use super::stats::student_t_quantile;

/// How the band was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandMethod {
    /// First-order (delta-method) propagation of the parameter covariance, t quantile.
    Delta,
}

/// The band at one data size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandPoint {
    pub x: f64,
    /// The fitted score.
    pub y: f64,
    /// Standard error of the fitted mean score.
    pub std_error: f64,
    /// Confidence band of the mean score.
    pub lower: f64,
    pub upper: f64,
    /// Band for one new measurement (adds the residual variance).
    pub prediction_lower: f64,
    pub prediction_upper: f64,
}

/// A confidence band along the data sizes asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceBand {
    pub method: BandMethod,
    pub level: f64,
    /// Residual degrees of freedom `n − k`.
    pub dof: usize,
    /// `t_{(1+level)/2, dof}`.
    pub t_quantile: f64,
    pub points: Vec<BandPoint>,
}

impl FormFit {
    /// The delta-method band at `level` (e.g. 0.95) at each `x` in `at` (all `x > 0`).
    pub fn confidence_band(&self, at: &[f64], level: f64) -> Result<ConfidenceBand, ScalingError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(ScalingError::InvalidLevel(level));
        }
        if let Some((index, &x)) = at
            .iter()
            .enumerate()
            .find(|(_, x)| !(x.is_finite() && **x > 0.0))
        {
            return Err(ScalingError::NonPositiveX { index, x });
        }
        let no_covariance = || ScalingError::NoCovariance {
            form: self.law.form.to_string(),
        };
        let covariance = self.covariance.ok_or_else(no_covariance)?;
        let s2 = self.residual_variance.ok_or_else(no_covariance)?;
        let dof = self.n - self.law.form.parameter_count();
        let t = student_t_quantile(0.5 + level / 2.0, dof as f64);
        let points = at
            .iter()
            .map(|&x| {
                let y = self.law.eval(x);
                let var = quadratic_form(&covariance, self.law.gradient(x)).max(0.0);
                let half = t * var.sqrt();
                let pred_half = t * (var + s2).sqrt();
                BandPoint {
                    x,
                    y,
                    std_error: var.sqrt(),
                    lower: y - half,
                    upper: y + half,
                    prediction_lower: y - pred_half,
                    prediction_upper: y + pred_half,
                }
            })
            .collect();
        Ok(ConfidenceBand {
            method: BandMethod::Delta,
            level,
            dof,
            t_quantile: t,
            points,
        })
    }
}
