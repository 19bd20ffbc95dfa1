//! Everything `generate` needs from a model path: the burn model, its tokenizer, chat
//! template and stop tokens, from a GGUF file or a Hugging Face checkpoint directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, DeviceKind};
use tokenizers::Tokenizer;
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::{TokenizerInfo, tokenizer_from_gguf, tokenizer_from_json_bytes};
use xlingo_formats::{Gguf, ModelConfig};
use xlingo_model::LoadedModel;

use crate::assets;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
    /// burn's wgpu backend: Vulkan, Metal, DX12 (lavapipe on machines without a GPU).
    Gpu,
}

impl DeviceChoice {
    pub fn device(self) -> Device {
        match self {
            DeviceChoice::Cpu => Device::flex(),
            DeviceChoice::Gpu => Device::wgpu(DeviceKind::DefaultDevice),
        }
    }
}

pub struct Session {
    pub config: ModelConfig,
    pub loaded: LoadedModel,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
    /// Tokens that end a turn (eos, eot, …).
    pub stop_ids: Vec<u32>,
    /// Whether the tokenizer adds BOS to raw text.
    pub device: Device,
}

/// A path on disk, or the name of a known asset (fetched into the cache if needed).
pub fn resolve_model(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    match assets::find(spec) {
        Some(asset) => assets::ensure(asset),
        None => bail!(
            "model `{spec}`: no such file or directory, and not a known asset (see `xlingo fetch --list`)"
        ),
    }
}

impl Session {
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        if path.is_dir() {
            Self::load_hf_dir(path, device)
        } else {
            Self::load_gguf(path, device)
        }
    }

    fn load_gguf(path: &Path, device: Device) -> Result<Self> {
        let gguf = Gguf::open(path)?;
        let tokenizer = tokenizer_from_gguf(&gguf.header)?;
        let info = TokenizerInfo::from_gguf(&gguf.header)?;
        let template = ChatTemplate::from_gguf(&gguf.header)?;
        let loaded = LoadedModel::from_gguf(&gguf, &device)?;
        Ok(Session {
            config: loaded.config.clone(),
            loaded,
            tokenizer,
            template,
            stop_ids: info.stop_ids,
            device,
        })
    }

    fn load_hf_dir(dir: &Path, device: Device) -> Result<Self> {
        let weights = xlingo_model::load::read_hf_dir(dir)?;
        let tok_path = dir.join("tokenizer.json");
        let tok_bytes =
            std::fs::read(&tok_path).with_context(|| format!("reading {}", tok_path.display()))?;
        let tokenizer = tokenizer_from_json_bytes(&tok_bytes)?;
        let template = match std::fs::read(dir.join("tokenizer_config.json")) {
            Ok(bytes) => ChatTemplate::from_tokenizer_config_json(&bytes)?,
            Err(_) => None,
        };
        let mut stop_ids = Vec::new();
        for name in [
            "</s>",
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<|end_of_text|>",
        ] {
            if let Some(id) = tokenizer.token_to_id(name) {
                stop_ids.push(id);
            }
        }
        let loaded = LoadedModel::from_safetensors(&weights, &device)?;
        Ok(Session {
            config: loaded.config.clone(),
            loaded,
            tokenizer,
            template,
            stop_ids,
            device,
        })
    }
}
