//! Tiny random LLaMA models, written as GGUF or as a Hugging Face safetensors checkpoint, for
//! tests and demos: a few layers, d 64, every code path of the real thing in milliseconds.

use std::collections::BTreeMap;

use crate::gguf::MetaArray;
use crate::{GgmlType, GgufWriter, MetaValue, ModelConfig, RopeLayout};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The vocabulary size at which [`add_tiny_tokenizer`] includes a newline, so that a tiny
/// model can be used with its ChatML template (`xlingo tiny`, the web app's tests).
pub const TINY_CHAT_VOCAB: usize = 99;

/// A tiny model's hyper-parameters (GGUF `llama` or `qwen2`).
pub fn tiny_config(arch: &str) -> ModelConfig {
    ModelConfig {
        arch: arch.to_string(),
        vocab_size: 96,
        hidden_size: 64,
        intermediate_size: 128,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        context_length: 128,
        rms_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_layout: if arch == "qwen2" {
            RopeLayout::Neox
        } else {
            RopeLayout::Interleaved
        },
        rope_scaling: None,
        tie_embeddings: arch == "llama",
        qkv_bias: arch == "qwen2",
    }
}

/// Random weights in GGUF naming and row-major shapes, seeded.
pub fn random_weights(config: &ModelConfig, seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = BTreeMap::new();
    let (d, f, v) = (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
    );
    let (q, kv) = (
        config.n_heads * config.head_dim,
        config.n_kv_heads * config.head_dim,
    );
    let mut add = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
        let n = shape.iter().product();
        let values = (0..n)
            .map(|_| offset + scale * (rng.random::<f32>() * 2.0 - 1.0))
            .collect();
        w.insert(name, (shape, values));
    };
    add("token_embd.weight".into(), vec![v, d], 1.0, 0.0);
    add("output_norm.weight".into(), vec![d], 0.2, 1.0);
    if !config.tie_embeddings {
        add("output.weight".into(), vec![v, d], 0.2, 0.0);
    }
    for i in 0..config.n_layers {
        let p = |s: &str| format!("blk.{i}.{s}");
        add(p("attn_norm.weight"), vec![d], 0.2, 1.0);
        add(p("ffn_norm.weight"), vec![d], 0.2, 1.0);
        add(p("attn_q.weight"), vec![q, d], 0.25, 0.0);
        add(p("attn_k.weight"), vec![kv, d], 0.25, 0.0);
        add(p("attn_v.weight"), vec![kv, d], 0.25, 0.0);
        add(p("attn_output.weight"), vec![d, q], 0.15, 0.0);
        add(p("ffn_gate.weight"), vec![f, d], 0.2, 0.0);
        add(p("ffn_up.weight"), vec![f, d], 0.2, 0.0);
        add(p("ffn_down.weight"), vec![d, f], 0.15, 0.0);
        if config.qkv_bias {
            add(p("attn_q.bias"), vec![q], 0.1, 0.0);
            add(p("attn_k.bias"), vec![kv], 0.1, 0.0);
            add(p("attn_v.bias"), vec![kv], 0.1, 0.0);
        }
    }
    w
}

/// Model metadata in GGUF keys, without a tokenizer.
pub fn gguf_metadata(config: &ModelConfig) -> GgufWriter {
    let arch = config.arch.as_str();
    let mut g = GgufWriter::new();
    let u32v = |x: usize| MetaValue::U32(x as u32);
    g.set("general.architecture", MetaValue::String(arch.into()));
    g.set(
        "general.name",
        MetaValue::String(format!("tiny-random-{arch}")),
    );
    g.set(&format!("{arch}.vocab_size"), u32v(config.vocab_size));
    g.set(
        &format!("{arch}.context_length"),
        u32v(config.context_length),
    );
    g.set(
        &format!("{arch}.embedding_length"),
        u32v(config.hidden_size),
    );
    g.set(
        &format!("{arch}.feed_forward_length"),
        u32v(config.intermediate_size),
    );
    g.set(&format!("{arch}.block_count"), u32v(config.n_layers));
    g.set(
        &format!("{arch}.attention.head_count"),
        u32v(config.n_heads),
    );
    g.set(
        &format!("{arch}.attention.head_count_kv"),
        u32v(config.n_kv_heads),
    );
    g.set(
        &format!("{arch}.attention.layer_norm_rms_epsilon"),
        MetaValue::F32(config.rms_eps as f32),
    );
    g.set(
        &format!("{arch}.rope.freq_base"),
        MetaValue::F32(config.rope_theta as f32),
    );
    g
}

/// A byte-level vocabulary of up to `vocab_size` tokens for tiny models: ids 0..2 are specials,
/// then printable ASCII bytes, then a newline (99 tokens in all; [`TINY_CHAT_VOCAB`]). Enough for the CLI and the web app to run a tiny model end to end.
pub fn add_tiny_tokenizer(g: &mut GgufWriter, vocab_size: usize) {
    let mut tokens = vec![
        "<|im_start|>".to_string(),
        "<|im_end|>".to_string(),
        "<|endoftext|>".to_string(),
    ];
    let mut types = vec![3i32, 3, 3];
    // GPT-2's byte-to-unicode map for printable ASCII is the identity.
    for b in (b' '..=b'~').take(vocab_size.saturating_sub(3)) {
        tokens.push(if b == b' ' {
            "Ġ".into()
        } else {
            (b as char).to_string()
        });
        types.push(1);
    }
    // With room for it, a newline ("Ċ" in GPT-2's byte map), which chat templates need.
    if tokens.len() < vocab_size {
        tokens.push("Ċ".into());
        types.push(1);
    }
    let strings = tokens.into_iter().map(MetaValue::String).collect();
    g.set("tokenizer.ggml.model", MetaValue::String("gpt2".into()));
    g.set("tokenizer.ggml.pre", MetaValue::String("gpt-2".into()));
    g.set(
        "tokenizer.ggml.tokens",
        MetaValue::Array(MetaArray {
            item_type: 8,
            items: strings,
        }),
    );
    g.set(
        "tokenizer.ggml.token_type",
        MetaValue::Array(MetaArray {
            item_type: 5,
            items: types.into_iter().map(MetaValue::I32).collect(),
        }),
    );
    g.set(
        "tokenizer.ggml.merges",
        MetaValue::Array(MetaArray {
            item_type: 8,
            items: vec![],
        }),
    );
    g.set("tokenizer.ggml.bos_token_id", MetaValue::U32(0));
    g.set("tokenizer.ggml.eos_token_id", MetaValue::U32(1));
    g.set(
        "tokenizer.chat_template",
        MetaValue::String(
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}".into(),
        ),
    );
}

/// Encode weights as a GGUF file; matrices in `matrix_type`, norms and biases in F32.
pub fn write_gguf(
    mut g: GgufWriter,
    weights: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    matrix_type: GgmlType,
) -> crate::Result<Vec<u8>> {
    for (name, (shape, values)) in weights {
        let ty = if shape.len() == 2 {
            matrix_type
        } else {
            GgmlType::F32
        };
        g.add_tensor(name, shape, ty, crate::quant::quantize(ty, values)?)?;
    }
    Ok(g.to_bytes())
}

/// The same weights as a Hugging Face checkpoint: (config.json, model.safetensors).
pub fn write_hf_checkpoint(
    config: &ModelConfig,
    weights: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
) -> (String, Vec<u8>) {
    crate::weights::hf_checkpoint(config, weights).expect("tiny weights have HF names")
}
