//! File formats xlingo reads and writes: GGUF (with dequantisation), safetensors, Hugging Face
//! config.json, tokenizers and chat templates. Pure Rust and wasm-safe: everything works on byte
//! slices; only [`gguf::Gguf::open`] memory-maps a file, and [`write_atomically`] writes one,
//! natively.

pub mod chat;
pub mod config;
pub mod error;
pub mod gguf;
pub mod quant;
pub mod tiny;
pub mod tokenizer;
pub mod weights;

pub use config::{ModelConfig, RopeLayout, RopeScaling};
pub use error::{FormatError, Result};
pub use gguf::{Gguf, GgufHeader, GgufWriter, MetaValue, TensorInfo};
pub use quant::GgmlType;
pub use weights::{HfSafetensors, WeightSource};

/// Write `bytes` to `path` so that a crash never leaves a partial file there: written to
/// `<path>.partial` beside it, fsynced, then renamed over `path`. Every output xlingo writes
/// (models, checkpoints, predictions summaries) goes through here. (In a browser there is no
/// file system: this compiles there and returns the platform's "unsupported" error.)
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}
