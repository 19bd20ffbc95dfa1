//! The decoder on the GPU: weights uploaded once, a KV cache sized up front, and one command
//! buffer per forward pass whose dispatches were all prepared at load time.
//!
//! A forward pass over a chunk of tokens (one token when decoding, up to `prefill_chunk` when
//! reading a prompt) runs, per layer:
//!
//! ```text
//! xn = rmsnorm(x, attn_norm)                     rmsnorm.wgsl
//! [q k v] = xn·[Wq Wk Wv]ᵀ (+b)                  matmul.wgsl    (one matrix when the three
//!                                                 share a type, else three dispatches)
//! rope(q), rope(k) → cache_k, v → cache_v         rope_kv.wgsl   (rope and cache write fused)
//! a = softmax(q·Kᵀ/√d + causal) · V              attention.wgsl
//! x += a·Woᵀ                                      matmul.wgsl    (residual add fused)
//! xn = rmsnorm(x, ffn_norm)                       rmsnorm.wgsl
//! h = silu(xn·Wgᵀ) ⊙ (xn·Wuᵀ)                     matmul_swiglu.wgsl (both matrices, one pass)
//! x += h·Wdᵀ                                      matmul.wgsl    (residual add fused)
//! ```
//!
//! then `logits = rmsnorm(x, output_norm)·Wᵀ` for the last token (or all). Sampling works on
//! the logits where they are: the repetition penalty (penalty.wgsl), then for greedy decoding
//! the arg-max (argmax.wgsl: 8 bytes come back per token) and otherwise the top-k candidates
//! (topk.wgsl: ~2 KiB come back instead of the whole row), ranked and drawn from on the host.

use std::sync::Arc;

use wgpu::util::DeviceExt;
use xlingo_formats::{FormatError, GgmlType, Gguf, ModelConfig, RopeLayout, WeightSource};
use xlingo_sampling::{
    GenerateOptions, Generation, SamplingParams, Scores, StopReason, common_prefix,
};

use crate::context::Gpu;
use crate::error::{GpuError, Result};
use crate::kernels::{self, Kernel, Kernels, Slot};
use crate::weights::{self, GpuMatrix};

/// Positions the KV cache holds when none are asked for and the model's context is longer:
/// the cache is allocated up front, and at Llama 3's 131 072 positions it would take 4 GiB
/// (1B, f16) to 16 GiB (8B) before the first token. llama.cpp defaults to 4096.
pub const DEFAULT_CONTEXT_CAP: usize = 8192;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Positions the KV cache holds; `None`: the model's context length, at most
    /// [`DEFAULT_CONTEXT_CAP`] (with a note when that caps it).
    pub context: Option<usize>,
    /// Most tokens per forward dispatch; longer prompts are read in chunks of this size.
    pub prefill_chunk: usize,
    /// Keep the logits of every position (parity tests, scoring), not only the last.
    pub all_logits: bool,
    /// Record the residual stream after the embedding and after every layer (switchable
    /// later with [`Engine::set_capture_hidden`]).
    pub capture_hidden: bool,
    /// The most bytes one storage binding may hold (default: the device's limit; lower it to
    /// exercise the splitting): weight matrices are split into row chunks and each layer's KV
    /// cache into parts that fit it, and prompts are read in chunks small enough that a
    /// chunk's activations and logits fit it.
    pub binding_limit: Option<u64>,
    /// On a CPU adapter, run the matmuls with the kernels made for it (matmul_cpu.wgsl,
    /// matmul_swiglu_cpu.wgsl; default). Off (or `XLINGO_CPU_KERNELS=0`), the GPU kernels run
    /// there too: for comparisons and to test them on lavapipe.
    pub cpu_kernels: bool,
    /// Sequences the KV cache holds side by side, for [`Engine::generate_batch`] (each gets
    /// `context` positions; the cache grows by this factor). 1 for a chat.
    pub sequences: usize,
    /// Keep keys and values in f16 (half the cache memory and attention reads, as llama.cpp
    /// does by default) instead of f32 (the default here: exact parity with the reference).
    pub kv_f16: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            context: None,
            prefill_chunk: 64,
            all_logits: false,
            capture_hidden: false,
            binding_limit: None,
            cpu_kernels: true,
            sequences: 1,
            kv_f16: false,
        }
    }
}

/// What a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Nothing: only fill the KV cache.
    Nothing,
    /// Logits of the last position.
    LastLogits,
    /// Logits of every position (needs `EngineOptions::all_logits` or several sequences).
    AllLogits,
    /// The arg-max of the last position's logits, computed on the GPU.
    Argmax,
    /// The arg-max of every position's logits, computed on the GPU (as `AllLogits`, it needs
    /// `all_logits` or several sequences).
    AllArgmax,
    /// The last position's best k candidates (k ≥ 1), selected on the GPU: the k best and
    /// every token tied with the k-th (the whole row when that is more than 256 tokens).
    TopK(u32),
    /// Every position's best k candidates (as `AllLogits`, it needs `all_logits` or several
    /// sequences).
    AllTopK(u32),
}

impl Want {
    /// One row per position (else the last position's only).
    fn every_row(self) -> bool {
        matches!(self, Want::AllLogits | Want::AllArgmax | Want::AllTopK(_))
    }
}

/// The largest top-k selected on the GPU; a larger (or no) top-k reads the whole row back.
pub const MAX_GPU_TOP_K: usize = 128;
/// Candidates topk.wgsl returns per row at most (the k best and the tokens tied with the k-th).
const CANDIDATE_CAP: usize = 256;
/// Distinct tokens per row the GPU repetition penalty takes; more are penalised on the host.
const PENALTY_CAP: usize = 1024;

#[derive(Debug, Default, Clone)]
pub struct ForwardOutput {
    /// [rows, vocab] row-major: one row for `LastLogits`, one per token for `AllLogits`.
    pub logits: Vec<f32>,
    pub argmax: Option<u32>,
    /// With `AllArgmax`: one per token.
    pub argmaxes: Vec<u32>,
    /// With `TopK(k)` (one row) or `AllTopK(k)` (one per token): (token, logit) pairs, the k
    /// best and every token tied with the k-th, in no particular order (as
    /// [`Scores::Candidates`] takes them).
    pub candidates: Vec<Vec<(u32, f32)>>,
    /// With `capture_hidden`: n_layers + 1 entries (after the embedding, then after each
    /// layer), each [tokens, hidden_size] row-major.
    pub hidden: Vec<Vec<f32>>,
}

/// How many workgroups a dispatch needs along y, given the chunk's token count.
#[derive(Clone, Copy)]
enum Rows {
    One,
    Tokens,
    /// Tiles of this many tokens.
    Tiles(u32),
}

struct Dispatch {
    kernel: Arc<Kernel>,
    bind: wgpu::BindGroup,
    x: u32,
    y: Rows,
}

enum Op {
    Dispatch(Dispatch),
    /// Copy the residual stream into hidden-state slot i.
    Capture(usize),
}

struct Buffers {
    step: wgpu::Buffer,
    tokens: wgpu::Buffer,
    x: wgpu::Buffer,
    xn: wgpu::Buffer,
    /// [tokens, q_dim + 2 kv_dim]: each token's q, k and v side by side.
    qkv: wgpu::Buffer,
    att: wgpu::Buffer,
    ffn: wgpu::Buffer,
    logits: wgpu::Buffer,
    rope: wgpu::Buffer,
    argmax: wgpu::Buffer,
    /// topk.wgsl's output: per row, the count and (token, logit bits) pairs.
    candidates: wgpu::Buffer,
    /// penalty.wgsl's (row, token) pairs and its parameters, topk.wgsl's parameters.
    penalties: wgpu::Buffer,
    penalty_params: wgpu::Buffer,
    topk_params: wgpu::Buffer,
    /// (sequence, position) of each token of the chunk, for rope_kv.wgsl and attention.wgsl.
    slots: wgpu::Buffer,
    hidden: Option<wgpu::Buffer>,
    empty: wgpu::Buffer,
}

struct Layer {
    attn_norm: wgpu::Buffer,
    /// Wq, Wk and Wv stacked into one matrix when they share a quantisation type (one
    /// dispatch), else each with the column of the qkv buffer it writes from.
    qkv: Vec<(usize, GpuMatrix)>,
    /// q, k and v biases, concatenated.
    qkv_bias: Option<wgpu::Buffer>,
    o: GpuMatrix,
    ffn_norm: wgpu::Buffer,
    gate: GpuMatrix,
    up: GpuMatrix,
    down: GpuMatrix,
    cache: Vec<KvPart>,
}

/// Part of a layer's KV cache [sequences, n_kv, ctx, head_dim]: the whole (sequence, kv head)
/// slabs `first..first + slabs` (slab = sequence · n_kv + kv head), as many as fit one binding.
/// Most models and devices need one part; a cache larger than the device's binding limit (many
/// sequences of a long context) is split rather than refused, and rope_kv.wgsl and
/// attention.wgsl run once per part.
struct KvPart {
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    first: usize,
    slabs: usize,
}

impl Layer {
    /// Where `slab`'s keys and values are: their buffers and byte offset in them, for slabs of
    /// `slab_bytes` bytes.
    fn slab(&self, slab: usize, slab_bytes: u64) -> [(&wgpu::Buffer, u64); 2] {
        let part = self
            .cache
            .iter()
            .find(|p| slab < p.first + p.slabs)
            .expect("slab inside the cache");
        let offset = (slab - part.first) as u64 * slab_bytes;
        [(&part.k, offset), (&part.v, offset)]
    }
}

/// Where the weights come from: a GGUF file (kept in its quantisation) or any
/// [`WeightSource`] such as a Hugging Face checkpoint (uploaded as F16).
pub enum Source<'a> {
    Gguf(&'a Gguf),
    Weights(&'a dyn WeightSource),
}

impl Source<'_> {
    fn contains(&self, name: &str) -> bool {
        match self {
            Source::Gguf(g) => g.header.tensor(name).is_some(),
            Source::Weights(w) => w.contains(name),
        }
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let (shape, values) = match self {
            Source::Gguf(g) => g.tensor_f32(name)?,
            Source::Weights(w) => w.tensor_f32(name)?,
        };
        if shape.iter().product::<usize>() != len || shape.len() != 1 {
            return Err(FormatError::ShapeMismatch {
                tensor: name.into(),
                expected: vec![len],
                found: shape,
            }
            .into());
        }
        Ok(values)
    }

    /// The matrix as ggml blocks: its own type when the kernels read it, else re-quantised to
    /// Q8_0 on the host (with a note), never expanded to f32 on the GPU.
    fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        notes: &mut Vec<String>,
    ) -> Result<(GgmlType, std::borrow::Cow<'_, [u8]>)> {
        let check = |shape: Vec<usize>| -> Result<()> {
            if shape != [rows, cols] {
                return Err(FormatError::ShapeMismatch {
                    tensor: name.into(),
                    expected: vec![rows, cols],
                    found: shape,
                }
                .into());
            }
            Ok(())
        };
        match self {
            Source::Gguf(g) => {
                let info = g.tensor_info(name)?;
                check(info.shape())?;
                if weights::is_supported(info.ty) {
                    return Ok((info.ty, g.tensor_bytes(info)?.into()));
                }
                let (_, values) = g.tensor_f32(name)?;
                notes.push(format!(
                    "{name}: {} re-quantised to Q8_0 for the GPU kernels",
                    info.ty.name()
                ));
                let bytes = xlingo_formats::quant::quantize(GgmlType::Q8_0, &values)?;
                Ok((GgmlType::Q8_0, bytes.into()))
            }
            Source::Weights(w) => {
                let (shape, values) = w.tensor_f32(name)?;
                check(shape)?;
                let halves: Vec<half::f16> =
                    values.iter().map(|&v| half::f16::from_f32(v)).collect();
                Ok((GgmlType::F16, bytemuck::cast_slice(&halves).to_vec().into()))
            }
        }
    }
}

/// Uploads weight matrices, counting their bytes and collecting notes (re-quantisations).
struct Uploader<'a> {
    gpu: &'a Gpu,
    source: &'a Source<'a>,
    limit: u64,
    bytes: u64,
    notes: Vec<String>,
}

impl Uploader<'_> {
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<GpuMatrix> {
        let (ty, bytes) = self.source.matrix(name, rows, cols, &mut self.notes)?;
        self.upload(name, ty, rows, cols, &bytes)
    }

    fn upload(
        &mut self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<GpuMatrix> {
        let m = GpuMatrix::upload(self.gpu, name, ty, rows, cols, bytes, self.limit)?;
        self.bytes += m.gpu_bytes();
        Ok(m)
    }

    /// Matrices with the same columns, stacked row-wise into one (named `stacked_name`) when
    /// they share a quantisation type, so one dispatch computes them all; else one each. Each
    /// comes with its first row in the stack.
    fn stacked(
        &mut self,
        parts: &[(&str, usize)],
        cols: usize,
        stacked_name: &str,
    ) -> Result<Vec<(usize, GpuMatrix)>> {
        let mut loaded = Vec::with_capacity(parts.len());
        for &(name, rows) in parts {
            let (ty, bytes) = self.source.matrix(name, rows, cols, &mut self.notes)?;
            loaded.push((name, rows, ty, bytes));
        }
        if loaded.iter().all(|l| l.2 == loaded[0].2) {
            let rows = loaded.iter().map(|l| l.1).sum();
            let bytes: Vec<u8> = loaded.iter().flat_map(|l| l.3.iter().copied()).collect();
            return Ok(vec![(
                0,
                self.upload(stacked_name, loaded[0].2, rows, cols, &bytes)?,
            )]);
        }
        let mut row0 = 0;
        let mut out = Vec::with_capacity(loaded.len());
        for (name, rows, ty, bytes) in loaded {
            out.push((row0, self.upload(name, ty, rows, cols, &bytes)?));
            row0 += rows;
        }
        Ok(out)
    }
}

pub struct Engine {
    gpu: Gpu,
    config: ModelConfig,
    context: usize,
    chunk: usize,
    options: EngineOptions,
    bufs: Buffers,
    // Kept alive for the bind groups that reference them.
    _layers: Vec<Layer>,
    _embed: GpuMatrix,
    _head: Option<GpuMatrix>,
    _output_norm: wgpu::Buffer,
    body: Vec<Op>,
    head_last: Vec<Op>,
    head_all: Vec<Op>,
    /// Over one row (the last token's logits) and over every token's row.
    argmax: Dispatch,
    argmax_all: Dispatch,
    top_k: Dispatch,
    top_k_all: Dispatch,
    /// Its grid follows each pass's penalised tokens (one invocation each), not its x and y.
    penalty: Dispatch,
    /// The tokens whose keys and values sequence 0's cache holds (its length is the next
    /// position), so that a new prompt sharing a prefix with them (the next turn of a chat)
    /// skips that prefix.
    cached: Vec<u32>,
    /// Positions filled in each sequence's cache (`lengths[0] == cached.len()` except inside
    /// `generate_batch`, which resets both when it ends).
    lengths: Vec<usize>,
    /// Tokens run through the layers since the engine was made.
    tokens_run: u64,
    weight_bytes: u64,
    buffer_bytes: u64,
    kv_bytes: u64,
    notes: Vec<String>,
}

fn uniform(gpu: &Gpu, label: &str, words: &[u32]) -> wgpu::Buffer {
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(words),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

fn f32_buffer(gpu: &Gpu, label: &str, values: &[f32]) -> wgpu::Buffer {
    weights::storage(gpu, label, bytemuck::cast_slice(values))
}

fn bind(gpu: &Gpu, kernel: &Kernel, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
    let resources: Vec<wgpu::BindingResource> =
        buffers.iter().map(|b| b.as_entire_binding()).collect();
    bind_resources(gpu, kernel, resources)
}

fn bind_resources(
    gpu: &Gpu,
    kernel: &Kernel,
    resources: Vec<wgpu::BindingResource>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = resources
        .into_iter()
        .enumerate()
        .map(|(i, resource)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource,
        })
        .collect();
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &kernel.layout,
        entries: &entries,
    })
}

const MATMUL_SLOTS: [Slot; 7] = [
    Slot::Uniform,
    Slot::Uniform,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Write,
];

/// matmul_cpu.wgsl: as matmul.wgsl, with x a uniform binding.
const MATMUL_CPU_SLOTS: [Slot; 7] = [
    Slot::Uniform,
    Slot::Uniform,
    Slot::Read,
    Slot::Read,
    Slot::Read,
    Slot::Uniform,
    Slot::Write,
];

/// Rows one workgroup of the CPU kernels covers: 16 invocations × 4 rows.
const CPU_ROWS_PER_WORKGROUP: usize = 64;

/// Lower `chunk` (tokens per forward pass) so that each per-chunk buffer (activations, and
/// logits and sampling scratch where every row is kept) fits one binding of `limit` bytes: a
/// long prompt is then read in more passes instead of being refused.
fn binding_chunk(
    c: &ModelConfig,
    options: &EngineOptions,
    every_row: bool,
    chunk: usize,
    limit: u64,
    notes: &mut Vec<String>,
) -> Result<usize> {
    let q_dim = c.n_heads * c.head_dim;
    let mut rows = vec![
        ("hidden state", c.hidden_size),
        ("q, k and v", q_dim + 2 * c.n_kv_heads * c.head_dim),
        ("feed-forward activation", c.intermediate_size),
    ];
    if every_row {
        rows.push(("logits", c.vocab_size));
        rows.push(("sampling candidates", 2 + 2 * CANDIDATE_CAP));
        rows.push(("penalised tokens", 2 * PENALTY_CAP));
    }
    if options.capture_hidden {
        rows.push(("captured hidden states", (c.n_layers + 1) * c.hidden_size));
    }
    let (what, widest) = rows.into_iter().max_by_key(|r| r.1).expect("rows");
    let fits = (limit / (4 * widest as u64)) as usize;
    if fits == 0 {
        return Err(GpuError::Invalid(format!(
            "one token's {what} ({} bytes) is more than this device can bind ({limit} bytes)",
            4 * widest
        )));
    }
    if fits < chunk {
        notes.push(format!(
            "prompts are read {fits} tokens at a time: a chunk's {what} must fit one binding ({limit} bytes on this device)"
        ));
    }
    Ok(chunk.min(fits))
}

/// How each layer's KV cache is laid out in bindings (see [`KvPart`]).
struct KvLayout {
    /// f32 words of one (sequence, kv head) slab: ctx × head_dim values, f16 two to a word.
    slab_words: usize,
    slabs: usize,
    per_part: usize,
    parts: usize,
}

impl KvLayout {
    fn new(
        c: &ModelConfig,
        options: &EngineOptions,
        context: usize,
        sequences: usize,
        limit: u64,
    ) -> Result<KvLayout> {
        let slab_words = context * c.head_dim / if options.kv_f16 { 2 } else { 1 };
        let slab_bytes = 4 * slab_words as u64;
        let slabs = sequences * c.n_kv_heads;
        let fit = (limit / slab_bytes) as usize;
        if fit == 0 {
            return Err(GpuError::Invalid(format!(
                "one kv head's cache for one sequence ({context} positions × {} values, {slab_bytes} bytes) is more than this device can bind ({limit} bytes); lower the context (--context)",
                c.head_dim
            )));
        }
        let parts = slabs.div_ceil(fit);
        // As even as whole slabs allow.
        let per_part = slabs.div_ceil(parts);
        Ok(KvLayout {
            slab_words,
            slabs,
            per_part,
            parts,
        })
    }

    /// (first slab, slabs) of each part.
    fn parts(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.slabs)
            .step_by(self.per_part)
            .map(|first| (first, self.per_part.min(self.slabs - first)))
    }
}

/// On CPU adapters the matmuls read a chunk's activations as one uniform array
/// (matmul_cpu.wgsl), so the chunk is capped to what one uniform binding holds of the widest
/// activation row (10 tokens for SmolLM2's 1536-value FFN rows in 64 KiB). `None` where those
/// kernels are not used: GPUs, rows too wide for one token, or switched off
/// (`EngineOptions::cpu_kernels`, `XLINGO_CPU_KERNELS=0`).
fn cpu_chunk(
    kernels: &Kernels,
    options: &EngineOptions,
    chunk: usize,
    widest_row: usize,
    uniform_limit: u64,
) -> Option<usize> {
    let off = !options.cpu_kernels || std::env::var("XLINGO_CPU_KERNELS").is_ok_and(|v| v == "0");
    let fits = (uniform_limit / (4 * widest_row as u64)) as usize;
    (kernels.cpu && !off && fits > 0).then(|| chunk.min(fits))
}

/// The first `k` floats of `x` (a chunk's activations) as a uniform binding.
fn uniform_x(x: &wgpu::Buffer, k: usize) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: x,
        offset: 0,
        size: wgpu::BufferSize::new(k as u64 * 4),
    })
}

/// Everything needed to turn weights into dispatches.
struct Builder<'a> {
    gpu: &'a Gpu,
    kernels: Kernels,
    /// The chunk, where the CPU kernels (matmul_cpu.wgsl, matmul_swiglu_cpu.wgsl) are used.
    cpu_chunk: Option<usize>,
    step: &'a wgpu::Buffer,
    empty: &'a wgpu::Buffer,
}

struct MatmulArgs<'a> {
    x: &'a wgpu::Buffer,
    y: &'a wgpu::Buffer,
    bias: Option<&'a wgpu::Buffer>,
    accumulate: bool,
    last_only: bool,
    /// y's row length and the column this matrix's first row writes (default: its rows, 0).
    columns: Option<(usize, usize)>,
}

impl Builder<'_> {
    /// One dispatch per row chunk of `w`.
    fn matmul(&mut self, w: &GpuMatrix, a: MatmulArgs) -> Vec<Op> {
        let (kernel, x, rows_per_workgroup, tile) = match self.cpu_chunk {
            Some(chunk) => (
                self.kernels.get_sized(
                    self.gpu,
                    "matmul_cpu",
                    kernels::MATMUL_CPU,
                    &["w"],
                    Some(w.ty),
                    &MATMUL_CPU_SLOTS,
                    (chunk * w.cols / 4) as u32,
                ),
                uniform_x(a.x, chunk * w.cols),
                CPU_ROWS_PER_WORKGROUP,
                4,
            ),
            None => (
                self.kernels.get(
                    self.gpu,
                    "matmul",
                    kernels::MATMUL,
                    &["w"],
                    Some(w.ty),
                    &MATMUL_SLOTS,
                ),
                a.x.as_entire_binding(),
                self.kernels.rows_per_workgroup(),
                8,
            ),
        };
        let (stride, column) = a.columns.unwrap_or((w.rows, 0));
        w.chunks
            .iter()
            .map(|c| {
                let params = uniform(
                    self.gpu,
                    &w.name,
                    &[
                        c.rows as u32,
                        w.cols as u32,
                        stride as u32,
                        (column + c.row0) as u32,
                        a.accumulate as u32,
                        a.bias.is_some() as u32,
                        a.last_only as u32,
                        0,
                    ],
                );
                let bind = bind_resources(
                    self.gpu,
                    &kernel,
                    vec![
                        self.step.as_entire_binding(),
                        params.as_entire_binding(),
                        c.scales.as_entire_binding(),
                        c.qs.as_entire_binding(),
                        a.bias.unwrap_or(self.empty).as_entire_binding(),
                        x.clone(),
                        a.y.as_entire_binding(),
                    ],
                );
                Op::Dispatch(Dispatch {
                    kernel: kernel.clone(),
                    bind,
                    x: c.rows.div_ceil(rows_per_workgroup) as u32,
                    y: if a.last_only {
                        Rows::One
                    } else {
                        Rows::Tiles(tile)
                    },
                })
            })
            .collect()
    }

    fn rmsnorm(
        &mut self,
        d: usize,
        eps: f64,
        g: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Op {
        let kernel = self.kernels.get(
            self.gpu,
            "rmsnorm",
            kernels::RMSNORM,
            &[],
            None,
            &[
                Slot::Uniform,
                Slot::Uniform,
                Slot::Read,
                Slot::Read,
                Slot::Write,
            ],
        );
        let params = uniform(
            self.gpu,
            "rmsnorm",
            &[d as u32, (eps as f32).to_bits(), 0, 0],
        );
        let bind = bind(self.gpu, &kernel, &[self.step, &params, g, x, out]);
        Op::Dispatch(Dispatch {
            kernel,
            bind,
            x: 1,
            y: Rows::Tokens,
        })
    }
}

impl Engine {
    /// Load a GGUF model onto `gpu`.
    pub fn from_gguf(gpu: &Gpu, gguf: &Gguf, options: EngineOptions) -> Result<Engine> {
        let config = ModelConfig::from_gguf(&gguf.header)?;
        Self::new(gpu, config, Source::Gguf(gguf), options)
    }

    pub fn new(
        gpu: &Gpu,
        config: ModelConfig,
        source: Source,
        options: EngineOptions,
    ) -> Result<Engine> {
        let c = &config;
        let mut notes = Vec::new();
        let context = match options.context {
            Some(n) => n,
            None if c.context_length > DEFAULT_CONTEXT_CAP => {
                notes.push(format!(
                    "the KV cache holds {DEFAULT_CONTEXT_CAP} of the model's {} positions (ask for more with the context option, --context)",
                    c.context_length
                ));
                DEFAULT_CONTEXT_CAP
            }
            None => c.context_length,
        }
        .max(1);
        let chunk = options.prefill_chunk.clamp(1, context);
        let sequences = options.sequences.max(1);
        if !c.head_dim.is_multiple_of(4)
            || c.head_dim > 256
            || c.n_kv_heads == 0
            || !c.n_heads.is_multiple_of(c.n_kv_heads)
        {
            return Err(GpuError::Invalid(format!(
                "unsupported attention shape: {} heads, {} kv heads, head_dim {} (need head_dim a multiple of 4, at most 256)",
                c.n_heads, c.n_kv_heads, c.head_dim
            )));
        }
        let limit = options
            .binding_limit
            .unwrap_or(u64::MAX)
            .min(gpu.max_binding());
        let (d, ff, vocab, hd) = (c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim);
        let (q_dim, kv_dim) = (c.n_heads * hd, c.n_kv_heads * hd);
        let every_row = options.all_logits || sequences > 1;
        let chunk = binding_chunk(c, &options, every_row, chunk, limit, &mut notes)?;
        let mut kernels = Kernels::for_gpu(gpu);
        kernels.kv_f16 = options.kv_f16;
        let cpu_chunk = cpu_chunk(
            &kernels,
            &options,
            chunk,
            d.max(q_dim).max(ff),
            gpu.limits.max_uniform_buffer_binding_size,
        );
        if let Some(cpu) = cpu_chunk.filter(|&n| n < chunk) {
            notes.push(format!(
                "prompts are read {cpu} tokens at a time on this CPU adapter (its matmul kernels hold a chunk's activations in one uniform binding)"
            ));
        }
        let chunk = cpu_chunk.unwrap_or(chunk);
        let cache = KvLayout::new(c, &options, context, sequences, limit)?;
        if cache.parts > 1 {
            notes.push(format!(
                "each layer's KV cache is split into {} bindings of at most {} (sequence, kv head) slabs: this device binds at most {limit} bytes",
                cache.parts, cache.per_part
            ));
        }
        let mut up = Uploader {
            gpu,
            source: &source,
            limit,
            bytes: 0,
            notes,
        };

        // Activations, scratch and cache, sized once.
        let f32s = |label: &str, n: usize| -> Result<wgpu::Buffer> {
            let size = (n.max(1) * 4) as u64;
            if size > limit {
                return Err(GpuError::Invalid(format!(
                    "{label} needs {size} bytes, more than this device can bind ({limit}); lower the context (--context)"
                )));
            }
            Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                // UNIFORM: the CPU kernels read a chunk's activations as a uniform array.
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::UNIFORM
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        };
        let logit_rows = if every_row { chunk } else { 1 };
        let (inv_freq, position_scale) = {
            let factors = if source.contains("rope_freqs.weight") {
                Some(source.vector("rope_freqs.weight", hd / 2)?)
            } else {
                None
            };
            c.rope_frequencies(factors.as_deref())
        };
        let mut table = Vec::with_capacity(context * hd);
        for p in 0..context {
            let p = p as f64 / position_scale;
            for &f in &inv_freq {
                let (s, co) = (p * f).sin_cos();
                table.push(co as f32);
                table.push(s as f32);
            }
        }
        let bufs = Buffers {
            step: uniform(gpu, "step", &[0; 4]),
            tokens: f32s("tokens", chunk)?,
            x: f32s("x", chunk * d)?,
            xn: f32s("xn", chunk * d)?,
            qkv: f32s("qkv", chunk * (q_dim + 2 * kv_dim))?,
            att: f32s("attention", chunk * q_dim)?,
            ffn: f32s("ffn", chunk * ff)?,
            logits: f32s("logits", logit_rows * vocab)?,
            rope: f32_buffer(gpu, "rope cos/sin", &table),
            argmax: f32s("argmax", 2 * chunk)?,
            candidates: f32s("candidates", logit_rows * (2 + 2 * CANDIDATE_CAP))?,
            penalties: f32s("penalised tokens", logit_rows * 2 * PENALTY_CAP)?,
            penalty_params: uniform(gpu, "penalty", &[0; 4]),
            topk_params: uniform(gpu, "top-k", &[vocab as u32, 1, CANDIDATE_CAP as u32, 0]),
            slots: f32s("slots", 2 * chunk)?,
            hidden: if options.capture_hidden {
                Some(f32s("hidden", (c.n_layers + 1) * chunk * d)?)
            } else {
                None
            },
            empty: f32s("empty", 1)?,
        };
        let mut buffer_bytes = [
            &bufs.tokens,
            &bufs.x,
            &bufs.xn,
            &bufs.qkv,
            &bufs.att,
            &bufs.ffn,
            &bufs.logits,
            &bufs.rope,
            &bufs.candidates,
            &bufs.penalties,
        ]
        .iter()
        .map(|b| b.size())
        .sum::<u64>()
            + bufs.hidden.as_ref().map_or(0, |b| b.size());

        let mut b = Builder {
            gpu,
            kernels,
            cpu_chunk,
            step: &bufs.step,
            empty: &bufs.empty,
        };
        let embed = up.matrix("token_embd.weight", vocab, d)?;
        let mut body = vec![];
        let embed_kernel = b.kernels.get(
            gpu,
            "embed",
            kernels::EMBED,
            &["w"],
            Some(embed.ty),
            &[
                Slot::Uniform,
                Slot::Uniform,
                Slot::Read,
                Slot::Read,
                Slot::Read,
                Slot::Write,
            ],
        );
        for ch in &embed.chunks {
            let params = uniform(gpu, "embed", &[d as u32, ch.row0 as u32, ch.rows as u32, 0]);
            let bind = bind(
                gpu,
                &embed_kernel,
                &[b.step, &params, &ch.scales, &ch.qs, &bufs.tokens, &bufs.x],
            );
            body.push(Op::Dispatch(Dispatch {
                kernel: embed_kernel.clone(),
                bind,
                x: (d / 32).div_ceil(64) as u32,
                y: Rows::Tokens,
            }));
        }
        // Capture points are always in the plan (they cost nothing while capture is off), so
        // capture can be switched on later without rebuilding the engine.
        body.push(Op::Capture(0));

        let mut layers = Vec::with_capacity(c.n_layers);
        let mut kv_bytes = 0;
        for i in 0..c.n_layers {
            let name = |part: &str| format!("blk.{i}.{part}");
            let norm = |part: &str| -> Result<wgpu::Buffer> {
                Ok(f32_buffer(
                    gpu,
                    &name(part),
                    &source.vector(&name(part), d)?,
                ))
            };
            let qkv_bias = if c.qkv_bias {
                let mut b = source.vector(&name("attn_q.bias"), q_dim)?;
                b.extend(source.vector(&name("attn_k.bias"), kv_dim)?);
                b.extend(source.vector(&name("attn_v.bias"), kv_dim)?);
                Some(f32_buffer(gpu, "bias qkv", &b))
            } else {
                None
            };
            let qkv = up.stacked(
                &[
                    (&name("attn_q.weight"), q_dim),
                    (&name("attn_k.weight"), kv_dim),
                    (&name("attn_v.weight"), kv_dim),
                ],
                d,
                &name("attn_qkv"),
            )?;
            let layer = Layer {
                attn_norm: norm("attn_norm.weight")?,
                qkv,
                qkv_bias,
                o: up.matrix(&name("attn_output.weight"), d, q_dim)?,
                ffn_norm: norm("ffn_norm.weight")?,
                gate: up.matrix(&name("ffn_gate.weight"), ff, d)?,
                up: up.matrix(&name("ffn_up.weight"), ff, d)?,
                down: up.matrix(&name("ffn_down.weight"), d, ff)?,
                cache: cache
                    .parts()
                    .map(|(first, slabs)| {
                        Ok(KvPart {
                            k: f32s("cache k", slabs * cache.slab_words)?,
                            v: f32s("cache v", slabs * cache.slab_words)?,
                            first,
                            slabs,
                        })
                    })
                    .collect::<Result<_>>()?,
            };
            kv_bytes += layer
                .cache
                .iter()
                .map(|p| p.k.size() + p.v.size())
                .sum::<u64>();
            if layer.gate.ty != layer.up.ty {
                return Err(GpuError::Invalid(format!(
                    "blk.{i}: the GPU engine needs ffn_gate and ffn_up in one quantisation type, found {} and {}",
                    layer.gate.ty.name(),
                    layer.up.ty.name()
                )));
            }
            body.extend(b.layer_ops(c, &layer, &bufs, context));
            body.push(Op::Capture(i + 1));
            layers.push(layer);
        }
        buffer_bytes += kv_bytes;

        let output_norm = f32_buffer(gpu, "output_norm", &source.vector("output_norm.weight", d)?);
        let head = if source.contains("output.weight") || !c.tie_embeddings {
            Some(up.matrix("output.weight", vocab, d)?)
        } else {
            None
        };
        let head_matrix = head.as_ref().unwrap_or(&embed);
        let mut head_ops = |last_only: bool| -> Vec<Op> {
            let mut ops = vec![b.rmsnorm(d, c.rms_eps, &output_norm, &bufs.x, &bufs.xn)];
            ops.extend(b.matmul(
                head_matrix,
                MatmulArgs {
                    x: &bufs.xn,
                    y: &bufs.logits,
                    bias: None,
                    accumulate: false,
                    last_only,
                    columns: None,
                },
            ));
            ops
        };
        let head_last = head_ops(true);
        let head_all = if every_row { head_ops(false) } else { vec![] };
        let argmax_kernel = b.kernels.get(
            gpu,
            "argmax",
            kernels::ARGMAX,
            &[],
            None,
            &[Slot::Uniform, Slot::Read, Slot::Write],
        );
        let params = uniform(gpu, "argmax", &[vocab as u32, 0, 0, 0]);
        let argmax_over = |y| Dispatch {
            bind: bind(gpu, &argmax_kernel, &[&params, &bufs.logits, &bufs.argmax]),
            kernel: argmax_kernel.clone(),
            x: 1,
            y,
        };
        let (argmax, argmax_all) = (argmax_over(Rows::One), argmax_over(Rows::Tokens));
        let slots = [Slot::Uniform, Slot::Read, Slot::Write];
        let topk_kernel = b.kernels.get(gpu, "topk", kernels::TOPK, &[], None, &slots);
        let top_k_over = |y| Dispatch {
            bind: bind(
                gpu,
                &topk_kernel,
                &[&bufs.topk_params, &bufs.logits, &bufs.candidates],
            ),
            kernel: topk_kernel.clone(),
            x: 1,
            y,
        };
        let (top_k, top_k_all) = (top_k_over(Rows::One), top_k_over(Rows::Tokens));
        let penalty_kernel = b
            .kernels
            .get(gpu, "penalty", kernels::PENALTY, &[], None, &slots);
        let penalty = Dispatch {
            bind: bind(
                gpu,
                &penalty_kernel,
                &[&bufs.penalty_params, &bufs.penalties, &bufs.logits],
            ),
            kernel: penalty_kernel,
            x: 0,
            y: Rows::One,
        };
        Ok(Engine {
            gpu: gpu.clone(),
            config,
            context,
            chunk,
            options,
            bufs,
            _layers: layers,
            _embed: embed,
            _head: head,
            _output_norm: output_norm,
            body,
            head_last,
            head_all,
            argmax,
            argmax_all,
            top_k,
            top_k_all,
            penalty,
            cached: Vec::new(),
            lengths: vec![0; sequences],
            tokens_run: 0,
            weight_bytes: up.bytes,
            buffer_bytes,
            kv_bytes,
            notes: up.notes,
        })
    }
}

impl Builder<'_> {
    fn layer_ops(&mut self, c: &ModelConfig, l: &Layer, bufs: &Buffers, context: usize) -> Vec<Op> {
        let d = c.hidden_size;
        let mut ops = vec![self.rmsnorm(d, c.rms_eps, &l.attn_norm, &bufs.x, &bufs.xn)];
        let qkv_cols = (c.n_heads + 2 * c.n_kv_heads) * c.head_dim;
        for (column, w) in &l.qkv {
            ops.extend(self.matmul(
                w,
                MatmulArgs {
                    x: &bufs.xn,
                    y: &bufs.qkv,
                    bias: l.qkv_bias.as_ref(),
                    accumulate: false,
                    last_only: false,
                    columns: Some((qkv_cols, *column)),
                },
            ));
        }
        let rope = self.kernels.get(
            self.gpu,
            "rope_kv",
            kernels::ROPE_KV,
            &[],
            None,
            &[
                Slot::Uniform,
                Slot::Uniform,
                Slot::Read,
                Slot::Write,
                Slot::Write,
                Slot::Write,
                Slot::Read,
            ],
        );
        let layout = match c.rope_layout {
            RopeLayout::Interleaved => 0,
            RopeLayout::Neox => 1,
        };
        let hd = c.head_dim;
        for part in &l.cache {
            let params = uniform(
                self.gpu,
                "rope_kv",
                &[
                    c.n_heads as u32,
                    c.n_kv_heads as u32,
                    hd as u32,
                    context as u32,
                    layout,
                    qkv_cols as u32,
                    part.first as u32,
                    part.slabs as u32,
                ],
            );
            ops.push(Op::Dispatch(Dispatch {
                bind: bind(
                    self.gpu,
                    &rope,
                    &[
                        self.step,
                        &params,
                        &bufs.rope,
                        &bufs.qkv,
                        &part.k,
                        &part.v,
                        &bufs.slots,
                    ],
                ),
                kernel: rope.clone(),
                x: ((c.n_heads + c.n_kv_heads) * hd / 2).div_ceil(64) as u32,
                y: Rows::Tokens,
            }));
        }
        // Query heads one workgroup serves (they share a kv head; attention.wgsl's vec4 over
        // heads): up to 4, a kv head's heads taken that many at a time.
        let per_kv = c.n_heads / c.n_kv_heads;
        let group = per_kv.min(4);
        let attention = self.kernels.get_sized(
            self.gpu,
            "attention",
            kernels::ATTENTION,
            &[],
            None,
            &[
                Slot::Uniform,
                Slot::Uniform,
                Slot::Read,
                // The cache: read_write only in declaration (see attention.wgsl).
                Slot::Write,
                Slot::Write,
                Slot::Write,
                Slot::Read,
            ],
            group as u32,
        );
        let scale = (1.0 / (hd as f64).sqrt()) as f32;
        for part in &l.cache {
            let params = uniform(
                self.gpu,
                "attention",
                &[
                    c.n_heads as u32,
                    c.n_kv_heads as u32,
                    hd as u32,
                    context as u32,
                    0,
                    scale.to_bits(),
                    qkv_cols as u32,
                    part.first as u32,
                    part.slabs as u32,
                    0,
                    0,
                    0,
                ],
            );
            ops.push(Op::Dispatch(Dispatch {
                bind: bind(
                    self.gpu,
                    &attention,
                    &[
                        self.step,
                        &params,
                        &bufs.qkv,
                        &part.k,
                        &part.v,
                        &bufs.att,
                        &bufs.slots,
                    ],
                ),
                kernel: attention.clone(),
                x: (c.n_kv_heads * per_kv.div_ceil(group)) as u32,
                y: Rows::Tokens,
            }));
        }
        ops.extend(self.matmul(
            &l.o,
            MatmulArgs {
                x: &bufs.att,
                y: &bufs.x,
                bias: None,
                accumulate: true,
                last_only: false,
                columns: None,
            },
        ));
        ops.push(self.rmsnorm(d, c.rms_eps, &l.ffn_norm, &bufs.x, &bufs.xn));
        let slot_x = if self.cpu_chunk.is_some() {
            Slot::Uniform
        } else {
            Slot::Read
        };
        let slots = [
            Slot::Uniform,
            Slot::Uniform,
            Slot::Read,
            Slot::Read,
            Slot::Read,
            Slot::Read,
            slot_x,
            Slot::Write,
        ];
        let (swiglu, x, rows_per_workgroup, tile) = match self.cpu_chunk {
            Some(chunk) => (
                self.kernels.get_sized(
                    self.gpu,
                    "matmul_swiglu_cpu",
                    kernels::MATMUL_SWIGLU_CPU,
                    &["gate", "up"],
                    Some(l.gate.ty),
                    &slots,
                    (chunk * d / 4) as u32,
                ),
                uniform_x(&bufs.xn, chunk * d),
                CPU_ROWS_PER_WORKGROUP,
                4,
            ),
            None => (
                self.kernels.get(
                    self.gpu,
                    "matmul_swiglu",
                    kernels::MATMUL_SWIGLU,
                    &["gate", "up"],
                    Some(l.gate.ty),
                    &slots,
                ),
                bufs.xn.as_entire_binding(),
                self.kernels.rows_per_workgroup(),
                8,
            ),
        };
        let ff = c.intermediate_size;
        // Same shape and type, so gate and up are split into the same row chunks.
        for (g, u) in l.gate.chunks.iter().zip(&l.up.chunks) {
            let params = uniform(
                self.gpu,
                "ffn",
                &[g.rows as u32, d as u32, ff as u32, g.row0 as u32],
            );
            let buffers = [self.step, &params, &g.scales, &g.qs, &u.scales, &u.qs];
            let mut resources: Vec<_> = buffers.iter().map(|b| b.as_entire_binding()).collect();
            resources.extend([x.clone(), bufs.ffn.as_entire_binding()]);
            ops.push(Op::Dispatch(Dispatch {
                bind: bind_resources(self.gpu, &swiglu, resources),
                kernel: swiglu.clone(),
                x: g.rows.div_ceil(rows_per_workgroup) as u32,
                y: Rows::Tiles(tile),
            }));
        }
        ops.extend(self.matmul(
            &l.down,
            MatmulArgs {
                x: &bufs.ffn,
                y: &bufs.x,
                bias: None,
                accumulate: true,
                last_only: false,
                columns: None,
            },
        ));
        ops
    }
}

impl Engine {
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Most tokens per forward pass: `EngineOptions::prefill_chunk`, or less on a CPU adapter
    /// (see `cpu_chunk`).
    pub fn prefill_chunk(&self) -> usize {
        self.chunk
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Positions the KV cache holds.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Positions filled so far.
    pub fn position(&self) -> usize {
        self.cached.len()
    }

    /// Keys and values are kept in f16 (`EngineOptions::kv_f16`).
    pub fn kv_f16(&self) -> bool {
        self.options.kv_f16
    }

    /// How keys and values are kept: "f32", "f16" (read and written as f16: the device has
    /// shader-f16) or "f16 packed" (two halves per u32 through pack2x16float, elsewhere).
    pub fn kv_cache_format(&self) -> &'static str {
        match (self.options.kv_f16, self.gpu.shader_f16) {
            (false, _) => "f32",
            (true, true) => "f16",
            (true, false) => "f16 packed",
        }
    }

    /// Tokens run through the model's layers since the engine was made (prompt tokens and fed
    /// generated ones): what prefix reuse and a batch's shared prefix save shows here.
    pub fn tokens_run(&self) -> u64 {
        self.tokens_run
    }

    /// Sequences the KV cache holds side by side (`EngineOptions::sequences`).
    pub fn sequences(&self) -> usize {
        self.lengths.len()
    }

    /// Bytes of the KV cache (keys and values, f32 or f16, for every layer, sequence and
    /// position), allocated up front.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.kv_bytes
    }

    /// Bytes of the weights as stored on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// Every buffer the engine allocated: weights, KV cache, activations and scratch.
    pub fn gpu_buffer_bytes(&self) -> u64 {
        self.weight_bytes + self.buffer_bytes
    }

    /// Things the user should know about the load (e.g. tensors re-quantised).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Start anew (every sequence empty); the weights stay where they are.
    pub fn reset(&mut self) {
        self.lengths.fill(0);
        self.rewind(0);
    }

    /// Forget sequence 0's cache after `position` (positions past it are overwritten by what
    /// runs next).
    pub fn rewind(&mut self, position: usize) {
        self.cached.truncate(position);
        self.lengths[0] = self.cached.len();
    }

    /// Copy the keys and values of sequence `from`'s first `len` positions into sequence `to`
    /// (every layer and kv head), through a scratch buffer (a buffer cannot be copied into
    /// itself). For [`Engine::generate_batch`]'s shared prefix; the caller sets `to`'s length.
    fn copy_prefix(&self, from: usize, to: usize, len: usize) {
        let c = &self.config;
        let value_bytes = if self.options.kv_f16 { 2 } else { 4 };
        // One position of one kv head; a head's positions are contiguous in the cache
        // [sequences, n_kv, ctx, head_dim].
        let position = (c.head_dim * value_bytes) as u64;
        let span = len as u64 * position;
        let slab_bytes = self.context as u64 * position;
        let n_kv = c.n_kv_heads;
        // (source, destination) of every layer's keys and values of every kv head.
        let copies: Vec<_> = self
            ._layers
            .iter()
            .flat_map(|l| (0..n_kv).map(move |h| (l, h)))
            .flat_map(|(l, h)| {
                let source = l.slab(from * n_kv + h, slab_bytes);
                source.into_iter().zip(l.slab(to * n_kv + h, slab_bytes))
            })
            .collect();
        let scratch = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("shared prefix"),
            size: copies.len() as u64 * span,
            usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        for (i, ((cache, offset), _)) in copies.iter().enumerate() {
            encoder.copy_buffer_to_buffer(cache, *offset, &scratch, i as u64 * span, span);
        }
        for (i, (_, (cache, offset))) in copies.iter().enumerate() {
            encoder.copy_buffer_to_buffer(&scratch, i as u64 * span, cache, *offset, span);
        }
        self.gpu.queue.submit([encoder.finish()]);
    }

    /// Switch recording of the residual stream (after the embedding and after every layer,
    /// [`ForwardOutput::hidden`]) on or off for the following forward passes. Its buffer,
    /// (layers + 1) × prefill chunk × hidden size floats, exists only while capture is on, so a
    /// chat engine can serve a representation analysis with the weights it already holds.
    pub fn set_capture_hidden(&mut self, on: bool) {
        let c = &self.config;
        match (on, &self.bufs.hidden) {
            (true, None) => {
                let size = ((c.n_layers + 1) * self.chunk * c.hidden_size * 4) as u64;
                let buffer = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("hidden"),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.buffer_bytes += size;
                self.bufs.hidden = Some(buffer);
            }
            (false, Some(buffer)) => {
                self.buffer_bytes -= buffer.size();
                self.bufs.hidden = None;
            }
            _ => {}
        }
        self.options.capture_hidden = on;
    }

    /// Run `tokens` after what the cache holds, in chunks of at most `prefill_chunk`.
    pub async fn forward(&mut self, tokens: &[u32], want: Want) -> Result<ForwardOutput> {
        self.forward_penalized(tokens, want, &Penalties::default())
            .await
    }

    /// [`Engine::forward`] with a repetition penalty applied on the GPU before an arg-max or
    /// top-k.
    async fn forward_penalized(
        &mut self,
        tokens: &[u32],
        want: Want,
        penalties: &Penalties,
    ) -> Result<ForwardOutput> {
        let entries: Vec<(usize, u32)> = tokens.iter().map(|&t| (0, t)).collect();
        let out = self.run(&entries, want, penalties).await?;
        self.cached.extend_from_slice(tokens);
        Ok(out)
    }

    /// Run `(sequence, token)` pairs, each token after what its sequence's cache holds (a
    /// prompt is one sequence's tokens in order; a step of [`Engine::generate_batch`] one token
    /// of each sequence), in chunks of at most `prefill_chunk`. The rows of `AllLogits` and
    /// `AllArgmax` follow `entries`; so do `penalties.tokens` with them (else it has one row,
    /// or none).
    async fn run(
        &mut self,
        entries: &[(usize, u32)],
        want: Want,
        penalties: &Penalties,
    ) -> Result<ForwardOutput> {
        if entries.is_empty() {
            return Err(GpuError::Invalid("no tokens to run".into()));
        }
        let every_row = self.options.all_logits || self.sequences() > 1;
        if let Want::TopK(0) | Want::AllTopK(0) = want {
            return Err(GpuError::Invalid("top-k needs k ≥ 1".into()));
        }
        if want.every_row() && !every_row {
            return Err(GpuError::Invalid(
                "all logits were not enabled when the engine was created (EngineOptions::all_logits)".into(),
            ));
        }
        let mut lengths = self.lengths.clone();
        let mut slots = Vec::with_capacity(entries.len());
        for &(seq, token) in entries {
            if seq >= lengths.len() {
                return Err(GpuError::Invalid(format!(
                    "sequence {seq} does not exist (the engine holds {})",
                    lengths.len()
                )));
            }
            if token as usize >= self.config.vocab_size {
                return Err(GpuError::Invalid(format!(
                    "token id {token} is outside the vocabulary ({} tokens)",
                    self.config.vocab_size
                )));
            }
            if lengths[seq] >= self.context {
                return Err(GpuError::ContextExceeded {
                    needed: self.lengths[seq] + entries.iter().filter(|e| e.0 == seq).count(),
                    context: self.context,
                });
            }
            slots.push([seq as u32, lengths[seq] as u32]);
            lengths[seq] += 1;
        }
        let tokens: Vec<u32> = entries.iter().map(|e| e.1).collect();
        self.tokens_run += tokens.len() as u64;
        let mut out = ForwardOutput::default();
        if self.bufs.hidden.is_some() {
            out.hidden = vec![Vec::new(); self.config.n_layers + 1];
        }
        let n_chunks = tokens.len().div_ceil(self.chunk);
        for (i, (part, part_slots)) in tokens
            .chunks(self.chunk)
            .zip(slots.chunks(self.chunk))
            .enumerate()
        {
            let last = i + 1 == n_chunks;
            let part_want = match want {
                w if w.every_row() => w,
                w if last => w,
                _ => Want::Nothing,
            };
            // The head rows of this chunk and the tokens each penalises.
            let rows = if want.every_row() {
                i * self.chunk..i * self.chunk + part.len()
            } else {
                0..1
            };
            let pairs: Vec<[u32; 2]> = match part_want {
                Want::Argmax | Want::AllArgmax | Want::TopK(_) | Want::AllTopK(_) => penalties
                    .tokens
                    .get(rows)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .flat_map(|(r, ts)| ts.iter().map(move |&t| [r as u32, t]))
                    .filter(|&[_, t]| (t as usize) < self.config.vocab_size)
                    .collect(),
                _ => Vec::new(),
            };
            self.run_chunk(part, part_slots, part_want, &pairs, penalties.factor);
            for &[seq, _] in part_slots {
                self.lengths[seq as usize] += 1;
            }
            let vocab = self.config.vocab_size;
            match part_want {
                Want::Nothing => {}
                Want::LastLogits => out.logits = self.read_f32(&self.bufs.logits, 0, vocab).await?,
                Want::AllLogits => out.logits.extend(
                    self.read_f32(&self.bufs.logits, 0, part.len() * vocab)
                        .await?,
                ),
                Want::Argmax => {
                    let words = self.read_f32(&self.bufs.argmax, 0, 1).await?;
                    out.argmax = Some(words[0].to_bits());
                }
                Want::AllArgmax => {
                    let words = self.read_f32(&self.bufs.argmax, 0, 2 * part.len()).await?;
                    out.argmaxes
                        .extend(words.iter().step_by(2).map(|w| w.to_bits()));
                }
                Want::TopK(_) => out.candidates.extend(self.read_candidates(1).await?),
                Want::AllTopK(_) => out
                    .candidates
                    .extend(self.read_candidates(part.len()).await?),
            }
            if let Some(hidden) = &self.bufs.hidden {
                let d = self.config.hidden_size;
                for (slot, h) in out.hidden.iter_mut().enumerate() {
                    h.extend(
                        self.read_f32(hidden, slot * self.chunk * d, part.len() * d)
                            .await?,
                    );
                }
            }
        }
        Ok(out)
    }

    /// topk.wgsl's candidates of the first `rows` head rows (one read for all); a row with
    /// more tokens tied with its k-th than the kernel holds is read whole.
    async fn read_candidates(&self, rows: usize) -> Result<Vec<Vec<(u32, f32)>>> {
        let stride = 2 + 2 * CANDIDATE_CAP;
        let words = self
            .read_f32(&self.bufs.candidates, 0, rows * stride)
            .await?;
        let mut out = Vec::with_capacity(rows);
        for (row, words) in words.chunks(stride).enumerate() {
            let count = words[0].to_bits() as usize;
            if count <= CANDIDATE_CAP {
                let pairs = words[2..2 + 2 * count].chunks(2);
                out.push(pairs.map(|w| (w[0].to_bits(), w[1])).collect());
            } else {
                let vocab = self.config.vocab_size;
                let logits = self.read_f32(&self.bufs.logits, row * vocab, vocab).await?;
                out.push((0u32..).zip(logits).collect());
            }
        }
        Ok(out)
    }

    async fn read_f32(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<f32>> {
        let bytes = self
            .gpu
            .read(buffer, offset as u64 * 4, len as u64 * 4)
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Time every kernel of one forward pass over `tokens` (each dispatch submitted and waited
    /// for on its own): (kernel name, seconds, dispatches), slowest first. For `xlingo bench
    /// --profile`; natively only. It writes the KV cache from position 0 and leaves the engine
    /// reset.
    #[cfg(not(target_family = "wasm"))]
    pub fn profile(&mut self, tokens: &[u32]) -> Vec<(&'static str, f64, usize)> {
        let n = tokens.len().min(self.chunk);
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.bufs.tokens, 0, bytemuck::cast_slice(&tokens[..n]));
        let slots: Vec<[u32; 2]> = (0..n as u32).map(|p| [0, p]).collect();
        queue.write_buffer(&self.bufs.slots, 0, bytemuck::cast_slice(&slots));
        queue.write_buffer(
            &self.bufs.step,
            0,
            bytemuck::cast_slice(&[n as u32, 0, 0, 0]),
        );
        let mut times: Vec<(&'static str, f64, usize)> = Vec::new();
        for op in self.body.iter().chain(&self.head_last) {
            let Op::Dispatch(d) = op else { continue };
            let started = std::time::Instant::now();
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder
                    .begin_compute_pass(&Default::default())
                    .forget_lifetime();
                Self::dispatch(&mut pass, d, n as u32);
            }
            queue.submit([encoder.finish()]);
            let _ = self.gpu.device.poll(wgpu::PollType::wait_indefinitely());
            let dt = started.elapsed().as_secs_f64();
            match times.iter_mut().find(|t| t.0 == d.kernel.name) {
                Some(t) => {
                    t.1 += dt;
                    t.2 += 1;
                }
                None => times.push((d.kernel.name, dt, 1)),
            }
        }
        self.reset();
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        times
    }

    /// Encode and submit one chunk: the layers, then the head the caller wants (after the
    /// repetition penalty on the (head row, token) `penalised` pairs).
    fn run_chunk(
        &self,
        tokens: &[u32],
        slots: &[[u32; 2]],
        want: Want,
        penalised: &[[u32; 2]],
        penalty: f32,
    ) {
        let n = tokens.len() as u32;
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.bufs.tokens, 0, bytemuck::cast_slice(tokens));
        queue.write_buffer(&self.bufs.slots, 0, bytemuck::cast_slice(slots));
        queue.write_buffer(&self.bufs.step, 0, bytemuck::cast_slice(&[n, 0, 0, 0]));
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        let head: &[Op] = match want {
            Want::Nothing => &[],
            w if w.every_row() => &self.head_all,
            _ => &self.head_last,
        };
        let d = self.config.hidden_size as u64;
        let mut pass = Some(
            encoder
                .begin_compute_pass(&Default::default())
                .forget_lifetime(),
        );
        for op in self.body.iter().chain(head) {
            match op {
                Op::Dispatch(dispatch) => {
                    let pass = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&Default::default())
                            .forget_lifetime()
                    });
                    Self::dispatch(pass, dispatch, n);
                }
                Op::Capture(slot) => {
                    let Some(hidden) = self.bufs.hidden.as_ref() else {
                        continue;
                    };
                    drop(pass.take());
                    let offset = *slot as u64 * self.chunk as u64 * d * 4;
                    encoder.copy_buffer_to_buffer(
                        &self.bufs.x,
                        0,
                        hidden,
                        offset,
                        n as u64 * d * 4,
                    );
                }
            }
        }
        let pick = match want {
            Want::Argmax => Some(&self.argmax),
            Want::AllArgmax => Some(&self.argmax_all),
            Want::TopK(_) => Some(&self.top_k),
            Want::AllTopK(_) => Some(&self.top_k_all),
            _ => None,
        };
        if let Want::TopK(k) | Want::AllTopK(k) = want {
            let params = [self.config.vocab_size as u32, k, CANDIDATE_CAP as u32, 0];
            queue.write_buffer(&self.bufs.topk_params, 0, bytemuck::cast_slice(&params));
        }
        if let Some(pick) = pick {
            let pass = pass.get_or_insert_with(|| {
                encoder
                    .begin_compute_pass(&Default::default())
                    .forget_lifetime()
            });
            if !penalised.is_empty() {
                let count = penalised.len() as u32;
                let params = [count, self.config.vocab_size as u32, penalty.to_bits(), 0];
                queue.write_buffer(&self.bufs.penalty_params, 0, bytemuck::cast_slice(&params));
                queue.write_buffer(&self.bufs.penalties, 0, bytemuck::cast_slice(penalised));
                Self::dispatch_groups(pass, &self.penalty, count.div_ceil(64), 1);
            }
            Self::dispatch(pass, pick, n);
        }
        drop(pass);
        queue.submit([encoder.finish()]);
    }

    fn dispatch(pass: &mut wgpu::ComputePass<'static>, d: &Dispatch, n_tokens: u32) {
        let y = match d.y {
            Rows::One => 1,
            Rows::Tokens => n_tokens,
            Rows::Tiles(t) => n_tokens.div_ceil(t),
        };
        Self::dispatch_groups(pass, d, d.x, y);
    }

    /// `d`'s kernel over an x × y grid of workgroups.
    fn dispatch_groups(pass: &mut wgpu::ComputePass<'static>, d: &Dispatch, x: u32, y: u32) {
        pass.set_pipeline(&d.kernel.pipeline);
        pass.set_bind_group(0, &d.bind, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }

    /// Generate after `prompt`, calling `on_token` with each new token (it returns false to
    /// stop). The part of `prompt` the cache already holds (the conversation so far, in a chat)
    /// is not run again; [`Engine::reset`] first to start cold. The repetition penalty and the
    /// arg-max (greedy) or top-k (sampling, top-k ≤ [`MAX_GPU_TOP_K`]) run on the GPU; only
    /// other settings read the whole row of logits back.
    pub async fn generate(
        &mut self,
        prompt: &[u32],
        options: &GenerateOptions,
        mut on_token: impl FnMut(u32) -> bool,
    ) -> Result<(Vec<u32>, StopReason)> {
        if prompt.is_empty() {
            return Err(GpuError::Invalid("the prompt is empty".into()));
        }
        if prompt.len() >= self.context {
            return Err(GpuError::ContextExceeded {
                needed: prompt.len() + 1,
                context: self.context,
            });
        }
        // At least the last prompt token runs, for the logits of the first new one.
        let reuse = common_prefix(&self.cached, prompt).min(prompt.len() - 1);
        self.rewind(reuse);
        let pick = Pick::for_params(&options.sampling);
        let want = pick.want(1);
        let mut generation = Generation::new(prompt, options, self.context);
        let mut tokens = prompt[reuse..].to_vec();
        loop {
            let penalties = pick.penalties(&options.sampling, [&generation]);
            let mut out = self.forward_penalized(&tokens, want, &penalties).await?;
            let scores = out.scores(0, want, self.config.vocab_size);
            match generation.next(scores, &mut on_token) {
                Ok(token) => tokens = vec![token],
                Err(reason) => return Ok((generation.into_tokens(), reason)),
            }
        }
    }

    /// Generate after each of `prompts` (evaluation: many independent prompts), up to
    /// `EngineOptions::sequences` at a time: every decoding step runs one token of each live
    /// sequence in a single forward pass, so the weights are read once for all of them, and a
    /// finished sequence's place goes to the next prompt at once; the prefix all prompts share
    /// (an evaluation's chat template and instruction) is read once and its keys and values
    /// copied to each place. `on_token(i, token)` sees prompt i's tokens (false stops that
    /// one); `on_done(i, tokens, reason)` is called as soon as prompt i is finished (to save
    /// results as they come). The returned results follow `prompts`. Tokens are picked as in
    /// [`Engine::generate`] (arg-max or top-k on the GPU). The engine is reset before and after
    /// (a chat's cached prefix is gone).
    pub async fn generate_batch(
        &mut self,
        prompts: &[Vec<u32>],
        options: &GenerateOptions,
        mut on_token: impl FnMut(usize, u32) -> bool,
        mut on_done: impl FnMut(usize, &[u32], StopReason),
    ) -> Result<Vec<(Vec<u32>, StopReason)>> {
        if let Some(i) = prompts.iter().position(|p| p.is_empty()) {
            return Err(GpuError::Invalid(format!("prompt {i} is empty")));
        }
        if let Some(p) = prompts.iter().find(|p| p.len() >= self.context) {
            return Err(GpuError::ContextExceeded {
                needed: p.len() + 1,
                context: self.context,
            });
        }
        struct Live<'a> {
            prompt: usize,
            seq: usize,
            generation: Generation<'a>,
            /// The token it runs in the next step: its last generated one, or, just admitted,
            /// its prompt's last.
            next: u32,
        }
        let p = &options.sampling;
        let pick = Pick::for_params(p);
        let vocab = self.config.vocab_size;
        let mut results: Vec<Option<(Vec<u32>, StopReason)>> = vec![None; prompts.len()];
        let mut free: Vec<usize> = (0..self.sequences()).rev().collect();
        let mut live: Vec<Live> = Vec::new();
        let mut queued = 0..prompts.len();
        self.reset();
        // The prefix every prompt starts with (an evaluation's chat template and instruction)
        // is read once, into place 0; a place copies its keys and values from there the first
        // time it is used and keeps them (later prompts only write past the prefix).
        let shared = shared_prefix(prompts);
        let mut has_prefix = vec![false; self.sequences()];
        if shared > 0 {
            let entries: Vec<(usize, u32)> = prompts[0][..shared].iter().map(|&t| (0, t)).collect();
            self.run(&entries, Want::Nothing, &Penalties::default())
                .await?;
            has_prefix[0] = true;
        }
        loop {
            // Free places take the next prompts. Their tokens after the shared prefix, but the
            // last, are read together in one pass; each last token then runs in the step
            // below with the live sequences' tokens, and gives the prompt's first new token.
            let mut admitted = Vec::new();
            while let Some(&seq) = free.last() {
                let Some(i) = queued.next() else { break };
                free.pop();
                if shared > 0 && !has_prefix[seq] {
                    self.copy_prefix(0, seq, shared);
                    has_prefix[seq] = true;
                }
                self.lengths[seq] = shared;
                admitted.push((i, seq));
            }
            let entries: Vec<(usize, u32)> = admitted
                .iter()
                .flat_map(|&(i, seq)| {
                    let body = &prompts[i][shared..prompts[i].len() - 1];
                    body.iter().map(move |&t| (seq, t))
                })
                .collect();
            if !entries.is_empty() {
                self.run(&entries, Want::Nothing, &Penalties::default())
                    .await?;
            }
            for (i, seq) in admitted {
                live.push(Live {
                    prompt: i,
                    seq,
                    generation: Generation::new(&prompts[i], options, self.context),
                    next: prompts[i][prompts[i].len() - 1],
                });
            }
            if live.is_empty() {
                break;
            }
            // One step of every live sequence (for a new one: its last prompt token).
            let entries: Vec<(usize, u32)> = live.iter().map(|l| (l.seq, l.next)).collect();
            let want = pick.want(live.len());
            let penalties = pick.penalties(p, live.iter().map(|l| &l.generation));
            let mut out = self.run(&entries, want, &penalties).await?;
            let mut still = Vec::with_capacity(live.len());
            for (row, mut l) in live.into_iter().enumerate() {
                let prompt = l.prompt;
                let scores = out.scores(row, want, vocab);
                match l.generation.next(scores, &mut |t| on_token(prompt, t)) {
                    Ok(next) => {
                        l.next = next;
                        still.push(l);
                    }
                    Err(reason) => {
                        let tokens = l.generation.into_tokens();
                        on_done(prompt, &tokens, reason);
                        results[prompt] = Some((tokens, reason));
                        free.push(l.seq);
                    }
                }
            }
            live = still;
        }
        self.reset();
        Ok(results.into_iter().flatten().collect())
    }
}

/// The repetition penalty the GPU applies before picking: `tokens[r]` are head row r's distinct
/// tokens to penalise by `factor` (none when empty).
#[derive(Default)]
struct Penalties {
    factor: f32,
    tokens: Vec<Vec<u32>>,
}

/// How a pass's logits become the next token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pick {
    /// Greedy: the arg-max on the GPU.
    Argmax,
    /// Sampling from the top-k candidates the GPU selects.
    TopK(u32),
    /// The whole row read back and sampled on the host (no top-k or a large one).
    Host,
}

impl Pick {
    fn for_params(p: &SamplingParams) -> Pick {
        if p.repeat_penalty != 1.0 && p.repeat_last_n > PENALTY_CAP {
            Pick::Host
        } else if p.temperature <= 0.0 {
            Pick::Argmax
        } else if (1..=MAX_GPU_TOP_K).contains(&p.top_k) {
            Pick::TopK(p.top_k as u32)
        } else {
            Pick::Host
        }
    }

    /// What a pass over `rows` head rows (one per live sequence) asks for.
    fn want(self, rows: usize) -> Want {
        match (self, rows == 1) {
            (Pick::Argmax, true) => Want::Argmax,
            (Pick::Argmax, false) => Want::AllArgmax,
            (Pick::TopK(k), true) => Want::TopK(k),
            (Pick::TopK(k), false) => Want::AllTopK(k),
            (Pick::Host, true) => Want::LastLogits,
            (Pick::Host, false) => Want::AllLogits,
        }
    }

    /// The penalty for the GPU to apply, one row per generation (none when the host samples:
    /// it penalises the row itself).
    fn penalties<'a, 'o: 'a>(
        self,
        p: &SamplingParams,
        generations: impl IntoIterator<Item = &'a Generation<'o>>,
    ) -> Penalties {
        if self == Pick::Host || p.repeat_penalty == 1.0 {
            return Penalties::default();
        }
        Penalties {
            factor: p.repeat_penalty,
            tokens: generations.into_iter().map(|g| g.penalized()).collect(),
        }
    }
}

impl ForwardOutput {
    /// Head row `row`'s scores for [`Generation::next`], from a pass that wanted `want`.
    fn scores(&mut self, row: usize, want: Want, vocab: usize) -> Scores<'_> {
        match want {
            Want::Argmax => Scores::Chosen(self.argmax.unwrap_or_default()),
            Want::AllArgmax => Scores::Chosen(self.argmaxes.get(row).copied().unwrap_or_default()),
            Want::TopK(_) | Want::AllTopK(_) => {
                Scores::Candidates(std::mem::take(&mut self.candidates[row]))
            }
            _ => Scores::Logits(&mut self.logits[row * vocab..(row + 1) * vocab]),
        }
    }
}

/// Tokens every prompt of a batch starts with, worth reading once: none for a single prompt or
/// a short common start, and never a whole prompt (its last token must run for its logits).
fn shared_prefix(prompts: &[Vec<u32>]) -> usize {
    /// Below this, copying the keys and values saves less than it costs.
    const MIN_SHARED: usize = 4;
    let Some((first, rest)) = prompts.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return 0;
    }
    let shortest = prompts.iter().map(Vec::len).min().unwrap_or(0);
    let common = rest
        .iter()
        .map(|p| common_prefix(first, p))
        .min()
        .unwrap_or(0)
        .min(shortest.saturating_sub(1));
    if common >= MIN_SHARED { common } else { 0 }
}
