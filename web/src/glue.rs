//! Bindings to web/js/glue.js: WebGPU facts, downloads with progress, the OPFS model cache.

use js_sys::{Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = webgpuStatus)]
    fn webgpu_status_js() -> js_sys::Promise;
    #[wasm_bindgen(js_name = fetchBytes)]
    fn fetch_bytes_js(url: &str, on_progress: &Function) -> js_sys::Promise;
    #[wasm_bindgen(js_name = readFile)]
    fn read_file_js(file: &web_sys::File, on_progress: &Function) -> js_sys::Promise;
    #[wasm_bindgen(js_name = cacheRead)]
    fn cache_read_js(key: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = cacheWrite)]
    fn cache_write_js(key: &str, bytes: &Uint8Array) -> js_sys::Promise;
    #[wasm_bindgen(js_name = cacheList)]
    fn cache_list_js() -> js_sys::Promise;
    #[wasm_bindgen(js_name = cacheClear)]
    fn cache_clear_js() -> js_sys::Promise;
    #[wasm_bindgen(js_name = yieldToBrowser)]
    fn yield_js() -> js_sys::Promise;
    #[wasm_bindgen(js_name = sleepMs)]
    fn sleep_js(ms: f64) -> js_sys::Promise;
    #[wasm_bindgen(js_name = applyTheme)]
    pub fn apply_theme(theme: &str);
    #[wasm_bindgen(js_name = storedTheme)]
    pub fn stored_theme() -> String;
}

/// WebGPU as the browser reports it (adapter info and limits), before the engine opens a device.
#[derive(Clone, Debug, PartialEq, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebGpuStatus {
    pub available: bool,
    pub reason: String,
    pub vendor: String,
    pub architecture: String,
    pub device: String,
    pub description: String,
    pub shader_f16: bool,
    pub max_buffer_size: f64,
    pub max_storage_buffer_binding_size: f64,
    pub max_compute_workgroup_storage_size: f64,
    pub max_compute_invocations_per_workgroup: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct CachedModel {
    pub key: String,
    pub size: f64,
}

fn message(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn decode<T: serde::de::DeserializeOwned>(v: JsValue) -> Result<T, String> {
    let json = js_sys::JSON::stringify(&v).map_err(message)?;
    serde_json::from_str(&String::from(json)).map_err(|e| e.to_string())
}

pub async fn webgpu_status() -> WebGpuStatus {
    match JsFuture::from(webgpu_status_js()).await {
        Ok(v) => decode(v).unwrap_or_default(),
        Err(e) => WebGpuStatus {
            reason: message(e),
            ..Default::default()
        },
    }
}

/// The bytes stay in JS memory so that they can be cached without a copy through wasm.
pub async fn fetch_bytes(
    url: &str,
    on_progress: impl Fn(f64, f64) + 'static,
) -> Result<Uint8Array, String> {
    let callback: Closure<dyn Fn(f64, f64)> = Closure::new(on_progress);
    let result = JsFuture::from(fetch_bytes_js(url, callback.as_ref().unchecked_ref())).await;
    drop(callback);
    result.map(|v| Uint8Array::new(&v)).map_err(message)
}

/// `on_progress` gets (bytes so far, total bytes or 0).
pub async fn read_file(
    file: &web_sys::File,
    on_progress: impl Fn(f64, f64) + 'static,
) -> Result<Vec<u8>, String> {
    let callback: Closure<dyn Fn(f64, f64)> = Closure::new(on_progress);
    let result = JsFuture::from(read_file_js(file, callback.as_ref().unchecked_ref())).await;
    drop(callback);
    result
        .map(|v| Uint8Array::new(&v).to_vec())
        .map_err(|e| format!("reading {}: {}", file.name(), message(e)))
}

/// A text file the user picked: (its name, its text), or why not.
pub async fn read_text_file(file: &web_sys::File) -> Result<(String, String), String> {
    let bytes = read_file(file, |_, _| {}).await?;
    String::from_utf8(bytes)
        .map(|text| (file.name(), text))
        .map_err(|_| format!("{} is not UTF-8 text", file.name()))
}

pub async fn cache_read(key: &str) -> Option<Vec<u8>> {
    let v = JsFuture::from(cache_read_js(key)).await.ok()?;
    if v.is_null() || v.is_undefined() {
        return None;
    }
    Some(Uint8Array::new(&v).to_vec())
}

pub async fn cache_write(key: &str, bytes: &Uint8Array) -> Result<(), String> {
    JsFuture::from(cache_write_js(key, bytes))
        .await
        .map(|_| ())
        .map_err(message)
}

pub async fn cache_list() -> Vec<CachedModel> {
    match JsFuture::from(cache_list_js()).await {
        Ok(v) => decode(v).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

pub async fn cache_clear() -> Result<(), String> {
    JsFuture::from(cache_clear_js())
        .await
        .map(|_| ())
        .map_err(message)
}

/// Let the browser render and handle input before going on with long work.
pub async fn yield_to_browser() {
    let _ = JsFuture::from(yield_js()).await;
}

pub async fn sleep_ms(ms: f64) {
    let _ = JsFuture::from(sleep_js(ms)).await;
}

/// Milliseconds since the page loaded (monotonic).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}
