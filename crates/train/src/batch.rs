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
    }
}
