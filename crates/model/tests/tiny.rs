//! The burn model on tiny random models: loading paths agree, the KV cache changes nothing,
//! quantised weights stay close, CPU and wgpu agree.

use burn::tensor::{Device, DeviceKind, Int, Tensor, TensorData};
use xlingo_formats::{GgmlType, Gguf, HfSafetensors, ModelConfig};
use xlingo_model::tiny::{
    gguf_metadata, random_weights, tiny_config, write_gguf, write_hf_checkpoint,
};
use xlingo_model::{ForwardOptions, KvCache, LoadedModel};

const PROMPT: [i64; 9] = [5, 17, 3, 80, 42, 42, 7, 91, 12];

fn tokens(ids: &[i64], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
}

fn logits(model: &LoadedModel, ids: &[i64], device: &Device) -> Vec<f32> {
    let mut cache = KvCache::new(model.config.n_layers);
    let out = model
        .model
        .forward(tokens(ids, device), &mut cache, ForwardOptions::default());
    out.logits.into_data().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn gguf_model(config: &ModelConfig, ty: GgmlType, device: &Device) -> LoadedModel {
    let bytes = write_gguf(gguf_metadata(config), &random_weights(config, 1), ty).unwrap();
    let gguf = Gguf::from_bytes(bytes).unwrap();
    let loaded = LoadedModel::from_gguf(&gguf, device).unwrap();
    assert_eq!(
        &loaded.config, config,
        "config read back from GGUF metadata"
    );
    loaded
}

fn hf_model(config: &ModelConfig, device: &Device) -> LoadedModel {
    let (json, st) = write_hf_checkpoint(config, &random_weights(config, 1));
    let config_back = ModelConfig::from_hf_json("config.json", json.as_bytes()).unwrap();
    let weights = HfSafetensors::new(vec![("model.safetensors".into(), st)], config_back).unwrap();
    LoadedModel::from_safetensors(&weights, device).unwrap()
}

#[test]
fn gguf_and_safetensors_give_identical_logits() {
    let device = Device::flex();
    for arch in ["llama", "qwen2"] {
        let config = tiny_config(arch);
        let a = logits(
            &gguf_model(&config, GgmlType::F32, &device),
            &PROMPT,
            &device,
        );
        let b = logits(&hf_model(&config, &device), &PROMPT, &device);
        assert_eq!(a.len(), PROMPT.len() * config.vocab_size);
        // Same f32 weights, same arithmetic: the Q/K permutation must be exactly undone.
        assert!(
            max_abs_diff(&a, &b) < 1e-5,
            "{arch}: max diff {}",
            max_abs_diff(&a, &b)
        );
        assert!(a.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn kv_cache_decoding_equals_one_full_pass() {
    let device = Device::flex();
    let config = tiny_config("llama");
    let model = gguf_model(&config, GgmlType::F32, &device);
    let full = logits(&model, &PROMPT, &device);
    // Prefill 4 tokens, then one at a time.
    let mut cache = KvCache::new(config.n_layers);
    let mut step = Vec::new();
    let first = model.model.forward(
        tokens(&PROMPT[..4], &device),
        &mut cache,
        ForwardOptions::default(),
    );
    step.extend(first.logits.into_data().try_to_vec::<f32>().unwrap());
    for &t in &PROMPT[4..] {
        let out = model
            .model
            .forward(tokens(&[t], &device), &mut cache, ForwardOptions::default());
        step.extend(out.logits.into_data().try_to_vec::<f32>().unwrap());
    }
    assert_eq!(cache.len(), PROMPT.len());
    assert!(
        max_abs_diff(&full, &step) < 1e-4,
        "max diff {}",
        max_abs_diff(&full, &step)
    );
}

#[test]
fn changing_a_later_token_never_changes_earlier_logits() {
    let device = Device::flex();
    let config = tiny_config("qwen2");
    let model = gguf_model(&config, GgmlType::F32, &device);
    let a = logits(&model, &PROMPT, &device);
    let mut other = PROMPT;
    other[6] = 1;
    let b = logits(&model, &other, &device);
    let v = config.vocab_size;
    assert!(
        max_abs_diff(&a[..6 * v], &b[..6 * v]) < 1e-5,
        "causal mask leaks the future"
    );
    assert!(
        max_abs_diff(&a[6 * v..], &b[6 * v..]) > 1e-3,
        "the changed token had no effect"
    );
}

#[test]
fn quantised_weights_stay_close_to_f32() {
    let device = Device::flex();
    let config = tiny_config("llama");
    let reference = logits(
        &gguf_model(&config, GgmlType::F32, &device),
        &PROMPT,
        &device,
    );
    let spread = reference.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    // Looser bounds for fewer bits; these catch a wrong block layout, which gives noise.
    // (K-quants need rows of 256, wider than this model.)
    for (ty, bound) in [
        (GgmlType::F16, 0.002),
        (GgmlType::Q8_0, 0.02),
        (GgmlType::Q5_1, 0.08),
        (GgmlType::Q4_1, 0.15),
    ] {
        let l = logits(&gguf_model(&config, ty, &device), &PROMPT, &device);
        let rel = max_abs_diff(&reference, &l) / spread;
        assert!(rel < bound, "{}: relative max diff {rel}", ty.name());
    }
}

#[test]
fn hidden_states_are_captured_for_every_layer() {
    let device = Device::flex();
    let config = tiny_config("llama");
    let model = gguf_model(&config, GgmlType::F32, &device);
    let mut cache = KvCache::new(config.n_layers);
    let opts = ForwardOptions {
        capture_hidden: true,
        last_only: true,
    };
    let out = model
        .model
        .forward(tokens(&PROMPT, &device), &mut cache, opts);
    assert_eq!(out.hidden.len(), config.n_layers + 1);
    for h in &out.hidden {
        assert_eq!(h.dims(), [1, PROMPT.len(), config.hidden_size]);
    }
    assert_eq!(out.logits.dims(), [1, 1, config.vocab_size]);
    // Layer 0 capture is the embedding row of each token.
    let emb = out.hidden[0]
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let (_, table) = random_weights(&config, 1)
        .remove("token_embd.weight")
        .unwrap();
    let t = PROMPT[2] as usize;
    let d = config.hidden_size;
    assert_eq!(&emb[2 * d..3 * d], &table[t * d..(t + 1) * d]);
}

#[test]
fn wgpu_and_cpu_agree() {
    let config = tiny_config("llama");
    let cpu = Device::flex();
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    let a = logits(&gguf_model(&config, GgmlType::Q8_0, &cpu), &PROMPT, &cpu);
    let b = logits(&gguf_model(&config, GgmlType::Q8_0, &gpu), &PROMPT, &gpu);
    assert!(
        max_abs_diff(&a, &b) < 1e-3,
        "max diff {}",
        max_abs_diff(&a, &b)
    );
}

/// Per-layer sentence vectors: layer 0's mean is the mean of the tokens' embedding rows, and
/// the last token's states equal those of decoding that token after a cached prefix.
#[test]
fn sentence_states_pool_real_tokens() {
    let device = Device::flex();
    let config = tiny_config("llama");
    let model = gguf_model(&config, GgmlType::F32, &device);
    let ids: Vec<u32> = PROMPT.iter().map(|&i| i as u32).collect();
    let states = xlingo_model::sentence_states(&model.model, &ids, &device).unwrap();
    assert_eq!(states.mean.len(), config.n_layers + 1);
    assert_eq!(states.mean[0].len(), config.hidden_size);

    let embed = model
        .model
        .embed
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let d = config.hidden_size;
    for j in 0..d {
        let expected: f32 = ids
            .iter()
            .map(|&id| embed[id as usize * d + j])
            .sum::<f32>()
            / ids.len() as f32;
        assert!(
            (states.mean[0][j] - expected).abs() < 1e-5,
            "embedding mean, dim {j}"
        );
    }

    let mut cache = KvCache::new(config.n_layers);
    let (prefix, last) = PROMPT.split_at(PROMPT.len() - 1);
    model.model.forward(
        tokens(prefix, &device),
        &mut cache,
        ForwardOptions::default(),
    );
    let out = model.model.forward(
        tokens(last, &device),
        &mut cache,
        ForwardOptions {
            capture_hidden: true,
            last_only: true,
        },
    );
    for (layer, h) in out.hidden.into_iter().enumerate() {
        let h = h.into_data().try_to_vec::<f32>().unwrap();
        assert!(
            max_abs_diff(&h, &states.last[layer]) < 1e-4,
            "last token, layer {layer}"
        );
    }
    // Splitting the model into a frozen bottom and a top (as Lens training does) changes
    // nothing: the bottom's residual is the tap, and the top ends in the normed last state.
    let n = config.n_layers;
    for split in [0, 1, n] {
        let bottom = model.model.residual_after(tokens(&PROMPT, &device), split);
        let t = PROMPT.len();
        let at_last = |x: Tensor<3>| {
            x.narrow(1, t - 1, 1)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert!(max_abs_diff(&at_last(bottom.clone()), &states.last[split]) < 1e-4);
        let top = model.model.normed_top(bottom, split);
        assert!(
            max_abs_diff(&at_last(top), &states.normed_last) < 1e-4,
            "split {split}"
        );
    }
    assert!(
        max_abs_diff(&states.normed_last, &states.last[n]) > 1e-3,
        "the final norm is applied"
    );
    // The mean is not the last token (the test would not notice a pooling mix-up otherwise).
    assert!(max_abs_diff(&states.mean[config.n_layers], &states.last[config.n_layers]) > 1e-3);
}

#[test]
fn a_generator_reads_only_what_the_next_prompt_does_not_share() {
    // Evaluation prompts share a chat template: one generator for all of them reads the shared
    // prefix once and answers as a fresh generator does.
    use xlingo_model::{GenerateOptions, Generator, SamplingParams};
    let device = Device::flex();
    let config = tiny_config("qwen2");
    let model = gguf_model(&config, GgmlType::F32, &device);
    // qwen2, sampled at a high temperature: the tokens follow the logits closely (the tiny
    // llama model's tokens hardly depend on the context).
    let options = GenerateOptions {
        max_tokens: 12,
        stop_ids: vec![],
        sampling: SamplingParams {
            temperature: 1.5,
            top_k: 0,
            seed: 4,
            ..SamplingParams::default()
        },
    };
    let prompts: Vec<Vec<u32>> = [
        vec![7, 8],
        vec![9],
        PROMPT.iter().map(|&t| t as u32).collect(),
    ]
    .into_iter()
    .map(|tail| [3, 14, 15, 92].into_iter().chain(tail).collect())
    .collect();
    let mut shared = Generator::new(&model.model, config.context_length, device.clone());
    for (i, prompt) in prompts.iter().chain([&prompts[0]]).enumerate() {
        let mut fresh = Generator::new(&model.model, config.context_length, device.clone());
        let want = fresh.generate(prompt, &options, |_| true).unwrap();
        let before = shared.tokens_run();
        let got = shared.generate(prompt, &options, |_| true).unwrap();
        assert_eq!(got, want, "{prompt:?}");
        // After the first prompt the 4 shared tokens are not read again.
        let saved = if i == 0 { 0 } else { 4 };
        assert_eq!(shared.tokens_run() - before, fresh.tokens_run() - saved);
    }
}
