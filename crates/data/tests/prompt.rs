//! Rendering and tokenisation with a real `tokenizers::Tokenizer`: the tiny byte-level
//! vocabulary of `xlingo_formats::tiny` (one token per printable ASCII character, a newline,
//! and the ChatML specials `<|im_start|>` = 0, `<|im_end|>` = 1), and its ChatML template.

use tokenizers::Tokenizer;
use xlingo_data::prompt::{
    ALPACA_NO_INPUT, IGNORE_INDEX, Overflow, PromptStyle, TokenizeConfig, render, tokenize_examples,
};
use xlingo_data::{Example, Kind};
use xlingo_formats::GgufHeader;
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tiny::{TINY_CHAT_VOCAB, add_tiny_tokenizer, gguf_metadata, tiny_config};

fn tiny() -> (Tokenizer, ChatTemplate) {
    let mut config = tiny_config("llama");
    config.vocab_size = TINY_CHAT_VOCAB;
    let mut g = gguf_metadata(&config);
    add_tiny_tokenizer(&mut g, config.vocab_size);
    let bytes = g.to_bytes();
    let h = GgufHeader::parse(&bytes).unwrap();
    let tok = xlingo_formats::tokenizer::tokenizer_from_gguf(&h).unwrap();
    let chat = ChatTemplate::from_gguf(&h).unwrap().unwrap();
    (tok, chat)
}

fn example(instruction: &str, input: &str, output: &str) -> Example {
    Example {
        instruction: instruction.into(),
        input: input.into(),
        output: output.into(),
        lang: "es".into(),
        kind: Kind::Translation,
    }
}

/// Ids of the tiny vocabulary: printable ASCII c is c - 32 + 3, newline is 98.
fn ids(s: &str) -> Vec<u32> {
    s.bytes()
        .map(|b| if b == b'\n' { 98 } else { (b - 32 + 3) as u32 })
        .collect()
}

fn cfg(max_len: usize, overflow: Overflow, eos_id: Option<u32>) -> TokenizeConfig {
    TokenizeConfig {
        max_len,
        overflow,
        add_special_tokens: false,
        eos_id,
    }
}

#[test]
fn alpaca_labels_cover_the_response_and_eos_only() {
    let (tok, _) = tiny();
    let e = example("Say hi", "", "Hola");
    let r = render(&e, &PromptStyle::Alpaca).unwrap();
    assert_eq!(r.prompt, ALPACA_NO_INPUT.replace("{instruction}", "Say hi"));
    assert!(
        r.prompt
            .ends_with("### Instruction:\nSay hi\n\n### Response:")
    );
    let (out, rep) = tokenize_examples(
        &[e],
        &PromptStyle::Alpaca,
        &tok,
        &cfg(512, Overflow::Drop, Some(1)),
    );
    assert_eq!((rep.kept, rep.truncated, rep.dropped_too_long), (1, 0, 0));
    let t = &out[0];
    let n = r.prompt.len();
    assert_eq!(t.prompt_len, n);
    assert_eq!(&t.input_ids[..n], ids(&r.prompt).as_slice());
    let mut response = ids("Hola");
    response.push(1);
    assert_eq!(&t.input_ids[n..], response.as_slice());
    assert!(t.labels[..n].iter().all(|&l| l == IGNORE_INDEX));
    assert_eq!(
        t.labels[n..],
        response.iter().map(|&i| i as i64).collect::<Vec<_>>()
    );
    assert_eq!(t.loss_mask().iter().filter(|&&m| m).count(), 5);
}

#[test]
fn alpaca_with_input() {
    let e = example(
        "Translate the following sentences from English to Spanish.",
        "Good morning",
        "Buenos dias",
    );
    let r = render(&e, &PromptStyle::Alpaca).unwrap();
    assert!(
        r.prompt
            .contains("\n\n### Input:\nGood morning\n\n### Response:"),
        "{}",
        r.prompt
    );
    assert_eq!(r.response, "Buenos dias");
    // An instruction mentioning "{input}" is not substituted into.
    let r = render(&example("Echo {input}", "x", "y"), &PromptStyle::Alpaca).unwrap();
    assert!(
        r.prompt.contains("### Instruction:\nEcho {input}\n"),
        "{}",
        r.prompt
    );
}

#[test]
fn chat_template_response_is_the_assistant_turn_with_its_end_marker() {
    let (tok, chat) = tiny();
    let style = PromptStyle::Chat {
        template: &chat,
        system: Some("Be brief."),
    };
    let e = example("Translate into Spanish:", "Yes", "Si");
    let r = render(&e, &style).unwrap();
    assert_eq!(
        r.prompt,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTranslate into Spanish:\n\nYes<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(r.response, "Si<|im_end|>\n");
    let (out, rep) = tokenize_examples(&[e], &style, &tok, &cfg(512, Overflow::Drop, None));
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    let t = &out[0];
    // The special tokens are single ids: <|im_start|> = 0, <|im_end|> = 1.
    assert_eq!(t.input_ids[0], 0);
    let response: Vec<u32> = [ids("Si"), vec![1], ids("\n")].concat();
    assert_eq!(&t.input_ids[t.prompt_len..], response.as_slice());
    assert_eq!(t.labels.iter().filter(|&&l| l != IGNORE_INDEX).count(), 4);
    assert_eq!(t.labels[t.prompt_len - 1], IGNORE_INDEX);
    assert_eq!(
        tok.decode(&t.input_ids[t.prompt_len..], false).unwrap(),
        "Si<|im_end|>\n"
    );
}

#[test]
fn length_cap_truncates_or_drops_and_counts() {
    let (tok, _) = tiny();
    let examples = [
        example("A", "", "0123456789"),
        example("B", "", "x"),
        example("C", "", "01234"),
    ];
    let prompt_len = render(&examples[0], &PromptStyle::Alpaca)
        .unwrap()
        .prompt
        .len();
    let cap = prompt_len + 3;
    let (out, rep) = tokenize_examples(
        &examples,
        &PromptStyle::Alpaca,
        &tok,
        &cfg(cap, Overflow::Truncate, Some(1)),
    );
    assert_eq!((rep.kept, rep.truncated, rep.dropped_too_long), (3, 2, 0));
    assert_eq!(out[0].input_ids.len(), cap);
    assert_eq!(out[0].labels.len(), cap);
    assert_eq!(&out[0].input_ids[prompt_len..], ids("012").as_slice());
    assert_eq!(out[1].input_ids.len(), prompt_len + 2);
    let (out, rep) = tokenize_examples(
        &examples,
        &PromptStyle::Alpaca,
        &tok,
        &cfg(cap, Overflow::Drop, Some(1)),
    );
    assert_eq!((rep.kept, rep.truncated, rep.dropped_too_long), (1, 0, 2));
    assert_eq!(
        &out[0].input_ids[prompt_len..],
        &[ids("x"), vec![1]].concat()[..]
    );
    // A prompt that fills the cap leaves no response to learn: dropped even when truncating.
    let (_, rep) = tokenize_examples(
        &examples,
        &PromptStyle::Alpaca,
        &tok,
        &cfg(prompt_len, Overflow::Truncate, Some(1)),
    );
    assert_eq!((rep.kept, rep.dropped_too_long), (0, 3));
}

#[test]
fn unrenderable_examples_are_reported_not_fatal() {
    let (tok, _) = tiny();
    let broken = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
    let style = PromptStyle::Chat {
        template: &broken,
        system: None,
    };
    let (out, rep) = tokenize_examples(
        &[example("a", "", "b")],
        &style,
        &tok,
        &cfg(64, Overflow::Drop, None),
    );
    assert!(out.is_empty());
    assert_eq!(rep.failed.len(), 1);
    assert!(
        rep.failed[0].1.contains("no system role"),
        "{:?}",
        rep.failed
    );
    // An empty response has nothing to learn.
    let (_, rep) = tokenize_examples(
        &[example("a", "", "")],
        &PromptStyle::Alpaca,
        &tok,
        &cfg(512, Overflow::Drop, None),
    );
    assert_eq!(rep.failed[0], (0, "the response has no tokens".to_string()));
}

/// The real SmolLM2-135M-Instruct GGUF when present (`xlingo fetch smollm2-135m-instruct`;
/// `XLINGO_SMOLLM2_GGUF` overrides the path): its ChatML template and byte-level BPE give one
/// `<|im_end|>` in the response and labels on exactly the assistant turn.
#[test]
fn smollm2_chat_template_when_available() {
    let path = std::env::var_os("XLINGO_SMOLLM2_GGUF")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                std::path::PathBuf::from(h)
                    .join(".cache/xlingo/models/SmolLM2-135M-Instruct.Q4_1.gguf")
            })
        });
    let Some(path) = path.filter(|p| p.is_file()) else {
        eprintln!("skipped: SmolLM2-135M-Instruct.Q4_1.gguf not present");
        return;
    };
    let gguf = xlingo_formats::gguf::Gguf::open(&path).unwrap();
    let chat = ChatTemplate::from_gguf(&gguf.header).unwrap().unwrap();
    let tok = xlingo_formats::tokenizer::tokenizer_from_gguf(&gguf.header).unwrap();
    let style = PromptStyle::Chat {
        template: &chat,
        system: None,
    };
    let e = example(
        &xlingo_data::coit::eval_instruction("English", "Spanish"),
        "The cat sleeps.",
        "El gato duerme.",
    );
    let r = render(&e, &style).unwrap();
    assert!(
        r.prompt
            .ends_with("The cat sleeps.<|im_end|>\n<|im_start|>assistant\n"),
        "{}",
        r.prompt
    );
    assert_eq!(r.response, "El gato duerme.<|im_end|>\n");
    let (out, rep) = tokenize_examples(&[e], &style, &tok, &cfg(512, Overflow::Drop, None));
    assert_eq!(rep.kept, 1);
    let t = &out[0];
    let response = &t.input_ids[t.prompt_len..];
    assert_eq!(
        tok.decode(response, false).unwrap(),
        "El gato duerme.<|im_end|>\n"
    );
    assert_eq!(
        response.iter().filter(|&&i| i == 2).count(),
        1,
        "{response:?}"
    );
    assert_eq!(
        t.labels.iter().filter(|&&l| l != IGNORE_INDEX).count(),
        response.len()
    );
    assert_eq!(
        tok.decode(&t.input_ids[..t.prompt_len], false).unwrap(),
        r.prompt
    );
}
