//! Sentence representations from the hidden-state taps: the residual stream after the
//! embedding and after every decoder layer (before the final norm), pooled per layer.
//!
//! One sentence per forward pass, so there is no padding: the mean runs over the sentence's
//! real tokens only (x-LLM's analysis code divides a padded sum by the padded length, which
//! shrinks short sentences; that is the bug METHODS.md tells us not to copy).

use burn::tensor::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::llama::{ForwardOptions, Llama};

/// One sentence's per-layer vectors: `n_layers + 1` rows (embeddings first) of `hidden_size`.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceStates {
    /// Mean over the sentence's tokens.
    pub mean: Vec<Vec<f32>>,
    /// The last token (what a causal model has read the whole sentence at).
    pub last: Vec<Vec<f32>>,
    /// The last token after the final norm: what the LM head reads, and the top layer as
    /// Hugging Face's `hidden_states[-1]` gives it (Lens probes and trains on this one).
    pub normed_last: Vec<f32>,
}

/// Run `tokens` through `model` and pool every layer's hidden states.
pub fn sentence_states(model: &Llama, tokens: &[u32], device: &Device) -> Result<SentenceStates> {
    let (pooled, layers, d) = pooled_states(model, tokens, device)?;
    SentenceStates::from_values(&read(pooled.into_data())?, layers, d)
}

/// [`sentence_states`] read without blocking (WebGPU in the browser cannot wait).
pub async fn sentence_states_async(
    model: &Llama,
    tokens: &[u32],
    device: &Device,
) -> Result<SentenceStates> {
    let (pooled, layers, d) = pooled_states(model, tokens, device)?;
    let data = pooled
        .into_data_async()
        .await
        .map_err(|e| ModelError::Invalid(format!("reading hidden states off the GPU: {e:?}")))?;
    SentenceStates::from_values(&read(data)?, layers, d)
}

/// The pooled states as one flat tensor, `[mean (layers × d), last (layers × d), normed (d)]`,
/// so they come off the device in one read.
fn pooled_states(
    model: &Llama,
    tokens: &[u32],
    device: &Device,
) -> Result<(Tensor<1>, usize, usize)> {
    if tokens.is_empty() {
        return Err(ModelError::Invalid(
            "sentence_states: the sentence has no tokens".into(),
        ));
    }
    let t = tokens.len();
    let input = crate::llama::token_tensor(tokens, device);
    let options = ForwardOptions {
        capture_hidden: true,
        last_only: true,
    };
    let out = model.forward(input, &mut model.new_cache(), options);
    // [layers, t, d]
    let stacked = Tensor::cat(out.hidden, 0);
    let [layers, _, d] = stacked.dims();
    let mean = stacked.clone().mean_dim(1);
    let last_token = stacked.narrow(1, t - 1, 1);
    let normed = model
        .norm
        .forward(last_token.clone().narrow(0, layers - 1, 1));
    let flat = Tensor::cat(
        vec![
            mean.flatten::<1>(0, 2),
            last_token.flatten::<1>(0, 2),
            normed.flatten::<1>(0, 2),
        ],
        0,
    );
    Ok((flat, layers, d))
}

fn read(data: burn::tensor::TensorData) -> Result<Vec<f32>> {
    data.try_to_vec::<f32>()
        .map_err(|e| ModelError::Invalid(format!("reading hidden states: {e:?}")))
}

impl SentenceStates {
    fn from_values(v: &[f32], layers: usize, d: usize) -> Result<Self> {
        if v.len() != (2 * layers + 1) * d {
            return Err(ModelError::Invalid(format!(
                "hidden states: {} values for {layers} layers of {d}",
                v.len()
            )));
        }
        let rows = |part: &[f32]| part.chunks(d).map(<[f32]>::to_vec).collect();
        Ok(SentenceStates {
            mean: rows(&v[..layers * d]),
            last: rows(&v[layers * d..2 * layers * d]),
            normed_last: v[2 * layers * d..].to_vec(),
        })
    }
}
