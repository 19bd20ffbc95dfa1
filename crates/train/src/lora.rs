//! LoRA adapters whose starting factors are drawn on the host from the run's seed and each
//! weight's path, so a run starts from the same adapters on every device: the CPU, a GPU
//! natively, or WebGPU in the browser (burn's own `Lora` draws on the device, whose random
//! generator differs between backends).
//!
//! As in LoRA (and burn, and PEFT up to the choice of A's distribution): for a frozen weight W
//! `[in, out]`, A `[in, r]` ~ Normal(0, 1/r), B `[r, out]` = 0, and the layer uses
//! `W + (alpha / r) · A·B` — exactly W at the start.

use burn::module::{LoraAdapter, Param, ParamGroup, Reparameterizer};
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};

/// The reparameterizer (`Module::apply_reparameterization`) that attaches the adapters.
pub struct SeededLora {
    pub rank: usize,
    pub alpha: f64,
    pub seed: u64,
    /// Which 2-D weights get adapters (paths such as `layers.3.attn.q.weight`).
    pub group: ParamGroup,
}

impl Reparameterizer for SeededLora {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let adapted = D == 2 && self.group.matches(&param.id, Some(path));
        let dims = param.lazy_shape().dims::<D>();
        let device = param.lazy_device();
        let base = param.set_require_grad(false);
        if !adapted {
            return (base, None);
        }
        let (d_in, d_out) = (dims[0], dims[1]);
        let a = normal_values(d_in * self.rank, 1.0 / self.rank as f64, self.seed, path);
        let adapter = LoraAdapter {
            a: Param::from_tensor(Tensor::from_data(
                TensorData::new(a, [d_in, self.rank]),
                &device,
            )),
            b: Param::from_tensor(Tensor::zeros([self.rank, d_out], &device)),
            scale: self.alpha / self.rank as f64,
        };
        (base, Some(adapter))
    }
}

/// `n` draws from Normal(0, std²), a pure function of (seed, path) (Box–Muller over a seeded
/// StdRng, so no distribution crate is needed).
pub fn normal_values(n: usize, std: f64, seed: u64, path: &str) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ fnv1a(path));
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // 1 − u keeps the logarithm's argument in (0, 1].
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt() * std;
        let angle = std::f64::consts::TAU * u2;
        out.push((radius * angle.cos()) as f32);
        out.push((radius * angle.sin()) as f32);
    }
    out.truncate(n);
    out
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_normal() {
        let a = normal_values(20_000, 0.5, 7, "layers.0.attn.q.weight");
        assert_eq!(a, normal_values(20_000, 0.5, 7, "layers.0.attn.q.weight"));
        assert_ne!(a, normal_values(20_000, 0.5, 7, "layers.1.attn.q.weight"));
        assert_ne!(a, normal_values(20_000, 0.5, 8, "layers.0.attn.q.weight"));
        let n = a.len() as f64;
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        // Standard errors: 0.5/√n ≈ 0.0035 for the mean, ≈ 0.0025 for the variance.
        assert!(mean.abs() < 0.015, "mean {mean}");
        assert!((var - 0.25).abs() < 0.01, "variance {var}");
    }
}
