//! The one error type: every chart and the report builder return `Result<String, PlotError>`.

/// What is wrong with a chart's input (or, rarely, with drawing it). The messages name the
/// offending field, series, group or point, e.g. `series "es", point 3: y is NaN`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlotError {
    /// Nothing to draw: no series, no points, no categories, …
    #[error("{what}: nothing to plot")]
    Empty { what: String },
    /// A NaN or infinite number.
    #[error("{field} is {value}, not a finite number")]
    NotFinite { field: String, value: f64 },
    /// Two lists that must have the same length do not.
    #[error("{field}: {found} values where {expected} are needed")]
    LengthMismatch {
        field: String,
        expected: usize,
        found: usize,
    },
    /// A value outside what its axis or field allows (x ≤ 0 on a log axis, min > max, …).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The drawing backend failed (a bug rather than bad input).
    #[error("drawing failed: {0}")]
    Draw(String),
}

impl PlotError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PlotError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn empty(what: impl Into<String>) -> Self {
        PlotError::Empty { what: what.into() }
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for PlotError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}
