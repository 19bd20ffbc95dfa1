//! Autoregressive generation with the reference model: prefill the prompt once, then one
//! position per step through the KV cache.

use burn::tensor::Device;

use crate::KvCache;
use crate::error::{ModelError, Result};
use crate::llama::{ForwardOptions, Llama};
pub use xlingo_sampling::{GenerateOptions, StopReason};
use xlingo_sampling::{Generation, Scores, common_prefix};

pub struct Generator<'a> {
    model: &'a Llama,
    device: Device,
    context_length: usize,
    cache: KvCache,
    /// The tokens whose keys and values `cache` holds, so that a prompt starting with some of
    /// them (the next prompt of an evaluation: the same chat template and instruction) reads
    /// only the rest.
    cached: Vec<u32>,
    tokens_run: u64,
}

impl<'a> Generator<'a> {
    pub fn new(model: &'a Llama, context_length: usize, device: Device) -> Self {
        Generator {
            model,
            device,
            context_length,
            cache: model.new_cache(),
            cached: Vec::new(),
            tokens_run: 0,
        }
    }

    /// Tokens run through the model since the generator was made (prompt tokens and fed
    /// generated ones).
    pub fn tokens_run(&self) -> u64 {
        self.tokens_run
    }

    /// Logits of the last position after feeding `ids` (appended to what the cache holds).
    pub fn feed(&mut self, ids: &[u32]) -> Vec<f32> {
        self.cached.extend_from_slice(ids);
        self.tokens_run += ids.len() as u64;
        let tokens = crate::llama::token_tensor(ids, &self.device);
        let out = self.model.forward(
            tokens,
            &mut self.cache,
            ForwardOptions {
                last_only: true,
                ..Default::default()
            },
        );
        out.logits
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 logits")
    }

    /// Generate after `prompt`, calling `on_token` with each new token; it returns false to stop.
    /// The part of `prompt` the cache already holds (from the previous call) is not read again.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        options: &GenerateOptions,
        mut on_token: impl FnMut(u32) -> bool,
    ) -> Result<(Vec<u32>, StopReason)> {
        if prompt.is_empty() {
            return Err(ModelError::Invalid("the prompt is empty".into()));
        }
        if prompt.len() >= self.context_length {
            return Err(ModelError::ContextExceeded {
                prompt: prompt.len(),
                requested: options.max_tokens,
                context: self.context_length,
            });
        }
        // At least the last prompt token runs, for the logits of the first new one.
        let reuse = common_prefix(&self.cached, prompt).min(prompt.len() - 1);
        self.cache.truncate(reuse);
        self.cached.truncate(reuse);
        let mut generation = Generation::new(prompt, options, self.context_length);
        let mut logits = self.feed(&prompt[reuse..]);
        loop {
            match generation.next(Scores::Logits(&mut logits), &mut on_token) {
                Ok(token) => logits = self.feed(&[token]),
                Err(reason) => return Ok((generation.into_tokens(), reason)),
            }
        }
    }
}
