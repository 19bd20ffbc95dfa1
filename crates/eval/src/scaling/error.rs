//! Errors of the scaling-law fits and the budget allocation, each naming the input at fault.

/// Why a fit, a confidence band or an allocation could not be computed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ScalingError {
    #[error("{xs} x values but {ys} y values: every data size needs its score")]
    LengthMismatch { xs: usize, ys: usize },
    #[error("{n} points; a {parameters}-parameter law needs at least {needed}")]
    TooFewPoints {
        n: usize,
        parameters: usize,
        needed: usize,
    },
    #[error(
        "only {distinct} distinct data sizes; a {parameters}-parameter law needs at least {parameters}"
    )]
    TooFewDistinctX { distinct: usize, parameters: usize },
    #[error("x[{index}] = {x}: data sizes must be positive and finite")]
    NonPositiveX { index: usize, x: f64 },
    #[error("y[{index}] = {y}: scores must be finite")]
    NonFiniteY { index: usize, y: f64 },
    #[error("every y equals {0}: a constant score identifies no increasing law")]
    ConstantY(f64),
    #[error("no functional form could be fitted (all starts gave non-finite predictions)")]
    NoFit,
    #[error("confidence level {0} is not in (0, 1)")]
    InvalidLevel(f64),
    #[error(
        "the {form} fit has no covariance (its Jacobian is singular or it has no residual degrees of freedom): no confidence band"
    )]
    NoCovariance { form: String },
    #[error("language {lang:?}: weight {weight} must be finite and non-negative")]
    InvalidWeight { lang: String, weight: f64 },
    #[error("language {lang:?}: {reason}")]
    InvalidLaw { lang: String, reason: String },
    #[error("language {0:?} is listed twice")]
    DuplicateLanguage(String),
}
