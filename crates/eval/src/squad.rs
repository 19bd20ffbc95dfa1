//! Reading SQuAD-format JSON (SQuAD v1.1, XQuAD, MLQA) and SQuAD-style prediction files.
//!
//! These files are large and hand-edited copies circulate; a malformed one must fail with the
//! file name and the place in the document (`data[3].paragraphs[0].qas[2].id`), never a panic,
//! so the user can fix it. `serde_path_to_error` tracks that path during deserialisation.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ReadError;

/// One gold answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Answer {
    pub text: String,
    /// Character offset of the answer in the context, when the file gives it.
    #[serde(default)]
    pub answer_start: Option<i64>,
}

/// One question with its context and gold answers, flattened out of the article/paragraph
/// nesting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaExample {
    pub id: String,
    pub context: String,
    pub question: String,
    pub answers: Vec<Answer>,
}

#[derive(Deserialize)]
struct Dataset {
    data: Vec<Article>,
}

#[derive(Deserialize)]
struct Article {
    paragraphs: Vec<Paragraph>,
}

#[derive(Deserialize)]
struct Paragraph {
    context: String,
    qas: Vec<Question>,
}

#[derive(Deserialize)]
struct Question {
    id: String,
    question: String,
    answers: Vec<Answer>,
}

/// Deserialises a whole JSON document, reporting where it failed.
fn parse_json<T: DeserializeOwned>(text: &str, source_name: &str) -> Result<T, ReadError> {
    let json_error = |json_path: String, message: String| ReadError::Json {
        source_name: source_name.to_owned(),
        json_path,
        message,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(e.path().to_string(), e.inner().to_string()))?;
    de.end()
        .map_err(|e| json_error(".".to_owned(), e.to_string()))?;
    Ok(value)
}

/// Reads a whole file as UTF-8 text.
fn read_text(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Parses SQuAD-format JSON text (`{"data": [{"paragraphs": [{"context", "qas": [...]}]}]}`)
/// into examples in file order. `source_name` (usually the file name) is used in errors.
pub fn parse_squad(text: &str, source_name: &str) -> Result<Vec<QaExample>, ReadError> {
    let dataset: Dataset = parse_json(text, source_name)?;
    let mut examples = Vec::new();
    for paragraph in dataset.data.into_iter().flat_map(|a| a.paragraphs) {
        for qa in paragraph.qas {
            examples.push(QaExample {
                id: qa.id,
                context: paragraph.context.clone(),
                question: qa.question,
                answers: qa.answers,
            });
        }
    }
    Ok(examples)
}

/// Reads a SQuAD-format file (SQuAD v1.1, XQuAD, MLQA).
pub fn read_squad(path: &Path) -> Result<Vec<QaExample>, ReadError> {
    parse_squad(&read_text(path)?, &path.display().to_string())
}

/// Parses a SQuAD-style predictions object `{"question id": "answer", ...}`.
pub fn parse_predictions(
    text: &str,
    source_name: &str,
) -> Result<HashMap<String, String>, ReadError> {
    parse_json(text, source_name)
}

/// Reads a SQuAD-style predictions file.
pub fn read_predictions(path: &Path) -> Result<HashMap<String, String>, ReadError> {
    parse_predictions(&read_text(path)?, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"version": "1.1", "data": [
        {"title": "T", "paragraphs": [
            {"context": "Paris is in France.", "qas": [
                {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
                {"id": "q2", "question": "What is in France?", "answers": [{"text": "Paris"}, {"text": "Paris", "answer_start": 0}]}
            ]}
        ]},
        {"title": "U", "paragraphs": [{"context": "北京", "qas": [{"id": "q3", "question": "？", "answers": []}]}]}
    ]}"#;

    #[test]
    fn flattens_in_file_order() {
        let ex = parse_squad(GOOD, "good.json").expect("valid file");
        let ids: Vec<&str> = ex.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["q1", "q2", "q3"]);
        assert_eq!(ex[0].context, "Paris is in France.");
        assert_eq!(ex[0].answers[0].answer_start, Some(12));
        assert_eq!(ex[1].answers[0].answer_start, None);
        assert_eq!(ex[2].context, "北京");
    }

    fn error_of(text: &str) -> (String, String) {
        match parse_squad(text, "bad.json") {
            Err(ReadError::Json {
                source_name,
                json_path,
                message,
            }) => {
                assert_eq!(source_name, "bad.json");
                (json_path, message)
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_json_path() {
        let wrong_type = GOOD.replace(r#""id": "q3""#, r#""id": 3"#);
        let (path, message) = error_of(&wrong_type);
        assert_eq!(path, "data[1].paragraphs[0].qas[0].id");
        assert!(message.contains("invalid type"), "{message}");

        let missing = GOOD.replace(r#""question": "Where is Paris?", "#, "");
        let (path, message) = error_of(&missing);
        assert_eq!(path, "data[0].paragraphs[0].qas[0]");
        assert!(message.contains("missing field `question`"), "{message}");

        let (path, _) = error_of("{\"data\": [ {\"paragraphs\": 5} ]}");
        assert_eq!(path, "data[0].paragraphs");
    }

    #[test]
    fn truncated_and_trailing_input_are_errors() {
        let (_, message) = error_of(&GOOD[..GOOD.len() / 2]);
        assert!(message.contains("EOF"), "{message}");
        let (path, message) = error_of(&format!("{GOOD} x"));
        assert_eq!(path, ".");
        assert!(message.contains("trailing"), "{message}");
    }

    #[test]
    fn missing_file_names_it() {
        let err = read_squad(Path::new("/nonexistent/xquad.ar.json")).expect_err("no such file");
        assert!(
            err.to_string().contains("/nonexistent/xquad.ar.json"),
            "{err}"
        );
    }

    #[test]
    fn predictions() {
        let p =
            parse_predictions(r#"{"q1": "France", "q2": "Paris"}"#, "pred.json").expect("valid");
        assert_eq!(p.get("q1").map(String::as_str), Some("France"));
        assert!(parse_predictions(r#"{"q1": 7}"#, "pred.json").is_err());
    }
}
