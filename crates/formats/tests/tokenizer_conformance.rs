//! llama.cpp's tokenizer test vectors (`models/ggml-vocab-*.gguf` with `.inp`/`.out`), from
//! the llama-cpp-python 0.3.36 sdist; fetch them with `scripts/fetch-test-assets.sh`.
//!
//! llama.cpp's `tests/test-tokenizer-0.cpp` calls `common_tokenize(ctx, text, add_special=false,
//! parse_special=false)`: no BOS/EOS, and control/unknown tokens in the text are *not* matched
//! (user-defined tokens still are). The equivalent here is `encode_ids(tok, text, false, false)`,
//! i.e. `encode` with `add_special_tokens=false` and `set_encode_special_tokens(true)`.

mod common;

use std::path::PathBuf;

use xlingo_formats::gguf::Gguf;
use xlingo_formats::tokenizer::{StreamDecoder, TokenizerInfo, encode_ids, tokenizer_from_gguf};

fn assets_dir() -> PathBuf {
    common::llama_cpp_assets_dir()
}

/// (text, expected ids) pairs, split exactly as test-tokenizer-0.cpp does.
fn read_cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let base = assets_dir()
        .join("models")
        .join(format!("ggml-vocab-{name}.gguf"));
    let inp = std::fs::read_to_string(base.with_extension("gguf.inp"))
        .unwrap_or_else(|e| panic!("{}.inp: {e}", base.display()));
    let out = std::fs::read_to_string(base.with_extension("gguf.out"))
        .unwrap_or_else(|e| panic!("{}.out: {e}", base.display()));
    const SEP: &str = "\n__ggml_vocab_test__\n";
    let mut texts = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(SEP) {
            Some(n) => {
                texts.push(inp[pos..pos + n].to_string());
                pos += n + SEP.len();
            }
            None => {
                texts.push(inp[pos..].to_string());
                break;
            }
        }
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|t| t.parse().expect("token id"))
                .collect()
        })
        .collect();
    assert_eq!(texts.len(), ids.len(), "{name}: .inp and .out disagree");
    texts.into_iter().zip(ids).collect()
}

struct Report {
    total: usize,
    failures: Vec<String>,
}

fn run_vocab(name: &str) -> Result<Report, String> {
    let path = assets_dir()
        .join("models")
        .join(format!("ggml-vocab-{name}.gguf"));
    let gguf = Gguf::open(&path).map_err(|e| e.to_string())?;
    let mut tok = tokenizer_from_gguf(&gguf.header).map_err(|e| e.to_string())?;
    let cases = read_cases(name);
    let mut failures = Vec::new();
    for (text, want) in &cases {
        let got = encode_ids(&mut tok, text, false, false).map_err(|e| e.to_string())?;
        if &got != want {
            failures.push(format!("{text:?}\n   want {want:?}\n   got  {got:?}"));
        }
    }
    Ok(Report {
        total: cases.len(),
        failures,
    })
}

fn assert_vocab(name: &str) {
    let r = run_vocab(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(r.total > 0);
    assert!(
        r.failures.is_empty(),
        "{name}: {}/{} cases differ:\n{}",
        r.failures.len(),
        r.total,
        r.failures.join("\n")
    );
}

#[test]
fn vocab_gpt_2() {
    assert_vocab("gpt-2");
}

#[test]
fn vocab_llama_bpe() {
    assert_vocab("llama-bpe");
}

#[test]
fn vocab_llama_spm() {
    assert_vocab("llama-spm");
}

#[test]
fn vocab_qwen2() {
    assert_vocab("qwen2");
}

// Not required, but they pass; kept as regression tests. (bert-bge and gemma-4 use tokenizer
// models this crate does not build: `bert` (WordPiece) and `gemma4`.)

#[test]
fn vocab_command_r() {
    assert_vocab("command-r");
}

#[test]
fn vocab_deepseek_coder() {
    assert_vocab("deepseek-coder");
}

#[test]
fn vocab_deepseek_llm() {
    assert_vocab("deepseek-llm");
}

#[test]
fn vocab_falcon() {
    assert_vocab("falcon");
}

#[test]
fn vocab_mpt() {
    assert_vocab("mpt");
}

#[test]
fn vocab_phi_3() {
    assert_vocab("phi-3");
}

#[test]
fn vocab_qwen35() {
    assert_vocab("qwen35");
}

#[test]
fn vocab_refact() {
    assert_vocab("refact");
}

#[test]
fn vocab_starcoder() {
    assert_vocab("starcoder");
}

/// All vocabularies with test vectors, pass or fail; `cargo test -- --ignored --nocapture`.
#[test]
#[ignore = "report only"]
fn report_all_vocabs() {
    let mut names: Vec<String> = std::fs::read_dir(assets_dir().join("models"))
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            Some(
                n.strip_prefix("ggml-vocab-")?
                    .strip_suffix(".gguf.out")?
                    .to_string(),
            )
        })
        .collect();
    names.sort();
    for name in names {
        match run_vocab(&name) {
            Ok(r) if r.failures.is_empty() => println!("PASS {name}: {} cases", r.total),
            Ok(r) => println!(
                "FAIL {name}: {}/{} differ; first: {}",
                r.failures.len(),
                r.total,
                r.failures[0]
            ),
            Err(e) => println!("ERROR {name}: {e}"),
        }
    }
}

/// Decoding gives back the text (byte-level BPE is lossless; SPM loses only the prefix space,
/// which its decoder strips), and streaming token by token gives the same text.
#[test]
fn decode_round_trip_and_streaming() {
    for name in ["gpt-2", "llama-bpe", "qwen2", "llama-spm"] {
        let path = assets_dir()
            .join("models")
            .join(format!("ggml-vocab-{name}.gguf"));
        let gguf = Gguf::open(&path).unwrap();
        let mut tok = tokenizer_from_gguf(&gguf.header).unwrap();
        let spm = name == "llama-spm";
        for (text, _) in read_cases(name) {
            let ids = encode_ids(&mut tok, &text, false, false).unwrap();
            let decoded = tok.decode(&ids, false).unwrap();
            // SPM: llama.cpp's normaliser does not collapse anything, but the prefix space is
            // stripped once, so text that itself starts with a space loses nothing else.
            assert_eq!(decoded, text, "{name}: decode(encode({text:?}))");

            let mut stream = StreamDecoder::new(&tok, false).with_strip_leading_space(spm);
            let mut streamed = String::new();
            for &id in &ids {
                let piece = stream.push(id).unwrap();
                streamed.push_str(&piece);
            }
            assert!(
                stream.pending().is_empty(),
                "{name}: {text:?} left bytes pending"
            );
            streamed.push_str(&stream.flush());
            assert_eq!(streamed, text, "{name}: streamed {text:?}");
        }
    }
}

#[test]
fn stream_decoder_holds_back_split_utf8() {
    let path = assets_dir().join("models/ggml-vocab-gpt-2.gguf");
    let gguf = Gguf::open(&path).unwrap();
    let mut tok = tokenizer_from_gguf(&gguf.header).unwrap();
    // "🦙" is 4 bytes; GPT-2 has no token for it, so it is split over byte tokens.
    let ids = encode_ids(&mut tok, "a🦙b", false, false).unwrap();
    assert!(ids.len() >= 4, "{ids:?}");
    let mut stream = StreamDecoder::new(&tok, false);
    let mut outs = Vec::new();
    for &id in &ids {
        outs.push(stream.push(id).unwrap());
    }
    assert_eq!(outs.concat(), "a🦙b");
    assert!(
        outs.iter().all(|s| !s.contains('\u{FFFD}')),
        "no replacement chars: {outs:?}"
    );
    assert!(
        outs.iter().any(|s| s.is_empty()),
        "some piece was held back"
    );
}

#[test]
fn special_tokens_and_bos() {
    // llama-bpe (Llama 3): control tokens are matched with parse_special, BOS added by default.
    let path = assets_dir().join("models/ggml-vocab-llama-bpe.gguf");
    let gguf = Gguf::open(&path).unwrap();
    let info = TokenizerInfo::from_gguf(&gguf.header).unwrap();
    assert_eq!(info.kind, "gpt2");
    assert_eq!(info.pre.as_deref(), Some("llama-bpe"));
    assert!(info.add_bos);
    let bos = info.bos_id.unwrap();
    let mut tok = tokenizer_from_gguf(&gguf.header).unwrap();
    let eot = tok.token_to_id("<|eot_id|>").unwrap();
    assert!(info.stop_ids.contains(&eot), "{:?}", info.stop_ids);
    let parsed = encode_ids(&mut tok, "Hi<|eot_id|>", true, true).unwrap();
    assert_eq!(parsed.first(), Some(&bos));
    assert_eq!(parsed.last(), Some(&eot));
    let unparsed = encode_ids(&mut tok, "Hi<|eot_id|>", false, false).unwrap();
    assert!(!unparsed.contains(&eot) && !unparsed.contains(&bos));
    // The tokenizer's own encode parses special tokens (llama.cpp's parse_special=true).
    let enc = tok.encode("Hi<|eot_id|>", false).unwrap();
    assert_eq!(enc.get_ids().last(), Some(&eot));
    // Decoding with skip_special drops them.
    let mut stream = StreamDecoder::new(&tok, true);
    assert_eq!(stream.push_all(&parsed).unwrap(), "Hi");

    // llama-spm: BOS 1 by default, prefix space.
    let path = assets_dir().join("models/ggml-vocab-llama-spm.gguf");
    let gguf = Gguf::open(&path).unwrap();
    let info = TokenizerInfo::from_gguf(&gguf.header).unwrap();
    assert_eq!(info.kind, "llama");
    assert_eq!(info.bos_id, Some(1));
    assert_eq!(info.eos_id, Some(2));
    assert!(info.add_bos && !info.add_eos && info.add_space_prefix);
    let tok = tokenizer_from_gguf(&gguf.header).unwrap();
    let ids = tok.encode("Hello world", true).unwrap().get_ids().to_vec();
    assert_eq!(ids, vec![1, 15043, 3186]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "Hello world");
}
