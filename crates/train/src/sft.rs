//! Supervised fine-tuning: all weights, or LoRA adapters on chosen projections (burn's
//! `apply_lora`: the base weights frozen, `W + (alpha / r) · A·B` with B = 0 at the start, so
//! training starts from exactly the loaded model).

use burn::module::{Lora, Module, ParamGroup};
use burn::optim::{
    AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer,
    grad_clipping::GradientClippingConfig,
};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use xlingo_model::llama::Llama;

use crate::batch::{Batch, Example};
use crate::error::{Result, TrainError};
use crate::loss::{causal_lm_loss, scalar};
use crate::schedule::CosineSchedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every weight is trained.
    Full,
    /// Only low-rank adapters on the target projections are trained.
    Lora,
}

/// The projections LoRA can adapt, by the names PEFT users know.
pub const LORA_TARGETS: [&str; 7] = ["q", "k", "v", "o", "gate", "up", "down"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraSettings {
    pub rank: usize,
    pub alpha: f64,
    /// Any of [`LORA_TARGETS`].
    pub targets: Vec<String>,
}

impl Default for LoraSettings {
    /// Rank 8, alpha 16 on the attention query and value projections (PEFT's usual start).
    fn default() -> Self {
        LoraSettings {
            rank: 8,
            alpha: 16.0,
            targets: vec!["q".into(), "v".into()],
        }
    }
}

impl LoraSettings {
    /// The regular expression over burn parameter paths (`layers.3.attn.q.weight`), for the
    /// given layers (None: all).
    fn param_regex(&self, layers: Option<std::ops::Range<usize>>) -> Result<String> {
        let mut parts = Vec::new();
        for t in &self.targets {
            let path = match t.as_str() {
                "q" | "k" | "v" | "o" => format!("attn\\.{t}"),
                "gate" | "up" | "down" => format!("ffn\\.{t}"),
                other => {
                    return Err(TrainError::Config(format!(
                        "unknown LoRA target `{other}` (choose from {})",
                        LORA_TARGETS.join(", ")
                    )));
                }
            };
            parts.push(path);
        }
        if parts.is_empty() || self.rank == 0 {
            return Err(TrainError::Config(
                "LoRA needs a rank ≥ 1 and at least one target".into(),
            ));
        }
        let layer = match layers {
            None => r"\d+".to_string(),
            Some(range) => format!(
                "({})",
                range.map(|i| i.to_string()).collect::<Vec<_>>().join("|")
            ),
        };
        Ok(format!(r"^layers\.{layer}\.({})\.weight$", parts.join("|")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    pub method: Method,
    pub lora: LoraSettings,
    pub schedule: CosineSchedule,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Clip gradients to this L2 norm (None: no clipping). burn's clipping bounds each
    /// parameter tensor's gradient on its own, not the global norm over all of them.
    pub max_grad_norm: Option<f32>,
    pub weight_decay: f32,
    /// Seeds the device's random generator before the LoRA factors are drawn, so a run (and
    /// its resumption) is reproducible.
    pub seed: u64,
    /// Train only the top K decoder layers (all their weights, or LoRA on their targets);
    /// embeddings, the lower layers, the final norm and the LM head stay frozen. None: the
    /// whole model (full) or every layer's targets (LoRA).
    #[serde(default)]
    pub top_layers: Option<usize>,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            method: Method::Lora,
            lora: LoraSettings::default(),
            schedule: CosineSchedule {
                peak_lr: 2e-4,
                min_lr: 0.0,
                warmup_steps: 10,
                total_steps: 300,
            },
            batch_size: 4,
            grad_accum: 4,
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            seed: 0,
            top_layers: None,
        }
    }
}

/// What one optimizer step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based number of the step just taken.
    pub step: usize,
    /// Mean loss per target token over the step's micro-batches.
    pub loss: f32,
    pub lr: f64,
    /// Target tokens that counted in the loss.
    pub tokens: usize,
    /// Tokens fed to the model (every example's length, padding excluded).
    #[serde(default)]
    pub input_tokens: usize,
}

/// A model being fine-tuned, its optimizer and the step count.
pub struct Trainer {
    model: Llama,
    optim: ModuleOptimizer,
    config: SftConfig,
    step: usize,
    device: Device,
}

impl Trainer {
    /// `model` must live on an autodiff device (e.g. `Device::flex().autodiff()`).
    pub fn new(model: Llama, config: SftConfig, device: Device) -> Result<Trainer> {
        if config.batch_size == 0 || config.grad_accum == 0 {
            return Err(TrainError::Config(
                "batch size and gradient accumulation must be ≥ 1".into(),
            ));
        }
        device.seed(config.seed);
        let trained = trained_layers(&config, model.n_layers())?;
        let model = match config.method {
            Method::Full if config.top_layers.is_some() => freeze_all_but(model, trained),
            Method::Full => model,
            Method::Lora => {
                let layers = config.top_layers.map(|_| trained);
                let group = ParamGroup::from_regex(config.lora.param_regex(layers)?)
                    .map_err(|e| TrainError::Config(format!("LoRA targets: {e:?}")))?;
                model.apply_lora(
                    Lora::new(config.lora.rank, config.lora.alpha).set_param_group(group),
                )
            }
        };
        let mut adamw = AdamWConfig::new().with_weight_decay(config.weight_decay);
        if let Some(norm) = config.max_grad_norm {
            adamw = adamw.with_grad_clipping(Some(GradientClippingConfig::Norm(norm)));
        }
        Ok(Trainer {
            model,
            optim: adamw.init(),
            config,
            step: 0,
            device,
        })
    }

    pub fn model(&self) -> &Llama {
        &self.model
    }

    pub fn config(&self) -> &SftConfig {
        &self.config
    }

    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optim
    }

    /// Replace the model and optimizer state with a checkpoint's (see `checkpoint::resume`).
    pub fn restore(
        mut self,
        model: impl FnOnce(Llama) -> Result<Llama>,
        optim: impl FnOnce(ModuleOptimizer) -> Result<ModuleOptimizer>,
        step: usize,
    ) -> Result<Trainer> {
        self.model = model(self.model)?;
        self.optim = optim(self.optim)?;
        self.step = step;
        Ok(self)
    }

    /// Optimizer steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Trainable parameters: every weight, or r·(in + out) per adapted matrix with LoRA.
    pub fn trainable_params(&self) -> usize {
        let layers = trained_layers(&self.config, self.model.n_layers()).unwrap_or(0..0);
        if self.config.method == Method::Full {
            return match self.config.top_layers {
                None => self.model.num_params(),
                Some(_) => self.model.layers[layers]
                    .iter()
                    .map(|l| l.num_params())
                    .sum(),
            };
        }
        let r = self.config.lora.rank;
        let adapted = |l: &burn::nn::Linear| {
            let dims = l.weight.lazy_shape().dims::<2>();
            r * (dims[0] + dims[1])
        };
        self.model.layers[layers]
            .iter()
            .flat_map(|layer| {
                self.config
                    .lora
                    .targets
                    .iter()
                    .filter_map(move |t| target_linear(layer, t))
            })
            .map(adapted)
            .sum()
    }

    /// One optimizer step over `micro_batches` (gradient accumulation). Each micro-batch's loss
    /// is weighted by its share of the step's target tokens, so the step follows the mean loss
    /// per token whatever the split. A non-finite loss stops before any update.
    pub fn step(&mut self, micro_batches: &[Vec<&Example>]) -> Result<StepReport> {
        let tokens: usize = micro_batches.iter().flatten().map(|e| e.targets()).sum();
        let input_tokens = micro_batches.iter().flatten().map(|e| e.ids.len()).sum();
        if tokens == 0 {
            return Err(TrainError::Config(
                "a step without target tokens (every example's loss mask is empty)".into(),
            ));
        }
        let micro: Vec<_> = micro_batches.iter().filter(|m| !m.is_empty()).collect();
        let device = self.device.clone();
        let (loss, lr) = self.step_with(micro.len(), |model, i| {
            let batch = Batch::new(micro[i], &device);
            let share = batch.n_targets as f32 / tokens as f32;
            Ok(causal_lm_loss(model, &batch).mul_scalar(share))
        })?;
        Ok(StepReport {
            step: self.step,
            loss,
            lr,
            tokens,
            input_tokens,
        })
    }

    /// One optimizer step over `n_micro` micro-batches whose losses the caller computes
    /// (`micro_loss(model, i)`, each already weighted by its share of the step), with
    /// gradient accumulation. Returns the summed loss and the learning rate used. A
    /// non-finite loss stops before any update, naming the step.
    pub fn step_with(
        &mut self,
        n_micro: usize,
        mut micro_loss: impl FnMut(&Llama, usize) -> Result<Tensor<1>>,
    ) -> Result<(f32, f64)> {
        let lr = self.config.schedule.lr(self.step);
        let mut accumulator = GradientsAccumulator::new();
        let mut loss_sum = 0.0f64;
        for i in 0..n_micro {
            let loss = micro_loss(&self.model, i)?;
            let value = scalar(&loss);
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    step: self.step + 1,
                    value,
                    lr,
                });
            }
            loss_sum += value as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            accumulator.accumulate(&self.model, grads);
        }
        let model = self.model.clone();
        self.model = self.optim.step(lr, model, accumulator.grads());
        self.step += 1;
        Ok((loss_sum as f32, lr))
    }

    /// Mean loss per target token over `examples`, without gradients.
    pub fn eval_loss(&self, examples: &[Example]) -> f32 {
        let model = self.model.valid();
        let (mut total, mut tokens) = (0.0f64, 0usize);
        for chunk in examples.chunks(self.config.batch_size) {
            let refs: Vec<&Example> = chunk.iter().collect();
            let batch = Batch::new(&refs, &model_device(&model));
            if batch.n_targets == 0 {
                continue;
            }
            total += scalar(&causal_lm_loss(&model, &batch)) as f64 * batch.n_targets as f64;
            tokens += batch.n_targets;
        }
        (total / tokens.max(1) as f64) as f32
    }
}

/// The parameters a run changes, which is all a checkpoint needs beside the model file the run
/// started from: LoRA's factors, or the top layers' weights; `None` when every weight trains.
pub(crate) fn trained_group(config: &SftConfig, n_layers: usize) -> Result<Option<ParamGroup>> {
    let pattern = match (config.method, config.top_layers) {
        (Method::Lora, _) => r"\.lora\.(a|b)$".to_string(),
        (Method::Full, Some(_)) => {
            let layers: Vec<String> = trained_layers(config, n_layers)?
                .map(|i| i.to_string())
                .collect();
            format!(r"(^|\.)layers\.({})\.", layers.join("|"))
        }
        (Method::Full, None) => return Ok(None),
    };
    ParamGroup::from_regex(&pattern)
        .map(Some)
        .map_err(|e| TrainError::Config(format!("checkpoint group {pattern}: {e:?}")))
}

/// The decoder layers a config trains: the top K, or all.
pub(crate) fn trained_layers(
    config: &SftConfig,
    n_layers: usize,
) -> Result<std::ops::Range<usize>> {
    match config.top_layers {
        None => Ok(0..n_layers),
        Some(k) if k == 0 || k > n_layers => Err(TrainError::Config(format!(
            "top_layers = {k}: the model has {n_layers} decoder layers (choose 1..={n_layers})"
        ))),
        Some(k) => Ok(n_layers - k..n_layers),
    }
}

/// Freeze everything except the decoder layers in `trained`.
fn freeze_all_but(mut model: Llama, trained: std::ops::Range<usize>) -> Llama {
    model.embed = model.embed.no_grad();
    model.norm = model.norm.no_grad();
    model.lm_head = model.lm_head.map(Module::no_grad);
    model.layers = model
        .layers
        .into_iter()
        .enumerate()
        .map(|(i, layer)| {
            if trained.contains(&i) {
                layer
            } else {
                layer.no_grad()
            }
        })
        .collect();
    model
}

fn model_device(model: &Llama) -> Device {
    model.embed.weight.val().device()
}

/// The projection a LoRA target names (one of [`LORA_TARGETS`]) in a decoder layer.
pub(crate) fn target_linear<'a>(
    layer: &'a xlingo_model::llama::DecoderLayer,
    target: &str,
) -> Option<&'a burn::nn::Linear> {
    Some(match target {
        "q" => &layer.attn.q,
        "k" => &layer.attn.k,
        "v" => &layer.attn.v,
        "o" => &layer.attn.o,
        "gate" => &layer.ffn.gate,
        "up" => &layer.ffn.up,
        "down" => &layer.ffn.down,
        _ => return None,
    })
}
