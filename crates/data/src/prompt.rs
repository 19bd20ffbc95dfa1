//! Training examples as token ids: a prompt (Alpaca template, or the model's own chat
//! template) and a response, tokenised, with labels on the response only.
//!
//! The prompt and the response are tokenised separately and concatenated. Tokenising the
//! joined string instead can merge tokens across the boundary, and then "the first
//! len(prompt) tokens" is not exactly the prompt; separately, the prompt tokens are exactly the
//! ones the model sees at inference, when it is given the prompt alone.

use serde::Serialize;
use tokenizers::Tokenizer;
use xlingo_formats::chat::{ChatMessage, ChatTemplate};

use crate::record::Example;

/// Stanford Alpaca's prompt for examples with an input (METHODS.md).
pub const ALPACA_WITH_INPUT: &str = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:";
/// …and without one.
pub const ALPACA_NO_INPUT: &str = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:";

/// The label of positions that take no loss (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// How an example becomes text.
#[derive(Debug, Clone, Copy)]
pub enum PromptStyle<'a> {
    /// The Alpaca template, for base models.
    Alpaca,
    /// The model's chat template: one user turn (instruction, then the input after a blank
    /// line), the answer as the assistant turn; an optional system message first.
    Chat {
        template: &'a ChatTemplate,
        system: Option<&'a str>,
    },
}

/// An example as prompt text and response text (the response is what takes the loss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub prompt: String,
    pub response: String,
}

/// Render one example. For a chat template the response is the text the template adds for
/// the assistant turn, its end-of-turn marker included, so the model learns to stop.
pub fn render(e: &Example, style: &PromptStyle<'_>) -> Result<Rendered, String> {
    match style {
        PromptStyle::Alpaca => Ok(Rendered {
            prompt: alpaca_prompt(e),
            response: e.output.clone(),
        }),
        PromptStyle::Chat { template, system } => render_chat(e, template, *system),
    }
}

fn alpaca_prompt(e: &Example) -> String {
    let t = if e.input.trim().is_empty() {
        ALPACA_NO_INPUT
    } else {
        ALPACA_WITH_INPUT
    };
    // Input first: an instruction that contains "{input}" must not be substituted into.
    t.replace("{input}", &e.input)
        .replace("{instruction}", &e.instruction)
}

fn render_chat(
    e: &Example,
    template: &ChatTemplate,
    system: Option<&str>,
) -> Result<Rendered, String> {
    let user = if e.input.trim().is_empty() {
        e.instruction.clone()
    } else {
        format!("{}\n\n{}", e.instruction, e.input)
    };
    let mut messages: Vec<ChatMessage> = system.map(ChatMessage::system).into_iter().collect();
    messages.push(ChatMessage::user(user));
    let prompt = template
        .render(&messages, true)
        .map_err(|e| e.to_string())?;
    messages.push(ChatMessage::assistant(e.output.clone()));
    let full = template
        .render(&messages, false)
        .map_err(|e| e.to_string())?;
    let response = full
        .strip_prefix(&prompt)
        .ok_or("the chat template renders the conversation with the answer differently from the prompt without it")?;
    Ok(Rendered {
        prompt,
        response: response.to_string(),
    })
}

/// What to do with an example longer than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the first `max_len` tokens (the end of the response is lost, its end-of-turn
    /// marker with it); an example whose prompt alone fills the cap is dropped.
    Truncate,
    /// Drop the example.
    Drop,
}

/// Tokenisation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenizeConfig {
    /// Cap on prompt + response tokens (the paper uses 512).
    pub max_len: usize,
    pub overflow: Overflow,
    /// Let the tokenizer add its special tokens (e.g. BOS) to the prompt. Off for chat
    /// templates, which write them themselves.
    pub add_special_tokens: bool,
    /// Appended to the response (Alpaca style: the model must learn to stop). `None` for chat
    /// templates, whose response already ends with the end-of-turn marker.
    pub eos_id: Option<u32>,
}

/// One tokenised example: `labels[i]` is `input_ids[i]` on response tokens and
/// [`IGNORE_INDEX`] on prompt tokens (the usual shift by one happens in the loss).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tokenized {
    pub input_ids: Vec<u32>,
    pub labels: Vec<i64>,
    pub prompt_len: usize,
}

impl Tokenized {
    /// True on the positions that take the loss.
    pub fn loss_mask(&self) -> Vec<bool> {
        self.labels.iter().map(|&l| l != IGNORE_INDEX).collect()
    }
}

/// What tokenisation kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenizeReport {
    pub kept: usize,
    /// Kept, but cut to `max_len`.
    pub truncated: usize,
    /// Dropped for length (with [`Overflow::Drop`], or a prompt that fills the cap).
    pub dropped_too_long: usize,
    /// Examples that could not be rendered or tokenised: (index, why).
    pub failed: Vec<(usize, String)>,
}

/// Render and tokenise examples, in order.
pub fn tokenize_examples(
    examples: &[Example],
    style: &PromptStyle<'_>,
    tokenizer: &Tokenizer,
    cfg: &TokenizeConfig,
) -> (Vec<Tokenized>, TokenizeReport) {
    let mut out = Vec::with_capacity(examples.len());
    let mut report = TokenizeReport::default();
    for (i, e) in examples.iter().enumerate() {
        let t = match render(e, style).and_then(|r| tokenize(&r, tokenizer, cfg)) {
            Ok(t) => t,
            Err(m) => {
                report.failed.push((i, m));
                continue;
            }
        };
        match cap(t, cfg) {
            Capped::Whole(t) => out.push(t),
            Capped::Cut(t) => {
                report.truncated += 1;
                out.push(t)
            }
            Capped::Dropped => report.dropped_too_long += 1,
        }
    }
    report.kept = out.len();
    (out, report)
}

/// A bare prompt (no response) as the model reads it: one user turn of the chat template,
/// ending where the assistant's answer would start, or, for a model without a template, the
/// text itself with the tokenizer's special tokens (what `xlingo lens` probes and trains on).
pub fn user_prompt_ids(
    text: &str,
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
) -> Result<Vec<u32>, String> {
    let (rendered, special) = match template {
        Some(template) => {
            let example = Example {
                instruction: text.to_string(),
                input: String::new(),
                output: String::new(),
                lang: String::new(),
                kind: crate::record::Kind::General,
            };
            let style = PromptStyle::Chat {
                template,
                system: None,
            };
            let r = render(&example, &style).map_err(|e| format!("chat template: {e}"))?;
            (r.prompt, false)
        }
        None => (text.to_string(), true),
    };
    Ok(tokenizer
        .encode(rendered.as_str(), special)
        .map_err(|e| format!("tokenizer: {e}"))?
        .get_ids()
        .to_vec())
}

/// Tokenise a rendered example (no length cap).
pub fn tokenize(
    r: &Rendered,
    tokenizer: &Tokenizer,
    cfg: &TokenizeConfig,
) -> Result<Tokenized, String> {
    let ids = |text: &str, special: bool| -> Result<Vec<u32>, String> {
        Ok(tokenizer
            .encode(text, special)
            .map_err(|e| e.to_string())?
            .get_ids()
            .to_vec())
    };
    let mut input_ids = ids(&r.prompt, cfg.add_special_tokens)?;
    let prompt_len = input_ids.len();
    let mut response = ids(&r.response, false)?;
    response.extend(cfg.eos_id);
    if response.is_empty() {
        return Err("the response has no tokens".into());
    }
    input_ids.extend(&response);
    let mut labels = vec![IGNORE_INDEX; prompt_len];
    labels.extend(response.iter().map(|&t| t as i64));
    Ok(Tokenized {
        input_ids,
        labels,
        prompt_len,
    })
}

enum Capped {
    Whole(Tokenized),
    Cut(Tokenized),
    Dropped,
}

fn cap(mut t: Tokenized, cfg: &TokenizeConfig) -> Capped {
    if t.input_ids.len() <= cfg.max_len {
        return Capped::Whole(t);
    }
    if cfg.overflow == Overflow::Drop || t.prompt_len >= cfg.max_len {
        return Capped::Dropped;
    }
    t.input_ids.truncate(cfg.max_len);
    t.labels.truncate(cfg.max_len);
    Capped::Cut(t)
}
