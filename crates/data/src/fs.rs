//! Thin file-system wrappers over the byte and text parsers (native only: in the browser the
//! bytes come from a file picker or a download and go to the parsers directly).

use std::path::{Path, PathBuf};

use crate::error::{DataError, Parsed, Result};
use crate::gettext::{MoCatalog, parse_mo};
use crate::parallel::{JsonlKeys, parse_line_aligned, parse_parallel_jsonl, parse_tsv};
use crate::record::{Instruction, Pair};
use crate::sword::{ModuleText, ZTextFiles, parse_conf, read_module};
use crate::udhr::{Declaration, parse_udhr_html};
use crate::{alpaca, text};

fn name(p: &Path) -> String {
    p.display().to_string()
}

pub fn read_bytes(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let p = path.as_ref();
    std::fs::read(p).map_err(|source| DataError::Io {
        file: name(p),
        source,
    })
}

/// A UTF-8 text file, BOM removed.
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let p = path.as_ref();
    text::utf8(&name(p), &read_bytes(p)?)
}

/// Alpaca data: a `.jsonl` file is JSON Lines, anything else a JSON array.
pub fn load_alpaca(path: impl AsRef<Path>) -> Result<Parsed<Instruction>> {
    let p = path.as_ref();
    let t = read_text(p)?;
    if p.extension().is_some_and(|e| e == "jsonl") {
        Ok(alpaca::parse_alpaca_jsonl(&name(p), &t))
    } else {
        alpaca::parse_alpaca_json(&name(p), &t)
    }
}

/// One language's pool for the MuIT mixer (see [`crate::muit::parse_pool_jsonl`]).
pub fn load_pool(path: impl AsRef<Path>, lang: &str) -> Result<Parsed<crate::record::Example>> {
    let p = path.as_ref();
    Ok(crate::muit::parse_pool_jsonl(
        &name(p),
        &read_text(p)?,
        lang,
    ))
}

pub fn load_tsv(path: impl AsRef<Path>) -> Result<Parsed<Pair>> {
    let p = path.as_ref();
    Ok(parse_tsv(&name(p), &read_text(p)?))
}

pub fn load_parallel_jsonl(path: impl AsRef<Path>, keys: &JsonlKeys) -> Result<Parsed<Pair>> {
    let p = path.as_ref();
    Ok(parse_parallel_jsonl(&name(p), &read_text(p)?, keys))
}

/// Two line-aligned files (Flores, Moses).
pub fn load_line_aligned(
    source: impl AsRef<Path>,
    target: impl AsRef<Path>,
) -> Result<Parsed<Pair>> {
    let (s, t) = (source.as_ref(), target.as_ref());
    parse_line_aligned(&name(s), &read_text(s)?, &name(t), &read_text(t)?)
}

/// `<dir>/<code>.html` of the udhr package's `declaration` folder.
pub fn load_udhr(dir: impl AsRef<Path>, code: &str) -> Result<(Declaration, Vec<crate::Issue>)> {
    let p = dir.as_ref().join(format!("{code}.html"));
    parse_udhr_html(&name(&p), &read_text(&p)?)
}

/// A SWORD module by name under a SWORD root (the folder with `mods.d/` and `modules/`); its
/// `.conf` is `mods.d/<name>.conf` as Debian names it, or the lower-case name SWORD's
/// installers use. A testament whose three files are all missing is skipped.
pub fn load_sword_module(root: impl AsRef<Path>, module: &str) -> Result<ModuleText> {
    let root = root.as_ref();
    let mods = root.join("mods.d");
    let exact = mods.join(format!("{module}.conf"));
    let conf_path = if exact.exists() {
        exact
    } else {
        mods.join(format!("{}.conf", module.to_lowercase()))
    };
    let conf = parse_conf(&name(&conf_path), &read_text(&conf_path)?)?;
    let dir: PathBuf = root.join(conf.data_path.trim_start_matches("./"));
    let load = |stem: &str| -> Result<Option<[Vec<u8>; 3]>> {
        let f = |ext: &str| dir.join(format!("{stem}.{ext}"));
        if ["bzs", "bzv", "bzz"].iter().all(|e| !f(e).exists()) {
            return Ok(None);
        }
        Ok(Some([
            read_bytes(f("bzs"))?,
            read_bytes(f("bzv"))?,
            read_bytes(f("bzz"))?,
        ]))
    };
    let (ot, nt) = (load("ot")?, load("nt")?);
    read_module(
        conf,
        ot.as_ref().map(ztext_files),
        nt.as_ref().map(ztext_files),
    )
}

pub fn load_mo(path: impl AsRef<Path>) -> Result<MoCatalog> {
    let p = path.as_ref();
    parse_mo(&name(p), &read_bytes(p)?)
}

fn ztext_files(b: &[Vec<u8>; 3]) -> ZTextFiles<'_> {
    let [bzs, bzv, bzz] = b;
    ZTextFiles { bzs, bzv, bzz }
}
