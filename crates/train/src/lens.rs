//! Lens (arXiv 2410.04407; METHODS.md part b): tune only the top decoder layers so that, in
//! the top layer's representation h (the last token after the final norm),
//! - a target language X is pulled toward the pivot (English) inside the language-AGNOSTIC
//!   direction a: `agnostic_pull_X = MSE(P_a h_pivot(θ), P_a h_X(θ))`, with P_a h = (h·a)a;
//! - X is pushed further along its own offset δ_X inside the language-SPECIFIC subspace S:
//!   `specific_push_X = MSE(P_s h_X(θ) − P_s h_X(θ0), λ·δ_X)`, with P_s h = Σ_k (h·s_k)s_k;
//! - the pivot stays where it was: `retain = MSE(mean_t H_pivot(θ), mean_t H_pivot(θ0))`
//!   over all of its tokens;
//!
//! `loss = w_retain·retain + w_push·Σ_X specific_push_X + w_pull·Σ_X agnostic_pull_X`.
//! (Lens's code calls the push "pull_loss" and the pull "push_loss"; names here say what the
//! terms do.) θ0 is the frozen starting model.
//!
//! Only the top K layers change, so everything below them is computed once per prompt with
//! the starting weights ([`prepare`]): the residual stream entering layer n−K, and the frozen
//! reference's outputs θ0 that the losses compare against. A step then runs only K layers
//! forward and backward — the frozen copy of the model costs nothing per step.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use xlingo_model::llama::{Llama, token_tensor};

use crate::error::{Result, TrainError};
use crate::readout::{read_values, read_values_async};
use crate::sft::{PendingStep, SftConfig, Trainer, trained_layers};

/// The top layer's language subspaces, from `xlingo lens probe` (xlingo-eval's LSAR probe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LensSpace {
    /// Unit vector along the language-agnostic direction.
    pub agnostic: Vec<f32>,
    /// Orthonormal basis of the language-specific subspace (r vectors of hidden size).
    pub specific: Vec<Vec<f32>>,
    /// δ_X per target language: its mean offset from the pivot inside the specific subspace.
    pub shifts: BTreeMap<String, Vec<f32>>,
}

/// How much each term counts (Lens's code uses 1.0 for all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LensWeights {
    pub retain: f64,
    pub specific_push: f64,
    pub agnostic_pull: f64,
    /// λ: how far along δ_X the push aims, in multiples of δ_X.
    pub push_scale: f64,
}

impl Default for LensWeights {
    fn default() -> Self {
        LensWeights {
            retain: 1.0,
            specific_push: 1.0,
            agnostic_pull: 1.0,
            push_scale: 1.0,
        }
    }
}

/// One prompt in the pivot language with its translations (token ids, chat-templated).
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelPrompt {
    pub pivot: Vec<u32>,
    pub targets: Vec<(String, Vec<u32>)>,
}

/// What the frozen model gives one prompt in one language.
#[derive(Debug, Clone)]
struct Frozen {
    /// Residual stream entering the first trained layer: `len` rows of hidden size.
    residual: Vec<f32>,
    len: usize,
    /// θ0's top-layer output, mean over the tokens (the retain target).
    ref_mean: Vec<f32>,
    /// θ0's top-layer output at the last token.
    ref_last: Vec<f32>,
}

/// A parallel prompt after [`prepare`].
#[derive(Debug, Clone)]
pub struct PreparedPrompt {
    pivot: Frozen,
    targets: Vec<(String, Frozen)>,
}

/// The loss terms of one prompt (or a mean over prompts), as numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LensLosses {
    pub retain: f32,
    /// Summed over target languages.
    pub specific_push: f32,
    /// Summed over target languages.
    pub agnostic_pull: f32,
    /// The weighted total.
    pub total: f32,
}

fn top_layers(config: &SftConfig) -> Result<usize> {
    config
        .top_layers
        .ok_or_else(|| TrainError::Config("Lens trains the top layers: set top_layers".into()))
}

fn hidden_size(model: &Llama) -> usize {
    model.embed.weight.val().dims()[1]
}

/// Run the frozen bottom and the starting top once for every prompt and language.
pub fn prepare(
    model: &Llama,
    prompts: &[ParallelPrompt],
    top_layers: usize,
) -> Result<Vec<PreparedPrompt>> {
    let (layout, values) = frozen_tensors(model, prompts, top_layers)?;
    assemble(&layout, &read_values(values)?, hidden_size(model))
}

/// [`prepare`] where values must be read asynchronously (the browser).
pub async fn prepare_async(
    model: &Llama,
    prompts: &[ParallelPrompt],
    top_layers: usize,
) -> Result<Vec<PreparedPrompt>> {
    let (layout, values) = frozen_tensors(model, prompts, top_layers)?;
    assemble(
        &layout,
        &read_values_async(values).await?,
        hidden_size(model),
    )
}

/// Token counts per prompt: the pivot's, then each target language's.
type Layout = Vec<(usize, Vec<(String, usize)>)>;

/// Every prompt's frozen states in one flat tensor (read off the device at once): for each
/// prompt, the pivot then the targets, each as residual `[len, d]`, mean `[d]`, last `[d]`.
fn frozen_tensors(
    model: &Llama,
    prompts: &[ParallelPrompt],
    top_layers: usize,
) -> Result<(Layout, Tensor<1>)> {
    let n = model.n_layers();
    if top_layers == 0 || top_layers > n {
        return Err(TrainError::Config(format!(
            "top_layers = {top_layers}: the model has {n} decoder layers"
        )));
    }
    if prompts.is_empty() {
        return Err(TrainError::Config("Lens needs at least one prompt".into()));
    }
    let first = n - top_layers;
    let model = model.valid();
    let device = model.embed.weight.val().device();
    let mut parts: Vec<Tensor<1>> = Vec::new();
    let mut frozen = |ids: &[u32], what: &str| -> Result<usize> {
        if ids.is_empty() {
            return Err(TrainError::Config(format!("{what}: an empty prompt")));
        }
        let residual = model.residual_after(token_tensor(ids, &device), first);
        let top = model.normed_top(residual.clone(), first);
        let len = ids.len();
        parts.push(residual.flatten::<1>(0, 2));
        parts.push(top.clone().mean_dim(1).flatten::<1>(0, 2));
        parts.push(top.narrow(1, len - 1, 1).flatten::<1>(0, 2));
        Ok(len)
    };
    let mut layout = Layout::new();
    for (i, p) in prompts.iter().enumerate() {
        let pivot = frozen(&p.pivot, &format!("prompt {i}, pivot"))?;
        let mut targets = Vec::new();
        for (lang, ids) in &p.targets {
            targets.push((lang.clone(), frozen(ids, &format!("prompt {i}, {lang}"))?));
        }
        layout.push((pivot, targets));
    }
    Ok((layout, Tensor::cat(parts, 0)))
}

/// The prepared prompts from the values [`frozen_tensors`] laid out.
fn assemble(layout: &Layout, values: &[f32], d: usize) -> Result<Vec<PreparedPrompt>> {
    let mut rest = values;
    let mut take = |len: usize| -> Result<Frozen> {
        let need = (len + 2) * d;
        if rest.len() < need {
            return Err(TrainError::Config(
                "Lens: fewer frozen values came back than were computed".into(),
            ));
        }
        let (these, tail) = rest.split_at(need);
        rest = tail;
        Ok(Frozen {
            residual: these[..len * d].to_vec(),
            len,
            ref_mean: these[len * d..(len + 1) * d].to_vec(),
            ref_last: these[(len + 1) * d..].to_vec(),
        })
    };
    layout
        .iter()
        .map(|(pivot, targets)| {
            Ok(PreparedPrompt {
                pivot: take(*pivot)?,
                targets: targets
                    .iter()
                    .map(|(lang, len)| Ok((lang.clone(), take(*len)?)))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

/// The subspaces as tensors on the training device.
struct SpaceTensors {
    /// [1, d]
    agnostic: Tensor<2>,
    /// [r, d]
    specific: Tensor<2>,
    /// λ·δ_X as [1, d]
    push_targets: BTreeMap<String, Tensor<2>>,
}

impl SpaceTensors {
    fn new(space: &LensSpace, weights: &LensWeights, d: usize, device: &Device) -> Result<Self> {
        let row = |v: &[f32], what: &str| -> Result<Tensor<2>> {
            if v.len() != d {
                return Err(TrainError::Config(format!(
                    "Lens subspace: {what} has {} values, the model's hidden size is {d} (probed on another model?)",
                    v.len()
                )));
            }
            Ok(Tensor::from_data(
                TensorData::new(v.to_vec(), [1, d]),
                device,
            ))
        };
        if space.specific.is_empty() {
            return Err(TrainError::Config(
                "Lens subspace: the language-specific basis is empty".into(),
            ));
        }
        let specific = space
            .specific
            .iter()
            .enumerate()
            .map(|(k, v)| row(v, &format!("specific basis vector {k}")))
            .collect::<Result<Vec<_>>>()?;
        let push_targets = space
            .shifts
            .iter()
            .map(|(lang, delta)| {
                let scaled: Vec<f32> = delta
                    .iter()
                    .map(|x| (*x as f64 * weights.push_scale) as f32)
                    .collect();
                Ok((lang.clone(), row(&scaled, &format!("shift of `{lang}`"))?))
            })
            .collect::<Result<_>>()?;
        Ok(SpaceTensors {
            agnostic: row(&space.agnostic, "the agnostic direction")?,
            specific: Tensor::cat(specific, 0),
            push_targets,
        })
    }

    /// P_s h for rows h [n, d].
    fn specific_part(&self, h: Tensor<2>) -> Tensor<2> {
        h.matmul(self.specific.clone().transpose())
            .matmul(self.specific.clone())
    }

    /// P_a h for rows h [n, d].
    fn agnostic_part(&self, h: Tensor<2>) -> Tensor<2> {
        h.matmul(self.agnostic.clone().transpose())
            .matmul(self.agnostic.clone())
    }
}

fn mse(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (a - b).powi_scalar(2).mean()
}

/// The Lens loss of one prepared prompt under `model` (whose top layers from `first` on are
/// being trained), as a tensor to differentiate, and its terms `[retain, specific_push,
/// agnostic_pull, total]` (detached; nothing is read off the device here).
fn prompt_loss(
    model: &Llama,
    prompt: &PreparedPrompt,
    space: &SpaceTensors,
    weights: &LensWeights,
    first: usize,
    device: &Device,
) -> Result<(Tensor<1>, Tensor<1>)> {
    let d = space.agnostic.dims()[1];
    let top = |f: &Frozen| -> Tensor<2> {
        let residual =
            Tensor::<3>::from_data(TensorData::new(f.residual.clone(), [1, f.len, d]), device);
        model.normed_top(residual, first).reshape([f.len, d])
    };
    let row = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, d]), device);
    let last = |h: &Tensor<2>, len: usize| h.clone().narrow(0, len - 1, 1);

    let pivot_all = top(&prompt.pivot);
    let pivot_last = last(&pivot_all, prompt.pivot.len);
    let retain = mse(pivot_all.mean_dim(0), row(&prompt.pivot.ref_mean));
    let pivot_agnostic = space.agnostic_part(pivot_last);

    let mut push_sum: Option<Tensor<1>> = None;
    let mut pull_sum: Option<Tensor<1>> = None;
    for (lang, frozen) in &prompt.targets {
        let target = space.push_targets.get(lang).ok_or_else(|| {
            TrainError::Config(format!(
                "no Lens shift for language `{lang}`: probe it together with the pivot"
            ))
        })?;
        let h = last(&top(frozen), frozen.len);
        let moved = space.specific_part(h.clone()) - space.specific_part(row(&frozen.ref_last));
        let push = mse(moved, target.clone());
        let pull = mse(pivot_agnostic.clone(), space.agnostic_part(h));
        push_sum = Some(match push_sum {
            Some(s) => s + push,
            None => push,
        });
        pull_sum = Some(match pull_sum {
            Some(s) => s + pull,
            None => pull,
        });
    }
    let zero = || Tensor::<1>::zeros([1], device);
    let push = push_sum.unwrap_or_else(zero);
    let pull = pull_sum.unwrap_or_else(zero);
    let total = retain.clone().mul_scalar(weights.retain)
        + push.clone().mul_scalar(weights.specific_push)
        + pull.clone().mul_scalar(weights.agnostic_pull);
    let terms = Tensor::cat(vec![retain, push, pull, total.clone()], 0).detach();
    Ok((total, terms))
}

impl LensLosses {
    /// The values of a terms tensor `[retain, specific_push, agnostic_pull, total]`.
    fn from_values(v: &[f32]) -> Result<LensLosses> {
        match *v {
            [retain, specific_push, agnostic_pull, total] => Ok(LensLosses {
                retain,
                specific_push,
                agnostic_pull,
                total,
            }),
            _ => Err(TrainError::Config(format!(
                "Lens loss terms: {} values instead of 4",
                v.len()
            ))),
        }
    }
}

/// What one Lens optimizer step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LensStepReport {
    pub step: usize,
    pub lr: f64,
    /// Mean over the step's prompts.
    pub losses: LensLosses,
}

/// The SFT trainer (AdamW, schedule, accumulation, clipping, checkpoints) driven by the Lens
/// loss, on the top `config.top_layers` layers.
pub struct LensTrainer {
    trainer: Trainer,
    prompts: Vec<PreparedPrompt>,
    space: SpaceTensors,
    /// The subspaces as given (to rebuild them off the autodiff graph for evaluation).
    source: LensSpace,
    weights: LensWeights,
    first: usize,
    device: Device,
}

impl LensTrainer {
    /// `model` on an autodiff device; `config.top_layers` must be set (Lens trains the top).
    pub fn new(
        model: Llama,
        config: SftConfig,
        weights: LensWeights,
        space: &LensSpace,
        prompts: &[ParallelPrompt],
        device: Device,
    ) -> Result<LensTrainer> {
        let prepared = prepare(&model, prompts, top_layers(&config)?)?;
        Self::with_prepared(model, config, weights, space, prepared, device)
    }

    /// [`LensTrainer::new`] where values must be read asynchronously (the browser).
    pub async fn new_async(
        model: Llama,
        config: SftConfig,
        weights: LensWeights,
        space: &LensSpace,
        prompts: &[ParallelPrompt],
        device: Device,
    ) -> Result<LensTrainer> {
        let prepared = prepare_async(&model, prompts, top_layers(&config)?).await?;
        Self::with_prepared(model, config, weights, space, prepared, device)
    }

    fn with_prepared(
        model: Llama,
        config: SftConfig,
        weights: LensWeights,
        space: &LensSpace,
        prepared: Vec<PreparedPrompt>,
        device: Device,
    ) -> Result<LensTrainer> {
        let first = trained_layers(&config, model.n_layers())?.start;
        let tensors = SpaceTensors::new(space, &weights, hidden_size(&model), &device)?;
        Ok(LensTrainer {
            trainer: Trainer::new(model, config, device.clone())?,
            prompts: prepared,
            space: tensors,
            source: space.clone(),
            weights,
            first,
            device,
        })
    }

    /// The SFT trainer underneath (model, optimizer, step count, checkpoints).
    pub fn trainer(&self) -> &Trainer {
        &self.trainer
    }

    /// The SFT trainer underneath, for export once training is over.
    pub fn into_trainer(self) -> Trainer {
        self.trainer
    }

    /// Replace the trainer, e.g. with one restored from a checkpoint.
    pub fn set_trainer(&mut self, trainer: Trainer) {
        self.trainer = trainer;
    }

    pub fn n_prompts(&self) -> usize {
        self.prompts.len()
    }

    /// One optimizer step over the prompts `indices` (one micro-batch each, equal weights).
    pub fn step(&mut self, indices: &[usize]) -> Result<LensStepReport> {
        let (pending, terms) = self.backward(indices)?;
        let losses = LensLosses::from_values(&read_values(terms)?)?;
        self.finish(pending, losses)
    }

    /// [`LensTrainer::step`] where values must be read asynchronously (the browser).
    pub async fn step_async(&mut self, indices: &[usize]) -> Result<LensStepReport> {
        let (pending, terms) = self.backward(indices)?;
        let losses = LensLosses::from_values(&read_values_async(terms).await?)?;
        self.finish(pending, losses)
    }

    /// Forward and backward over the prompts; the mean loss terms, not read yet.
    fn backward(&mut self, indices: &[usize]) -> Result<(PendingStep, Tensor<1>)> {
        if indices.is_empty() {
            return Err(TrainError::Config("a Lens step without prompts".into()));
        }
        let share = 1.0 / indices.len() as f32;
        let mut sum: Option<Tensor<1>> = None;
        let (prompts, space, weights) = (&self.prompts, &self.space, &self.weights);
        let (first, device) = (self.first, self.device.clone());
        let pending = self.trainer.backward(indices.len(), |model, i| {
            let prompt = prompts.get(indices[i]).ok_or_else(|| {
                TrainError::Config(format!("prompt index {} out of range", indices[i]))
            })?;
            let (loss, terms) = prompt_loss(model, prompt, space, weights, first, &device)?;
            let terms = terms.mul_scalar(share);
            sum = Some(match sum.take() {
                Some(s) => s + terms,
                None => terms,
            });
            Ok(loss.mul_scalar(share))
        })?;
        let terms = sum.ok_or_else(|| TrainError::Config("a Lens step without prompts".into()))?;
        Ok((pending, terms))
    }

    fn finish(&mut self, pending: PendingStep, losses: LensLosses) -> Result<LensStepReport> {
        let lr = self.trainer.apply(pending, losses.total)?;
        Ok(LensStepReport {
            step: self.trainer.steps_done(),
            lr,
            losses,
        })
    }

    /// The loss terms under the current weights, averaged over the prompts `indices`, without
    /// gradients.
    pub fn evaluate(&self, indices: &[usize]) -> Result<LensLosses> {
        LensLosses::from_values(&read_values(self.evaluate_terms(indices)?)?)
    }

    /// [`LensTrainer::evaluate`] where values must be read asynchronously (the browser).
    pub async fn evaluate_async(&self, indices: &[usize]) -> Result<LensLosses> {
        LensLosses::from_values(&read_values_async(self.evaluate_terms(indices)?).await?)
    }

    fn evaluate_terms(&self, indices: &[usize]) -> Result<Tensor<1>> {
        let model = self.trainer.model().valid();
        let device = model.embed.weight.val().device();
        let space = SpaceTensors::new(&self.source, &self.weights, hidden_size(&model), &device)?;
        let share = 1.0 / indices.len().max(1) as f32;
        let mut sum = Tensor::<1>::zeros([4], &device);
        for &i in indices {
            let prompt = self
                .prompts
                .get(i)
                .ok_or_else(|| TrainError::Config(format!("prompt index {i} out of range")))?;
            let (_, terms) =
                prompt_loss(&model, prompt, &space, &self.weights, self.first, &device)?;
            sum = sum + terms.mul_scalar(share);
        }
        Ok(sum)
    }
}
