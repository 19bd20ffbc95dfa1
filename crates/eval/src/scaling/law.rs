//! The four monotone concave laws of quality against data size, their derivatives, and the
//! exact one-example increments the allocator ranks.
//!
//! All four have three parameters `a`, `b`, `c` (meaning per form, see [`LawForm`]), are
//! increasing and strictly concave on `x > 0` under their constraints, and saturate or grow
//! sub-linearly: the shapes a learning curve may plausibly take. METHODS.md leaves the form
//! the paper used unconfirmed, hence several.

use serde::{Deserialize, Serialize};

/// The parameter vector `[a, b, c]`.
pub type Params = [f64; 3];

/// A functional form of quality `y` against data size `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LawForm {
    /// `y = a − b·x^(−c)`, `b, c > 0`: a power law approaching the ceiling `a`.
    PowerLaw,
    /// `y = a·ln(x + b) + c`, `a > 0, b ≥ 0`: unbounded, each doubling adds about `a·ln 2`.
    Logarithmic,
    /// `y = a − b·exp(−x/c)`, `b, c > 0`: approaches `a` on the scale `c`.
    SaturatingExponential,
    /// `y = a·x/(x + b) + c`, `a, b > 0`: Michaelis–Menten, half of the gain `a` at `x = b`.
    Rational,
}

impl LawForm {
    /// Every form, in the order reports list them.
    pub const ALL: [LawForm; 4] = [
        LawForm::PowerLaw,
        LawForm::Logarithmic,
        LawForm::SaturatingExponential,
        LawForm::Rational,
    ];

    /// Number of fitted parameters (`k` in AIC).
    pub const fn parameter_count(self) -> usize {
        3
    }

    /// The formula, for reports.
    pub const fn formula(self) -> &'static str {
        match self {
            LawForm::PowerLaw => "y = a - b*x^(-c)",
            LawForm::Logarithmic => "y = a*ln(x + b) + c",
            LawForm::SaturatingExponential => "y = a - b*exp(-x/c)",
            LawForm::Rational => "y = a*x/(x + b) + c",
        }
    }

    /// The snake_case name used in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            LawForm::PowerLaw => "power_law",
            LawForm::Logarithmic => "logarithmic",
            LawForm::SaturatingExponential => "saturating_exponential",
            LawForm::Rational => "rational",
        }
    }
}

impl std::fmt::Display for LawForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A fitted (or given) law: a form and its parameters, in the form's natural units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Law {
    pub form: LawForm,
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Law {
    pub fn new(form: LawForm, [a, b, c]: Params) -> Self {
        Law { form, a, b, c }
    }

    pub fn params(&self) -> Params {
        [self.a, self.b, self.c]
    }

    /// Checks the constraints that make the law increasing and concave, so that the
    /// allocator's marginal gains are positive and non-increasing.
    pub fn validate(&self) -> Result<(), String> {
        if !self.params().iter().all(|p| p.is_finite()) {
            return Err(format!("{} law has a non-finite parameter", self.form));
        }
        let ok = match self.form {
            LawForm::PowerLaw | LawForm::SaturatingExponential => self.b > 0.0 && self.c > 0.0,
            LawForm::Logarithmic => self.a > 0.0 && self.b >= 0.0,
            LawForm::Rational => self.a > 0.0 && self.b > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} law with a = {}, b = {}, c = {} is not increasing and concave ({})",
                self.form,
                self.a,
                self.b,
                self.c,
                constraint_text(self.form)
            ))
        }
    }

    /// `f(x)`, for `x > 0` (the power law and the logarithm with `b = 0` diverge at 0).
    pub fn eval(&self, x: f64) -> f64 {
        let Law { a, b, c, .. } = *self;
        match self.form {
            LawForm::PowerLaw => a - b * x.powf(-c),
            LawForm::Logarithmic => a * (x + b).ln() + c,
            LawForm::SaturatingExponential => a - b * (-x / c).exp(),
            LawForm::Rational => a * x / (x + b) + c,
        }
    }

    /// `df/dx`, the marginal gain per example.
    pub fn derivative(&self, x: f64) -> f64 {
        let Law { a, b, c, .. } = *self;
        match self.form {
            LawForm::PowerLaw => b * c * x.powf(-c - 1.0),
            LawForm::Logarithmic => a / (x + b),
            LawForm::SaturatingExponential => b / c * (-x / c).exp(),
            LawForm::Rational => a * b / ((x + b) * (x + b)),
        }
    }

    /// `∂f/∂(a, b, c)` at `x`: the Jacobian row for least squares and the delta method.
    pub fn gradient(&self, x: f64) -> Params {
        let Law { a, b, c, .. } = *self;
        match self.form {
            LawForm::PowerLaw => {
                let p = x.powf(-c);
                [1.0, -p, b * p * x.ln()]
            }
            LawForm::Logarithmic => [(x + b).ln(), a / (x + b), 1.0],
            LawForm::SaturatingExponential => {
                let e = (-x / c).exp();
                [1.0, -e, -b * e * x / (c * c)]
            }
            LawForm::Rational => {
                let s = x + b;
                [x / s, -a * x / (s * s), 1.0]
            }
        }
    }

    /// The law as the allocator sees it: `f(x)` for `x ≥ 1`, and below one example the tangent
    /// at 1, `f(1) + f'(1)·(x − 1)`. The extension keeps the law concave and increasing and
    /// makes "no data" finite (the power law is −∞ at 0); the laws say nothing below the
    /// smallest data size measured anyway.
    pub fn eval_extended(&self, x: f64) -> f64 {
        if x >= 1.0 {
            self.eval(x)
        } else {
            self.eval(1.0) + self.derivative(1.0) * (x - 1.0)
        }
    }

    /// `f̃(k) − f̃(k − 1)` for `k ≥ 1` ([`Law::eval_extended`]): the gain of the `k`-th example,
    /// written without subtracting two nearly equal scores so that it stays accurate when
    /// the gains are 1e-9 of the score. Non-increasing in `k` because the law is concave.
    pub fn increment(&self, k: u64) -> f64 {
        if k == 0 {
            return 0.0;
        }
        if k == 1 {
            return self.derivative(1.0);
        }
        let Law { a, b, c, .. } = *self;
        let x = k as f64;
        match self.form {
            // b·((x−1)^(−c) − x^(−c)) = b·x^(−c)·((1 − 1/x)^(−c) − 1)
            LawForm::PowerLaw => b * x.powf(-c) * (-c * (-1.0 / x).ln_1p()).exp_m1(),
            // a·ln((x + b)/(x − 1 + b))
            LawForm::Logarithmic => a * (1.0 / (x - 1.0 + b)).ln_1p(),
            // b·(e^(−(x−1)/c) − e^(−x/c))
            LawForm::SaturatingExponential => b * (-x / c).exp() * (1.0 / c).exp_m1(),
            // a·(x/(x+b) − (x−1)/(x−1+b))
            LawForm::Rational => a * b / ((x + b) * (x - 1.0 + b)),
        }
    }
}

fn constraint_text(form: LawForm) -> &'static str {
    match form {
        LawForm::PowerLaw | LawForm::SaturatingExponential => "needs b > 0 and c > 0",
        LawForm::Logarithmic => "needs a > 0 and b >= 0",
        LawForm::Rational => "needs a > 0 and b > 0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laws() -> [Law; 4] {
        [
            Law::new(LawForm::PowerLaw, [40.0, 60.0, 0.4]),
            Law::new(LawForm::Logarithmic, [3.0, 50.0, -5.0]),
            Law::new(LawForm::SaturatingExponential, [35.0, 30.0, 2000.0]),
            Law::new(LawForm::Rational, [30.0, 800.0, 5.0]),
        ]
    }

    #[test]
    fn derivative_matches_central_difference() {
        for law in laws() {
            for x in [3.0, 100.0, 5000.0] {
                let h = x * 1e-5;
                let numeric = (law.eval(x + h) - law.eval(x - h)) / (2.0 * h);
                let exact = law.derivative(x);
                assert!(
                    ((numeric - exact) / exact).abs() < 1e-6,
                    "{} at {x}: {numeric} vs {exact}",
                    law.form
                );
            }
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        for law in laws() {
            let x = 700.0;
            let g = law.gradient(x);
            for (j, gj) in g.iter().enumerate() {
                let mut p = law.params();
                let h = p[j].abs() * 1e-6;
                p[j] += h;
                let up = Law::new(law.form, p).eval(x);
                p[j] -= 2.0 * h;
                let down = Law::new(law.form, p).eval(x);
                let numeric = (up - down) / (2.0 * h);
                assert!(
                    (numeric - gj).abs() < 1e-6 * gj.abs().max(1e-3),
                    "{} ∂/∂p{j}: {numeric} vs {gj}",
                    law.form
                );
            }
        }
    }

    #[test]
    fn increments_equal_differences_and_do_not_increase() {
        for law in laws() {
            for k in [2_u64, 3, 10, 250] {
                let diff = law.eval(k as f64) - law.eval(k as f64 - 1.0);
                let inc = law.increment(k);
                assert!(((diff - inc) / inc).abs() < 1e-9, "{} k={k}", law.form);
                assert!(law.increment(k + 1) <= inc);
            }
            let first = law.eval_extended(1.0) - law.eval_extended(0.0);
            assert!((law.increment(1) - first).abs() < 1e-12);
            assert!(law.increment(2) <= law.increment(1));
        }
    }

    #[test]
    fn constraints_are_checked() {
        assert!(
            Law::new(LawForm::PowerLaw, [1.0, -1.0, 0.5])
                .validate()
                .is_err()
        );
        assert!(
            Law::new(LawForm::Logarithmic, [1.0, 0.0, 0.5])
                .validate()
                .is_ok()
        );
        assert!(
            Law::new(LawForm::Rational, [1.0, f64::NAN, 0.5])
                .validate()
                .is_err()
        );
        for law in laws() {
            assert!(law.validate().is_ok());
        }
    }
}
