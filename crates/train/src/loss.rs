//! Next-token cross-entropy over the masked positions of a batch, averaged per target token.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};
use xlingo_model::llama::{ForwardOptions, Llama};

use crate::batch::Batch;

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

/// A one-element tensor's value (NaN if it cannot be read, so the non-finite guard stops).
pub(crate) fn scalar(t: &Tensor<1>) -> f32 {
    t.clone()
        .into_data()
        .try_to_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN)
}
