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
    let mean = rows(stacked.clone().mean_dim(1), layers, d)?;
    let last_token = stacked.narrow(1, t - 1, 1);
    let normed = model
        .norm
        .forward(last_token.clone().narrow(0, layers - 1, 1));
    let normed_last = rows(normed, 1, d)?.remove(0);
    let last = rows(last_token, layers, d)?;
    Ok(SentenceStates {
        mean,
        last,
        normed_last,
    })
}

fn rows(t: Tensor<3>, layers: usize, d: usize) -> Result<Vec<Vec<f32>>> {
    let flat = t
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| ModelError::Invalid(format!("reading hidden states: {e:?}")))?;
    Ok(flat.chunks(d).take(layers).map(<[f32]>::to_vec).collect())
}
