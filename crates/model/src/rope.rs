//! Rotary position embeddings. Each head's dimensions are taken in pairs (x₀, x₁) and rotated
//! by angle p·θᵢ at position p, with θᵢ = base^(−2i/d):
//!
//! ```text
//! x₀' = x₀·cos(pθᵢ) − x₁·sin(pθᵢ)
//! x₁' = x₀·sin(pθᵢ) + x₁·cos(pθᵢ)
//! ```
//!
//! Which dimensions form a pair is the layout: (2i, 2i+1) interleaved, or (i, i+d/2) NeoX.

use burn::tensor::{Tensor, TensorData};
use xlingo_formats::{ModelConfig, RopeLayout};

#[derive(Debug, Clone)]
pub struct Rope {
    /// θᵢ for i in 0..head_dim/2, scaling already applied.
    inv_freq: Vec<f64>,
    /// Positions are divided by this (linear scaling), 1 otherwise.
    position_scale: f64,
    layout: RopeLayout,
}

impl Rope {
    /// `freq_factors`: GGUF's `rope_freqs.weight` (Llama 3.1 style): θᵢ is divided by factor i.
    pub fn new(config: &ModelConfig, freq_factors: Option<&[f32]>) -> Self {
        let (inv_freq, position_scale) = config.rope_frequencies(freq_factors);
        Rope {
            inv_freq,
            position_scale,
            layout: config.rope_layout,
        }
    }

    /// cos and sin tables [positions, head_dim/2] for positions start..start+len.
    fn tables(
        &self,
        start: usize,
        len: usize,
        device: &burn::tensor::Device,
    ) -> (Tensor<2>, Tensor<2>) {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for p in start..start + len {
            let p = p as f64 / self.position_scale;
            for &f in &self.inv_freq {
                let (s, c) = (p * f).sin_cos();
                cos.push(c as f32);
                sin.push(s as f32);
            }
        }
        let t = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [len, half]), device);
        (t(cos), t(sin))
    }

    /// Rotate x [batch, heads, positions, head_dim] whose first position is `start`.
    pub fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        let [b, h, t, d] = x.dims();
        let half = d / 2;
        let (cos, sin) = self.tables(start, t, &x.device());
        let (cos, sin) = (cos.reshape([1, 1, t, half]), sin.reshape([1, 1, t, half]));
        match self.layout {
            RopeLayout::Interleaved => {
                let pairs = x.reshape([b, h, t, half, 2]);
                let x0 = pairs.clone().narrow(4, 0, 1).reshape([b, h, t, half]);
                let x1 = pairs.narrow(4, 1, 1).reshape([b, h, t, half]);
                let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
                let r1 = x0 * sin + x1 * cos;
                Tensor::stack::<5>(vec![r0, r1], 4).reshape([b, h, t, d])
            }
            RopeLayout::Neox => {
                let x0 = x.clone().narrow(3, 0, half);
                let x1 = x.narrow(3, half, half);
                let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
                let r1 = x0 * sin + x1 * cos;
                Tensor::cat(vec![r0, r1], 3)
            }
        }
    }
}
