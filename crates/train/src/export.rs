//! Export a fine-tuned model: GGUF (F32, F16 or Q8_0) that our engines and llama.cpp load, a
//! Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json,
//! tokenizer_config.json), and LoRA adapters in PEFT's format (adapter_model.safetensors,
//! adapter_config.json). Every file is written aside, fsynced and renamed into place.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::{TokenizerInfo, tokenizer_from_gguf};
use xlingo_formats::weights::{hf_checkpoint, permute_gguf_to_hf};
use xlingo_formats::{GgmlType, Gguf, GgufWriter, MetaValue, ModelConfig};
use xlingo_model::llama::Llama;

use crate::error::{Result, TrainError};
use crate::sft::{LoraSettings, target_linear};

/// Weights in GGUF naming, row-major `[out, in]` (LoRA adapters merged in).
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn fail(path: &Path, reason: impl ToString) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}

/// burn keeps a projection as `[in, out]`; GGUF and Hugging Face as `[out, in]`.
fn matrix(l: &Linear) -> (Vec<usize>, Vec<f32>) {
    let w = l.weight.val();
    let [d_in, d_out] = w.dims();
    (vec![d_out, d_in], values(w.transpose()))
}

fn vector(p: &Param<Tensor<1>>) -> (Vec<usize>, Vec<f32>) {
    let v = p.val();
    (vec![v.dims()[0]], values(v))
}

/// The model's current weights (reading a LoRA-adapted weight gives base + scale·A·B).
pub fn gguf_weights(model: &Llama) -> Weights {
    let mut w = Weights::new();
    let e = model.embed.weight.val();
    w.insert("token_embd.weight".into(), (e.dims().to_vec(), values(e)));
    w.insert("output_norm.weight".into(), vector(&model.norm.gamma));
    if let Some(head) = &model.lm_head {
        w.insert("output.weight".into(), matrix(head));
    }
    for (i, layer) in model.layers.iter().enumerate() {
        let p = |s: &str| format!("blk.{i}.{s}");
        w.insert(p("attn_norm.weight"), vector(&layer.attn_norm.gamma));
        w.insert(p("ffn_norm.weight"), vector(&layer.ffn_norm.gamma));
        let a = &layer.attn;
        for (name, l) in [
            ("attn_q", &a.q),
            ("attn_k", &a.k),
            ("attn_v", &a.v),
            ("attn_output", &a.o),
        ] {
            w.insert(p(&format!("{name}.weight")), matrix(l));
            if let Some(bias) = &l.bias {
                w.insert(p(&format!("{name}.bias")), vector(bias));
            }
        }
        let f = &layer.ffn;
        for (name, l) in [
            ("ffn_gate", &f.gate),
            ("ffn_up", &f.up),
            ("ffn_down", &f.down),
        ] {
            w.insert(p(&format!("{name}.weight")), matrix(l));
        }
    }
    w
}

/// [`xlingo_formats::write_atomically`], with the path in the error.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    xlingo_formats::write_atomically(path, bytes).map_err(|e| fail(path, e))
}

/// GGUF `general.file_type` of a file whose matrices are `ty`.
fn file_type(ty: GgmlType) -> Option<u32> {
    match ty {
        GgmlType::F32 => Some(0),
        GgmlType::F16 => Some(1),
        GgmlType::Q8_0 => Some(7),
        _ => None,
    }
}

/// A GGUF file with `source`'s metadata (architecture, tokenizer, chat template, …) and the
/// model's weights: matrices in `ty` (F32, F16 or Q8_0), vectors in F32. Tensors the model
/// does not hold (e.g. `rope_freqs.weight`) are copied from `source`.
pub fn export_gguf(model: &Llama, source: &Gguf, ty: GgmlType, path: &Path) -> Result<()> {
    let Some(file_type) = file_type(ty) else {
        return Err(TrainError::Config(format!(
            "GGUF export writes F32, F16 or Q8_0, not {}",
            ty.name()
        )));
    };
    let mut g = GgufWriter::new();
    for key in &source.header.metadata_order {
        if let Some(value) = source.header.metadata.get(key) {
            g.set(key, value.clone());
        }
    }
    g.set("general.file_type", MetaValue::U32(file_type));
    let mut weights = gguf_weights(model);
    for t in &source.header.tensors {
        if !weights.contains_key(&t.name) {
            let (shape, v) = source.tensor_f32(&t.name).map_err(|e| fail(path, e))?;
            weights.insert(t.name.clone(), (shape, v));
        }
    }
    for (name, (shape, v)) in &weights {
        let t = if shape.len() == 2 { ty } else { GgmlType::F32 };
        let bytes = xlingo_formats::quant::quantize(t, v)
            .map_err(|e| fail(path, format!("tensor `{name}`: {e}")))?;
        g.add_tensor(name, shape, t, bytes)
            .map_err(|e| fail(path, format!("tensor `{name}`: {e}")))?;
    }
    write_atomically(path, &g.to_bytes())
}

/// A Hugging Face checkpoint directory: config.json (with the BOS/EOS ids), model.safetensors
/// (f32), tokenizer.json and tokenizer_config.json (with the chat template), from the model and
/// its source GGUF. Refused for a source with `rope_freqs.weight`, which config.json cannot
/// express.
pub fn export_hf(model: &Llama, config: &ModelConfig, source: &Gguf, dir: &Path) -> Result<()> {
    if source.header.tensor("rope_freqs.weight").is_some() {
        // Llama 3.1-style per-frequency RoPE factors: transformers derives them from
        // config.json's rope_scaling parameters, which the GGUF does not keep.
        return Err(fail(
            dir,
            "the model has GGUF RoPE frequency factors (rope_freqs.weight), which a Hugging Face \
             config.json cannot carry; use the GGUF export",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let (config_json, safetensors) =
        hf_checkpoint(config, &gguf_weights(model)).map_err(|e| fail(dir, e))?;
    let mut config_json: serde_json::Value =
        serde_json::from_str(&config_json).map_err(|e| fail(dir, e))?;
    let info = TokenizerInfo::from_gguf(&source.header).map_err(|e| fail(dir, e))?;
    if let Some(bos) = info.bos_id {
        config_json["bos_token_id"] = bos.into();
    }
    if let Some(eos) = info.eos_id {
        config_json["eos_token_id"] = eos.into();
    }
    let config_json = serde_json::to_string_pretty(&config_json).map_err(|e| fail(dir, e))?;
    write_atomically(&dir.join("model.safetensors"), &safetensors)?;
    write_atomically(&dir.join("config.json"), config_json.as_bytes())?;
    let tokenizer = tokenizer_from_gguf(&source.header).map_err(|e| fail(dir, e))?;
    let json = tokenizer
        .to_string(true)
        .map_err(|e| fail(dir, format!("tokenizer.json: {e}")))?;
    write_atomically(&dir.join("tokenizer.json"), json.as_bytes())?;
    let template = ChatTemplate::from_gguf(&source.header).map_err(|e| fail(dir, e))?;
    let mut tc = serde_json::json!({
        "model_max_length": config.context_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    });
    if let Some(t) = template {
        tc["chat_template"] = t.source().into();
        tc["bos_token"] = t.bos_token().into();
        tc["eos_token"] = t.eos_token().into();
    }
    let bytes = serde_json::to_vec_pretty(&tc).map_err(|e| fail(dir, e))?;
    write_atomically(&dir.join("tokenizer_config.json"), &bytes)
}

/// Hugging Face module path of a LoRA target.
fn hf_module(target: &str) -> Option<&'static str> {
    Some(match target {
        "q" => "self_attn.q_proj",
        "k" => "self_attn.k_proj",
        "v" => "self_attn.v_proj",
        "o" => "self_attn.o_proj",
        "gate" => "mlp.gate_proj",
        "up" => "mlp.up_proj",
        "down" => "mlp.down_proj",
        _ => return None,
    })
}

/// The adapters in PEFT's format: `lora_A.weight` [r, in] and `lora_B.weight` [out, r] per
/// adapted module (Hugging Face names; for llama the q/k rows of B in Hugging Face's RoPE
/// order), and adapter_config.json. `base_model` names the base for PEFT's loader.
pub fn export_peft(
    model: &Llama,
    config: &ModelConfig,
    lora: &LoraSettings,
    base_model: &str,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut modules = Vec::new();
    let mut adapted_layers: Vec<usize> = Vec::new();
    for target in &lora.targets {
        let hf = hf_module(target)
            .ok_or_else(|| TrainError::Config(format!("unknown LoRA target `{target}`")))?;
        modules.push(hf.rsplit('.').next().unwrap_or(hf).to_string());
        for (i, layer) in model.layers.iter().enumerate() {
            let linear = target_linear(layer, target).expect("checked above");
            // Layers without adapters (training on the top layers only) are left out, and
            // `layers_to_transform` below tells PEFT which ones have them.
            let Some(adapter) = linear.weight.adapter() else {
                continue;
            };
            if !adapted_layers.contains(&i) {
                adapted_layers.push(i);
            }
            let a = adapter.a.val(); // [in, r]
            let b = adapter.b.val(); // [r, out]
            let [d_in, r] = a.dims();
            let d_out = b.dims()[1];
            let lora_a = values(a.transpose()); // [r, in]
            let mut lora_b = values(b.transpose()); // [out, r]
            if config.arch == "llama" {
                match target.as_str() {
                    "q" => lora_b = permute_gguf_to_hf(&lora_b, config.n_heads, r),
                    "k" => lora_b = permute_gguf_to_hf(&lora_b, config.n_kv_heads, r),
                    _ => {}
                }
            }
            let stem = format!("base_model.model.model.layers.{i}.{hf}");
            let le = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            tensors.push((format!("{stem}.lora_A.weight"), vec![r, d_in], le(&lora_a)));
            tensors.push((format!("{stem}.lora_B.weight"), vec![d_out, r], le(&lora_b)));
        }
    }
    if tensors.is_empty() {
        return Err(TrainError::Config(
            "the model has no LoRA adapters (was it trained with LoRA?)".into(),
        ));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| fail(dir, format!("{n}: {e}")))
        })
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(views, None).map_err(|e| fail(dir, e))?;
    write_atomically(&dir.join("adapter_model.safetensors"), &bytes)?;
    adapted_layers.sort_unstable();
    let mut adapter_config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": 0.0,
        "target_modules": modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
    });
    if adapted_layers.len() < model.layers.len() {
        adapter_config["layers_to_transform"] = serde_json::json!(adapted_layers);
    }
    let bytes = serde_json::to_vec_pretty(&adapter_config).map_err(|e| fail(dir, e))?;
    write_atomically(&dir.join("adapter_config.json"), &bytes)
}
