//! Everything `generate` needs from a model path: the burn model, its tokenizer, chat
//! template and stop tokens, from a GGUF file or a Hugging Face checkpoint directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, DeviceKind};
use tokenizers::Tokenizer;
use xlingo_formats::chat::{ChatMessage, ChatTemplate};
use xlingo_formats::tokenizer::{TokenizerInfo, tokenizer_from_gguf, tokenizer_from_json_bytes};
use xlingo_formats::{Gguf, ModelConfig};
use xlingo_model::{GenerateOptions, Generator, LoadedModel, StopReason};

use crate::assets;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// The WGSL engine on a hardware GPU adapter, and on a software one (lavapipe) for several
    /// prompts at once (--batch-size ≥ 2); the reference on the CPU otherwise (one prompt at a
    /// time, the WGSL engine is slower than it on software adapters, for now).
    Auto,
    /// xlingo's WGSL engine (crates/gpu): quantised weights stay quantised on the GPU.
    Gpu,
    /// The burn reference model (crates/model), on the device given by --device.
    Reference,
}

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

/// How the WGSL engine stores keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KvCache {
    /// Half the memory and attention reads (llama.cpp's default); logits move by ~1e-3.
    F16,
    /// Exact: the engine's logits match the reference model's to ~1e-5.
    F32,
}

/// The model, on one of the two engines.
pub enum Engine {
    Gpu(Box<xlingo_gpu::Engine>),
    Reference {
        model: Box<LoadedModel>,
        device: Device,
    },
}

impl Engine {
    /// One line for stderr: which engine runs, and where.
    pub fn describe(&self) -> String {
        match self {
            Engine::Gpu(e) => format!(
                "the WGSL engine on {} (weights {:.1} MB, {} KV cache {:.1} MB for {} positions{})",
                e.gpu().adapter,
                e.weight_bytes() as f64 / 1e6,
                e.kv_cache_format(),
                e.kv_cache_bytes() as f64 / 1e6,
                e.context(),
                match e.sequences() {
                    1 => String::new(),
                    n => format!(" × {n} sequences"),
                }
            ),
            Engine::Reference { device, .. } => {
                format!("the burn reference engine on {device:?}")
            }
        }
    }

    /// Forget the sequence so that the next `generate` runs its whole prompt (the WGSL engine
    /// otherwise reuses a cached prefix; the reference engine always starts empty).
    pub fn reset(&mut self) {
        if let Engine::Gpu(e) = self {
            e.reset();
        }
    }

    pub fn generate(
        &mut self,
        prompt: &[u32],
        options: &GenerateOptions,
        on_token: impl FnMut(u32) -> bool,
    ) -> Result<(Vec<u32>, StopReason)> {
        Ok(match self {
            Engine::Gpu(e) => pollster::block_on(e.generate(prompt, options, on_token))?,
            Engine::Reference { model, device } => {
                let mut generator =
                    Generator::new(&model.model, model.config.context_length, device.clone());
                generator.generate(prompt, options, on_token)?
            }
        })
    }

    /// Generate after each prompt: the WGSL engine decodes up to its `sequences` at once
    /// (`Engine::generate_batch`), the reference engine one prompt after another (reading a
    /// prefix shared with the previous prompt once).
    /// `on_token(i, token)` sees prompt i's tokens, `on_done(i, tokens, reason)` each prompt
    /// as soon as it is finished; the results follow `prompts`.
    pub fn generate_batch(
        &mut self,
        prompts: &[Vec<u32>],
        options: &GenerateOptions,
        mut on_token: impl FnMut(usize, u32) -> bool,
        mut on_done: impl FnMut(usize, &[u32], StopReason),
    ) -> Result<Vec<(Vec<u32>, StopReason)>> {
        match self {
            Engine::Gpu(e) => Ok(pollster::block_on(
                e.generate_batch(prompts, options, on_token, on_done),
            )?),
            // One generator for all: each prompt reads only what it does not share with the
            // previous one (the chat template and instruction are read once).
            Engine::Reference { model, device } => {
                let mut generator =
                    Generator::new(&model.model, model.config.context_length, device.clone());
                prompts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let (tokens, reason) =
                            generator.generate(p, options, |t| on_token(i, t))?;
                        on_done(i, &tokens, reason);
                        Ok((tokens, reason))
                    })
                    .collect()
            }
        }
    }
}

pub struct Session {
    pub config: ModelConfig,
    pub engine: Engine,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
    /// Tokens that end a turn (eos, eot, …).
    pub stop_ids: Vec<u32>,
}

/// A model's text side without its weights: enough to build prompts (and to size the KV
/// cache from them) before an engine is loaded.
pub struct Text {
    pub config: ModelConfig,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
    /// Tokens that end a turn (eos, eot, …).
    pub stop_ids: Vec<u32>,
}

impl Text {
    pub fn load(path: &Path) -> Result<Text> {
        if path.is_dir() {
            Self::from_hf_dir(path)
        } else {
            Self::from_gguf(&Gguf::open(path)?)
        }
    }

    fn from_gguf(gguf: &Gguf) -> Result<Text> {
        Ok(Text {
            config: ModelConfig::from_gguf(&gguf.header)?,
            tokenizer: tokenizer_from_gguf(&gguf.header)?,
            template: ChatTemplate::from_gguf(&gguf.header)?,
            stop_ids: TokenizerInfo::from_gguf(&gguf.header)?.stop_ids,
        })
    }

    fn from_hf_dir(dir: &Path) -> Result<Text> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let config_path = dir.join("config.json");
        let config =
            ModelConfig::from_hf_json(&config_path.display().to_string(), &read("config.json")?)?;
        let tokenizer = tokenizer_from_json_bytes(&read("tokenizer.json")?)?;
        let template = match std::fs::read(dir.join("tokenizer_config.json")) {
            Ok(bytes) => ChatTemplate::from_tokenizer_config_json(&bytes)?,
            Err(_) => None,
        };
        let stop_ids = [
            "</s>",
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<|end_of_text|>",
        ]
        .iter()
        .filter_map(|name| tokenizer.token_to_id(name))
        .collect();
        Ok(Text {
            config,
            tokenizer,
            template,
            stop_ids,
        })
    }
}

/// How to run the model.
#[derive(Clone, Debug)]
pub struct EngineSpec {
    pub engine: EngineChoice,
    pub device: DeviceChoice,
    /// KV-cache positions for the WGSL engine (default: the model's context length, at most
    /// `xlingo_gpu::DEFAULT_CONTEXT_CAP`).
    pub context: Option<usize>,
    /// Sequences the WGSL engine decodes at once (`generate_batch`); 1 for a chat.
    pub sequences: usize,
    pub kv_cache: KvCache,
}

impl EngineSpec {
    /// The GPU to use, or None for the reference engine. `Auto` falls back (saying why);
    /// an explicit `Gpu` without an adapter is an error.
    fn gpu(&self) -> Result<Option<xlingo_gpu::Gpu>> {
        match self.engine {
            EngineChoice::Reference => Ok(None),
            EngineChoice::Gpu => Ok(Some(xlingo_gpu::Gpu::new_blocking()?)),
            EngineChoice::Auto => match xlingo_gpu::Gpu::new_blocking() {
                Ok(gpu) if gpu.device_type != wgpu::DeviceType::Cpu => Ok(Some(gpu)),
                Ok(gpu) if self.sequences > 1 => {
                    eprintln!(
                        "[xlingo] a software GPU adapter ({}); {} prompts at a time run faster on the WGSL engine there than one at a time on the reference engine",
                        gpu.adapter.name, self.sequences
                    );
                    Ok(Some(gpu))
                }
                Ok(gpu) => {
                    eprintln!(
                        "[xlingo] only a software GPU adapter ({}); using the burn reference engine on the CPU, \
                         which is faster there (--engine gpu to use it anyway)",
                        gpu.adapter.name
                    );
                    Ok(None)
                }
                Err(e) => {
                    eprintln!("[xlingo] {e}; using the burn reference engine on the CPU");
                    Ok(None)
                }
            },
        }
    }

    fn gpu_options(&self) -> xlingo_gpu::EngineOptions {
        xlingo_gpu::EngineOptions {
            context: self.context,
            sequences: self.sequences,
            kv_f16: self.kv_cache == KvCache::F16,
            ..Default::default()
        }
    }
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
    /// The text the model sees for a prompt: with `chat`, `text` (after an optional system
    /// message) as a user turn in the model's chat template with the generation prompt;
    /// otherwise `text` itself. `path` names the model in the error when it has no template.
    pub fn prompt_text(
        &self,
        text: &str,
        chat: bool,
        system: Option<&str>,
        path: &Path,
    ) -> Result<String> {
        if !chat {
            return Ok(text.to_string());
        }
        let template = self.template.as_ref().with_context(|| {
            format!(
                "{} has no chat template; run without --chat",
                path.display()
            )
        })?;
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(ChatMessage {
                role: "system".into(),
                content: system.into(),
            });
        }
        messages.push(ChatMessage {
            role: "user".into(),
            content: text.into(),
        });
        Ok(template.render(&messages, true)?)
    }

    /// The token ids of [`prompt_text`](Self::prompt_text): chat templates write their own
    /// BOS, so a chat prompt is tokenised without special tokens; raw text follows the
    /// tokenizer's add-BOS rule.
    pub fn prompt_ids(
        &self,
        text: &str,
        chat: bool,
        system: Option<&str>,
        path: &Path,
    ) -> Result<Vec<u32>> {
        let text = self.prompt_text(text, chat, system, path)?;
        self.encode(&text, !chat)
    }

    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, add_special_tokens)
            .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn load(path: &Path, spec: &EngineSpec) -> Result<Self> {
        if path.is_dir() {
            Self::load_hf_dir(path, spec)
        } else {
            Self::load_gguf(path, spec)
        }
    }

    fn load_gguf(path: &Path, spec: &EngineSpec) -> Result<Self> {
        let gguf = Gguf::open(path)?;
        let text = Text::from_gguf(&gguf)?;
        let engine = match spec.gpu()? {
            Some(gpu) => Engine::Gpu(Box::new(xlingo_gpu::Engine::new(
                &gpu,
                text.config.clone(),
                xlingo_gpu::Source::Gguf(&gguf),
                spec.gpu_options(),
            )?)),
            None => {
                let device = spec.device.device();
                let model = Box::new(LoadedModel::from_gguf(&gguf, &device)?);
                Engine::Reference { model, device }
            }
        };
        Ok(Session::new(text, engine))
    }

    fn load_hf_dir(dir: &Path, spec: &EngineSpec) -> Result<Self> {
        let weights = xlingo_model::load::read_hf_dir(dir)?;
        let text = Text::from_hf_dir(dir)?;
        let engine = match spec.gpu()? {
            Some(gpu) => Engine::Gpu(Box::new(xlingo_gpu::Engine::new(
                &gpu,
                weights.config().clone(),
                xlingo_gpu::Source::Weights(&weights),
                spec.gpu_options(),
            )?)),
            None => {
                let device = spec.device.device();
                let model = Box::new(LoadedModel::from_safetensors(&weights, &device)?);
                Engine::Reference { model, device }
            }
        };
        Ok(Session::new(text, engine))
    }

    fn new(text: Text, engine: Engine) -> Session {
        Session {
            config: text.config,
            engine,
            tokenizer: text.tokenizer,
            template: text.template,
            stop_ids: text.stop_ids,
        }
    }
}
