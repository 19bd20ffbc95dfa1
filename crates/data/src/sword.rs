//! SWORD "zText" Bible modules (Debian's `sword-text-*` packages), read from their bytes.
//!
//! Per testament (`ot`, `nt`) a module has three little-endian files:
//! * `.bzs`: one 12-byte record per zlib block in `.bzz` (offset u32, compressed size u32,
//!   uncompressed size u32);
//! * `.bzv`: one 10-byte record per slot of the versification (block index u32, offset u32
//!   within the uncompressed block, size u16); size 0 means "no text";
//! * `.bzz`: the zlib blocks, each holding the OSIS markup of many verses.
//!
//! Slots map to references through the module's versification ([`Versification`]); the text
//! is OSIS, turned into plain text by [`strip_osis`]. Two modules are joined by reference.

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;

use crate::error::{DataError, Issue, Location, Result};
use crate::osis::strip_osis;
use crate::record::Pair;
use crate::versification::{Testament, VerseRef, Versification};

/// The keys of a module's `mods.d/<name>.conf` that reading it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleConf {
    /// The section name, e.g. `engWEB2015eb`.
    pub name: String,
    /// `DataPath`, relative to the SWORD root (`./modules/texts/ztext/engWEB2015eb/`).
    pub data_path: String,
    /// `ModDrv`: only `zText` is read here.
    pub driver: String,
    /// `Versification`; empty means KJV.
    pub versification: String,
    pub lang: String,
    pub encoding: String,
    pub source_type: String,
}

/// Parse a `.conf` file: `[Name]` then `Key=Value` lines; `#` starts a comment.
pub fn parse_conf(file: &str, text: &str) -> Result<ModuleConf> {
    let mut c = ModuleConf::default();
    for (_, line) in crate::text::numbered_lines(text) {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            c.name = name.to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "DataPath" => c.data_path = v,
            "ModDrv" => c.driver = v,
            "Versification" => c.versification = v,
            "Lang" => c.lang = v,
            "Encoding" => c.encoding = v,
            "SourceType" => c.source_type = v,
            _ => {}
        }
    }
    if c.name.is_empty() || c.data_path.is_empty() {
        return Err(DataError::format(
            file,
            "not a SWORD module .conf: no [name] or no DataPath",
        ));
    }
    Ok(c)
}

/// One verse of plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verse {
    pub reference: VerseRef,
    pub text: String,
}

/// The text of one testament of a module, with counts of what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestamentText {
    pub verses: Vec<Verse>,
    /// Verse slots with no text (size 0, or nothing left after stripping markup).
    pub empty: usize,
    pub issues: Vec<Issue>,
}

/// The three files of one testament.
#[derive(Debug, Clone, Copy)]
pub struct ZTextFiles<'a> {
    pub bzs: &'a [u8],
    pub bzv: &'a [u8],
    pub bzz: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[derive(Debug, Clone, Copy)]
struct Block {
    offset: u32,
    compressed: u32,
    uncompressed: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    block: u32,
    offset: u32,
    size: u16,
}

fn records<'a>(
    file: &str,
    bytes: &'a [u8],
    width: usize,
) -> Result<impl Iterator<Item = &'a [u8]>> {
    if !bytes.len().is_multiple_of(width) {
        return Err(DataError::format(
            file,
            format!(
                "{} bytes is not a whole number of {width}-byte records",
                bytes.len()
            ),
        ));
    }
    Ok(bytes.chunks_exact(width))
}

/// Read one testament. `module` names the files in reports (`engWEB2015eb/ot`). An index
/// whose slot count differs from the versification's is an error (wrong versification);
/// a slot pointing outside its block, a broken block or invalid UTF-8 is an issue.
pub fn read_testament(
    module: &str,
    t: Testament,
    files: ZTextFiles<'_>,
    v: &Versification,
) -> Result<TestamentText> {
    let bzs = format!("{module}/{}.bzs", t.stem());
    let bzv = format!("{module}/{}.bzv", t.stem());
    let blocks: Vec<Block> = records(&bzs, files.bzs, 12)?
        .map(|r| Block {
            offset: u32_at(r, 0),
            compressed: u32_at(r, 4),
            uncompressed: u32_at(r, 8),
        })
        .collect();
    let slots: Vec<Slot> = records(&bzv, files.bzv, 10)?
        .map(|r| Slot {
            block: u32_at(r, 0),
            offset: u32_at(r, 4),
            size: u16::from_le_bytes([r[8], r[9]]),
        })
        .collect();
    let refs = v.slots(t);
    if refs.len() != slots.len() {
        return Err(DataError::format(
            &bzv,
            format!(
                "{} slots, but the {} versification has {} in this testament: wrong versification?",
                slots.len(),
                v.name,
                refs.len()
            ),
        ));
    }
    let mut cache = BlockCache::new(module, t, files.bzz, blocks);
    let mut out = TestamentText::default();
    for (i, (slot, r)) in slots.iter().zip(refs).enumerate() {
        let Some(r) = r else { continue };
        let issue =
            |m: String| Issue::new(&bzv, Location::Byte(i as u64 * 10), format!("{r}: {m}"));
        match cache.slot_text(slot) {
            Ok(None) => out.empty += 1,
            Ok(Some(markup)) => match strip_osis(markup) {
                text if text.is_empty() => out.empty += 1,
                text => out.verses.push(Verse { reference: r, text }),
            },
            Err(m) => out.issues.push(issue(m)),
        }
    }
    Ok(out)
}

/// Decompresses each block once, when a slot first needs it.
struct BlockCache<'a> {
    name: String,
    bzz: &'a [u8],
    blocks: Vec<Block>,
    data: HashMap<u32, std::result::Result<Vec<u8>, String>>,
}

/// A limit on one block's decompressed size, so a corrupt size field cannot exhaust memory.
const MAX_BLOCK: u64 = 64 << 20;

impl<'a> BlockCache<'a> {
    fn new(module: &str, t: Testament, bzz: &'a [u8], blocks: Vec<Block>) -> Self {
        BlockCache {
            name: format!("{module}/{}.bzz", t.stem()),
            bzz,
            blocks,
            data: HashMap::new(),
        }
    }

    fn slot_text(&mut self, s: &Slot) -> std::result::Result<Option<&str>, String> {
        if s.size == 0 {
            return Ok(None);
        }
        let name = self.name.clone();
        let block = self.block(s.block)?;
        let (start, end) = (s.offset as usize, s.offset as usize + s.size as usize);
        let bytes = block.get(start..end).ok_or_else(|| {
            format!(
                "bytes {start}..{end} are outside block {} of {name} ({} bytes)",
                s.block,
                block.len()
            )
        })?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|e| format!("not UTF-8 at byte {} of the verse", e.valid_up_to()))
    }

    fn block(&mut self, i: u32) -> std::result::Result<&[u8], String> {
        let Some(b) = self.blocks.get(i as usize).copied() else {
            return Err(format!(
                "block {i} does not exist ({} blocks)",
                self.blocks.len()
            ));
        };
        let (bzz, name) = (self.bzz, &self.name);
        let entry = self
            .data
            .entry(i)
            .or_insert_with(|| inflate(bzz, b).map_err(|m| format!("block {i} of {name}: {m}")));
        entry.as_deref().map_err(|e| e.clone())
    }
}

fn inflate(bzz: &[u8], b: Block) -> std::result::Result<Vec<u8>, String> {
    let (start, end) = (b.offset as usize, b.offset as usize + b.compressed as usize);
    let compressed = bzz.get(start..end).ok_or_else(|| {
        format!(
            "bytes {start}..{end} are past the end ({} bytes)",
            bzz.len()
        )
    })?;
    let mut out = Vec::with_capacity((b.uncompressed as u64).min(MAX_BLOCK) as usize);
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_BLOCK)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    if out.len() != b.uncompressed as usize {
        return Err(format!(
            "inflated to {} bytes, the index says {}",
            out.len(),
            b.uncompressed
        ));
    }
    Ok(out)
}

/// The text of a whole module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleText {
    pub conf: ModuleConf,
    pub verses: Vec<Verse>,
    pub empty: usize,
    pub issues: Vec<Issue>,
}

/// Read a module from its `.conf` and the files of the testaments it has (a module may have
/// only one). Only zText modules with OSIS markup are read; the versification is the one the
/// `.conf` names.
pub fn read_module(
    conf: ModuleConf,
    ot: Option<ZTextFiles<'_>>,
    nt: Option<ZTextFiles<'_>>,
) -> Result<ModuleText> {
    let file = format!("{}.conf", conf.name);
    if !conf.driver.eq_ignore_ascii_case("ztext") {
        return Err(DataError::format(
            &file,
            format!("ModDrv={} is not read here (only zText)", conf.driver),
        ));
    }
    if !matches!(conf.source_type.as_str(), "" | "OSIS") {
        return Err(DataError::format(
            &file,
            format!(
                "SourceType={} is not read here (only OSIS)",
                conf.source_type
            ),
        ));
    }
    let v = Versification::by_name(&conf.versification).ok_or_else(|| {
        DataError::format(
            &file,
            format!(
                "unknown versification {:?} (known: KJV, NRSVA)",
                conf.versification
            ),
        )
    })?;
    let mut text = ModuleText {
        conf,
        verses: Vec::new(),
        empty: 0,
        issues: Vec::new(),
    };
    for (t, files) in [(Testament::Old, ot), (Testament::New, nt)] {
        let Some(files) = files else { continue };
        let part = read_testament(&text.conf.name, t, files, &v)?;
        text.verses.extend(part.verses);
        text.empty += part.empty;
        text.issues.extend(part.issues);
    }
    Ok(text)
}

/// Counts from joining two modules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JoinReport {
    pub pairs: usize,
    /// References with text in the source module only / the target module only.
    pub source_only: usize,
    pub target_only: usize,
}

/// Verse pairs with the same reference in both modules, in the source's order. Versifications
/// may differ (NRSVA vs KJV): the join is by book, chapter and verse number, so a verse that
/// exists in one system only is counted, not paired.
pub fn join_verses(source: &[Verse], target: &[Verse]) -> (Vec<Pair>, JoinReport) {
    let by_ref: HashMap<VerseRef, &str> = target
        .iter()
        .map(|v| (v.reference, v.text.as_str()))
        .collect();
    let mut pairs = Vec::new();
    for v in source {
        if let Some(t) = by_ref.get(&v.reference) {
            pairs.push(Pair::new(v.reference.to_string(), v.text.clone(), *t));
        }
    }
    let in_source: std::collections::HashSet<VerseRef> =
        source.iter().map(|v| v.reference).collect();
    let report = JoinReport {
        pairs: pairs.len(),
        source_only: source.len() - pairs.len(),
        target_only: target
            .iter()
            .filter(|v| !in_source.contains(&v.reference))
            .count(),
    };
    (pairs, report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    /// A module's three files for one testament, with the given text per slot (None: empty),
    /// `per_block` slots to a block.
    pub(crate) fn build(slots: &[Option<&str>], per_block: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut bzs, mut bzv, mut bzz) = (Vec::new(), Vec::new(), Vec::new());
        for (bi, chunk) in slots.chunks(per_block).enumerate() {
            let mut raw = Vec::new();
            for s in chunk {
                let text = s.unwrap_or("").as_bytes();
                bzv.extend((bi as u32).to_le_bytes());
                bzv.extend((raw.len() as u32).to_le_bytes());
                bzv.extend((text.len() as u16).to_le_bytes());
                raw.extend(text);
            }
            let z = zlib(&raw);
            bzs.extend((bzz.len() as u32).to_le_bytes());
            bzs.extend((z.len() as u32).to_le_bytes());
            bzs.extend((raw.len() as u32).to_le_bytes());
            bzz.extend(z);
        }
        (bzs, bzv, bzz)
    }

    fn nt_slots(
        v: &Versification,
        text: impl Fn(VerseRef) -> Option<String>,
    ) -> Vec<Option<String>> {
        v.slots(Testament::New)
            .into_iter()
            .map(|r| r.and_then(&text))
            .collect()
    }

    fn read(v: &Versification, slots: &[Option<String>], per_block: usize) -> TestamentText {
        let s: Vec<Option<&str>> = slots.iter().map(|s| s.as_deref()).collect();
        let (bzs, bzv, bzz) = build(&s, per_block);
        read_testament(
            "m",
            Testament::New,
            ZTextFiles {
                bzs: &bzs,
                bzv: &bzv,
                bzz: &bzz,
            },
            v,
        )
        .unwrap()
    }

    #[test]
    fn reads_verses_by_reference_across_blocks() {
        let v = Versification::kjv();
        let slots = nt_slots(&v, |r| {
            (r.book == "Jude" || r.book == "3John")
                .then(|| format!("<w>{r}</w><note>x</note><w>text</w>"))
        });
        let t = read(&v, &slots, 7);
        assert_eq!(t.verses.len(), 25 + 14);
        assert_eq!(t.verses[0].text, "3John.1.1 text");
        assert_eq!(t.verses[14].reference.to_string(), "Jude.1.1");
        assert_eq!(t.empty, 7_957 - 39);
        assert!(t.issues.is_empty());
    }

    #[test]
    fn wrong_versification_is_an_error() {
        let kjv = Versification::kjv();
        let slots = nt_slots(&kjv, |_| None);
        let s: Vec<Option<&str>> = slots.iter().map(|s| s.as_deref()).collect();
        let (bzs, bzv, bzz) = build(&s, 100);
        let err = read_testament(
            "m",
            Testament::New,
            ZTextFiles {
                bzs: &bzs,
                bzv: &bzv,
                bzz: &bzz,
            },
            &Versification::nrsva(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "m/nt.bzv: 8246 slots, but the NRSVA versification has 8248 in this testament: wrong versification?"
        );
        let err = read_testament(
            "m",
            Testament::New,
            ZTextFiles {
                bzs: &bzs[1..],
                bzv: &bzv,
                bzz: &bzz,
            },
            &kjv,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("not a whole number of 12-byte records"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_slots_and_blocks_are_issues() {
        let v = Versification::kjv();
        let slots = nt_slots(&v, |r| (r.book == "Jude").then(|| "<w>ok</w>".to_string()));
        let s: Vec<Option<&str>> = slots.iter().map(|s| s.as_deref()).collect();
        let (bzs, bzv, bzz) = build(&s, 7_700);
        let read = |bzv: &[u8], bzz: &[u8]| {
            read_testament(
                "m",
                Testament::New,
                ZTextFiles {
                    bzs: &bzs,
                    bzv,
                    bzz,
                },
                &v,
            )
            .unwrap()
        };
        // Jude 1:1 is in block 1 (slots 7700..8246): make its size run past the block.
        let jude1 = v
            .slots(Testament::New)
            .iter()
            .position(|r| r.is_some_and(|r| r.book == "Jude"))
            .unwrap();
        // Revelation (a heading, 22 chapter headings, 404 verses) follows Jude.
        assert_eq!(jude1, 8_246 - (1 + 22 + 404) - 25);
        let mut long = bzv.clone();
        long[jude1 * 10 + 8] = 0xff;
        let t = read(&long, &bzz);
        assert_eq!((t.verses.len(), t.issues.len()), (24, 1));
        assert_eq!(t.issues[0].at, Location::Byte(jude1 as u64 * 10));
        assert_eq!(
            t.issues[0].message,
            "Jude.1.1: bytes 0..255 are outside block 1 of m/nt.bzz (225 bytes)"
        );
        // Break block 1's zlib stream: every verse in it is an issue, none is invented.
        let mut broken = bzz.clone();
        let second = u32_at(&bzs, 12) as usize;
        broken[second + 2] ^= 0xff;
        let t = read(&bzv, &broken);
        assert_eq!((t.verses.len(), t.issues.len()), (0, 25));
        assert!(
            t.issues[0]
                .message
                .starts_with("Jude.1.1: block 1 of m/nt.bzz: "),
            "{}",
            t.issues[0]
        );
        // Truncated .bzz: the block is past the end.
        let t = read(&bzv, &bzz[..second + 3]);
        assert_eq!(t.issues.len(), 25);
        assert!(
            t.issues[0].message.contains("past the end"),
            "{}",
            t.issues[0]
        );
    }

    #[test]
    fn join_counts_verses_on_one_side_only() {
        let r = |b: &'static str, c, v| VerseRef {
            book: b,
            chapter: c,
            verse: v,
        };
        let a = vec![
            Verse {
                reference: r("3John", 1, 14),
                text: "a14".into(),
            },
            Verse {
                reference: r("3John", 1, 15),
                text: "a15".into(),
            },
        ];
        let b = vec![
            Verse {
                reference: r("3John", 1, 14),
                text: "b14".into(),
            },
            Verse {
                reference: r("Jude", 1, 1),
                text: "b".into(),
            },
        ];
        let (pairs, rep) = join_verses(&a, &b);
        assert_eq!(pairs, vec![Pair::new("3John.1.14", "a14", "b14")]);
        assert_eq!(
            rep,
            JoinReport {
                pairs: 1,
                source_only: 1,
                target_only: 1
            }
        );
    }

    #[test]
    fn conf_keys() {
        let c = parse_conf("web.conf", "## c\n[engWEB2015eb]\nDataPath=./modules/texts/ztext/engWEB2015eb/\r\nModDrv=zText\nVersification=NRSVA\nLang=en\n").unwrap();
        assert_eq!(
            (c.name.as_str(), c.driver.as_str(), c.versification.as_str()),
            ("engWEB2015eb", "zText", "NRSVA")
        );
        assert!(parse_conf("x.conf", "Lang=en").is_err());
    }
}
