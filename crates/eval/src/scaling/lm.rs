//! Levenberg–Marquardt for three parameters, written out because the problem is tiny and a
//! solver crate would bring a linear-algebra stack into a wasm-safe crate.
//!
//! Marquardt's scaling (damping proportional to the diagonal of `JᵀJ`, done here as Jacobi
//! scaling plus `λ·I`) makes the steps invariant to the parameters' units.

use serde::{Deserialize, Serialize};

use super::law::Params;
use super::linalg::{cholesky_solve, jacobi_scale, normal_equations, scale};

/// How a least-squares fit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitStatus {
    /// The residuals are orthogonal to every Jacobian column to 1e-9 (a stationary point),
    /// or the sum of squares stopped decreasing at working precision.
    Converged,
    /// The parameters ran to a limit where the form degenerates into a simpler curve over the
    /// data (power law with `c → 0` or logarithm with `b → ∞`: `α + β·ln x` or a line;
    /// exponential or rational with their scale → ∞: a line; with it → 0: a constant). The
    /// sum of squares is close to the limit's, the parameters themselves mean little, and no
    /// covariance is given. Usually: the data do not have this form's curvature.
    Boundary,
    /// The iteration limit was reached first; the parameters are the best seen.
    MaxIterations,
    /// No damped step reduced the sum of squares although the gradient is not small
    /// (typically a parameter running off to a bound).
    Stalled,
}

/// Residuals `y − f` and the Jacobian `∂f/∂φ` at one parameter vector.
pub(crate) struct Evaluation {
    pub sse: f64,
    pub residuals: Vec<f64>,
    pub jacobian: Vec<Params>,
}

/// The best point a run reached.
pub(crate) struct Minimum {
    pub phi: Params,
    pub sse: f64,
    pub iterations: usize,
    pub status: FitStatus,
}

/// Cosine between the residual vector and a Jacobian column below which a point is
/// stationary.
const GRADIENT_TOLERANCE: f64 = 1e-9;
/// Relative decrease of the sum of squares below which progress has stopped.
const SSE_TOLERANCE: f64 = 1e-15;
const LAMBDA_START: f64 = 1e-3;
const LAMBDA_MAX: f64 = 1e16;

/// Minimises the sum of squares from `start`; `None` if `evaluate` fails there. A sum of
/// squares at or below `sse_floor` (residuals at the rounding level of the data) counts as
/// converged: there the residuals are rounding noise and their angle to the Jacobian means
/// nothing.
pub(crate) fn minimise<F>(
    evaluate: F,
    start: Params,
    max_iterations: usize,
    sse_floor: f64,
) -> Option<Minimum>
where
    F: Fn(&Params) -> Option<Evaluation>,
{
    let mut phi = start;
    let mut current = evaluate(&phi)?;
    let mut lambda = LAMBDA_START;
    for iteration in 0..max_iterations {
        if current.sse <= sse_floor {
            return Some(done(phi, current.sse, iteration, FitStatus::Converged));
        }
        let (a, g) = normal_equations(&current.jacobian, &current.residuals);
        let d = jacobi_scale(&a);
        let cosine = (0..3)
            .map(|j| (g[j] * d[j]).abs() / current.sse.sqrt())
            .fold(0.0, f64::max);
        if cosine <= GRADIENT_TOLERANCE {
            return Some(done(phi, current.sse, iteration, FitStatus::Converged));
        }
        let scaled = scale(&a, d);
        let rhs = std::array::from_fn(|j| g[j] * d[j]);
        loop {
            let mut damped = scaled;
            (0..3).for_each(|j| damped[j][j] += lambda);
            let trial = cholesky_solve(&damped, rhs)
                .map(|z| std::array::from_fn(|j| phi[j] + d[j] * z[j]))
                .and_then(|p: Params| evaluate(&p).map(|e| (p, e)));
            match trial {
                Some((p, e)) if e.sse < current.sse => {
                    let decrease = (current.sse - e.sse) / current.sse;
                    phi = p;
                    current = e;
                    lambda = (lambda / 10.0).max(1e-12);
                    if decrease <= SSE_TOLERANCE {
                        return Some(done(phi, current.sse, iteration + 1, FitStatus::Converged));
                    }
                    break;
                }
                _ => {
                    lambda *= 10.0;
                    if lambda > LAMBDA_MAX {
                        let status = if cosine <= 1e-6 || current.sse <= 4.0 * sse_floor {
                            FitStatus::Converged
                        } else {
                            FitStatus::Stalled
                        };
                        return Some(done(phi, current.sse, iteration, status));
                    }
                }
            }
        }
    }
    Some(done(
        phi,
        current.sse,
        max_iterations,
        FitStatus::MaxIterations,
    ))
}

fn done(phi: Params, sse: f64, iterations: usize, status: FitStatus) -> Minimum {
    Minimum {
        phi,
        sse,
        iterations,
        status,
    }
}
