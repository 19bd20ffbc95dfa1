//! The forward pass as a plan, built once at load: the activation buffers, each layer's
//! weights and KV cache, and the dispatches (kernel, bind group, grid) that run them in order.
//! engine.rs encodes a plan's dispatches into one command buffer per forward pass.

use std::sync::Arc;

use wgpu::util::DeviceExt;
use xlingo_formats::{ModelConfig, RopeLayout};

use crate::context::Gpu;
use crate::engine::{CANDIDATE_CAP, PENALTY_CAP};
use crate::error::{GpuError, Result};
use crate::kernels::{self, Kernel, Kernels, Slot};
use crate::layout::Shape;
use crate::source::{Source, Uploader};
use crate::weights::{self, GpuMatrix};

/// How many workgroups a dispatch needs along y (and z), given the pass's token count (and
/// attention splits).
#[derive(Clone, Copy)]
pub(crate) enum Rows {
    One,
    Tokens,
    /// Tiles of this many tokens.
    Tiles(u32),
    /// Tokens along y, the pass's attention splits along z (attention.wgsl).
    TokensAndSplits,
}

pub(crate) struct Dispatch {
    pub(crate) kernel: Arc<Kernel>,
    pub(crate) bind: wgpu::BindGroup,
    pub(crate) x: u32,
    pub(crate) y: Rows,
}

pub(crate) enum Op {
    Dispatch(Dispatch),
    /// Dispatched only when the pass splits attention's positions (attention_combine.wgsl).
    Combine(Dispatch),
    /// Copy the residual stream into hidden-state slot i.
    Capture(usize),
}

impl Op {
    /// The dispatch this op makes in a pass with `splits` attention splits, if any.
    pub(crate) fn dispatch(&self, splits: u32) -> Option<&Dispatch> {
        match self {
            Op::Dispatch(d) => Some(d),
            Op::Combine(d) if splits > 1 => Some(d),
            _ => None,
        }
    }
}

/// Tiles of positions of attention.wgsl (its TILE): the unit its positions are split in.
pub(crate) const ATTENTION_TILE: usize = 256;

/// Query heads one attention workgroup serves (they share a kv head; attention.wgsl's vec4
/// over heads: up to 4, a kv head's heads taken that many at a time), and the workgroups a
/// token needs.
pub(crate) fn attention_groups(c: &ModelConfig) -> (usize, usize) {
    let per_kv = c.n_heads / c.n_kv_heads;
    let group = per_kv.min(4);
    (group, c.n_kv_heads * per_kv.div_ceil(group))
}

/// f32 words of one token's attention partials (attention.wgsl, when split): per workgroup,
/// m and l (a vec4 each) and a (4 heads × head_dim).
pub(crate) fn attention_partial_words(c: &ModelConfig) -> usize {
    attention_groups(c).1 * 4 * (2 + c.head_dim)
}

pub(crate) struct Buffers {
    pub(crate) step: wgpu::Buffer,
    pub(crate) tokens: wgpu::Buffer,
    pub(crate) x: wgpu::Buffer,
    pub(crate) xn: wgpu::Buffer,
    /// [tokens, q_dim + 2 kv_dim]: each token's q, k and v side by side.
    pub(crate) qkv: wgpu::Buffer,
    pub(crate) att: wgpu::Buffer,
    pub(crate) ffn: wgpu::Buffer,
    pub(crate) logits: wgpu::Buffer,
    pub(crate) rope: wgpu::Buffer,
    pub(crate) argmax: wgpu::Buffer,
    /// topk.wgsl's output: per row, the count and (token, logit bits) pairs.
    pub(crate) candidates: wgpu::Buffer,
    /// penalty.wgsl's (row, token) pairs and its parameters, topk.wgsl's parameters.
    pub(crate) penalties: wgpu::Buffer,
    pub(crate) penalty_params: wgpu::Buffer,
    pub(crate) topk_params: wgpu::Buffer,
    /// (sequence, position) of each token of the chunk, for rope_kv.wgsl and attention.wgsl.
    pub(crate) slots: wgpu::Buffer,
    /// Attention's per-split partial results: a pass splits only while splits × tokens ≤
    /// chunk, so a chunk's worth is enough.
    pub(crate) partials: wgpu::Buffer,
    pub(crate) hidden: Option<wgpu::Buffer>,
    pub(crate) empty: wgpu::Buffer,
}

impl Buffers {
    /// Activations and scratch for `shape.chunk` tokens, sized once (the KV cache is the
    /// layers', [`Layer::load`]).
    pub(crate) fn new(
        gpu: &Gpu,
        c: &ModelConfig,
        source: &Source,
        shape: &Shape,
        capture_hidden: bool,
    ) -> Result<Buffers> {
        let f32s = |label: &str, n: usize| storage(gpu, label, n, shape.limit);
        let (chunk, d, vocab) = (shape.chunk, c.hidden_size, c.vocab_size);
        let (q_dim, kv_dim) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        let logit_rows = if shape.every_row { chunk } else { 1 };
        Ok(Buffers {
            step: uniform(gpu, "step", &[0; 4]),
            tokens: f32s("tokens", chunk)?,
            x: f32s("x", chunk * d)?,
            xn: f32s("xn", chunk * d)?,
            qkv: f32s("qkv", chunk * (q_dim + 2 * kv_dim))?,
            att: f32s("attention", chunk * q_dim)?,
            ffn: f32s("ffn", chunk * c.intermediate_size)?,
            logits: f32s("logits", logit_rows * vocab)?,
            rope: f32_buffer(
                gpu,
                "rope cos/sin",
                &rope_table(c, source, shape.context, shape.limit)?,
            ),
            argmax: f32s("argmax", 2 * chunk)?,
            candidates: f32s("candidates", logit_rows * (2 + 2 * CANDIDATE_CAP))?,
            penalties: f32s("penalised tokens", logit_rows * 2 * PENALTY_CAP)?,
            penalty_params: uniform(gpu, "penalty", &[0; 4]),
            topk_params: uniform(gpu, "top-k", &[vocab as u32, 1, CANDIDATE_CAP as u32, 0]),
            slots: f32s("slots", 2 * chunk)?,
            partials: f32s("attention partials", chunk * attention_partial_words(c))?,
            hidden: if capture_hidden {
                Some(f32s("hidden", (c.n_layers + 1) * chunk * d)?)
            } else {
                None
            },
            empty: f32s("empty", 1)?,
        })
    }

    /// Bytes of the activations and scratch.
    pub(crate) fn bytes(&self) -> u64 {
        [
            &self.tokens,
            &self.x,
            &self.xn,
            &self.qkv,
            &self.att,
            &self.ffn,
            &self.logits,
            &self.rope,
            &self.candidates,
            &self.penalties,
            &self.partials,
        ]
        .iter()
        .map(|b| b.size())
        .sum::<u64>()
            + self.hidden.as_ref().map_or(0, |b| b.size())
    }
}

/// A storage buffer of `n` f32 words (also bindable as a uniform: the CPU kernels read a
/// chunk's activations as a uniform array), or an error when it exceeds one binding.
fn storage(gpu: &Gpu, label: &str, n: usize, limit: u64) -> Result<wgpu::Buffer> {
    let size = (n.max(1) * 4) as u64;
    if size > limit {
        return Err(GpuError::Invalid(format!(
            "{label} needs {size} bytes, more than this device can bind ({limit}); lower the context (--context)"
        )));
    }
    Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::UNIFORM
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

/// RoPE's (cos, sin) for every position and frequency, computed in f64 (rope_kv.wgsl).
fn rope_table(c: &ModelConfig, source: &Source, context: usize, limit: u64) -> Result<Vec<f32>> {
    let hd = c.head_dim;
    let table_bytes = (context * hd * 4) as u64;
    if table_bytes > limit {
        return Err(GpuError::Invalid(format!(
            "the RoPE cos/sin table of {context} positions needs {table_bytes} bytes, more than this device can bind ({limit}); lower the context (--context)"
        )));
    }
    let factors = if source.contains("rope_freqs.weight") {
        Some(source.vector("rope_freqs.weight", hd / 2)?)
    } else {
        None
    };
    let (inv_freq, position_scale) = c.rope_frequencies(factors.as_deref());
    let mut table = Vec::with_capacity(context * hd);
    for p in 0..context {
        let p = p as f64 / position_scale;
        for &f in &inv_freq {
            let (s, co) = (p * f).sin_cos();
            table.push(co as f32);
            table.push(s as f32);
        }
    }
    Ok(table)
}

pub(crate) struct Layer {
    pub(crate) attn_norm: wgpu::Buffer,
    /// Wq, Wk and Wv stacked into one matrix when they share a quantisation type (one
    /// dispatch), else each with the column of the qkv buffer it writes from.
    pub(crate) qkv: Vec<(usize, GpuMatrix)>,
    /// q, k and v biases, concatenated.
    pub(crate) qkv_bias: Option<wgpu::Buffer>,
    pub(crate) o: GpuMatrix,
    pub(crate) ffn_norm: wgpu::Buffer,
    pub(crate) gate: GpuMatrix,
    pub(crate) up: GpuMatrix,
    pub(crate) down: GpuMatrix,
    pub(crate) cache: Vec<KvPart>,
}

/// Part of a layer's KV cache [sequences, n_kv, ctx, head_dim]: the whole (sequence, kv head)
/// slabs `first..first + slabs` (slab = sequence · n_kv + kv head), as many as fit one binding.
/// Most models and devices need one part; a cache larger than the device's binding limit (many
/// sequences of a long context) is split rather than refused, and rope_kv.wgsl and
/// attention.wgsl run once per part.
pub(crate) struct KvPart {
    pub(crate) k: wgpu::Buffer,
    pub(crate) v: wgpu::Buffer,
    pub(crate) first: usize,
    pub(crate) slabs: usize,
}

impl Layer {
    /// Layer `i`'s weights, uploaded, and its KV cache (in `shape.kv`'s parts).
    pub(crate) fn load(
        up: &mut Uploader,
        c: &ModelConfig,
        i: usize,
        shape: &Shape,
    ) -> Result<Layer> {
        let gpu = up.gpu;
        let source = up.source;
        let (d, ff) = (c.hidden_size, c.intermediate_size);
        let (q_dim, kv_dim) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
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
        let kv = &shape.kv;
        let cache = kv
            .parts()
            .map(|(first, slabs)| {
                let words = slabs * kv.slab_words;
                Ok(KvPart {
                    k: storage(gpu, "cache k", words, shape.limit)?,
                    v: storage(gpu, "cache v", words, shape.limit)?,
                    first,
                    slabs,
                })
            })
            .collect::<Result<_>>()?;
        let layer = Layer {
            attn_norm: norm("attn_norm.weight")?,
            qkv,
            qkv_bias,
            o: up.matrix(&name("attn_output.weight"), d, q_dim)?,
            ffn_norm: norm("ffn_norm.weight")?,
            gate: up.matrix(&name("ffn_gate.weight"), ff, d)?,
            up: up.matrix(&name("ffn_up.weight"), ff, d)?,
            down: up.matrix(&name("ffn_down.weight"), d, ff)?,
            cache,
        };
        if layer.gate.ty != layer.up.ty {
            return Err(GpuError::Invalid(format!(
                "blk.{i}: the GPU engine needs ffn_gate and ffn_up in one quantisation type, found {} and {}",
                layer.gate.ty.name(),
                layer.up.ty.name()
            )));
        }
        Ok(layer)
    }

    /// Bytes of the layer's keys and values.
    pub(crate) fn cache_bytes(&self) -> u64 {
        self.cache.iter().map(|p| p.k.size() + p.v.size()).sum()
    }

    /// Where `slab`'s keys and values are: their buffers and byte offset in them, for slabs of
    /// `slab_bytes` bytes.
    pub(crate) fn slab(&self, slab: usize, slab_bytes: u64) -> [(&wgpu::Buffer, u64); 2] {
        let part = self
            .cache
            .iter()
            .find(|p| slab < p.first + p.slabs)
            .expect("slab inside the cache");
        let offset = (slab - part.first) as u64 * slab_bytes;
        [(&part.k, offset), (&part.v, offset)]
    }
}

fn uniform(gpu: &Gpu, label: &str, words: &[u32]) -> wgpu::Buffer {
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(words),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

pub(crate) fn f32_buffer(gpu: &Gpu, label: &str, values: &[f32]) -> wgpu::Buffer {
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

/// The first `k` floats of `x` (a chunk's activations) as a uniform binding.
fn uniform_x(x: &wgpu::Buffer, k: usize) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: x,
        offset: 0,
        size: wgpu::BufferSize::new(k as u64 * 4),
    })
}

/// Everything needed to turn weights into dispatches.
pub(crate) struct Builder<'a> {
    pub(crate) gpu: &'a Gpu,
    pub(crate) kernels: Kernels,
    /// The chunk, where the CPU kernels (matmul_cpu.wgsl, matmul_swiglu_cpu.wgsl) are used.
    pub(crate) cpu_chunk: Option<usize>,
    pub(crate) step: &'a wgpu::Buffer,
    pub(crate) empty: &'a wgpu::Buffer,
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

impl Builder<'_> {
    pub(crate) fn layer_ops(
        &mut self,
        c: &ModelConfig,
        l: &Layer,
        bufs: &Buffers,
        context: usize,
    ) -> Vec<Op> {
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
            &ROPE_KV_SLOTS,
        );
        let layout = match c.rope_layout {
            RopeLayout::Interleaved => 0,
            RopeLayout::Neox => 1,
        };
        let hd = c.head_dim;
        ops.extend(self.per_cache_part(
            &rope,
            &l.cache,
            (
                ((c.n_heads + c.n_kv_heads) * hd / 2).div_ceil(64) as u32,
                Rows::Tokens,
            ),
            |part| {
                vec![
                    c.n_heads as u32,
                    c.n_kv_heads as u32,
                    hd as u32,
                    context as u32,
                    layout,
                    qkv_cols as u32,
                    part.first as u32,
                    part.slabs as u32,
                ]
            },
            |part| vec![&bufs.rope, &bufs.qkv, &part.k, &part.v, &bufs.slots],
        ));
        let (group, workgroups) = attention_groups(c);
        let attention = self.kernels.get_sized(
            self.gpu,
            "attention",
            kernels::ATTENTION,
            &[],
            None,
            &ATTENTION_SLOTS,
            group as u32,
        );
        let scale = (1.0 / (hd as f64).sqrt()) as f32;
        ops.extend(self.per_cache_part(
            &attention,
            &l.cache,
            (workgroups as u32, Rows::TokensAndSplits),
            |part| {
                vec![
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
                ]
            },
            |part| {
                vec![
                    &bufs.qkv,
                    &part.k,
                    &part.v,
                    &bufs.att,
                    &bufs.slots,
                    &bufs.partials,
                ]
            },
        ));
        let combine = self.kernels.get_sized(
            self.gpu,
            "attention_combine",
            kernels::ATTENTION_COMBINE,
            &[],
            None,
            &[Slot::Uniform, Slot::Uniform, Slot::Read, Slot::Write],
            group as u32,
        );
        let params = uniform(
            self.gpu,
            "attention_combine",
            &[c.n_heads as u32, c.n_kv_heads as u32, hd as u32, 0],
        );
        ops.push(Op::Combine(Dispatch {
            bind: bind(
                self.gpu,
                &combine,
                &[self.step, &params, &bufs.partials, &bufs.att],
            ),
            kernel: combine,
            x: workgroups as u32,
            y: Rows::Tokens,
        }));
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

/// Bindings of rope_kv.wgsl: step, parameters, cos/sin, then q, k and v, the keys and the
/// values written, and the slots.
const ROPE_KV_SLOTS: [Slot; 7] = [
    Slot::Uniform,
    Slot::Uniform,
    Slot::Read,
    Slot::Write,
    Slot::Write,
    Slot::Write,
    Slot::Read,
];

/// Bindings of attention.wgsl: step, parameters, q, the keys and values (read_write only
/// because the shaders/kv/ helpers they share with rope_kv also write), the output, the
/// slots and the split partials.
const ATTENTION_SLOTS: [Slot; 8] = [
    Slot::Uniform,
    Slot::Uniform,
    Slot::Read,
    Slot::Write,
    Slot::Write,
    Slot::Write,
    Slot::Read,
    Slot::Write,
];

impl Builder<'_> {
    /// One dispatch of `kernel` (rope_kv or attention) per part of a layer's KV cache, over
    /// the (x, y) workgroups of `grid`: `params(part)` are its uniform words, `buffers(part)`
    /// the bindings after the step and parameters.
    fn per_cache_part<'b>(
        &self,
        kernel: &Arc<Kernel>,
        cache: &'b [KvPart],
        (x, y): (u32, Rows),
        params: impl Fn(&KvPart) -> Vec<u32>,
        buffers: impl Fn(&'b KvPart) -> Vec<&'b wgpu::Buffer>,
    ) -> Vec<Op> {
        cache
            .iter()
            .map(|part| {
                let params = uniform(self.gpu, kernel.name, &params(part));
                let mut bound = vec![self.step, &params];
                bound.extend(buffers(part));
                Op::Dispatch(Dispatch {
                    bind: bind(self.gpu, kernel, &bound),
                    kernel: kernel.clone(),
                    x,
                    y,
                })
            })
            .collect()
    }
}

/// The sampling kernels' dispatches over the logits.
pub(crate) struct Sampling {
    /// Over one row (the last token's logits) and over every token's row.
    pub(crate) argmax: Dispatch,
    pub(crate) argmax_all: Dispatch,
    pub(crate) top_k: Dispatch,
    pub(crate) top_k_all: Dispatch,
    /// Its grid follows each pass's penalised tokens (one invocation each), not its x and y.
    pub(crate) penalty: Dispatch,
}

impl Builder<'_> {
    /// The embedding lookup of the chunk's tokens into x, one dispatch per chunk of the matrix.
    pub(crate) fn embed(&mut self, embed: &GpuMatrix, bufs: &Buffers, d: usize) -> Vec<Op> {
        let kernel = self.kernels.get(
            self.gpu,
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
        embed
            .chunks
            .iter()
            .map(|ch| {
                let params = uniform(
                    self.gpu,
                    "embed",
                    &[d as u32, ch.row0 as u32, ch.rows as u32, 0],
                );
                let bind = bind(
                    self.gpu,
                    &kernel,
                    &[
                        self.step,
                        &params,
                        &ch.scales,
                        &ch.qs,
                        &bufs.tokens,
                        &bufs.x,
                    ],
                );
                Op::Dispatch(Dispatch {
                    kernel: kernel.clone(),
                    bind,
                    x: (d / 32).div_ceil(64) as u32,
                    y: Rows::Tokens,
                })
            })
            .collect()
    }

    /// The final norm and the logits, of the last token only or of every token.
    pub(crate) fn head(
        &mut self,
        c: &ModelConfig,
        w: &GpuMatrix,
        output_norm: &wgpu::Buffer,
        bufs: &Buffers,
        last_only: bool,
    ) -> Vec<Op> {
        let norm = self.rmsnorm(c.hidden_size, c.rms_eps, output_norm, &bufs.x, &bufs.xn);
        let mut ops = vec![norm];
        ops.extend(self.matmul(
            w,
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
    }

    pub(crate) fn sampling(&mut self, bufs: &Buffers, vocab: usize) -> Sampling {
        let gpu = self.gpu;
        let slots = [Slot::Uniform, Slot::Read, Slot::Write];
        let argmax_kernel = self
            .kernels
            .get(gpu, "argmax", kernels::ARGMAX, &[], None, &slots);
        let params = uniform(gpu, "argmax", &[vocab as u32, 0, 0, 0]);
        let argmax_over = |y| Dispatch {
            bind: bind(gpu, &argmax_kernel, &[&params, &bufs.logits, &bufs.argmax]),
            kernel: argmax_kernel.clone(),
            x: 1,
            y,
        };
        let topk_kernel = self
            .kernels
            .get(gpu, "topk", kernels::TOPK, &[], None, &slots);
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
        let penalty_kernel = self
            .kernels
            .get(gpu, "penalty", kernels::PENALTY, &[], None, &slots);
        Sampling {
            argmax: argmax_over(Rows::One),
            argmax_all: argmax_over(Rows::Tokens),
            top_k: top_k_over(Rows::One),
            top_k_all: top_k_over(Rows::Tokens),
            penalty: Dispatch {
                bind: bind(
                    gpu,
                    &penalty_kernel,
                    &[&bufs.penalty_params, &bufs.penalties, &bufs.logits],
                ),
                kernel: penalty_kernel,
                x: 0,
                y: Rows::One,
            },
        }
    }
}
