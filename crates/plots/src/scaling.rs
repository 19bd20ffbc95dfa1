//! Scaling charts: observed quality against data size, the fitted law and its confidence band.

use serde::{Deserialize, Serialize};

use crate::Size;
use crate::error::PlotError;
use crate::frame::{self, AxisSpec, ChartSpec, LegendEntry, Seg, Swatch};
use crate::style;
use crate::ticks::{self, Scale};
use crate::validate;

/// Observed points, fitted curves and confidence bands, one series per language.
///
/// `band` points deserialise from `xlingo scaling fit`'s `band.points` as they are (the extra
/// fields are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScalingChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<ScalingSeries>,
    /// A log10 x axis (default true; every x must then be positive).
    pub log_x: bool,
    /// A legend entry explaining the shading, e.g. "95% confidence band".
    pub band_label: Option<String>,
    /// Default [`Size::DEFAULT`].
    pub size: Option<Size>,
}

impl Default for ScalingChart {
    fn default() -> Self {
        ScalingChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            log_x: true,
            band_label: None,
            size: None,
        }
    }
}

/// One language: what was measured, the fitted curve sampled at some sizes, and optionally a
/// band around it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScalingSeries {
    pub name: String,
    /// Measured `(size, score)` points, drawn as markers.
    pub observed: Vec<(f64, f64)>,
    /// The fitted law at some sizes, drawn as a line (sorted by size).
    pub fit: Vec<(f64, f64)>,
    /// A band around the fit, drawn shaded.
    pub band: Option<Vec<BandPoint>>,
    /// A palette index; default: the series' position.
    pub color: Option<usize>,
}

/// The band at one size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandPoint {
    pub x: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Draws a [`ScalingChart`] as an SVG document.
pub fn scaling_chart(chart: &ScalingChart) -> Result<String, PlotError> {
    let size = validate::size(chart.size, Size::DEFAULT, "size")?;
    if chart.series.is_empty() {
        return Err(PlotError::empty("scaling chart: series"));
    }
    let xs = if chart.log_x {
        Scale::Log10
    } else {
        Scale::Linear
    };
    let mut bands: Vec<Vec<BandPoint>> = Vec::with_capacity(chart.series.len());
    for (i, s) in chart.series.iter().enumerate() {
        let what = validate::name("series", &s.name, i);
        if s.observed.is_empty() && s.fit.is_empty() {
            return Err(PlotError::empty(format!(
                "{what} (no observed or fitted points)"
            )));
        }
        validate::points(&s.observed, &format!("{what}, observed"), chart.log_x)?;
        validate::points(&s.fit, &format!("{what}, fit"), chart.log_x)?;
        let mut band = s.band.clone().unwrap_or_default();
        for (j, b) in band.iter().enumerate() {
            let at = || format!("{what}, band point {j}");
            validate::finite(b.x, || format!("{}, x", at()))?;
            validate::finite(b.lower, || format!("{}, lower", at()))?;
            validate::finite(b.upper, || format!("{}, upper", at()))?;
            if chart.log_x && b.x <= 0.0 {
                return Err(PlotError::invalid(
                    at(),
                    format!("x = {} on a log-scale x axis (needs x > 0)", b.x),
                ));
            }
            if b.lower > b.upper {
                return Err(PlotError::invalid(
                    at(),
                    format!("lower ({}) is above upper ({})", b.lower, b.upper),
                ));
            }
        }
        if band.len() == 1 {
            return Err(PlotError::invalid(
                format!("{what}, band"),
                "a band needs at least two points",
            ));
        }
        band.sort_by(|a, b| a.x.total_cmp(&b.x));
        bands.push(band);
    }

    let t = |p: &(f64, f64)| (xs.apply(p.0), p.1);
    let observed: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| s.observed.iter().map(t).collect())
        .collect();
    let fits: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| {
            let mut f: Vec<(f64, f64)> = s.fit.iter().map(t).collect();
            f.sort_by(|a, b| a.0.total_cmp(&b.0));
            f
        })
        .collect();
    let polygons: Vec<Vec<(f64, f64)>> = bands
        .iter()
        .map(|band| {
            let upper = band.iter().map(|b| (xs.apply(b.x), b.upper));
            let lower = band.iter().rev().map(|b| (xs.apply(b.x), b.lower));
            upper.chain(lower).collect()
        })
        .collect();

    let everything = || {
        observed
            .iter()
            .chain(&fits)
            .chain(&polygons)
            .flatten()
            .copied()
    };
    let (x_lo, x_hi) = ticks::extent(everything().map(|p| p.0)).unwrap_or((0.0, 1.0));
    let (y_lo, y_hi) = ticks::extent(everything().map(|p| p.1)).unwrap_or((0.0, 1.0));
    let (x_lo, x_hi) = ticks::pad(x_lo, x_hi, 0.04);
    let (y_lo, y_hi) = ticks::pad(y_lo, y_hi, 0.06);

    let colour_of = |i: usize| chart.series[i].color.unwrap_or(i);
    let mut legend: Vec<LegendEntry> = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.name.is_empty())
        .map(|(i, s)| {
            let c = colour_of(i);
            LegendEntry {
                label: style::clean(&s.name),
                swatch: Swatch {
                    line: (!s.fit.is_empty()).then_some(false),
                    marker: (!s.observed.is_empty()).then(|| style::shape(c)),
                    band: !bands[i].is_empty(),
                    ..Swatch::new(style::colour(c))
                },
            }
        })
        .collect();
    if let Some(label) = chart.band_label.as_deref().map(style::clean)
        && !label.is_empty()
    {
        legend.push(LegendEntry {
            label,
            swatch: Swatch {
                band: true,
                ..Swatch::new(style::AXIS)
            },
        });
    }
    let mut obstacles: Vec<Seg> = Vec::new();
    for pts in &observed {
        obstacles.extend(pts.iter().map(|&p| (p, p)));
    }
    for pts in &fits {
        obstacles.extend(pts.windows(2).map(|w| (w[0], w[1])));
    }
    for poly in &polygons {
        // The band's edges and, at each x, the span between them.
        obstacles.extend(poly.windows(2).map(|w| (w[0], w[1])));
        let n = poly.len() / 2;
        obstacles.extend((0..n).map(|k| (poly[k], poly[poly.len() - 1 - k])));
    }

    let spec = ChartSpec {
        width: size.width,
        height: size.height,
        title: style::clean(&chart.title),
        x: AxisSpec {
            scale: xs,
            lo: x_lo,
            hi: x_hi,
            integer: false,
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
        for (i, poly) in polygons.iter().enumerate() {
            if poly.len() >= 4 {
                f.polygon(poly, style::colour(colour_of(i)), 0.18)?;
            }
        }
        for (i, pts) in fits.iter().enumerate() {
            f.polyline(pts, style::colour(colour_of(i)), 2, false)?;
        }
        for (i, pts) in observed.iter().enumerate() {
            let c = colour_of(i);
            for &(x, y) in pts {
                f.marker(x, y, style::colour(c), style::shape(c), 4, 1.0)?;
            }
        }
        Ok(())
    })
}
