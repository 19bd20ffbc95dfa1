//! Model hyper-parameters, read from GGUF metadata or a Hugging Face config.json.
//!
//! Weights are always handed to the model in GGUF layout and naming (see [`crate::weights`]),
//! so one config type describes a model whichever file it came from.

use serde::Deserialize;

use crate::error::{FormatError, Result};
use crate::gguf::GgufHeader;

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs (2i, 2i+1): llama.cpp's "normal" rope, used by GGUF `llama` (whose Q/K rows the
    /// HF→GGUF converter permutes to match).
    Interleaved,
    /// Pairs (i, i + d/2): HF's `rotate_half`, used by GGUF `qwen2` and by HF checkpoints.
    Neox,
}

/// Context-extension schemes that change RoPE frequencies.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Positions divided by `factor` (HF "linear", GGUF `rope.scaling.type = linear`).
    Linear { factor: f64 },
    /// Llama 3.1's frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_context: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// GGUF architecture name: `llama` or `qwen2`.
    pub arch: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub context_length: usize,
    pub rms_eps: f64,
    pub rope_theta: f64,
    pub rope_layout: RopeLayout,
    pub rope_scaling: Option<RopeScaling>,
    /// No separate `output.weight`: the embedding matrix doubles as the LM head.
    pub tie_embeddings: bool,
    /// Biases on the Q, K and V projections (Qwen2).
    pub qkv_bias: bool,
}

pub const SUPPORTED_ARCHS: [&str; 2] = ["llama", "qwen2"];

impl ModelConfig {
    pub fn from_gguf(h: &GgufHeader) -> Result<Self> {
        let arch = h.architecture()?.to_string();
        if !SUPPORTED_ARCHS.contains(&arch.as_str()) {
            return Err(FormatError::UnsupportedArchitecture(arch));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let usize_key = |k: &str| h.get_u64(&key(k)).map(|v| v as usize);
        let hidden_size = usize_key("embedding_length")?;
        let n_heads = usize_key("attention.head_count")?;
        let n_kv_heads = match h.get(&key("attention.head_count_kv")) {
            Some(_) => usize_key("attention.head_count_kv")?,
            None => n_heads,
        };
        if n_heads == 0 || n_kv_heads == 0 || !n_heads.is_multiple_of(n_kv_heads) {
            return Err(FormatError::Invalid(format!(
                "{arch}.attention.head_count {n_heads} is not a positive multiple of head_count_kv {n_kv_heads}"
            )));
        }
        let head_dim = match h.get(&key("attention.key_length")) {
            Some(_) => usize_key("attention.key_length")?,
            None => hidden_size / n_heads,
        };
        let vocab_size = match h.get(&key("vocab_size")) {
            Some(_) => usize_key("vocab_size")?,
            None => h
                .get_array("tokenizer.ggml.tokens")
                .map(|a| a.len())
                .or_else(|_| {
                    h.tensor("token_embd.weight")
                        .map(|t| t.shape()[0])
                        .ok_or_else(|| FormatError::MissingTensor {
                            tensor: "token_embd.weight".into(),
                        })
                })?,
        };
        let rope_scaling = match h.get(&key("rope.scaling.type")).and_then(|v| v.as_str()) {
            None | Some("none") => None,
            Some("linear") => Some(RopeScaling::Linear {
                factor: h.get_f64(&key("rope.scaling.factor"))?,
            }),
            Some(other) => {
                return Err(FormatError::Invalid(format!(
                    "{arch}.rope.scaling.type `{other}` is not supported (supported: none, linear)"
                )));
            }
        };
        let config = ModelConfig {
            vocab_size,
            hidden_size,
            intermediate_size: usize_key("feed_forward_length")?,
            n_layers: usize_key("block_count")?,
            n_heads,
            n_kv_heads,
            head_dim,
            context_length: usize_key("context_length")?,
            rms_eps: h.get_f64(&key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: h
                .get(&key("rope.freq_base"))
                .and_then(|v| v.as_f64())
                .unwrap_or(10_000.0),
            rope_layout: if arch == "qwen2" {
                RopeLayout::Neox
            } else {
                RopeLayout::Interleaved
            },
            rope_scaling,
            tie_embeddings: h.tensor("output.weight").is_none(),
            qkv_bias: h.tensor("blk.0.attn_q.bias").is_some(),
            arch,
        };
        config.validate()?;
        Ok(config)
    }

    /// From a Hugging Face `config.json` (LlamaForCausalLM, Qwen2ForCausalLM, …).
    pub fn from_hf_json(path: &str, bytes: &[u8]) -> Result<Self> {
        let hf: HfConfig = serde_json::from_slice(bytes).map_err(|e| FormatError::Json {
            path: path.into(),
            message: e.to_string(),
        })?;
        hf.to_model_config()
    }

    /// Number of parameters, counting tied embeddings once.
    ///
    /// Saturates at `u64::MAX`: the sizes come straight from a file's metadata, and absurd
    /// ones (which `validate` lets through) must not overflow.
    /// RoPE's θᵢ = base^(−2i/d) for i in 0..head_dim/2, with the model's frequency scaling
    /// applied, and the divisor of positions (linear scaling; 1 otherwise). `freq_factors` is
    /// GGUF's `rope_freqs.weight` (Llama 3.1 style): θᵢ is divided by factor i.
    pub fn rope_frequencies(&self, freq_factors: Option<&[f32]>) -> (Vec<f64>, f64) {
        let d = self.head_dim;
        let mut inv_freq: Vec<f64> = (0..d / 2)
            .map(|i| self.rope_theta.powf(-2.0 * i as f64 / d as f64))
            .collect();
        let mut position_scale = 1.0;
        match self.rope_scaling {
            Some(RopeScaling::Linear { factor }) => position_scale = factor,
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_context,
            }) => {
                let orig = original_context as f64;
                let (low_wavelen, high_wavelen) = (orig / low_freq_factor, orig / high_freq_factor);
                for f in &mut inv_freq {
                    let wavelen = 2.0 * std::f64::consts::PI / *f;
                    if wavelen > low_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_wavelen {
                        let smooth = (orig / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
            None => {}
        }
        if let Some(factors) = freq_factors {
            for (f, &k) in inv_freq.iter_mut().zip(factors) {
                *f /= k as f64;
            }
        }
        (inv_freq, position_scale)
    }

    pub fn parameter_count(&self) -> u64 {
        let (d, f, v) = (
            self.hidden_size as u64,
            self.intermediate_size as u64,
            self.vocab_size as u64,
        );
        let mul = |a: u64, b: u64| a.saturating_mul(b);
        let sum = |terms: &[u64]| terms.iter().fold(0u64, |acc, &t| acc.saturating_add(t));
        let q = mul(self.n_heads as u64, self.head_dim as u64);
        let kv = mul(self.n_kv_heads as u64, self.head_dim as u64);
        let bias = if self.qkv_bias {
            sum(&[q, mul(2, kv)])
        } else {
            0
        };
        let layer = sum(&[
            mul(d, q),
            mul(mul(2, d), kv),
            mul(q, d),
            mul(mul(3, d), f),
            mul(2, d),
            bias,
        ]);
        let head = if self.tie_embeddings { 0 } else { mul(v, d) };
        sum(&[mul(v, d), mul(self.n_layers as u64, layer), d, head])
    }

    fn validate(&self) -> Result<()> {
        let positive = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("n_layers", self.n_layers),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
            ("context_length", self.context_length),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(FormatError::Invalid(format!("model config: {name} is 0")));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(FormatError::Invalid(format!(
                "model config: head_dim {} is odd",
                self.head_dim
            )));
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return Err(FormatError::Invalid(format!(
                "model config: {} heads are not a multiple of {} KV heads",
                self.n_heads, self.n_kv_heads
            )));
        }
        if self.rms_eps.is_nan() || self.rms_eps <= 0.0 {
            return Err(FormatError::Invalid(format!(
                "model config: rms eps {} is not positive",
                self.rms_eps
            )));
        }
        Ok(())
    }
}

/// The fields of a Hugging Face config.json that LLaMA-family models use.
#[derive(Debug, Deserialize)]
pub struct HfConfig {
    #[serde(default)]
    pub architectures: Vec<String>,
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    #[serde(default = "default_context")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub attention_bias: bool,
}

fn default_context() -> usize {
    2048
}
fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}

impl HfConfig {
    /// The GGUF architecture this HF model maps to.
    pub fn arch(&self) -> Result<&'static str> {
        let names: Vec<&str> = self
            .architectures
            .iter()
            .map(String::as_str)
            .chain(self.model_type.as_deref())
            .collect();
        for n in &names {
            match *n {
                "LlamaForCausalLM" | "MistralForCausalLM" | "llama" | "mistral" => {
                    return Ok("llama");
                }
                "Qwen2ForCausalLM" | "qwen2" => return Ok("qwen2"),
                _ => {}
            }
        }
        Err(FormatError::UnsupportedArchitecture(names.join(", ")))
    }

    pub fn to_model_config(&self) -> Result<ModelConfig> {
        let arch = self.arch()?;
        let n_kv_heads = self.num_key_value_heads.unwrap_or(self.num_attention_heads);
        if self.num_attention_heads == 0 || n_kv_heads == 0 {
            return Err(FormatError::Invalid(
                "config.json: attention head count is 0".into(),
            ));
        }
        let config = ModelConfig {
            arch: arch.to_string(),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            n_layers: self.num_hidden_layers,
            n_heads: self.num_attention_heads,
            n_kv_heads,
            head_dim: self
                .head_dim
                .unwrap_or(self.hidden_size / self.num_attention_heads),
            context_length: self.max_position_embeddings,
            rms_eps: self.rms_norm_eps,
            rope_theta: self.rope_theta,
            // Weights are permuted to GGUF layout on load (see weights.rs), so the rope layout
            // follows the GGUF architecture, not HF's rotate_half.
            rope_layout: if arch == "qwen2" {
                RopeLayout::Neox
            } else {
                RopeLayout::Interleaved
            },
            rope_scaling: self.parse_rope_scaling()?,
            tie_embeddings: self.tie_word_embeddings,
            qkv_bias: arch == "qwen2" || self.attention_bias,
        };
        config.validate()?;
        Ok(config)
    }

    fn parse_rope_scaling(&self) -> Result<Option<RopeScaling>> {
        let Some(v) = self.rope_scaling.as_ref().filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let field = |k: &str| v.get(k).and_then(|x| x.as_f64());
        let kind = v
            .get("rope_type")
            .or_else(|| v.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let factor = field("factor").ok_or_else(|| FormatError::MissingKey {
            key: "rope_scaling.factor".into(),
        })?;
        match kind {
            "linear" => Ok(Some(RopeScaling::Linear { factor })),
            "llama3" => Ok(Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor: field("low_freq_factor").unwrap_or(1.0),
                high_freq_factor: field("high_freq_factor").unwrap_or(4.0),
                original_context: field("original_max_position_embeddings").unwrap_or(8192.0)
                    as u64,
            })),
            "default" => Ok(None),
            other => Err(FormatError::Invalid(format!(
                "config.json: rope_scaling type `{other}` is not supported (supported: linear, llama3)"
            ))),
        }
    }
}
