use xlingo_formats::FormatError;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found (WebGPU in the browser, Vulkan/Metal/DX12 natively)")]
    NoAdapter,
    #[error("could not open the GPU device: {0}")]
    Device(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("tensor `{tensor}`: {ty} is not supported by the GPU engine (supported: {supported})")]
    UnsupportedType {
        tensor: String,
        ty: &'static str,
        supported: &'static str,
    },
    #[error("tensor `{tensor}`: {reason}")]
    BadTensor { tensor: String, reason: String },
    #[error(
        "tensor `{tensor}`: one row is {row_bytes} bytes, more than this device can bind ({limit} bytes)"
    )]
    TooLarge {
        tensor: String,
        row_bytes: u64,
        limit: u64,
    },
    #[error(
        "{needed} positions do not fit the context of {context} (prompt plus generated tokens)"
    )]
    ContextExceeded { needed: usize, context: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("reading a GPU buffer back failed: {0}")]
    Readback(String),
}

pub type Result<T> = std::result::Result<T, GpuError>;
