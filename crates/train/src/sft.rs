//! Supervised fine-tuning: all weights, or LoRA adapters on chosen projections (the base
//! weights frozen, `W + (alpha / r) · A·B` with B = 0 at the start, so training starts from
//! exactly the loaded model; see [`crate::lora`]).
//!
//! A step is two halves so that it runs where reading a number off the GPU must wait (the
//! browser): [`Trainer::backward`] queues the forward and backward passes and returns the
//! loss as a tensor; the caller reads it (synchronously natively, with `into_data_async` on
//! WebGPU) and [`Trainer::apply`] updates the weights only if it is finite.

use burn::module::{Module, ParamGroup};
use burn::optim::{
    AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer,
    grad_clipping::GradientClippingConfig,
};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use xlingo_model::llama::Llama;

use crate::batch::{Batch, Example};
use crate::error::{Result, TrainError};
use crate::lora::SeededLora;
use crate::loss::{causal_lm_loss, scalar};
use crate::readout::{read_values, read_values_async};
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
    /// Dropout on the input of the low-rank branch while training (PEFT's `lora_dropout`).
    #[serde(default)]
    pub dropout: f64,
}

impl Default for LoraSettings {
    /// Rank 8, alpha 16 on the attention query and value projections (PEFT's usual start).
    fn default() -> Self {
        LoraSettings {
            rank: 8,
            alpha: 16.0,
            targets: vec!["q".into(), "v".into()],
            dropout: 0.0,
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
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(TrainError::Config(format!(
                "LoRA dropout {} must be in [0, 1)",
                self.dropout
            )));
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
    /// Seeds the LoRA factors (drawn on the host, the same on every device) and the data
    /// order, so a run (and its resumption) is reproducible.
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
                let mut model = model.apply_reparameterization(SeededLora {
                    rank: config.lora.rank,
                    alpha: config.lora.alpha,
                    seed: config.seed,
                    group,
                });
                model.set_lora_dropout(config.lora.dropout);
                model
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
        let (pending, mut report) = self.backward_batches(micro_batches)?;
        report.loss = scalar(&pending.loss);
        self.finish(pending, report)
    }

    /// [`Trainer::step`] where the loss must be read asynchronously (WebGPU in the browser).
    pub async fn step_async(&mut self, micro_batches: &[Vec<&Example>]) -> Result<StepReport> {
        let (pending, mut report) = self.backward_batches(micro_batches)?;
        report.loss = read_values_async(pending.loss.clone())
            .await?
            .first()
            .copied()
            .unwrap_or(f32::NAN);
        self.finish(pending, report)
    }

    fn backward_batches(
        &mut self,
        micro_batches: &[Vec<&Example>],
    ) -> Result<(PendingStep, StepReport)> {
        let tokens: usize = micro_batches.iter().flatten().map(|e| e.targets()).sum();
        let input_tokens = micro_batches.iter().flatten().map(|e| e.ids.len()).sum();
        if tokens == 0 {
            return Err(TrainError::Config(
                "a step without target tokens (every example's loss mask is empty)".into(),
            ));
        }
        let micro: Vec<_> = micro_batches.iter().filter(|m| !m.is_empty()).collect();
        let device = self.device.clone();
        let pending = self.backward(micro.len(), |model, i| {
            let batch = Batch::new(micro[i], &device);
            let share = batch.n_targets as f32 / tokens as f32;
            Ok(causal_lm_loss(model, &batch).mul_scalar(share))
        })?;
        let report = StepReport {
            step: self.step + 1,
            loss: f32::NAN,
            lr: pending.lr,
            tokens,
            input_tokens,
        };
        Ok((pending, report))
    }

    fn finish(&mut self, pending: PendingStep, report: StepReport) -> Result<StepReport> {
        self.apply(pending, report.loss)?;
        Ok(report)
    }

    /// One optimizer step over `n_micro` micro-batches whose losses the caller computes
    /// (`micro_loss(model, i)`, each already weighted by its share of the step), with
    /// gradient accumulation. Returns the summed loss and the learning rate used. A
    /// non-finite loss stops before any update, naming the step.
    pub fn step_with(
        &mut self,
        n_micro: usize,
        micro_loss: impl FnMut(&Llama, usize) -> Result<Tensor<1>>,
    ) -> Result<(f32, f64)> {
        let pending = self.backward(n_micro, micro_loss)?;
        let loss = scalar(&pending.loss);
        let lr = self.apply(pending, loss)?;
        Ok((loss, lr))
    }

    /// The first half of a step: forward and backward passes over `n_micro` micro-batches
    /// (`micro_loss(model, i)`, each already weighted by its share of the step), gradients
    /// accumulated. Nothing is read off the device and no weight changes.
    pub fn backward(
        &mut self,
        n_micro: usize,
        mut micro_loss: impl FnMut(&Llama, usize) -> Result<Tensor<1>>,
    ) -> Result<PendingStep> {
        let lr = self.config.schedule.lr(self.step);
        let mut accumulator = GradientsAccumulator::new();
        let mut total: Option<Tensor<1>> = None;
        for i in 0..n_micro {
            let loss = micro_loss(&self.model, i)?;
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            accumulator.accumulate(&self.model, grads);
            let value = loss.detach();
            total = Some(match total {
                Some(t) => t + value,
                None => value,
            });
        }
        let loss =
            total.ok_or_else(|| TrainError::Config("a step without micro-batches".into()))?;
        Ok(PendingStep {
            grads: accumulator.grads(),
            loss,
            lr,
        })
    }

    /// The second half of a step: given the value of `pending.loss`, update the weights, or
    /// stop without updating if it is not finite (naming the step). Returns the learning rate.
    pub fn apply(&mut self, pending: PendingStep, loss: f32) -> Result<f64> {
        if !loss.is_finite() {
            return Err(TrainError::NonFinite {
                step: self.step + 1,
                value: loss,
                lr: pending.lr,
            });
        }
        let model = self.model.clone();
        self.model = self.optim.step(pending.lr, model, pending.grads);
        self.step += 1;
        Ok(pending.lr)
    }

    /// Mean loss per target token over `examples`, without gradients.
    pub fn eval_loss(&self, examples: &[Example]) -> f32 {
        let (sums, tokens) = self.eval_sums(examples);
        let total: f64 = match sums {
            Some(t) => read_values(t)
                .map(|v| v.iter().map(|&x| x as f64).sum())
                .unwrap_or(f64::NAN),
            None => 0.0,
        };
        (total / tokens.max(1) as f64) as f32
    }

    /// [`Trainer::eval_loss`] where values must be read asynchronously (the browser).
    pub async fn eval_loss_async(&self, examples: &[Example]) -> Result<f32> {
        let (sums, tokens) = self.eval_sums(examples);
        let total: f64 = match sums {
            Some(t) => read_values_async(t).await?.iter().map(|&x| x as f64).sum(),
            None => 0.0,
        };
        Ok((total / tokens.max(1) as f64) as f32)
    }

    /// Each batch's summed loss (one tensor, nothing read yet) and the target tokens in all.
    fn eval_sums(&self, examples: &[Example]) -> (Option<Tensor<1>>, usize) {
        let model = self.model.valid();
        let (mut sums, mut tokens) = (Vec::new(), 0usize);
        for chunk in examples.chunks(self.config.batch_size) {
            let refs: Vec<&Example> = chunk.iter().collect();
            let batch = Batch::new(&refs, &model_device(&model));
            if batch.n_targets == 0 {
                continue;
            }
            sums.push(causal_lm_loss(&model, &batch).mul_scalar(batch.n_targets as f32));
            tokens += batch.n_targets;
        }
        ((!sums.is_empty()).then(|| Tensor::cat(sums, 0)), tokens)
    }
}

/// Gradients of a step whose loss has not been read yet ([`Trainer::backward`]).
pub struct PendingStep {
    grads: GradientsParams,
    /// The step's summed loss, detached: one value.
    pub loss: Tensor<1>,
    pub lr: f64,
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
