//! Cross-lingual representation analysis (`xlingo_eval::repr`): a case small enough to work
//! out by hand, identical and shifted copies of a language, shuffled and unrelated
//! "translations" (retrieval at the exact fixed-point rate and at chance), and bad input.

mod repr_support;

use repr_support::{Rng, add, to_f32};
use xlingo_eval::{LanguageStates, ReprAnalysis, ReprError, ReprOptions, analyze};

const EPS: f64 = 1e-12;

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= EPS, "{what}: got {got}, want {want}");
}

fn e(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; 4];
    v[i] = 1.0;
    v
}

fn plus(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

fn scaled(a: &[f32], s: f32) -> Vec<f32> {
    a.iter().map(|x| x * s).collect()
}

/// en: e1, e2, e3 at both layers. fr, layer 0: e_i + 2·e4 (the same sentences, shifted);
/// layer 1: e2 + e4, e1 + e4, e3 + e4 (sentences 1 and 2 swapped).
fn hand_case() -> Vec<LanguageStates> {
    let en = vec![e(0), e(1), e(2)];
    let shift2 = scaled(&e(3), 2.0);
    let fr0 = en.iter().map(|v| plus(v, &shift2)).collect();
    let fr1 = vec![plus(&e(1), &e(3)), plus(&e(0), &e(3)), plus(&e(2), &e(3))];
    vec![
        LanguageStates {
            language: "en".into(),
            layers: vec![en.clone(), en],
        },
        LanguageStates {
            language: "fr".into(),
            layers: vec![fr0, fr1],
        },
    ]
}

#[test]
fn hand_checked_two_languages_three_sentences_two_layers() {
    let analysis = analyze(&hand_case(), &ReprOptions::default()).unwrap();
    assert_eq!(analysis.languages, ["en", "fr"]);
    assert_eq!(
        (analysis.n_layers, analysis.n_sentences, analysis.dim),
        (2, 3, 4)
    );

    // Layer 0: raw cos(e_i, e_i + 2 e4) = 1/√5; centring removes the shift: identical vectors.
    // Centred e_i − (1,1,1)/3 have cosine −1/2 with each other: the unrelated baseline.
    let l0 = &analysis.layers[0];
    assert_eq!(l0.layer, 0);
    let p = &l0.pairs[0];
    assert_eq!((p.a.as_str(), p.b.as_str()), ("en", "fr"));
    close(p.cosine, 1.0 / 5f64.sqrt(), "layer 0 cosine");
    close(p.cosine_centered, 1.0, "layer 0 centred cosine");
    close(p.cosine_unrelated, -0.5, "layer 0 unrelated");
    close(p.retrieval, 1.0, "layer 0 retrieval");

    // Layer 1: raw cosines 0, 0, 1/√2; centred 1/2·(−1) twice and 1 → 0; off-diagonal
    // centred cosines: two are 1 (the swapped pair), four are −1/2 → 0; only sentence 3 is
    // retrieved, both ways.
    let l1 = &analysis.layers[1];
    let p = &l1.pairs[0];
    close(p.cosine, 1.0 / (3.0 * 2f64.sqrt()), "layer 1 cosine");
    close(p.cosine_centered, 0.0, "layer 1 centred cosine");
    close(p.cosine_unrelated, 0.0, "layer 1 unrelated");
    close(p.retrieval_a_to_b, 1.0 / 3.0, "layer 1 retrieval en→fr");
    close(p.retrieval_b_to_a, 1.0 / 3.0, "layer 1 retrieval fr→en");
    close(p.retrieval, 1.0 / 3.0, "layer 1 retrieval");

    // One pair: the layer means are that pair's values.
    for layer in &analysis.layers {
        let p = &layer.pairs[0];
        assert_eq!(layer.mean_cosine, p.cosine);
        assert_eq!(layer.mean_cosine_centered, p.cosine_centered);
        assert_eq!(layer.mean_cosine_unrelated, p.cosine_unrelated);
        assert_eq!(layer.mean_retrieval, p.retrieval);
        let pca = layer.pca.as_ref().expect("PCA by default");
        assert_eq!(pca.points.len(), 2);
        assert!(pca.points.iter().all(|l| l.len() == 3));
        assert!(pca.converged);
    }

    // Layer 0 PCA: six points e_i and e_i + 2 e4, mean (1/3, 1/3, 1/3, 1). Centred sum of
    // squares: along e4, 6 · 1² = 6; in the plane of the simplex, 6 · 2/3 = 4, isotropic, so
    // 2 + 2. Ratios 6/10 and 2/10.
    let pca0 = analysis.layers[0].pca.as_ref().unwrap();
    close(pca0.explained_variance_ratio[0], 0.6, "layer 0 PCA ratio 1");
    assert!((pca0.explained_variance_ratio[1] - 0.2).abs() < 1e-9);
    // en and fr separate along the first component, at ∓1 (sign fixed by the convention).
    let first: Vec<f64> = pca0.points.iter().flatten().map(|p| p[0]).collect();
    for (i, x) in first.iter().enumerate() {
        let want = if i < 3 { -1.0 } else { 1.0 };
        assert!((x - want).abs() < 1e-9, "point {i}: {x}");
    }
}

#[test]
fn pca_can_be_switched_off_and_the_analysis_serialises() {
    let analysis = analyze(&hand_case(), &ReprOptions { pca: false }).unwrap();
    assert!(analysis.layers.iter().all(|l| l.pca.is_none()));
    let json = serde_json::to_string(&analysis).unwrap();
    let back: ReprAnalysis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, analysis);
}

fn random_language(rng: &mut Rng, name: &str, layers: usize, n: usize, d: usize) -> LanguageStates {
    LanguageStates {
        language: name.into(),
        layers: (0..layers)
            .map(|_| (0..n).map(|_| to_f32(&rng.normal_vec(d, 1.0))).collect())
            .collect(),
    }
}

#[test]
fn identical_scaled_and_shifted_copies_align_perfectly() {
    let mut rng = Rng::new(11);
    let (layers, n, d) = (3, 40, 24);
    let en = random_language(&mut rng, "en", layers, n, d);
    let mut same = en.clone();
    same.language = "copy".into();
    let mut doubled = en.clone();
    doubled.language = "doubled".into();
    for layer in &mut doubled.layers {
        for v in layer {
            *v = scaled(v, 2.0);
        }
    }
    let offset = to_f32(&rng.normal_vec(d, 3.0));
    let mut shifted = en.clone();
    shifted.language = "shifted".into();
    for layer in &mut shifted.layers {
        for v in layer {
            *v = plus(v, &offset);
        }
    }
    let analysis = analyze(&[en, same, doubled, shifted], &ReprOptions::default()).unwrap();
    for layer in &analysis.layers {
        assert_eq!(layer.pairs.len(), 6);
        for p in &layer.pairs {
            let shifted = p.a == "shifted" || p.b == "shifted";
            if !shifted {
                assert!((p.cosine - 1.0).abs() < 1e-6, "{p:?}");
            } else {
                assert!(
                    p.cosine < 0.9,
                    "a common offset lowers the raw cosine: {p:?}"
                );
            }
            assert!((p.cosine_centered - 1.0).abs() < 1e-6, "{p:?}");
            assert_eq!(p.retrieval, 1.0, "{p:?}");
            // Centred vectors sum to 0: unrelated pairs average about −1/(n − 1).
            assert!(p.cosine_unrelated.abs() < 0.05, "{p:?}");
        }
        assert_eq!(layer.mean_retrieval, 1.0);
        // d = 24 > 10: the PCA iterates, and converges.
        assert!(layer.pca.as_ref().unwrap().converged);
    }
}

#[test]
fn shuffled_translations_are_retrieved_only_at_fixed_points() {
    // b_i = a_{π(i)} with π fixing exactly 5 of 50 sentences: exactly those are retrieved.
    let mut rng = Rng::new(12);
    let (n, d) = (50, 32);
    let a = random_language(&mut rng, "a", 1, n, d);
    let mut pi: Vec<usize> = (0..n).collect();
    pi[5..].rotate_left(1); // a cycle on 5..n, fixed points 0..5
    let b = LanguageStates {
        language: "b".into(),
        layers: vec![(0..n).map(|i| a.layers[0][pi[i]].clone()).collect()],
    };
    let analysis = analyze(&[a, b], &ReprOptions { pca: false }).unwrap();
    let p = &analysis.layers[0].pairs[0];
    assert_eq!(p.retrieval_a_to_b, 5.0 / 50.0);
    assert_eq!(p.retrieval_b_to_a, 5.0 / 50.0);
}

#[test]
fn unrelated_languages_retrieve_at_chance() {
    // Independent random vectors: retrieval ≈ 1/n, centred cosine ≈ 0 ≈ the unrelated level.
    let mut rng = Rng::new(13);
    let (layers, n, d) = (200, 20, 16);
    let a = random_language(&mut rng, "a", layers, n, d);
    let b = random_language(&mut rng, "b", layers, n, d);
    let analysis = analyze(&[a, b], &ReprOptions { pca: false }).unwrap();
    let mean = |f: fn(&xlingo_eval::PairStats) -> f64| {
        analysis.layers.iter().map(|l| f(&l.pairs[0])).sum::<f64>() / layers as f64
    };
    let retrieval = mean(|p| p.retrieval);
    // 8000 nearest-neighbour trials at p = 0.05: sd ≈ 0.0024
    assert!((retrieval - 0.05).abs() < 0.012, "retrieval {retrieval}");
    assert!(mean(|p| p.cosine_centered).abs() < 0.02);
    assert!(mean(|p| p.cosine_unrelated).abs() < 0.02);
    assert!(mean(|p| p.cosine).abs() < 0.02);
}

#[test]
fn partial_alignment_sits_between_chance_and_perfect() {
    // b = a + noise as large as a: raw and centred cosine ≈ 1/√2, retrieval well above chance.
    let mut rng = Rng::new(14);
    let (n, d) = (100, 64);
    let a = random_language(&mut rng, "a", 1, n, d);
    let b = LanguageStates {
        language: "b".into(),
        layers: vec![
            a.layers[0]
                .iter()
                .map(|v| {
                    to_f32(&add(
                        &v.iter().map(|&x| x as f64).collect::<Vec<_>>(),
                        &rng.normal_vec(d, 1.0),
                    ))
                })
                .collect(),
        ],
    };
    let analysis = analyze(&[a, b], &ReprOptions::default()).unwrap();
    let p = &analysis.layers[0].pairs[0];
    let expected = 0.5f64.sqrt();
    assert!((p.cosine_centered - expected).abs() < 0.05, "{p:?}");
    assert!(p.retrieval > 0.9, "{p:?}");
}

fn err(langs: &[LanguageStates]) -> ReprError {
    analyze(langs, &ReprOptions::default()).unwrap_err()
}

#[test]
fn bad_input_is_an_error_naming_what_is_wrong() {
    let good = hand_case();

    let e = err(&good[..1]);
    assert!(
        matches!(e, ReprError::TooFewLanguages { got: 1, .. }),
        "{e}"
    );

    let mut dup = good.clone();
    dup[1].language = "en".into();
    assert_eq!(err(&dup), ReprError::DuplicateLanguage("en".into()));

    let mut empty_name = good.clone();
    empty_name[1].language.clear();
    assert_eq!(err(&empty_name), ReprError::EmptyLanguageName { index: 1 });

    let mut no_layers = good.clone();
    no_layers[1].layers.clear();
    assert!(err(&no_layers).to_string().contains("\"fr\" has no layers"));

    let mut fewer_layers = good.clone();
    fewer_layers[1].layers.pop();
    let msg = err(&fewer_layers).to_string();
    assert!(
        msg.contains("\"fr\" has 1 layers but \"en\" has 2"),
        "{msg}"
    );

    let mut fewer_sentences = good.clone();
    fewer_sentences[1].layers[1].pop();
    let msg = err(&fewer_sentences).to_string();
    assert!(
        msg.contains("language \"fr\", layer 1: 2 sentences but \"en\" has 3"),
        "{msg}"
    );

    let mut one_sentence = good.clone();
    for lang in &mut one_sentence {
        for layer in &mut lang.layers {
            layer.truncate(1);
        }
    }
    let msg = err(&one_sentence).to_string();
    assert!(msg.contains("1 sentences, at least 2 needed"), "{msg}");

    let mut short = good.clone();
    short[1].layers[1][2].pop();
    let msg = err(&short).to_string();
    assert!(
        msg.contains("language \"fr\", layer 1, sentence 2: dimension 3, expected 4"),
        "{msg}"
    );

    let mut nan = good.clone();
    nan[0].layers[1][0][3] = f32::NAN;
    let msg = err(&nan).to_string();
    assert!(
        msg.contains("language \"en\", layer 1, sentence 0, component 3: NaN is not finite"),
        "{msg}"
    );

    let mut inf = good.clone();
    inf[1].layers[0][1][0] = f32::INFINITY;
    assert!(matches!(
        err(&inf),
        ReprError::NonFinite { ref language, layer: Some(0), index: 1, component: 0, .. } if language == "fr"
    ));

    let mut zero = good.clone();
    zero[1].layers[0][2] = vec![0.0; 4];
    assert_eq!(
        err(&zero),
        ReprError::ZeroVector {
            language: "fr".into(),
            layer: 0,
            sentence: 2,
            centered: false
        }
    );

    // Two identical sentences of two: after centring both are zero.
    let mut same = good.clone();
    for lang in &mut same {
        for layer in &mut lang.layers {
            layer.truncate(2);
        }
    }
    same[0].layers[1][1] = same[0].layers[1][0].clone();
    let e = err(&same);
    assert_eq!(
        e,
        ReprError::ZeroVector {
            language: "en".into(),
            layer: 1,
            sentence: 0,
            centered: true
        }
    );
    assert!(e.to_string().contains("after removing the language's mean"));

    let scalar = vec![
        LanguageStates {
            language: "a".into(),
            layers: vec![vec![vec![1.0], vec![2.0]]],
        },
        LanguageStates {
            language: "b".into(),
            layers: vec![vec![vec![1.0], vec![3.0]]],
        },
    ];
    assert!(matches!(
        err(&scalar),
        ReprError::TooFewDimensions { dim: 1, .. }
    ));
    // Without PCA one dimension is enough.
    assert!(analyze(&scalar, &ReprOptions { pca: false }).is_ok());
}
