//! Loading a model from a GGUF file (quantised weights dequantised to f32) or a Hugging Face
//! safetensors checkpoint.

use burn::tensor::Device;
use xlingo_formats::{Gguf, HfSafetensors, ModelConfig};

use crate::error::Result;
use crate::llama::Llama;

pub struct LoadedModel {
    pub config: ModelConfig,
    pub model: Llama,
}

impl LoadedModel {
    pub fn from_gguf(gguf: &Gguf, device: &Device) -> Result<Self> {
        let config = ModelConfig::from_gguf(&gguf.header)?;
        let model = Llama::from_weights(&config, gguf, device)?;
        Ok(LoadedModel { config, model })
    }

    pub fn from_safetensors(weights: &HfSafetensors, device: &Device) -> Result<Self> {
        let config = weights.config().clone();
        let model = Llama::from_weights(&config, weights, device)?;
        Ok(LoadedModel { config, model })
    }
}

/// Read a Hugging Face checkpoint directory: config.json plus one or more *.safetensors.
#[cfg(not(target_family = "wasm"))]
pub fn read_hf_dir(dir: &std::path::Path) -> Result<HfSafetensors> {
    use xlingo_formats::FormatError;
    let io = |path: &std::path::Path| {
        let p = path.display().to_string();
        move |source| FormatError::Io { path: p, source }
    };
    let config_path = dir.join("config.json");
    let config_bytes = std::fs::read(&config_path).map_err(io(&config_path))?;
    let config = ModelConfig::from_hf_json(&config_path.display().to_string(), &config_bytes)?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(
            FormatError::Invalid(format!("{}: no *.safetensors files", dir.display())).into(),
        );
    }
    let mut shards = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(io(&f))?;
        shards.push((f.display().to_string(), bytes));
    }
    Ok(HfSafetensors::new(shards, config)?)
}
