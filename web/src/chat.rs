//! A chat turn: the conversation rendered with the model's own chat template, fitted into the
//! context, and generated with the engine while tokens stream to the page.

use std::cell::Cell;
use std::rc::Rc;

use tokenizers::Tokenizer;
use xlingo_formats::chat::{ChatMessage, ChatTemplate};
use xlingo_formats::tokenizer::StreamDecoder;
use xlingo_gpu::{Engine, GenerateOptions, SamplingParams, StopReason};

/// A message in the conversation as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// Generated token ids (assistant turns).
    pub tokens: Vec<u32>,
    pub stats: Option<TurnStats>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// Speed of one reply.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnStats {
    pub prompt_tokens: usize,
    pub generated: usize,
    pub ttft_ms: f64,
    /// Tokens per second after the first token (0 with fewer than two tokens).
    pub decode_tps: f64,
    pub stop: String,
}

/// Generation settings, as the settings panel edits them.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub max_tokens: usize,
    pub seed: u64,
    /// KV-cache positions the engine is created with (capped by the model's context).
    pub context: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let s = SamplingParams::default();
        Settings {
            temperature: 0.2,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: 1.1,
            max_tokens: 256,
            seed: 0,
            context: 2048,
        }
    }
}

impl Settings {
    pub fn options(&self, stop_ids: &[u32], seed_offset: u64) -> GenerateOptions {
        GenerateOptions {
            max_tokens: self.max_tokens,
            stop_ids: stop_ids.to_vec(),
            sampling: SamplingParams {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                repeat_penalty: self.repeat_penalty,
                seed: self.seed.wrapping_add(seed_offset),
                ..SamplingParams::default()
            },
        }
    }
}

/// The prompt for the next reply and how many of the oldest turns had to be left out.
#[derive(Debug)]
pub struct Prompt {
    pub ids: Vec<u32>,
    pub dropped_turns: usize,
}

/// Render `system` + `turns` with the model's template (a plain "User:/Assistant:" layout
/// when it has none) and tokenise. When the prompt plus `reserve` new tokens do not fit
/// `context`, the oldest turns are dropped (the system prompt and the last turn stay).
pub fn build_prompt(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    system: &str,
    turns: &[Turn],
    context: usize,
    reserve: usize,
) -> Result<Prompt, String> {
    let mut first = 0;
    loop {
        let ids = encode(tokenizer, template, system, &turns[first..])?;
        let fits = ids.len() + reserve.min(context / 2) < context;
        if fits || first + 1 >= turns.len() {
            if ids.len() >= context {
                return Err(format!(
                    "the message is {} tokens; the context holds {context} (raise it in Settings, then reload the model)",
                    ids.len()
                ));
            }
            return Ok(Prompt {
                ids,
                dropped_turns: first,
            });
        }
        first += 1;
    }
}

fn encode(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    system: &str,
    turns: &[Turn],
) -> Result<Vec<u32>, String> {
    let mut messages = Vec::new();
    if !system.trim().is_empty() {
        messages.push(ChatMessage::system(system));
    }
    for t in turns {
        messages.push(ChatMessage::new(t.role.name(), t.text.clone()));
    }
    let (text, add_special) = match template {
        // Chat templates write their own BOS.
        Some(t) => (
            t.render(&messages, true)
                .map_err(|e| format!("chat template: {e}"))?,
            false,
        ),
        None => {
            let mut text = String::new();
            for m in &messages {
                text.push_str(&format!("{}: {}\n", capitalise(&m.role), m.content));
            }
            text.push_str("Assistant:");
            (text, true)
        }
    };
    let encoding = tokenizer
        .encode(text.as_str(), add_special)
        .map_err(|e| format!("tokenizer: {e}"))?;
    Ok(encoding.get_ids().to_vec())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What a finished reply hands back: the engine (moved into the task and back) and the result.
pub struct Finished {
    pub engine: Box<Engine>,
    /// Text the stream decoder still held (an incomplete UTF-8 tail), to append.
    pub tail: String,
    pub result: Result<(usize, StopReason), String>,
}

/// Generate a reply, calling `on_token(text, id)` for each token. `cancel` stops it at the
/// next token. Between tokens the task waits for the GPU, so the page stays responsive.
pub async fn reply(
    mut engine: Box<Engine>,
    tokenizer: Rc<Tokenizer>,
    prompt: Vec<u32>,
    options: GenerateOptions,
    cancel: Rc<Cell<bool>>,
    mut on_token: impl FnMut(String, u32),
) -> Finished {
    let mut decoder = StreamDecoder::new(&tokenizer, true);
    let result = engine
        .generate(&prompt, &options, |token| {
            on_token(decoder.push(token).unwrap_or_default(), token);
            !cancel.get()
        })
        .await
        .map(|(tokens, reason)| (tokens.len(), reason))
        .map_err(|e| e.to_string());
    Finished {
        engine,
        tail: decoder.flush(),
        result,
    }
}

pub fn describe_stop(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens => "max tokens",
        StopReason::StopToken(_) => "end of turn",
        StopReason::Context => "context full",
        StopReason::Callback => "stopped",
    }
}
