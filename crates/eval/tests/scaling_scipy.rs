//! The scaling-law fits against scipy.optimize.curve_fit on the data sets in
//! `fixtures/scaling_scipy.json` (written by `scripts/reference/scaling_fixture.py`): for the
//! form that generated each set, parameters within 1e-6 relative, SSE within 1e-9 relative and
//! covariances (scipy's `pcov`) within 1e-4 relative; for every other form, a sum of squares
//! no worse than scipy's (those fits are often degenerate, parameters running to a bound, so
//! their parameters are not compared); Student t quantiles against scipy.stats.t.ppf.

use std::collections::BTreeMap;

use serde::Deserialize;
use xlingo_eval::scaling::{FitOptions, LawForm, fit_form, student_t_quantile};

#[derive(Deserialize)]
struct Fixture {
    versions: BTreeMap<String, String>,
    sets: Vec<Set>,
    t_quantiles: Vec<TQuantile>,
}

#[derive(Deserialize)]
struct Set {
    name: String,
    form: LawForm,
    x: Vec<f64>,
    y: Vec<f64>,
    fits: BTreeMap<LawForm, ScipyFit>,
}

#[derive(Deserialize)]
struct ScipyFit {
    params: [f64; 3],
    covariance: [[f64; 3]; 3],
    sse: f64,
}

#[derive(Deserialize)]
struct TQuantile {
    p: f64,
    df: f64,
    t: f64,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scaling_scipy.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture present");
    serde_json::from_str(&text).expect("fixture parses")
}

fn relative(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn true_form_fits_equal_scipy() {
    let fixture = fixture();
    assert_eq!(fixture.versions["scipy"], "1.17.1");
    assert_eq!(fixture.sets.len(), 5);
    for set in &fixture.sets {
        let scipy = &set.fits[&set.form];
        let ours = fit_form(set.form, &set.x, &set.y, &FitOptions::default()).expect("fit");
        let mut worst = 0.0_f64;
        for (got, want) in ours.law.params().iter().zip(scipy.params) {
            worst = worst.max(relative(*got, want));
        }
        println!("{}: largest parameter difference {worst:.1e}", set.name);
        assert!(
            worst < 1e-6,
            "{}: {:?} vs {:?}",
            set.name,
            ours.law,
            scipy.params
        );
        assert!(relative(ours.sse, scipy.sse) < 1e-9, "{}", set.name);
        let cov = ours.covariance.expect("identified");
        for (i, (row, scipy_row)) in cov.iter().zip(&scipy.covariance).enumerate() {
            for (j, (got, want)) in row.iter().zip(scipy_row).enumerate() {
                assert!(
                    relative(*got, *want) < 1e-4,
                    "{} cov[{i}][{j}]: {got} vs {want}",
                    set.name
                );
            }
        }
    }
}

#[test]
fn every_form_fits_at_least_as_well_as_scipy() {
    for set in fixture().sets {
        for (&form, scipy) in &set.fits {
            let ours = fit_form(form, &set.x, &set.y, &FitOptions::default()).expect("fit");
            println!(
                "{} / {form}: SSE {} (scipy {})",
                set.name, ours.sse, scipy.sse
            );
            assert!(
                ours.sse <= scipy.sse * (1.0 + 1e-7),
                "{} / {form}: SSE {} > scipy's {}",
                set.name,
                ours.sse,
                scipy.sse
            );
        }
    }
}

#[test]
fn t_quantiles_equal_scipy() {
    let fixture = fixture();
    assert_eq!(fixture.t_quantiles.len(), 32);
    for q in fixture.t_quantiles {
        let got = student_t_quantile(q.p, q.df);
        assert!(
            relative(got, q.t) < 1e-11,
            "t({}, {}) = {got}, scipy {}",
            q.p,
            q.df,
            q.t
        );
    }
}

#[test]
fn forms_are_named_as_in_the_fixture() {
    let names: Vec<String> = LawForm::ALL.iter().map(|f| f.to_string()).collect();
    let fixture = fixture();
    let keys: Vec<String> = fixture.sets[0].fits.keys().map(|f| f.to_string()).collect();
    assert_eq!(keys, names);
}
