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
use crate::readout::{HostTensor, Readout};
use crate::sft::{LORA_TARGETS, LoraSettings, target_linear};

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

/// A LoRA adapter in PEFT's format, as file contents.
pub struct PeftAdapter {
    /// adapter_model.safetensors
    pub safetensors: Vec<u8>,
    /// adapter_config.json
    pub config_json: Vec<u8>,
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
    let (readout, layers) = peft_readout(model, lora)?;
    let adapter = peft_files(readout.read()?, &layers, model, config, lora, base_model)?;
    write_atomically(&dir.join("adapter_model.safetensors"), &adapter.safetensors)?;
    write_atomically(&dir.join("adapter_config.json"), &adapter.config_json)
}

/// [`export_peft`]'s files in memory, read without blocking (the browser offers them as
/// downloads).
pub async fn peft_adapter_async(
    model: &Llama,
    config: &ModelConfig,
    lora: &LoraSettings,
    base_model: &str,
) -> Result<PeftAdapter> {
    let (readout, layers) = peft_readout(model, lora)?;
    peft_files(
        readout.read_async().await?,
        &layers,
        model,
        config,
        lora,
        base_model,
    )
}

/// The adapter factors to read, named `{stem}.lora_A.weight` [r, in] and
/// `{stem}.lora_B.weight` [out, r] (before the RoPE row order), and the adapted layers.
fn peft_readout(model: &Llama, lora: &LoraSettings) -> Result<(Readout, Vec<usize>)> {
    let mut readout = Readout::default();
    let mut adapted_layers: Vec<usize> = Vec::new();
    for target in &lora.targets {
        let hf = hf_module(target)
            .ok_or_else(|| TrainError::Config(format!("unknown LoRA target `{target}`")))?;
        for (i, layer) in model.layers.iter().enumerate() {
            let linear = target_linear(layer, target).expect("checked above");
            // Layers without adapters (training on the top layers only) are left out, and
            // `layers_to_transform` tells PEFT which ones have them.
            let Some(adapter) = linear.weight.adapter() else {
                continue;
            };
            if !adapted_layers.contains(&i) {
                adapted_layers.push(i);
            }
            let stem = format!("base_model.model.model.layers.{i}.{hf}");
            // burn keeps A [in, r] and B [r, out]; PEFT wants them transposed.
            readout.push(format!("{stem}.lora_A.weight"), adapter.a.val().transpose());
            readout.push(format!("{stem}.lora_B.weight"), adapter.b.val().transpose());
        }
    }
    if readout.is_empty() {
        return Err(TrainError::Config(
            "the model has no LoRA adapters (was it trained with LoRA?)".into(),
        ));
    }
    adapted_layers.sort_unstable();
    Ok((readout, adapted_layers))
}

fn peft_files(
    tensors: Vec<HostTensor>,
    adapted_layers: &[usize],
    model: &Llama,
    config: &ModelConfig,
    lora: &LoraSettings,
    base_model: &str,
) -> Result<PeftAdapter> {
    let bad = |e: String| TrainError::Config(format!("PEFT adapter: {e}"));
    let mut bytes_of: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, shape, mut values) in tensors {
        // For llama, B's rows of q and k follow the GGUF RoPE order; PEFT's follow HF's.
        if config.arch == "llama" && name.ends_with(".lora_B.weight") {
            let r = shape[1];
            if name.contains(".self_attn.q_proj.") {
                values = permute_gguf_to_hf(&values, config.n_heads, r);
            } else if name.contains(".self_attn.k_proj.") {
                values = permute_gguf_to_hf(&values, config.n_kv_heads, r);
            }
        }
        let le = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        bytes_of.push((name, shape, le));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes_of
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| bad(format!("{n}: {e}")))
        })
        .collect::<Result<_>>()?;
    let safetensors = safetensors::serialize(views, None).map_err(|e| bad(e.to_string()))?;
    let modules: Vec<String> = lora
        .targets
        .iter()
        .filter_map(|t| hf_module(t))
        .map(|hf| hf.rsplit('.').next().unwrap_or(hf).to_string())
        .collect();
    let mut adapter_config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
    });
    if adapted_layers.len() < model.layers.len() {
        adapter_config["layers_to_transform"] = serde_json::json!(adapted_layers);
    }
    let config_json = serde_json::to_vec_pretty(&adapter_config).map_err(|e| bad(e.to_string()))?;
    Ok(PeftAdapter {
        safetensors,
        config_json,
    })
}

/// GGUF names of the projections a LoRA target adapts.
fn gguf_module(target: &str) -> Option<&'static str> {
    Some(match target {
        "q" => "attn_q",
        "k" => "attn_k",
        "v" => "attn_v",
        "o" => "attn_output",
        "gate" => "ffn_gate",
        "up" => "ffn_up",
        "down" => "ffn_down",
        _ => return None,
    })
}

/// `source` with every LoRA-adapted matrix replaced by its merged weight `W + scale·A·B` in
/// F16, and every other tensor copied byte for byte (quantised ones stay quantised): the
/// tuned model for an engine that reads GGUF, at little more than the source's size.
pub fn merged_gguf(model: &Llama, source: &Gguf) -> Result<Vec<u8>> {
    gguf_with_replaced(source, merged_readout(model)?.read()?, GgmlType::F16)
}

/// [`merged_gguf`], read without blocking (the browser chats with it after tuning).
pub async fn merged_gguf_async(model: &Llama, source: &Gguf) -> Result<Vec<u8>> {
    let merged = merged_readout(model)?.read_async().await?;
    gguf_with_replaced(source, merged, GgmlType::F16)
}

/// The merged weights of the adapted projections, in GGUF names and layout `[out, in]`.
fn merged_readout(model: &Llama) -> Result<Readout> {
    let mut readout = Readout::default();
    for (i, layer) in model.layers.iter().enumerate() {
        for target in LORA_TARGETS {
            let linear = target_linear(layer, target).expect("a known target");
            if linear.weight.adapter().is_some() {
                let name = format!("blk.{i}.{}.weight", gguf_module(target).expect("known"));
                // burn keeps [in, out]; GGUF rows are outputs.
                readout.push(name, linear.weight.val().transpose());
            }
        }
    }
    if readout.is_empty() {
        return Err(TrainError::Config(
            "the model has no LoRA adapters to merge".into(),
        ));
    }
    Ok(readout)
}

/// A GGUF with `source`'s metadata and tensors, where `replaced` ones are written in `ty`.
fn gguf_with_replaced(source: &Gguf, replaced: Vec<HostTensor>, ty: GgmlType) -> Result<Vec<u8>> {
    let bad = |name: &str, e: String| TrainError::Config(format!("merged GGUF, `{name}`: {e}"));
    let mut new: BTreeMap<String, (Vec<usize>, Vec<f32>)> = replaced
        .into_iter()
        .map(|(name, shape, values)| (name, (shape, values)))
        .collect();
    let mut g = GgufWriter::new();
    for key in &source.header.metadata_order {
        if let Some(value) = source.header.metadata.get(key) {
            g.set(key, value.clone());
        }
    }
    for t in &source.header.tensors {
        if let Some((shape, values)) = new.remove(&t.name) {
            if shape != t.shape() {
                return Err(bad(
                    &t.name,
                    format!("shape {shape:?}, the source has {:?}", t.shape()),
                ));
            }
            let bytes = xlingo_formats::quant::quantize(ty, &values)
                .map_err(|e| bad(&t.name, e.to_string()))?;
            g.add_tensor(&t.name, &shape, ty, bytes)
                .map_err(|e| bad(&t.name, e.to_string()))?;
        } else {
            let bytes = source
                .tensor_bytes(t)
                .map_err(|e| bad(&t.name, e.to_string()))?;
            g.add_tensor(&t.name, &t.shape(), t.ty, bytes.to_vec())
                .map_err(|e| bad(&t.name, e.to_string()))?;
        }
    }
    if let Some(name) = new.keys().next() {
        return Err(bad(name, "the source GGUF has no such tensor".into()));
    }
    Ok(g.to_bytes())
}
