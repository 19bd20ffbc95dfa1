//! One short LoRA run on a tiny random model, run the same way natively (tests/tiny_lora.rs,
//! burn's CPU backend) and in the browser (tests/web.rs, burn's wgpu backend on WebGPU): the
//! model, data, adapters and order are pure functions of fixed seeds, and values are read
//! only through the asynchronous path the browser needs.

use burn::tensor::Device;
use xlingo_formats::tiny::{gguf_metadata, random_weights, tiny_config, write_gguf};
use xlingo_formats::{GgmlType, Gguf};
use xlingo_model::LoadedModel;
use xlingo_train::{
    CosineSchedule, Example, LoraSettings, Method, SftConfig, Trainer, step_batches,
};

pub const STEPS: usize = 8;

/// The recorded run (native CPU): see tests/tiny_lora.rs.
pub const FIXTURE: &str = include_str!("../tiny_lora.json");

/// What the run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// Training loss of each step (before its update).
    pub losses: Vec<f32>,
    /// Mean loss per target token on the held-out examples, before and after.
    pub held_out_before: f32,
    pub held_out_after: f32,
}

pub fn tiny_gguf() -> Gguf {
    let config = tiny_config("llama");
    let bytes = write_gguf(
        gguf_metadata(&config),
        &random_weights(&config, 5),
        GgmlType::F32,
    )
    .expect("tiny GGUF");
    Gguf::from_bytes(bytes).expect("tiny GGUF parses")
}

/// After a prompt, answer 40 41 42 43 (learnable in a few steps); 12 for training, 4 held out.
pub fn examples() -> (Vec<Example>, Vec<Example>) {
    let all: Vec<Example> = (0..16u32)
        .map(|i| Example::prompt_response(&[3 + i, 10 + i, 20 + 2 * i, 7], &[40, 41, 42, 43]))
        .collect();
    (all[..12].to_vec(), all[12..].to_vec())
}

pub fn config() -> SftConfig {
    SftConfig {
        method: Method::Lora,
        lora: LoraSettings {
            rank: 4,
            alpha: 8.0,
            targets: vec!["q".into(), "v".into(), "up".into()],
            dropout: 0.0,
        },
        schedule: CosineSchedule {
            peak_lr: 1e-2,
            min_lr: 1e-3,
            warmup_steps: 2,
            total_steps: STEPS,
        },
        batch_size: 4,
        grad_accum: 1,
        max_grad_norm: Some(1.0),
        weight_decay: 0.0,
        seed: 3,
        top_layers: None,
    }
}

/// The micro-batches of optimizer step `step` (the seeded order `xlingo train sft` uses).
pub fn micro_batches<'a>(
    train: &'a [Example],
    config: &SftConfig,
    step: usize,
) -> Vec<Vec<&'a Example>> {
    step_batches(
        train.len(),
        config.batch_size,
        config.grad_accum,
        step,
        config.seed,
    )
    .iter()
    .map(|b| b.iter().map(|&i| &train[i]).collect())
    .collect()
}

/// `device` must have autodiff (`Device::flex().autodiff()`, or a wgpu device's).
pub async fn run(device: Device) -> (Trainer, RunRecord) {
    let model = LoadedModel::from_gguf(&tiny_gguf(), &device)
        .expect("tiny model loads")
        .model;
    let config = config();
    let (train, held_out) = examples();
    let mut trainer = Trainer::new(model, config.clone(), device).expect("trainer");
    let held_out_before = trainer.eval_loss_async(&held_out).await.expect("eval");
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let micro = micro_batches(&train, &config, step);
        losses.push(trainer.step_async(&micro).await.expect("step").loss);
    }
    let held_out_after = trainer.eval_loss_async(&held_out).await.expect("eval");
    (
        trainer,
        RunRecord {
            losses,
            held_out_before,
            held_out_after,
        },
    )
}

/// The largest |difference| between two runs' numbers.
pub fn max_diff(a: &RunRecord, b: &RunRecord) -> f32 {
    assert_eq!(a.losses.len(), b.losses.len());
    a.losses
        .iter()
        .zip(&b.losses)
        .map(|(x, y)| (x - y).abs())
        .chain([
            (a.held_out_before - b.held_out_before).abs(),
            (a.held_out_after - b.held_out_after).abs(),
        ])
        .fold(0.0, f32::max)
}
