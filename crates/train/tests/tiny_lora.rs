//! The tiny LoRA run of tests/tiny_run natively (burn's CPU backend), through the
//! asynchronous reads the browser uses: it learns (held-out loss falls by more than half),
//! it equals the synchronous path step for step, and it equals the recorded run in
//! tests/tiny_lora.json that the browser test (tests/web.rs) compares WebGPU against.
//! `XLINGO_UPDATE_FIXTURES=1` rewrites the record.
#![cfg(not(target_family = "wasm"))]

mod tiny_run;

use burn::module::Module;
use burn::tensor::Device;
use tiny_run::{RunRecord, max_diff};
use xlingo_formats::ModelConfig;
use xlingo_model::LoadedModel;
use xlingo_model::llama::ForwardOptions;
use xlingo_train::Trainer;
use xlingo_train::export::merged_gguf;

#[test]
fn the_tiny_run_learns_and_matches_its_record() {
    let (trainer, got) = pollster::block_on(tiny_run::run(Device::flex().autodiff()));
    eprintln!("{got:?}");
    assert!(
        got.held_out_after < 0.5 * got.held_out_before,
        "held-out loss {} → {}",
        got.held_out_before,
        got.held_out_after
    );
    assert!(got.losses.last() < got.losses.first());

    // The synchronous path (what `xlingo train sft` runs) takes the same steps.
    let sync = sync_run();
    assert!(max_diff(&got, &sync) < 1e-6, "{got:?}\n{sync:?}");

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tiny_lora.json");
    if std::env::var_os("XLINGO_UPDATE_FIXTURES").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let recorded: RunRecord = serde_json::from_str(tiny_run::FIXTURE).unwrap();
    assert!(max_diff(&got, &recorded) < 1e-5, "{got:?}\n{recorded:?}");

    merged_model_gives_the_tuned_logits(&trainer);
}

fn sync_run() -> RunRecord {
    let device = Device::flex().autodiff();
    let model = LoadedModel::from_gguf(&tiny_run::tiny_gguf(), &device)
        .unwrap()
        .model;
    let config = tiny_run::config();
    let (train, held_out) = tiny_run::examples();
    let mut trainer = Trainer::new(model, config.clone(), device).unwrap();
    let held_out_before = trainer.eval_loss(&held_out);
    let losses = (0..tiny_run::STEPS)
        .map(|step| {
            let micro = tiny_run::micro_batches(&train, &config, step);
            trainer.step(&micro).unwrap().loss
        })
        .collect();
    RunRecord {
        losses,
        held_out_before,
        held_out_after: trainer.eval_loss(&held_out),
    }
}

/// The GGUF the browser chats with after tuning (adapted matrices merged, in F16) gives the
/// tuned model's logits.
fn merged_model_gives_the_tuned_logits(trainer: &Trainer) {
    let source = tiny_run::tiny_gguf();
    let bytes = merged_gguf(trainer.model(), &source).unwrap();
    let merged = xlingo_formats::Gguf::from_bytes(bytes).unwrap();
    assert_eq!(
        ModelConfig::from_gguf(&merged.header).unwrap(),
        ModelConfig::from_gguf(&source.header).unwrap()
    );
    let device = Device::flex();
    let reloaded = LoadedModel::from_gguf(&merged, &device).unwrap().model;
    let tuned = trainer.model().valid();
    let ids = xlingo_model::llama::token_tensor(&[3, 10, 20, 7, 40], &device);
    let logits = |m: &xlingo_model::llama::Llama| {
        m.forward(ids.clone(), &mut m.new_cache(), ForwardOptions::default())
            .logits
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (logits(&tuned), logits(&reloaded));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let base = LoadedModel::from_gguf(&source, &device).unwrap().model;
    let moved = a
        .iter()
        .zip(&logits(&base))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    eprintln!("merged vs tuned: max |Δlogit| {diff}; tuning moved logits by up to {moved}");
    // F16 rounding of the merged matrices; training moved the logits far more than that.
    assert!(diff < 2e-2, "{diff}");
    assert!(moved > 50.0 * diff, "{moved} vs {diff}");
}
