//! Small multiples of scatter plots: 2-D PCA of languages per layer, Lens subspace projections.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::Size;
use crate::error::PlotError;
use crate::frame::{self, Axes, AxisSpec, LABEL_DIST, LegendEntry, MARGIN, Rect, Swatch};
use crate::style;
use crate::ticks::{self, Direction, Scale};
use crate::validate;

/// A grid of scatter panels sharing one legend: a group (a language) has the same colour and
/// marker in every panel.
///
/// ```json
/// {"title": "PCA of sentence embeddings", "x_label": "PC1", "y_label": "PC2",
///  "panels": [{"title": "layer 6", "groups": [{"name": "en", "points": [[0.1, 0.2]]},
///                                             {"name": "es", "points": [[0.3, -0.1]]}]}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScatterPanels {
    pub title: String,
    /// The x axis title, once under the grid.
    pub x_label: String,
    /// The y axis title, once beside the grid.
    pub y_label: String,
    pub panels: Vec<ScatterPanel>,
    /// Panels per row; default: all of up to four in one row, else about a square grid (at
    /// most five columns).
    pub columns: Option<usize>,
    /// Write each point's label (from [`ScatterGroup::labels`]) beside it.
    pub show_labels: bool,
    /// The size of one panel; the chart grows with the grid. Default [`Size::DEFAULT_PANEL`].
    pub panel_size: Option<Size>,
}

/// One panel: its title (e.g. "layer 6") and its groups of points.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScatterPanel {
    pub title: String,
    pub groups: Vec<ScatterGroup>,
}

/// The points of one group (a language) in one panel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScatterGroup {
    /// The legend entry; groups with the same name share colour and marker across panels.
    pub name: String,
    /// `(x, y)` points, `[[x, y], ...]` in JSON.
    pub points: Vec<(f64, f64)>,
    /// Optional per-point labels (one per point), drawn with [`ScatterPanels::show_labels`].
    pub labels: Option<Vec<String>>,
}

const MAX_COLUMNS: usize = 5;
const MARKER_R: i32 = 4;

/// Draws [`ScatterPanels`] as an SVG document.
pub fn scatter_panels(chart: &ScatterPanels) -> Result<String, PlotError> {
    let panel = validate::size(chart.panel_size, Size::DEFAULT_PANEL, "panel_size")?;
    let n = chart.panels.len();
    if n == 0 {
        return Err(PlotError::empty("scatter panels: panels"));
    }
    // Group names in order of first appearance fix each group's colour.
    let mut names: Vec<String> = Vec::new();
    for (p, pan) in chart.panels.iter().enumerate() {
        let pwhat = validate::name("panel", &pan.title, p);
        let mut any = false;
        for (g, grp) in pan.groups.iter().enumerate() {
            let what = format!("{pwhat}, {}", validate::name("group", &grp.name, g));
            validate::points(&grp.points, &what, false)?;
            if let Some(labels) = &grp.labels
                && labels.len() != grp.points.len()
            {
                return Err(PlotError::LengthMismatch {
                    field: format!("{what}, labels"),
                    expected: grp.points.len(),
                    found: labels.len(),
                });
            }
            any |= !grp.points.is_empty();
            if !names.contains(&grp.name) {
                names.push(grp.name.clone());
            }
        }
        if !any {
            return Err(PlotError::empty(pwhat));
        }
    }
    let colour_index = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);

    let columns = match chart.columns {
        Some(0) => return Err(PlotError::invalid("columns", "must be at least 1")),
        Some(c) => c.min(n),
        None if n <= 4 => n,
        None => ((n as f64).sqrt().ceil() as usize).min(MAX_COLUMNS),
    };
    let rows = n.div_ceil(columns);
    let (pw, ph) = (panel.width as i32, panel.height as i32);

    let title_lines = if chart.title.is_empty() {
        Vec::new()
    } else {
        let full_w = columns as f64 * f64::from(pw);
        style::wrap(&style::clean(&chart.title), style::TITLE_PX, full_w, 2)
    };
    let title_h = if title_lines.is_empty() {
        0
    } else {
        (title_lines.len() as f64 * style::TITLE_PX * 1.3).ceil() as i32 + 8
    };
    let x_title = style::clean(&chart.x_label);
    let y_title = style::clean(&chart.y_label);
    let x_title_h = if x_title.is_empty() {
        0
    } else {
        (style::AXIS_LABEL_PX * 1.3).ceil() as i32 + 4
    };
    let y_title_w = if y_title.is_empty() {
        0
    } else {
        (style::AXIS_LABEL_PX * 1.2).ceil() as i32 + 6
    };
    let grid_h = rows as i32 * ph;
    let legend: Vec<LegendEntry> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty())
        .map(|(i, n)| LegendEntry {
            label: style::clean(n),
            swatch: Swatch {
                marker: Some(style::shape(i)),
                ..Swatch::new(style::colour(i))
            },
        })
        .collect();
    let legend_box =
        (!legend.is_empty()).then(|| frame::legend_box(&legend, 180.0, grid_h.max(60)));
    let legend_w = legend_box.as_ref().map_or(0, |l| l.width() + 16);

    let width = MARGIN + y_title_w + columns as i32 * pw + legend_w + MARGIN;
    let height = MARGIN + title_h + grid_h + x_title_h + MARGIN;
    validate::size(
        Some(Size {
            width: width as u32,
            height: height as u32,
        }),
        Size::DEFAULT,
        "scatter panels (the whole grid)",
    )?;
    let grid_left = MARGIN + y_title_w;
    let grid_top = MARGIN + title_h;

    let mut buf = String::new();
    {
        let root =
            SVGBackend::with_string(&mut buf, (width as u32, height as u32)).into_drawing_area();
        root.fill(&style::WHITE)?;
        for (p, pan) in chart.panels.iter().enumerate() {
            let cell = Rect {
                left: grid_left + (p % columns) as i32 * pw,
                top: grid_top + (p / columns) as i32 * ph,
                right: grid_left + (p % columns) as i32 * pw + pw,
                bottom: grid_top + (p / columns) as i32 * ph + ph,
            };
            draw_panel(&root, chart, pan, cell, &colour_index)?;
        }
        let grid_mid_x = grid_left + columns as i32 * pw / 2;
        let grid_mid_y = grid_top + grid_h / 2;
        frame::text(
            &root,
            &style::fit(
                &x_title,
                style::AXIS_LABEL_PX,
                f64::from(columns as i32 * pw),
            ),
            (grid_mid_x, height - MARGIN),
            style::font(style::AXIS_LABEL_PX, &style::TEXT),
            HPos::Center,
            VPos::Bottom,
        )?;
        frame::text(
            &root,
            &style::fit(&y_title, style::AXIS_LABEL_PX, f64::from(grid_h)),
            (MARGIN, grid_mid_y),
            style::font(style::AXIS_LABEL_PX, &style::TEXT).transform(FontTransform::Rotate270),
            HPos::Center,
            VPos::Top,
        )?;
        if let Some(lb) = &legend_box {
            let lb = lb.at(width - MARGIN - lb.width(), grid_top + 4);
            frame::draw_legend(&root, &legend, &lb, false)?;
        }
        let grid = Rect {
            left: grid_left,
            top: grid_top,
            right: grid_left + columns as i32 * pw,
            bottom: grid_top + grid_h,
        };
        frame::draw_title(&root, &title_lines, &grid, width)?;
        root.present()?;
    }
    Ok(buf)
}

fn draw_panel(
    root: &frame::Root<'_>,
    chart: &ScatterPanels,
    pan: &ScatterPanel,
    cell: Rect,
    colour_index: &dyn Fn(&str) -> usize,
) -> Result<(), PlotError> {
    let all = || pan.groups.iter().flat_map(|g| g.points.iter());
    let (x_lo, x_hi) = ticks::extent(all().map(|p| p.0)).unwrap_or((0.0, 1.0));
    let (y_lo, y_hi) = ticks::extent(all().map(|p| p.1)).unwrap_or((0.0, 1.0));
    let (x_lo, x_hi) = ticks::pad(x_lo, x_hi, 0.08);
    let (y_lo, y_hi) = ticks::pad(y_lo, y_hi, 0.08);
    let axis = |lo: f64, hi: f64| AxisSpec {
        scale: Scale::Linear,
        lo,
        hi,
        integer: false,
        label: String::new(),
    };
    let (x, y) = (axis(x_lo, x_hi), axis(y_lo, y_hi));
    let title_h = (style::PANEL_TITLE_PX * 1.4).ceil() as i32 + 6;
    let x_area = LABEL_DIST + (style::SMALL_PX * 1.3).ceil() as i32;
    let top = cell.top + title_h;
    let bottom = cell.bottom - x_area - 8;
    let y_ticks = frame::tick_set(
        &y,
        f64::from(bottom - top),
        Direction::Vertical,
        style::SMALL_PX,
    );
    let y_area = y_ticks
        .iter()
        .map(|t| style::text_width(&t.1, style::SMALL_PX))
        .fold(0.0, f64::max)
        .ceil() as i32
        + LABEL_DIST
        + 4;
    let plot = Rect {
        left: cell.left + y_area,
        top,
        right: cell.right - 14,
        bottom,
    };
    let x_ticks = frame::tick_set(
        &x,
        f64::from(plot.right - plot.left),
        Direction::Horizontal,
        style::SMALL_PX,
    );
    let f = frame::frame_at(
        root,
        &Axes {
            plot,
            x_area,
            y_area,
            x: &x,
            y: &y,
            x_ticks: &x_ticks,
            y_ticks: &y_ticks,
            x_title: "",
            y_title: "",
            tick_px: style::SMALL_PX,
        },
    )?;
    let title = style::fit(
        &style::clean(&pan.title),
        style::PANEL_TITLE_PX,
        f64::from(cell.right - cell.left - 8),
    );
    frame::text(
        root,
        &title,
        ((plot.left + plot.right) / 2, cell.top + 2),
        style::bold(style::PANEL_TITLE_PX, &style::TEXT),
        HPos::Center,
        VPos::Top,
    )?;
    for grp in &pan.groups {
        let c = colour_index(&grp.name);
        for &(px, py) in &grp.points {
            f.marker(px, py, style::colour(c), style::shape(c), MARKER_R, 0.85)?;
        }
    }
    if chart.show_labels {
        for grp in &pan.groups {
            let Some(labels) = &grp.labels else { continue };
            for (&(px, py), label) in grp.points.iter().zip(labels) {
                let label = style::fit(&style::clean(label), style::SMALL_PX, 90.0);
                let at = f.px(px, py);
                frame::text(
                    root,
                    &label,
                    (at.0 + MARKER_R + 2, at.1 - 1),
                    style::font(style::SMALL_PX, &style::TICK_TEXT),
                    HPos::Left,
                    VPos::Center,
                )?;
            }
        }
    }
    Ok(())
}
