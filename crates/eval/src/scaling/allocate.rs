//! Splitting a budget of translation examples across languages: maximise `Σ_l w_l·f_l(x_l)`
//! subject to `Σ_l x_l ≤ B` and `0 ≤ x_l ≤ available_l`, `x_l` whole examples, with `f_l`
//! the fitted laws.
//!
//! Method, and why it is exact: give each language's examples one at a time; the `k`-th
//! example of language `l` gains `w_l·(f_l(k) − f_l(k−1))`, which does not increase with `k`
//! because `f_l` is concave. The objective is the sum of the gains of the examples taken, so
//! the optimum takes the `B` largest gains, and because each language's gains are sorted
//! that set is a prefix per language: a count `x_l` per language. Finding it is water-filling
//! on the marginal gain: bisect a threshold `μ` (the Lagrange multiplier of the budget) until
//! the number of examples with gain `> μ` fits the budget; each language's count at `μ` is a
//! binary search over `k`. The bisection runs over the bit patterns of non-negative `f64`
//! (ordered like the numbers), so it ends at two adjacent floats after at most 64 steps;
//! examples with a gain exactly at the threshold are ties, and any of them completes an
//! optimum. The result is the integer optimum itself, not a rounded continuous one, at one-
//! example granularity, in `O(64·L·log max_available)` law evaluations.
//!
//! Below one example a law is extended by its tangent ([`Law::eval_extended`]), so a language
//! given nothing has a finite predicted score. Languages with weight 0 get nothing (their
//! gain is zero, so budget spent on them is wasted); with a budget beyond everything the
//! other languages have, the rest stays unspent.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::ScalingError;
use super::law::Law;

/// One language: its law, its weight in the objective and the examples it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageSpec {
    pub lang: String,
    pub law: Law,
    #[serde(default = "unit_weight")]
    pub weight: f64,
    pub available: u64,
}

fn unit_weight() -> f64 {
    1.0
}

/// A budget and the languages to split it across.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationProblem {
    pub budget: u64,
    pub languages: Vec<LanguageSpec>,
}

/// Counts per language under one strategy, and what the laws predict for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// language → examples: the budget map the MuIT mixer reads.
    pub counts: BTreeMap<String, u64>,
    /// `Σ counts` (≤ budget).
    pub total: u64,
    /// Predicted `Σ_l w_l·f_l(counts_l)`.
    pub objective: f64,
    /// Predicted score `f_l(counts_l)` per language.
    pub predicted: BTreeMap<String, f64>,
}

/// The optimal split and the two baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationReport {
    pub budget: u64,
    /// The exact optimum.
    pub optimal: Allocation,
    /// Equal counts, capped by availability, the examples a capped language cannot use
    /// shared equally among the others (water-filling on counts).
    pub uniform: Allocation,
    /// Counts proportional to availability (largest remainders for the rounding).
    pub proportional: Allocation,
    /// Weighted gain per example at the optimum's margin (the budget's shadow price); absent
    /// when the budget does not bind.
    pub marginal_gain: Option<f64>,
}

impl AllocationReport {
    /// The optimal per-language budget map, `{"es": 1200, ...}` once serialised.
    pub fn budget_map(&self) -> &BTreeMap<String, u64> {
        &self.optimal.counts
    }
}

/// Solves the allocation exactly and compares it with the uniform and proportional splits.
pub fn allocate(problem: &AllocationProblem) -> Result<AllocationReport, ScalingError> {
    validate(problem)?;
    let langs = &problem.languages;
    let (optimal, marginal_gain) = optimal_counts(langs, problem.budget);
    Ok(AllocationReport {
        budget: problem.budget,
        optimal: summarise(langs, &optimal),
        uniform: summarise(langs, &uniform_counts(langs, problem.budget)),
        proportional: summarise(langs, &proportional_counts(langs, problem.budget)),
        marginal_gain,
    })
}

/// Predicted `Σ_l w_l·f̃_l(x_l)` of any counts (one per language, in order).
pub fn objective(langs: &[LanguageSpec], counts: &[u64]) -> f64 {
    langs
        .iter()
        .zip(counts)
        .map(|(l, &x)| l.weight * l.law.eval_extended(x as f64))
        .sum()
}

fn validate(problem: &AllocationProblem) -> Result<(), ScalingError> {
    let mut seen = BTreeSet::new();
    for l in &problem.languages {
        if !seen.insert(l.lang.as_str()) {
            return Err(ScalingError::DuplicateLanguage(l.lang.clone()));
        }
        if !(l.weight.is_finite() && l.weight >= 0.0) {
            return Err(ScalingError::InvalidWeight {
                lang: l.lang.clone(),
                weight: l.weight,
            });
        }
        l.law
            .validate()
            .map_err(|reason| ScalingError::InvalidLaw {
                lang: l.lang.clone(),
                reason,
            })?;
        if !(l.weight * l.law.increment(1)).is_finite() {
            return Err(ScalingError::InvalidLaw {
                lang: l.lang.clone(),
                reason: "weighted marginal gain is not finite".to_string(),
            });
        }
    }
    Ok(())
}

fn summarise(langs: &[LanguageSpec], counts: &[u64]) -> Allocation {
    Allocation {
        counts: langs
            .iter()
            .zip(counts)
            .map(|(l, &x)| (l.lang.clone(), x))
            .collect(),
        total: counts.iter().sum(),
        objective: objective(langs, counts),
        predicted: langs
            .iter()
            .zip(counts)
            .map(|(l, &x)| (l.lang.clone(), l.law.eval_extended(x as f64)))
            .collect(),
    }
}

/// Examples a language can usefully take: all it has if its weight is positive, else none.
fn usable(l: &LanguageSpec) -> u64 {
    if l.weight > 0.0 { l.available } else { 0 }
}

/// The exact optimum (see the module documentation) and the threshold gain.
fn optimal_counts(langs: &[LanguageSpec], budget: u64) -> (Vec<u64>, Option<f64>) {
    let caps: Vec<u64> = langs.iter().map(usable).collect();
    if caps.iter().map(|&c| u128::from(c)).sum::<u128>() <= u128::from(budget) {
        return (caps, None);
    }
    let above = |mu: f64| -> Vec<u64> {
        langs
            .iter()
            .zip(&caps)
            .map(|(l, &cap)| units_above(l, cap, mu))
            .collect()
    };
    let total = |counts: &[u64]| counts.iter().map(|&c| u128::from(c)).sum::<u128>();
    let budget_wide = u128::from(budget);
    if total(&above(0.0)) <= budget_wide {
        // Every positive gain fits; the rest have gains that round to zero.
        let counts = fill_ties(above(0.0), &caps, budget);
        return (counts, Some(0.0));
    }
    let top = langs
        .iter()
        .map(|l| l.weight * l.law.increment(1))
        .fold(0.0, f64::max);
    // Invariant: count(lo) > budget ≥ count(hi).
    let (mut lo, mut hi) = (0.0_f64.to_bits(), top.to_bits());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if total(&above(f64::from_bits(mid))) <= budget_wide {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let counts = fill_ties(
        above(f64::from_bits(hi)),
        &above(f64::from_bits(lo)),
        budget,
    );
    (counts, Some(f64::from_bits(hi)))
}

/// Largest `k ≤ cap` whose `k`-th example gains more than `mu` (gains do not increase in `k`).
fn units_above(l: &LanguageSpec, cap: u64, mu: f64) -> u64 {
    let (mut lo, mut hi) = (0_u64, cap);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if l.weight * l.law.increment(mid) > mu {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Raises `counts` towards `limits`, language by language, until the budget is spent; the
/// examples added all have the same gain, so the order does not change the objective.
fn fill_ties(mut counts: Vec<u64>, limits: &[u64], budget: u64) -> Vec<u64> {
    let mut left = budget.saturating_sub(counts.iter().sum());
    for (c, &limit) in counts.iter_mut().zip(limits) {
        let extra = left.min(limit.saturating_sub(*c));
        *c += extra;
        left -= extra;
    }
    counts
}

/// Equal counts capped by availability: the largest level `τ` with `Σ min(available, τ) ≤ B`,
/// then one more example for the first languages that still have data, while budget remains.
fn uniform_counts(langs: &[LanguageSpec], budget: u64) -> Vec<u64> {
    let caps: Vec<u64> = langs.iter().map(|l| l.available).collect();
    let filled = |tau: u64| -> u128 { caps.iter().map(|&c| u128::from(c.min(tau))).sum() };
    let (mut lo, mut hi) = (0_u64, caps.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if filled(mid) <= u128::from(budget) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let counts: Vec<u64> = caps.iter().map(|&c| c.min(lo)).collect();
    let plus_one: Vec<u64> = caps.iter().map(|&c| c.min(lo.saturating_add(1))).collect();
    fill_ties(counts, &plus_one, budget)
}

/// Counts proportional to availability, `⌊B·a_l/Σa⌋` plus one for the largest remainders
/// (all of it when the budget covers everything).
fn proportional_counts(langs: &[LanguageSpec], budget: u64) -> Vec<u64> {
    let caps: Vec<u128> = langs.iter().map(|l| u128::from(l.available)).collect();
    let sum: u128 = caps.iter().sum();
    let budget = u128::from(budget);
    if sum <= budget {
        return langs.iter().map(|l| l.available).collect();
    }
    // sum > budget ≥ 0, so sum > 0; B·a/Σa < a, so one extra example never exceeds a.
    let mut counts: Vec<u128> = caps.iter().map(|&a| budget * a / sum).collect();
    let mut order: Vec<usize> = (0..caps.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(budget * caps[i] % sum));
    let left = budget - counts.iter().sum::<u128>();
    for &i in order
        .iter()
        .take(usize::try_from(left).unwrap_or(usize::MAX))
    {
        counts[i] += 1;
    }
    counts
        .into_iter()
        .map(|c| u64::try_from(c).unwrap_or(u64::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::LawForm;

    fn spec(lang: &str, available: u64) -> LanguageSpec {
        LanguageSpec {
            lang: lang.to_string(),
            law: Law::new(LawForm::Rational, [30.0, 500.0, 0.0]),
            weight: 1.0,
            available,
        }
    }

    #[test]
    fn uniform_shares_what_capped_languages_leave() {
        let langs = [spec("a", 10), spec("b", 100), spec("c", 100)];
        // τ = 45: 10 + 45 + 45 = 100; one left for b.
        assert_eq!(uniform_counts(&langs, 101), vec![10, 46, 45]);
    }

    #[test]
    fn proportional_rounds_by_largest_remainder() {
        let langs = [spec("a", 1), spec("b", 1), spec("c", 1)];
        assert_eq!(proportional_counts(&langs, 2), vec![1, 1, 0]);
        let langs = [spec("a", 100), spec("b", 300)];
        assert_eq!(proportional_counts(&langs, 10), vec![3, 7]);
        // 10·100/400 = 2.5 → 2, 10·300/400 = 7.5 → 7; remainders tie, the first gets one.
    }

    #[test]
    fn units_above_counts_a_prefix() {
        let l = spec("a", 1_000_000);
        let mu = l.law.increment(1234);
        assert_eq!(units_above(&l, 1_000_000, mu), 1233);
        assert_eq!(units_above(&l, 100, mu), 100);
    }
}
