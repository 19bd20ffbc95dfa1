//! Grouped bar charts: tok/s per engine, BLEU per language before and after tuning.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::error::PlotError;
use crate::frame::{self, AxisSpec, ChartSpec, LegendEntry, Seg, Swatch};
use crate::style;
use crate::ticks::{self, Scale};
use crate::validate;
use crate::{Size, ValueRange};

/// Categories along x, one bar per group in each.
///
/// ```json
/// {"title": "BLEU", "y_label": "BLEU", "categories": ["es", "de"],
///  "groups": [{"name": "before", "values": [0.85, 1.2]},
///             {"name": "after", "values": [3.95, 4.1],
///              "errors": [{"min": 3.5, "max": 4.3}, null]}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    /// With more than one group the bars stand side by side and a legend names the groups.
    pub groups: Vec<BarGroup>,
    /// Write each bar's value above it.
    pub show_values: bool,
    /// A fixed y range; default: from 0 (or the lowest value) to a little above the highest.
    pub y_range: Option<ValueRange>,
    /// Default [`Size::DEFAULT`].
    pub size: Option<Size>,
}

/// One bar per category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BarGroup {
    pub name: String,
    /// One value per category, in the order of [`BarChart::categories`].
    pub values: Vec<f64>,
    /// An optional min/max error bar per bar (`null` for none), one per category.
    pub errors: Option<Vec<Option<ValueRange>>>,
    /// A palette index; default: the group's position.
    pub color: Option<usize>,
}

const GROUP_WIDTH: f64 = 0.8;

/// Draws a [`BarChart`] as an SVG document.
pub fn bar_chart(chart: &BarChart) -> Result<String, PlotError> {
    let size = validate::size(chart.size, Size::DEFAULT, "size")?;
    let n = chart.categories.len();
    if n == 0 {
        return Err(PlotError::empty("bar chart: categories"));
    }
    if chart.groups.is_empty() {
        return Err(PlotError::empty("bar chart: groups"));
    }
    for (i, g) in chart.groups.iter().enumerate() {
        let what = validate::name("group", &g.name, i);
        if g.values.len() != n {
            return Err(PlotError::LengthMismatch {
                field: format!("{what}, values"),
                expected: n,
                found: g.values.len(),
            });
        }
        for (j, &v) in g.values.iter().enumerate() {
            validate::finite(v, || format!("{what}, {}", category(chart, j)))?;
        }
        if let Some(errors) = &g.errors {
            if errors.len() != n {
                return Err(PlotError::LengthMismatch {
                    field: format!("{what}, errors"),
                    expected: n,
                    found: errors.len(),
                });
            }
            for (j, e) in errors.iter().enumerate() {
                if let Some(e) = e {
                    let at = format!("{what}, {}, error bar", category(chart, j));
                    validate::finite(e.min, || format!("{at}, min"))?;
                    validate::finite(e.max, || format!("{at}, max"))?;
                    if e.min > e.max {
                        return Err(PlotError::invalid(
                            at,
                            format!("min ({}) is above max ({})", e.min, e.max),
                        ));
                    }
                }
            }
        }
    }
    let fixed_y = match &chart.y_range {
        Some(r) => Some(validate::range(r, "y_range")?),
        None => None,
    };

    let k = chart.groups.len();
    let bar_w = GROUP_WIDTH / k as f64;
    let centre =
        |cat: usize, group: usize| cat as f64 - GROUP_WIDTH / 2.0 + (group as f64 + 0.5) * bar_w;
    let error_of = |g: &BarGroup, j: usize| g.errors.as_ref().and_then(|e| e[j]);

    // The value labels, and how far they reach past their bar (in pixels).
    let labels: Vec<Vec<String>> = chart
        .groups
        .iter()
        .map(|g| g.values.iter().map(|&v| ticks::format_value(v)).collect())
        .collect();
    let plot_w_guess = f64::from(size.width) * 0.8;
    let bar_px = plot_w_guess / n as f64 * bar_w;
    let rotate_values = labels
        .iter()
        .flatten()
        .any(|l| style::text_width(l, style::SMALL_PX) > bar_px + 4.0);
    let label_reach = if !chart.show_values {
        0.0
    } else if rotate_values {
        labels
            .iter()
            .flatten()
            .map(|l| style::text_width(l, style::SMALL_PX))
            .fold(0.0, f64::max)
            + 6.0
    } else {
        style::SMALL_PX * 1.3 + 4.0
    };

    let (y_lo, y_hi) = match fixed_y {
        Some(r) => r,
        None => {
            let mut values: Vec<f64> = vec![0.0];
            for g in &chart.groups {
                for (j, &v) in g.values.iter().enumerate() {
                    values.push(v);
                    if let Some(e) = error_of(g, j) {
                        values.push(e.min);
                        values.push(e.max);
                    }
                }
            }
            let (lo, hi) = ticks::extent(values).unwrap_or((0.0, 1.0));
            let (plo, phi) = ticks::pad(lo, hi, 0.05);
            // Room for the value labels: a share of the plot height.
            let plot_h_guess = (f64::from(size.height) - 110.0).max(60.0);
            let extra = (hi - lo).max(f64::MIN_POSITIVE) * label_reach / plot_h_guess;
            let top = if hi > 0.0 {
                phi.max(hi + extra * 1.1)
            } else {
                0.0
            };
            let bottom = if lo < 0.0 {
                plo.min(lo - extra * 1.1)
            } else {
                0.0
            };
            if top > bottom {
                (bottom, top)
            } else {
                ticks::pad(bottom, top, 0.05)
            }
        }
    };

    let legend: Vec<LegendEntry> = if k > 1 {
        chart
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.name.is_empty())
            .map(|(i, g)| LegendEntry {
                label: style::clean(&g.name),
                swatch: Swatch {
                    bar: true,
                    ..Swatch::new(style::colour(g.color.unwrap_or(i)))
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let clamp = |v: f64| v.clamp(y_lo, y_hi);
    let mut obstacles: Vec<Seg> = Vec::new();
    for (i, g) in chart.groups.iter().enumerate() {
        for (j, &v) in g.values.iter().enumerate() {
            let (x0, x1) = (centre(j, i) - bar_w / 2.0, centre(j, i) + bar_w / 2.0);
            let (b, t) = (clamp(0.0), clamp(v));
            obstacles.push(((x0, b), (x0, t)));
            obstacles.push(((x1, b), (x1, t)));
            obstacles.push(((x0, t), (x1, t)));
            obstacles.push(((x0, b), (x1, t)));
            if let Some(e) = error_of(g, j) {
                obstacles.push(((centre(j, i), clamp(e.min)), (centre(j, i), clamp(e.max))));
            }
            if chart.show_values {
                let reach =
                    label_reach / (f64::from(size.height) - 110.0).max(60.0) * (y_hi - y_lo);
                let top = error_of(g, j).map_or(v, |e| e.max.max(v));
                let end = if v >= 0.0 { top + reach } else { v - reach };
                obstacles.push(((centre(j, i), clamp(top)), (centre(j, i), clamp(end))));
            }
        }
    }
    let categories: Vec<String> = chart.categories.iter().map(|c| style::clean(c)).collect();
    let spec = ChartSpec {
        width: size.width,
        height: size.height,
        title: style::clean(&chart.title),
        x: AxisSpec {
            scale: Scale::Linear,
            lo: -0.5,
            hi: n as f64 - 0.5,
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
        x_categories: Some(categories),
        legend,
        obstacles,
    };
    frame::render(&spec, |f| {
        for (i, g) in chart.groups.iter().enumerate() {
            let colour = style::colour(g.color.unwrap_or(i));
            for (j, &v) in g.values.iter().enumerate() {
                let c = centre(j, i);
                let (x0, x1) = (c - bar_w / 2.0, c + bar_w / 2.0);
                let (mut p0, mut p1) = (f.px(x0, clamp(0.0)), f.px(x1, clamp(v)));
                // A hair of white between neighbouring bars of one category.
                if k > 1 {
                    p0.0 += 1;
                }
                if p1.0 <= p0.0 {
                    p1.0 = p0.0 + 1;
                }
                if p0.1 != p1.1 {
                    f.root.draw(&Rectangle::new([p0, p1], colour.filled()))?;
                }
            }
        }
        for (i, g) in chart.groups.iter().enumerate() {
            for j in 0..n {
                if let Some(e) = error_of(g, j) {
                    let c = centre(j, i);
                    let (cx, lo) = f.px(c, clamp(e.min));
                    let (_, hi) = f.px(c, clamp(e.max));
                    let cap = (f.px(c + bar_w / 4.0, 0.0).0 - cx).clamp(2, 6);
                    let style = style::TEXT.stroke_width(1);
                    f.root
                        .draw(&PathElement::new(vec![(cx, lo), (cx, hi)], style))?;
                    f.root.draw(&PathElement::new(
                        vec![(cx - cap, lo), (cx + cap, lo)],
                        style,
                    ))?;
                    f.root.draw(&PathElement::new(
                        vec![(cx - cap, hi), (cx + cap, hi)],
                        style,
                    ))?;
                }
            }
        }
        if chart.show_values {
            for (i, g) in chart.groups.iter().enumerate() {
                for (j, &v) in g.values.iter().enumerate() {
                    let c = centre(j, i);
                    let end = match error_of(g, j) {
                        Some(e) if v >= 0.0 => e.max.max(v),
                        Some(e) => e.min.min(v),
                        None => v,
                    };
                    if end > y_hi || end < y_lo {
                        continue;
                    }
                    let (cx, y) = f.px(c, end);
                    let label = &labels[i][j];
                    let font = style::font(style::SMALL_PX, &style::TEXT);
                    match (rotate_values, v >= 0.0) {
                        (false, true) => frame::text(
                            f.root,
                            label,
                            (cx, y - 3),
                            font,
                            HPos::Center,
                            VPos::Bottom,
                        )?,
                        (false, false) => {
                            frame::text(f.root, label, (cx, y + 3), font, HPos::Center, VPos::Top)?
                        }
                        (true, up) => {
                            let font = font.transform(FontTransform::Rotate270);
                            if up {
                                frame::text(
                                    f.root,
                                    label,
                                    (cx, y - 4),
                                    font,
                                    HPos::Left,
                                    VPos::Center,
                                )?
                            } else {
                                frame::text(
                                    f.root,
                                    label,
                                    (cx, y + 4),
                                    font,
                                    HPos::Right,
                                    VPos::Center,
                                )?
                            }
                        }
                    }
                }
            }
        }
        // The baseline over the bars' feet when the axis does not start at zero.
        if y_lo < 0.0 && y_hi > 0.0 {
            let (x0, y) = f.px(-0.5, 0.0);
            let (x1, _) = f.px(n as f64 - 0.5, 0.0);
            f.root.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                style::AXIS.stroke_width(1),
            ))?;
        }
        Ok(())
    })
}

/// How errors name category `j`.
fn category(chart: &BarChart, j: usize) -> String {
    match chart.categories.get(j) {
        Some(c) if !c.is_empty() => format!("category {c:?}"),
        _ => format!("category {j}"),
    }
}
