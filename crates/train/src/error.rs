#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "the loss became {value} at step {step} (learning rate {lr:.3e}); the model was not updated by that step — lower the learning rate or check the data"
    )]
    NonFinite { step: usize, value: f32, lr: f64 },
    #[error("example {index}: {reason}")]
    BadExample { index: usize, reason: String },
    #[error("invalid setting: {0}")]
    Config(String),
    #[error(transparent)]
    Model(#[from] xlingo_model::ModelError),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
}

pub type Result<T> = std::result::Result<T, TrainError>;
