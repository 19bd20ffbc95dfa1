//! The LLaMA family in burn, written to read like the paper:
//!
//! ```text
//! h₀ = E[tokens]
//! for each layer ℓ:
//!     a  = Attention(RMSNorm(h), rope(positions), kv_cache[ℓ])      (grouped-query)
//!     h  = h + a
//!     h  = h + W_down · (silu(W_gate · RMSNorm(h)) ⊙ W_up · RMSNorm(h))
//! logits = W_out · RMSNorm(h)         (W_out = E when embeddings are tied)
//! ```
//!
//! Weights arrive in GGUF naming and layout (see `xlingo_formats::weights`). This is the model
//! training differentiates through and the reference our WGSL engine is checked against, so it
//! favours clarity over speed.

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::linear;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use xlingo_formats::{ModelConfig, WeightSource};

use crate::cache::KvCache;
use crate::error::{ModelError, Result};
use crate::rope::Rope;

#[derive(Module, Debug)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    #[module(skip)]
    pub n_heads: usize,
    #[module(skip)]
    pub n_kv_heads: usize,
    #[module(skip)]
    pub head_dim: usize,
    /// LoRA dropout of the adapted projections while training (see [`project`]).
    #[module(skip)]
    pub lora_dropout: f64,
}

#[derive(Module, Debug)]
pub struct FeedForward {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    #[module(skip)]
    pub lora_dropout: f64,
}

/// `x·W (+ b)`. For a LoRA-adapted W while training with LoRA dropout, the low-rank branch
/// runs on its own dropped-out input, `x·W0 + s·(drop(x)·A)·B` (LoRA's dropout, PEFT's
/// `lora_dropout`); otherwise burn's reparameterised `W0 + s·A·B`, the same function without
/// dropout. Dropout is only active on an autodiff device (training), never for `valid()`.
fn project(l: &Linear, x: Tensor<3>, lora_dropout: f64) -> Tensor<3> {
    let adapter = match l.weight.adapter() {
        Some(a) if lora_dropout > 0.0 && x.device().is_autodiff() => a,
        _ => return l.forward(x),
    };
    let keep = 1.0 - lora_dropout;
    let mask = x.random_like(Distribution::Bernoulli(keep));
    let dropped = (x.clone() * mask).div_scalar(keep);
    let bias = l.bias.as_ref().map(|b| b.val());
    let base = linear(x, l.weight.base(), bias);
    let branch = dropped
        .matmul(adapter.a.val().unsqueeze::<3>())
        .matmul(adapter.b.val().unsqueeze::<3>());
    base + branch.mul_scalar(adapter.scale)
}

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub attn_norm: RmsNorm,
    pub attn: Attention,
    pub ffn_norm: RmsNorm,
    pub ffn: FeedForward,
}

#[derive(Module, Debug)]
pub struct Llama {
    pub embed: Embedding,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// `None` when the LM head is tied to the embedding matrix.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    pub rope: Rope,
}

/// What a forward pass returns.
pub struct ForwardOutput {
    /// [batch, positions, vocab]; only the last position when `last_only` was asked for.
    pub logits: Tensor<3>,
    /// With `capture_hidden`: the embeddings, then the residual stream after each layer
    /// (before the final norm): `n_layers + 1` tensors of [batch, positions, hidden].
    pub hidden: Vec<Tensor<3>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions {
    pub capture_hidden: bool,
    /// Compute logits for the last position only (generation needs nothing else).
    pub last_only: bool,
}

impl Attention {
    fn forward(
        &self,
        x: Tensor<3>,
        rope: &Rope,
        start: usize,
        cache: &mut crate::cache::LayerCache,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let heads = |y: Tensor<3>, n: usize| y.reshape([b, t, n, self.head_dim]).swap_dims(1, 2);
        let p = self.lora_dropout;
        let q = rope.apply(heads(project(&self.q, x.clone(), p), self.n_heads), start);
        let k = rope.apply(
            heads(project(&self.k, x.clone(), p), self.n_kv_heads),
            start,
        );
        let v = heads(project(&self.v, x, p), self.n_kv_heads);
        let (k, v) = cache.append(k, v);
        let total = k.dims()[2];

        // Grouped-query attention: query head h reads KV head h / group.
        let group = self.n_heads / self.n_kv_heads;
        let expand = |y: Tensor<4>| {
            if group == 1 {
                return y;
            }
            y.unsqueeze_dim::<5>(2).repeat_dim(2, group).reshape([
                b,
                self.n_heads,
                total,
                self.head_dim,
            ])
        };
        let (k, v) = (expand(k), expand(v));

        let scale = (self.head_dim as f64).sqrt().recip();
        let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
        if t > 1 {
            let mask = causal_mask(t, total, &scores.device()).unsqueeze::<4>();
            scores = scores + mask;
        }
        let out = softmax(scores, 3).matmul(v);
        project(
            &self.o,
            out.swap_dims(1, 2)
                .reshape([b, t, self.n_heads * self.head_dim]),
            p,
        )
    }
}

/// Additive mask [queries, keys]: query i (at absolute position keys - queries + i) sees
/// keys up to and including its own position.
fn causal_mask(queries: usize, keys: usize, device: &Device) -> Tensor<2> {
    let offset = keys - queries;
    let values: Vec<f32> = (0..queries)
        .flat_map(|i| {
            (0..keys).map(move |j| {
                if j <= offset + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [queries, keys]), device)
}

impl FeedForward {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let p = self.lora_dropout;
        let gated = silu(project(&self.gate, x.clone(), p)) * project(&self.up, x, p);
        project(&self.down, gated, p)
    }
}

impl DecoderLayer {
    fn forward(
        &self,
        h: Tensor<3>,
        rope: &Rope,
        start: usize,
        cache: &mut crate::cache::LayerCache,
    ) -> Tensor<3> {
        let h = h.clone()
            + self
                .attn
                .forward(self.attn_norm.forward(h), rope, start, cache);
        h.clone() + self.ffn.forward(self.ffn_norm.forward(h))
    }
}

/// Token ids as the [1, positions] tensor the model reads.
pub fn token_tensor(ids: &[u32], device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
    let n = ids.len();
    Tensor::from_data(TensorData::new(ids, [1, n]), device)
}

impl Llama {
    /// Build the model from weights in GGUF naming, checking every tensor's shape.
    pub fn from_weights(
        config: &ModelConfig,
        weights: &dyn WeightSource,
        device: &Device,
    ) -> Result<Self> {
        let loader = Loader { weights, device };
        let (d, f, v) = (
            config.hidden_size,
            config.intermediate_size,
            config.vocab_size,
        );
        let (q_dim, kv_dim) = (
            config.n_heads * config.head_dim,
            config.n_kv_heads * config.head_dim,
        );
        let norm = |name: &str| loader.rms_norm(name, d, config.rms_eps);

        let mut layers = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let p = |part: &str| format!("blk.{i}.{part}");
            let bias = config.qkv_bias;
            layers.push(DecoderLayer {
                attn_norm: norm(&p("attn_norm.weight"))?,
                attn: Attention {
                    q: loader.linear(&p("attn_q"), d, q_dim, bias)?,
                    k: loader.linear(&p("attn_k"), d, kv_dim, bias)?,
                    v: loader.linear(&p("attn_v"), d, kv_dim, bias)?,
                    o: loader.linear(&p("attn_output"), q_dim, d, false)?,
                    n_heads: config.n_heads,
                    n_kv_heads: config.n_kv_heads,
                    head_dim: config.head_dim,
                    lora_dropout: 0.0,
                },
                ffn_norm: norm(&p("ffn_norm.weight"))?,
                ffn: FeedForward {
                    gate: loader.linear(&p("ffn_gate"), d, f, false)?,
                    up: loader.linear(&p("ffn_up"), d, f, false)?,
                    down: loader.linear(&p("ffn_down"), f, d, false)?,
                    lora_dropout: 0.0,
                },
            });
        }
        let embed = Embedding {
            weight: Param::from_tensor(loader.tensor::<2>("token_embd.weight", &[v, d])?),
        };
        let lm_head = match config.tie_embeddings && !weights.contains("output.weight") {
            true => None,
            false => Some(loader.linear("output", d, v, false)?),
        };
        let freq_factors = match weights.contains("rope_freqs.weight") {
            true => Some(loader.values("rope_freqs.weight", &[config.head_dim / 2])?),
            false => None,
        };
        Ok(Llama {
            embed,
            layers,
            norm: norm("output_norm.weight")?,
            lm_head,
            rope: Rope::new(config, freq_factors.as_deref()),
        })
    }

    /// Set LoRA dropout for the adapted projections of every layer (0 turns it off).
    pub fn set_lora_dropout(&mut self, p: f64) {
        for layer in &mut self.layers {
            layer.attn.lora_dropout = p;
            layer.ffn.lora_dropout = p;
        }
    }

    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// A cache for one sequence batch, empty.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    /// Run `tokens` [batch, positions] through the model, continuing after what `cache` holds.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        cache: &mut KvCache,
        options: ForwardOptions,
    ) -> ForwardOutput {
        let start = cache.len();
        let mut h = self.embed.forward(tokens);
        let mut hidden = Vec::new();
        if options.capture_hidden {
            hidden.push(h.clone());
        }
        for (layer, layer_cache) in self.layers.iter().zip(cache.layers.iter_mut()) {
            h = layer.forward(h, &self.rope, start, layer_cache);
            if options.capture_hidden {
                hidden.push(h.clone());
            }
        }
        if options.last_only {
            let t = h.dims()[1];
            h = h.narrow(1, t - 1, 1);
        }
        let logits = self.lm_head(self.norm.forward(h));
        ForwardOutput { logits, hidden }
    }

    /// The residual stream after the embedding and the first `layers` decoder layers, for a
    /// fresh sequence (no cache): the frozen part of a model whose top layers are trained.
    pub fn residual_after(&self, tokens: Tensor<2, Int>, layers: usize) -> Tensor<3> {
        let mut h = self.embed.forward(tokens);
        for layer in &self.layers[..layers.min(self.layers.len())] {
            h = layer.forward(h, &self.rope, 0, &mut Default::default());
        }
        h
    }

    /// Continue a fresh sequence's residual stream `h` [batch, positions, hidden] through the
    /// decoder layers from `first` on, then the final norm: the last hidden state as Hugging
    /// Face's `hidden_states[-1]` gives it (what the LM head reads).
    pub fn normed_top(&self, h: Tensor<3>, first: usize) -> Tensor<3> {
        let mut h = h;
        for layer in self.layers.iter().skip(first) {
            h = layer.forward(h, &self.rope, 0, &mut Default::default());
        }
        self.norm.forward(h)
    }

    fn lm_head(&self, h: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => head.forward(h),
            None => {
                let [b, t, d] = h.dims();
                let e = self.embed.weight.val();
                h.reshape([b * t, d])
                    .matmul(e.clone().transpose())
                    .reshape([b, t, e.dims()[0]])
            }
        }
    }
}

/// Reads GGUF-named tensors and checks their shapes.
struct Loader<'a> {
    weights: &'a dyn WeightSource,
    device: &'a Device,
}

impl Loader<'_> {
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (found, values) = self.weights.tensor_f32(name)?;
        if found != shape {
            return Err(ModelError::Format(
                xlingo_formats::FormatError::ShapeMismatch {
                    tensor: name.into(),
                    expected: shape.to_vec(),
                    found,
                },
            ));
        }
        Ok(values)
    }

    fn tensor<const D: usize>(&self, name: &str, shape: &[usize]) -> Result<Tensor<D>> {
        let values = self.values(name, shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape.to_vec()),
            self.device,
        ))
    }

    /// A projection stored as [out, in]; burn's Linear wants [in, out].
    fn linear(&self, stem: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Linear> {
        let w = self.values(&format!("{stem}.weight"), &[d_out, d_in])?;
        let mut transposed = vec![0.0f32; w.len()];
        for (o, row) in w.chunks_exact(d_in).enumerate() {
            for (i, &x) in row.iter().enumerate() {
                transposed[i * d_out + o] = x;
            }
        }
        let weight = Tensor::from_data(TensorData::new(transposed, [d_in, d_out]), self.device);
        let bias = match bias {
            true => Some(Param::from_tensor(
                self.tensor::<1>(&format!("{stem}.bias"), &[d_out])?,
            )),
            false => None,
        };
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias,
        })
    }

    fn rms_norm(&self, name: &str, d: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            gamma: Param::from_tensor(self.tensor::<1>(name, &[d])?),
            epsilon: eps,
        })
    }
}
