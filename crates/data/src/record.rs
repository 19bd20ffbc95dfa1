//! The records everything else passes around.

use serde::{Deserialize, Serialize};

/// One Alpaca-style instruction: `input` is empty when the task needs no extra context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruction {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub output: String,
}

/// A sentence (or verse, article, UI string) and its translation. `id` says where it came
/// from ("Gen.1.1", "article 3", "line 12"), so problems can be traced back to the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub id: String,
    pub source: String,
    pub target: String,
}

impl Pair {
    pub fn new(
        id: impl Into<String>,
        source: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Pair {
            id: id.into(),
            source: source.into(),
            target: target.into(),
        }
    }
}

/// What a training example teaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A parallel pair turned into a translation instruction.
    Translation,
    /// A general instruction (Alpaca) in English or in the target language.
    General,
}

/// A training example, as the CoIT and MuIT builders produce it. `lang` is the language the
/// example is for: the target language of a translation, the language of a general task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub output: String,
    pub lang: String,
    pub kind: Kind,
}

impl Example {
    /// The text splits de-duplicate on: the input when there is one (the source sentence of a
    /// translation), else the instruction.
    pub fn source_text(&self) -> &str {
        if self.input.trim().is_empty() {
            &self.instruction
        } else {
            &self.input
        }
    }
}
