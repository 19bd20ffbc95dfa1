//! Parallel text in the plain formats people download: two-column TSV, JSON Lines with
//! configurable keys, and line-aligned file pairs (Flores: one file per language; Moses:
//! `corpus.en` / `corpus.es`).

use serde_json::Value;

use crate::alpaca::json_kind;
use crate::error::{DataError, Issue, Location, Parsed, Result};
use crate::record::Pair;
use crate::text::numbered_lines;

/// Two tab-separated columns per line: source, target. Blank lines are skipped; a line with
/// another number of columns or an empty side is an issue.
pub fn parse_tsv(file: &str, text: &str) -> Parsed<Pair> {
    let mut out = Parsed::default();
    for (n, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            tsv_line(line)
                .map_err(|m| Issue::new(file, Location::Line(n), m))
                .map(|(s, t)| Pair::new(format!("line {n}"), s, t)),
        );
    }
    out
}

fn tsv_line(line: &str) -> std::result::Result<(String, String), String> {
    let cols: Vec<&str> = line.split('\t').collect();
    if cols.len() != 2 {
        return Err(format!(
            "expected 2 tab-separated columns, found {}",
            cols.len()
        ));
    }
    non_empty_pair(cols[0], cols[1])
}

fn non_empty_pair(source: &str, target: &str) -> std::result::Result<(String, String), String> {
    match (source.trim(), target.trim()) {
        ("", _) => Err("empty source".into()),
        (_, "") => Err("empty target".into()),
        (s, t) => Ok((s.to_string(), t.to_string())),
    }
}

/// Which fields of a JSON Lines record hold the two sides. A key may be a dotted path into
/// nested objects, as in Hugging Face translation sets: `translation.en`, `translation.es`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlKeys {
    pub source: String,
    pub target: String,
}

impl JsonlKeys {
    pub fn new(source: &str, target: &str) -> Self {
        JsonlKeys {
            source: source.to_string(),
            target: target.to_string(),
        }
    }
}

/// One JSON object per line with the two sides under `keys`.
pub fn parse_parallel_jsonl(file: &str, text: &str, keys: &JsonlKeys) -> Parsed<Pair> {
    let mut out = Parsed::default();
    for (n, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("invalid JSON at column {}: {e}", e.column()))
            .and_then(|v| {
                let s = field_at(&v, &keys.source)?;
                let t = field_at(&v, &keys.target)?;
                non_empty_pair(s, t)
            });
        out.push(
            r.map(|(s, t)| Pair::new(format!("line {n}"), s, t))
                .map_err(|m| Issue::new(file, Location::Line(n), m)),
        );
    }
    out
}

fn field_at<'a>(v: &'a Value, path: &str) -> std::result::Result<&'a str, String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(o) => o
                .get(part)
                .ok_or_else(|| format!("missing field `{path}`"))?,
            other => {
                return Err(format!(
                    "`{path}`: expected an object, found {}",
                    json_kind(other)
                ));
            }
        };
    }
    match cur {
        Value::String(s) => Ok(s),
        other => Err(format!(
            "field `{path}` is {}, not a string",
            json_kind(other)
        )),
    }
}

/// Two files aligned line by line (Flores, Moses). Different line counts mean the files do
/// not belong together, so that is an error naming both; a line that is blank on either side
/// is an issue (reported against the file where it is blank) and the pair is skipped.
pub fn parse_line_aligned(
    source_file: &str,
    source: &str,
    target_file: &str,
    target: &str,
) -> Result<Parsed<Pair>> {
    let src: Vec<(usize, &str)> = numbered_lines(source).collect();
    let tgt: Vec<(usize, &str)> = numbered_lines(target).collect();
    if src.len() != tgt.len() {
        return Err(DataError::LineCountMismatch {
            file_a: source_file.to_string(),
            lines_a: src.len(),
            file_b: target_file.to_string(),
            lines_b: tgt.len(),
        });
    }
    let mut out = Parsed::default();
    for ((n, s), (_, t)) in src.into_iter().zip(tgt) {
        let r = match (s.trim(), t.trim()) {
            ("", _) => Err(Issue::new(source_file, Location::Line(n), "empty line")),
            (_, "") => Err(Issue::new(target_file, Location::Line(n), "empty line")),
            (s, t) => Ok(Pair::new(format!("line {n}"), s, t)),
        };
        out.push(r);
    }
    Ok(out)
}

/// Where Flores keeps a language's sentences: `<dir>/<split>/<code>.<split>`, e.g.
/// `flores200_dataset/devtest/spa_Latn.devtest` (Flores-101 uses codes like `spa`).
pub fn flores_file(dir: &str, split: &str, code: &str) -> String {
    format!("{dir}/{split}/{code}.{split}")
}

/// The two files of a Moses-style corpus: `<prefix>.<lang>`, e.g. `corpus.en`, `corpus.es`.
pub fn moses_files(prefix: &str, source_lang: &str, target_lang: &str) -> (String, String) {
    (
        format!("{prefix}.{source_lang}"),
        format!("{prefix}.{target_lang}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_keeps_two_column_lines_only() {
        let text = "\u{feff}Hello\tHola\r\n\r\nOne\tUno\tExtra\nNo tab\n\tvacío\nCat\tGato";
        let p = parse_tsv("p.tsv", text);
        let got: Vec<_> = p
            .records
            .iter()
            .map(|r| (r.id.as_str(), r.source.as_str(), r.target.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("line 1", "Hello", "Hola"), ("line 6", "Cat", "Gato")]
        );
        let issues: Vec<_> = p.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            issues,
            vec![
                "p.tsv: line 3: expected 2 tab-separated columns, found 3",
                "p.tsv: line 4: expected 2 tab-separated columns, found 1",
                "p.tsv: line 5: empty source",
            ]
        );
    }

    #[test]
    fn jsonl_with_nested_keys() {
        let text = r#"{"translation": {"en": "Yes", "es": "Sí"}}
{"translation": {"en": "No"}}
{"translation": "flat"}
{"translation": {"en": "Two", "es": 2}}
not json"#;
        let p = parse_parallel_jsonl(
            "t.jsonl",
            text,
            &JsonlKeys::new("translation.en", "translation.es"),
        );
        assert_eq!(p.records, vec![Pair::new("line 1", "Yes", "Sí")]);
        let msgs: Vec<_> = p
            .issues
            .iter()
            .map(|i| (i.at.clone(), i.message.clone()))
            .collect();
        assert_eq!(
            msgs[0],
            (Location::Line(2), "missing field `translation.es`".into())
        );
        assert_eq!(
            msgs[1].1,
            "`translation.en`: expected an object, found a string"
        );
        assert_eq!(
            msgs[2].1,
            "field `translation.es` is a number, not a string"
        );
        assert!(msgs[3].1.starts_with("invalid JSON"));
    }

    #[test]
    fn line_aligned_files_must_have_equal_line_counts() {
        let err =
            parse_line_aligned("eng.devtest", "a\nb\nc\n", "spa.devtest", "x\ny\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "eng.devtest has 3 lines but spa.devtest has 2: line-aligned files must have the same number of lines"
        );
    }

    #[test]
    fn line_aligned_skips_blank_sides_and_handles_crlf() {
        let p = parse_line_aligned(
            "corpus.en",
            "\u{feff}one\r\n\r\nthree\r\nfour\n",
            "corpus.es",
            "uno\ndos\n\ncuatro",
        )
        .unwrap();
        assert_eq!(
            p.records,
            vec![
                Pair::new("line 1", "one", "uno"),
                Pair::new("line 4", "four", "cuatro")
            ]
        );
        assert_eq!(p.issues[0].to_string(), "corpus.en: line 2: empty line");
        assert_eq!(p.issues[1].to_string(), "corpus.es: line 3: empty line");
    }

    #[test]
    fn file_naming() {
        assert_eq!(
            flores_file("flores", "devtest", "spa_Latn"),
            "flores/devtest/spa_Latn.devtest"
        );
        assert_eq!(
            moses_files("corpus", "en", "es"),
            ("corpus.en".to_string(), "corpus.es".to_string())
        );
    }
}
