//! Data for cross-lingual instruction tuning (x-LLaMA / m-LLaMA, see METHODS.md part a).
//!
//! * Readers that return their records together with a report of every malformed one
//!   ([`Parsed`], [`Issue`]) instead of failing or silently dropping: Alpaca JSON/JSONL,
//!   parallel TSV/JSONL/Flores/Moses text, the UDHR in HTML ([`udhr`]), SWORD Bible modules
//!   ([`sword`]) and gettext catalogs ([`gettext`]).
//! * [`coit`]: translation instructions from 33 templates mixed with general instructions
//!   (one language); [`muit`]: a mixture across languages by per-language budgets.
//! * [`prompt`]: rendering with the Alpaca or the model's chat template, tokenisation,
//!   response-only labels and a length cap; [`split`]: seeded shuffles and splits that never
//!   share a source sentence.
//!
//! Everything parses bytes or strings, so it runs in the browser (wasm32) too; the thin
//! file-system wrappers are in [`fs`], natively only.

pub mod alpaca;
pub mod bundled;
pub mod coit;
pub mod error;
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub mod fs;
pub mod gettext;
pub mod muit;
pub mod osis;
pub mod parallel;
pub mod prompt;
pub mod record;
mod rng;
pub mod split;
pub mod sword;
pub mod text;
pub mod udhr;
pub mod versification;

pub use error::{DataError, Issue, Location, Parsed, Result};
pub use record::{Example, Instruction, Kind, Pair};
