//! The frame every x/y chart shares: layout (title, tick labels, axis labels, legend), axes and
//! grid through plotters' mesh, and clipped drawing helpers in data coordinates.
//!
//! Coordinates handed to a [`Frame`] are in the transformed space of each axis (log10 of the
//! value on a log axis); plotters sees a linear range there with our own tick positions.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::PlotError;
use crate::style::{self, Shape};
use crate::ticks::{self, Direction, Scale, Tick};

pub(crate) type Root<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Coord = Cartesian2d<TickedRange, TickedRange>;

/// A linear f64 range whose grid lines and tick labels sit at our ticks (plotters' own
/// `WithKeyPoints` loses the label formatter for f64).
#[derive(Debug, Clone)]
pub(crate) struct TickedRange {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    minor: Vec<f64>,
}

impl TickedRange {
    fn new(axis: &AxisSpec, ticks: &[Tick]) -> TickedRange {
        let minor = match axis.scale {
            Scale::Log10 => ticks::log_minor(axis.lo, axis.hi, ticks),
            Scale::Linear => Vec::new(),
        };
        TickedRange {
            lo: axis.lo,
            hi: axis.hi,
            ticks: ticks.iter().map(|t| t.0).collect(),
            minor,
        }
    }
}

impl Ranged for TickedRange {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        let px = f64::from(limit.0) + t * f64::from(limit.1 - limit.0);
        // Far outside the plot is still a valid (clamped) pixel.
        px.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coord>;

pub(crate) const MARGIN: i32 = 14;
const TICK_LEN: i32 = 5;
/// plotters puts tick labels twice the tick length away from the axis.
pub(crate) const LABEL_DIST: i32 = 2 * TICK_LEN;
const LEGEND_ROW: i32 = 18;
const LEGEND_PAD: i32 = 7;
const SWATCH_W: i32 = 26;

/// A segment in transformed data space; a point is a segment of length zero.
pub(crate) type Seg = ((f64, f64), (f64, f64));

/// An axis: its scale, its drawn range (transformed, padded) and its title.
#[derive(Debug, Clone)]
pub(crate) struct AxisSpec {
    pub scale: Scale,
    pub lo: f64,
    pub hi: f64,
    pub integer: bool,
    pub label: String,
}

/// What a legend entry shows before its name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Swatch {
    pub colour: RGBColor,
    /// A line sample; `Some(true)` dashed.
    pub line: Option<bool>,
    pub marker: Option<Shape>,
    pub band: bool,
    pub bar: bool,
}

impl Swatch {
    pub(crate) fn new(colour: RGBColor) -> Swatch {
        Swatch {
            colour,
            line: None,
            marker: None,
            band: false,
            bar: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
}

/// Everything the frame needs to lay a chart out.
pub(crate) struct ChartSpec {
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub x: AxisSpec,
    pub y: AxisSpec,
    /// Category names at x = 0, 1, …, drawn instead of numeric x ticks (bar charts).
    pub x_categories: Option<Vec<String>>,
    pub legend: Vec<LegendEntry>,
    /// Where the data lies, so that the legend can avoid it.
    pub obstacles: Vec<Seg>,
}

/// A pixel rectangle: `left..right` × `top..bottom`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

impl Rect {
    fn width(&self) -> i32 {
        self.right - self.left
    }
    fn height(&self) -> i32 {
        self.bottom - self.top
    }
    fn inflate(&self, by: i32) -> Rect {
        Rect {
            left: self.left - by,
            top: self.top - by,
            right: self.right + by,
            bottom: self.bottom + by,
        }
    }
}

/// Category labels under a bar chart: wrapped lines, or one rotated line each.
#[derive(Debug, Clone)]
struct CategoryLabels {
    lines: Vec<Vec<String>>,
    rotated: bool,
    height: i32,
    /// Label every `stride`-th category (more would overlap).
    stride: usize,
}

/// A legend laid out: its box and its entries in columns.
#[derive(Debug, Clone)]
pub(crate) struct LegendBox {
    rect: Rect,
    column_w: i32,
    rows: usize,
    labels: Vec<String>,
}

/// Lays out a legend for `entries` with its top left corner at the origin: labels cut to
/// `max_label_px`, as many columns as a height of `max_h` needs.
pub(crate) fn legend_box(entries: &[LegendEntry], max_label_px: f64, max_h: i32) -> LegendBox {
    let labels: Vec<String> = entries
        .iter()
        .map(|e| style::fit(&e.label, style::LEGEND_PX, max_label_px))
        .collect();
    let text_w = labels
        .iter()
        .map(|l| style::text_width(l, style::LEGEND_PX))
        .fold(0.0, f64::max)
        .ceil() as i32;
    let column_w = SWATCH_W + 6 + text_w + 12;
    let rows_fit = ((max_h - 2 * LEGEND_PAD) / LEGEND_ROW).max(1) as usize;
    let columns = labels.len().div_ceil(rows_fit).max(1);
    let rows = labels.len().div_ceil(columns).max(1);
    LegendBox {
        rect: Rect {
            left: 0,
            top: 0,
            right: 2 * LEGEND_PAD + columns as i32 * column_w - 12,
            bottom: 2 * LEGEND_PAD + rows as i32 * LEGEND_ROW,
        },
        column_w,
        rows,
        labels,
    }
}

/// A legend in rows across at most `max_w` pixels (entries in columns of equal width).
pub(crate) fn legend_box_wide(entries: &[LegendEntry], max_label_px: f64, max_w: i32) -> LegendBox {
    let one_column = legend_box(entries, max_label_px, i32::MAX / 2);
    let column_w = one_column.column_w;
    let columns =
        (((max_w - 2 * LEGEND_PAD + 12) / column_w).max(1) as usize).min(entries.len().max(1));
    let rows = entries.len().div_ceil(columns).max(1);
    let columns = entries.len().div_ceil(rows).max(1);
    LegendBox {
        rect: Rect {
            left: 0,
            top: 0,
            right: 2 * LEGEND_PAD + columns as i32 * column_w - 12,
            bottom: 2 * LEGEND_PAD + rows as i32 * LEGEND_ROW,
        },
        column_w,
        rows,
        labels: one_column.labels,
    }
}

impl LegendBox {
    pub(crate) fn width(&self) -> i32 {
        self.rect.width()
    }
    pub(crate) fn height(&self) -> i32 {
        self.rect.height()
    }
    /// The same legend with its top left corner at `(x, y)`.
    pub(crate) fn at(&self, x: i32, y: i32) -> LegendBox {
        LegendBox {
            rect: Rect {
                left: x,
                top: y,
                right: x + self.width(),
                bottom: y + self.height(),
            },
            ..self.clone()
        }
    }
}

/// The layout of a single chart.
struct Layout {
    plot: Rect,
    /// Width of the area left of the plot holding y tick labels and the y title.
    y_area: i32,
    /// Height of the area under the plot holding x tick labels and the x title.
    x_area: i32,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    categories: Option<CategoryLabels>,
    title_lines: Vec<String>,
    x_title: String,
    y_title: String,
}

fn title_height(lines: usize) -> i32 {
    if lines == 0 {
        0
    } else {
        (lines as f64 * style::TITLE_PX * 1.3).ceil() as i32 + 10
    }
}

/// Room kept for a legend outside the plot: a column on the right or rows underneath.
#[derive(Debug, Clone, Copy, Default)]
struct Reserve {
    right: i32,
    below: i32,
}

fn lay_out(spec: &ChartSpec, reserve: Reserve) -> Layout {
    // Category labels need the plot width, which needs the y tick labels, which need the plot
    // height, which needs the category labels: guess the y area, then lay out again with it.
    let first = lay_out_with(spec, reserve, None);
    lay_out_with(spec, reserve, Some(first.y_area))
}

fn lay_out_with(spec: &ChartSpec, reserve: Reserve, y_area_guess: Option<i32>) -> Layout {
    let w = spec.width as i32;
    let h = spec.height as i32;
    let title_lines = if spec.title.is_empty() {
        Vec::new()
    } else {
        style::wrap(&spec.title, style::TITLE_PX, f64::from(w - 2 * MARGIN), 2)
    };
    let top = MARGIN + title_height(title_lines.len());
    let x_title_h = if spec.x.label.is_empty() {
        0
    } else {
        (style::AXIS_LABEL_PX * 1.3).ceil() as i32 + 6
    };
    let y_title_w = if spec.y.label.is_empty() {
        0
    } else {
        (style::AXIS_LABEL_PX * 1.2).ceil() as i32 + 8
    };
    let right_margin = MARGIN + 12 + reserve.right;
    let y_area_guess = y_area_guess.unwrap_or(y_title_w + 40);
    let mut categories = None;
    let mut x_tick_h = LABEL_DIST + (style::TICK_PX * 1.25).ceil() as i32;
    if let Some(cats) = &spec.x_categories {
        let guess_w = (w - MARGIN - y_area_guess - right_margin).max(40);
        let c = category_labels(cats, f64::from(guess_w), h);
        x_tick_h = LABEL_DIST + c.height;
        categories = Some(c);
    }
    let x_area = x_tick_h + x_title_h;
    let bottom = h - MARGIN - x_area - reserve.below;
    let plot_h = (bottom - top).max(20);
    let y_ticks = tick_set(
        &spec.y,
        f64::from(plot_h),
        Direction::Vertical,
        style::TICK_PX,
    );
    let y_tick_w = y_ticks
        .iter()
        .map(|t| style::text_width(&t.1, style::TICK_PX))
        .fold(0.0, f64::max)
        .ceil() as i32;
    let y_area = y_title_w + y_tick_w + LABEL_DIST + 4;
    let left = MARGIN + y_area;
    let right = (w - right_margin).max(left + 20);
    let x_ticks = if spec.x_categories.is_some() {
        Vec::new()
    } else {
        tick_set(
            &spec.x,
            f64::from(right - left),
            Direction::Horizontal,
            style::TICK_PX,
        )
    };
    let plot = Rect {
        left,
        top,
        right,
        bottom: top + plot_h,
    };
    let y_title = style::fit(&spec.y.label, style::AXIS_LABEL_PX, f64::from(plot_h));
    let x_title = style::fit(
        &spec.x.label,
        style::AXIS_LABEL_PX,
        f64::from(w - 2 * MARGIN),
    );
    Layout {
        plot,
        y_area,
        x_area,
        x_ticks,
        y_ticks,
        categories,
        title_lines,
        x_title,
        y_title,
    }
}

pub(crate) fn tick_set(axis: &AxisSpec, length: f64, dir: Direction, font_px: f64) -> Vec<Tick> {
    match axis.scale {
        Scale::Linear => ticks::linear_ticks(axis.lo, axis.hi, length, dir, font_px, axis.integer),
        Scale::Log10 => ticks::log_ticks(axis.lo, axis.hi, length, dir, font_px),
    }
}

/// Category names under the bars: one line each where they fit, else wrapped onto up to
/// three lines (long words cut), else, when the slots are too narrow to wrap into, turned
/// to read upwards.
fn category_labels(cats: &[String], plot_w: f64, chart_h: i32) -> CategoryLabels {
    let slot = plot_w / cats.len().max(1) as f64 - 8.0;
    let line_h = style::TICK_PX * 1.25;
    let all_fit = cats
        .iter()
        .all(|c| style::text_width(c, style::TICK_PX) <= slot);
    if !all_fit && slot < 60.0 {
        let max_len = f64::from(chart_h) * 0.25;
        let lines: Vec<Vec<String>> = cats
            .iter()
            .map(|c| vec![style::fit(c, style::TICK_PX, max_len)])
            .collect();
        let longest = lines
            .iter()
            .map(|l| style::text_width(&l[0], style::TICK_PX))
            .fold(0.0, f64::max);
        let pitch = slot + 8.0;
        let stride = ((style::TICK_PX * 1.3) / pitch).ceil().max(1.0) as usize;
        return CategoryLabels {
            lines,
            rotated: true,
            height: longest.ceil() as i32 + 4,
            stride,
        };
    }
    let lines: Vec<Vec<String>> = cats
        .iter()
        .map(|c| style::wrap(c, style::TICK_PX, slot, 3))
        .collect();
    let n = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    CategoryLabels {
        lines,
        rotated: false,
        height: (n as f64 * line_h).ceil() as i32,
        stride: 1,
    }
}

/// Whether the segment `a–b` (pixels) touches `r`.
fn segment_hits(a: (f64, f64), b: (f64, f64), r: &Rect) -> bool {
    clip_segment(
        a,
        b,
        (f64::from(r.left), f64::from(r.right)),
        (f64::from(r.top), f64::from(r.bottom)),
    )
    .is_some()
}

/// The part of segment `a–b` inside `[x0, x1] × [y0, y1]` (Liang–Barsky), if any.
pub(crate) fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// A chart being drawn: the SVG root, the plotters chart (for its coordinate mapping) and the
/// plot rectangle.
pub(crate) struct Frame<'a, 'b> {
    pub root: &'a Root<'b>,
    chart: Chart<'a, 'b>,
    x: (f64, f64),
    y: (f64, f64),
}

/// Where and how to draw one set of axes.
pub(crate) struct Axes<'s> {
    pub plot: Rect,
    /// Height of the area under the plot (x tick labels and title).
    pub x_area: i32,
    /// Width of the area left of the plot (y tick labels and title).
    pub y_area: i32,
    pub x: &'s AxisSpec,
    pub y: &'s AxisSpec,
    pub x_ticks: &'s [Tick],
    pub y_ticks: &'s [Tick],
    pub x_title: &'s str,
    pub y_title: &'s str,
    pub tick_px: f64,
}

fn build_chart<'a, 'b>(root: &'a Root<'b>, a: &Axes<'_>) -> Result<Chart<'a, 'b>, PlotError> {
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let plot = a.plot;
    let chart = ChartBuilder::on(root)
        .margin_top(plot.top)
        .margin_left(plot.left - a.y_area)
        .margin_right(w - plot.right)
        .margin_bottom(h - plot.bottom - a.x_area)
        .x_label_area_size(a.x_area)
        .y_label_area_size(a.y_area)
        .build_cartesian_2d(
            TickedRange::new(a.x, a.x_ticks),
            TickedRange::new(a.y, a.y_ticks),
        )?;
    Ok(chart)
}

/// Builds the coordinate system for `a` on `root` and draws its grid, axes and labels.
pub(crate) fn frame_at<'a, 'b>(
    root: &'a Root<'b>,
    a: &Axes<'_>,
) -> Result<Frame<'a, 'b>, PlotError> {
    let mut chart = build_chart(root, a)?;
    draw_axes(&mut chart, a)?;
    Ok(Frame {
        root,
        chart,
        x: (a.x.lo, a.x.hi),
        y: (a.y.lo, a.y.hi),
    })
}

fn label_of(ticks: &[Tick], v: f64) -> String {
    ticks
        .iter()
        .find(|t| t.0 == v)
        .map(|t| t.1.clone())
        .unwrap_or_default()
}

/// Grid, axes, tick labels and axis titles.
fn draw_axes(chart: &mut Chart<'_, '_>, a: &Axes<'_>) -> Result<(), PlotError> {
    let (x_ticks, y_ticks, x_title, y_title, tick_px) =
        (a.x_ticks, a.y_ticks, a.x_title, a.y_title, a.tick_px);
    let x_fmt = |v: &f64| label_of(x_ticks, *v);
    let y_fmt = |v: &f64| label_of(y_ticks, *v);
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(style::GRID.stroke_width(1))
        .light_line_style(style::GRID_MINOR.stroke_width(1))
        .axis_style(style::AXIS.stroke_width(1))
        .set_all_tick_mark_size(TICK_LEN)
        .x_labels(x_ticks.len().max(1))
        .y_labels(y_ticks.len().max(1))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_label_style(style::font(tick_px, &style::TICK_TEXT))
        .y_label_style(style::font(tick_px, &style::TICK_TEXT))
        .axis_desc_style(style::font(style::AXIS_LABEL_PX, &style::TEXT));
    if !x_title.is_empty() {
        mesh.x_desc(x_title);
    }
    if !y_title.is_empty() {
        mesh.y_desc(y_title);
    }
    mesh.draw()?;
    Ok(())
}

impl<'a, 'b> Frame<'a, 'b> {
    /// The pixel position of a point in transformed data space.
    pub(crate) fn px(&self, x: f64, y: f64) -> (i32, i32) {
        self.chart.backend_coord(&(x, y))
    }

    fn inside(&self, x: f64, y: f64) -> bool {
        let eps = 1e-9 * ((self.x.1 - self.x.0).abs() + (self.y.1 - self.y.0).abs());
        x >= self.x.0 - eps && x <= self.x.1 + eps && y >= self.y.0 - eps && y <= self.y.1 + eps
    }

    /// A line through `points`, clipped to the plot.
    pub(crate) fn polyline(
        &self,
        points: &[(f64, f64)],
        colour: RGBColor,
        width: u32,
        dashed: bool,
    ) -> Result<(), PlotError> {
        let style = colour.stroke_width(width);
        let mut run: Vec<(i32, i32)> = Vec::new();
        let mut runs: Vec<Vec<(i32, i32)>> = Vec::new();
        if points.len() == 1 {
            return Ok(());
        }
        for w in points.windows(2) {
            match clip_segment(w[0], w[1], self.x, self.y) {
                Some((a, b)) => {
                    let (pa, pb) = (self.px(a.0, a.1), self.px(b.0, b.1));
                    if run.last() != Some(&pa) {
                        if run.len() > 1 {
                            runs.push(std::mem::take(&mut run));
                        }
                        run.clear();
                        run.push(pa);
                    }
                    run.push(pb);
                }
                None => {
                    if run.len() > 1 {
                        runs.push(std::mem::take(&mut run));
                    }
                    run.clear();
                }
            }
        }
        if run.len() > 1 {
            runs.push(run);
        }
        for r in runs {
            if dashed {
                self.root.draw(&DashedPathElement::new(r, 7, 4, style))?;
            } else {
                self.root.draw(&PathElement::new(r, style))?;
            }
        }
        Ok(())
    }

    /// A marker at a data point; nothing when the point lies outside the plot.
    pub(crate) fn marker(
        &self,
        x: f64,
        y: f64,
        colour: RGBColor,
        shape: Shape,
        radius: i32,
        opacity: f64,
    ) -> Result<bool, PlotError> {
        if !self.inside(x, y) {
            return Ok(false);
        }
        draw_marker(self.root, self.px(x, y), colour, shape, radius, opacity)?;
        Ok(true)
    }

    /// A filled polygon (in data space) of `colour` at `opacity`, clipped to the plot.
    pub(crate) fn polygon(
        &self,
        points: &[(f64, f64)],
        colour: RGBColor,
        opacity: f64,
    ) -> Result<(), PlotError> {
        let clipped = clip_polygon(points, self.x, self.y);
        if clipped.len() < 3 {
            return Ok(());
        }
        let px: Vec<(i32, i32)> = clipped.iter().map(|p| self.px(p.0, p.1)).collect();
        self.root
            .draw(&Polygon::new(px, colour.mix(opacity).filled()))?;
        Ok(())
    }

    /// The plot's x and y ranges (transformed).
    pub(crate) fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        (self.x, self.y)
    }
}

/// Sutherland–Hodgman clipping of a polygon to `[x0, x1] × [y0, y1]`.
fn clip_polygon(points: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> Vec<(f64, f64)> {
    type Edge = (usize, f64, bool);
    // (coordinate index, bound, keep values ≥ bound)
    let edges: [Edge; 4] = [
        (0, x.0, true),
        (0, x.1, false),
        (1, y.0, true),
        (1, y.1, false),
    ];
    let mut poly = points.to_vec();
    for (axis, bound, keep_above) in edges {
        if poly.is_empty() {
            break;
        }
        let get = |p: &(f64, f64)| if axis == 0 { p.0 } else { p.1 };
        let is_in = |p: &(f64, f64)| {
            if keep_above {
                get(p) >= bound
            } else {
                get(p) <= bound
            }
        };
        let mut out = Vec::with_capacity(poly.len() + 4);
        for i in 0..poly.len() {
            let cur = poly[i];
            let prev = poly[(i + poly.len() - 1) % poly.len()];
            let cross = |a: (f64, f64), b: (f64, f64)| {
                let t = (bound - get(&a)) / (get(&b) - get(&a));
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            };
            match (is_in(&prev), is_in(&cur)) {
                (true, true) => out.push(cur),
                (true, false) => out.push(cross(prev, cur)),
                (false, true) => {
                    out.push(cross(prev, cur));
                    out.push(cur);
                }
                (false, false) => {}
            }
        }
        poly = out;
    }
    poly
}

/// A marker centred on pixel `c`.
pub(crate) fn draw_marker(
    root: &Root<'_>,
    c: (i32, i32),
    colour: RGBColor,
    shape: Shape,
    r: i32,
    opacity: f64,
) -> Result<(), PlotError> {
    let fill = colour.mix(opacity).filled();
    let (x, y) = c;
    match shape {
        Shape::Circle => root.draw(&Circle::new(c, r, fill))?,
        Shape::Square => {
            let s = (f64::from(r) * 0.9).round() as i32;
            root.draw(&Rectangle::new([(x - s, y - s), (x + s, y + s)], fill))?
        }
        Shape::Triangle => {
            let s = r + 1;
            root.draw(&Polygon::new(
                vec![(x, y - s), (x + s, y + s - 1), (x - s, y + s - 1)],
                fill,
            ))?
        }
        Shape::TriangleDown => {
            let s = r + 1;
            root.draw(&Polygon::new(
                vec![(x, y + s), (x + s, y - s + 1), (x - s, y - s + 1)],
                fill,
            ))?
        }
        Shape::Diamond => {
            let s = r + 1;
            root.draw(&Polygon::new(
                vec![(x, y - s), (x + s, y), (x, y + s), (x - s, y)],
                fill,
            ))?
        }
    }
    Ok(())
}

/// Draws text at a pixel position.
pub(crate) fn text(
    root: &Root<'_>,
    s: &str,
    at: (i32, i32),
    style: TextStyle<'_>,
    h: HPos,
    v: VPos,
) -> Result<(), PlotError> {
    if s.is_empty() {
        return Ok(());
    }
    root.draw(&Text::new(s.to_string(), at, style.pos(Pos::new(h, v))))?;
    Ok(())
}

fn draw_swatch(root: &Root<'_>, sw: &Swatch, x: i32, cy: i32) -> Result<(), PlotError> {
    if sw.band {
        root.draw(&Rectangle::new(
            [(x, cy - 7), (x + SWATCH_W, cy + 7)],
            sw.colour.mix(0.2).filled(),
        ))?;
    }
    if sw.bar {
        root.draw(&Rectangle::new(
            [(x + 6, cy - 6), (x + SWATCH_W - 6, cy + 6)],
            sw.colour.filled(),
        ))?;
    }
    if let Some(dashed) = sw.line {
        let style = sw.colour.stroke_width(2);
        if dashed {
            root.draw(&PathElement::new(vec![(x, cy), (x + 8, cy)], style))?;
            root.draw(&PathElement::new(
                vec![(x + 18, cy), (x + SWATCH_W, cy)],
                style,
            ))?;
        } else {
            root.draw(&PathElement::new(vec![(x, cy), (x + SWATCH_W, cy)], style))?;
        }
    }
    if let Some(shape) = sw.marker {
        draw_marker(root, (x + SWATCH_W / 2, cy), sw.colour, shape, 4, 1.0)?;
    }
    Ok(())
}

pub(crate) fn draw_legend(
    root: &Root<'_>,
    entries: &[LegendEntry],
    lb: &LegendBox,
    framed: bool,
) -> Result<(), PlotError> {
    let r = lb.rect;
    if framed {
        root.draw(&Rectangle::new(
            [(r.left, r.top), (r.right, r.bottom)],
            style::WHITE.mix(0.9).filled(),
        ))?;
        root.draw(&Rectangle::new(
            [(r.left, r.top), (r.right, r.bottom)],
            style::LEGEND_BORDER.stroke_width(1),
        ))?;
    }
    for (i, (entry, label)) in entries.iter().zip(&lb.labels).enumerate() {
        let col = (i / lb.rows) as i32;
        let row = (i % lb.rows) as i32;
        let x = r.left + LEGEND_PAD + col * lb.column_w;
        let cy = r.top + LEGEND_PAD + row * LEGEND_ROW + LEGEND_ROW / 2;
        draw_swatch(root, &entry.swatch, x, cy)?;
        text(
            root,
            label,
            (x + SWATCH_W + 6, cy),
            style::font(style::LEGEND_PX, &style::TEXT),
            HPos::Left,
            VPos::Center,
        )?;
    }
    Ok(())
}

/// Lays out and draws a chart's frame, lets `draw` put the data in, then draws the legend and
/// the title on top; returns the SVG text.
pub(crate) fn render(
    spec: &ChartSpec,
    draw: impl FnOnce(&Frame<'_, '_>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (spec.width, spec.height)).into_drawing_area();
        root.fill(&style::WHITE)?;
        let (frame, layout, legend) = place(&root, spec)?;
        draw(&frame)?;
        if let Some((lb, framed)) = &legend {
            draw_legend(&root, &spec.legend, lb, *framed)?;
        }
        if let Some(c) = &layout.categories {
            draw_categories(&frame, c)?;
        }
        draw_title(&root, &layout.title_lines, &layout.plot, spec.width as i32)?;
        root.present()?;
    }
    Ok(buf)
}

impl Layout {
    fn axes<'s>(&'s self, spec: &'s ChartSpec) -> Axes<'s> {
        Axes {
            plot: self.plot,
            x_area: self.x_area,
            y_area: self.y_area,
            x: &spec.x,
            y: &spec.y,
            x_ticks: &self.x_ticks,
            y_ticks: &self.y_ticks,
            x_title: &self.x_title,
            y_title: &self.y_title,
            tick_px: style::TICK_PX,
        }
    }
}

/// Chooses the layout and the legend's place (a free corner inside the plot, else beside it),
/// builds the chart and draws the axes.
#[allow(clippy::type_complexity)]
fn place<'a, 'b>(
    root: &'a Root<'b>,
    spec: &ChartSpec,
) -> Result<(Frame<'a, 'b>, Layout, Option<(LegendBox, bool)>), PlotError> {
    let w = spec.width as i32;
    let layout = lay_out(spec, Reserve::default());
    if spec.legend.is_empty() {
        let frame = frame_at(root, &layout.axes(spec))?;
        return Ok((frame, layout, None));
    }
    let plot = layout.plot;
    let lb = legend_box(&spec.legend, f64::from(w) * 0.3, plot.height() - 12);
    let (lw, lh) = (lb.width(), lb.height());
    let boxed = |x: i32, y: i32| lb.at(x, y);
    // Where the data lies, in pixels (the chart is built, not yet drawn).
    let chart = build_chart(root, &layout.axes(spec))?;
    let to_px = |p: &(f64, f64)| {
        let q = chart.backend_coord(p);
        (f64::from(q.0), f64::from(q.1))
    };
    let obstacles: Vec<((f64, f64), (f64, f64))> = spec
        .obstacles
        .iter()
        .map(|(a, b)| (to_px(a), to_px(b)))
        .collect();
    drop(chart);
    let inset = 8;
    let corners = [
        (plot.right - inset - lw, plot.top + inset),
        (plot.left + inset, plot.top + inset),
        (plot.right - inset - lw, plot.bottom - inset - lh),
        (plot.left + inset, plot.bottom - inset - lh),
    ];
    let fits_inside = lw < plot.width() - 2 * inset && lh < plot.height() - 2 * inset;
    let free = corners.iter().find(|&&(x, y)| {
        let r = Rect {
            left: x,
            top: y,
            right: x + lw,
            bottom: y + lh,
        }
        .inflate(5);
        fits_inside && !obstacles.iter().any(|(a, b)| segment_hits(*a, *b, &r))
    });
    if let Some(&(x, y)) = free {
        let frame = frame_at(root, &layout.axes(spec))?;
        return Ok((frame, layout, Some((boxed(x, y), true))));
    }
    if f64::from(plot.width() - lw - 16) >= f64::from(w) * 0.45 {
        // Beside a narrower plot.
        let layout = lay_out(
            spec,
            Reserve {
                right: lw + 4,
                below: 0,
            },
        );
        let frame = frame_at(root, &layout.axes(spec))?;
        let lb = boxed(w - MARGIN - lw, layout.plot.top);
        return Ok((frame, layout, Some((lb, false))));
    }
    // No room beside the plot: in rows underneath, if the plot keeps some height.
    let wide = legend_box_wide(&spec.legend, f64::from(w) * 0.4, w - 2 * MARGIN);
    let below = wide.height() + 2;
    if plot.height() - below >= 60 {
        let layout = lay_out(spec, Reserve { right: 0, below });
        let frame = frame_at(root, &layout.axes(spec))?;
        let x = ((w - wide.width()) / 2).max(MARGIN);
        let lb = wide.at(
            x,
            spec.height as i32 - MARGIN - wide.height() + LEGEND_PAD / 2,
        );
        return Ok((frame, layout, Some((lb, false))));
    }
    // No room anywhere: the first corner, framed.
    let frame = frame_at(root, &layout.axes(spec))?;
    Ok((
        frame,
        layout,
        Some((boxed(corners[0].0, corners[0].1), true)),
    ))
}

fn draw_categories(frame: &Frame<'_, '_>, c: &CategoryLabels) -> Result<(), PlotError> {
    let (_, (y0, _)) = frame.ranges();
    for (i, lines) in c.lines.iter().enumerate().step_by(c.stride) {
        let (cx, axis_y) = frame.px(i as f64, y0);
        if c.rotated {
            let style =
                style::font(style::TICK_PX, &style::TICK_TEXT).transform(FontTransform::Rotate270);
            text(
                frame.root,
                &lines[0],
                (cx, axis_y + LABEL_DIST),
                style,
                HPos::Right,
                VPos::Center,
            )?;
        } else {
            for (j, line) in lines.iter().enumerate() {
                let y = axis_y + LABEL_DIST + (j as f64 * style::TICK_PX * 1.25).round() as i32;
                text(
                    frame.root,
                    line,
                    (cx, y),
                    style::font(style::TICK_PX, &style::TICK_TEXT),
                    HPos::Center,
                    VPos::Top,
                )?;
            }
        }
    }
    Ok(())
}

/// The title, centred over the plot where it fits, else over the chart.
pub(crate) fn draw_title(
    root: &Root<'_>,
    lines: &[String],
    plot: &Rect,
    width: i32,
) -> Result<(), PlotError> {
    let line_h = (style::TITLE_PX * 1.3).round() as i32;
    for (i, line) in lines.iter().enumerate() {
        let tw = style::text_width(line, style::TITLE_PX).ceil() as i32;
        let mut cx = (plot.left + plot.right) / 2;
        if cx - tw / 2 < MARGIN || cx + tw / 2 > width - MARGIN {
            cx = width / 2;
        }
        text(
            root,
            line,
            (cx, MARGIN + i as i32 * line_h),
            style::bold(style::TITLE_PX, &style::TEXT),
            HPos::Center,
            VPos::Top,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping() {
        let c = clip_segment((-1.0, 0.5), (2.0, 0.5), (0.0, 1.0), (0.0, 1.0)).unwrap();
        assert_eq!(c, ((0.0, 0.5), (1.0, 0.5)));
        assert!(clip_segment((2.0, 2.0), (3.0, 3.0), (0.0, 1.0), (0.0, 1.0)).is_none());
        let p = clip_polygon(
            &[(-1.0, -1.0), (2.0, -1.0), (2.0, 2.0), (-1.0, 2.0)],
            (0.0, 1.0),
            (0.0, 1.0),
        );
        assert_eq!(p.len(), 4);
        assert!(
            p.iter()
                .all(|&(x, y)| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y))
        );
    }
}
