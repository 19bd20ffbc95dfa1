//! The `xlingo` binary end to end on tiny models the test writes: it runs, and bad input gets
//! one clear error line naming the problem, a non-zero exit code, and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xlingo_formats::{GgmlType, GgufWriter, MetaValue};
use xlingo_model::tiny::{
    add_tiny_tokenizer, gguf_metadata, random_weights, tiny_config, write_gguf,
};

fn xlingo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xlingo"))
        .args(args)
        .env("XLINGO_CACHE", scratch())
        .output()
        .unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlingo-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn tiny_model_bytes(edit: impl FnOnce(&mut GgufWriter)) -> Vec<u8> {
    let config = tiny_config("llama");
    let mut g = gguf_metadata(&config);
    add_tiny_tokenizer(&mut g, config.vocab_size);
    edit(&mut g);
    write_gguf(g, &random_weights(&config, 3), GgmlType::Q8_0).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with exactly one `error:` line containing every needle, and no panic.
fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` not in `{}`", lines[0]);
    }
}

/// An empty scratch directory `name` holding `tiny.gguf`, a tiny qwen2 model written by
/// `xlingo tiny` (untied head: its greedy output is not just the last token repeated).
fn fresh_dir_with_tiny_model(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("tiny.gguf");
    let made = xlingo(&["tiny", "--out", path_str(&model), "--arch", "qwen2"]);
    assert!(made.status.success(), "{}", stderr(&made));
    (dir, model)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn generate_and_inspect_work_on_a_tiny_model() {
    let model = write("tiny.gguf", &tiny_model_bytes(|_| {}));
    let out = xlingo(&["inspect", path_str(&model)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("architecture: llama"), "{text}");
    assert!(
        text.contains("blk.0.attn_q.weight") && text.contains("q8_0"),
        "{text}"
    );
    assert!(text.contains("tokenizer: gpt2"), "{text}");

    let generate = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            path_str(&model),
            "--prompt",
            "hello world",
            "--max-tokens",
            "12",
        ];
        args.extend_from_slice(extra);
        let out = xlingo(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    // Greedy is deterministic; a seed makes sampling deterministic too.
    assert_eq!(
        generate(&["--temperature", "0"]),
        generate(&["--temperature", "0"])
    );
    assert_eq!(
        generate(&["--seed", "5", "--temperature", "1.5"]),
        generate(&["--seed", "5", "--temperature", "1.5"])
    );
    assert!(
        stderr(&xlingo(&[
            "generate",
            "--model",
            path_str(&model),
            "--prompt",
            "hi",
            "--max-tokens",
            "3"
        ]))
        .contains("generated")
    );
    let chat = generate(&["--chat", "--system", "Be brief.", "--temperature", "0"]);
    assert!(!chat.is_empty());
}

#[test]
fn bad_files_get_one_clear_error_line() {
    let good = tiny_model_bytes(|_| {});
    let prompt = ["--prompt", "hi", "--max-tokens", "2"];
    let run = |name: &str, bytes: &[u8]| {
        let path = write(name, bytes);
        let mut args = vec!["generate", "--model", path_str(&path)];
        args.extend_from_slice(&prompt);
        xlingo(&args)
    };

    let mut bad_magic = good.clone();
    bad_magic[..4].copy_from_slice(b"GGML");
    assert_clean_failure(&run("magic.gguf", &bad_magic), &["not a GGUF file"]);

    assert_clean_failure(
        &run("truncated.gguf", &good[..good.len() / 2]),
        &["outside the file"],
    );
    assert_clean_failure(&run("header-cut.gguf", &good[..200]), &["truncated"]);

    // Tensor type id of the first tensor patched to an unknown one (ids are after the name).
    let header = xlingo_formats::GgufHeader::parse(&good).unwrap();
    let first = &header.tensors[0];
    let mut unknown_type = good.clone();
    let type_pos = find_tensor_type_offset(&good, &first.name);
    unknown_type[type_pos..type_pos + 4].copy_from_slice(&99u32.to_le_bytes());
    assert_clean_failure(
        &run("unknown-type.gguf", &unknown_type),
        &["unknown", &first.name],
    );

    let gpt2 = tiny_model_bytes(|g| {
        g.set("general.architecture", MetaValue::String("gpt2".into()));
    });
    assert_clean_failure(
        &run("arch.gguf", &gpt2),
        &["unsupported architecture", "gpt2"],
    );

    let config = tiny_config("llama");
    let no_tokenizer = write_gguf(
        gguf_metadata(&config),
        &random_weights(&config, 3),
        GgmlType::F32,
    )
    .unwrap();
    assert_clean_failure(&run("no-tok.gguf", &no_tokenizer), &["tokenizer.ggml"]);

    // Metadata says 3 layers, the file has 2: the missing tensor is named.
    let more_layers = tiny_model_bytes(|g| {
        g.set("llama.block_count", MetaValue::U32(3));
    });
    assert_clean_failure(&run("layers.gguf", &more_layers), &["blk.2."]);

    // Metadata says a wider FFN than the tensors have: a shape mismatch naming the tensor.
    let wide = tiny_model_bytes(|g| {
        g.set("llama.feed_forward_length", MetaValue::U32(256));
    });
    assert_clean_failure(
        &run("shape.gguf", &wide),
        &["blk.0.ffn_gate.weight", "expected shape"],
    );
}

#[test]
fn bad_prompts_get_one_clear_error_line() {
    let model = write("tiny-prompts.gguf", &tiny_model_bytes(|_| {}));
    let long = "a b ".repeat(200); // > 128 tokens of context
    let out = xlingo(&["generate", "--model", path_str(&model), "--prompt", &long]);
    assert_clean_failure(&out, &["exceeds the context of 128 tokens"]);

    let bad_utf8 = write("prompt.txt", b"caf\xe9 au lait");
    let out = xlingo(&[
        "generate",
        "--model",
        path_str(&model),
        "--prompt-file",
        path_str(&bad_utf8),
    ]);
    assert_clean_failure(&out, &["invalid UTF-8", "prompt.txt"]);

    let out = xlingo(&["generate", "--model", "no-such-model", "--prompt", "x"]);
    assert_clean_failure(&out, &["no-such-model", "not a known asset"]);
}

/// Byte offset of the type field of tensor `name` in a GGUF file.
fn find_tensor_type_offset(bytes: &[u8], name: &str) -> usize {
    let needle: Vec<u8> = (name.len() as u64)
        .to_le_bytes()
        .into_iter()
        .chain(name.bytes())
        .collect();
    let start = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .unwrap()
        + needle.len();
    let n_dims = u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap()) as usize;
    start + 4 + 8 * n_dims
}

#[test]
fn both_engines_generate_the_same_greedy_text_and_bench_reports_json() {
    let model = write("tiny-engines.gguf", &tiny_model_bytes(|_| {}));
    let run = |engine: &str| {
        let out = xlingo(&[
            "generate",
            "--model",
            path_str(&model),
            "--prompt",
            "hello world",
            "--temperature",
            "0",
            "--max-tokens",
            "12",
            "--engine",
            engine,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr(&out),
        )
    };
    let (gpu_text, gpu_log) = run("gpu");
    let (reference_text, reference_log) = run("reference");
    assert!(gpu_log.contains("the WGSL engine on"), "{gpu_log}");
    assert!(
        reference_log.contains("the burn reference engine"),
        "{reference_log}"
    );
    assert_eq!(gpu_text, reference_text);

    let out = xlingo(&[
        "bench",
        "--model",
        path_str(&model),
        "--engine",
        "gpu",
        "--prompt-tokens",
        "8",
        "--gen-tokens",
        "4",
        "--runs",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["engine"], "gpu");
    assert_eq!(report["prompt_tokens"], 8);
    assert_eq!(report["runs"], 2);
    for key in ["prefill_tok_s", "decode_tok_s", "ttft_s"] {
        let s = &report[key];
        let (min, median, max) = (
            s["min"].as_f64().unwrap(),
            s["median"].as_f64().unwrap(),
            s["max"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= median && median <= max, "{key}: {s}");
    }
    assert!(report["gpu_buffer_bytes"].as_u64().unwrap() > 0);
}

/// Reads `xlingo logits` output: (ids.N, logits.N shape, logits.N values) per prompt, and the
/// metadata.
type LogitsFile = (
    Vec<(Vec<u32>, Vec<usize>, Vec<f32>)>,
    std::collections::HashMap<String, String>,
);

fn read_logits(path: &Path, prompts: usize) -> LogitsFile {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), 2 * prompts);
    let per_prompt = (0..prompts)
        .map(|n| {
            let ids = st.tensor(&format!("ids.{n}")).unwrap();
            assert_eq!(ids.dtype(), safetensors::Dtype::I64);
            let ids: Vec<u32> = ids
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
                .collect();
            let logits = st.tensor(&format!("logits.{n}")).unwrap();
            assert_eq!(logits.dtype(), safetensors::Dtype::F32);
            let values = logits
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (ids, logits.shape().to_vec(), values)
        })
        .collect();
    (per_prompt, meta.metadata().clone().unwrap_or_default())
}

#[test]
fn logits_are_the_reference_models_on_the_prompts_token_ids() {
    use xlingo_formats::chat::{ChatMessage, ChatTemplate};
    use xlingo_model::{Generator, LoadedModel};

    let model = write("tiny-logits.gguf", &tiny_model_bytes(|_| {}));
    let gguf = xlingo_formats::Gguf::open(&model).unwrap();
    let tokenizer = xlingo_formats::tokenizer::tokenizer_from_gguf(&gguf.header).unwrap();
    let template = ChatTemplate::from_gguf(&gguf.header).unwrap().unwrap();
    let device = burn::tensor::Device::flex();
    let loaded = LoadedModel::from_gguf(&gguf, &device).unwrap();
    let vocab = loaded.config.vocab_size;
    let prompts = ["hello world", "¿Qué tal? 你好, мир"];

    // Every position: row t must be what the model gives after ids[..=t], fed one token at
    // a time through the KV cache (a different code path from the command's one pass).
    let all = scratch().join("logits-all.safetensors");
    let mut args = vec![
        "logits",
        "--model",
        path_str(&model),
        "--out",
        path_str(&all),
    ];
    for p in prompts {
        args.extend(["--prompt", p]);
    }
    let out = xlingo(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let (got, meta) = read_logits(&all, prompts.len());
    assert_eq!(
        meta["xlingo.texts"],
        serde_json::json!(prompts).to_string(),
        "raw prompts are tokenised as given"
    );
    for (text, (ids, shape, values)) in prompts.iter().zip(&got) {
        let want_ids = tokenizer.encode(*text, true).unwrap().get_ids().to_vec();
        assert_eq!(ids, &want_ids, "{text}");
        assert_eq!(shape, &[ids.len(), vocab]);
        let mut generator = Generator::new(&loaded.model, 1 << 12, device.clone());
        let scale = values.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        for (t, &id) in ids.iter().enumerate() {
            let row = generator.feed(&[id]);
            let diff = row
                .iter()
                .zip(&values[t * vocab..(t + 1) * vocab])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff <= 1e-4 * scale, "{text}: position {t}: {diff}");
        }
    }

    // Chat: the ids are the rendered template's, and --last-only keeps one row.
    let last = scratch().join("logits-chat.safetensors");
    let out = xlingo(&[
        "logits",
        "--model",
        path_str(&model),
        "--prompt",
        prompts[1],
        "--chat",
        "--system",
        "Be brief.",
        "--last-only",
        "--out",
        path_str(&last),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (got, meta) = read_logits(&last, 1);
    let rendered = template
        .render(
            &[
                ChatMessage {
                    role: "system".into(),
                    content: "Be brief.".into(),
                },
                ChatMessage {
                    role: "user".into(),
                    content: prompts[1].into(),
                },
            ],
            true,
        )
        .unwrap();
    assert_eq!(
        meta["xlingo.texts"],
        serde_json::json!([rendered]).to_string()
    );
    let (ids, shape, values) = &got[0];
    assert_eq!(
        ids,
        &tokenizer
            .encode(rendered, false)
            .unwrap()
            .get_ids()
            .to_vec()
    );
    assert_eq!(shape, &[1, vocab]);
    let row = Generator::new(&loaded.model, 1 << 12, device.clone()).feed(ids);
    let scale = values.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let diff = row
        .iter()
        .zip(values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-4 * scale, "chat, last position: {diff}");

    let out = xlingo(&[
        "logits",
        "--model",
        path_str(&model),
        "--prompt",
        "",
        "--out",
        path_str(&last),
    ]);
    assert_clean_failure(&out, &["prompt 0", "tokenises to nothing"]);
}

#[test]
fn eval_translation_scores_writes_predictions_and_resumes() {
    let (dir, model) = fresh_dir_with_tiny_model("eval");
    let source = dir.join("src.en");
    let reference = dir.join("ref.es");
    std::fs::write(
        &source,
        "The cat sleeps.\nI like green apples.\nWhere is it?\n",
    )
    .unwrap();
    std::fs::write(
        &reference,
        "El gato duerme.\nMe gustan las manzanas verdes.\n¿Dónde está?\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let eval_into = |out: &Path, more: &[&str]| {
        let mut args = vec![
            "eval",
            "translation",
            "--model",
            path_str(&model),
            "--source",
            path_str(&source),
            "--reference",
            path_str(&reference),
            "--target-lang",
            "es",
            "--out",
            path_str(out),
            "--max-tokens",
            "6",
        ];
        args.extend(more);
        xlingo(&args)
    };
    let eval = |limit: &str| eval_into(&out_dir, &["--engine", "reference", "--limit", limit]);
    let first = eval("2");
    assert!(first.status.success(), "{}", stderr(&first));
    let predictions = out_dir.join("predictions.jsonl");
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(lines(&predictions), 2);

    // The summary's scores are sacreBLEU's on the predictions it wrote.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hyps: Vec<&str> = records
        .iter()
        .map(|r| r["prediction"].as_str().unwrap())
        .collect();
    let refs = vec![
        vec!["El gato duerme."],
        vec!["Me gustan las manzanas verdes."],
    ];
    let bleu = xlingo_eval::corpus_bleu(&hyps, &refs, &xlingo_eval::BleuConfig::default()).unwrap();
    assert_eq!(summary["items"], 2);
    assert!((summary["bleu"]["score"].as_f64().unwrap() - bleu.score).abs() < 1e-9);
    assert_eq!(
        summary["bleu"]["signature"],
        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1"
    );
    assert_eq!(
        summary["instruction"],
        "Translate the following sentences from English to Spanish."
    );
    let rate = summary["off_target"]["rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate));

    // Interrupted mid-write: a cut-off last line is dropped and that item generated again;
    // the finished one is reused.
    let text = std::fs::read_to_string(&predictions).unwrap();
    let cut = text.len() - 10;
    std::fs::write(&predictions, &text[..cut]).unwrap();
    let resumed = eval("3");
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let err = stderr(&resumed);
    assert!(err.contains("resuming: 1 of 3"), "{err}");
    assert!(err.contains("generated 2 answers"), "{err}");
    assert_eq!(lines(&predictions), 3);

    // The WGSL engine decoding two prompts at a time writes the same answers (in the order
    // they finish): its batched greedy tokens equal the reference engine's. `--engine auto`
    // (the default) takes it for a batch on any adapter, lavapipe included.
    let batched_dir = dir.join("batched");
    let batched = eval_into(&batched_dir, &["--batch-size", "2"]);
    assert!(batched.status.success(), "{}", stderr(&batched));
    assert!(
        stderr(&batched).contains("× 2 sequences"),
        "{}",
        stderr(&batched)
    );
    let answers = |p: &Path| -> std::collections::BTreeMap<String, String> {
        read_jsonl(p)
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["prediction"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        answers(&batched_dir.join("predictions.jsonl")),
        answers(&predictions)
    );

    // Misaligned files are refused, naming both.
    std::fs::write(&reference, "Uno.\n").unwrap();
    let bad = eval("3");
    assert_clean_failure(&bad, &["src.en", "ref.es", "aligned"]);
}

#[test]
fn train_sft_logs_checkpoints_resumes_after_a_crash_and_exports() {
    let (dir, model) = fresh_dir_with_tiny_model("train");
    let data = dir.join("data.jsonl");
    let lines: Vec<String> = (0..24)
        .map(|i| {
            serde_json::json!({
                "instruction": format!("Repeat the word number {i}."),
                "input": "",
                "output": format!("word {i} word {i}"),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n{not json\n").unwrap();
    let train = |out: &Path, extra: &[&str], abort: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlingo"));
        cmd.args([
            "train",
            "sft",
            "--model",
            path_str(&model),
            "--data",
            path_str(&data),
            "--out",
            path_str(out),
            "--steps",
            "8",
            "--warmup",
            "1",
            "--lr",
            "0.01",
            "--batch-size",
            "2",
            "--grad-accum",
            "2",
            "--save-every",
            "2",
            "--eval-every",
            "4",
            "--rank",
            "4",
            "--targets",
            "q,v,up",
        ])
        .args(extra)
        .env("XLINGO_CACHE", scratch());
        if let Some(step) = abort {
            cmd.env("XLINGO_ABORT_AFTER_STEP", step);
        }
        cmd.output().unwrap()
    };
    let losses = |out: &Path| -> Vec<(u64, f64, Option<f64>)> {
        std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            // Step 0 holds only the validation loss before training.
            .filter(|v| v["step"].as_u64().unwrap() > 0)
            .map(|v| {
                (
                    v["step"].as_u64().unwrap(),
                    v["loss"].as_f64().unwrap(),
                    v["valid_loss"].as_f64(),
                )
            })
            .collect()
    };

    let straight = dir.join("straight");
    let run = train(&straight, &["--log-batches"], None);
    assert!(run.status.success(), "{}", stderr(&run));
    let err = stderr(&run);
    assert!(err.contains("data.jsonl: line 25"), "{err}");
    let want = losses(&straight);
    assert_eq!(
        want.iter().map(|l| l.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert!(
        want[3].2.is_some() && want[7].2.is_some(),
        "validation at steps 4 and 8"
    );
    assert!(want[7].1 < want[0].1, "loss did not fall: {want:?}");
    let first_line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(straight.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first_line["step"], 0);
    let before = first_line["valid_loss"].as_f64().unwrap();
    assert!(
        want[7].2.unwrap() < before,
        "validation loss {before} → {:?}",
        want[7].2
    );
    for export in [
        "model-f16.gguf",
        "hf/model.safetensors",
        "hf/tokenizer.json",
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "summary.json",
    ] {
        assert!(straight.join(export).exists(), "{export} missing");
    }
    // A LoRA checkpoint holds the adapters, not the whole model (the Q8_0 file is a quarter
    // of the f32 weights; the adapters of rank 4 are far less than that).
    let checkpoint = std::fs::metadata(straight.join("checkpoints/step-000008/model.bpk")).unwrap();
    let model_bytes = std::fs::metadata(&model).unwrap().len();
    assert!(
        checkpoint.len() * 4 < model_bytes,
        "checkpoint {} bytes, model {model_bytes}",
        checkpoint.len()
    );
    // --log-batches: each step's micro-batches, whose token counts are the metrics' own.
    let metrics: Vec<serde_json::Value> = std::fs::read_to_string(straight.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["step"].as_u64().unwrap() > 0)
        .collect();
    let batches: Vec<serde_json::Value> = std::fs::read_to_string(straight.join("batches.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(batches.len(), 8);
    for (m, b) in metrics.iter().zip(&batches) {
        assert_eq!(m["step"], b["step"]);
        let micro = b["micro_batches"].as_array().unwrap();
        assert_eq!(micro.len(), 2, "grad-accum 2");
        let examples: Vec<&serde_json::Value> =
            micro.iter().flat_map(|m| m.as_array().unwrap()).collect();
        assert_eq!(examples.len(), 4, "2 × 2 examples");
        let count = |key: &str, f: fn(&serde_json::Value) -> u64| -> u64 {
            examples
                .iter()
                .map(|e| e[key].as_array().unwrap().iter().map(f).sum::<u64>())
                .sum()
        };
        assert_eq!(m["input_tokens"].as_u64().unwrap(), count("ids", |_| 1));
        assert_eq!(
            m["tokens"].as_u64().unwrap(),
            count("loss_on_next", |v| v.as_u64().unwrap())
        );
        assert!(m["step_s"].as_f64().unwrap() > 0.0);
        assert!(m["input_tokens_per_s"].as_f64().unwrap() > m["tokens_per_s"].as_f64().unwrap());
    }
    let exported = straight.join("model-f16.gguf");
    let generated = xlingo(&[
        "generate",
        "--model",
        path_str(&exported),
        "--prompt",
        "word",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
        "--engine",
        "reference",
    ]);
    assert!(generated.status.success(), "{}", stderr(&generated));

    // Killed after step 5 (last checkpoint: step 4), then resumed: the same loss curve.
    let crashed = dir.join("crashed");
    let first = train(&crashed, &[], Some("5"));
    assert!(!first.status.success(), "the run should have been aborted");
    assert_eq!(losses(&crashed).len(), 5);
    let again = train(&crashed, &[], None);
    assert_clean_failure(&again, &["already holds a run", "--resume"]);
    // A checkpoint holds only the adapters: resuming over another model file is refused.
    let other = dir.join("other.gguf");
    let made = xlingo(&["tiny", "--out", path_str(&other), "--arch", "llama"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let wrong = xlingo(&[
        "train",
        "sft",
        "--model",
        path_str(&other),
        "--data",
        path_str(&data),
        "--out",
        path_str(&crashed),
        "--resume",
    ]);
    assert_clean_failure(&wrong, &["trained from the model", "same --model"]);
    let resumed = train(&crashed, &["--resume"], None);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("resuming from"),
        "{}",
        stderr(&resumed)
    );
    let got = losses(&crashed);
    assert_eq!(got.len(), 8);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.0, g.0);
        assert!(
            (w.1 - g.1).abs() <= 1e-6 * w.1.abs().max(1.0),
            "step {}: {} vs {}",
            w.0,
            w.1,
            g.1
        );
    }
}

#[test]
fn scaling_fit_and_allocate_from_json() {
    let dir = scratch().join("scaling");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Two languages on power laws y = a − b·x^(−c), with a small deterministic wobble: Spanish
    // saturates early, Chinese keeps gaining.
    let curve = |a: f64, b: f64, c: f64| -> Vec<[f64; 2]> {
        [250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0]
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                [
                    x,
                    a - b * f64::powf(x, -c) + if i % 2 == 0 { 0.05 } else { -0.05 },
                ]
            })
            .collect()
    };
    let points = serde_json::json!({"es": curve(30.0, 200.0, 0.6), "zh": curve(25.0, 60.0, 0.25)});
    let points_path = dir.join("points.json");
    std::fs::write(&points_path, points.to_string()).unwrap();
    let fits = dir.join("fits.json");
    let out = xlingo(&[
        "scaling",
        "fit",
        "--points",
        path_str(&points_path),
        "--out",
        path_str(&fits),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fits).unwrap()).unwrap();
    for lang in ["es", "zh"] {
        let chosen = report[lang]["report"]["chosen"]
            .as_str()
            .unwrap()
            .to_string();
        let fit = report[lang]["report"]["fits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["form"] == chosen.as_str())
            .unwrap()
            .clone();
        assert!(fit["r2"].as_f64().unwrap() > 0.99, "{lang}: {fit}");
        // The band runs on a log grid from the smallest to the largest size fitted, and
        // contains the fitted curve.
        let band = report[lang]["band"]["points"].as_array().unwrap();
        assert_eq!(band.len(), 48);
        let observed = report[lang]["observed"].as_array().unwrap();
        assert_eq!(observed.len(), 7);
        let x = |v: &serde_json::Value| v.as_f64().unwrap();
        assert!((x(&band[0]["x"]) - x(&observed[0][0])).abs() < 1e-6);
        assert!((x(&band[47]["x"]) - x(&observed[6][0])).abs() < 1e-3);
        for p in band {
            assert!(
                x(&p["lower"]) <= x(&p["y"]) && x(&p["y"]) <= x(&p["upper"]),
                "{p}"
            );
        }
    }
    let svg = std::fs::read_to_string(fits.with_extension("svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("es (") && svg.contains("zh ("),
        "{svg:.300}"
    );

    let available = dir.join("available.json");
    std::fs::write(&available, r#"{"es": 20000, "zh": 20000}"#).unwrap();
    let alloc = dir.join("alloc.json");
    let budget = dir.join("budget.json");
    let out = xlingo(&[
        "scaling",
        "allocate",
        "--fits",
        path_str(&fits),
        "--budget",
        "10000",
        "--available",
        path_str(&available),
        "--out",
        path_str(&alloc),
        "--budget-map",
        path_str(&budget),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&alloc).unwrap()).unwrap();
    let objective = |k: &str| r[k]["objective"].as_f64().unwrap();
    assert!(objective("optimal") >= objective("uniform") - 1e-9);
    assert!(objective("optimal") >= objective("proportional") - 1e-9);
    let map: std::collections::BTreeMap<String, u64> =
        serde_json::from_str(&std::fs::read_to_string(&budget).unwrap()).unwrap();
    assert!(map.values().sum::<u64>() <= 10000);
    // Chinese keeps gaining where Spanish has saturated: it gets more of the budget.
    assert!(map["zh"] > map["es"], "{map:?}");

    let missing = dir.join("missing.json");
    std::fs::write(&missing, r#"{"es": 20000}"#).unwrap();
    let out = xlingo(&[
        "scaling",
        "allocate",
        "--fits",
        path_str(&fits),
        "--budget",
        "10",
        "--available",
        path_str(&missing),
        "--out",
        path_str(&alloc),
    ]);
    assert_clean_failure(&out, &["missing.json", "`zh`"]);
}

/// Parallel prompts for the tiny model (its byte-level tokenizer reads any text).
fn write_parallel_prompts(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("prompts.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("p{i:03}"),
                "en": format!("Tell me about number {i}, please."),
                "es": format!("Háblame del número {i}, por favor."),
                "zh": format!("请告诉我关于数字{i}的事。"),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn lens_probes_trains_resumes_after_a_crash_and_exports() {
    let (dir, model) = fresh_dir_with_tiny_model("lens");
    let prompts = write_parallel_prompts(&dir, 12);
    let space = dir.join("space");
    let common = [
        "--model",
        path_str(&model),
        "--langs",
        "en,es,zh",
        "--prompts",
        path_str(&prompts),
    ];
    let mut args = vec!["lens", "probe", "--out", path_str(&space)];
    args.extend(common);
    let probed = xlingo(&args);
    assert!(probed.status.success(), "{}", stderr(&probed));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(space.join("subspaces.json")).unwrap()).unwrap();
    assert_eq!(summary["rank"], 2, "L − 1 for 3 languages");
    assert_eq!(summary["prompts"], 12);
    let layers = summary["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        2,
        "one entry per decoder layer of the tiny model"
    );
    assert!(space.join("subspaces.safetensors").exists());
    assert!(space.join("lens-subspaces.svg").exists());

    let train = |out: &Path, extra: &[&str], abort: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlingo"));
        cmd.args([
            "lens",
            "train",
            "--space",
            path_str(&space),
            "--out",
            path_str(out),
        ])
        .args(common)
        .args(["--grad-accum", "2", "--lr", "0.003", "--top-layers", "1"])
        .args(["--save-every", "2"])
        .args(extra)
        .env("XLINGO_CACHE", scratch());
        if let Some(step) = abort {
            cmd.env("XLINGO_ABORT_AFTER_STEP", step);
        }
        cmd.output().unwrap()
    };
    let whole = dir.join("whole");
    let done = train(&whole, &["--steps", "6"], None);
    assert!(done.status.success(), "{}", stderr(&done));
    let metrics = read_jsonl(&whole.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 7, "step 0 and 6 steps");
    let total = |m: &serde_json::Value| m["eval"]["total"].as_f64().unwrap();
    assert!(
        total(&metrics[6]) < total(&metrics[0]),
        "the Lens loss falls: {} → {}",
        total(&metrics[0]),
        total(&metrics[6])
    );
    assert_eq!(
        metrics[0]["eval"]["retain"], 0.0,
        "nothing moved before training"
    );

    let crashed = dir.join("crashed");
    let aborted = train(&crashed, &["--steps", "6"], Some("3"));
    assert!(!aborted.status.success(), "the abort hook stops the run");
    let resumed = train(&crashed, &["--steps", "6", "--resume"], None);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let again = read_jsonl(&crashed.join("metrics.jsonl"));
    let losses = |m: &[serde_json::Value]| -> Vec<String> {
        m.iter()
            .map(|l| format!("{} {}", l["step"], l["loss"]))
            .collect()
    };
    assert_eq!(losses(&again), losses(&metrics), "resume continues exactly");

    let exported = dir.join("exported");
    let ok = train(
        &exported,
        &["--method", "lora", "--rank", "2", "--steps", "2"],
        None,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exported.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["config"]["top_layers"], 1);
    assert_eq!(summary["steps"], 2);
    // Only the top layer has adapters, and PEFT is told so.
    let adapter: serde_json::Value = serde_json::from_slice(
        &std::fs::read(exported.join("adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(adapter["layers_to_transform"], serde_json::json!([1]));
    let generated = xlingo(&[
        "generate",
        "--model",
        path_str(&exported.join("model-f16.gguf")),
        "--prompt",
        "hola",
        "--max-tokens",
        "4",
    ]);
    assert!(generated.status.success(), "{}", stderr(&generated));

    let missing = xlingo(&[
        "lens",
        "train",
        "--space",
        path_str(&space),
        "--out",
        path_str(&dir.join("bad")),
        "--model",
        path_str(&model),
        "--langs",
        "en,fr",
        "--prompts",
        path_str(&prompts),
    ]);
    assert_clean_failure(&missing, &["fr"]);
}

#[test]
fn analyze_writes_layerwise_similarity_and_resumes() {
    let (dir, model) = fresh_dir_with_tiny_model("analyze");
    let mut files = Vec::new();
    for (lang, words) in [
        ("en", "one two three"),
        ("es", "uno dos tres"),
        ("de", "eins zwei drei"),
    ] {
        let lines: Vec<String> = (0..6).map(|i| format!("{words} {i}")).collect();
        let path = dir.join(format!("text.{lang}"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        files.push(format!("{lang}={}", path.display()));
    }
    let out = dir.join("out");
    let run = || {
        let mut args = vec![
            "analyze",
            "--model",
            path_str(&model),
            "--out",
            path_str(&out),
        ];
        for f in &files {
            args.extend(["--file", f.as_str()]);
        }
        xlingo(&args)
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));
    let analysis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(analysis["passages"], 6);
    let layers = analysis["pooling"]["mean"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "embeddings and 2 layers");
    assert_eq!(
        layers[0]["pairs"].as_array().unwrap().len(),
        3,
        "3 language pairs"
    );
    for layer in layers {
        let cos = layer["mean_cosine"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&cos), "{cos}");
    }
    for svg in ["similarity.svg", "retrieval.svg", "pca.svg"] {
        assert!(out.join(svg).exists(), "{svg}");
    }
    let second = run();
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("states from"),
        "{}",
        stderr(&second)
    );
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(
        again["pooling"], analysis["pooling"],
        "the cached states give the same analysis"
    );

    let bad = xlingo(&[
        "analyze",
        "--model",
        path_str(&model),
        "--out",
        path_str(&out),
        "--file",
        "xx",
    ]);
    assert_clean_failure(&bad, &["LANG=FILE"]);
}

#[test]
fn experiment_scaling_runs_the_grid_resumes_after_a_crash_and_fits() {
    let (dir, model) = fresh_dir_with_tiny_model("experiment");
    let mut pairs = Vec::new();
    for (lang, words) in [
        ("es", ["el", "gato", "perro", "casa", "rojo"]),
        ("de", ["die", "Katze", "Hund", "Haus", "rot"]),
    ] {
        let english = ["the", "cat", "dog", "house", "red"];
        let lines: Vec<String> = (0..40)
            .map(|i| {
                let pick =
                    |w: &[&str]| format!("{} {} {} {i}", w[i % 5], w[(i / 5) % 5], w[(i + 2) % 5]);
                format!("{}\t{}", pick(&english), pick(&words))
            })
            .collect();
        let path = dir.join(format!("en-{lang}.tsv"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        pairs.push(format!("{lang}={}", path.display()));
    }
    let run = |out: &Path, extra: &[&str], abort: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xlingo"));
        cmd.args(["experiment", "scaling", "--model", path_str(&model)])
            .args(["--pairs", &pairs[0], "--pairs", &pairs[1]])
            .args([
                "--sizes",
                "4,8,12,16,20",
                "--test-size",
                "4",
                "--batch-size",
                "2",
            ])
            .args(["--save-every", "2", "--lr", "0.01", "--max-tokens", "8"])
            .args(["--engine", "reference", "--out", path_str(out)])
            .args(extra)
            .env("XLINGO_CACHE", scratch());
        if let Some(step) = abort {
            cmd.env("XLINGO_ABORT_AFTER_STEP", step);
        }
        cmd.output().unwrap()
    };
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    };

    // Killed in the middle of the first training run (after step 3 of 4), then rerun.
    let resumed = dir.join("resumed");
    let crashed = run(&resumed, &[], Some("3"));
    assert!(!crashed.status.success());
    assert!(!resumed.join("results.json").exists());
    let again = run(&resumed, &[], None);
    assert!(again.status.success(), "{}", stderr(&again));
    let log = stderr(&again);
    assert!(log.contains("resuming the experiment"), "{log}");
    assert!(
        log.contains("evaluation of the untrained model: done"),
        "{log}"
    );
    assert!(
        log.contains("resuming from"),
        "the training run resumes: {log}"
    );

    let straight = dir.join("straight");
    let once = run(&straight, &[], None);
    assert!(once.status.success(), "{}", stderr(&once));
    assert_eq!(
        read(resumed.join("results.json")),
        read(straight.join("results.json")),
        "an interrupted and resumed grid gives the same results"
    );

    let results = read(straight.join("results.json"));
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 12, "base + 5 sizes for 2 languages");
    let steps: Vec<u64> = runs
        .iter()
        .filter(|r| r["lang"] == "es" && r["pairs"] != 0)
        .map(|r| r["steps"].as_u64().unwrap())
        .collect();
    assert_eq!(
        steps,
        [4, 4, 6, 8, 10],
        "one epoch of batch 2, at least 4 steps"
    );
    for r in runs {
        let chrf = r["chrf"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&chrf), "{r}");
    }
    // Test and training pairs never share a source sentence.
    let test: Vec<String> = std::fs::read_to_string(straight.join("data/es/test.en"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(test.len(), 4);
    let pool = std::fs::read_to_string(straight.join("data/es/pool.tsv")).unwrap();
    assert_eq!(pool.lines().count(), 36);
    assert!(
        pool.lines()
            .all(|l| !test.iter().any(|t| l.starts_with(&format!("{t}\t"))))
    );

    let points = read(straight.join("points.json"));
    assert_eq!(points["de"].as_array().unwrap().len(), 5);
    assert_eq!(points["es"][2][0], 12.0);
    let es_12 = runs.iter().find(|r| r["lang"] == "es" && r["pairs"] == 12);
    assert_eq!(
        points["es"][2][1],
        es_12.unwrap()["chrf"],
        "points are the chosen metric (chrF)"
    );
    let fits = read(straight.join("fits.json"));
    assert!(
        fits["es"]["law"].is_object() && fits["de"]["law"].is_object(),
        "{fits}"
    );
    for file in ["fits.svg", "report.html", "available.json", "commands.sh"] {
        assert!(straight.join(file).exists(), "{file}");
    }
    let commands = std::fs::read_to_string(straight.join("commands.sh")).unwrap();
    assert_eq!(
        commands
            .lines()
            .filter(|l| l.starts_with("xlingo "))
            .count(),
        32
    );
    assert!(straight.join("runs/es/20/adapter").exists());
    assert!(!straight.join("runs/es/20/checkpoints").exists());
    assert!(
        !straight.join("runs/es/20/model-f16.gguf").exists(),
        "GGUF removed after its evaluation"
    );

    let changed = run(&straight, &["--seed", "1"], None);
    assert_clean_failure(&changed, &["other settings", "seed: 0 then, 1 now"]);
    let few = xlingo(&[
        "experiment",
        "scaling",
        "--pairs",
        &pairs[0],
        "--sizes",
        "4,8,12,16",
        "--out",
        path_str(&dir.join("few")),
    ]);
    assert_clean_failure(&few, &["--sizes", "at least five"]);
}

#[test]
fn data_muit_mixes_budgeted_pools_and_reports_shortfalls() {
    let dir = scratch().join("muit");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pool = |lang: &str, n: usize| {
        let lines: Vec<String> = (0..n)
            .map(|i| {
                serde_json::json!({"instruction": "Translate.", "input": format!("{lang} {i}"),
                    "output": format!("out {i}"), "lang": lang, "kind": "translation"})
                .to_string()
            })
            .collect();
        let path = dir.join(format!("{lang}.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        format!("{lang}={}", path.display())
    };
    let (es, zh) = (pool("es", 10), pool("zh", 3));
    let budgets = write("muit-budgets.json", br#"{"es": 6, "zh": 5}"#);
    let mix = |out: &str| {
        let out = dir.join(out);
        let o = xlingo(&[
            "data",
            "muit",
            "--pool",
            &es,
            "--pool",
            &zh,
            "--budgets",
            path_str(&budgets),
            "--out",
            path_str(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        (std::fs::read_to_string(out).unwrap(), stderr(&o))
    };
    let (first, log) = mix("a.jsonl");
    let rows: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 9);
    assert_eq!(rows.iter().filter(|r| r["lang"] == "es").count(), 6);
    assert_eq!(rows.iter().filter(|r| r["lang"] == "zh").count(), 3);
    assert!(
        log.contains("zh has 3 examples, fewer than its budget of 5"),
        "{log}"
    );
    assert_eq!(mix("b.jsonl").0, first, "the same seed gives the same mix");

    let bad = write("muit-bad.json", br#"{"es": -2}"#);
    let o = xlingo(&[
        "data",
        "muit",
        "--pool",
        &es,
        "--budgets",
        path_str(&bad),
        "--out",
        path_str(&dir.join("c.jsonl")),
    ]);
    assert_clean_failure(&o, &["muit-bad.json", "\"es\""]);
}

#[test]
fn eval_lm_scores_reference_responses_and_resumes() {
    let (dir, model) = fresh_dir_with_tiny_model("eval-lm");
    let data = dir.join("data.json");
    let records: Vec<serde_json::Value> = (0..7)
        .map(|i| serde_json::json!({"instruction": format!("Count to {i}."), "output": "1 2 3 ".repeat(i + 1)}))
        .collect();
    std::fs::write(&data, serde_json::to_string(&records).unwrap()).unwrap();
    let out = dir.join("lm");
    let run = |limit: &str| {
        let o = xlingo(&[
            "eval",
            "lm",
            "--model",
            path_str(&model),
            "--data",
            path_str(&data),
            "--skip",
            "1",
            "--limit",
            limit,
            "--batch-size",
            "2",
            "--out",
            path_str(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        (summary, stderr(&o))
    };
    let (first, _) = run("3");
    assert_eq!(first["records"], 3);
    let (nll, ppl, acc) = (
        first["nll_per_token"].as_f64().unwrap(),
        first["perplexity"].as_f64().unwrap(),
        first["accuracy"].as_f64().unwrap(),
    );
    assert!(nll > 0.0 && (ppl - nll.exp()).abs() < 1e-9 * ppl, "{first}");
    assert!((0.0..=100.0).contains(&acc));
    // The totals are the sums of the per-record lines (records 1, 2, 3).
    let lines = read_jsonl(&out.join("scores.jsonl"));
    let indices: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, [1, 2, 3]);
    let targets: u64 = lines.iter().map(|l| l["targets"].as_u64().unwrap()).sum();
    assert_eq!(first["targets"].as_u64().unwrap(), targets);

    // Asking for more resumes: only records 4 and 5 are scored now.
    let (second, log) = run("5");
    assert!(log.contains("3 of 5 records already scored"), "{log}");
    assert_eq!(second["records"], 5);
    assert_eq!(read_jsonl(&out.join("scores.jsonl")).len(), 5);
    let again = xlingo(&[
        "eval",
        "lm",
        "--model",
        path_str(&model),
        "--data",
        path_str(&data),
        "--skip",
        "9",
        "--out",
        path_str(&dir.join("none")),
    ]);
    assert_clean_failure(&again, &["data.json", "no records", "--skip 9"]);
}

#[test]
fn eval_translation_scores_spbleu_with_a_sentencepiece_model() {
    let (dir, model) = fresh_dir_with_tiny_model("spbleu");
    let text = dir.join("text.en");
    std::fs::write(&text, "the cat sees the dog\nred house\n").unwrap();
    let spm = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../eval/tests/fixtures/spm-bpe.model"
    );
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "translation",
            "--model",
            path_str(&model),
            "--source",
            path_str(&text),
            "--reference",
            path_str(&text),
            "--target-lang",
            "es",
            "--max-tokens",
            "4",
            "--engine",
            "reference",
            "--tokenize",
            "flores101",
        ];
        args.extend(extra);
        let out = dir.join(out);
        args.extend(["--out", path_str(&out)]);
        (xlingo(&args), out)
    };
    let (ok, out) = run("with-model", &["--spm-model", spm]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let signature = summary["bleu"]["signature"].as_str().unwrap();
    assert!(signature.contains("|tok:flores101|"), "{signature}");
    let (missing, _) = run("without-model", &[]);
    assert_clean_failure(&missing, &["--spm-model", "sacrebleu_tokenizer_spm.model"]);
}
