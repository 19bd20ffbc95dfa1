//! Charts as SVG text, drawn with plotters, for the `xlingo` CLI and the web app (wasm32), and
//! a self-contained HTML report page ([`report::html_page`]).
//!
//! Every chart is described by a plain serde struct (so the CLI and the web app can build it
//! from the JSON the other tools write) and drawn by one function returning the SVG document:
//!
//! - [`line_chart`]: curves such as similarity or retrieval by layer, or loss by step;
//! - [`scatter_panels`]: a grid of small scatter plots with one shared legend (PCA per layer);
//! - [`bar_chart`]: grouped bars with optional min/max error bars (benchmarks, BLEU);
//! - [`scaling_chart`]: observed points, fitted curves and shaded confidence bands.
//!
//! Input is checked before anything is drawn: a NaN or infinite value, an empty chart, lists of
//! different lengths or a non-positive value on a log axis give a [`PlotError`] that names the
//! series (or group, panel, category) and point. Nothing panics on user data.
//!
//! The output is deterministic (the same input gives the same bytes, natively and on wasm32):
//! text is measured with a built-in table rather than by plotters, which needs the DOM on
//! wasm32, so charts can be drawn off the main thread too and no system font is ever read.
//! Colours come from the Okabe–Ito palette ([`PALETTE`]) in a fixed order; beyond eight
//! series the colours repeat with another marker shape.

mod bar;
mod error;
pub mod figures;
mod frame;
mod line;
pub mod report;
mod scaling;
mod scatter;
mod style;
mod ticks;
mod validate;

use serde::{Deserialize, Serialize};

pub use bar::{BarChart, BarGroup, bar_chart};
pub use error::PlotError;
pub use line::{AUTO_MARKER_LIMIT, LineChart, LineSeries, line_chart};
pub use scaling::{BandPoint, ScalingChart, ScalingSeries, scaling_chart};
pub use scatter::{ScatterGroup, ScatterPanel, ScatterPanels, scatter_panels};
pub use style::PALETTE;

/// A size in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    /// The size of a single chart unless one is given.
    pub const DEFAULT: Size = Size {
        width: 800,
        height: 480,
    };
    /// The size of one scatter panel unless one is given.
    pub const DEFAULT_PANEL: Size = Size {
        width: 300,
        height: 260,
    };
}

/// A closed interval `[min, max]`: a fixed axis range, or an error bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueRange {
    pub min: f64,
    pub max: f64,
}
