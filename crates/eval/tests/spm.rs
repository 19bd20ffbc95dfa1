//! The SentencePiece encoder against the PyPI `sentencepiece` package on the two models of
//! `fixtures/spm.json` (written by `scripts/reference/spm_fixture.py`): a BPE model and a
//! unigram model with byte fallback, on multilingual lines that exercise NFKC normalisation,
//! whitespace handling and unknown characters.

use serde::Deserialize;
use xlingo_eval::spm::SentencePiece;

#[derive(Deserialize)]
struct Fixture {
    sentencepiece_version: String,
    pieces: Vec<Tokenised>,
}

#[derive(Deserialize)]
struct Tokenised {
    model: String,
    input: String,
    pieces: Vec<String>,
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn load(name: &str) -> SentencePiece {
    let path = fixture_path(name);
    SentencePiece::from_bytes(&path, &std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn pieces_match_sentencepiece_exactly() {
    let fixture: Fixture =
        serde_json::from_slice(&std::fs::read(fixture_path("spm.json")).unwrap()).unwrap();
    assert_eq!(fixture.sentencepiece_version, "0.2.3");
    let bpe = load("spm-bpe.model");
    let unigram = load("spm-unigram.model");
    let mut wrong = Vec::new();
    for t in &fixture.pieces {
        let model = if t.model == "bpe" { &bpe } else { &unigram };
        let ours = model.encode(&t.input);
        if ours != t.pieces {
            wrong.push(format!(
                "{} {:?}\n  ours   {:?}\n  theirs {:?}",
                t.model, t.input, ours, t.pieces
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        fixture.pieces.len(),
        wrong.join("\n")
    );
}

#[test]
fn broken_model_files_get_an_error_naming_the_file() {
    let good = std::fs::read(fixture_path("spm-bpe.model")).unwrap();
    for cut in [1, 2, 10, 100, 1000, good.len() / 2, good.len() - 1] {
        let err = SentencePiece::from_bytes("cut.model", &good[..cut]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("SentencePiece model cut.model: "),
            "{err}"
        );
    }
    for junk in [&b"not a model at all"[..], &[0xFF; 64][..], &[]] {
        assert!(SentencePiece::from_bytes("junk.model", junk).is_err());
    }
    // Every single-byte corruption either loads or fails cleanly, never panics.
    for i in (0..good.len()).step_by(997) {
        let mut bad = good.clone();
        bad[i] ^= 0x5A;
        if let Ok(m) = SentencePiece::from_bytes("bad.model", &bad) {
            m.encode("Ｆｕｌｌ width ﬁne, 政府。");
        }
    }
}
