//! Learning rate: linear warm-up from 0, then cosine decay to `min_lr` at the last step
//! (the x-LLaMA and Lens recipes: warm-up ratio 0.03 / 0.05, cosine).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineSchedule {
    pub peak_lr: f64,
    pub min_lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl CosineSchedule {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.min_lr + (self.peak_lr - self.min_lr) * cosine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_follows_a_half_cosine() {
        let s = CosineSchedule {
            peak_lr: 1e-3,
            min_lr: 1e-5,
            warmup_steps: 4,
            total_steps: 104,
        };
        assert!((s.lr(0) - 2.5e-4).abs() < 1e-12);
        assert!((s.lr(3) - 1e-3).abs() < 1e-12);
        assert!((s.lr(4) - 1e-3).abs() < 1e-12);
        // Half-way through the decay: the mean of peak and floor.
        assert!((s.lr(54) - (1e-3 + 1e-5) / 2.0).abs() < 1e-12);
        assert!((s.lr(104) - 1e-5).abs() < 1e-12);
        assert!((s.lr(500) - 1e-5).abs() < 1e-12);
    }
}
