//! Alpaca-style instruction data: a JSON array of `{instruction, input, output}` objects (the
//! original release, LLaMA-Factory's `alpaca_*_demo.json`) or the same objects one per line
//! (JSONL). `input` may be missing or empty; `instruction` and `output` must be non-empty text.

use serde_json::{Map, Value};

use crate::error::{DataError, Issue, Location, Parsed, Result};
use crate::record::Instruction;
use crate::text::{numbered_lines, strip_bom};

/// Read a JSON array of instructions. Bad elements become issues (`record N`, 1-based);
/// text that is not a JSON array at all is an error.
pub fn parse_alpaca_json(file: &str, text: &str) -> Result<Parsed<Instruction>> {
    let value: Value =
        serde_json::from_str(strip_bom(text)).map_err(|e| DataError::json(file, &e))?;
    let Value::Array(items) = value else {
        return Err(DataError::format(file, "expected a JSON array of objects"));
    };
    let mut out = Parsed::default();
    for (i, item) in items.iter().enumerate() {
        out.push(
            instruction_from_value(item).map_err(|m| Issue::new(file, Location::Record(i + 1), m)),
        );
    }
    Ok(out)
}

/// Read JSON Lines, one instruction object per line; empty lines are skipped. Never fails as
/// a whole: every bad line is an issue with its line number.
pub fn parse_alpaca_jsonl(file: &str, text: &str) -> Parsed<Instruction> {
    let mut out = Parsed::default();
    for (n, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("invalid JSON at column {}: {e}", e.column()))
            .and_then(|v| instruction_from_value(&v));
        out.push(r.map_err(|m| Issue::new(file, Location::Line(n), m)));
    }
    out
}

pub(crate) fn instruction_from_value(v: &Value) -> std::result::Result<Instruction, String> {
    let Value::Object(obj) = v else {
        return Err(format!("expected an object, found {}", json_kind(v)));
    };
    let instruction = text_field(obj, "instruction", true)?;
    let input = text_field(obj, "input", false)?;
    let output = text_field(obj, "output", true)?;
    Ok(Instruction {
        instruction,
        input,
        output,
    })
}

/// A string field. `required` fields must be present and not blank; optional ones may be
/// missing or null (then empty).
pub(crate) fn text_field(
    obj: &Map<String, Value>,
    key: &str,
    required: bool,
) -> std::result::Result<String, String> {
    match obj.get(key) {
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(format!("field `{key}` is empty"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None => Err(format!("missing field `{key}`")),
        Some(other) => Err(format!(
            "field `{key}` is {}, not a string",
            json_kind(other)
        )),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_array_keeps_good_records_and_reports_bad_ones() {
        let text = "\u{feff}[
 {\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"},
 {\"instruction\": \"Add\", \"input\": \"2+2\", \"output\": \"4\"},
 {\"instruction\": \"No input field\", \"output\": \"ok\"},
 {\"instruction\": \"\", \"output\": \"x\"},
 {\"instruction\": \"Number\", \"output\": 4},
 {\"input\": \"missing instruction\", \"output\": \"x\"},
 [1, 2]
]";
        let p = parse_alpaca_json("a.json", text).unwrap();
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.records[1].input, "2+2");
        assert_eq!(p.records[2].input, "");
        let where_: Vec<_> = p.issues.iter().map(|i| i.at.clone()).collect();
        assert_eq!(
            where_,
            vec![
                Location::Record(4),
                Location::Record(5),
                Location::Record(6),
                Location::Record(7)
            ]
        );
        assert!(p.issues[0].message.contains("`instruction` is empty"));
        assert!(p.issues[1].message.contains("`output` is a number"));
        assert!(p.issues[2].message.contains("missing field `instruction`"));
        assert_eq!(
            p.issues[3].to_string(),
            "a.json: record 7: expected an object, found an array"
        );
    }

    #[test]
    fn json_that_is_not_an_array_is_an_error_with_its_position() {
        let err = parse_alpaca_json("a.json", "{\"instruction\": 1}").unwrap_err();
        assert!(err.to_string().contains("expected a JSON array"), "{err}");
        let err = parse_alpaca_json("a.json", "[\n{\"instruction\": \"x\",\n oops}]").unwrap_err();
        assert!(matches!(err, DataError::Json { line: 3, .. }), "{err}");
    }

    #[test]
    fn jsonl_reports_line_numbers_and_skips_blank_lines() {
        let text = "{\"instruction\":\"a\",\"output\":\"b\"}\r\n\r\n{broken\n{\"instruction\":\"c\",\"input\":null,\"output\":\"d\"}\n[]\n";
        let p = parse_alpaca_jsonl("a.jsonl", text);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[1].instruction, "c");
        assert_eq!(p.issues.len(), 2);
        assert_eq!(p.issues[0].at, Location::Line(3));
        assert!(p.issues[0].message.starts_with("invalid JSON"));
        assert_eq!(p.issues[1].at, Location::Line(5));
    }
}
