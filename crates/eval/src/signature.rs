//! sacreBLEU's reproducibility signature, e.g.
//! `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1`.
//!
//! A score without the settings that produced it cannot be compared with another; sacreBLEU
//! prints this string beside every score, and reporting the same string lets readers check
//! that our numbers were computed the same way as published ones.

use std::fmt;

/// The sacreBLEU version whose behaviour this crate reproduces (and writes in signatures).
pub const SACREBLEU_VERSION: &str = "2.5.1";

/// An ordered list of `name:value` fields; `version` is always last, as in sacreBLEU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// (long name, sacreBLEU's short name, value), in print order, without `version`.
    fields: Vec<(&'static str, &'static str, String)>,
}

impl Signature {
    /// Starts a signature with `nrefs` (sacreBLEU's first field); `None` means a variable number
    /// of references per segment (`nrefs:var`).
    pub(crate) fn new(nrefs: Option<usize>) -> Self {
        let nrefs = nrefs.map_or_else(|| "var".to_owned(), |n| n.to_string());
        Signature {
            fields: vec![("nrefs", "#", nrefs)],
        }
    }

    /// Appends a field.
    pub(crate) fn with(mut self, long: &'static str, short: &'static str, value: String) -> Self {
        self.fields.push((long, short, value));
        self
    }

    /// The value of a field by its long name (e.g. `"tok"`), or `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        if name == "version" {
            return Some(SACREBLEU_VERSION);
        }
        self.fields
            .iter()
            .find(|(long, _, _)| *long == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// The long form (what `Display` prints and sacreBLEU's CLI prints by default).
    pub fn long(&self) -> String {
        self.render(false)
    }

    /// sacreBLEU's short form (`--short`), e.g. `#:1|c:mixed|e:no|tok:13a|s:exp|v:2.5.1`.
    pub fn short(&self) -> String {
        self.render(true)
    }

    fn render(&self, short: bool) -> String {
        let version = if short { "v" } else { "version" };
        self.fields
            .iter()
            .map(|(long, abbr, value)| format!("{}:{value}", if short { abbr } else { long }))
            .chain(std::iter::once(format!("{version}:{SACREBLEU_VERSION}")))
            .collect::<Vec<_>>()
            .join("|")
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.long())
    }
}

/// `yes`/`no`, as sacreBLEU writes booleans.
pub(crate) fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// `lc`/`mixed`, sacreBLEU's `case` field.
pub(crate) fn case(lowercase: bool) -> String {
    if lowercase { "lc" } else { "mixed" }.to_owned()
}

/// Whether every segment has the same number of references (`Some(n)`) or not (`None`).
pub(crate) fn count_refs(per_segment: impl IntoIterator<Item = usize>) -> Option<usize> {
    let mut counts = per_segment.into_iter();
    let first = counts.next()?;
    counts.all(|n| n == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_last_in_both_forms() {
        let s = Signature::new(Some(2)).with("case", "c", "lc".into());
        assert_eq!(s.long(), "nrefs:2|case:lc|version:2.5.1");
        assert_eq!(s.short(), "#:2|c:lc|v:2.5.1");
        assert_eq!(s.get("case"), Some("lc"));
        assert_eq!(Signature::new(None).long(), "nrefs:var|version:2.5.1");
    }

    #[test]
    fn variable_reference_counts() {
        assert_eq!(count_refs([2, 2, 2]), Some(2));
        assert_eq!(count_refs([2, 1]), None);
    }
}
