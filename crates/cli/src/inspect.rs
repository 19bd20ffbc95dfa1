//! `xlingo inspect`: what is in a model file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::TokenizerInfo;
use xlingo_formats::{Gguf, ModelConfig};

pub fn run(path: &Path, all_tensors: bool) -> Result<()> {
    if path.is_dir() {
        let weights = xlingo_model::load::read_hf_dir(path)?;
        println!("format: Hugging Face checkpoint (safetensors)");
        print_config(weights.config());
        return Ok(());
    }
    let gguf = Gguf::open(path)?;
    let h = &gguf.header;
    println!(
        "file: {} ({} bytes), GGUF v{}",
        path.display(),
        gguf.file_len(),
        h.version
    );
    if let Ok(name) = h.get_str("general.name") {
        println!("name: {name}");
    }
    match ModelConfig::from_gguf(h) {
        Ok(config) => print_config(&config),
        Err(e) => println!(
            "architecture: {} (not loadable: {e})",
            h.architecture().unwrap_or("?")
        ),
    }

    let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for t in &h.tensors {
        let entry = by_type.entry(t.ty.name()).or_default();
        entry.0 += 1;
        entry.1 += t.byte_len();
    }
    let summary: Vec<String> = by_type
        .iter()
        .map(|(ty, (n, bytes))| format!("{n} × {ty} ({:.1} MB)", *bytes as f64 / 1e6))
        .collect();
    println!("tensors: {} — {}", h.tensors.len(), summary.join(", "));
    let shown = if all_tensors {
        h.tensors.len()
    } else {
        h.tensors.len().min(20)
    };
    for t in &h.tensors[..shown] {
        println!("  {:<36} {:<6} {:?}", t.name, t.ty.name(), t.shape());
    }
    if shown < h.tensors.len() {
        println!("  … {} more (--all-tensors)", h.tensors.len() - shown);
    }

    match TokenizerInfo::from_gguf(h) {
        Ok(info) => println!(
            "tokenizer: {} (pre-tokenizer {}), {} tokens, bos {:?}, eos {:?}, add_bos {}, stop ids {:?}",
            info.kind,
            info.pre.as_deref().unwrap_or("-"),
            info.vocab_size,
            info.bos_id,
            info.eos_id,
            info.add_bos,
            info.stop_ids
        ),
        Err(e) => println!("tokenizer: none ({e})"),
    }
    match ChatTemplate::from_gguf(h) {
        Ok(Some(_)) => println!(
            "chat template:\n{}",
            h.get_str("tokenizer.chat_template").unwrap_or_default()
        ),
        Ok(None) => println!("chat template: none"),
        Err(e) => println!("chat template: invalid ({e})"),
    }
    println!("metadata:");
    for key in &h.metadata_order {
        if key.starts_with("tokenizer.ggml.") && h.get_array(key).is_ok()
            || key == "tokenizer.chat_template"
        {
            continue;
        }
        println!("  {key} = {}", h.metadata[key]);
    }
    Ok(())
}

fn print_config(c: &ModelConfig) {
    println!("architecture: {}", c.arch);
    println!(
        "parameters: {:.1} M — layers {}, hidden {}, ffn {}, heads {} (kv {}), head dim {}, vocab {}",
        c.parameter_count() as f64 / 1e6,
        c.n_layers,
        c.hidden_size,
        c.intermediate_size,
        c.n_heads,
        c.n_kv_heads,
        c.head_dim,
        c.vocab_size
    );
    println!(
        "context: {}, rope base {}, rope layout {:?}, rope scaling {:?}, rms eps {:e}, tied embeddings {}, qkv bias {}",
        c.context_length,
        c.rope_theta,
        c.rope_layout,
        c.rope_scaling,
        c.rms_eps,
        c.tie_embeddings,
        c.qkv_bias
    );
}
