//! One error type for every format reader. Each variant names the file part, key or tensor at
//! fault, so a user sees one clear line instead of a panic.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a GGUF file: it starts with \"{}\", not \"GGUF\"", .found.escape_ascii())]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    #[error("file truncated while reading {what} at byte {offset}")]
    Truncated { what: String, offset: u64 },
    #[error("invalid UTF-8 in {what}")]
    InvalidUtf8 { what: String },
    #[error("metadata key `{key}`: unknown value type {type_id}")]
    UnknownMetadataType { key: String, type_id: u32 },
    #[error("tensor `{tensor}`: unknown or unsupported quantisation type {type_id}")]
    UnknownTensorType { tensor: String, type_id: u32 },
    #[error(
        "tensor `{tensor}`: data range {offset}..{end} lies outside the file ({file_len} bytes): the file is truncated (an interrupted download?) or corrupt"
    )]
    TensorOutOfRange {
        tensor: String,
        offset: u64,
        end: u64,
        file_len: u64,
    },
    #[error("tensor `{tensor}`: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch {
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("missing metadata key `{key}`")]
    MissingKey { key: String },
    #[error("metadata key `{key}`: expected {expected}")]
    WrongKeyType { key: String, expected: String },
    #[error("missing tensor `{tensor}`")]
    MissingTensor { tensor: String },
    #[error("unsupported architecture `{0}` (supported: llama, qwen2)")]
    UnsupportedArchitecture(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("safetensors {path}: {message}")]
    Safetensors { path: String, message: String },
    #[error("{path}: invalid JSON: {message}")]
    Json { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, FormatError>;
