//! Supervised fine-tuning on tiny random models (burn's CPU backend with autodiff): the loss
//! is the response tokens' mean negative log-likelihood, training lowers it (full and LoRA),
//! LoRA leaves the base weights alone, gradient accumulation equals one large batch, and a
//! non-finite loss stops training with the step named.

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use xlingo_formats::tiny::{gguf_metadata, random_weights, tiny_config};
use xlingo_formats::{GgmlType, Gguf};
use xlingo_model::LoadedModel;
use xlingo_model::llama::{ForwardOptions, Llama};
use xlingo_train::loss::causal_lm_loss;
use xlingo_train::{
    Batch, CosineSchedule, Example, LoraSettings, Method, SftConfig, TrainError, Trainer,
    score_targets,
};

fn device() -> Device {
    Device::flex().autodiff()
}

fn tiny_model(device: &Device, edit: impl FnOnce(&mut Vec<f32>)) -> Llama {
    let config = tiny_config("llama");
    let mut weights = random_weights(&config, 5);
    edit(&mut weights.get_mut("token_embd.weight").unwrap().1);
    let bytes =
        xlingo_formats::tiny::write_gguf(gguf_metadata(&config), &weights, GgmlType::F32).unwrap();
    let gguf = Gguf::from_bytes(bytes).unwrap();
    LoadedModel::from_gguf(&gguf, device).unwrap().model
}

/// A task the tiny model can learn in a few steps: after a prompt, answer 40 41 42 43.
fn examples() -> Vec<Example> {
    (0..8u32)
        .map(|i| Example::prompt_response(&[3 + i, 10 + i, 20 + 2 * i, 7], &[40, 41, 42, 43]))
        .collect()
}

fn config(method: Method, lr: f64, steps: usize) -> SftConfig {
    SftConfig {
        method,
        lora: LoraSettings {
            rank: 4,
            alpha: 8.0,
            targets: vec!["q".into(), "v".into(), "o".into(), "up".into()],
            dropout: 0.0,
        },
        schedule: CosineSchedule {
            peak_lr: lr,
            min_lr: lr / 10.0,
            warmup_steps: 2,
            total_steps: steps,
        },
        batch_size: 4,
        grad_accum: 1,
        max_grad_norm: Some(1.0),
        weight_decay: 0.0,
        seed: 1,
        top_layers: None,
    }
}

fn train(trainer: &mut Trainer, data: &[Example], steps: usize) {
    for s in 0..steps {
        let start = (s * 4) % data.len();
        let micro: Vec<&Example> = data[start..start + 4].iter().collect();
        trainer.step(&[micro]).unwrap();
    }
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn the_loss_is_the_mean_nll_of_the_response_tokens() {
    let device = Device::flex();
    let model = tiny_model(&device, |_| {});
    let data = examples();
    let batch_examples: Vec<&Example> = data[..2].iter().collect();
    let batch = Batch::new(&batch_examples, &device);
    let got = causal_lm_loss(&model, &batch)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()[0];

    // By hand: log-softmax of each sequence's logits, the next token's entry at the masked
    // positions, averaged over all of them.
    let mut total = 0.0f64;
    let mut n = 0;
    for e in &data[..2] {
        let ids: Vec<i64> = e.ids.iter().map(|&x| x as i64).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, e.ids.len()]), &device);
        let logits = model
            .forward(tokens, &mut model.new_cache(), ForwardOptions::default())
            .logits;
        let vocab = logits.dims()[2];
        let lp = log_softmax(logits, 2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for t in 0..e.ids.len() {
            if e.loss_on_next[t] {
                total -= lp[t * vocab + e.ids[t + 1] as usize] as f64;
                n += 1;
            }
        }
    }
    assert_eq!(n, 8);
    let want = total / n as f64;
    assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn target_scores_are_each_examples_nll_and_arg_max_hits() {
    let device = Device::flex();
    let model = tiny_model(&device, |_| {});
    // Different lengths, so the shorter ones are padded in the batch.
    let data = [
        Example::prompt_response(&[3, 10, 20, 7], &[40, 41, 42, 43]),
        Example::prompt_response(&[5, 9], &[12, 13]),
        Example::prompt_response(&[8, 30, 31, 32, 33, 7], &[50]),
    ];
    let refs: Vec<&Example> = data.iter().collect();
    let scores = score_targets(&model, &Batch::new(&refs, &device));
    assert_eq!(scores.len(), 3);
    for (e, score) in data.iter().zip(&scores) {
        let ids: Vec<i64> = e.ids.iter().map(|&x| x as i64).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, e.ids.len()]), &device);
        let logits = model
            .forward(tokens, &mut model.new_cache(), ForwardOptions::default())
            .logits;
        let vocab = logits.dims()[2];
        let raw = logits.clone().into_data().try_to_vec::<f32>().unwrap();
        let lp = log_softmax(logits, 2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (mut nll, mut correct, mut n) = (0.0f64, 0, 0);
        for t in (0..e.ids.len()).filter(|&t| e.loss_on_next[t]) {
            let next = e.ids[t + 1] as usize;
            nll -= lp[t * vocab + next] as f64;
            let row = &raw[t * vocab..(t + 1) * vocab];
            let best = (0..vocab)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap();
            correct += (best == next) as usize;
            n += 1;
        }
        assert_eq!(score.targets, n);
        assert_eq!(score.correct, correct);
        assert!((score.nll - nll).abs() < 1e-3, "{} vs {nll}", score.nll);
    }
    assert_eq!(scores.iter().map(|s| s.targets).sum::<usize>(), 7);
}

#[test]
fn lora_lowers_the_loss_and_leaves_the_base_weights_alone() {
    let device = device();
    let data = examples();
    let model = tiny_model(&device, |_| {});
    let embed_before = values(model.embed.weight.val());
    let norm_before = model.layers[0].attn_norm.gamma.val().into_data();
    let mut trainer = Trainer::new(model, config(Method::Lora, 1e-2, 40), device).unwrap();
    // Adapters start at B = 0: the model is exactly the loaded one.
    let before = trainer.eval_loss(&data);
    // r · (in + out) for q (64→64), v (64→32), o (64→64) and up (64→128), in each of 2 layers.
    assert_eq!(trainer.trainable_params(), 2 * 4 * (128 + 96 + 128 + 192));
    train(&mut trainer, &data, 40);
    let after = trainer.eval_loss(&data);
    println!("LoRA: loss {before:.3} → {after:.3}");
    assert!(after < 0.5 * before, "loss {before} → {after}");
    let model = trainer.model();
    assert_eq!(values(model.embed.weight.val()), embed_before);
    assert_eq!(
        model.layers[0].attn_norm.gamma.val().into_data(),
        norm_before
    );
}

#[test]
fn full_fine_tuning_lowers_the_loss() {
    let device = device();
    let data = examples();
    let model = tiny_model(&device, |_| {});
    let embed_before = values(model.embed.weight.val());
    let mut trainer = Trainer::new(model, config(Method::Full, 3e-3, 30), device).unwrap();
    let before = trainer.eval_loss(&data);
    train(&mut trainer, &data, 30);
    let after = trainer.eval_loss(&data);
    println!("full: loss {before:.3} → {after:.3}");
    assert!(after < 0.5 * before, "loss {before} → {after}");
    assert_ne!(values(trainer.model().embed.weight.val()), embed_before);
}

/// With `top_layers`, only the top decoder layers change (full) or get adapters (LoRA); the
/// embeddings, lower layers, final norm and LM head are bit-identical after training.
#[test]
fn top_layer_training_changes_only_the_top_layers() {
    for method in [Method::Full, Method::Lora] {
        let device = device();
        let data = examples();
        let model = tiny_model(&device, |_| {});
        let bottom_before = values(model.layers[0].attn.q.weight.val());
        let top_before = values(model.layers[1].attn.q.weight.val());
        let embed_before = values(model.embed.weight.val());
        let norm_before = model.norm.gamma.val().into_data();
        let mut cfg = config(method, 3e-3, 10);
        cfg.top_layers = Some(1);
        let mut trainer = Trainer::new(model, cfg, device).unwrap();
        let expected = match method {
            // The whole top layer: 4 attention + 3 FFN matrices and 2 norms.
            Method::Full => trainer.model().layers[1].num_params(),
            // r · (in + out) for q, v, o, up of the top layer only.
            Method::Lora => 4 * (128 + 96 + 128 + 192),
        };
        assert_eq!(trainer.trainable_params(), expected);
        let before = trainer.eval_loss(&data);
        train(&mut trainer, &data, 10);
        let after = trainer.eval_loss(&data);
        assert!(after < before, "{method:?}: loss {before} → {after}");
        let model = trainer.model();
        assert_eq!(values(model.layers[0].attn.q.weight.val()), bottom_before);
        assert_eq!(values(model.embed.weight.val()), embed_before);
        assert_eq!(model.norm.gamma.val().into_data(), norm_before);
        assert_ne!(values(model.layers[1].attn.q.weight.val()), top_before);
        assert!(model.layers[0].attn.q.weight.adapter().is_none());
    }
    let mut cfg = config(Method::Full, 1e-3, 1);
    cfg.top_layers = Some(3);
    let err = Trainer::new(tiny_model(&device(), |_| {}), cfg, device())
        .err()
        .unwrap();
    assert!(err.to_string().contains("top_layers = 3"), "{err}");
}

#[test]
fn gradient_accumulation_equals_one_large_batch() {
    let data = examples();
    // Different lengths, so that padding and per-token weighting matter.
    let mut long = data[1].clone();
    long.ids.extend([50, 51, 52]);
    long.loss_on_next
        .splice(long.loss_on_next.len() - 1.., [true, true, true, true]);
    let pair = [data[0].clone(), long];
    let run = |split: bool| {
        let device = device();
        let mut cfg = config(Method::Full, 1e-2, 10);
        cfg.max_grad_norm = None;
        let mut trainer = Trainer::new(tiny_model(&device, |_| {}), cfg, device).unwrap();
        let report = if split {
            trainer.step(&[vec![&pair[0]], vec![&pair[1]]]).unwrap()
        } else {
            trainer.step(&[vec![&pair[0], &pair[1]]]).unwrap()
        };
        (report.loss, report.tokens, trainer.eval_loss(&data))
    };
    let (whole_loss, whole_tokens, whole_after) = run(false);
    let (split_loss, split_tokens, split_after) = run(true);
    assert_eq!(whole_tokens, split_tokens);
    assert!(
        (whole_loss - split_loss).abs() < 1e-5,
        "{whole_loss} vs {split_loss}"
    );
    assert!(
        (whole_after - split_after).abs() < 1e-4,
        "{whole_after} vs {split_after}"
    );
}

#[test]
fn a_non_finite_loss_stops_training_and_names_the_step() {
    let device = device();
    let data = examples();
    let model = tiny_model(&device, |embedding| embedding[64 * 7 + 3] = f32::NAN);
    let mut trainer = Trainer::new(model, config(Method::Lora, 1e-2, 10), device).unwrap();
    let micro: Vec<&Example> = data[..4].iter().collect();
    match trainer.step(&[micro]) {
        Err(TrainError::NonFinite { step, value, .. }) => {
            assert_eq!(step, 1);
            assert!(value.is_nan());
        }
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
    assert_eq!(trainer.steps_done(), 0);
}

#[test]
fn unknown_lora_targets_are_refused() {
    let device = device();
    let mut cfg = config(Method::Lora, 1e-2, 10);
    cfg.lora.targets = vec!["q".into(), "qkv".into()];
    let err = Trainer::new(tiny_model(&device, |_| {}), cfg, device)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("`qkv`"), "{err}");
}

/// Losses of `steps` optimizer steps from `from` on, batches chosen by `step_batches`.
fn run_steps(trainer: &mut Trainer, data: &[Example], from: usize, steps: usize) -> Vec<f32> {
    (from..from + steps)
        .map(|step| {
            let micro: Vec<Vec<&Example>> = xlingo_train::step_batches(data.len(), 2, 2, step, 11)
                .into_iter()
                .map(|idx| idx.into_iter().map(|i| &data[i]).collect())
                .collect();
            trainer.step(&micro).unwrap().loss
        })
        .collect()
}

#[test]
fn a_resumed_run_continues_exactly_like_an_uninterrupted_one() {
    for method in [Method::Lora, Method::Full] {
        let data = examples();
        let cfg = config(method, 5e-3, 8);
        let scratch = |name: &str| {
            let dir = std::env::temp_dir().join(format!(
                "xlingo-resume-{method:?}-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        // Both runs start from the same adapters: the LoRA factors are drawn from the device's
        // random generator, which other tests running in parallel also draw from.
        let start = scratch("start");
        let dev = device();
        let initial = Trainer::new(tiny_model(&dev, |_| {}), cfg.clone(), dev).unwrap();
        xlingo_train::checkpoint::save(&initial, &start, serde_json::json!({}), 1).unwrap();
        let from_start = || {
            let dev = device();
            let dir = start.join("step-000000");
            xlingo_train::checkpoint::resume(tiny_model(&dev, |_| {}), &dir, dev)
                .unwrap()
                .0
        };
        let mut straight = from_start();
        let want = run_steps(&mut straight, &data, 0, 8);

        let root = scratch("run");
        let mut first = from_start();
        let mut got = run_steps(&mut first, &data, 0, 3);
        xlingo_train::checkpoint::save(&first, &root, serde_json::json!({"seed": 11}), 2).unwrap();
        got.extend(run_steps(&mut first, &data, 3, 2));
        xlingo_train::checkpoint::save(&first, &root, serde_json::json!({"seed": 11}), 2).unwrap();
        // "Killed" after step 5 (the work after the last checkpoint is lost): resume from
        // the files alone, in a fresh model loaded from the same base weights.
        drop(first);
        got.truncate(5);
        let dir = xlingo_train::checkpoint::latest(&root)
            .unwrap()
            .expect("a checkpoint");
        assert!(dir.ends_with("step-000005"), "{}", dir.display());
        let dev = device();
        let (mut resumed, state) =
            xlingo_train::checkpoint::resume(tiny_model(&dev, |_| {}), &dir, dev).unwrap();
        assert_eq!(state.step, 5);
        assert_eq!(state.extra["seed"], 11);
        got.extend(run_steps(&mut resumed, &data, 5, 3));
        println!("{method:?}: {want:?}");
        for (i, (a, b)) in want.iter().zip(&got).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                "{method:?} step {}: {a} vs {b}",
                i + 1
            );
        }
        // Only the newest two checkpoints are kept, and no partial directory is left behind.
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["latest", "step-000003", "step-000005"]);
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_dir_all(&start);
    }
}

/// LoRA dropout drops the adapters' input while training only: the training forward is
/// random, the evaluation forward (`valid()`) is exactly `W0 + s·A·B`, the branch written
/// out (`x·W0 + s·(x·A)·B`, dropout ~0) equals it, training still learns, and the PEFT
/// export records the rate.
#[test]
fn lora_dropout_acts_while_training_only() {
    let device = device();
    let mut cfg = config(Method::Lora, 1e-2, 12);
    cfg.lora.dropout = 0.3;
    let mut trainer = Trainer::new(tiny_model(&device, |_| {}), cfg, device.clone()).unwrap();
    let data = examples();
    let before = trainer.eval_loss(&data);
    train(&mut trainer, &data, 12);
    let after = trainer.eval_loss(&data);
    assert!(after < 0.8 * before, "{before} → {after}");

    let vocab = tiny_config("llama").vocab_size;
    let logits = |m: &Llama| {
        let ids =
            xlingo_model::llama::token_tensor(&[3, 10, 20, 7, 40], &m.embed.weight.val().device());
        values(
            m.forward(ids, &mut m.new_cache(), ForwardOptions::default())
                .logits
                .reshape([5, vocab]),
        )
    };
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    let eval = logits(&trainer.model().valid());
    let dropped = logits(trainer.model());
    assert!(
        max_diff(&eval, &dropped) > 1e-3,
        "dropout changed nothing while training"
    );
    let mut branch = trainer.model().clone();
    branch.set_lora_dropout(1e-9);
    let d = max_diff(&eval, &logits(&branch));
    assert!(d < 1e-4, "branch form vs merged weight: {d}");

    let dir = std::env::temp_dir().join(format!("xlingo-lora-dropout-{}", std::process::id()));
    let config = xlingo_formats::ModelConfig::from_gguf(
        &Gguf::from_bytes(
            xlingo_formats::tiny::write_gguf(
                gguf_metadata(&tiny_config("llama")),
                &random_weights(&tiny_config("llama"), 5),
                GgmlType::F32,
            )
            .unwrap(),
        )
        .unwrap()
        .header,
    )
    .unwrap();
    xlingo_train::export::export_peft(
        trainer.model(),
        &config,
        &trainer.config().lora,
        "tiny",
        &dir,
    )
    .unwrap();
    let adapter: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(adapter["lora_dropout"], 0.3);
    std::fs::remove_dir_all(&dir).ok();
}
