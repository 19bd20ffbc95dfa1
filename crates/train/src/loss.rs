//! Next-token cross-entropy over the masked positions of a batch, averaged per target token.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};
use xlingo_model::llama::{ForwardOptions, Llama};

use crate::batch::Batch;
use crate::readout::read_values;

/// Mean negative log-likelihood of the batch's targets (a scalar tensor, differentiable).
pub fn causal_lm_loss(model: &Llama, batch: &Batch) -> Tensor<1> {
    let mut cache = model.new_cache();
    let logits = model
        .forward(batch.inputs.clone(), &mut cache, ForwardOptions::default())
        .logits;
    let [b, t, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    let picked = log_probs
        .gather(2, batch.targets.clone().reshape([b, t, 1]))
        .reshape([b, t]);
    let mask = batch.mask.clone().float();
    let total = (picked * mask).sum();
    let count = batch.n_targets.max(1) as f32;
    let device = total.device();
    total.neg().div(Tensor::from_data(
        TensorData::new(vec![count], [1]),
        &device,
    ))
}

/// How well a model predicts one example's targets with the true text before each of them
/// (teacher forcing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetScore {
    /// Summed negative log-likelihood of the targets, in nats.
    pub nll: f64,
    /// Targets that are the model's arg-max prediction.
    pub correct: usize,
    pub targets: usize,
}

/// [`TargetScore`] of every example of the batch, in order (for evaluation: give a model
/// without autodiff, e.g. `model.valid()`).
pub fn score_targets(model: &Llama, batch: &Batch) -> Vec<TargetScore> {
    let mut cache = model.new_cache();
    let logits = model
        .forward(batch.inputs.clone(), &mut cache, ForwardOptions::default())
        .logits;
    let [b, t, _] = logits.dims();
    let predicted = logits.clone().argmax(2).reshape([b, t]);
    let picked = log_softmax(logits, 2)
        .gather(2, batch.targets.clone().reshape([b, t, 1]))
        .reshape([b, t]);
    let host = |data: TensorData| {
        data.convert::<f64>()
            .try_to_vec::<f64>()
            .unwrap_or_default()
    };
    let log_probs = host(picked.into_data());
    let hits = host(predicted.equal(batch.targets.clone()).int().into_data());
    let mask = batch
        .mask
        .clone()
        .into_data()
        .try_to_vec::<bool>()
        .unwrap_or_default();
    (0..b)
        .map(|i| {
            let row = i * t..(i + 1) * t;
            let mut score = TargetScore {
                nll: 0.0,
                correct: 0,
                targets: 0,
            };
            for j in row.filter(|&j| mask.get(j) == Some(&true)) {
                score.nll -= log_probs[j];
                score.correct += (hits[j] > 0.5) as usize;
                score.targets += 1;
            }
            score
        })
        .collect()
}

/// A one-element tensor's value (NaN if it cannot be read, so the non-finite guard stops).
pub(crate) fn scalar(t: &Tensor<1>) -> f32 {
    read_values(t.clone())
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN)
}
