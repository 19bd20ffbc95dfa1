use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Format(#[from] xlingo_formats::FormatError),
    #[error(
        "prompt of {prompt} tokens plus {requested} new tokens exceeds the context of {context} tokens"
    )]
    ContextExceeded {
        prompt: usize,
        requested: usize,
        context: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, ModelError>;
