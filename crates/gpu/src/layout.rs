//! What fits the device, decided once at load: tokens per forward pass (a chunk) and how each
//! layer's KV cache is laid out in bindings. Nothing here is refused for being larger than
//! one binding when it can be split or read in smaller chunks instead.

use xlingo_formats::ModelConfig;

use crate::context::Gpu;
use crate::engine::{CANDIDATE_CAP, DEFAULT_CONTEXT_CAP, EngineOptions, PENALTY_CAP};
use crate::error::{GpuError, Result};
use crate::kernels::Kernels;
use crate::plan::attention_partial_words;

/// The sizes an engine is built with.
pub(crate) struct Shape {
    /// Positions the KV cache holds per sequence.
    pub(crate) context: usize,
    /// Most tokens per forward pass.
    pub(crate) chunk: usize,
    pub(crate) sequences: usize,
    /// The most bytes one storage binding holds ([`EngineOptions::binding_limit`] or the
    /// device's).
    pub(crate) limit: u64,
    /// Logits are kept for every token of a pass (all_logits, or several sequences).
    pub(crate) every_row: bool,
    /// The chunk where the CPU matmul kernels are used (see [`cpu_chunk`]).
    pub(crate) cpu_chunk: Option<usize>,
    pub(crate) kv: KvLayout,
    /// What the user should know about these choices.
    pub(crate) notes: Vec<String>,
}

impl Shape {
    pub(crate) fn new(
        gpu: &Gpu,
        c: &ModelConfig,
        options: &EngineOptions,
        kernels: &Kernels,
    ) -> Result<Shape> {
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
        let sequences = options.sequences.max(1);
        let limit = options
            .binding_limit
            .unwrap_or(u64::MAX)
            .min(gpu.max_binding());
        let every_row = options.all_logits || sequences > 1;
        let chunk = options.prefill_chunk.clamp(1, context);
        let chunk = binding_chunk(c, options, every_row, chunk, limit, &mut notes)?;
        let widest_row = c
            .hidden_size
            .max(c.n_heads * c.head_dim)
            .max(c.intermediate_size);
        let cpu_chunk = cpu_chunk(
            kernels,
            options,
            chunk,
            widest_row,
            gpu.limits.max_uniform_buffer_binding_size,
        );
        if let Some(cpu) = cpu_chunk.filter(|&n| n < chunk) {
            notes.push(format!(
                "prompts are read {cpu} tokens at a time on this CPU adapter (its matmul kernels hold a chunk's activations in one uniform binding)"
            ));
        }
        let kv = KvLayout::new(c, options, context, sequences, limit)?;
        if kv.parts > 1 {
            notes.push(format!(
                "each layer's KV cache is split into {} bindings of at most {} (sequence, kv head) slabs: this device binds at most {limit} bytes",
                kv.parts, kv.per_part
            ));
        }
        Ok(Shape {
            context,
            chunk: cpu_chunk.unwrap_or(chunk),
            sequences,
            limit,
            every_row,
            cpu_chunk,
            kv,
            notes,
        })
    }
}

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
        ("attention partials", attention_partial_words(c)),
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
pub(crate) struct KvLayout {
    /// f32 words of one (sequence, kv head) slab: ctx × head_dim values, f16 two to a word.
    pub(crate) slab_words: usize,
    pub(crate) slabs: usize,
    pub(crate) per_part: usize,
    pub(crate) parts: usize,
}

impl KvLayout {
    pub(crate) fn new(
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
    pub(crate) fn parts(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
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
