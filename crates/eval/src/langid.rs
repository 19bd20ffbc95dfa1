//! Off-target rate: the share of outputs that are not in the language that was asked for.
//! English-centric models asked to answer in language X often answer in English; Lens reports
//! this rate, and it is cheap to watch during x-LLaMA training.
//!
//! Language identification uses `whatlang` rather than `lingua`:
//! - whatlang is pure Rust, has no dependencies that matter, and adds well under 1 MB to a
//!   wasm binary (trigram tables for 70 languages, ~600 KB of source), so the web app can use
//!   the same code as the CLI;
//! - lingua is more accurate on short texts, but its language models are tens of MB (per
//!   language crates, loaded into memory at run time), too heavy for a browser tab next to an
//!   LLM, and it is slower.
//!
//! whatlang covers every language of x-LLaMA (ar, el, hi, tr, vi, zh) and Lens. Its weakness is
//! very short text, hence the minimum length below which an output counts as off-target
//! ("too short to tell"), as the brief for this metric asks; an empty output is off-target too.

use std::fmt;

use whatlang::Lang;

use crate::error::LangIdError;

/// ISO 639-1 code of each language whatlang detects.
///
/// A hand-written table rather than a lookup crate (`isolang`): whatlang names some languages by
/// an individual-language code (`cmn` Mandarin, `pes` Iranian Persian) whose ISO 639-1 code
/// belongs to the macrolanguage (`zh`, `fa`); general tables return nothing for those. The
/// `match` is exhaustive, so a new whatlang language fails to compile until it is mapped.
fn iso_639_1(lang: Lang) -> &'static str {
    match lang {
        Lang::Epo => "eo",
        Lang::Eng => "en",
        Lang::Rus => "ru",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Ben => "bn",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ukr => "uk",
        Lang::Kat => "ka",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Jpn => "ja",
        Lang::Heb => "he",
        Lang::Yid => "yi",
        Lang::Pol => "pl",
        Lang::Amh => "am",
        Lang::Jav => "jv",
        Lang::Kor => "ko",
        Lang::Nob => "nb",
        Lang::Dan => "da",
        Lang::Swe => "sv",
        Lang::Fin => "fi",
        Lang::Tur => "tr",
        Lang::Nld => "nl",
        Lang::Hun => "hu",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Bul => "bg",
        Lang::Bel => "be",
        Lang::Mar => "mr",
        Lang::Kan => "kn",
        Lang::Ron => "ro",
        Lang::Slv => "sl",
        Lang::Hrv => "hr",
        Lang::Srp => "sr",
        Lang::Mkd => "mk",
        Lang::Lit => "lt",
        Lang::Lav => "lv",
        Lang::Est => "et",
        Lang::Tam => "ta",
        Lang::Vie => "vi",
        Lang::Urd => "ur",
        Lang::Tha => "th",
        Lang::Guj => "gu",
        Lang::Uzb => "uz",
        Lang::Pan => "pa",
        Lang::Aze => "az",
        Lang::Ind => "id",
        Lang::Tel => "te",
        Lang::Pes => "fa",
        Lang::Mal => "ml",
        Lang::Ori => "or",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Sin => "si",
        Lang::Khm => "km",
        Lang::Tuk => "tk",
        Lang::Aka => "ak",
        Lang::Zul => "zu",
        Lang::Sna => "sn",
        Lang::Afr => "af",
        Lang::Lat => "la",
        Lang::Slk => "sk",
        Lang::Cat => "ca",
        Lang::Tgl => "tl",
        Lang::Hye => "hy",
        Lang::Cym => "cy",
    }
}

/// Whether `code` is an ISO 639-1 code the detector can return.
pub fn is_supported(code: &str) -> bool {
    Lang::all().iter().any(|&l| iso_639_1(l) == code)
}

/// Settings of [`off_target_rate_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffTargetOptions {
    /// Outputs with fewer letters (alphabetic characters, so CJK characters count one each)
    /// are off-target as too short to identify.
    pub min_letters: usize,
    /// Also count detections whatlang itself calls unreliable as off-target.
    pub unreliable_is_off_target: bool,
}

impl Default for OffTargetOptions {
    /// At least 4 letters; below that trigram statistics say nothing for alphabetic scripts.
    /// Unreliable detections count by their best guess.
    fn default() -> Self {
        OffTargetOptions {
            min_letters: 4,
            unreliable_is_off_target: false,
        }
    }
}

/// Why an output counts as off-target.
#[derive(Debug, Clone, PartialEq)]
pub enum OffTargetReason {
    /// Nothing but whitespace.
    Empty,
    /// Fewer letters than [`OffTargetOptions::min_letters`].
    TooShort { letters: usize, min_letters: usize },
    /// The detector could not name a language (e.g. only digits and symbols).
    Undetected,
    /// Detected as the expected language, but not reliably (only with
    /// [`OffTargetOptions::unreliable_is_off_target`]).
    Unreliable,
    /// Detected as another language (ISO 639-1).
    OtherLanguage(&'static str),
}

impl fmt::Display for OffTargetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffTargetReason::Empty => f.write_str("empty output"),
            OffTargetReason::TooShort {
                letters,
                min_letters,
            } => write!(
                f,
                "too short to identify ({letters} letters, need {min_letters})"
            ),
            OffTargetReason::Undetected => f.write_str("no language detected"),
            OffTargetReason::Unreliable => f.write_str("detection unreliable"),
            OffTargetReason::OtherLanguage(code) => write!(f, "detected as {code}"),
        }
    }
}

/// What was found for one output.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemLanguage {
    /// The detected language (ISO 639-1), if detection ran and found one.
    pub detected: Option<&'static str>,
    /// whatlang's confidence in 0..=1 (0 when not detected).
    pub confidence: f64,
    /// whatlang's own reliability verdict.
    pub reliable: bool,
    /// `None` when the output is on target.
    pub off_target: Option<OffTargetReason>,
}

/// The rate and the per-output findings.
#[derive(Debug, Clone, PartialEq)]
pub struct OffTargetReport {
    /// Share of off-target outputs, in 0..=1.
    pub rate: f64,
    pub items: Vec<ItemLanguage>,
}

/// Identifies the language of one text (ISO 639-1) with its confidence, or `None`.
pub fn detect(text: &str) -> Option<(&'static str, f64, bool)> {
    whatlang::detect(text).map(|info| {
        (
            iso_639_1(info.lang()),
            info.confidence(),
            info.is_reliable(),
        )
    })
}

/// Judges one output against the expected language.
fn judge(output: &str, expected: &str, options: OffTargetOptions) -> ItemLanguage {
    let undetected = |reason| ItemLanguage {
        detected: None,
        confidence: 0.0,
        reliable: false,
        off_target: Some(reason),
    };
    if output.trim().is_empty() {
        return undetected(OffTargetReason::Empty);
    }
    let letters = output.chars().filter(|c| c.is_alphabetic()).count();
    if letters < options.min_letters {
        return undetected(OffTargetReason::TooShort {
            letters,
            min_letters: options.min_letters,
        });
    }
    let Some((lang, confidence, reliable)) = detect(output) else {
        return undetected(OffTargetReason::Undetected);
    };
    let off_target = if lang != expected {
        Some(OffTargetReason::OtherLanguage(lang))
    } else if options.unreliable_is_off_target && !reliable {
        Some(OffTargetReason::Unreliable)
    } else {
        None
    };
    ItemLanguage {
        detected: Some(lang),
        confidence,
        reliable,
        off_target,
    }
}

/// Off-target rate of `outputs` for the expected language (ISO 639-1, e.g. `"zh"`), with the
/// default options.
pub fn off_target_rate<S: AsRef<str>>(
    outputs: &[S],
    expected_lang: &str,
) -> Result<OffTargetReport, LangIdError> {
    off_target_rate_with(outputs, expected_lang, OffTargetOptions::default())
}

/// Off-target rate with explicit options. Fails for an empty list or a language code the
/// detector cannot return (every output would be off-target).
pub fn off_target_rate_with<S: AsRef<str>>(
    outputs: &[S],
    expected_lang: &str,
    options: OffTargetOptions,
) -> Result<OffTargetReport, LangIdError> {
    if !is_supported(expected_lang) {
        return Err(LangIdError::UnsupportedLanguage(expected_lang.to_owned()));
    }
    if outputs.is_empty() {
        return Err(LangIdError::NoOutputs);
    }
    let items: Vec<ItemLanguage> = outputs
        .iter()
        .map(|o| judge(o.as_ref(), expected_lang, options))
        .collect();
    let off = items.iter().filter(|i| i.off_target.is_some()).count();
    Ok(OffTargetReport {
        rate: off as f64 / items.len() as f64,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (language, a real sentence in it).
    const SENTENCES: [(&str, &str); 12] = [
        (
            "en",
            "The committee will publish its final report on the economy next week.",
        ),
        (
            "de",
            "Die Regierung hat gestern neue Maßnahmen gegen die steigenden Preise beschlossen.",
        ),
        (
            "fr",
            "Le gouvernement a annoncé hier de nouvelles mesures pour soutenir les agriculteurs.",
        ),
        (
            "es",
            "¿Sabes dónde está la estación de tren más cercana? Necesito llegar al centro.",
        ),
        (
            "ru",
            "Вчера в Москве прошла встреча министров иностранных дел нескольких стран.",
        ),
        (
            "ar",
            "أعلنت الحكومة أمس عن خطة جديدة لتحسين التعليم في المدارس الحكومية.",
        ),
        (
            "hi",
            "सरकार ने कल किसानों की मदद के लिए एक नई योजना की घोषणा की।",
        ),
        (
            "zh",
            "政府昨天宣布了一项帮助农民的新计划，将于明年开始实施。",
        ),
        (
            "ja",
            "政府は昨日、農家を支援するための新しい計画を発表しました。",
        ),
        (
            "el",
            "Η κυβέρνηση ανακοίνωσε χθες νέα μέτρα για τη στήριξη των αγροτών.",
        ),
        (
            "tr",
            "Hükümet dün çiftçilere yardım etmek için yeni bir plan açıkladı.",
        ),
        (
            "vi",
            "Chính phủ hôm qua đã công bố một kế hoạch mới để hỗ trợ nông dân.",
        ),
    ];

    #[test]
    fn detects_real_sentences() {
        for (lang, sentence) in SENTENCES {
            let detected = detect(sentence).map(|(l, _, _)| l);
            assert_eq!(detected, Some(lang), "{sentence}");
        }
    }

    #[test]
    fn every_whatlang_language_has_a_two_letter_code() {
        for &lang in Lang::all() {
            let code = iso_639_1(lang);
            assert_eq!(code.len(), 2, "{lang:?}");
            assert!(code.chars().all(|c| c.is_ascii_lowercase()), "{lang:?}");
        }
        assert!(is_supported("zh") && is_supported("el") && !is_supported("cmn"));
    }

    #[test]
    fn rate_and_reasons() {
        let outputs = [
            SENTENCES[1].1, // German: on target
            SENTENCES[0].1, // English: off target
            "   ",
            "Ja.",
            "12345 678",
            "Das Wetter ist heute sehr schön und die Sonne scheint den ganzen Tag.",
        ];
        let report = off_target_rate(&outputs, "de").expect("valid input");
        let reasons: Vec<Option<OffTargetReason>> =
            report.items.iter().map(|i| i.off_target.clone()).collect();
        assert_eq!(
            reasons,
            [
                None,
                Some(OffTargetReason::OtherLanguage("en")),
                Some(OffTargetReason::Empty),
                Some(OffTargetReason::TooShort {
                    letters: 2,
                    min_letters: 4
                }),
                Some(OffTargetReason::TooShort {
                    letters: 0,
                    min_letters: 4
                }),
                None,
            ]
        );
        assert!((report.rate - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(report.items[1].detected, Some("en"));
        assert_eq!(
            reasons[3].as_ref().map(ToString::to_string).as_deref(),
            Some("too short to identify (2 letters, need 4)")
        );
    }

    #[test]
    fn chinese_expected_but_english_answer() {
        let outputs = [SENTENCES[7].1, SENTENCES[0].1, SENTENCES[8].1];
        let report = off_target_rate(&outputs, "zh").expect("valid input");
        let detected: Vec<_> = report.items.iter().map(|i| i.detected).collect();
        assert_eq!(detected, [Some("zh"), Some("en"), Some("ja")]);
        assert!((report.rate - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(
            off_target_rate(&["x"], "xx").err(),
            Some(LangIdError::UnsupportedLanguage("xx".into()))
        );
        assert_eq!(
            off_target_rate::<&str>(&[], "en").err(),
            Some(LangIdError::NoOutputs)
        );
    }

    #[test]
    fn unreliable_can_count_as_off_target() {
        let options = OffTargetOptions {
            min_letters: 1,
            unreliable_is_off_target: true,
        };
        let report = off_target_rate_with(&["Hallo Welt"], "de", options).expect("valid input");
        let item = &report.items[0];
        // Whatever the guess, a two-word text is not a reliable detection.
        assert!(!item.reliable);
        assert!(item.off_target.is_some());
    }
}
