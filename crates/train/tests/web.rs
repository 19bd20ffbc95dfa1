//! LoRA training in a browser: headless Chromium, burn's wgpu backend on WebGPU through
//! SwiftShader. The tiny run of tests/tiny_run must learn and match the native CPU run
//! recorded in tests/tiny_lora.json (kept true by tests/tiny_lora.rs).
//! Run by scripts/test.sh: `cargo test -p xlingo-train --target wasm32-unknown-unknown`
//! (webdriver.json beside Cargo.toml).
#![cfg(target_family = "wasm")]

mod tiny_run;

use burn::tensor::Device;
use tiny_run::{RunRecord, max_diff};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// f32 on another device sums in another order; 8 Adam steps keep the runs within this
/// (measured: 2.9e-6 on SwiftShader).
const TOLERANCE: f32 = 2e-3;

#[wasm_bindgen_test]
async fn lora_on_webgpu_learns_like_the_native_run() {
    let device = Device::wgpu_options()
        .init_async()
        .await
        .expect("WebGPU device (see webdriver.json)");
    let (trainer, got) = tiny_run::run(device.autodiff()).await;
    let recorded: RunRecord = serde_json::from_str(tiny_run::FIXTURE).unwrap();
    let diff = max_diff(&got, &recorded);
    console_log!("browser: {got:?}\nnative:  {recorded:?}\nmax |diff| {diff}");
    assert!(got.held_out_after < 0.5 * got.held_out_before);
    assert!(diff < TOLERANCE, "max |diff| {diff}");

    // The adapter downloads as PEFT files, and the merged model for chat builds.
    let config = xlingo_formats::ModelConfig::from_gguf(&tiny_run::tiny_gguf().header).unwrap();
    let adapter = xlingo_train::export::peft_adapter_async(
        trainer.model(),
        &config,
        &tiny_run::config().lora,
        "tiny",
    )
    .await
    .unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&adapter.safetensors).unwrap();
    assert_eq!(tensors.len(), 2 * 3 * config.n_layers);
    let merged = xlingo_train::export::merged_gguf_async(trainer.model(), &tiny_run::tiny_gguf())
        .await
        .unwrap();
    xlingo_formats::Gguf::from_bytes(merged).unwrap();
}
