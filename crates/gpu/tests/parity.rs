//! The WGSL engine against the burn reference model on tiny random models: every supported
//! quantisation type, both RoPE layouts (llama interleaved, qwen2 NeoX with q/k/v biases),
//! prefill in chunks, token-by-token decoding through the KV cache, hidden states, matrices
//! split across bindings, and greedy generation. Runs on whatever adapter wgpu finds (lavapipe
//! in CI).
#![cfg(not(target_family = "wasm"))]

use burn::tensor::{Device, Int, Tensor, TensorData};
use xlingo_formats::{GgmlType, Gguf, ModelConfig};
use xlingo_gpu::{Engine, EngineOptions, GenerateOptions, Gpu, GpuError, SamplingParams, Want};
use xlingo_model::tiny::{gguf_metadata, random_weights, tiny_config, write_gguf};
use xlingo_model::{ForwardOptions, Generator, KvCache, LoadedModel};

const PROMPT: [u32; 11] = [5, 17, 3, 80, 42, 42, 7, 91, 12, 0, 95];
/// Logits of the tiny models are O(1); f32 sums in a different order differ by ~1e-6.
const TOLERANCE: f32 = 1e-4;
/// With keys and values rounded to f16 (relative error ≤ 2⁻¹¹).
const F16_CACHE_TOLERANCE: f32 = 1e-2;

fn gpu() -> Gpu {
    Gpu::new_blocking().expect("a wgpu adapter (lavapipe: apt install mesa-vulkan-drivers)")
}

fn tiny_gguf(config: &ModelConfig, ty: GgmlType) -> Gguf {
    let bytes = write_gguf(gguf_metadata(config), &random_weights(config, 1), ty).unwrap();
    Gguf::from_bytes(bytes).unwrap()
}

/// Logits [positions, vocab] and hidden states from the burn model on the CPU.
fn reference(gguf: &Gguf, ids: &[u32]) -> (Vec<f32>, Vec<Vec<f32>>) {
    let device = Device::flex();
    let model = LoadedModel::from_gguf(gguf, &device).unwrap();
    let tokens = Tensor::<2, Int>::from_data(
        TensorData::new(ids.iter().map(|&t| t as i64).collect(), [1, ids.len()]),
        &device,
    );
    let mut cache = KvCache::new(model.config.n_layers);
    let out = model.model.forward(
        tokens,
        &mut cache,
        ForwardOptions {
            capture_hidden: true,
            ..Default::default()
        },
    );
    let hidden = out
        .hidden
        .into_iter()
        .map(|h| h.into_data().try_to_vec::<f32>().unwrap())
        .collect();
    (out.logits.into_data().try_to_vec::<f32>().unwrap(), hidden)
}

/// The residual stream after the embedding and after each of `n_layers` layers, as the
/// reference records it.
fn assert_hidden_states(got: &[Vec<f32>], want: &[Vec<f32>], n_layers: usize) {
    assert_eq!(got.len(), n_layers + 1);
    for (layer, (g, w)) in got.iter().zip(want).enumerate() {
        let diff = max_abs_diff(g, w);
        assert!(diff < TOLERANCE, "hidden state {layer}: {diff}");
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits of every position: `prompt[..split]` in one forward (all rows), then the rest one
/// token at a time through the KV cache.
fn prefill_then_decode(e: &mut Engine, prompt: &[u32], split: usize) -> Vec<f32> {
    let mut logits = pollster::block_on(e.forward(&prompt[..split], Want::AllLogits))
        .unwrap()
        .logits;
    for &t in &prompt[split..] {
        let out = pollster::block_on(e.forward(&[t], Want::LastLogits)).unwrap();
        logits.extend(out.logits);
    }
    logits
}

fn engine(gpu: &Gpu, gguf: &Gguf, options: EngineOptions) -> Engine {
    Engine::from_gguf(gpu, gguf, options).unwrap()
}

/// Both architectures, each with the matmul kernel sets to test on this adapter: on a CPU
/// adapter (lavapipe in CI) both its own kernels and the GPU ones, so that CI checks the
/// kernels GPUs run as well.
fn arch_and_kernels(gpu: &Gpu) -> Vec<(&'static str, bool)> {
    let sets: &[bool] = if gpu.device_type == wgpu::DeviceType::Cpu {
        &[true, false]
    } else {
        &[true]
    };
    ["llama", "qwen2"]
        .into_iter()
        .flat_map(|arch| sets.iter().map(move |&cpu| (arch, cpu)))
        .collect()
}

/// The supported quantisation types with 32-value blocks (the tiny models' rows are 64 and
/// 128 values; the K-quants' 256-value rows have their own test).
const TYPES: [GgmlType; 7] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
];

/// Max |logit diff| between the engine and the reference over every position of PROMPT, read
/// in chunks of 4 (4, 4, 3).
fn prefill_diff(gpu: &Gpu, gguf: &Gguf, cpu_kernels: bool) -> f32 {
    let (want, _) = reference(gguf, &PROMPT);
    let mut e = engine(
        gpu,
        gguf,
        EngineOptions {
            prefill_chunk: 4,
            all_logits: true,
            cpu_kernels,
            ..Default::default()
        },
    );
    let got = pollster::block_on(e.forward(&PROMPT, Want::AllLogits))
        .unwrap()
        .logits;
    max_abs_diff(&got, &want)
}

#[test]
fn prefill_logits_match_the_reference_for_every_type_and_layout() {
    let gpu = gpu();
    for (arch, cpu_kernels) in arch_and_kernels(&gpu) {
        let config = tiny_config(arch);
        for ty in TYPES {
            let diff = prefill_diff(&gpu, &tiny_gguf(&config, ty), cpu_kernels);
            assert!(
                diff < TOLERANCE,
                "{arch} {ty:?} (CPU kernels {cpu_kernels}): max |logit diff| {diff}"
            );
        }
    }
}

#[test]
fn decoding_through_the_kv_cache_matches_the_full_forward() {
    let gpu = gpu();
    for (arch, cpu_kernels) in arch_and_kernels(&gpu) {
        let config = tiny_config(arch);
        for ty in TYPES {
            let gguf = tiny_gguf(&config, ty);
            let (want, _) = reference(&gguf, &PROMPT);
            let vocab = config.vocab_size;
            let options = EngineOptions {
                cpu_kernels,
                ..Default::default()
            };
            let mut e = engine(&gpu, &gguf, options);
            // Three tokens at once, then one at a time; each step's last logits against the
            // reference row of that position.
            let first = pollster::block_on(e.forward(&PROMPT[..3], Want::LastLogits)).unwrap();
            assert!(max_abs_diff(&first.logits, &want[2 * vocab..3 * vocab]) < TOLERANCE);
            for pos in 3..PROMPT.len() {
                let out =
                    pollster::block_on(e.forward(&PROMPT[pos..pos + 1], Want::LastLogits)).unwrap();
                let diff = max_abs_diff(&out.logits, &want[pos * vocab..(pos + 1) * vocab]);
                assert!(
                    diff < TOLERANCE,
                    "{arch} {ty:?} (CPU kernels {cpu_kernels}) position {pos}: {diff}"
                );
                let arg = pollster::block_on(async {
                    e.reset();
                    e.forward(&PROMPT[..=pos], Want::Argmax).await
                })
                .unwrap()
                .argmax
                .unwrap();
                assert_eq!(
                    arg,
                    xlingo_model::argmax(&out.logits),
                    "{arch} {ty:?}: GPU arg-max at {pos}"
                );
            }
            assert_eq!(e.position(), PROMPT.len());
        }
    }
}

#[test]
fn attention_over_several_tiles_and_head_groups_matches_the_reference() {
    // attention.wgsl takes positions in tiles of 256 with an online softmax; 600 positions
    // make later tokens' attention span three tiles (the running maximum and sums rescaled),
    // prefilled in chunks and then decoded through the cache. One workgroup serves up to 4
    // query heads of a kv head (a kernel compiled for each group size): (query heads, kv
    // heads) = (4, 4) one each, (4, 2) two, (6, 2) three, (8, 1) four in each of two
    // workgroups, (10, 2) 4 + 1 and (14, 2) 4 + 3 (Qwen2.5-0.5B's shape) a kv head. Each
    // with positions never split across workgroups and split as far as they go
    // (flash-decoding: one split per tile, so 3 for the decoded tokens and the last prefill
    // chunk's 21 tokens, added up by attention_combine.wgsl).
    let gpu = gpu();
    for (n_heads, n_kv_heads) in [(4, 4), (4, 2), (6, 2), (8, 1), (10, 2), (14, 2)] {
        let mut config = tiny_config("qwen2");
        config.context_length = 700;
        config.n_heads = n_heads;
        config.n_kv_heads = n_kv_heads;
        config.hidden_size = n_heads * config.head_dim;
        let gguf = tiny_gguf(&config, GgmlType::F32);
        let prompt: Vec<u32> = (0..600u32).map(|i| (i * 37 + 11) % 96).collect();
        let (want, _) = reference(&gguf, &prompt);
        for attention_workgroups in [1, 1000] {
            let options = EngineOptions {
                all_logits: true,
                prefill_chunk: 64,
                attention_workgroups: Some(attention_workgroups),
                ..Default::default()
            };
            let mut e = engine(&gpu, &gguf, options);
            assert_eq!(e.prefill_chunk(), 64);
            let got = prefill_then_decode(&mut e, &prompt, prompt.len() - 3);
            assert_eq!(got.len(), prompt.len() * config.vocab_size);
            let diff = max_abs_diff(&got, &want);
            assert!(
                diff < TOLERANCE,
                "{n_heads} heads, {n_kv_heads} kv heads, aiming at {attention_workgroups} workgroups: max |logit diff| {diff} over 600 positions"
            );
        }
    }
}

#[test]
fn k_quants_match_the_reference_in_prefill_and_decoding() {
    // Rows of 256 and 512 values: whole Q4_K / Q5_K / Q6_K super-blocks.
    let gpu = gpu();
    for (arch, cpu_kernels) in arch_and_kernels(&gpu) {
        let config = ModelConfig {
            hidden_size: 256,
            intermediate_size: 512,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 64,
            ..tiny_config(arch)
        };
        for ty in [GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K] {
            let gguf = tiny_gguf(&config, ty);
            let (want, _) = reference(&gguf, &PROMPT);
            let vocab = config.vocab_size;
            // Sums over 4–8× longer rows than the other tiny models: the tolerance is relative
            // to the largest logit.
            let tolerance = TOLERANCE * want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let mut e = engine(
                &gpu,
                &gguf,
                EngineOptions {
                    all_logits: true,
                    cpu_kernels,
                    ..Default::default()
                },
            );
            let got = pollster::block_on(e.forward(&PROMPT[..8], Want::AllLogits))
                .unwrap()
                .logits;
            let diff = max_abs_diff(&got, &want[..8 * vocab]);
            assert!(
                diff < tolerance,
                "{arch} {ty:?} (CPU kernels {cpu_kernels}) prefill: {diff} (tolerance {tolerance})"
            );
            for pos in 8..PROMPT.len() {
                let out =
                    pollster::block_on(e.forward(&PROMPT[pos..pos + 1], Want::LastLogits)).unwrap();
                let diff = max_abs_diff(&out.logits, &want[pos * vocab..(pos + 1) * vocab]);
                assert!(
                    diff < tolerance,
                    "{arch} {ty:?} (CPU kernels {cpu_kernels}) position {pos}: {diff} (tolerance {tolerance})"
                );
            }
        }
    }
}

#[test]
fn q_k_v_of_different_types_match_the_reference() {
    // As in Q4_K_M files, where attn_v often has another type than attn_q: q, k and v cannot
    // be stacked into one matrix and run as three dispatches into the shared qkv buffer (with
    // qwen2's biases at their columns).
    let gpu = gpu();
    for (arch, cpu_kernels) in arch_and_kernels(&gpu) {
        let config = tiny_config(arch);
        let mut writer = gguf_metadata(&config);
        for (name, (shape, values)) in &random_weights(&config, 1) {
            let ty = match name.as_str() {
                _ if shape.len() != 2 => GgmlType::F32,
                n if n.ends_with("attn_v.weight") => GgmlType::Q8_0,
                n if n.ends_with("attn_k.weight") => GgmlType::F16,
                _ => GgmlType::Q4_0,
            };
            let bytes = xlingo_formats::quant::quantize(ty, values).unwrap();
            writer.add_tensor(name, shape, ty, bytes).unwrap();
        }
        let gguf = Gguf::from_bytes(writer.to_bytes()).unwrap();
        let diff = prefill_diff(&gpu, &gguf, cpu_kernels);
        assert!(
            diff < TOLERANCE,
            "{arch} (CPU kernels {cpu_kernels}): max |logit diff| {diff}"
        );
    }
}

#[test]
fn an_f16_kv_cache_is_half_the_size_and_close_to_the_reference() {
    // Where the adapter has shader-f16 (lavapipe does) the cache is read and written as f16,
    // else as packed u32 words; both are run here (the packed one with shader-f16 off) and
    // hold the same values.
    let native = gpu();
    let mut packed = native.clone();
    packed.shader_f16 = false;
    for (arch, cpu_kernels) in arch_and_kernels(&native) {
        let config = tiny_config(arch);
        let gguf = tiny_gguf(&config, GgmlType::Q8_0);
        let (want, _) = reference(&gguf, &PROMPT);
        let vocab = config.vocab_size;
        let options = |kv_f16| EngineOptions {
            prefill_chunk: 4,
            all_logits: true,
            cpu_kernels,
            kv_f16,
            ..Default::default()
        };
        let f32_cache = engine(&native, &gguf, options(false)).kv_cache_bytes();
        let mut logits_of = vec![];
        for gpu in [&native, &packed] {
            let mut e = engine(gpu, &gguf, options(true));
            assert_eq!(2 * e.kv_cache_bytes(), f32_cache);
            let format = e.kv_cache_format();
            // A prompt in chunks (4, 4), then token by token through the cache.
            let got = prefill_then_decode(&mut e, &PROMPT, 8);
            assert_eq!(got.len(), PROMPT.len() * vocab);
            let diff = max_abs_diff(&got, &want);
            let label = format!("{arch} (CPU kernels {cpu_kernels}), {format} cache");
            eprintln!("{label}: max |logit diff| {diff}");
            assert!(
                (1e-5..F16_CACHE_TOLERANCE).contains(&diff),
                "{label}: max |logit diff| {diff}"
            );
            logits_of.push((format, got));
        }
        let [(a, native_logits), (b, packed_logits)] = &logits_of[..] else {
            unreachable!()
        };
        if native.shader_f16 {
            assert_eq!((*a, *b), ("f16", "f16 packed"));
        }
        let diff = max_abs_diff(native_logits, packed_logits);
        assert!(diff < 1e-6, "{arch}: {a} and {b} caches differ by {diff}");
    }
}

#[test]
fn cpu_adapters_use_the_cpu_matmul_kernels() {
    // On a CPU adapter (lavapipe in CI) prompts and one-token steps run matmul_cpu.wgsl and
    // matmul_swiglu_cpu.wgsl, so the prefill and decoding tests above check them.
    let gpu = gpu();
    if gpu.device_type != wgpu::DeviceType::Cpu {
        return;
    }
    let gguf = tiny_gguf(&tiny_config("llama"), GgmlType::Q4_1);
    let mut e = engine(&gpu, &gguf, EngineOptions::default());
    for n in [1, 4] {
        let names: Vec<_> = e.profile(&PROMPT[..n]).into_iter().map(|t| t.0).collect();
        assert!(
            names.contains(&"matmul_cpu") && names.contains(&"matmul_swiglu_cpu"),
            "{n} tokens: {names:?}"
        );
        assert!(!names.contains(&"matmul"), "{n} tokens: {names:?}");
    }
    let options = EngineOptions {
        cpu_kernels: false,
        ..Default::default()
    };
    let mut e = engine(&gpu, &gguf, options);
    let names: Vec<_> = e.profile(&PROMPT[..4]).into_iter().map(|t| t.0).collect();
    assert!(
        names.contains(&"matmul") && !names.contains(&"matmul_cpu"),
        "{names:?}"
    );
}

#[test]
fn hidden_states_match_the_reference_layer_by_layer() {
    let gpu = gpu();
    let config = tiny_config("llama");
    let gguf = tiny_gguf(&config, GgmlType::Q4_1);
    let (_, want) = reference(&gguf, &PROMPT);
    let mut e = engine(
        &gpu,
        &gguf,
        EngineOptions {
            prefill_chunk: 5,
            capture_hidden: true,
            ..Default::default()
        },
    );
    let got = pollster::block_on(e.forward(&PROMPT, Want::Nothing))
        .unwrap()
        .hidden;
    assert_hidden_states(&got, &want, config.n_layers);
}

#[test]
fn hidden_state_capture_switches_on_and_off_without_changing_logits() {
    let gpu = gpu();
    let config = tiny_config("llama");
    let gguf = tiny_gguf(&config, GgmlType::Q8_0);
    let (_, want) = reference(&gguf, &PROMPT);
    let options = EngineOptions {
        prefill_chunk: 4,
        ..Default::default()
    };
    let mut e = engine(&gpu, &gguf, options);
    let run = |e: &mut Engine| {
        e.reset();
        pollster::block_on(e.forward(&PROMPT, Want::LastLogits)).unwrap()
    };
    let off = run(&mut e);
    assert!(off.hidden.is_empty());
    let bytes_off = e.gpu_buffer_bytes();
    e.set_capture_hidden(true).unwrap();
    let on = run(&mut e);
    assert_eq!(on.logits, off.logits, "capture does not change the logits");
    assert_hidden_states(&on.hidden, &want, config.n_layers);
    let extra = ((config.n_layers + 1) * 4 * config.hidden_size * 4) as u64;
    assert_eq!(e.gpu_buffer_bytes(), bytes_off + extra);
    e.set_capture_hidden(false).unwrap();
    let again = run(&mut e);
    assert!(again.hidden.is_empty());
    assert_eq!(again.logits, off.logits);
    assert_eq!(e.gpu_buffer_bytes(), bytes_off);
}

#[test]
fn hidden_state_capture_larger_than_a_binding_is_refused_later_and_fitted_when_asked_up_front() {
    let gpu = gpu();
    let config = tiny_config("llama");
    let gguf = tiny_gguf(&config, GgmlType::Q8_0);
    let (_, want) = reference(&gguf, &PROMPT);
    // 14 tokens' attention partials (144 floats each, the widest row) fit 8 KiB; their
    // captured states ((2 layers + 1) × 64 floats each, 10752 bytes) do not. (With 32
    // positions a kv head's cache, 2 KiB, fits too.)
    let options = EngineOptions {
        context: Some(32),
        prefill_chunk: 14,
        binding_limit: Some(8192),
        ..Default::default()
    };
    let mut late = engine(&gpu, &gguf, options.clone());
    let bytes = late.gpu_buffer_bytes();
    let err = late.set_capture_hidden(true).unwrap_err().to_string();
    assert!(
        err.contains("capturing hidden states")
            && err.contains("10752 bytes")
            && err.contains("(8192 bytes)"),
        "{err}"
    );
    assert_eq!(late.gpu_buffer_bytes(), bytes, "nothing allocated");
    let out = pollster::block_on(late.forward(&PROMPT, Want::Nothing)).unwrap();
    assert!(out.hidden.is_empty(), "capture stays off");

    let mut early = engine(
        &gpu,
        &gguf,
        EngineOptions {
            capture_hidden: true,
            ..options
        },
    );
    let notes = early.notes().join("\n");
    assert!(
        notes.contains("prompts are read 10 tokens at a time"),
        "{notes}"
    );
    let got = pollster::block_on(early.forward(&PROMPT, Want::Nothing))
        .unwrap()
        .hidden;
    assert_hidden_states(&got, &want, config.n_layers);
}

#[test]
fn matrices_split_across_bindings_give_the_same_logits() {
    let gpu = gpu();
    let mut config = tiny_config("llama");
    config.vocab_size = 1024;
    let gguf = tiny_gguf(&config, GgmlType::Q4_0);
    let options = EngineOptions {
        context: Some(32),
        prefill_chunk: 1,
        ..Default::default()
    };
    let whole = engine(&gpu, &gguf, options.clone());
    // 8 KiB per binding (the sampling scratch's size): the 1024×64 embedding (32 KiB of Q4_0
    // codes) becomes 4 chunks, so the embedding lookup and the tied output head both cross
    // chunk boundaries.
    let split = EngineOptions {
        binding_limit: Some(8192),
        ..options
    };
    let mut parts = engine(&gpu, &gguf, split);
    let mut whole = whole;
    let a = pollster::block_on(whole.forward(&PROMPT, Want::LastLogits))
        .unwrap()
        .logits;
    let b = pollster::block_on(parts.forward(&PROMPT, Want::LastLogits))
        .unwrap()
        .logits;
    assert!(max_abs_diff(&a, &b) < 1e-5, "{}", max_abs_diff(&a, &b));
}

#[test]
fn a_kv_cache_larger_than_a_binding_is_split_with_the_same_results() {
    // Three sequences × 2 kv heads are 6 (sequence, kv head) slabs per layer; a binding of
    // 2.5 slabs holds 2, so every layer's cache is 3 parts, the batch's sequences sit in
    // different parts, and the shared prefix is copied from one part into others. A binding
    // that small also lowers the prefill chunk (a chunk's 8 KiB rows of penalised tokens must
    // fit it). Prompts of ~300 tokens make attention split each decoded token's positions
    // (two tiles) in every part. The tokens are those of the same engine with one binding per
    // cache and attention never split.
    let gpu = gpu();
    let prefix = [3u32, 14, 15, 92, 65];
    let prompts: Vec<Vec<u32>> = (0..5u32)
        .map(|i| {
            let tail = (0..290 + 7 * i).map(|j| (j * 31 + 13 * i) % 96);
            prefix.iter().copied().chain(tail).collect()
        })
        .collect();
    let (greedy, sampled) = greedy_and_sampled(10, 9);
    let config = tiny_config("qwen2");
    let gguf = tiny_gguf(&config, GgmlType::Q8_0);
    for kv_f16 in [false, true] {
        let slab = 640 * config.head_dim as u64 * if kv_f16 { 2 } else { 4 };
        let options = |binding_limit, prefill_chunk, attention_workgroups| EngineOptions {
            context: Some(640),
            kv_f16,
            sequences: 3,
            binding_limit,
            prefill_chunk,
            attention_workgroups: Some(attention_workgroups),
            ..Default::default()
        };
        let mut split = engine(&gpu, &gguf, options(Some(slab * 5 / 2), 64, 1000));
        let chunk = split.prefill_chunk();
        assert_eq!(chunk, (slab * 5 / 2 / 8192) as usize, "f16 cache {kv_f16}");
        let notes = split.notes().join("\n");
        assert!(
            notes.contains("split into 3 bindings of at most 2 (sequence, kv head) slabs"),
            "{notes}"
        );
        assert!(
            notes.contains(&format!("read {chunk} tokens at a time")),
            "{notes}"
        );
        let mut whole = engine(&gpu, &gguf, options(None, chunk, 1));
        assert!(whole.notes().is_empty(), "{:?}", whole.notes());
        assert_eq!(split.kv_cache_bytes(), whole.kv_cache_bytes());
        for generate in [&greedy, &sampled] {
            let run = |e: &mut Engine| -> Vec<Vec<u32>> {
                pollster::block_on(e.generate_batch(&prompts, generate, |_, _| true, |_, _, _| {}))
                    .unwrap()
                    .into_iter()
                    .map(|(tokens, _)| tokens)
                    .collect()
            };
            let want = run(&mut whole);
            let got = run(&mut split);
            assert_eq!(got, want, "f16 cache {kv_f16}, {:?}", generate.sampling);
        }
    }
}

#[test]
fn greedy_generation_equals_the_reference_generator() {
    let gpu = gpu();
    for arch in ["llama", "qwen2"] {
        let config = tiny_config(arch);
        let gguf = tiny_gguf(&config, GgmlType::F16);
        let options = GenerateOptions {
            max_tokens: 40,
            stop_ids: vec![],
            sampling: SamplingParams::greedy(),
        };
        let device = Device::flex();
        let model = LoadedModel::from_gguf(&gguf, &device).unwrap();
        let mut reference = Generator::new(&model.model, config.context_length, device);
        let (want, _) = reference.generate(&PROMPT, &options, |_| true).unwrap();
        let mut e = engine(&gpu, &gguf, EngineOptions::default());
        let mut streamed = vec![];
        let (got, _) = pollster::block_on(e.generate(&PROMPT, &options, |t| {
            streamed.push(t);
            true
        }))
        .unwrap();
        assert_eq!(got, want, "{arch}");
        assert_eq!(streamed, got);
        // The same prompt again reuses the cached prompt (only its last token runs): the same
        // tokens. After a reset, a cold start: the same tokens again.
        let (again, _) = pollster::block_on(e.generate(&PROMPT, &options, |_| true)).unwrap();
        assert_eq!(again, want);
        assert_eq!(e.position(), PROMPT.len() + want.len());
        e.reset();
        let (cold, _) = pollster::block_on(e.generate(&PROMPT, &options, |_| true)).unwrap();
        assert_eq!(cold, want);
        // A second turn (the prompt, the reply, more text) reuses everything but the new text
        // and generates what a cold engine generates for that whole prompt.
        let turn2: Vec<u32> = PROMPT
            .iter()
            .chain(&want)
            .chain(&PROMPT[..3])
            .copied()
            .collect();
        let (continued, _) = pollster::block_on(e.generate(&turn2, &options, |_| true)).unwrap();
        e.reset();
        let (from_scratch, _) = pollster::block_on(e.generate(&turn2, &options, |_| true)).unwrap();
        assert_eq!(
            continued, from_scratch,
            "{arch}: prefix reuse changes the reply"
        );
        // Sampling with a seed is reproducible on the engine too.
        let sampled = GenerateOptions {
            sampling: SamplingParams {
                seed: 3,
                ..SamplingParams::default()
            },
            ..options.clone()
        };
        let s1 = pollster::block_on(e.generate(&PROMPT, &sampled, |_| true)).unwrap();
        let s2 = pollster::block_on(e.generate(&PROMPT, &sampled, |_| true)).unwrap();
        assert_eq!(s1, s2);
    }
}

#[test]
fn sampled_generation_equals_the_reference_generator() {
    // The engine applies the repetition penalty and selects the top-k candidates on the GPU
    // (or, without a top-k, reads the row back); the reference samples from the whole row on
    // the host. Same seed, same tokens.
    let gpu = gpu();
    let config = tiny_config("qwen2");
    let gguf = tiny_gguf(&config, GgmlType::F16);
    let device = Device::flex();
    let model = LoadedModel::from_gguf(&gguf, &device).unwrap();
    let mut reference = Generator::new(&model.model, config.context_length, device);
    let mut e = engine(&gpu, &gguf, EngineOptions::default());
    let params = |seed, temperature, top_k, repeat_penalty| SamplingParams {
        seed,
        temperature,
        top_k,
        repeat_penalty,
        ..SamplingParams::default()
    };
    for sampling in [
        params(3, 0.8, 40, 1.0),
        params(4, 0.8, 40, 1.3),
        params(0, 0.0, 40, 1.5),
        params(5, 1.0, 0, 1.2),
        params(6, 2.0, 1, 1.0),
        SamplingParams {
            top_p: 1.0,
            min_p: 0.0,
            ..params(7, 1.5, 128, 0.7)
        },
    ] {
        let options = GenerateOptions {
            max_tokens: 40,
            stop_ids: vec![],
            sampling,
        };
        let (want, _) = reference.generate(&PROMPT, &options, |_| true).unwrap();
        e.reset();
        let (got, _) = pollster::block_on(e.generate(&PROMPT, &options, |_| true)).unwrap();
        assert_eq!(got, want, "{:?}", options.sampling);
    }
}

/// A qwen2 tiny model with a 40 000-token vocabulary whose output rows repeat every `period`
/// rows, so that every logit is tied with 40 000 / `period` - 1 others.
fn tied_logits_gguf(period: usize) -> Gguf {
    let config = ModelConfig {
        vocab_size: 40_000,
        ..tiny_config("qwen2")
    };
    let mut weights = random_weights(&config, 2);
    let (_, output) = weights.get_mut("output.weight").unwrap();
    let d = config.hidden_size;
    for row in period..config.vocab_size {
        let from = (row % period) * d;
        output.copy_within(from..from + d, row * d);
    }
    let bytes = write_gguf(gguf_metadata(&config), &weights, GgmlType::F32).unwrap();
    Gguf::from_bytes(bytes).unwrap()
}

/// The (token, logit) pairs of `row` at least as large as its k-th largest, by token.
fn best_with_ties(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut sorted = row.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let kth = sorted[k - 1];
    (0u32..)
        .zip(row.iter().copied())
        .filter(|&(_, l)| l.total_cmp(&kth).is_ge())
        .collect()
}

fn by_token(mut pairs: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    pairs.sort_by_key(|p| p.0);
    pairs
}

#[test]
fn top_k_candidates_are_the_k_best_and_their_ties() {
    let gpu = gpu();
    // Each logit 8 times: the k-th best has 7 ties (k = 41: the 6th value's 8 copies join).
    let gguf = tied_logits_gguf(5_000);
    let mut e = engine(
        &gpu,
        &gguf,
        EngineOptions {
            all_logits: true,
            ..Default::default()
        },
    );
    let all = pollster::block_on(e.forward(&PROMPT, Want::AllLogits)).unwrap();
    let vocab = 40_000;
    let last = &all.logits[(PROMPT.len() - 1) * vocab..];
    for k in [1, 40, 41, 100, 128] {
        e.reset();
        let out = pollster::block_on(e.forward(&PROMPT, Want::TopK(k))).unwrap();
        assert_eq!(out.candidates.len(), 1);
        let got = by_token(out.candidates[0].clone());
        assert_eq!(got.len(), (k as usize).div_ceil(8) * 8, "k = {k}");
        assert_eq!(got, best_with_ties(last, k as usize), "k = {k}");
    }
    // One row per position.
    e.reset();
    let out = pollster::block_on(e.forward(&PROMPT, Want::AllTopK(41))).unwrap();
    assert_eq!(out.candidates.len(), PROMPT.len());
    for (row, got) in all.logits.chunks(vocab).zip(out.candidates) {
        assert_eq!(by_token(got), best_with_ties(row, 41));
    }
    // Each logit 400 times: more ties than the kernel returns, so the whole row comes back.
    let mut e = engine(&gpu, &tied_logits_gguf(100), EngineOptions::default());
    let row = pollster::block_on(e.forward(&PROMPT, Want::LastLogits)).unwrap();
    e.reset();
    let out = pollster::block_on(e.forward(&PROMPT, Want::TopK(1))).unwrap();
    let whole: Vec<(u32, f32)> = (0u32..).zip(row.logits).collect();
    assert_eq!(by_token(out.candidates[0].clone()), whole);
}

/// Greedy decoding, and sampling with llama.cpp's settings and `seed`, for `max_tokens`.
fn greedy_and_sampled(max_tokens: usize, seed: u64) -> (GenerateOptions, GenerateOptions) {
    let greedy = GenerateOptions {
        max_tokens,
        stop_ids: vec![],
        sampling: SamplingParams::greedy(),
    };
    let sampled = GenerateOptions {
        sampling: SamplingParams {
            seed,
            ..SamplingParams::default()
        },
        ..greedy.clone()
    };
    (greedy, sampled)
}

#[test]
fn batched_generation_equals_one_prompt_at_a_time() {
    let gpu = gpu();
    // Five prompts of different lengths for three places: the first three start together, the
    // others take the places of those that finish first. Prompt i stops after 3 + 2i tokens
    // (its callback), so the sequences end at different steps.
    let prompts: Vec<Vec<u32>> = (0..5)
        .map(|i| {
            PROMPT[i..]
                .iter()
                .map(|&t| (t + 7 * i as u32) % 96)
                .collect()
        })
        .collect();
    let (greedy, sampled) = greedy_and_sampled(12, 5);
    // The repetition penalty applied per sequence on the GPU, before each row's top-k.
    let penalised = GenerateOptions {
        sampling: SamplingParams {
            seed: 6,
            repeat_penalty: 1.5,
            ..SamplingParams::default()
        },
        ..greedy.clone()
    };
    let stop_after = |i: usize| 3 + 2 * i;
    for (arch, cpu_kernels) in arch_and_kernels(&gpu) {
        let config = tiny_config(arch);
        let gguf = tiny_gguf(&config, GgmlType::Q8_0);
        let mut one = engine(
            &gpu,
            &gguf,
            EngineOptions {
                cpu_kernels,
                ..Default::default()
            },
        );
        // A chunk of 2: a step of three sequences runs in two parts.
        let mut batch = engine(
            &gpu,
            &gguf,
            EngineOptions {
                cpu_kernels,
                sequences: 3,
                prefill_chunk: 2,
                ..Default::default()
            },
        );
        assert_eq!(batch.sequences(), 3);
        assert_eq!(batch.kv_cache_bytes(), 3 * one.kv_cache_bytes());
        for options in [&greedy, &sampled, &penalised] {
            let want: Vec<Vec<u32>> = prompts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    one.reset();
                    let mut n = 0;
                    let (tokens, _) = pollster::block_on(one.generate(p, options, |_| {
                        n += 1;
                        n < stop_after(i)
                    }))
                    .unwrap();
                    tokens
                })
                .collect();
            let mut streamed = vec![vec![]; prompts.len()];
            let mut done = vec![None; prompts.len()];
            let got = pollster::block_on(batch.generate_batch(
                &prompts,
                options,
                |i, t| {
                    streamed[i].push(t);
                    streamed[i].len() < stop_after(i)
                },
                |i, tokens, _| done[i] = Some(tokens.to_vec()),
            ))
            .unwrap();
            assert_eq!(done.iter().flatten().count(), prompts.len());
            let got: Vec<Vec<u32>> = got.into_iter().map(|(tokens, _)| tokens).collect();
            let label = format!("{arch} (CPU kernels {cpu_kernels}), {:?}", options.sampling);
            assert_eq!(got, want, "{label}");
            assert_eq!(streamed, want, "{label}");
            assert_eq!(
                done.into_iter().flatten().collect::<Vec<_>>(),
                want,
                "{label}"
            );
            assert_eq!(got[4].len(), stop_after(4).min(12), "{label}");
        }
    }
}

#[test]
fn a_failed_validation_is_reported_instead_of_results() {
    // A kernel that does not compile leaves the device usable and its output buffers as they
    // were: the next read must fail, naming the error, rather than return stale numbers.
    let gpu = gpu();
    let mut e = engine(
        &gpu,
        &tiny_gguf(&tiny_config("llama"), GgmlType::F32),
        Default::default(),
    );
    let _ = gpu
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("broken kernel"),
            source: wgpu::ShaderSource::Wgsl("fn main( {".into()),
        });
    let err = pollster::block_on(e.forward(&PROMPT, Want::LastLogits)).unwrap_err();
    assert!(
        matches!(&err, GpuError::DeviceLost(m) if m.contains("broken kernel")),
        "{err}"
    );
}

#[test]
fn a_shared_prompt_prefix_is_read_once_per_batch() {
    // Evaluation prompts share a chat template and an instruction: generate_batch reads that
    // prefix once and copies its keys and values to every place. The tokens are those each
    // prompt gets alone, with f32 and f16 caches, and the layers run (n - 1) × prefix fewer
    // tokens.
    let gpu = gpu();
    let prefix = [3u32, 14, 15, 92, 65, 35, 89];
    let prompts: Vec<Vec<u32>> = (0..5)
        .map(|i| {
            let tail = PROMPT[i..].iter().map(|&t| (t + 11 * i as u32) % 96);
            prefix.iter().copied().chain(tail).collect()
        })
        .collect();
    let (greedy, sampled) = greedy_and_sampled(10, 8);
    let config = tiny_config("qwen2");
    let gguf = tiny_gguf(&config, GgmlType::Q4_0);
    for (kv_f16, sequences) in [(false, 3), (true, 3), (false, 1)] {
        let options = |sequences| EngineOptions {
            kv_f16,
            sequences,
            prefill_chunk: 3,
            ..Default::default()
        };
        let mut one = engine(&gpu, &gguf, options(1));
        let mut batch = engine(&gpu, &gguf, options(sequences));
        for generate in [&greedy, &sampled] {
            let before = one.tokens_run();
            let want: Vec<Vec<u32>> = prompts
                .iter()
                .map(|p| {
                    one.reset();
                    pollster::block_on(one.generate(p, generate, |_| true))
                        .unwrap()
                        .0
                })
                .collect();
            let one_run = one.tokens_run() - before;
            let before = batch.tokens_run();
            let got: Vec<Vec<u32>> = pollster::block_on(batch.generate_batch(
                &prompts,
                generate,
                |_, _| true,
                |_, _, _| {},
            ))
            .unwrap()
            .into_iter()
            .map(|(tokens, _)| tokens)
            .collect();
            let label = format!(
                "f16 cache {kv_f16}, {sequences} places, {:?}",
                generate.sampling
            );
            assert_eq!(got, want, "{label}");
            let saved = (prompts.len() - 1) * prefix.len();
            assert_eq!(
                batch.tokens_run() - before,
                one_run - saved as u64,
                "{label}"
            );
        }
    }
}

#[test]
fn a_long_model_context_is_capped_unless_asked_for() {
    // The cache is allocated up front: a 131 072-position model would take gigabytes.
    let gpu = gpu();
    let mut config = tiny_config("llama");
    config.context_length = 3 * xlingo_gpu::DEFAULT_CONTEXT_CAP;
    let gguf = tiny_gguf(&config, GgmlType::F32);
    let capped = engine(&gpu, &gguf, EngineOptions::default());
    assert_eq!(capped.context(), xlingo_gpu::DEFAULT_CONTEXT_CAP);
    assert!(
        capped
            .notes()
            .iter()
            .any(|n| n.contains("8192 of the model's 24576 positions")),
        "{:?}",
        capped.notes()
    );
    let asked = EngineOptions {
        context: Some(config.context_length),
        ..Default::default()
    };
    let full = engine(&gpu, &gguf, asked);
    assert_eq!(full.context(), config.context_length);
    assert_eq!(full.kv_cache_bytes(), 3 * capped.kv_cache_bytes());
    assert!(full.notes().is_empty(), "{:?}", full.notes());
}

#[test]
fn the_context_is_enforced_with_a_clear_error() {
    let gpu = gpu();
    let config = tiny_config("llama");
    let gguf = tiny_gguf(&config, GgmlType::F32);
    let mut e = engine(
        &gpu,
        &gguf,
        EngineOptions {
            context: Some(12),
            ..Default::default()
        },
    );
    // f32 keys and values: layers × 2 × kv_heads × context × head_dim × 4 bytes.
    assert_eq!(e.kv_cache_bytes(), (2 * 2 * 2 * 12 * 16 * 4) as u64);
    pollster::block_on(e.forward(&PROMPT, Want::Nothing)).unwrap();
    let err = pollster::block_on(e.forward(&[1, 2], Want::Nothing)).unwrap_err();
    assert!(
        matches!(
            err,
            GpuError::ContextExceeded {
                needed: 13,
                context: 12
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "13 positions do not fit the context of 12 (prompt plus generated tokens)"
    );
    let err = pollster::block_on(e.forward(&[96], Want::Nothing)).unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    // Generation stops at the context, with the reason.
    let options = GenerateOptions {
        max_tokens: 100,
        stop_ids: vec![],
        sampling: SamplingParams::greedy(),
    };
    let (tokens, reason) =
        pollster::block_on(e.generate(&PROMPT[..4], &options, |_| true)).unwrap();
    assert_eq!(reason, xlingo_gpu::StopReason::Context);
    assert_eq!(tokens.len(), 12 - 4);
}

/// The browser test (tests/web.rs) has no burn model to compare with, so it compares with
/// this fixture of the burn model's output; this test keeps the fixture true
/// (`XLINGO_BLESS=1` rewrites it).
#[test]
fn the_browser_fixture_is_the_reference_models_output() {
    let config = tiny_config("llama");
    let gguf = tiny_gguf(&config, GgmlType::Q4_1);
    let (logits, _) = reference(&gguf, &PROMPT);
    let device = Device::flex();
    let model = LoadedModel::from_gguf(&gguf, &device).unwrap();
    let options = GenerateOptions {
        max_tokens: 24,
        stop_ids: vec![],
        sampling: SamplingParams::greedy(),
    };
    let mut generator = Generator::new(&model.model, config.context_length, device);
    let (greedy, _) = generator.generate(&PROMPT, &options, |_| true).unwrap();
    // web.rs samples with the same settings (top-k and the penalty on the GPU there).
    let sampling = SamplingParams {
        seed: 9,
        repeat_penalty: 1.3,
        ..SamplingParams::default()
    };
    let options = GenerateOptions {
        sampling,
        ..options
    };
    let (sampled, _) = generator.generate(&PROMPT, &options, |_| true).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tiny_llama_q4_1.json");
    if std::env::var_os("XLINGO_BLESS").is_some() {
        let json = serde_json::json!({
            "model": "xlingo_formats::tiny::tiny_config(\"llama\"), random_weights(seed 1), matrices Q4_1",
            "made_by": "crates/gpu/tests/parity.rs (burn reference model, CPU)",
            "prompt": PROMPT,
            "logits": logits,
            "greedy": greedy,
            "sampled": sampled,
            "sampled_with": "SamplingParams { seed: 9, repeat_penalty: 1.3, ..Default::default() }",
        });
        std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    }
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let stored: Vec<f32> = serde_json::from_value(fixture["logits"].clone()).unwrap();
    let stored_greedy: Vec<u32> = serde_json::from_value(fixture["greedy"].clone()).unwrap();
    assert!(
        max_abs_diff(&stored, &logits) < 1e-5,
        "fixture stale: run with XLINGO_BLESS=1"
    );
    assert_eq!(stored_greedy, greedy);
    let stored_sampled: Vec<u32> = serde_json::from_value(fixture["sampled"].clone()).unwrap();
    assert_eq!(stored_sampled, sampled);
}
