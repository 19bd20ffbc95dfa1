//! The LLaMA family in burn: the reference forward pass (CPU and wgpu), KV cache, hidden-state
//! taps, loading from GGUF or safetensors, sampling and generation.

pub mod cache;
pub mod error;
pub mod generate;
pub mod llama;
pub mod load;
pub mod rope;
pub mod taps;
/// Tiny random models (they live in xlingo-formats so that burn-free crates can make them too).
pub use xlingo_formats::tiny;

pub use cache::KvCache;
pub use error::{ModelError, Result};
pub use generate::{GenerateOptions, Generator, StopReason};
pub use llama::{ForwardOptions, ForwardOutput, Llama, token_tensor};
pub use load::LoadedModel;
pub use taps::{SentenceStates, sentence_states, sentence_states_async};
pub use xlingo_sampling::{Sampler, SamplingParams, argmax};
