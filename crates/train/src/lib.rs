//! Trainers for xlingo, generic over burn's autodiff devices (CPU `flex`, or any wgpu GPU):
//! supervised fine-tuning of the LLaMA model (crates/model), all weights or LoRA adapters,
//! with AdamW, a cosine schedule with warm-up, gradient accumulation and clipping,
//! validation loss, and a guard that stops at the first non-finite loss.

pub mod batch;
pub mod checkpoint;
pub mod error;
pub mod export;
pub mod lens;
pub mod lora;
pub mod loss;
pub mod readout;
pub mod schedule;
pub mod sft;

pub use batch::{Batch, Example, step_batches};
pub use error::{Result, TrainError};
pub use lens::{LensLosses, LensSpace, LensStepReport, LensTrainer, LensWeights, ParallelPrompt};
pub use loss::{TargetScore, score_targets};
pub use readout::{HostTensor, Readout, read_values, read_values_async};
pub use schedule::CosineSchedule;
pub use sft::{LoraSettings, Method, PendingStep, SftConfig, StepReport, Trainer};
