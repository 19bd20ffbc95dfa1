//! Data of our own making that ships inside xlingo (see assets/README.md).

/// 240 parallel user instructions in English, Spanish and Simplified Chinese, one JSON object
/// per line (`{"id", "en", "es", "zh"}`); p001–p200 for probing and Lens training, p201–p240
/// held out for evaluation.
pub const LENS_PROMPTS: &str = include_str!("../assets/lens-prompts.jsonl");

/// The languages of [`LENS_PROMPTS`].
pub const LENS_PROMPT_LANGS: [&str; 3] = ["en", "es", "zh"];

/// Prompts of [`LENS_PROMPTS`] kept for training (the rest are held out).
pub const LENS_TRAIN_PROMPTS: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_prompts_are_parallel_and_complete() {
        let lines: Vec<serde_json::Value> = LENS_PROMPTS
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 240);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["id"], format!("p{:03}", i + 1));
            for lang in LENS_PROMPT_LANGS {
                assert!(
                    !line[lang].as_str().unwrap().trim().is_empty(),
                    "{i} {lang}"
                );
            }
        }
    }
}
