//! Dequantisation and quantisation checked against gguf-py, the independent numpy
//! implementation shipped with llama.cpp. The fixtures are written by
//! `scripts/fixtures/dequant_fixtures.py` (which records the python/numpy/gguf versions).
//! Plus round-trip error bounds and size-error checks that need no fixtures.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xlingo_formats::quant::{GgmlType, dequantize, dequantize_into, quantize, quantize_into};

const QUANT_TYPES: [GgmlType; 15] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::Q8K,
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dequant")
}

fn load(name: &str) -> serde_json::Value {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn type_by_gguf_py_name(name: &str) -> GgmlType {
    (0..=40)
        .filter_map(GgmlType::from_id)
        .find(|t| t.name().eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("unknown type {name}"))
}

/// Every type gguf-py can dequantise: our result must be bit-identical (NaN payloads included).
#[test]
fn dequantize_matches_gguf_py() {
    let names = [
        "f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k",
        "q5_k", "q6_k",
    ];
    for name in names {
        let fx = load(&format!("{name}.json"));
        let ty = type_by_gguf_py_name(fx["type"].as_str().unwrap());
        let bytes = unhex(fx["bytes_hex"].as_str().unwrap());
        let expected = f32s(&unhex(fx["expected_f32_le_hex"].as_str().unwrap()));
        let n = fx["n_elements"].as_u64().unwrap() as usize;
        assert_eq!(expected.len(), n);

        let got = dequantize(ty, &bytes, n).unwrap();
        let mut max_rel = 0.0f64;
        let mut mismatches = 0;
        for (g, e) in got.iter().zip(&expected) {
            if g.to_bits() != e.to_bits() {
                mismatches += 1;
                let rel = ((*g as f64 - *e as f64) / (e.abs() as f64).max(1e-30)).abs();
                max_rel = max_rel.max(rel);
            }
        }
        assert_eq!(
            mismatches, 0,
            "{name}: {mismatches}/{n} values differ, max relative {max_rel:e}"
        );

        let mut into = vec![f32::NAN; n];
        dequantize_into(ty, &bytes, &mut into).unwrap();
        assert!(
            into.iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: _into"
        );
    }
}

/// gguf-py's reference quantisers (F16, BF16, Q4_0 … Q8_0): our bytes must be identical.
#[test]
fn quantize_matches_gguf_py() {
    let fx = load("quantize.json");
    let input = f32s(&unhex(fx["input_f32_le_hex"].as_str().unwrap()));
    for case in fx["cases"].as_array().unwrap() {
        let ty = type_by_gguf_py_name(case["type"].as_str().unwrap());
        let expected = unhex(case["bytes_hex"].as_str().unwrap());
        let got = quantize(ty, &input).unwrap();
        assert_eq!(got.len(), expected.len(), "{}", ty.name());
        let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != expected[i]).collect();
        assert!(bad.is_empty(), "{}: bytes differ at {bad:?}", ty.name());
    }
}

fn gaussian(rng: &mut StdRng, n: usize, sigma: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            // Box–Muller; good enough for test data.
            let u1: f32 = rng.random_range(1e-7..1.0);
            let u2: f32 = rng.random();
            sigma * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect()
}

fn absmax(x: &[f32]) -> f32 {
    x.iter().fold(0.0, |a, v| a.max(v.abs()))
}

/// Per-block worst-case error of the legacy formats, from their definitions: rounding to the
/// nearest level (half a step `d`), the clamp of the symmetric 4/5-bit formats (a whole step,
/// for a value of opposite sign to the extreme), and the f16 rounding of the stored scale `d`
/// (times the largest level) and offset `m`. Scales as small as 1e-5 land in f16's subnormal
/// range, where the rounding error is absolute, so it is measured rather than assumed relative.
#[test]
fn legacy_round_trip_error_is_bounded() {
    let f16_err = |v: f32| (half::f16::from_f32(v).to_f32() - v).abs();
    let mut rng = StdRng::seed_from_u64(7);
    for sigma in [1e-3f32, 1.0, 50.0] {
        let x = gaussian(&mut rng, 32 * 64, sigma);
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q8_0,
            GgmlType::Q8_1,
        ] {
            let y = dequantize(ty, &quantize(ty, &x).unwrap(), x.len()).unwrap();
            for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
                let amax = absmax(xb);
                let (min, max) = xb
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                let bound = match ty {
                    GgmlType::Q4_0 => amax / 8.0 + 8.0 * f16_err(amax / 8.0),
                    GgmlType::Q5_0 => amax / 16.0 + 16.0 * f16_err(amax / 16.0),
                    GgmlType::Q4_1 => {
                        let d = (max - min) / 15.0;
                        d / 2.0 + 15.0 * f16_err(d) + f16_err(min)
                    }
                    GgmlType::Q5_1 => {
                        let d = (max - min) / 31.0;
                        d / 2.0 + 31.0 * f16_err(d) + f16_err(min)
                    }
                    _ => amax / 254.0 + 127.0 * f16_err(amax / 127.0), // Q8_0, Q8_1
                } * (1.0 + 1e-5)
                    + 4.0 * f32::EPSILON * amax;
                for (a, b) in xb.iter().zip(yb) {
                    assert!(
                        (a - b).abs() <= bound,
                        "{}: |{a} - {b}| > {bound}",
                        ty.name()
                    );
                }
            }
        }
    }
}

/// Relative RMS error of every quantiser on Gaussian data, against generous ceilings
/// (measured: Q8 0.5–0.7%, Q6_K 1.8%, Q5 3.6–4.3%, Q4 7–9%, Q3_K 15%, Q2_K 30%), plus:
/// zeros stay zeros, and F32 is lossless.
#[test]
fn round_trip_rms_error_per_type() {
    let mut rng = StdRng::seed_from_u64(11);
    let x = gaussian(&mut rng, 256 * 32, 0.02);
    let norm = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    for ty in QUANT_TYPES {
        let q = quantize(ty, &x).unwrap();
        assert_eq!(q.len(), ty.bytes_for(x.len() as u64).unwrap() as usize);
        let y = dequantize(ty, &q, x.len()).unwrap();
        let rms = (x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            / x.len() as f32)
            .sqrt();
        let rel = rms / norm;
        let ceiling = match ty {
            GgmlType::F32 => 0.0,
            GgmlType::F16 => 5e-4,
            GgmlType::BF16 => 4e-3,
            GgmlType::Q8_0 | GgmlType::Q8_1 | GgmlType::Q8K => 0.01,
            GgmlType::Q6K => 0.025,
            GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5K => 0.06,
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4K => 0.11,
            GgmlType::Q3K => 0.2,
            GgmlType::Q2K => 0.4,
            _ => unreachable!(),
        };
        eprintln!("{:>5}: relative RMS error {rel:.5}", ty.name());
        assert!(
            rel <= ceiling,
            "{}: relative RMS error {rel} > {ceiling}",
            ty.name()
        );

        let zeros = vec![0.0f32; x.len()];
        let z = dequantize(ty, &quantize(ty, &zeros).unwrap(), x.len()).unwrap();
        assert!(
            z.iter().all(|v| *v == 0.0),
            "{}: zeros do not survive",
            ty.name()
        );
    }
}

/// Wrong sizes are errors that name the type and the sizes, never panics.
#[test]
fn size_errors_name_type_and_sizes() {
    for id in 0..=40 {
        let Some(ty) = GgmlType::from_id(id) else {
            continue;
        };
        let (bl, bb) = (ty.block_len(), ty.block_bytes());
        // correct size works, including zero elements
        assert_eq!(dequantize(ty, &[], 0).unwrap().len(), 0);
        let ok = vec![0u8; 2 * bb];
        assert_eq!(dequantize(ty, &ok, 2 * bl).unwrap().len(), 2 * bl);
        // too few / too many bytes
        for len in [2 * bb - 1, 2 * bb + 1, bb] {
            let err = dequantize(ty, &vec![0u8; len], 2 * bl)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(ty.name()) && err.contains(&len.to_string()),
                "{err}"
            );
            assert!(err.contains(&(2 * bb).to_string()), "{err}");
        }
        let mut out = vec![0.0f32; bl];
        assert!(dequantize_into(ty, &ok, &mut out).is_err());
        if bl > 1 {
            let err = dequantize(ty, &ok, bl + 1).unwrap_err().to_string();
            assert!(
                err.contains(ty.name()) && err.contains(&(bl + 1).to_string()),
                "{err}"
            );
            assert!(quantize(ty, &vec![0.0; bl + 1]).is_err());
        }
        let mut small = vec![0u8; bb.saturating_sub(1)];
        assert!(quantize_into(ty, &vec![0.0; bl], &mut small).is_err());
    }
    // huge element counts overflow cleanly
    assert!(dequantize(GgmlType::F64, &[], usize::MAX).is_err());
    // integer types and F64 are readable but not quantisable
    assert!(quantize(GgmlType::I32, &[1.0]).is_err());
    assert_eq!(
        dequantize(GgmlType::I16, &(-3i16).to_le_bytes(), 1).unwrap(),
        vec![-3.0]
    );
    assert_eq!(dequantize(GgmlType::I8, &[0xFE], 1).unwrap(), vec![-2.0]);
    assert_eq!(
        dequantize(GgmlType::F64, &1.5f64.to_le_bytes(), 1).unwrap(),
        vec![1.5]
    );
}

/// Hostile inputs (NaN, ±inf, ±f32::MAX, subnormals, huge dynamic range) never panic — the
/// result is garbage-in-garbage-out, but always the right size and decodable.
#[test]
fn quantize_survives_non_finite_input() {
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE / 4.0,
        1e-30,
        1e30,
        0.0,
        -0.0,
        1.0,
    ];
    let mut rng = StdRng::seed_from_u64(5);
    let x: Vec<f32> = (0..256 * 4)
        .map(|i| {
            if i % 3 == 0 {
                specials[rng.random_range(0..specials.len())]
            } else {
                rng.random()
            }
        })
        .collect();
    let all_big = vec![f32::MAX; 256];
    let all_nan = vec![f32::NAN; 256];
    for ty in QUANT_TYPES {
        for input in [&x[..], &all_big[..], &all_nan[..]] {
            let q = quantize(ty, input).unwrap();
            assert_eq!(dequantize(ty, &q, input.len()).unwrap().len(), input.len());
        }
    }
}

/// Throughput on a SmolLM2-135M-sized Q4_1 tensor (run with
/// `cargo test --release -p xlingo-formats --test dequant -- --ignored --nocapture`).
#[test]
#[ignore = "timing; run in release"]
fn q4_1_throughput_135m() {
    let n = 135_000_000 / 256 * 256;
    let ty = GgmlType::Q4_1;
    let mut bytes = vec![0u8; ty.bytes_for(n as u64).unwrap() as usize];
    let mut rng = StdRng::seed_from_u64(3);
    rng.fill(&mut bytes[..]);
    for b in bytes.chunks_exact_mut(20) {
        b[0..2].copy_from_slice(&half::f16::from_f32(0.01).to_bits().to_le_bytes());
        b[2..4].copy_from_slice(&half::f16::from_f32(-0.07).to_bits().to_le_bytes());
    }
    // Baseline: what allocating and first touching the output alone costs (page faults).
    let start = std::time::Instant::now();
    let v = std::hint::black_box(vec![1.0f32; n]);
    eprintln!("allocate + touch {n} f32 alone: {:?}", start.elapsed());
    drop(v);
    let start = std::time::Instant::now();
    let v = dequantize(ty, &bytes, n).unwrap();
    eprintln!("q4_1: {n} weights with allocation in {:?}", start.elapsed());
    drop(v);

    // The same random bytes reinterpreted as each type (as many whole blocks as they hold),
    // into a buffer whose pages are already touched.
    let mut out = vec![1.0f32; 2 * bytes.len()];
    for ty in [
        GgmlType::Q4_1,
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4K,
        GgmlType::Q6K,
    ] {
        let blocks = bytes.len() / ty.block_bytes();
        let m = blocks * ty.block_len();
        let start = std::time::Instant::now();
        dequantize_into(ty, &bytes[..blocks * ty.block_bytes()], &mut out[..m]).unwrap();
        let dt = start.elapsed();
        eprintln!(
            "{:>5}: {:.1} M weights into a warm buffer in {dt:?}",
            ty.name(),
            m as f64 / 1e6
        );
    }
}
