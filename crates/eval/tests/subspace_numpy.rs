//! The language-subspace probe against numpy: `fixtures/lsar_numpy.json`, written by
//! `scripts/reference/lsar_fixture.py`, which implements METHODS.md (b) line by line. For each
//! case: `agnostic_raw` (w_c') within 1e-6 relative, the projector onto the specific subspace
//! (Σ s_k s_kᵀ, free of the basis' signs) and the shifts within 1e-5, the first SVD's singular
//! values within 1e-9 of the largest.

mod repr_support;

use std::collections::BTreeMap;

use repr_support::{f64s, norm, projector};
use serde::Deserialize;
use xlingo_eval::{ProbeOptions, probe_layer};

#[derive(Deserialize)]
struct Fixture {
    versions: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    dim: usize,
    rank: Option<usize>,
    rank_used: usize,
    pivot: String,
    languages: Vec<String>,
    states: BTreeMap<String, Vec<Vec<f32>>>,
    singular_values: Vec<f64>,
    agnostic_raw: Vec<f64>,
    agnostic: Vec<f64>,
    projector: Vec<Vec<f64>>,
    shifts: BTreeMap<String, Vec<f64>>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lsar_numpy.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture present");
    serde_json::from_str(&text).expect("fixture parses")
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn probe_equals_numpy() {
    let fixture = fixture();
    assert_eq!(fixture.versions["numpy"], "2.4.6");
    assert_eq!(fixture.cases.len(), 3);
    for case in &fixture.cases {
        let name = &case.name;
        let states: Vec<(String, Vec<Vec<f32>>)> = case
            .languages
            .iter()
            .map(|l| (l.clone(), case.states[l].clone()))
            .collect();
        let options = ProbeOptions {
            rank: case.rank,
            pivot: case.pivot.clone(),
        };
        let got = probe_layer(&states, &options).unwrap();
        assert_eq!(got.dim, case.dim, "{name}");
        assert_eq!(got.rank, case.rank_used, "{name}");
        assert_eq!(got.languages, case.languages, "{name}");
        assert_eq!(got.pivot, case.pivot, "{name}");

        let raw = f64s(&got.agnostic_raw);
        let rel = norm(
            &raw.iter()
                .zip(&case.agnostic_raw)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>(),
        ) / norm(&case.agnostic_raw);
        let rel_max = max_abs_diff(&raw, &case.agnostic_raw)
            / case.agnostic_raw.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(
            rel < 1e-6 && rel_max < 1e-6,
            "{name}: agnostic_raw off by {rel:e} ({rel_max:e})"
        );
        assert!(
            max_abs_diff(&f64s(&got.agnostic), &case.agnostic) < 1e-6,
            "{name}"
        );

        let p = projector(
            &got.specific.iter().map(|s| f64s(s)).collect::<Vec<_>>(),
            case.dim,
        );
        let p_diff = (0..case.dim)
            .flat_map(|i| (0..case.dim).map(move |j| (i, j)))
            .map(|(i, j)| (p[(i, j)] - case.projector[i][j]).abs())
            .fold(0.0, f64::max);
        assert!(p_diff < 1e-5, "{name}: projector off by {p_diff:e}");

        for (language, delta) in &got.shifts {
            let want = &case.shifts[language];
            let diff = max_abs_diff(&f64s(delta), want);
            assert!(diff < 1e-5, "{name}: shift of {language} off by {diff:e}");
            if *language == case.pivot {
                assert!(delta.iter().all(|&x| x == 0.0));
            }
        }

        assert_eq!(got.singular_values.len(), case.singular_values.len());
        let diff = max_abs_diff(&got.singular_values, &case.singular_values);
        assert!(
            diff < 1e-9 * case.singular_values[0],
            "{name}: singular values off by {diff:e}: {:?} vs {:?}",
            got.singular_values,
            case.singular_values
        );
        eprintln!("{name}: agnostic_raw rel {rel:.1e}, projector {p_diff:.1e}");
    }
}
