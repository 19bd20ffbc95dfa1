//! The reference fixtures of the real default model (fixtures/reference/, made by
//! scripts/reference/) and the model file they were made from, for the tests of both engines
//! (crates/model/tests/reference_smollm2.rs, crates/gpu/tests/smollm2.rs include this file).
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;
use xlingo_formats::chat::ChatMessage;

#[derive(Deserialize)]
pub struct Fixture {
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
pub struct Case {
    pub name: String,
    pub chat: bool,
    pub text: String,
    pub messages: Option<Vec<ChatMessage>>,
    pub prompt_ids: Vec<u32>,
    pub continuation_ids: Vec<u32>,
    pub positions: Vec<Position>,
}

impl Case {
    /// Prompt then continuation: the sequence the positions are over.
    pub fn all_ids(&self) -> Vec<u32> {
        self.prompt_ids
            .iter()
            .chain(&self.continuation_ids)
            .copied()
            .collect()
    }
}

#[derive(Deserialize)]
pub struct Position {
    pub top_ids: Vec<u32>,
    pub top_logits: Vec<f32>,
    pub logsumexp: f32,
    pub margin: f32,
}

pub fn fixture(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reference")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

pub fn model_path() -> PathBuf {
    let cache = std::env::var_os("XLINGO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/xlingo"));
    let path = cache.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run `cargo run -p xlingo-cli -- fetch smollm2-135m-instruct` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// log Σ exp(row), in f64 for the sum.
pub fn logsumexp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + row
        .iter()
        .map(|&x| ((x - max) as f64).exp())
        .sum::<f64>()
        .ln() as f32
}
