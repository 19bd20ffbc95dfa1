//! Input checks shared by the charts; every error names what it is about.

use crate::error::PlotError;
use crate::{Size, ValueRange};

/// Charts smaller than this cannot hold their labels; larger ones are surely a mistake.
const MIN_SIZE: Size = Size {
    width: 200,
    height: 150,
};
const MAX_SIDE: u32 = 10_000;

/// `size` (or `default`), checked.
pub(crate) fn size(size: Option<Size>, default: Size, field: &str) -> Result<Size, PlotError> {
    let s = size.unwrap_or(default);
    if s.width < MIN_SIZE.width || s.height < MIN_SIZE.height {
        return Err(PlotError::invalid(
            field,
            format!(
                "{}×{} is too small (at least {}×{})",
                s.width, s.height, MIN_SIZE.width, MIN_SIZE.height
            ),
        ));
    }
    if s.width > MAX_SIDE || s.height > MAX_SIDE {
        return Err(PlotError::invalid(
            field,
            format!(
                "{}×{} is too large (at most {MAX_SIDE} a side)",
                s.width, s.height
            ),
        ));
    }
    Ok(s)
}

/// `v` if it is finite, else an error naming `field()`.
pub(crate) fn finite(v: f64, field: impl FnOnce() -> String) -> Result<f64, PlotError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(PlotError::NotFinite {
            field: field(),
            value: v,
        })
    }
}

/// How errors name the `i`-th item of a `kind`: by its name, or by its index when unnamed.
pub(crate) fn name(kind: &str, name: &str, i: usize) -> String {
    if name.is_empty() {
        format!("{kind} {i}")
    } else {
        format!("{kind} {name:?}")
    }
}

/// Checks every point of a series; with `log_x`, x must be positive.
pub(crate) fn points(points: &[(f64, f64)], what: &str, log_x: bool) -> Result<(), PlotError> {
    for (j, &(x, y)) in points.iter().enumerate() {
        finite(x, || format!("{what}, point {j}, x"))?;
        finite(y, || format!("{what}, point {j}, y"))?;
        if log_x && x <= 0.0 {
            return Err(PlotError::invalid(
                format!("{what}, point {j}"),
                format!("x = {x} on a log-scale x axis (needs x > 0)"),
            ));
        }
    }
    Ok(())
}

/// A fixed axis range, checked.
pub(crate) fn range(r: &ValueRange, field: &str) -> Result<(f64, f64), PlotError> {
    finite(r.min, || format!("{field}.min"))?;
    finite(r.max, || format!("{field}.max"))?;
    if r.min >= r.max {
        return Err(PlotError::invalid(
            field,
            format!("min ({}) must be below max ({})", r.min, r.max),
        ));
    }
    Ok((r.min, r.max))
}
