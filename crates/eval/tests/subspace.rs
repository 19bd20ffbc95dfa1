//! The language-subspace probe on synthetic states with a KNOWN structure, the projections,
//! the safetensors round trip, and bad input.
//!
//! States: h_{l,i} = m + c_i + o_l + noise, with m a large mean shared by everything (as
//! hidden states have), c_i the content of prompt i (identical in every language), o_l a
//! language offset inside a known subspace B, and small Gaussian noise. The probe should find
//! span{o_l − ō} as its specific subspace, δ_l ≈ o_l − o_pivot, an agnostic direction
//! orthogonal to it, and leave the content out of it.

mod repr_support;

use nalgebra::DMatrix;
use repr_support::{Rng, add, columns, dot, f64s, norm, projector, sub, to_f32};
use xlingo_eval::subspace::{SAFETENSORS_FORMAT, SAFETENSORS_METADATA_KEY};
use xlingo_eval::{
    LayerSubspaces, ProbeOptions, ReprError, from_safetensors, probe_layer, safetensors_metadata,
    to_safetensors,
};

struct Synthetic {
    states: Vec<(String, Vec<Vec<f32>>)>,
    /// Orthonormal basis of the language subspace B.
    language_basis: Vec<Vec<f64>>,
    offsets: Vec<Vec<f64>>,
    contents: Vec<Vec<f64>>,
}

/// `languages` languages with offsets in a `b_dim`-dimensional subspace B of R^d; content in
/// B's orthogonal complement when `content_outside_b`, else anywhere.
fn synthetic(
    seed: u64,
    d: usize,
    languages: &[&str],
    b_dim: usize,
    n: usize,
    noise: f64,
    content_outside_b: bool,
) -> Synthetic {
    let mut rng = Rng::new(seed);
    let q = columns(&rng.orthogonal(d));
    let language_basis: Vec<Vec<f64>> = q[..b_dim].to_vec();
    let combine = |weights: &[f64], basis: &[Vec<f64>]| -> Vec<f64> {
        let mut v = vec![0.0; d];
        for (w, b) in weights.iter().zip(basis) {
            for (x, y) in v.iter_mut().zip(b) {
                *x += w * y;
            }
        }
        v
    };
    let shared = combine(&rng.normal_vec(d - b_dim, 4.0), &q[b_dim..]);
    let contents: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            if content_outside_b {
                combine(&rng.normal_vec(d - b_dim, 1.0), &q[b_dim..])
            } else {
                rng.normal_vec(d, 1.0)
            }
        })
        .collect();
    let offsets: Vec<Vec<f64>> = languages
        .iter()
        .map(|_| combine(&rng.normal_vec(b_dim, 2.0), &language_basis))
        .collect();
    let states = languages
        .iter()
        .zip(&offsets)
        .map(|(l, o)| {
            let vectors = contents
                .iter()
                .map(|c| to_f32(&add(&add(&add(&shared, c), o), &rng.normal_vec(d, noise))))
                .collect();
            (l.to_string(), vectors)
        })
        .collect();
    Synthetic {
        states,
        language_basis,
        offsets,
        contents,
    }
}

fn frobenius(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).norm()
}

/// Checks the probe's subspaces against the planted structure, within `tol`.
fn check_recovers(s: &Synthetic, options: &ProbeOptions, tol: f64) -> LayerSubspaces {
    let probe = probe_layer(&s.states, options).unwrap();
    let d = probe.dim;
    let specific: Vec<Vec<f64>> = probe.specific.iter().map(|v| f64s(v)).collect();

    // Orthonormal basis.
    for (k, a) in specific.iter().enumerate() {
        for (j, b) in specific.iter().enumerate() {
            let want = if j == k { 1.0 } else { 0.0 };
            assert!((dot(a, b) - want).abs() < 1e-6);
        }
    }
    // The specific subspace is span{o_l − ō} = B: projectors agree (‖P − P_B‖_F bounds the
    // sine of the largest principal angle).
    let p_probe = projector(&specific, d);
    let p_true = projector(&s.language_basis, d);
    let gap = frobenius(&p_probe, &p_true);
    assert!(gap < tol, "projector gap {gap}");
    let mut worst_delta = 0.0f64;

    // δ_l ≈ o_l − o_pivot, and lies in the specific subspace.
    let pivot = probe
        .languages
        .iter()
        .position(|l| *l == probe.pivot)
        .unwrap();
    for (l, (language, delta)) in probe.shifts.iter().enumerate() {
        let want = sub(&s.offsets[l], &s.offsets[pivot]);
        let delta = f64s(delta);
        let err = norm(&sub(&delta, &want));
        worst_delta = worst_delta.max(err / norm(&want).max(1.0));
        assert!(
            err <= tol * norm(&want).max(1.0),
            "{language}: δ off by {err} (|δ| = {})",
            norm(&want)
        );
        let projected = f64s(&probe.project_specific(&to_f32(&delta)).unwrap());
        assert!(norm(&sub(&projected, &delta)) < 1e-5 * norm(&delta).max(1.0));
    }

    // The agnostic direction is a unit vector orthogonal to the specific subspace.
    let a = f64s(&probe.agnostic);
    assert!((norm(&a) - 1.0).abs() < 1e-6);
    let worst_dot = specific
        .iter()
        .map(|v| dot(&a, v).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "L = {}, r = {}: ‖P − P_B‖_F = {gap:.1e}, δ relative error ≤ {worst_delta:.1e}, max |a·s_k| = {worst_dot:.1e}",
        probe.languages.len(),
        probe.rank
    );
    for (k, v) in specific.iter().enumerate() {
        assert!(dot(&a, v).abs() < 1e-6, "a·s_{k} = {}", dot(&a, v));
    }
    // … and every language mean has the same component w_c' along it (|w_c'| = that
    // component).
    let raw = f64s(&probe.agnostic_raw);
    for (language, vectors) in &s.states {
        let mean: Vec<f64> = (0..d)
            .map(|j| vectors.iter().map(|v| v[j] as f64).sum::<f64>() / vectors.len() as f64)
            .collect();
        let component = dot(&mean, &a);
        assert!(
            (component - norm(&raw)).abs() < 1e-4 * norm(&raw),
            "{language}: {component} vs {}",
            norm(&raw)
        );
    }
    probe
}

#[test]
fn recovers_a_planted_language_subspace_at_full_rank() {
    // 4 languages, offsets spanning a 3-dimensional B: r = L − 1 = 3 (the default).
    let s = synthetic(1, 48, &["en", "zh", "ar", "sw"], 3, 60, 0.005, true);
    let probe = check_recovers(&s, &ProbeOptions::default(), 0.03);
    assert_eq!(probe.rank, 3);
    assert_eq!(probe.singular_values.len(), 4);
    assert!(probe.singular_values[3] < 1e-12 * probe.singular_values[0]);
    // Content lives outside B: its specific part is the probe's error only.
    let mut worst = 0.0f64;
    for c in &s.contents {
        let part = f64s(&probe.project_specific(&to_f32(c)).unwrap());
        worst = worst.max(norm(&part) / norm(c));
    }
    eprintln!("content: max ‖P_s c‖/‖c‖ = {worst:.1e}");
    assert!(worst < 0.02);
}

#[test]
fn content_shared_by_all_languages_does_not_enter_the_specific_subspace() {
    // Content anywhere in R^d (partly inside B) but identical across languages: it cancels out
    // of the language means' differences, so the subspace is still B.
    let s = synthetic(2, 48, &["en", "de", "fr"], 2, 60, 0.005, false);
    check_recovers(&s, &ProbeOptions::default(), 0.03);
    // Without noise, exactly (up to the f32 states).
    let s = synthetic(2, 48, &["en", "de", "fr"], 2, 60, 0.0, false);
    check_recovers(&s, &ProbeOptions::default(), 1e-5);
}

#[test]
fn recovers_a_planted_subspace_below_full_rank() {
    // 6 languages whose offsets span only 2 dimensions: r = 2 < L − 1 (the first SVD's
    // truncation and W' of rank 3 < 6, so the pseudo-inverse's cut-off matters).
    let languages = ["zh", "en", "ja", "ko", "bn", "sw"];
    let s = synthetic(3, 40, &languages, 2, 50, 0.005, true);
    let options = ProbeOptions {
        rank: Some(2),
        pivot: "en".into(),
    };
    let probe = check_recovers(&s, &options, 0.03);
    assert_eq!(probe.shift("en").unwrap(), vec![0.0; 40].as_slice());
    assert!(probe.singular_values[2] < 0.01 * probe.singular_values[1]);
}

#[test]
fn projections_and_coordinates_agree() {
    let s = synthetic(4, 24, &["en", "es"], 1, 20, 0.05, true);
    let probe = probe_layer(&s.states, &ProbeOptions::default()).unwrap();
    let h = &s.states[1].1[3];
    let (a, coords) = probe.coordinates(h).unwrap();
    assert_eq!(coords.len(), 1);
    let hs = f64s(h);
    assert!((a - dot(&hs, &f64s(&probe.agnostic))).abs() < 1e-9);
    let ps = f64s(&probe.project_specific(h).unwrap());
    let pa = f64s(&probe.project_agnostic(h).unwrap());
    for j in 0..24 {
        assert!((ps[j] - coords[0] * probe.specific[0][j] as f64).abs() < 1e-5);
        assert!((pa[j] - a * probe.agnostic[j] as f64).abs() < 1e-5);
    }
    // Orthogonal parts: their dot product is ~0.
    assert!(dot(&ps, &pa).abs() < 1e-4 * norm(&hs) * norm(&hs));
    assert_eq!(
        probe.project_specific(&[1.0; 3]).unwrap_err(),
        ReprError::VectorLength {
            expected: 24,
            got: 3
        }
    );
    assert!(probe.project_agnostic(&[]).is_err());
    assert!(probe.coordinates(&[0.0; 25]).is_err());
    assert!(probe.shift("xx").is_none());
}

#[test]
fn safetensors_round_trip() {
    let a = probe_layer(
        &synthetic(5, 16, &["en", "zh", "ar"], 2, 10, 0.05, true).states,
        &ProbeOptions::default(),
    )
    .unwrap();
    let b = probe_layer(
        &synthetic(6, 16, &["de", "en"], 1, 8, 0.05, true).states,
        &ProbeOptions::default(),
    )
    .unwrap();
    let layers = vec![(28, a), (29, b)];
    let (bytes, metadata) = to_safetensors(&layers).unwrap();
    assert_eq!(metadata["format"], SAFETENSORS_FORMAT);
    assert_eq!(metadata["layers"][0]["layer"], 28);
    assert_eq!(from_safetensors(&bytes, &metadata).unwrap(), layers);
    assert_eq!(safetensors_metadata(&bytes).unwrap(), metadata);

    // The tensors are there under the documented names and shapes.
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shape = |name: &str| file.tensor(name).unwrap().shape().to_vec();
    assert_eq!(shape("layer.28.specific"), [2, 16]);
    assert_eq!(shape("layer.28.agnostic"), [16]);
    assert_eq!(shape("layer.28.agnostic_raw"), [16]);
    assert_eq!(shape("layer.28.shift.zh"), [16]);
    assert_eq!(shape("layer.29.shift.de"), [16]);
    assert_eq!(shape("layer.29.singular_values"), [2]);
    assert_eq!(
        file.tensor("layer.29.singular_values").unwrap().dtype(),
        safetensors::Dtype::F64
    );
    assert_eq!(file.len(), 2 * 4 + 3 + 2);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert!(
        header
            .metadata()
            .as_ref()
            .unwrap()
            .contains_key(SAFETENSORS_METADATA_KEY)
    );

    // Bad files and metadata are errors, never panics.
    assert!(matches!(
        to_safetensors(&[layers[0].clone(), layers[0].clone()]),
        Err(ReprError::DuplicateLayer(28))
    ));
    let mut broken = layers[1].1.clone();
    broken.specific[0].pop();
    let e = to_safetensors(&[(3, broken)]).unwrap_err().to_string();
    assert!(
        e.contains("layer 3: specific[0]: length 15, dim is 16"),
        "{e}"
    );
    let mut nan = layers[1].1.clone();
    nan.shifts[1].1[2] = f32::NAN;
    let e = to_safetensors(&[(3, nan)]).unwrap_err().to_string();
    assert!(e.contains("layer 3: shift.en: component 2 is NaN"), "{e}");

    let mut meta = metadata.clone();
    meta["layers"][0]["languages"][1] = "xx".into();
    let e = from_safetensors(&bytes, &meta).unwrap_err().to_string();
    assert!(e.contains("layer.28.shift.xx"), "{e}");
    let mut meta = metadata.clone();
    meta["layers"][1]["dim"] = 17.into();
    let e = from_safetensors(&bytes, &meta).unwrap_err().to_string();
    assert!(
        e.contains("tensor layer.29.specific: F32 [1, 16], expected F32 [1, 17]"),
        "{e}"
    );
    let mut meta = metadata.clone();
    meta["format"] = "something-else".into();
    assert!(from_safetensors(&bytes, &meta).is_err());
    assert!(from_safetensors(&bytes, &serde_json::json!({"layers": 3})).is_err());
    assert!(from_safetensors(&bytes[..bytes.len() - 7], &metadata).is_err());
    assert!(from_safetensors(b"not safetensors", &metadata).is_err());
    assert!(safetensors_metadata(b"").is_err());
    let (plain, _) = (
        safetensors::serialize(
            Vec::<(String, safetensors::tensor::TensorView)>::new(),
            None,
        )
        .unwrap(),
        (),
    );
    assert!(
        safetensors_metadata(&plain)
            .unwrap_err()
            .to_string()
            .contains("not written by xlingo")
    );
}

fn probe_err(states: &[(String, Vec<Vec<f32>>)], rank: Option<usize>, pivot: &str) -> ReprError {
    probe_layer(
        states,
        &ProbeOptions {
            rank,
            pivot: pivot.into(),
        },
    )
    .unwrap_err()
}

#[test]
fn bad_input_is_an_error_naming_what_is_wrong() {
    let s = synthetic(7, 8, &["en", "zh", "ar", "sw"], 3, 5, 0.05, true).states;

    let e = probe_err(&s, Some(4), "en");
    assert_eq!(
        e,
        ReprError::Rank {
            rank: 4,
            languages: 4,
            dim: 8,
            max: 3
        }
    );
    assert!(e.to_string().contains("rank 4 is out of range"), "{e}");
    assert!(matches!(
        probe_err(&s, Some(0), "en"),
        ReprError::Rank { rank: 0, .. }
    ));
    // r < d too: 4 languages in 3 dimensions allow r ≤ 2.
    let narrow: Vec<_> = s
        .iter()
        .map(|(l, v)| (l.clone(), v.iter().map(|x| x[..3].to_vec()).collect()))
        .collect();
    assert!(matches!(
        probe_err(&narrow, None, "en"),
        ReprError::Rank {
            rank: 3,
            max: 2,
            ..
        }
    ));

    let e = probe_err(&s[..1], None, "en");
    assert!(
        matches!(e, ReprError::TooFewLanguages { got: 1, .. }),
        "{e}"
    );

    let e = probe_err(&s, None, "fr");
    assert!(
        e.to_string().contains("pivot language \"fr\" is not among"),
        "{e}"
    );

    let mut dup = s.clone();
    dup[2].0 = "zh".into();
    assert_eq!(
        probe_err(&dup, None, "en"),
        ReprError::DuplicateLanguage("zh".into())
    );

    let mut empty = s.clone();
    empty[1].1.clear();
    let e = probe_err(&empty, None, "en").to_string();
    assert!(
        e.contains("language \"zh\": 0 states, at least 1 needed"),
        "{e}"
    );

    let mut short = s.clone();
    short[3].1[2].pop();
    let e = probe_err(&short, None, "en").to_string();
    assert_eq!(e, "language \"sw\", state 2: dimension 7, expected 8");

    let mut nan = s.clone();
    nan[0].1[4][5] = f32::NAN;
    let e = probe_err(&nan, None, "en").to_string();
    assert_eq!(
        e,
        "language \"en\", state 4, component 5: NaN is not finite"
    );
    let e = probe_err(&nan, None, "en").at_layer(28).to_string();
    assert_eq!(
        e,
        "language \"en\", layer 28, state 4, component 5: NaN is not finite"
    );

    // Two languages with the same states: the means span one dimension fewer.
    let mut same = s.clone();
    same[3].1 = same[2].1.clone();
    let e = probe_err(&same, None, "en");
    assert!(
        matches!(e, ReprError::DegenerateMeans { rank: 3, .. }),
        "{e}"
    );
    assert!(
        probe_layer(
            &same,
            &ProbeOptions {
                rank: Some(2),
                pivot: "en".into()
            }
        )
        .is_ok()
    );

    // Means ±v: their mean is 0, there is no common (agnostic) component.
    let v = [1.0f32, 2.0, -1.0, 0.5];
    let minus: Vec<f32> = v.iter().map(|x| -x).collect();
    let opposite = vec![
        ("en".to_string(), vec![v.to_vec()]),
        ("zh".to_string(), vec![minus]),
    ];
    let e = probe_err(&opposite, None, "en");
    assert!(matches!(e, ReprError::NoAgnosticDirection { .. }), "{e}");

    let scalar = vec![
        ("en".to_string(), vec![vec![1.0]]),
        ("zh".to_string(), vec![vec![2.0]]),
    ];
    assert!(matches!(
        probe_err(&scalar, None, "en"),
        ReprError::TooFewDimensions { dim: 1, .. }
    ));
}

#[test]
fn state_counts_may_differ_between_languages() {
    // Only the means enter: a language with twice the (identical) states gives the same result.
    let s = synthetic(8, 16, &["en", "zh", "ar"], 2, 10, 0.05, true).states;
    let mut doubled = s.clone();
    let extra = doubled[1].1.clone();
    doubled[1].1.extend(extra);
    let (a, b) = (
        probe_layer(&s, &ProbeOptions::default()).unwrap(),
        probe_layer(&doubled, &ProbeOptions::default()).unwrap(),
    );
    for (x, y) in a.agnostic_raw.iter().zip(&b.agnostic_raw) {
        assert!((x - y).abs() < 1e-5 * x.abs().max(1.0));
    }
    for ((_, x), (_, y)) in a.shifts.iter().zip(&b.shifts) {
        assert!(x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-5));
    }
}
