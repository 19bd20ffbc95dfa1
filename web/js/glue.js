// Browser services the Rust app calls through wasm-bindgen (web/src/glue.rs): WebGPU
// adapter facts, downloads and file reads with progress, the model cache in the Origin
// Private File System (OPFS), and a way to yield to the event loop. Thin wrappers only:
// everything about models lives in Rust.

// What WebGPU offers here, without opening a device (the engine opens its own).
export async function webgpuStatus() {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { available: false, reason: 'navigator.gpu is missing' };
  }
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { available: false, reason: String(e) };
  }
  if (!adapter) {
    return { available: false, reason: 'requestAdapter() returned no adapter' };
  }
  const info = adapter.info || {};
  const l = adapter.limits;
  return {
    available: true,
    vendor: info.vendor || '',
    architecture: info.architecture || '',
    device: info.device || '',
    description: info.description || '',
    shaderF16: adapter.features.has('shader-f16'),
    maxBufferSize: Number(l.maxBufferSize),
    maxStorageBufferBindingSize: Number(l.maxStorageBufferBindingSize),
    maxComputeWorkgroupStorageSize: Number(l.maxComputeWorkgroupStorageSize),
    maxComputeInvocationsPerWorkgroup: Number(l.maxComputeInvocationsPerWorkgroup),
  };
}

// Read a stream to one Uint8Array, reporting (bytesSoFar, totalOrZero) as chunks arrive.
async function readAll(stream, total, onProgress) {
  const reader = stream.getReader();
  const chunks = [];
  let loaded = 0;
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    const now = performance.now();
    if (now - lastReport > 50) {
      lastReport = now;
      onProgress(loaded, total);
    }
  }
  onProgress(loaded, total);
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

// GET a URL with progress; rejects with a message naming the URL and the HTTP status.
export async function fetchBytes(url, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not reach ${url}: ${e.message || e} (offline, or the server does not allow cross-origin requests)`);
  }
  if (!response.ok) {
    throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const total = Number(response.headers.get('content-length') || 0);
  return readAll(response.body, total, onProgress);
}

// A user's file (picker or drag-and-drop), with progress.
export async function readFile(file, onProgress) {
  return readAll(file.stream(), file.size, onProgress);
}

// --- model cache in OPFS: one file per model, named by its source ---

async function cacheDir() {
  if (!navigator.storage || !navigator.storage.getDirectory) {
    throw new Error('this browser has no Origin Private File System; models will not be cached');
  }
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('xlingo-models', { create: true });
}

function fileName(key) {
  return encodeURIComponent(key);
}

// The cached bytes for `key`, or null.
export async function cacheRead(key) {
  try {
    const dir = await cacheDir();
    const handle = await dir.getFileHandle(fileName(key));
    const file = await handle.getFile();
    return new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    return null;
  }
}

// Store bytes under `key`. Written to a temporary name and moved into place only when
// complete, so a reload in the middle never leaves a truncated model in the cache.
export async function cacheWrite(key, bytes) {
  const dir = await cacheDir();
  if (navigator.storage.persist) {
    navigator.storage.persist().catch(() => {});
  }
  const tmpName = fileName(key) + '.partial';
  const tmp = await dir.getFileHandle(tmpName, { create: true });
  const writable = await tmp.createWritable();
  await writable.write(bytes);
  await writable.close();
  if (tmp.move) {
    await tmp.move(fileName(key));
  } else {
    const final = await dir.getFileHandle(fileName(key), { create: true });
    const w = await final.createWritable();
    await w.write(bytes);
    await w.close();
    await dir.removeEntry(tmpName);
  }
}

// [{key, size}] of complete cached models.
export async function cacheList() {
  const out = [];
  try {
    const dir = await cacheDir();
    for await (const [name, handle] of dir.entries()) {
      if (handle.kind !== 'file' || name.endsWith('.partial')) continue;
      const file = await handle.getFile();
      out.push({ key: decodeURIComponent(name), size: file.size });
    }
  } catch (e) {
    // No OPFS: nothing cached.
  }
  return out;
}

export async function cacheClear() {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry('xlingo-models', { recursive: true }).catch(() => {});
}

// Resolve after the browser has had a chance to render and handle input.
export function yieldToBrowser() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export function sleepMs(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The user's stored theme choice ('light' | 'dark' | '' for the system's).
export function applyTheme(theme) {
  const root = document.documentElement;
  if (theme) root.dataset.theme = theme; else delete root.dataset.theme;
  try { localStorage.setItem('xlingo-theme', theme); } catch (e) { /* private mode */ }
}

export function storedTheme() {
  try { return localStorage.getItem('xlingo-theme') || ''; } catch (e) { return ''; }
}
