//! Parallel passages in several languages for `analyze` and `lens`: the UDHR (fetched by
//! scripts/fetch-data.sh), line-aligned files, or JSONL with one object per passage keyed by
//! language (`{"en": "…", "es": "…", "zh": "…"}`, the layout of Lens's data).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::assets::data_dir;

/// `texts[l][i]` is passage i in language l.
pub struct Corpus {
    pub languages: Vec<String>,
    pub names: Vec<String>,
    pub texts: Vec<Vec<String>>,
}

impl Corpus {
    /// Keep passages `keep` (indices), in that order.
    pub fn select(&self, keep: &[usize]) -> Corpus {
        Corpus {
            languages: self.languages.clone(),
            names: keep.iter().map(|&i| self.names[i].clone()).collect(),
            texts: self
                .texts
                .iter()
                .map(|t| keep.iter().map(|&i| t[i].clone()).collect())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }
}

pub fn parse_lang_file(s: &str) -> std::result::Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((lang, path)) if !lang.is_empty() && !path.is_empty() => {
            Ok((lang.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected LANG=FILE, got `{s}`")),
    }
}

/// UDHR passages in every language, aligned by article and, where all agree, by paragraph.
pub fn udhr_corpus(langs: &[String]) -> Result<Corpus> {
    let dir = data_dir().join("udhr/package/declaration");
    if !dir.exists() {
        bail!(
            "{} not found: run scripts/fetch-data.sh first (it fetches the UDHR)",
            dir.display()
        );
    }
    let mut declarations = Vec::new();
    for lang in langs {
        let code = xlingo_data::udhr::udhr_file_code(lang);
        let path = dir.join(format!("{code}.html"));
        let html = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "language `{lang}`: reading {} (codes are ISO 639-1 or the udhr file names in {})",
                path.display(),
                dir.display()
            )
        })?;
        let (declaration, _) =
            xlingo_data::udhr::parse_udhr_html(&path.display().to_string(), &html)?;
        declarations.push(declaration);
    }
    let aligned =
        xlingo_data::udhr::align_udhr_many(&declarations, xlingo_data::udhr::UdhrLevel::Paragraph);
    Ok(Corpus {
        languages: langs.to_vec(),
        names: aligned.iter().map(|p| p.name.clone()).collect(),
        texts: (0..langs.len())
            .map(|l| aligned.iter().map(|p| p.texts[l].clone()).collect())
            .collect(),
    })
}

/// Line-aligned files, one per language (Flores style).
pub fn file_corpus(files: &[(String, PathBuf)]) -> Result<Corpus> {
    let mut texts = Vec::new();
    for (lang, path) in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("language `{lang}`: reading {}", path.display()))?;
        texts.push(text.lines().map(str::to_string).collect::<Vec<_>>());
    }
    let n = texts.first().map_or(0, Vec::len);
    for ((lang, path), lines) in files.iter().zip(&texts) {
        if lines.len() != n {
            bail!(
                "{} ({lang}) has {} lines but {} has {n}: parallel files must align line by line",
                path.display(),
                lines.len(),
                files[0].1.display()
            );
        }
    }
    Ok(Corpus {
        languages: files.iter().map(|(l, _)| l.clone()).collect(),
        names: (1..=n).map(|i| format!("line {i}")).collect(),
        texts,
    })
}

/// JSONL objects keyed by language; every line must have every language in `langs`.
pub fn jsonl_corpus(path: &std::path::Path, langs: &[String]) -> Result<Corpus> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    jsonl_text_corpus(&text, &path.display().to_string(), langs)
}

/// Where prompts come from: a JSONL file, `udhr`, or (None) xlingo's bundled en/es/zh
/// prompts when they cover `langs`, else the UDHR.
pub fn prompt_corpus(source: Option<&str>, langs: &[String]) -> Result<Corpus> {
    use xlingo_data::bundled::{LENS_PROMPT_LANGS, LENS_PROMPTS};
    match source {
        Some("udhr") => udhr_corpus(langs),
        Some(path) => jsonl_corpus(std::path::Path::new(path), langs),
        None if langs
            .iter()
            .all(|l| LENS_PROMPT_LANGS.contains(&l.as_str())) =>
        {
            jsonl_text_corpus(LENS_PROMPTS, "the bundled lens-prompts.jsonl", langs)
        }
        None => {
            eprintln!(
                "[xlingo] the bundled prompts cover {} only; using UDHR paragraphs for {}",
                LENS_PROMPT_LANGS.join(", "),
                langs.join(", ")
            );
            udhr_corpus(langs)
        }
    }
}

fn jsonl_text_corpus(text: &str, origin: &str, langs: &[String]) -> Result<Corpus> {
    let mut texts = vec![Vec::new(); langs.len()];
    let mut names = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{origin}:{}: not a JSON object", n + 1))?;
        for (l, lang) in langs.iter().enumerate() {
            let Some(s) = value.get(lang).and_then(|v| v.as_str()) else {
                bail!(
                    "{origin}:{}: no string field `{lang}` (each line needs every language: {})",
                    n + 1,
                    langs.join(", ")
                );
            };
            texts[l].push(s.to_string());
        }
        let id = value.get("id").and_then(|v| v.as_str());
        names.push(id.map_or_else(|| format!("line {}", n + 1), str::to_string));
    }
    Ok(Corpus {
        languages: langs.to_vec(),
        names,
        texts,
    })
}

/// The first `wanted` passages (after skipping `skip`) whose token count, as `count` gives it,
/// is between 1 and `max_tokens` in every language. Passages are never truncated: a cut
/// passage is no longer a translation of the others.
pub fn fitting(
    corpus: &Corpus,
    skip: usize,
    wanted: usize,
    max_tokens: usize,
    mut count: impl FnMut(&str) -> Result<usize>,
) -> Result<Corpus> {
    let mut keep = Vec::new();
    for i in skip..corpus.len() {
        if keep.len() == wanted {
            break;
        }
        let mut fits = true;
        for texts in &corpus.texts {
            let n = count(&texts[i])?;
            fits &= n > 0 && n <= max_tokens && !texts[i].trim().is_empty();
        }
        if fits {
            keep.push(i);
        }
    }
    if keep.len() < 2 {
        bail!(
            "only {} passage(s) fit in {max_tokens} tokens in every language; raise --max-tokens",
            keep.len()
        );
    }
    if keep.len() < wanted {
        eprintln!(
            "[xlingo] only {} of the {wanted} passages asked for fit in {max_tokens} tokens in every language",
            keep.len()
        );
    }
    Ok(corpus.select(&keep))
}
