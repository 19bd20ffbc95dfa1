//! Checkpoints: the trained weights (the adapters, or the layers that train; the frozen rest is
//! the model file the run started from and resumes from), the optimizer state and the step,
//! written so that a crash never leaves a half-written checkpoint where `--resume` looks.
//!
//! Layout under the run's checkpoint directory:
//! - `step-000120/` with `model.bpk`, `optimizer.bpk` (burnpack) and `state.json`;
//! - `latest`: the name of the newest complete checkpoint.
//!
//! A checkpoint is written into a hidden `.step-000120.partial/` directory, every file fsynced,
//! then renamed into place; only then is `latest` replaced (`xlingo_formats::write_atomically`).

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use xlingo_model::llama::Llama;

use crate::error::{Result, TrainError};
use crate::export::write_atomically;
use crate::sft::{SftConfig, Trainer, trained_group};

const LATEST: &str = "latest";

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub step: usize,
    pub config: SftConfig,
    /// The caller's own state (data seed, file names, metrics so far, …).
    pub extra: serde_json::Value,
}

fn fail(path: &Path, reason: impl ToString) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail(path, e))
}

/// Save `trainer` under `root` and point `latest` at it; keep the newest `keep` checkpoints.
pub fn save(
    trainer: &Trainer,
    root: &Path,
    extra: serde_json::Value,
    keep: usize,
) -> Result<PathBuf> {
    let name = format!("step-{:06}", trainer.steps_done());
    let partial = root.join(format!(".{name}.partial"));
    let dest = root.join(&name);
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| fail(&partial, e))?;
    }
    fs::create_dir_all(&partial).map_err(|e| fail(&partial, e))?;

    // Only what training changes: a LoRA checkpoint of SmolLM2 is a few MB, not 540.
    let model_path = partial.join("model.bpk");
    let model = trainer.model().clone();
    let record = match trained_group(trainer.config(), model.n_layers())? {
        Some(group) => model.into_record_group(group),
        None => model.into_record(),
    };
    record
        .save(&model_path)
        .map_err(|e| fail(&model_path, format!("{e:?}")))?;
    sync_file(&model_path)?;
    let optim_path = partial.join("optimizer.bpk");
    trainer
        .optimizer()
        .save(&optim_path)
        .map_err(|e| fail(&optim_path, format!("{e:?}")))?;
    sync_file(&optim_path)?;
    let state = CheckpointState {
        step: trainer.steps_done(),
        config: trainer.config().clone(),
        extra,
    };
    let state_json = serde_json::to_vec_pretty(&state).map_err(|e| fail(&partial, e))?;
    write_atomically(&partial.join("state.json"), &state_json)?;

    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(|e| fail(&dest, e))?;
    }
    fs::rename(&partial, &dest).map_err(|e| fail(&dest, e))?;
    write_atomically(&root.join(LATEST), name.as_bytes())?;
    if let Ok(dir) = fs::File::open(root) {
        let _ = dir.sync_all();
    }
    prune(root, keep.max(1))?;
    Ok(dest)
}

/// Remove all but the newest `keep` complete checkpoints.
fn prune(root: &Path, keep: usize) -> Result<()> {
    let mut names: Vec<String> = fs::read_dir(root)
        .map_err(|e| fail(root, e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("step-"))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        let path = root.join(name);
        fs::remove_dir_all(&path).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

/// The newest complete checkpoint under `root`, if any.
pub fn latest(root: &Path) -> Result<Option<PathBuf>> {
    let pointer = root.join(LATEST);
    match fs::read_to_string(&pointer) {
        Ok(name) => {
            let dir = root.join(name.trim());
            if !dir.join("state.json").exists() {
                return Err(fail(&dir, "named by `latest` but incomplete or missing"));
            }
            Ok(Some(dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(&pointer, e)),
    }
}

/// The step, settings and caller's state of the checkpoint in `dir`.
pub fn state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join("state.json");
    let text = fs::read_to_string(&path).map_err(|e| fail(&path, e))?;
    serde_json::from_str(&text).map_err(|e| fail(&path, e))
}

/// Continue from the checkpoint in `dir`: `base` is the model as loaded from its file (the
/// adapters or trained weights are applied over it), on the autodiff device `device`.
pub fn resume(base: Llama, dir: &Path, device: Device) -> Result<(Trainer, CheckpointState)> {
    let state = state(dir)?;
    let trainer = Trainer::new(base, state.config.clone(), device)?;
    let model_path = dir.join("model.bpk");
    let optim_path = dir.join("optimizer.bpk");
    let trainer = trainer.restore(
        |model| {
            // The frozen weights come from `base`; the checkpoint holds the trained ones.
            let record = ModuleRecord::load(&model_path)
                .map_err(|e| fail(&model_path, format!("{e:?}")))?
                .allow_partial(true);
            model
                .try_load_record(record)
                .map_err(|e| fail(&model_path, format!("{e:?}")))
        },
        |optim| {
            optim
                .load(&optim_path)
                .map_err(|e| fail(&optim_path, format!("{e:?}")))
        },
        state.step,
    )?;
    Ok((trainer, state))
}
