//! Axis scales, ranges, tick positions and tick labels.
//!
//! Ticks are chosen here (not by plotters) so that the label widths are known before the
//! layout is fixed: a step is taken only when its labels do not crowd each other.

use crate::style::text_width;

/// How an axis maps values. Charts work in the transformed space (log10 of the value on a log
/// axis) and give plotters a linear range there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log10,
}

impl Scale {
    pub(crate) fn apply(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log10 => v.log10(),
        }
    }
}

/// A tick: its position in transformed space and its label.
pub(crate) type Tick = (f64, String);

/// The smallest and largest of `values` (already transformed), or `None` if there are none.
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `(lo, hi)` widened by `frac` of its span on each side; a zero span is widened to something
/// visible around the value.
pub(crate) fn pad(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        let p = span * frac;
        return (lo - p, hi + p);
    }
    let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
    (lo - d, hi + d)
}

/// One step of the 1–2–5 ladder: `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy)]
struct Step {
    mantissa: i64,
    exponent: i32,
}

impl Step {
    fn value(self) -> f64 {
        times_pow10(self.mantissa as f64, self.exponent)
    }
    fn next(self) -> Step {
        match self.mantissa {
            1 => Step {
                mantissa: 2,
                ..self
            },
            2 => Step {
                mantissa: 5,
                ..self
            },
            _ => Step {
                mantissa: 1,
                exponent: self.exponent + 1,
            },
        }
    }
}

/// `m × 10^e`, dividing for negative `e` so that 3 × 10⁻¹ is exactly the double nearest 0.3.
fn times_pow10(m: f64, e: i32) -> f64 {
    if e >= 0 {
        m * 10f64.powi(e)
    } else {
        m / 10f64.powi(-e)
    }
}

/// How tick values are written: fixed decimals after dividing by a power of 1000 with a suffix.
#[derive(Debug, Clone, Copy)]
struct NumberFormat {
    decimals: usize,
    divisor: f64,
    suffix: &'static str,
    scientific: bool,
}

impl NumberFormat {
    /// The format for ticks `step` apart whose largest magnitude is `max_abs`: thousands as
    /// `k` from 10 000 (1 000 on log axes, where ticks are far apart), then `M`, `B`, `T`.
    fn for_step(step: Step, max_abs: f64, k_from: f64) -> NumberFormat {
        let (divisor, suffix, div_exp) = if max_abs >= 1e12 {
            (1e12, "T", 12)
        } else if max_abs >= 1e9 {
            (1e9, "B", 9)
        } else if max_abs >= 1e6 {
            (1e6, "M", 6)
        } else if max_abs >= k_from {
            (1e3, "k", 3)
        } else {
            (1.0, "", 0)
        };
        let decimals = (div_exp - step.exponent).max(0) as usize;
        NumberFormat {
            decimals,
            divisor,
            suffix,
            scientific: decimals > 5,
        }
    }

    fn format(self, v: f64) -> String {
        if self.scientific {
            return format_scientific(v);
        }
        let s = format!("{:.*}", self.decimals, v / self.divisor);
        let s = if s
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_string()
        } else {
            s
        };
        let s = s.replacen('-', "−", 1);
        if self.suffix.is_empty() || v == 0.0 {
            s
        } else {
            format!("{s}{}", self.suffix)
        }
    }
}

fn format_scientific(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.1e}");
    let s = s.replace(".0e", "e");
    s.replacen('-', "−", 1)
}

/// A compact label for any value (bar value labels, tooltips): three significant digits,
/// thousands as k/M/B.
pub(crate) fn format_value(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e15).contains(&a) {
        return format_scientific(v);
    }
    let exponent = a.log10().floor() as i32;
    let fmt = NumberFormat::for_step(
        Step {
            mantissa: 1,
            exponent: exponent - 2,
        },
        a,
        1e4,
    );
    let fmt = NumberFormat {
        decimals: fmt.decimals.min(3),
        ..fmt
    };
    let s = fmt.format(v);
    // Trailing zeros after the point say nothing here.
    let (num, suffix) = s.split_at(s.trim_end_matches(['k', 'M', 'B', 'T']).len());
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.')
    } else {
        num
    };
    format!("{num}{suffix}")
}

/// Which direction an axis runs: what keeps its labels apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    /// Labels side by side: each needs its width plus a gap.
    Horizontal,
    /// Labels stacked: a minimum pixel distance.
    Vertical,
}

/// Stacked labels sit at least this far apart (less on short axes, down to 24 px).
const MIN_VERTICAL_GAP: f64 = 40.0;
const MIN_HORIZONTAL_GAP: f64 = 48.0;
const LABEL_GAP: f64 = 14.0;

fn fits(ticks: &[Tick], lo: f64, hi: f64, length_px: f64, dir: Direction, font_px: f64) -> bool {
    let scale = length_px / (hi - lo);
    let vertical_gap = (length_px / 5.0).clamp(24.0, MIN_VERTICAL_GAP);
    ticks.windows(2).all(|w| {
        let dist = (w[1].0 - w[0].0) * scale;
        match dir {
            Direction::Vertical => dist >= vertical_gap,
            Direction::Horizontal => {
                let need =
                    (text_width(&w[0].1, font_px) + text_width(&w[1].1, font_px)) / 2.0 + LABEL_GAP;
                dist >= need.max(MIN_HORIZONTAL_GAP)
            }
        }
    })
}

/// Ticks for a linear axis over `[lo, hi]` drawn `length_px` long: the densest 1–2–5 step
/// whose labels do not crowd; with `integer`, only whole numbers.
pub(crate) fn linear_ticks(
    lo: f64,
    hi: f64,
    length_px: f64,
    dir: Direction,
    font_px: f64,
    integer: bool,
) -> Vec<Tick> {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return Vec::new();
    }
    let max_abs = lo.abs().max(hi.abs());
    let mut step = Step {
        mantissa: 1,
        exponent: span.log10().floor() as i32 - 3,
    };
    if integer && step.value() < 1.0 {
        step = Step {
            mantissa: 1,
            exponent: 0,
        };
    }
    let mut last = Vec::new();
    for _ in 0..40 {
        let v = step.value();
        let count = span / v;
        if count <= 60.0 {
            let ticks = ticks_for(lo, hi, step, max_abs);
            if fits(&ticks, lo, hi, length_px, dir, font_px) {
                return ticks;
            }
            if ticks.len() <= 1 {
                return ticks;
            }
            last = ticks;
        }
        step = step.next();
    }
    last
}

fn ticks_for(lo: f64, hi: f64, step: Step, max_abs: f64) -> Vec<Tick> {
    let v = step.value();
    let fmt = NumberFormat::for_step(step, max_abs, 1e4);
    let first = (lo / v).ceil() as i64;
    let last = (hi / v).floor() as i64;
    if last.saturating_sub(first) > 1000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| {
            let t = times_pow10(k as f64 * step.mantissa as f64, step.exponent);
            (t, fmt.format(t))
        })
        .collect()
}

/// Ticks for a log10 axis over `[lo, hi]` (already log10 of the values): whole decades when
/// the axis spans several, else 1–2–5 or 1…9 multiples of them; labels in value space.
pub(crate) fn log_ticks(
    lo: f64,
    hi: f64,
    length_px: f64,
    dir: Direction,
    font_px: f64,
) -> Vec<Tick> {
    if !(hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let first = lo.ceil() as i32;
    let last = hi.floor() as i32;
    let tick = |m: i64, d: i32| {
        let v = times_pow10(m as f64, d);
        let fmt = NumberFormat::for_step(
            Step {
                mantissa: 1,
                exponent: d,
            },
            v,
            1e3,
        );
        (v.log10(), fmt.format(v))
    };
    let multiples = |ms: &[i64]| -> Vec<Tick> {
        let mut out = Vec::new();
        for d in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for &m in ms {
                let t = tick(m, d);
                if t.0 >= lo - 1e-12 && t.0 <= hi + 1e-12 {
                    out.push(t);
                }
            }
        }
        out
    };
    let decades = last - first + 1;
    if decades >= 3 {
        for stride in [1, 2, 3, 4, 5, 10, 20] {
            let ticks: Vec<Tick> = (first..=last)
                .filter(|d| d.rem_euclid(stride) == 0)
                .map(|d| tick(1, d))
                .collect();
            if fits(&ticks, lo, hi, length_px, dir, font_px) || ticks.len() <= 2 {
                return ticks;
            }
        }
    }
    let candidates = [
        multiples(&[1, 2, 5]),
        multiples(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ];
    for ticks in &candidates {
        if ticks.len() >= 3 && fits(ticks, lo, hi, length_px, dir, font_px) {
            return ticks.clone();
        }
    }
    let decade_ticks = multiples(&[1]);
    if decade_ticks.len() >= 2 {
        return decade_ticks;
    }
    // Less than a decade: linear ticks in value space, placed on the log axis.
    let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
    let linear = linear_ticks(vlo, vhi, length_px / 2.0, dir, font_px, false);
    let ticks: Vec<Tick> = linear
        .into_iter()
        .filter(|(v, _)| *v > 0.0)
        .map(|(v, s)| (v.log10(), s))
        .collect();
    if ticks.len() >= 2 {
        return ticks;
    }
    candidates[1].clone()
}

/// Minor grid positions for a log axis whose ticks are consecutive decades: 2…9 times each
/// decade within `[lo, hi]`; none otherwise.
pub(crate) fn log_minor(lo: f64, hi: f64, ticks: &[Tick]) -> Vec<f64> {
    let decades = ticks.len() >= 2
        && ticks.iter().all(|t| t.0.fract() == 0.0)
        && ticks.windows(2).all(|w| w[1].0 - w[0].0 == 1.0);
    if !decades {
        return Vec::new();
    }
    let mut out = Vec::new();
    for d in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for m in 2..=9 {
            let t = times_pow10(f64::from(m), d).log10();
            if t > lo && t < hi {
                out.push(t);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.1.as_str()).collect()
    }

    #[test]
    fn linear_steps() {
        let t = linear_ticks(0.0, 1.0, 300.0, Direction::Vertical, 11.0, false);
        assert_eq!(labels(&t), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = linear_ticks(-0.3, 31.0, 600.0, Direction::Horizontal, 11.0, true);
        assert_eq!(labels(&t).first(), Some(&"0"));
        assert!(t.iter().all(|(v, _)| v.fract() == 0.0));
        let t = linear_ticks(0.0, 2.2, 600.0, Direction::Horizontal, 11.0, true);
        assert_eq!(labels(&t), ["0", "1", "2"]);
        let t = linear_ticks(0.0, 40000.0, 300.0, Direction::Vertical, 11.0, false);
        assert_eq!(labels(&t), ["0", "10k", "20k", "30k", "40k"]);
        let t = linear_ticks(-1.0, 1.0, 200.0, Direction::Vertical, 11.0, false);
        assert_eq!(labels(&t), ["−1.0", "−0.5", "0.0", "0.5", "1.0"]);
    }

    #[test]
    fn log_steps() {
        let t = log_ticks(1.0, 6.0, 600.0, Direction::Horizontal, 11.0);
        assert_eq!(labels(&t), ["10", "100", "1k", "10k", "100k", "1M"]);
        let t = log_ticks(2.0, 3.7, 600.0, Direction::Horizontal, 11.0);
        assert_eq!(labels(&t), ["100", "200", "500", "1k", "2k", "5k"]);
        let t = log_ticks(
            200f64.log10(),
            600f64.log10(),
            600.0,
            Direction::Horizontal,
            11.0,
        );
        assert_eq!(labels(&t), ["200", "300", "400", "500", "600"]);
        let t = log_ticks(-3.0, 0.0, 300.0, Direction::Horizontal, 11.0);
        assert_eq!(labels(&t), ["0.001", "0.01", "0.1", "1"]);
        assert_eq!(log_minor(-3.0, 0.0, &t).len(), 24);
        let t = log_ticks(2.0, 3.7, 600.0, Direction::Horizontal, 11.0);
        assert!(log_minor(2.0, 3.7, &t).is_empty());
    }

    #[test]
    fn values() {
        assert_eq!(format_value(123.456), "123");
        assert_eq!(format_value(3.95), "3.95");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(12345.0), "12.3k");
        assert_eq!(format_value(-2.5), "−2.5");
        assert_eq!(format_value(1e-6), "1e−6");
    }
}
