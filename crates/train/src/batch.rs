//! Examples as token ids with a loss mask, and right-padded batches of them.
//!
//! Right padding needs no attention mask in a causal model: a real token only attends to
//! earlier positions, which are all real; the padded positions are excluded from the loss.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// One training sequence: `ids`, and for each position whether predicting the NEXT token
/// from it counts in the loss (true on the positions before response tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub ids: Vec<u32>,
    /// `ids.len()` entries; `loss_on_next[t]` says whether `ids[t + 1]` is a target.
    pub loss_on_next: Vec<bool>,
}

impl Example {
    /// A prompt followed by a response: loss on the response tokens only.
    pub fn prompt_response(prompt: &[u32], response: &[u32]) -> Self {
        let ids: Vec<u32> = prompt.iter().chain(response).copied().collect();
        let first_target = prompt.len();
        let loss_on_next = (0..ids.len())
            .map(|t| t + 1 >= first_target && t + 1 < ids.len())
            .collect();
        Example { ids, loss_on_next }
    }

    /// Token ids with per-token labels as tokenisers for training give them (`labels[i]` is
    /// the target token i, negative where it takes no loss, e.g. PyTorch's -100): position
    /// i − 1 predicts token i.
    pub fn from_labels(ids: Vec<u32>, labels: &[i64]) -> Self {
        let loss_on_next = (0..ids.len())
            .map(|i| labels.get(i + 1).is_some_and(|&l| l >= 0))
            .collect();
        Example { ids, loss_on_next }
    }

    /// How many tokens count in the loss.
    pub fn targets(&self) -> usize {
        self.loss_on_next.iter().filter(|&&m| m).count()
    }
}

/// A right-padded batch on a device.
pub struct Batch {
    /// [batch, positions]
    pub inputs: Tensor<2, Int>,
    /// [batch, positions]: the token each position predicts (0 where masked).
    pub targets: Tensor<2, Int>,
    /// [batch, positions]: true where the prediction counts.
    pub mask: Tensor<2, Bool>,
    pub n_targets: usize,
}

impl Batch {
    pub fn new(examples: &[&Example], device: &Device) -> Batch {
        let len = examples
            .iter()
            .map(|e| e.ids.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let b = examples.len();
        let mut inputs = vec![0i64; b * len];
        let mut targets = vec![0i64; b * len];
        let mut mask = vec![false; b * len];
        for (i, e) in examples.iter().enumerate() {
            for t in 0..e.ids.len() {
                inputs[i * len + t] = e.ids[t] as i64;
                if e.loss_on_next[t] && t + 1 < e.ids.len() {
                    targets[i * len + t] = e.ids[t + 1] as i64;
                    mask[i * len + t] = true;
                }
            }
        }
        Batch {
            inputs: Tensor::from_data(TensorData::new(inputs, [b, len]), device),
            targets: Tensor::from_data(TensorData::new(targets, [b, len]), device),
            mask: Tensor::from_data(TensorData::new(mask, [b, len]), device),
            n_targets: examples.iter().map(|e| e.targets()).sum(),
        }
    }
}

/// Which examples make up optimizer step `step`: `grad_accum` micro-batches of `batch_size`
/// indices, walking through a seeded shuffle of the data that is redrawn every epoch. A pure
/// function of its arguments, so a resumed run sees exactly the batches an uninterrupted
/// one would have.
pub fn step_batches(
    n_examples: usize,
    batch_size: usize,
    grad_accum: usize,
    step: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    if n_examples == 0 {
        return Vec::new();
    }
    let per_step = batch_size * grad_accum;
    let start = step * per_step;
    let mut order_epoch = usize::MAX;
    let mut order: Vec<usize> = Vec::new();
    let mut flat = Vec::with_capacity(per_step);
    for i in start..start + per_step {
        let epoch = i / n_examples;
        if epoch != order_epoch {
            order = (0..n_examples).collect();
            let mut rng = rand::rngs::StdRng::seed_from_u64(
                seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            order.shuffle(&mut rng);
            order_epoch = epoch;
        }
        flat.push(order[i % n_examples]);
    }
    flat.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_covers_exactly_the_response() {
        let e = Example::prompt_response(&[10, 11, 12], &[20, 21]);
        assert_eq!(e.ids, vec![10, 11, 12, 20, 21]);
        // Position 2 predicts 20, position 3 predicts 21; nothing predicts past the end.
        assert_eq!(e.loss_on_next, vec![false, false, true, true, false]);
        assert_eq!(e.targets(), 2);
        assert_eq!(
            Example::from_labels(e.ids.clone(), &[-100, -100, -100, 20, 21]),
            e
        );
    }

    #[test]
    fn every_epoch_visits_every_example_once() {
        let mut seen = vec![0; 10];
        for step in 0..5 {
            let batches = step_batches(10, 2, 1, step, 7);
            assert_eq!(batches.len(), 1);
            for &i in &batches[0] {
                seen[i] += 1;
            }
        }
        assert_eq!(seen, vec![1; 10]);
        assert_eq!(step_batches(10, 2, 3, 4, 7), step_batches(10, 2, 3, 4, 7));
        assert_ne!(step_batches(10, 5, 1, 0, 7), step_batches(10, 5, 1, 2, 7));
    }
}
