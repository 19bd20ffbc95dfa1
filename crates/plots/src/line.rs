//! Line charts: similarity or retrieval by layer, loss by step.

use serde::{Deserialize, Serialize};

use crate::error::PlotError;
use crate::frame::{self, AxisSpec, ChartSpec, LegendEntry, Seg, Swatch};
use crate::style;
use crate::ticks::{self, Scale};
use crate::validate;
use crate::{Size, ValueRange};

/// Series with at most this many points get markers unless [`LineChart::markers`] says.
pub const AUTO_MARKER_LIMIT: usize = 40;

/// A chart of one or more lines.
///
/// ```json
/// {"title": "Loss", "x_label": "step", "y_label": "loss",
///  "series": [{"name": "train", "points": [[0, 3.7], [50, 2.9]]},
///             {"name": "validation", "points": [[0, 3.8], [50, 3.1]], "dashed": true}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<LineSeries>,
    /// A fixed y range (e.g. 0–1 for a similarity); lines are clipped to it. Default: the
    /// data's range with a little room.
    pub y_range: Option<ValueRange>,
    /// A log10 x axis (every x must be positive).
    pub log_x: bool,
    /// Whole-number x ticks only (layers, epochs).
    pub integer_x: bool,
    /// Draw a marker at every point: default, for series of at most [`AUTO_MARKER_LIMIT`]
    /// points.
    pub markers: Option<bool>,
    /// Default [`Size::DEFAULT`].
    pub size: Option<Size>,
}

/// One line: its legend name and its points, drawn in the given order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LineSeries {
    /// The legend entry (unnamed series get none).
    pub name: String,
    /// `(x, y)` points, `[[x, y], ...]` in JSON.
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// A palette index, to give related series (train and validation loss) one colour.
    /// Default: the series' position.
    pub color: Option<usize>,
}

/// Draws a [`LineChart`] as an SVG document.
pub fn line_chart(chart: &LineChart) -> Result<String, PlotError> {
    let size = validate::size(chart.size, Size::DEFAULT, "size")?;
    if chart.series.is_empty() {
        return Err(PlotError::empty("line chart: series"));
    }
    let xs = if chart.log_x {
        Scale::Log10
    } else {
        Scale::Linear
    };
    for (i, s) in chart.series.iter().enumerate() {
        let what = validate::name("series", &s.name, i);
        if s.points.is_empty() {
            return Err(PlotError::empty(what));
        }
        validate::points(&s.points, &what, chart.log_x)?;
    }
    let fixed_y = match &chart.y_range {
        Some(r) => Some(validate::range(r, "y_range")?),
        None => None,
    };

    // Points in transformed space.
    let series: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| s.points.iter().map(|&(x, y)| (xs.apply(x), y)).collect())
        .collect();
    let all = || series.iter().flatten();
    let (x_lo, x_hi) = ticks::extent(all().map(|p| p.0)).unwrap_or((0.0, 1.0));
    let (x_lo, x_hi) = ticks::pad(x_lo, x_hi, 0.03);
    let (y_lo, y_hi) = match fixed_y {
        Some(r) => r,
        None => {
            let (lo, hi) = ticks::extent(all().map(|p| p.1)).unwrap_or((0.0, 1.0));
            ticks::pad(lo, hi, 0.05)
        }
    };

    let colour_of = |i: usize, s: &LineSeries| s.color.unwrap_or(i);
    let with_markers =
        |s: &LineSeries| chart.markers.unwrap_or(s.points.len() <= AUTO_MARKER_LIMIT);
    let legend: Vec<LegendEntry> = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.name.is_empty())
        .map(|(i, s)| {
            let c = colour_of(i, s);
            LegendEntry {
                label: style::clean(&s.name),
                swatch: Swatch {
                    line: Some(s.dashed),
                    marker: with_markers(s).then(|| style::shape(c)),
                    ..Swatch::new(style::colour(c))
                },
            }
        })
        .collect();
    let mut obstacles: Vec<Seg> = Vec::new();
    for pts in &series {
        obstacles.extend(pts.windows(2).map(|w| (w[0], w[1])));
        obstacles.extend(pts.iter().map(|&p| (p, p)));
    }
    let spec = ChartSpec {
        width: size.width,
        height: size.height,
        title: style::clean(&chart.title),
        x: AxisSpec {
            scale: xs,
            lo: x_lo,
            hi: x_hi,
            integer: chart.integer_x,
            label: style::clean(&chart.x_label),
        },
        y: AxisSpec {
            scale: Scale::Linear,
            lo: y_lo,
            hi: y_hi,
            integer: false,
            label: style::clean(&chart.y_label),
        },
        x_categories: None,
        legend,
        obstacles,
    };
    frame::render(&spec, |f| {
        for (i, (s, pts)) in chart.series.iter().zip(&series).enumerate() {
            let c = colour_of(i, s);
            f.polyline(pts, style::colour(c), 2, s.dashed)?;
        }
        for (i, (s, pts)) in chart.series.iter().zip(&series).enumerate() {
            if !with_markers(s) {
                continue;
            }
            let c = colour_of(i, s);
            for &(x, y) in pts {
                f.marker(x, y, style::colour(c), style::shape(c), 3, 1.0)?;
            }
        }
        Ok(())
    })
}
