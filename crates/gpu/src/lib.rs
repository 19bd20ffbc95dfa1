//! xlingo's fast inference engine: LLaMA-family decoding on wgpu with our own WGSL kernels
//! (shaders/), the same code natively (Vulkan, Metal, DX12; lavapipe without a GPU) and in
//! the browser (WebGPU). Weights stay in their GGUF quantisation on the GPU and are
//! dequantised inside the matrix kernels. The burn model (xlingo-model) is the reference it
//! is tested against.

pub mod context;
pub mod engine;
pub mod error;
pub mod kernels;
mod layout;
mod plan;
mod source;
pub mod weights;

pub use context::{AdapterSummary, Gpu};
pub use engine::{DEFAULT_CONTEXT_CAP, Engine, EngineOptions, ForwardOutput, Want};
pub use error::{GpuError, Result};
pub use source::Source;
pub use xlingo_sampling::{GenerateOptions, SamplingParams, StopReason};
