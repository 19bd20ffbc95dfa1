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

use xlingo_formats::{Gguf, ModelConfig};
use xlingo_sampling::{
    GenerateOptions, Generation, SamplingParams, Scores, StopReason, common_prefix,
};

use crate::context::Gpu;
use crate::error::{GpuError, Result};
use crate::kernels::Kernels;
use crate::layout::Shape;
use crate::plan::{
    ATTENTION_TILE, Buffers, Builder, Dispatch, Layer, Op, Rows, Sampling, attention_groups,
    f32_buffer,
};
use crate::source::{Source, Uploader};
use crate::weights::GpuMatrix;

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
    /// Attention workgroups a forward pass aims for: a pass with fewer (decoding one token:
    /// SmolLM2 has 3) splits each token's positions, in tiles of 256, over more workgroups
    /// and adds the parts up (flash-decoding). Default: 8 on CPU adapters, 256 on GPUs; 1
    /// never splits.
    pub attention_workgroups: Option<usize>,
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
            attention_workgroups: None,
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
pub(crate) const CANDIDATE_CAP: usize = 256;
/// Distinct tokens per row the GPU repetition penalty takes; more are penalised on the host.
pub(crate) const PENALTY_CAP: usize = 1024;

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

pub struct Engine {
    gpu: Gpu,
    config: ModelConfig,
    context: usize,
    chunk: usize,
    /// The most bytes one binding holds here ([`EngineOptions::binding_limit`] or the device's).
    binding_limit: u64,
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
    sampling: Sampling,
    /// Attention workgroups a pass aims for ([`EngineOptions::attention_workgroups`]).
    attention_target: usize,
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
        let mut kernels = Kernels::for_gpu(gpu);
        kernels.kv_f16 = options.kv_f16;
        let mut shape = Shape::new(gpu, c, &options, &kernels)?;
        let mut up = Uploader {
            gpu,
            source: &source,
            limit: shape.limit,
            bytes: 0,
            notes: std::mem::take(&mut shape.notes),
        };
        let bufs = Buffers::new(gpu, c, &source, &shape, options.capture_hidden)?;
        let mut b = Builder {
            gpu,
            kernels,
            cpu_chunk: shape.cpu_chunk,
            step: &bufs.step,
            empty: &bufs.empty,
        };
        let embed = up.matrix("token_embd.weight", c.vocab_size, c.hidden_size)?;
        let mut body = b.embed(&embed, &bufs, c.hidden_size);
        // Capture points are always in the plan (they cost nothing while capture is off), so
        // capture can be switched on later without rebuilding the engine.
        body.push(Op::Capture(0));
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let layer = Layer::load(&mut up, c, i, &shape)?;
            body.extend(b.layer_ops(c, &layer, &bufs, shape.context));
            body.push(Op::Capture(i + 1));
            layers.push(layer);
        }
        let kv_bytes = layers.iter().map(Layer::cache_bytes).sum::<u64>();

        let d = c.hidden_size;
        let output_norm = f32_buffer(gpu, "output_norm", &source.vector("output_norm.weight", d)?);
        let head = if source.contains("output.weight") || !c.tie_embeddings {
            Some(up.matrix("output.weight", c.vocab_size, d)?)
        } else {
            None
        };
        let head_matrix = head.as_ref().unwrap_or(&embed);
        let head_last = b.head(c, head_matrix, &output_norm, &bufs, true);
        let head_all = if shape.every_row {
            b.head(c, head_matrix, &output_norm, &bufs, false)
        } else {
            vec![]
        };
        let sampling = b.sampling(&bufs, c.vocab_size);
        let default_target = if gpu.device_type == wgpu::DeviceType::Cpu {
            8
        } else {
            256
        };
        Ok(Engine {
            attention_target: options.attention_workgroups.unwrap_or(default_target),
            gpu: gpu.clone(),
            context: shape.context,
            chunk: shape.chunk,
            binding_limit: shape.limit,
            lengths: vec![0; shape.sequences],
            buffer_bytes: bufs.bytes() + kv_bytes,
            config,
            options,
            bufs,
            _layers: layers,
            _embed: embed,
            _head: head,
            _output_norm: output_norm,
            body,
            head_last,
            head_all,
            sampling,
            cached: Vec::new(),
            tokens_run: 0,
            weight_bytes: up.bytes,
            kv_bytes,
            notes: up.notes,
        })
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
    /// Errs, leaving capture off, when that buffer is more than one binding holds (an engine
    /// made with `capture_hidden` on reads prompts in chunks small enough for it).
    pub fn set_capture_hidden(&mut self, on: bool) -> Result<()> {
        let c = &self.config;
        match (on, &self.bufs.hidden) {
            (true, None) => {
                let size = ((c.n_layers + 1) * self.chunk * c.hidden_size * 4) as u64;
                if size > self.binding_limit {
                    return Err(GpuError::Invalid(format!(
                        "capturing hidden states takes (layers + 1) × prefill chunk × hidden size = {} × {} × {} floats ({size} bytes) in one binding, more than this device can bind ({} bytes): make the engine with capture_hidden on (prompts are then read in smaller chunks) or with a smaller prefill_chunk",
                        c.n_layers + 1,
                        self.chunk,
                        c.hidden_size,
                        self.binding_limit
                    )));
                }
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
        Ok(())
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
        let splits = self.attention_splits(&slots);
        queue.write_buffer(
            &self.bufs.step,
            0,
            bytemuck::cast_slice(&[n as u32, splits, 0, 0]),
        );
        let mut times: Vec<(&'static str, f64, usize)> = Vec::new();
        for op in self.body.iter().chain(&self.head_last) {
            let Some(d) = op.dispatch(splits) else {
                continue;
            };
            let started = std::time::Instant::now();
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder
                    .begin_compute_pass(&Default::default())
                    .forget_lifetime();
                Self::dispatch(&mut pass, d, n as u32, splits);
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
        let splits = self.attention_splits(slots);
        queue.write_buffer(&self.bufs.step, 0, bytemuck::cast_slice(&[n, splits, 0, 0]));
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
                Op::Dispatch(_) | Op::Combine(_) => {
                    let Some(dispatch) = op.dispatch(splits) else {
                        continue;
                    };
                    let pass = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&Default::default())
                            .forget_lifetime()
                    });
                    Self::dispatch(pass, dispatch, n, splits);
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
            Want::Argmax => Some(&self.sampling.argmax),
            Want::AllArgmax => Some(&self.sampling.argmax_all),
            Want::TopK(_) => Some(&self.sampling.top_k),
            Want::AllTopK(_) => Some(&self.sampling.top_k_all),
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
                Self::dispatch_groups(pass, &self.sampling.penalty, [count.div_ceil(64), 1, 1]);
            }
            Self::dispatch(pass, pick, n, splits);
        }
        drop(pass);
        queue.submit([encoder.finish()]);
    }

    fn dispatch(pass: &mut wgpu::ComputePass<'static>, d: &Dispatch, n_tokens: u32, splits: u32) {
        let (y, z) = match d.y {
            Rows::One => (1, 1),
            Rows::Tokens => (n_tokens, 1),
            Rows::Tiles(t) => (n_tokens.div_ceil(t), 1),
            Rows::TokensAndSplits => (n_tokens, splits),
        };
        Self::dispatch_groups(pass, d, [d.x, y, z]);
    }

    /// `d`'s kernel over an x × y × z grid of workgroups.
    fn dispatch_groups(pass: &mut wgpu::ComputePass<'static>, d: &Dispatch, [x, y, z]: [u32; 3]) {
        pass.set_pipeline(&d.kernel.pipeline);
        pass.set_bind_group(0, &d.bind, &[]);
        pass.dispatch_workgroups(x, y, z);
    }

    /// Into how many ranges attention splits each token's positions in a pass over tokens at
    /// `slots`: enough for the pass to have `attention_target` workgroups, at most one per
    /// tile of the longest token's positions, and few enough that the partials fit their
    /// buffer (splits × tokens ≤ chunk).
    fn attention_splits(&self, slots: &[[u32; 2]]) -> u32 {
        let tokens = slots.len().max(1);
        let positions = slots.iter().map(|s| s[1] as usize + 1).max().unwrap_or(1);
        let wanted = self
            .attention_target
            .div_ceil(tokens * attention_groups(&self.config).1);
        wanted
            .min(positions.div_ceil(ATTENTION_TILE))
            .min(self.chunk / tokens)
            .max(1) as u32
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
