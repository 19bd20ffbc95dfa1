//! The engine in a browser: headless Chromium, WebGPU through SwiftShader (no shader-f16).
//! Run by scripts/test.sh:
//! `cargo test -p xlingo-gpu --target wasm32-unknown-unknown` (webdriver.json beside Cargo.toml).
//! A tiny Q4_1 model made here; logits, greedy and sampled tokens against the burn reference model's,
//! recorded natively in tiny_llama_q4_1.json (kept true by parity.rs).
#![cfg(target_family = "wasm")]

use wasm_bindgen_test::*;
use xlingo_formats::tiny::{gguf_metadata, random_weights, tiny_config, write_gguf};
use xlingo_formats::{GgmlType, Gguf};
use xlingo_gpu::{Engine, EngineOptions, GenerateOptions, Gpu, SamplingParams, Want};

wasm_bindgen_test_configure!(run_in_browser);

const FIXTURE: &str = include_str!("tiny_llama_q4_1.json");

#[wasm_bindgen_test]
async fn tiny_model_in_the_browser_matches_the_reference() {
    let fixture: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let prompt: Vec<u32> = serde_json::from_value(fixture["prompt"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(fixture["logits"].clone()).unwrap();
    let greedy: Vec<u32> = serde_json::from_value(fixture["greedy"].clone()).unwrap();

    let config = tiny_config("llama");
    let bytes = write_gguf(
        gguf_metadata(&config),
        &random_weights(&config, 1),
        GgmlType::Q4_1,
    )
    .unwrap();
    let gguf = Gguf::from_bytes(bytes).unwrap();
    let gpu = Gpu::new()
        .await
        .expect("WebGPU adapter (see webdriver.json)");
    console_log!(
        "adapter: {} ({:?}, {:?})",
        gpu.adapter,
        gpu.device_type,
        gpu.limits.max_storage_buffer_binding_size
    );
    let options = EngineOptions {
        prefill_chunk: 4,
        all_logits: true,
        ..Default::default()
    };
    let mut engine = Engine::from_gguf(&gpu, &gguf, options).unwrap();
    let got = engine
        .forward(&prompt, Want::AllLogits)
        .await
        .unwrap()
        .logits;
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    console_log!("max |logit diff| vs the burn model: {diff}");
    assert_eq!(got.len(), want.len());
    assert!(diff < 1e-4, "max |logit diff| {diff}");

    let options = GenerateOptions {
        max_tokens: greedy.len(),
        stop_ids: vec![],
        sampling: SamplingParams::greedy(),
    };
    let (tokens, _) = engine.generate(&prompt, &options, |_| true).await.unwrap();
    assert_eq!(tokens, greedy);

    // Seeded sampling with the repetition penalty and top-k on the GPU: the reference's
    // tokens (as parity.rs records them).
    let sampled: Vec<u32> = serde_json::from_value(fixture["sampled"].clone()).unwrap();
    let sampling = SamplingParams {
        seed: 9,
        repeat_penalty: 1.3,
        ..SamplingParams::default()
    };
    let sampled_options = GenerateOptions {
        sampling,
        ..options.clone()
    };
    engine.reset();
    let (tokens, _) = engine
        .generate(&prompt, &sampled_options, |_| true)
        .await
        .unwrap();
    assert_eq!(tokens, sampled);

    // Two prompts decoded together: each gets what it gets alone. The second one first shares
    // nothing with the first, then its first 6 tokens (read once, the keys and values copied
    // to the second place: 6 tokens fewer run).
    let mut batch = Engine::from_gguf(
        &gpu,
        &gguf,
        EngineOptions {
            sequences: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let branch: Vec<u32> = prompt[..6].iter().chain(&[1, 2, 3]).copied().collect();
    for (second, shared) in [(prompt[2..].to_vec(), 0), (branch, 6)] {
        engine.reset();
        let (alone, _) = engine.generate(&second, &options, |_| true).await.unwrap();
        let before = batch.tokens_run();
        let both = batch
            .generate_batch(
                &[prompt.clone(), second.clone()],
                &options,
                |_, _| true,
                |_, _, _| {},
            )
            .await
            .unwrap();
        assert_eq!(both[0].0, greedy);
        assert_eq!(both[1].0, alone);
        let read = prompt.len() + second.len() - shared;
        let fed: usize = both.iter().map(|(tokens, _)| tokens.len()).sum();
        assert_eq!(batch.tokens_run() - before, (read + fed) as u64);
    }
}
