//! gettext `.mo` catalogs as English → translation pairs (UI strings of GTK, GLib, iso-codes).
//!
//! Layout (GNU gettext manual, "The Format of GNU MO Files"): magic 0x950412de in the file's
//! byte order, revision, number of strings N, offset of the original-strings table, offset of
//! the translations table; each table has N (length u32, offset u32) entries pointing at
//! NUL-terminated strings. A msgid may carry a context (`ctxt\x04msgid`) and a plural form
//! (`singular\0plural`, with the translations' forms `\0`-separated).
//!
//! What is kept: entries without plural forms. Entries with plural forms are skipped (and
//! counted): which translation goes with the English singular depends on the catalog's
//! `Plural-Forms` rule (Arabic's first form is for zero, not one), and the rule is a C
//! expression this reader does not evaluate. The header entry (empty msgid), untranslated
//! entries and pairs whose placeholders differ (`%s`, `%d`, `%1$s`,
//! `{name}`, …, a sign of a bad or differently-formatted translation that would teach the
//! model to drop or invent them) are reported instead.

use serde::Serialize;

use crate::error::{DataError, Issue, Location, Parsed, Result};
use crate::record::Pair;

const MAGIC: u32 = 0x9504_12de;

/// One catalog entry kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoEntry {
    /// The msgctxt, if any (e.g. "Stock label").
    pub context: Option<String>,
    pub msgid: String,
    pub msgstr: String,
}

impl MoEntry {
    pub fn to_pair(&self) -> Pair {
        let id = match &self.context {
            Some(c) => format!("{c}\u{4}{}", self.msgid),
            None => self.msgid.clone(),
        };
        Pair::new(id, self.msgid.clone(), self.msgstr.clone())
    }
}

/// Counts of entries that were not kept for a known, benign reason (not issues).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MoSkipped {
    pub header: usize,
    pub untranslated: usize,
    pub plural: usize,
    /// Entries with no words, only formats and punctuation ("%H:%M", "%s: %s").
    pub no_text: usize,
}

/// A parsed catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoCatalog {
    pub entries: Parsed<MoEntry>,
    pub skipped: MoSkipped,
    /// Whether the file was big-endian.
    pub big_endian: bool,
}

struct Reader<'a> {
    file: &'a str,
    bytes: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn u32(&self, at: usize) -> Result<u32> {
        let b = self.bytes.get(at..at + 4).ok_or_else(|| {
            DataError::format(self.file, format!("truncated: no 4 bytes at offset {at}"))
        })?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// The string of table entry `i` at `table`, or why it cannot be read.
    fn string(&self, table: usize, i: usize) -> std::result::Result<&[u8], (u64, String)> {
        let at = table + 8 * i;
        let len = self.u32(at).map_err(|e| (at as u64, e.to_string()))? as usize;
        let off = self.u32(at + 4).map_err(|e| (at as u64, e.to_string()))? as usize;
        self.bytes.get(off..off.saturating_add(len)).ok_or_else(|| {
            (
                at as u64,
                format!(
                    "string at {off}..{} is past the end ({} bytes)",
                    off.saturating_add(len),
                    self.bytes.len()
                ),
            )
        })
    }
}

/// Parse a `.mo` file in either byte order. A bad magic number or header is an error; a bad
/// entry is an issue at the byte offset of its table entry.
pub fn parse_mo(file: &str, bytes: &[u8]) -> Result<MoCatalog> {
    let mut r = Reader {
        file,
        bytes,
        big_endian: false,
    };
    if r.u32(0)? != MAGIC {
        r.big_endian = true;
        if r.u32(0)? != MAGIC {
            return Err(DataError::format(
                file,
                "not a gettext .mo file (bad magic number)",
            ));
        }
    }
    let major = r.u32(4)? >> 16;
    if major > 1 {
        return Err(DataError::format(
            file,
            format!("unsupported .mo major revision {major}"),
        ));
    }
    let (n, orig, trans) = (r.u32(8)? as usize, r.u32(12)? as usize, r.u32(16)? as usize);
    let mut cat = MoCatalog {
        big_endian: r.big_endian,
        ..Default::default()
    };
    for i in 0..n {
        let entry = r
            .string(orig, i)
            .and_then(|o| r.string(trans, i).map(|t| (o, t)));
        match entry {
            Ok((o, t)) => classify(file, (orig + 8 * i) as u64, o, t, &mut cat),
            Err((at, m)) => cat
                .entries
                .issues
                .push(Issue::new(file, Location::Byte(at), m)),
        }
    }
    Ok(cat)
}

fn classify(file: &str, at: u64, orig: &[u8], trans: &[u8], cat: &mut MoCatalog) {
    let issue = |m: String| Issue::new(file, Location::Byte(at), m);
    let (Ok(orig), Ok(trans)) = (std::str::from_utf8(orig), std::str::from_utf8(trans)) else {
        cat.entries.issues.push(issue("not UTF-8".into()));
        return;
    };
    if orig.is_empty() {
        cat.skipped.header += 1;
        return;
    }
    let (context, msgid) = match orig.split_once('\u{4}') {
        Some((c, m)) => (Some(c.to_string()), m),
        None => (None, orig),
    };
    if msgid.contains('\0') {
        cat.skipped.plural += 1;
        return;
    }
    let msgstr = trans;
    if msgstr.is_empty() {
        cat.skipped.untranslated += 1;
        return;
    }
    if !has_words(msgid) {
        cat.skipped.no_text += 1;
        return;
    }
    let (a, b) = (placeholders(msgid), placeholders(msgstr));
    if unpositioned(&a) != unpositioned(&b) {
        cat.entries.issues.push(issue(format!(
            "placeholders differ: {msgid:?} has {a:?}, {msgstr:?} has {b:?}"
        )));
        return;
    }
    cat.entries.records.push(MoEntry {
        context,
        msgid: msgid.to_string(),
        msgstr: msgstr.to_string(),
    });
}

/// Whether any letter is left once `%` conversions (printf and strftime, `%-d`, `%H`) are
/// removed: "%H:%M" teaches no translation.
fn has_words(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            // Skip flags, digits and the conversion letter.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() || d == '%' {
                    break;
                }
            }
        } else if c.is_alphabetic() {
            return true;
        }
    }
    false
}

/// Placeholders without their argument positions, sorted: "%2$s … %1$d" is a reordering of
/// "%d … %s", which translations need (Japanese puts arguments in another order).
fn unpositioned(p: &[String]) -> Vec<String> {
    let mut out: Vec<String> = p
        .iter()
        .map(|s| match (s.strip_prefix('%'), s.find('$')) {
            (Some(_), Some(d)) => format!("%{}", &s[d + 1..]),
            _ => s.clone(),
        })
        .collect();
    out.sort();
    out
}

/// The placeholders of a string, sorted (translations may reorder positional ones): printf
/// conversions (`%s`, `%d`, `%1$s`, `%-10.3f`, `%lu`, `%'d`, `%Id`; `%%` is a literal) and
/// brace fields (`{name}`, `{0}`, `{}`).
pub fn placeholders(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let len = match b[i] {
            b'%' => printf_len(&b[i..]),
            b'{' => brace_len(&b[i..]),
            _ => None,
        };
        match len {
            Some(n) => {
                if &b[i..i + n] != b"%%" {
                    out.push(s[i..i + n].to_string());
                }
                i += n;
            }
            None => i += 1,
        }
    }
    out.sort();
    out
}

/// Length of a printf conversion at the start of `b` (which starts with `%`).
fn printf_len(b: &[u8]) -> Option<usize> {
    if b.get(1) == Some(&b'%') {
        return Some(2);
    }
    let mut i = 1;
    let digits = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
    };
    // Argument position: %1$s.
    let start = i;
    digits(&mut i);
    if !(i > start && b.get(i) == Some(&b'$')) {
        i = start;
    } else {
        i += 1;
    }
    // No space flag: "50% off" is text, not a conversion.
    while b.get(i).is_some_and(|c| b"-+#0'I".contains(c)) {
        i += 1;
    }
    digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i);
    }
    while b.get(i).is_some_and(|c| b"hlLqjzt".contains(c)) {
        i += 1;
    }
    b.get(i)
        .filter(|c| b"diouxXeEfFgGaAcspn".contains(c))
        .map(|_| i + 1)
}

/// Length of a `{name}` / `{0}` / `{}` field at the start of `b`.
fn brace_len(b: &[u8]) -> Option<usize> {
    let end = b.iter().position(|&c| c == b'}')?;
    let inner = &b[1..end];
    inner
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .then_some(end + 1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Write a .mo file from (msgid, msgstr) pairs, in either byte order.
    pub(crate) fn write_mo(entries: &[(&str, &str)], big_endian: bool) -> Vec<u8> {
        let mut sorted = entries.to_vec();
        sorted.sort();
        let n = sorted.len();
        let u = |x: usize| {
            if big_endian {
                (x as u32).to_be_bytes()
            } else {
                (x as u32).to_le_bytes()
            }
        };
        let (orig_at, trans_at) = (28, 28 + 8 * n);
        let mut strings = Vec::new();
        let mut tables = (Vec::new(), Vec::new());
        let data_at = 28 + 16 * n;
        for (k, v) in &sorted {
            for (s, table) in [(k, &mut tables.0), (v, &mut tables.1)] {
                table.extend(u(s.len()));
                table.extend(u(data_at + strings.len()));
                strings.extend(s.as_bytes());
                strings.push(0);
            }
        }
        let mut out = Vec::new();
        for x in [MAGIC as usize, 0, n, orig_at, trans_at, 0, 0] {
            out.extend(u(x));
        }
        out.extend(tables.0);
        out.extend(tables.1);
        out.extend(strings);
        out
    }

    #[test]
    fn placeholder_grammar() {
        assert_eq!(placeholders("%s of %d (100%%)"), vec!["%d", "%s"]);
        assert_eq!(placeholders("%2$s y %1$s"), vec!["%1$s", "%2$s"]);
        assert_eq!(
            placeholders("%-10.3f %lu %'d %Id {name} {0} {} {not a field}"),
            vec!["%'d", "%-10.3f", "%Id", "%lu", "{0}", "{name}", "{}"]
        );
        assert_eq!(placeholders("50% off, 100%"), Vec::<String>::new());
    }

    #[test]
    fn reads_both_byte_orders_and_filters_entries() {
        let entries = [
            ("", "Content-Type: text/plain; charset=UTF-8\n"),
            ("Open %s", "Abrir %s"),
            ("Copy %d files", "Copiar archivos"),
            ("%1$s of %2$s", "%2$s de %1$s"),
            ("menu\u{4}Quit", "Salir"),
            ("One file\0%d files", "Un archivo\0%d archivos"),
            ("%s in %d", "%2$d en %1$s"),
            ("%H:%M", "%H:%M"),
            ("%-d %B", "%-d de %B"),
            ("Untranslated", ""),
            ("Save {name}", "Guardar {nombre}"),
        ];
        for be in [false, true] {
            let cat = parse_mo("es.mo", &write_mo(&entries, be)).unwrap();
            assert_eq!(cat.big_endian, be);
            let kept: Vec<_> = cat
                .entries
                .records
                .iter()
                .map(|e| (e.msgid.as_str(), e.msgstr.as_str()))
                .collect();
            assert_eq!(
                kept,
                vec![
                    ("%1$s of %2$s", "%2$s de %1$s"),
                    ("%s in %d", "%2$d en %1$s"),
                    ("Open %s", "Abrir %s"),
                    ("Quit", "Salir")
                ]
            );
            assert_eq!(cat.entries.records[3].context.as_deref(), Some("menu"));
            assert_eq!(cat.entries.records[3].to_pair().id, "menu\u{4}Quit");
            assert_eq!(
                cat.skipped,
                MoSkipped {
                    header: 1,
                    untranslated: 1,
                    plural: 1,
                    no_text: 2
                }
            );
            let msgs: Vec<_> = cat
                .entries
                .issues
                .iter()
                .map(|i| i.message.as_str())
                .collect();
            assert_eq!(msgs.len(), 2);
            assert!(
                msgs[0].starts_with("placeholders differ: \"Copy %d files\" has [\"%d\"]"),
                "{}",
                msgs[0]
            );
            assert!(msgs[1].contains("{nombre}"));
        }
    }

    #[test]
    fn bad_files_and_entries() {
        assert!(
            parse_mo("x.mo", b"\x00\x01\x02\x03 not a catalog")
                .unwrap_err()
                .to_string()
                .contains("bad magic")
        );
        assert!(
            parse_mo("x.mo", &[0xde, 0x12])
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        let mut mo = write_mo(&[("a", "b"), ("c", "d")], false);
        // Point entry 2's translation past the end of the file.
        let at = 28 + 16 + 8 + 4;
        mo[at..at + 4].copy_from_slice(&9999u32.to_le_bytes());
        let cat = parse_mo("x.mo", &mo).unwrap();
        assert_eq!(cat.entries.records.len(), 1);
        assert_eq!(cat.entries.issues[0].at, Location::Byte(28 + 16 + 8));
        assert!(cat.entries.issues[0].message.contains("past the end"));
    }
}
