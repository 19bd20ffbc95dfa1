//! File formats xlingo reads and writes: GGUF (with dequantisation), safetensors, Hugging Face
//! config.json, tokenizers and chat templates. Pure Rust and wasm-safe: everything works on byte
//! slices; only [`gguf::Gguf::open`] memory-maps a file, natively.

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
