//! Scaling laws of translation quality against translation-data size, and the allocation of
//! a data budget across languages that they imply (METHODS.md, a: "Scaling law and data
//! allocation"; the paper's functional form is unconfirmed, so several are fitted).
//!
//! - [`fit_laws`] fits four monotone concave forms ([`LawForm`]) by nonlinear least squares
//!   and reports parameters, SSE, R², AIC and AICc and the convergence of each; the form with
//!   the lowest AICc is chosen. [`FormFit::confidence_band`] gives a pointwise band for a fit
//!   by the delta method.
//! - [`allocate`] splits a budget of examples across languages to maximise the weighted sum
//!   of predicted scores, exactly (for concave laws), and compares the result with uniform and
//!   proportional-to-available splits. [`AllocationReport::optimal`]`.counts` is the
//!   per-language budget map the MuIT mixer reads (`{"es": 1200, ...}`).
//!
//! Everything is plain `f64` arithmetic with no platform dependencies (wasm-safe).

mod allocate;
mod band;
mod error;
mod fit;
mod law;
mod linalg;
mod lm;
mod stats;

pub use allocate::{
    Allocation, AllocationProblem, AllocationReport, LanguageSpec, allocate, objective,
};
pub use band::{BandMethod, BandPoint, ConfidenceBand};
pub use error::ScalingError;
pub use fit::{
    Criterion, FitOptions, FitReport, FormFit, fit_form, fit_laws, information_criteria, r_squared,
    validate_points,
};
pub use law::{Law, LawForm, Params};
pub use lm::FitStatus;
pub use stats::student_t_quantile;
