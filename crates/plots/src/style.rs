//! Colours, fonts, marker shapes and the text measurer every layout decision uses.
//!
//! Text is measured here, from a table of Helvetica/Arial advance widths widened to cover
//! DejaVu Sans (what a fresh Debian falls back to), and never through plotters: its measurer is
//! a crude estimate natively and a DOM round trip on wasm32 (which needs a `window`). Measuring
//! ourselves keeps the SVG byte-identical on every platform and lets a chart be drawn in a Web
//! Worker. Nothing here reads a font file.

use plotters::style::{FontFamily, FontStyle, RGBColor, TextStyle};

/// The Okabe–Ito colour-blind-safe palette, in the order series and groups take it (yellow,
/// the faintest on white, last). Series beyond eight reuse the colours with another marker shape.
pub const PALETTE: [&str; 8] = [
    "#0072B2", // blue
    "#E69F00", // orange
    "#009E73", // bluish green
    "#D55E00", // vermillion
    "#CC79A7", // reddish purple
    "#56B4E9", // sky blue
    "#000000", // black
    "#F0E442", // yellow
];

const PALETTE_RGB: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xF0, 0xE4, 0x42),
];

pub(crate) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(crate) const TICK_TEXT: RGBColor = RGBColor(0x44, 0x44, 0x44);
pub(crate) const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(crate) const GRID: RGBColor = RGBColor(0xE3, 0xE3, 0xE3);
pub(crate) const GRID_MINOR: RGBColor = RGBColor(0xF2, 0xF2, 0xF2);
pub(crate) const LEGEND_BORDER: RGBColor = RGBColor(0xCC, 0xCC, 0xCC);
pub(crate) const WHITE: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);

/// Font sizes in CSS pixels. plotters writes `size / 1.24` into the SVG; these values survive
/// that round trip as short decimals.
pub(crate) const TITLE_PX: f64 = 16.0;
pub(crate) const AXIS_LABEL_PX: f64 = 12.5;
pub(crate) const TICK_PX: f64 = 11.0;
pub(crate) const LEGEND_PX: f64 = 12.0;
pub(crate) const PANEL_TITLE_PX: f64 = 12.0;
pub(crate) const SMALL_PX: f64 = 10.0;

const FONT_FAMILY: &str = "Helvetica, Arial, sans-serif";

/// The colour of palette slot `i` (cycling).
pub(crate) fn colour(i: usize) -> RGBColor {
    PALETTE_RGB[i % PALETTE_RGB.len()]
}

/// Marker shapes, taken in turn once the eight colours are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
    TriangleDown,
}

const SHAPES: [Shape; 5] = [
    Shape::Circle,
    Shape::Square,
    Shape::Triangle,
    Shape::Diamond,
    Shape::TriangleDown,
];

/// The marker shape of series/group `i`: circles for the first eight, then the next shape.
pub(crate) fn shape(i: usize) -> Shape {
    SHAPES[(i / PALETTE_RGB.len()) % SHAPES.len()]
}

/// A text style of `px` CSS pixels.
pub(crate) fn font(px: f64, colour: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FontFamily::Name(FONT_FAMILY), px * 1.24, FontStyle::Normal)).color(colour)
}

pub(crate) fn bold(px: f64, colour: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FontFamily::Name(FONT_FAMILY), px * 1.24, FontStyle::Bold)).color(colour)
}

/// Helvetica advance widths (1/1000 em) of ASCII 32..=126.
const ASCII_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
    278, 278, 584, 584, 584, 556, 1015, // :;<=>?@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A-M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N-Z
    278, 278, 278, 469, 556, 333, // [\]^_`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a-m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n-z
    334, 260, 334, 584, // {|}~
];

/// DejaVu Sans, the usual fallback for `sans-serif` on Linux, is about this much wider.
const WIDEN: f64 = 1.1;

/// The width of one character in em.
fn char_em(c: char) -> f64 {
    let u = c as u32;
    if (32..=126).contains(&u) {
        return f64::from(ASCII_WIDTHS[(u - 32) as usize]) / 1000.0;
    }
    match u {
        // Combining marks take no room of their own.
        0x0300..=0x036F | 0x200B..=0x200F => 0.0,
        // CJK, Hangul, fullwidth forms: a full em.
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 1.0,
        _ => 0.6,
    }
}

/// The estimated width in pixels of `text` at `px`.
pub(crate) fn text_width(text: &str, px: f64) -> f64 {
    text.chars().map(char_em).sum::<f64>() * px * WIDEN
}

/// `text` without the characters XML 1.0 forbids or that would break a one-line label
/// (control characters become spaces; runs of white space collapse).
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        let c = if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// `text` cut (with an ellipsis) to fit `max_px` at `px`.
pub(crate) fn fit(text: &str, px: f64, max_px: f64) -> String {
    if text_width(text, px) <= max_px {
        return text.to_string();
    }
    let budget = max_px - text_width("…", px);
    let mut width = 0.0;
    let mut out = String::new();
    for c in text.chars() {
        width += char_em(c) * px * WIDEN;
        if width > budget {
            break;
        }
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    out.push('…');
    out
}

/// `text` broken at spaces into at most `max_lines` lines of at most `max_px`; the last line
/// is cut with an ellipsis when the text does not fit.
pub(crate) fn wrap(text: &str, px: f64, max_px: f64, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let mut i = 0;
    while i < words.len() {
        let candidate = if current.is_empty() {
            words[i].to_string()
        } else {
            format!("{current} {}", words[i])
        };
        if text_width(&candidate, px) <= max_px || current.is_empty() {
            current = candidate;
            i += 1;
        } else {
            lines.push(std::mem::take(&mut current));
            if lines.len() == max_lines {
                break;
            }
        }
    }
    if lines.len() == max_lines {
        // Out of lines: the rest goes on the last one, cut.
        let rest = words[i..].join(" ");
        let last = lines.pop().unwrap_or_default();
        let joined = if rest.is_empty() {
            last
        } else {
            format!("{last} {rest}")
        };
        lines.push(fit(&joined, px, max_px));
    } else if !current.is_empty() {
        lines.push(current);
    }
    lines.into_iter().map(|l| fit(&l, px, max_px)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_plausible() {
        // "Hello" in 12 px Helvetica is about 27 px.
        let w = text_width("Hello", 12.0);
        assert!((25.0..33.0).contains(&w), "{w}");
        assert!(text_width("日本", 10.0) > text_width("ab", 10.0));
        assert_eq!(text_width("", 10.0), 0.0);
    }

    #[test]
    fn cleaning_and_fitting() {
        assert_eq!(clean(" a\u{0}b\n\n c "), "a b c");
        let cut = fit("a very long legend entry indeed", 12.0, 60.0);
        assert!(
            cut.ends_with('…') && text_width(&cut, 12.0) <= 60.0,
            "{cut}"
        );
        assert_eq!(fit("short", 12.0, 100.0), "short");
        let lines = wrap("one two three four five six", 12.0, 50.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'));
        assert_eq!(wrap("one two", 12.0, 500.0, 3), vec!["one two".to_string()]);
    }

    #[test]
    fn font_sizes_print_short() {
        for px in [
            TITLE_PX,
            AXIS_LABEL_PX,
            TICK_PX,
            LEGEND_PX,
            PANEL_TITLE_PX,
            SMALL_PX,
        ] {
            let s = format!("{}", px * 1.24 / 1.24);
            assert!(s.len() <= 4, "{px} prints as {s}");
        }
    }
}
