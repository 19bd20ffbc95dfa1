//! Budget allocation across languages: equal to a brute-force grid search (within one grid
//! step) and to a one-example-at-a-time greedy (exactly) on small problems, the discrete KKT
//! conditions on large ones, never worse than the uniform and proportional splits, within
//! budget and availability; edge cases and errors.

mod scaling_support;

use scaling_support::Rng;
use xlingo_eval::scaling::{
    AllocationProblem, AllocationReport, LanguageSpec, Law, LawForm, ScalingError, allocate,
    objective,
};

fn spec(lang: &str, law: Law, weight: f64, available: u64) -> LanguageSpec {
    LanguageSpec {
        lang: lang.to_string(),
        law,
        weight,
        available,
    }
}

fn counts(report: &AllocationReport, langs: &[LanguageSpec]) -> Vec<u64> {
    langs
        .iter()
        .map(|l| report.optimal.counts[&l.lang])
        .collect()
}

/// Budget, availability and the baselines: what every allocation must satisfy.
fn check_feasible_and_no_worse(problem: &AllocationProblem, report: &AllocationReport) {
    let x = counts(report, &problem.languages);
    assert!(x.iter().sum::<u64>() <= problem.budget);
    assert_eq!(report.optimal.total, x.iter().sum::<u64>());
    for (l, &c) in problem.languages.iter().zip(&x) {
        assert!(c <= l.available, "{}: {c} > {}", l.lang, l.available);
    }
    let tolerance = 1e-12 * report.optimal.objective.abs().max(1.0);
    for baseline in [&report.uniform, &report.proportional] {
        assert!(baseline.total <= problem.budget);
        assert!(report.optimal.objective >= baseline.objective - tolerance);
        for l in &problem.languages {
            assert!(baseline.counts[&l.lang] <= l.available);
        }
    }
    assert!((objective(&problem.languages, &x) - report.optimal.objective).abs() <= tolerance);
}

/// The best allocation on the grid `0, h, 2h, …` (plus each cap), by exhaustive search.
fn brute_force(problem: &AllocationProblem, h: u64) -> (Vec<u64>, f64) {
    let grids: Vec<Vec<(u64, f64)>> = problem
        .languages
        .iter()
        .map(|l| {
            let mut points: Vec<u64> = (0..=l.available / h).map(|i| i * h).collect();
            points.push(l.available);
            points.dedup();
            points
                .into_iter()
                .map(|x| (x, l.weight * l.law.eval_extended(x as f64)))
                .collect()
        })
        .collect();
    let mut best = (vec![0; grids.len()], f64::NEG_INFINITY);
    let mut current = Vec::new();
    search(&grids, problem.budget, 0.0, &mut current, &mut best);
    best
}

fn search(
    grids: &[Vec<(u64, f64)>],
    left: u64,
    value: f64,
    current: &mut Vec<u64>,
    best: &mut (Vec<u64>, f64),
) {
    let Some((grid, rest)) = grids.split_first() else {
        if value > best.1 {
            *best = (current.clone(), value);
        }
        return;
    };
    for &(x, v) in grid.iter().take_while(|(x, _)| *x <= left) {
        current.push(x);
        search(rest, left - x, value + v, current, best);
        current.pop();
    }
}

fn two_languages() -> AllocationProblem {
    AllocationProblem {
        budget: 6000,
        languages: vec![
            spec(
                "es",
                Law::new(LawForm::PowerLaw, [40.0, 120.0, 0.35]),
                1.0,
                5000,
            ),
            spec(
                "zh",
                Law::new(LawForm::Rational, [30.0, 3000.0, 2.0]),
                2.0,
                10_000,
            ),
        ],
    }
}

fn three_languages() -> AllocationProblem {
    AllocationProblem {
        budget: 12_000,
        languages: vec![
            spec(
                "ar",
                Law::new(LawForm::SaturatingExponential, [35.0, 30.0, 3000.0]),
                1.0,
                20_000,
            ),
            spec(
                "hi",
                Law::new(LawForm::Logarithmic, [3.0, 200.0, 0.0]),
                0.5,
                8000,
            ),
            // Its cap binds: the optimum would give it more.
            spec(
                "tr",
                Law::new(LawForm::PowerLaw, [45.0, 200.0, 0.3]),
                1.0,
                2500,
            ),
        ],
    }
}

#[test]
fn optimum_equals_brute_force_within_one_grid_step() {
    for (problem, h) in [(two_languages(), 10), (three_languages(), 50)] {
        let report = allocate(&problem).expect("allocate");
        check_feasible_and_no_worse(&problem, &report);
        let (grid_best, grid_value) = brute_force(&problem, h);
        let ours = counts(&report, &problem.languages);
        println!(
            "ours {ours:?} ({}), grid {grid_best:?} ({grid_value})",
            report.optimal.objective
        );
        assert!(report.optimal.objective >= grid_value - 1e-9);
        for (o, g) in ours.iter().zip(&grid_best) {
            assert!(o.abs_diff(*g) <= h, "ours {ours:?}, grid {grid_best:?}");
        }
        assert_eq!(
            report.optimal.total, problem.budget,
            "increasing laws use it all"
        );
    }
    let report = allocate(&three_languages()).expect("allocate");
    assert_eq!(report.optimal.counts["tr"], 2500);
}

/// Gives one example at a time to the language gaining most (the classical exact algorithm
/// for separable concave objectives; O(B·L), so small budgets only).
fn greedy(problem: &AllocationProblem) -> Vec<u64> {
    let langs = &problem.languages;
    let mut x = vec![0_u64; langs.len()];
    for _ in 0..problem.budget {
        let best = langs
            .iter()
            .enumerate()
            .filter(|(i, l)| l.weight > 0.0 && x[*i] < l.available)
            .map(|(i, l)| (i, l.weight * l.law.increment(x[i] + 1)))
            .max_by(|p, q| p.1.total_cmp(&q.1));
        match best {
            Some((i, _)) => x[i] += 1,
            None => break,
        }
    }
    x
}

fn random_law(rng: &mut Rng) -> Law {
    let u = |rng: &mut Rng| 0.5 + rng.normal().abs();
    let form = LawForm::ALL[(u(rng) * 1000.0) as usize % 4];
    let params = match form {
        LawForm::PowerLaw => [40.0 * u(rng), 100.0 * u(rng), 0.4 * u(rng)],
        LawForm::Logarithmic => [3.0 * u(rng), 50.0 * u(rng), 0.0],
        LawForm::SaturatingExponential => [35.0, 30.0 * u(rng), 300.0 * u(rng)],
        LawForm::Rational => [30.0 * u(rng), 300.0 * u(rng), 1.0],
    };
    Law::new(form, params)
}

#[test]
fn optimum_equals_one_example_at_a_time_greedy() {
    let mut rng = Rng::new(42);
    for case in 0..40 {
        let languages = (0..3)
            .map(|i| {
                let weight = if case % 7 == 3 && i == 1 {
                    0.0
                } else {
                    0.5 + rng.normal().abs()
                };
                let available = (rng.normal().abs() * 800.0) as u64;
                spec(&format!("l{i}"), random_law(&mut rng), weight, available)
            })
            .collect();
        let problem = AllocationProblem {
            budget: (rng.normal().abs() * 1200.0) as u64,
            languages,
        };
        let report = allocate(&problem).expect("allocate");
        check_feasible_and_no_worse(&problem, &report);
        let reference = greedy(&problem);
        assert_eq!(
            counts(&report, &problem.languages),
            reference,
            "case {case}: {problem:?}"
        );
    }
}

#[test]
fn large_budgets_satisfy_the_discrete_optimality_conditions() {
    // Every language strictly between 0 and its cap has its last example worth at least the
    // threshold and its next one at most the threshold; capped ones are worth at least it.
    let problem = AllocationProblem {
        budget: 3_000_000_000,
        languages: vec![
            spec(
                "ar",
                Law::new(LawForm::PowerLaw, [40.0, 120.0, 0.35]),
                1.0,
                2_000_000_000,
            ),
            spec(
                "el",
                Law::new(LawForm::Logarithmic, [3.0, 10.0, 0.0]),
                1.5,
                900_000_000,
            ),
            spec(
                "hi",
                Law::new(LawForm::Rational, [30.0, 5e7, 0.0]),
                1.0,
                4_000_000_000,
            ),
            spec(
                "vi",
                Law::new(LawForm::SaturatingExponential, [30.0, 25.0, 3e8]),
                1.0,
                5_000_000_000,
            ),
        ],
    };
    let report = allocate(&problem).expect("allocate");
    check_feasible_and_no_worse(&problem, &report);
    assert_eq!(report.optimal.total, problem.budget);
    let mu = report.marginal_gain.expect("budget binds");
    for l in &problem.languages {
        let x = report.optimal.counts[&l.lang];
        assert!(x > 0);
        assert!(l.weight * l.law.increment(x) >= mu, "{}", l.lang);
        if x < l.available {
            assert!(l.weight * l.law.increment(x + 1) <= mu, "{}", l.lang);
        }
    }
    println!("{:?}", report.optimal.counts);
}

#[test]
fn budget_beyond_everything_takes_all_that_has_weight() {
    let mut problem = three_languages();
    problem.budget = 1_000_000;
    problem.languages[1].weight = 0.0;
    let report = allocate(&problem).expect("allocate");
    check_feasible_and_no_worse(&problem, &report);
    assert_eq!(report.optimal.counts["ar"], 20_000);
    assert_eq!(
        report.optimal.counts["hi"], 0,
        "weight 0: budget spent there is wasted"
    );
    assert_eq!(report.optimal.counts["tr"], 2500);
    assert_eq!(report.marginal_gain, None);
    for baseline in [&report.uniform, &report.proportional] {
        assert_eq!(baseline.total, 30_500);
    }
    assert_eq!(report.uniform.objective, report.optimal.objective);
}

#[test]
fn zero_available_and_zero_weight_languages_get_nothing_and_change_nothing() {
    let base = two_languages();
    let reference = allocate(&base).expect("allocate");
    let mut problem = base.clone();
    problem.languages.push(spec(
        "sw",
        Law::new(LawForm::PowerLaw, [30.0, 100.0, 0.5]),
        1.0,
        0,
    ));
    problem.languages.push(spec(
        "tr",
        Law::new(LawForm::Rational, [40.0, 100.0, 0.0]),
        0.0,
        10_000,
    ));
    let report = allocate(&problem).expect("allocate");
    check_feasible_and_no_worse(&problem, &report);
    assert_eq!(report.optimal.counts["sw"], 0);
    assert_eq!(report.optimal.counts["tr"], 0);
    assert_eq!(report.optimal.counts["es"], reference.optimal.counts["es"]);
    assert_eq!(report.optimal.counts["zh"], reference.optimal.counts["zh"]);
    // sw's score with no data is the tangent extension at one example: f(1) − f'(1).
    let sw = Law::new(LawForm::PowerLaw, [30.0, 100.0, 0.5]);
    let want = sw.eval(1.0) - sw.derivative(1.0);
    assert!((report.optimal.predicted["sw"] - want).abs() < 1e-12);
    assert!((want - -120.0).abs() < 1e-12, "30 − 100 − 100·0.5 = −120");
    // The uniform split gives tr (weight 0) a share, so it is strictly worse here.
    assert!(report.uniform.counts["tr"] > 0);
    assert!(report.optimal.objective > report.uniform.objective);
}

#[test]
fn all_weights_zero_or_no_budget_allocates_nothing() {
    let mut problem = three_languages();
    problem.languages.iter_mut().for_each(|l| l.weight = 0.0);
    let report = allocate(&problem).expect("allocate");
    assert_eq!(report.optimal.total, 0);
    assert_eq!(report.optimal.objective, 0.0);
    let mut problem = three_languages();
    problem.budget = 0;
    let report = allocate(&problem).expect("allocate");
    assert_eq!(report.optimal.total, 0);
    assert_eq!(report.uniform.total, 0);
    assert_eq!(report.proportional.total, 0);
}

#[test]
fn baselines_are_as_documented() {
    let report = allocate(&three_languages()).expect("allocate");
    // Uniform: level 4750 for ar and hi, tr capped at 2500: 4750 + 4750 + 2500 = 12000.
    let uniform: Vec<u64> = ["ar", "hi", "tr"]
        .iter()
        .map(|l| report.uniform.counts[*l])
        .collect();
    assert_eq!(uniform, vec![4750, 4750, 2500]);
    // Proportional: 12000·(20000, 8000, 2500)/30500 = 7868.85, 3147.54, 983.61
    // → 7868, 3147, 983 and the 2 left go to the largest remainders (0.85, 0.61).
    let prop: Vec<u64> = ["ar", "hi", "tr"]
        .iter()
        .map(|l| report.proportional.counts[*l])
        .collect();
    assert_eq!(prop, vec![7869, 3147, 984]);
    assert!(report.optimal.objective > report.uniform.objective);
    assert!(report.optimal.objective > report.proportional.objective);
    println!(
        "optimal {:.4}, uniform {:.4}, proportional {:.4}",
        report.optimal.objective, report.uniform.objective, report.proportional.objective
    );
}

#[test]
fn budget_map_is_the_mixer_json_object() {
    let problem: AllocationProblem = serde_json::from_str(
        r#"{"budget": 1000, "languages": [
            {"lang": "es", "law": {"form": "rational", "a": 30.0, "b": 500.0, "c": 0.0}, "available": 5000},
            {"lang": "de", "law": {"form": "rational", "a": 30.0, "b": 500.0, "c": 0.0}, "available": 300}
        ]}"#,
    )
    .expect("problem parses; weight defaults to 1");
    assert_eq!(problem.languages[0].weight, 1.0);
    let report = allocate(&problem).expect("allocate");
    // Same law and weight: equal shares, de capped at 300.
    let json = serde_json::to_string(report.budget_map()).expect("serialise");
    assert_eq!(json, r#"{"de":300,"es":700}"#);
}

#[test]
fn bad_problems_get_clear_errors() {
    let law = Law::new(LawForm::Rational, [30.0, 500.0, 0.0]);
    let run = |languages: Vec<LanguageSpec>| {
        allocate(&AllocationProblem {
            budget: 100,
            languages,
        })
        .map(|r| r.optimal.total)
    };
    assert_eq!(
        run(vec![spec("es", law, 1.0, 10), spec("es", law, 1.0, 10)]),
        Err(ScalingError::DuplicateLanguage("es".to_string()))
    );
    assert_eq!(
        run(vec![spec("es", law, -1.0, 10)]),
        Err(ScalingError::InvalidWeight {
            lang: "es".to_string(),
            weight: -1.0
        })
    );
    assert!(matches!(
        run(vec![spec("es", law, f64::NAN, 10)]),
        Err(ScalingError::InvalidWeight { .. })
    ));
    let falling = Law::new(LawForm::PowerLaw, [30.0, -5.0, 0.5]);
    let err = run(vec![spec("fr", falling, 1.0, 10)]).expect_err("decreasing law");
    assert_eq!(
        err.to_string(),
        "language \"fr\": power_law law with a = 30, b = -5, c = 0.5 is not increasing and concave (needs b > 0 and c > 0)"
    );
    assert_eq!(run(vec![]), Ok(0));
}
