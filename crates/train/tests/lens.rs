//! Lens on a tiny random model: every loss term equals the value computed by hand from the
//! model's own hidden states (before and after training moved the top layers), the weights
//! scale the terms as documented, training lowers the loss, and bad subspaces are refused.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use xlingo_formats::tiny::{gguf_metadata, random_weights, tiny_config};
use xlingo_formats::{GgmlType, Gguf};
use xlingo_model::LoadedModel;
use xlingo_model::llama::Llama;
use xlingo_train::{
    CosineSchedule, LensSpace, LensTrainer, LensWeights, LoraSettings, Method, ParallelPrompt,
    SftConfig,
};

fn tiny_model(device: &Device) -> Llama {
    let config = tiny_config("llama");
    let weights = random_weights(&config, 11);
    let bytes =
        xlingo_formats::tiny::write_gguf(gguf_metadata(&config), &weights, GgmlType::F32).unwrap();
    LoadedModel::from_gguf(&Gguf::from_bytes(bytes).unwrap(), device)
        .unwrap()
        .model
}

fn prompts() -> Vec<ParallelPrompt> {
    (0..4u32)
        .map(|i| ParallelPrompt {
            pivot: vec![3 + i, 10, 20 + i, 7, 8],
            targets: vec![
                ("es".into(), vec![50 + i, 51, 9 + i]),
                ("zh".into(), vec![70, 71 + i, 72, 73, 74 + i, 2]),
            ],
        })
        .collect()
}

/// Deterministic pseudo-random numbers in [-1, 1).
fn noise(seed: u64, n: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = dot(&v, &v).sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// A random agnostic direction and a 2-D specific subspace orthogonal to it (Gram–Schmidt),
/// with shifts inside the subspace.
fn space(d: usize) -> LensSpace {
    let a = unit(noise(1, d));
    let mut basis: Vec<Vec<f32>> = Vec::new();
    for seed in [2, 3] {
        let mut v = noise(seed, d);
        for b in std::iter::once(&a).chain(&basis) {
            let p = dot(&v, b);
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= p * y);
        }
        basis.push(unit(v));
    }
    let shift = |c0: f32, c1: f32| -> Vec<f32> {
        (0..d)
            .map(|j| c0 * basis[0][j] + c1 * basis[1][j])
            .collect()
    };
    LensSpace {
        agnostic: a,
        shifts: BTreeMap::from([
            ("en".to_string(), vec![0.0; d]),
            ("es".to_string(), shift(0.8, -0.3)),
            ("zh".to_string(), shift(-0.5, 1.1)),
        ]),
        specific: basis,
    }
}

fn config(method: Method, lr: f64, steps: usize) -> SftConfig {
    SftConfig {
        method,
        lora: LoraSettings {
            rank: 4,
            alpha: 8.0,
            targets: vec![
                "q".into(),
                "v".into(),
                "o".into(),
                "up".into(),
                "down".into(),
            ],
            dropout: 0.0,
        },
        schedule: CosineSchedule {
            peak_lr: lr,
            min_lr: lr / 10.0,
            warmup_steps: 0,
            total_steps: steps,
        },
        batch_size: 1,
        grad_accum: 2,
        max_grad_norm: Some(1.0),
        weight_decay: 0.0,
        seed: 4,
        top_layers: Some(1),
    }
}

/// The top layer's normed states of `ids` under `model`: every token, as rows.
fn normed_rows(model: &Llama, ids: &[u32]) -> Vec<Vec<f32>> {
    let device = model.embed.weight.val().device();
    let ids_i64: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids_i64, [1, ids.len()]), &device);
    let top = model.normed_top(model.residual_after(input, 0), 0);
    let d = top.dims()[2];
    let flat = top.into_data().try_to_vec::<f32>().unwrap();
    flat.chunks(d).map(<[f32]>::to_vec).collect()
}

fn project(h: &[f32], basis: &[Vec<f32>]) -> Vec<f32> {
    let mut out = vec![0.0; h.len()];
    for b in basis {
        let c = dot(h, b);
        out.iter_mut().zip(b).for_each(|(o, x)| *o += c * x);
    }
    out
}

fn mse(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32
}

/// The three terms of one prompt, by hand, from `model` (θ) and `start` (θ0).
fn by_hand(
    model: &Llama,
    start: &Llama,
    p: &ParallelPrompt,
    s: &LensSpace,
    w: &LensWeights,
) -> [f32; 4] {
    let mean = |rows: &[Vec<f32>]| -> Vec<f32> {
        let d = rows[0].len();
        (0..d)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f32>() / rows.len() as f32)
            .collect()
    };
    let pivot = normed_rows(model, &p.pivot);
    let retain = mse(&mean(&pivot), &mean(&normed_rows(start, &p.pivot)));
    let a = std::slice::from_ref(&s.agnostic);
    let pivot_agnostic = project(pivot.last().unwrap(), a);
    let (mut push, mut pull) = (0.0, 0.0);
    for (lang, ids) in &p.targets {
        let h = normed_rows(model, ids).pop().unwrap();
        let h0 = normed_rows(start, ids).pop().unwrap();
        let moved: Vec<f32> = project(&h, &s.specific)
            .iter()
            .zip(project(&h0, &s.specific))
            .map(|(x, y)| x - y)
            .collect();
        let target: Vec<f32> = s.shifts[lang]
            .iter()
            .map(|x| x * w.push_scale as f32)
            .collect();
        push += mse(&moved, &target);
        pull += mse(&pivot_agnostic, &project(&h, a));
    }
    let total =
        w.retain as f32 * retain + w.specific_push as f32 * push + w.agnostic_pull as f32 * pull;
    [retain, push, pull, total]
}

fn close(got: f32, want: f32, what: &str) {
    assert!(
        (got - want).abs() <= 1e-5 + 1e-4 * want.abs(),
        "{what}: got {got}, by hand {want}"
    );
}

#[test]
fn every_loss_term_equals_the_hand_computed_value() {
    let device = Device::flex().autodiff();
    let model = tiny_model(&device);
    let start = model.valid();
    let d = tiny_config("llama").hidden_size;
    let space = space(d);
    let weights = LensWeights {
        retain: 2.0,
        specific_push: 0.5,
        agnostic_pull: 3.0,
        push_scale: 1.5,
    };
    let prompts = prompts();
    let mut lens = LensTrainer::new(
        model,
        config(Method::Full, 1e-2, 10),
        weights.clone(),
        &space,
        &prompts,
        device,
    )
    .unwrap();

    let check = |lens: &LensTrainer, when: &str| {
        let model = lens.trainer().model().valid();
        for (i, p) in prompts.iter().enumerate() {
            let got = lens.evaluate(&[i]).unwrap();
            let [retain, push, pull, total] = by_hand(&model, &start, p, &space, &weights);
            close(got.retain, retain, &format!("{when}, prompt {i}: retain"));
            close(
                got.specific_push,
                push,
                &format!("{when}, prompt {i}: specific push"),
            );
            close(
                got.agnostic_pull,
                pull,
                &format!("{when}, prompt {i}: agnostic pull"),
            );
            close(got.total, total, &format!("{when}, prompt {i}: total"));
        }
    };
    // At θ0 nothing has moved: retain is 0 and the push is exactly λ²·mean(δ²).
    let at_start = lens.evaluate(&[0]).unwrap();
    assert_eq!(at_start.retain, 0.0);
    let delta_sq = |lang: &str| {
        space.shifts[lang]
            .iter()
            .map(|x| (1.5 * x).powi(2))
            .sum::<f32>()
            / d as f32
    };
    close(
        at_start.specific_push,
        delta_sq("es") + delta_sq("zh"),
        "push at θ0",
    );
    check(&lens, "at the start");

    for step in 0..3 {
        lens.step(&[2 * step % 4, (2 * step + 1) % 4]).unwrap();
    }
    let moved = lens.evaluate(&[0, 1, 2, 3]).unwrap();
    assert!(
        moved.retain > 0.0,
        "training moved the pivot's states: {moved:?}"
    );
    check(&lens, "after 3 steps");
}

#[test]
fn lens_training_lowers_the_loss_for_full_and_lora() {
    for (method, lr) in [(Method::Full, 3e-3), (Method::Lora, 3e-2)] {
        let device = Device::flex().autodiff();
        let model = tiny_model(&device);
        let space = space(tiny_config("llama").hidden_size);
        let mut lens = LensTrainer::new(
            model,
            config(method, lr, 30),
            LensWeights::default(),
            &space,
            &prompts(),
            device,
        )
        .unwrap();
        let all = [0, 1, 2, 3];
        let before = lens.evaluate(&all).unwrap();
        for step in 0..30 {
            let report = lens.step(&[step % 4, (step + 1) % 4]).unwrap();
            assert!(report.losses.total.is_finite());
        }
        let after = lens.evaluate(&all).unwrap();
        println!("{method:?}: {before:?} → {after:?}");
        assert!(
            after.total < 0.5 * before.total,
            "{method:?}: {before:?} → {after:?}"
        );
        assert!(after.specific_push < before.specific_push);
    }
}

/// The asynchronous path the browser takes (prepare, steps and evaluation read without
/// blocking) gives exactly the synchronous path's numbers.
#[test]
fn the_asynchronous_path_equals_the_synchronous_one() {
    let run = |asynchronous: bool| {
        let device = Device::flex().autodiff();
        let model = tiny_model(&device);
        let space = space(tiny_config("llama").hidden_size);
        let cfg = config(Method::Lora, 3e-2, 4);
        let mut reports = Vec::new();
        let after = if asynchronous {
            pollster::block_on(async {
                let mut lens = LensTrainer::new_async(
                    model,
                    cfg,
                    LensWeights::default(),
                    &space,
                    &prompts(),
                    device,
                )
                .await
                .unwrap();
                for step in 0..4 {
                    reports.push(lens.step_async(&[step % 4]).await.unwrap());
                }
                lens.evaluate_async(&[0, 1, 2, 3]).await.unwrap()
            })
        } else {
            let mut lens = LensTrainer::new(
                model,
                cfg,
                LensWeights::default(),
                &space,
                &prompts(),
                device,
            )
            .unwrap();
            for step in 0..4 {
                reports.push(lens.step(&[step % 4]).unwrap());
            }
            lens.evaluate(&[0, 1, 2, 3]).unwrap()
        };
        (reports, after)
    };
    let (sync_reports, sync_after) = run(false);
    let (async_reports, async_after) = run(true);
    assert_eq!(sync_reports, async_reports);
    assert_eq!(sync_after, async_after);
}

#[test]
fn mismatched_subspaces_are_refused_with_a_reason() {
    let device = Device::flex().autodiff();
    let d = tiny_config("llama").hidden_size;
    let new = |space: LensSpace| {
        LensTrainer::new(
            tiny_model(&device),
            config(Method::Full, 1e-3, 1),
            LensWeights::default(),
            &space,
            &prompts(),
            device.clone(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
    };
    let mut wrong_size = space(d);
    wrong_size.agnostic.push(0.0);
    assert!(new(wrong_size).contains("hidden size"));
    let mut missing = space(d);
    missing.shifts.remove("zh");
    let mut lens = LensTrainer::new(
        tiny_model(&device),
        config(Method::Full, 1e-3, 1),
        LensWeights::default(),
        &missing,
        &prompts(),
        device.clone(),
    )
    .unwrap();
    let err = lens.step(&[0]).unwrap_err().to_string();
    assert!(err.contains("`zh`"), "{err}");
    let mut no_top = config(Method::Full, 1e-3, 1);
    no_top.top_layers = None;
    let err = LensTrainer::new(
        tiny_model(&device),
        no_top,
        LensWeights::default(),
        &space(d),
        &prompts(),
        device.clone(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("top_layers"), "{err}");
}
