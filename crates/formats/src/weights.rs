//! Weights by name, in one layout whatever the file: GGUF tensor names, row-major shapes as
//! PyTorch sees them ([out, in] for matrices), f32 values, and the Q/K row order GGUF uses.
//!
//! Hugging Face LLaMA checkpoints pair rotary dimensions as (i, i + d/2) (`rotate_half`); the
//! HF→GGUF converter permutes the rows of `q_proj` and `k_proj` within each head so that
//! llama.cpp's interleaved rope — pairs (2i, 2i + 1) — computes the same thing. We apply the
//! same permutation when reading safetensors, so the model has a single code path.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use crate::config::ModelConfig;
use crate::error::{FormatError, Result};
use crate::gguf::Gguf;

/// Something that yields named f32 tensors in GGUF naming and layout.
pub trait WeightSource {
    /// Row-major shape and values of a tensor.
    fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)>;
    fn contains(&self, name: &str) -> bool;
}

impl WeightSource for Gguf {
    fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        Gguf::tensor_f32(self, name)
    }
    fn contains(&self, name: &str) -> bool {
        self.header.tensor(name).is_some()
    }
}

/// The HF name of a GGUF tensor name, for LLaMA-family checkpoints.
pub fn hf_name(gguf_name: &str) -> Option<String> {
    let fixed = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let hf_part = match part {
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_q.bias" => "self_attn.q_proj.bias",
        "attn_k.bias" => "self_attn.k_proj.bias",
        "attn_v.bias" => "self_attn.v_proj.bias",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf_part}"))
}

/// Reorder the rows of a Q or K projection (or its bias) from HF's half-split rotary layout to
/// GGUF's interleaved one: within each head, row `j * (d/2) + i` moves to `2 * i + j`.
/// `row_len` is 1 for a bias.
pub fn permute_hf_to_gguf(values: &[f32], n_heads: usize, row_len: usize) -> Vec<f32> {
    permute_rope_rows(values, n_heads, row_len, true)
}

/// Inverse of [`permute_hf_to_gguf`]: GGUF's interleaved rows back to HF's half-split layout
/// (for exporting HF checkpoints).
pub fn permute_gguf_to_hf(values: &[f32], n_heads: usize, row_len: usize) -> Vec<f32> {
    permute_rope_rows(values, n_heads, row_len, false)
}

fn permute_rope_rows(values: &[f32], n_heads: usize, row_len: usize, to_gguf: bool) -> Vec<f32> {
    let head_dim = values.len() / row_len / n_heads;
    let half = head_dim / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..n_heads {
        for j in 0..2 {
            for i in 0..half {
                let hf_row = h * head_dim + j * half + i;
                let gguf_row = h * head_dim + 2 * i + j;
                let (src, dst) = if to_gguf {
                    (hf_row, gguf_row)
                } else {
                    (gguf_row, hf_row)
                };
                out[dst * row_len..(dst + 1) * row_len]
                    .copy_from_slice(&values[src * row_len..(src + 1) * row_len]);
            }
        }
    }
    out
}

/// One or more safetensors files of a Hugging Face checkpoint, read through the GGUF view.
pub struct HfSafetensors {
    /// File contents, one per shard.
    shards: Vec<(String, Vec<u8>)>,
    /// HF tensor name → shard index.
    index: HashMap<String, usize>,
    config: ModelConfig,
}

impl HfSafetensors {
    /// `shards`: (file name, bytes) of every `*.safetensors` file of the checkpoint.
    pub fn new(shards: Vec<(String, Vec<u8>)>, config: ModelConfig) -> Result<Self> {
        let mut index = HashMap::new();
        for (i, (path, bytes)) in shards.iter().enumerate() {
            let st = SafeTensors::deserialize(bytes).map_err(|e| st_error(path, e))?;
            for name in st.names() {
                index.insert(name.to_string(), i);
            }
        }
        Ok(HfSafetensors {
            shards,
            index,
            config,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn read_hf(&self, hf: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let shard = *self
            .index
            .get(hf)
            .ok_or_else(|| FormatError::MissingTensor { tensor: hf.into() })?;
        let (path, bytes) = &self.shards[shard];
        let st = SafeTensors::deserialize(bytes).map_err(|e| st_error(path, e))?;
        let view = st.tensor(hf).map_err(|e| st_error(path, e))?;
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(FormatError::Safetensors {
                    path: path.clone(),
                    message: format!(
                        "tensor `{hf}` has dtype {other:?}; supported: F32, F16, BF16"
                    ),
                });
            }
        };
        let shape = view.shape().to_vec();
        Ok((shape, values))
    }
}

fn st_error(path: &str, e: impl std::fmt::Display) -> FormatError {
    FormatError::Safetensors {
        path: path.into(),
        message: e.to_string(),
    }
}

impl WeightSource for HfSafetensors {
    fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let hf = hf_name(name).ok_or_else(|| FormatError::MissingTensor {
            tensor: name.into(),
        })?;
        let (shape, values) = self.read_hf(&hf)?;
        // Only the llama architecture's GGUF layout is permuted (qwen2 keeps HF's and uses NeoX rope).
        let heads = match name
            .rsplit_once('.')
            .map(|(stem, _)| stem.rsplit('.').next())
        {
            Some(Some("attn_q")) => Some(self.config.n_heads),
            Some(Some("attn_k")) => Some(self.config.n_kv_heads),
            _ => None,
        };
        match heads {
            Some(n_heads) if self.config.arch == "llama" => {
                let row_len = if shape.len() == 2 { shape[1] } else { 1 };
                Ok((shape, permute_hf_to_gguf(&values, n_heads, row_len)))
            }
            _ => Ok((shape, values)),
        }
    }

    fn contains(&self, name: &str) -> bool {
        hf_name(name).is_some_and(|hf| self.index.contains_key(&hf))
    }
}

/// Weights in GGUF naming and layout (row-major [out, in], q/k rows in GGUF's RoPE order) as
/// a Hugging Face checkpoint: (config.json, model.safetensors in f32). config.json carries
/// everything the forward pass depends on (head_dim, RoPE scaling, biases), so that
/// transformers and [`crate::config::HfConfig`] rebuild the same model. Fails on a tensor
/// name with no Hugging Face counterpart.
pub fn hf_checkpoint(
    config: &ModelConfig,
    weights: &std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
) -> crate::Result<(String, Vec<u8>)> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, (shape, values)) in weights {
        let heads = if name.contains("attn_q.") {
            Some(config.n_heads)
        } else if name.contains("attn_k.") {
            Some(config.n_kv_heads)
        } else {
            None
        };
        let values = match heads {
            Some(h) if config.arch == "llama" => {
                permute_gguf_to_hf(values, h, if shape.len() == 2 { shape[1] } else { 1 })
            }
            _ => values.clone(),
        };
        let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        let hf = hf_name(name).ok_or_else(|| {
            crate::FormatError::Invalid(format!("tensor `{name}` has no Hugging Face name"))
        })?;
        tensors.push((hf, shape.clone(), bytes));
    }
    // Hugging Face's llama applies `attention_bias` to o_proj as well; GGUF llama models with
    // q/k/v biases have none there, so it is written as zeros (exactly what GGUF computes).
    let llama_bias = config.arch == "llama" && config.qkv_bias;
    if llama_bias {
        for i in 0..config.n_layers {
            tensors.push((
                format!("model.layers.{i}.self_attn.o_proj.bias"),
                vec![config.hidden_size],
                vec![0u8; 4 * config.hidden_size],
            ));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .expect("valid view"),
            )
        })
        .collect();
    let st = safetensors::serialize(views, None).expect("serialise safetensors");
    let hf_arch = if config.arch == "qwen2" {
        "Qwen2ForCausalLM"
    } else {
        "LlamaForCausalLM"
    };
    let mut json = serde_json::json!({
        "architectures": [hf_arch],
        "model_type": config.arch,
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.context_length,
        "rms_norm_eps": config.rms_eps,
        "rope_theta": config.rope_theta,
        "tie_word_embeddings": config.tie_embeddings,
        "torch_dtype": "float32",
    });
    if llama_bias {
        json["attention_bias"] = true.into();
    }
    match config.rope_scaling {
        Some(crate::config::RopeScaling::Linear { factor }) => {
            json["rope_scaling"] = serde_json::json!({"rope_type": "linear", "factor": factor});
        }
        Some(crate::config::RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_context,
        }) => {
            json["rope_scaling"] = serde_json::json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_context,
            });
        }
        None => {}
    }
    Ok((serde_json::to_string_pretty(&json).expect("json"), st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_to_gguf_permutation_matches_the_converter() {
        // convert_hf_to_gguf.py: w.reshape(n_head, 2, d/2/… ).swapaxes(1, 2): for one head of
        // dim 4 with rows [r0 r1 r2 r3] (pairs (r0,r2), (r1,r3) in HF) GGUF holds [r0 r2 r1 r3].
        let rows: Vec<f32> = (0..8).map(|x| x as f32).collect(); // 2 heads × 4 rows × row_len 1
        let gguf = permute_hf_to_gguf(&rows, 2, 1);
        assert_eq!(gguf, [0., 2., 1., 3., 4., 6., 5., 7.]);
        assert_eq!(permute_gguf_to_hf(&gguf, 2, 1), rows);
        // Rows of length 3 move whole.
        let m: Vec<f32> = (0..12).map(|x| x as f32).collect();
        assert_eq!(
            permute_hf_to_gguf(&m, 1, 3),
            [0., 1., 2., 6., 7., 8., 3., 4., 5., 9., 10., 11.]
        );
    }

    #[test]
    fn hf_names_map_both_ways_for_known_tensors() {
        assert_eq!(
            hf_name("blk.12.attn_output.weight").unwrap(),
            "model.layers.12.self_attn.o_proj.weight"
        );
        assert_eq!(hf_name("output_norm.weight").unwrap(), "model.norm.weight");
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
        assert_eq!(hf_name("rope_freqs.weight"), None);
    }
}
