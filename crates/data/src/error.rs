//! Errors (a whole input is unusable) and issues (one record is bad, the rest is kept).
//!
//! Real corpora always contain a few broken records; stopping at the first would make them
//! unusable, and silently dropping them would hide data loss. So readers return the good
//! records together with an [`Issue`] per bad one, and keep [`DataError`] for inputs that
//! cannot be read at all (not JSON, wrong magic number, misaligned files).

use std::fmt;

use serde::Serialize;

/// An input that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: line {line}, column {column}: invalid JSON: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Format { file: String, message: String },
    #[error(
        "{file_a} has {lines_a} lines but {file_b} has {lines_b}: line-aligned files must have the same number of lines"
    )]
    LineCountMismatch {
        file_a: String,
        lines_a: usize,
        file_b: String,
        lines_b: usize,
    },
    #[error("{what}: {message}")]
    Config { what: String, message: String },
}

impl DataError {
    pub(crate) fn format(file: &str, message: impl Into<String>) -> Self {
        DataError::Format {
            file: file.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn json(file: &str, e: &serde_json::Error) -> Self {
        DataError::Json {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }
    }

    pub(crate) fn config(what: &str, message: impl Into<String>) -> Self {
        DataError::Config {
            what: what.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;

/// Where in its input a bad record is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// 1-based line number.
    Line(usize),
    /// Byte offset from the start of the file.
    Byte(u64),
    /// 1-based position in a JSON array (serde_json gives no line for array elements).
    Record(usize),
    /// A named place: a Bible reference, a UDHR article, a catalog entry.
    Key(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Byte(n) => write!(f, "byte {n}"),
            Location::Record(n) => write!(f, "record {n}"),
            Location::Key(k) => write!(f, "{k}"),
        }
    }
}

/// One malformed or rejected record: which file, where, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub file: String,
    pub at: Location,
    pub message: String,
}

impl Issue {
    pub fn new(file: &str, at: Location, message: impl Into<String>) -> Self {
        Issue {
            file: file.to_string(),
            at,
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.at, self.message)
    }
}

/// What a reader returns: the records it could read and an issue for each one it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    pub records: Vec<T>,
    pub issues: Vec<Issue>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            records: Vec::new(),
            issues: Vec::new(),
        }
    }
}

impl<T> Parsed<T> {
    pub(crate) fn push(&mut self, r: std::result::Result<T, Issue>) {
        match r {
            Ok(t) => self.records.push(t),
            Err(i) => self.issues.push(i),
        }
    }
}
