//! Export after LoRA training on a tiny llama: the GGUF and Hugging Face exports reload into
//! the same logits as the trained model, and the PEFT adapter, merged into the base model the
//! way PEFT does (W + alpha/r · B·A in Hugging Face's layout), gives the exported weights.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use xlingo_formats::tiny::{add_tiny_tokenizer, gguf_metadata, random_weights, tiny_config};
use xlingo_formats::weights::hf_checkpoint;
use xlingo_formats::{GgmlType, Gguf, HfSafetensors};
use xlingo_model::LoadedModel;
use xlingo_model::llama::{ForwardOptions, Llama};
use xlingo_train::export::{export_gguf, export_hf, export_peft};
use xlingo_train::{CosineSchedule, Example, LoraSettings, Method, SftConfig, Trainer};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlingo-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn logits(model: &Llama, device: &Device) -> Vec<f32> {
    let ids: Vec<i64> = vec![3, 17, 42, 8, 60, 11, 25];
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 7]), device);
    model
        .forward(tokens, &mut model.new_cache(), ForwardOptions::default())
        .logits
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

struct Trained {
    source: Gguf,
    base: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    trainer: Trainer,
    lora: LoraSettings,
}

fn trained() -> Trained {
    let config = tiny_config("llama");
    let base = random_weights(&config, 9);
    let mut g = gguf_metadata(&config);
    add_tiny_tokenizer(&mut g, config.vocab_size);
    let bytes = xlingo_formats::tiny::write_gguf(g, &base, GgmlType::F32).unwrap();
    let source = Gguf::from_bytes(bytes).unwrap();
    let device = Device::flex().autodiff();
    let model = LoadedModel::from_gguf(&source, &device).unwrap().model;
    let lora = LoraSettings {
        rank: 4,
        alpha: 8.0,
        targets: vec!["q".into(), "k".into(), "v".into(), "down".into()],
        dropout: 0.0,
    };
    let config = SftConfig {
        method: Method::Lora,
        lora: lora.clone(),
        schedule: CosineSchedule {
            peak_lr: 1e-2,
            min_lr: 1e-3,
            warmup_steps: 1,
            total_steps: 6,
        },
        batch_size: 4,
        grad_accum: 1,
        max_grad_norm: Some(1.0),
        weight_decay: 0.0,
        seed: 3,
        top_layers: None,
    };
    let mut trainer = Trainer::new(model, config, device).unwrap();
    let data: Vec<Example> = (0..4u32)
        .map(|i| Example::prompt_response(&[5 + i, 9, 30 + i], &[40, 41, 42]))
        .collect();
    for _ in 0..6 {
        trainer.step(&[data.iter().collect()]).unwrap();
    }
    Trained {
        source,
        base,
        trainer,
        lora,
    }
}

#[test]
fn gguf_and_hugging_face_exports_reload_to_the_trained_logits() {
    let t = trained();
    let cpu = Device::flex();
    let want = logits(&t.trainer.model().valid(), &cpu);
    let base = LoadedModel::from_gguf(&t.source, &cpu).unwrap().model;
    let moved = max_diff(&logits(&base, &cpu), &want);
    assert!(moved > 1e-2, "training changed the logits by only {moved}");

    let dir = scratch("gguf");
    // Relative to the largest logit (the tiny random model's logits reach tens): F16 and
    // Q8_0 round every weight, F32 must be exact.
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    for (ty, tolerance) in [
        (GgmlType::F32, 1e-6 * scale),
        (GgmlType::F16, 1e-3 * scale),
        (GgmlType::Q8_0, 3e-2 * scale),
    ] {
        let path = dir.join(format!("model-{}.gguf", ty.name()));
        export_gguf(t.trainer.model(), &t.source, ty, &path).unwrap();
        let reloaded = Gguf::open(&path).unwrap();
        assert_eq!(
            reloaded.header.get("tokenizer.chat_template"),
            t.source.header.get("tokenizer.chat_template")
        );
        let model = LoadedModel::from_gguf(&reloaded, &cpu).unwrap().model;
        let diff = max_diff(&logits(&model, &cpu), &want);
        println!(
            "GGUF {}: max |Δlogit| {diff:.2e} (largest {scale:.1})",
            ty.name()
        );
        assert!(diff < tolerance, "{}: {diff}", ty.name());
    }

    let hf = scratch("hf");
    export_hf(t.trainer.model(), &tiny_config("llama"), &t.source, &hf).unwrap();
    let weights = xlingo_model::load::read_hf_dir(&hf).unwrap();
    let model = LoadedModel::from_safetensors(&weights, &cpu).unwrap().model;
    let diff = max_diff(&logits(&model, &cpu), &want);
    println!("Hugging Face: max |Δlogit| {diff:.2e}");
    assert!(diff < 1e-4, "{diff}");
    let tok = std::fs::read(hf.join("tokenizer.json")).unwrap();
    let tokenizer = xlingo_formats::tokenizer::tokenizer_from_json_bytes(&tok).unwrap();
    assert_eq!(
        tokenizer.get_vocab_size(true),
        tiny_config("llama").vocab_size
    );
    let tc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(hf.join("tokenizer_config.json")).unwrap()).unwrap();
    assert!(
        tc["chat_template"]
            .as_str()
            .unwrap()
            .contains("<|im_start|>")
    );
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(hf);
}

#[test]
fn the_peft_adapter_merged_into_the_base_gives_the_exported_weights() {
    let t = trained();
    let config = tiny_config("llama");
    let dir = scratch("peft");
    export_peft(t.trainer.model(), &config, &t.lora, "tiny-base", &dir).unwrap();
    let adapter_config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(adapter_config["r"], 4);
    assert_eq!(adapter_config["lora_alpha"], 8.0);
    assert_eq!(
        adapter_config["target_modules"],
        serde_json::json!(["q_proj", "k_proj", "v_proj", "down_proj"])
    );

    // Both sides in Hugging Face's layout: the base as a checkpoint, and the trained model.
    let hf_tensors = |weights| {
        let (_, bytes) = hf_checkpoint(&config, weights).unwrap();
        HfSafetensors::new(vec![("model.safetensors".into(), bytes)], config.clone()).unwrap()
    };
    use xlingo_formats::WeightSource;
    let base = hf_tensors(&t.base);
    let trained = hf_tensors(&xlingo_train::export::gguf_weights(t.trainer.model()));
    let adapter_bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let adapter = safetensors::SafeTensors::deserialize(&adapter_bytes).unwrap();
    let read = |name: &str| -> (Vec<usize>, Vec<f32>) {
        let v = adapter.tensor(name).unwrap();
        let f: Vec<f32> = v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (v.shape().to_vec(), f)
    };
    let scale = 8.0 / 4.0;
    let mut worst = 0.0f32;
    for layer in 0..config.n_layers {
        for (module, gguf) in [
            ("self_attn.q_proj", "attn_q"),
            ("self_attn.k_proj", "attn_k"),
            ("self_attn.v_proj", "attn_v"),
            ("mlp.down_proj", "ffn_down"),
        ] {
            let stem = format!("base_model.model.model.layers.{layer}.{module}");
            let (a_shape, a) = read(&format!("{stem}.lora_A.weight"));
            let (b_shape, b) = read(&format!("{stem}.lora_B.weight"));
            let (r, d_in, d_out) = (a_shape[0], a_shape[1], b_shape[0]);
            assert_eq!(b_shape[1], r);
            // The checkpoints are read back in GGUF layout; compare there by merging in HF
            // layout first, via the same permutation the reader undoes.
            let name = format!("blk.{layer}.{gguf}.weight");
            let (_, w0) = base.tensor_f32(&name).unwrap();
            let (_, w1) = trained.tensor_f32(&name).unwrap();
            // ΔW (HF layout) = scale · B·A, [out, in].
            let mut delta = vec![0.0f32; d_out * d_in];
            for o in 0..d_out {
                for i in 0..d_in {
                    delta[o * d_in + i] =
                        scale * (0..r).map(|k| b[o * r + k] * a[k * d_in + i]).sum::<f32>();
                }
            }
            // Into GGUF layout, as the checkpoint reader did to the merged weights.
            let delta = match gguf {
                "attn_q" => {
                    xlingo_formats::weights::permute_hf_to_gguf(&delta, config.n_heads, d_in)
                }
                "attn_k" => {
                    xlingo_formats::weights::permute_hf_to_gguf(&delta, config.n_kv_heads, d_in)
                }
                _ => delta,
            };
            for ((x0, x1), d) in w0.iter().zip(&w1).zip(&delta) {
                worst = worst.max((x0 + d - x1).abs());
            }
        }
    }
    println!("PEFT merge vs exported weights: max |Δ| {worst:.2e}");
    assert!(worst < 1e-5, "{worst}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A tiny llama GGUF with one of the features a Hugging Face config.json must spell out.
fn variant(edit: &str) -> (xlingo_formats::ModelConfig, Gguf) {
    use xlingo_formats::{MetaValue, RopeScaling};
    let mut config = tiny_config("llama");
    config.tie_embeddings = false;
    match edit {
        // q/k/v project to n_heads · 32 = 128 ≠ hidden 64: the default head_dim would be 16.
        "head_dim" => config.head_dim = 32,
        "linear rope" => config.rope_scaling = Some(RopeScaling::Linear { factor: 4.0 }),
        "qkv bias" => config.qkv_bias = true,
        _ => unreachable!(),
    }
    let mut g = gguf_metadata(&config);
    add_tiny_tokenizer(&mut g, config.vocab_size);
    let dim = MetaValue::U32(config.head_dim as u32);
    g.set("llama.attention.key_length", dim.clone());
    g.set("llama.attention.value_length", dim);
    if let Some(RopeScaling::Linear { factor }) = config.rope_scaling {
        g.set(
            "llama.rope.scaling.type",
            MetaValue::String("linear".into()),
        );
        g.set("llama.rope.scaling.factor", MetaValue::F32(factor as f32));
    }
    let bytes =
        xlingo_formats::tiny::write_gguf(g, &random_weights(&config, 5), GgmlType::F32).unwrap();
    let gguf = Gguf::from_bytes(bytes).unwrap();
    assert_eq!(
        xlingo_formats::ModelConfig::from_gguf(&gguf.header).unwrap(),
        config
    );
    (config, gguf)
}

#[test]
fn hugging_face_config_carries_head_dim_rope_scaling_biases_and_special_ids() {
    let cpu = Device::flex();
    let mut failures = Vec::new();
    for edit in ["head_dim", "linear rope", "qkv bias"] {
        let (config, source) = variant(edit);
        let model = LoadedModel::from_gguf(&source, &cpu).unwrap().model;
        let want = logits(&model, &cpu);
        let dir = scratch(&format!("hf-{}", edit.replace(' ', "-")));
        export_hf(&model, &config, &source, &dir).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        if json["bos_token_id"] != 0 || json["eos_token_id"] != 1 {
            failures.push(format!("{edit}: BOS/EOS ids not in config.json"));
        }
        let weights = xlingo_model::load::read_hf_dir(&dir).unwrap();
        if weights.config() != &config {
            failures.push(format!(
                "{edit}: config.json reads back as {:?}",
                weights.config()
            ));
            continue;
        }
        let reloaded = LoadedModel::from_safetensors(&weights, &cpu).unwrap().model;
        let diff = max_diff(&logits(&reloaded, &cpu), &want);
        if diff >= 1e-4 {
            failures.push(format!("{edit}: max |Δlogit| {diff}"));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn hugging_face_export_refuses_gguf_rope_frequency_factors() {
    let config = tiny_config("llama");
    let mut weights = random_weights(&config, 9);
    weights.insert(
        "rope_freqs.weight".into(),
        (vec![config.head_dim / 2], vec![2.0; config.head_dim / 2]),
    );
    let mut g = gguf_metadata(&config);
    add_tiny_tokenizer(&mut g, config.vocab_size);
    let bytes = xlingo_formats::tiny::write_gguf(g, &weights, GgmlType::F32).unwrap();
    let source = Gguf::from_bytes(bytes).unwrap();
    let model = LoadedModel::from_gguf(&source, &Device::flex())
        .unwrap()
        .model;
    let dir = scratch("hf-rope-freqs");
    let err = export_hf(&model, &config, &source, &dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rope_freqs.weight"), "{err}");
    assert!(!dir.join("config.json").exists());
    let _ = std::fs::remove_dir_all(dir);
}
