// The built web app (dist/, `trunk build --release`) end to end in headless Chromium with
// WebGPU on SwiftShader, driven by playwright-core (the system Chromium, never a download).
//
// A tiny random model is written by `xlingo tiny` (qwen2: its untied head does not just echo
// the last token as a tied random one does); the native WGSL engine's greedy reply to the
// same chat (`xlingo generate --engine gpu`) is the expected output. The page must stream the
// reply token by token and end with exactly that text and those tokens. A truncated and a
// non-GGUF file must give a clear error, and the page must still load a good model after.
// A model loaded from a URL is kept in the browser's cache (OPFS) and loads from it after a
// reload; Stop ends a reply; a browser without WebGPU is told what to use.
//
// Environment: XLINGO_BIN (the xlingo binary), XLINGO_DIST (default ../../dist).
// Run: scripts/test.sh, or `cd tests/e2e && npm ci && XLINGO_BIN=… node --test`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = process.env.XLINGO_DIST || join(here, '..', '..', 'dist');
const XLINGO = process.env.XLINGO_BIN || 'xlingo';
const SYSTEM = 'You are a helpful assistant.';
const PROMPT = 'Hello there! How are you?';
const MAX_TOKENS = 24;

const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--no-sandbox', '--disable-dev-shm-usage',
];

const MIME = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.gguf': 'application/octet-stream', '.json': 'application/json',
};

let server, baseUrl, browser, work, tinyPath;

// A static file server for dist/ (what scripts/demo.sh does with python's http.server).
// Files under /models/ come from the test's work directory; requests are counted.
const served = {};
function serve(root) {
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
      served[path] = (served[path] || 0) + 1;
      const file = path.startsWith('/models/')
        ? join(work, path.slice('/models/'.length))
        : join(root, path.endsWith('/') ? path + 'index.html' : path);
      try {
        const body = readFileSync(file);
        res.writeHead(200, { 'content-type': MIME[extname(file)] || 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404);
        res.end('not found');
      }
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

function xlingo(args) {
  return execFileSync(XLINGO, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(async () => {
  statSync(join(DIST, 'index.html')); // fails clearly if the app was not built
  work = mkdtempSync(join(tmpdir(), 'xlingo-e2e-'));
  tinyPath = join(work, 'tiny.gguf');
  xlingo(['tiny', '--out', tinyPath, '--arch', 'qwen2', '--type', 'q4-1', '--seed', '1']);
  server = await serve(DIST);
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openApp() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(baseUrl);
  await page.locator('.badge.ok').waitFor({ timeout: 60_000 });
  return { page, errors };
}

async function loadModel(page, path) {
  await page.locator('[data-testid=model-file]').setInputFiles(path);
}

async function setSetting(page, id, value) {
  const input = page.locator(`#setting-${id}`);
  await input.fill(String(value));
  await input.dispatchEvent('change');
}

test('a tiny model streams the same greedy reply as the native engine', async () => {
  const expected = xlingo([
    'generate', '--model', tinyPath, '--engine', 'gpu', '--chat', '--system', SYSTEM,
    '--prompt', PROMPT, '--temperature', '0', '--max-tokens', String(MAX_TOKENS),
    // The page keeps keys and values in f32 (its Representations view is checked to 1e-4).
    '--kv-cache', 'f32',
  ]).replace(/\n$/, '');
  assert.ok(expected.length >= 3, `native reply too short to show streaming: ${JSON.stringify(expected)}`);

  const { page, errors } = await openApp();
  await loadModel(page, tinyPath);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  await assert.doesNotReject(page.locator('[data-testid=model-info]').waitFor());
  const info = await page.locator('[data-testid=model-info]').innerText();
  assert.match(info, /qwen2/);
  assert.match(info, /Q4_1/);

  await setSetting(page, 'temperature', 0);
  await setSetting(page, 'repeatpenalty', 1);
  await setSetting(page, 'maxtokens', MAX_TOKENS);

  // Record every text the reply shows while it streams, and long main-thread tasks.
  await page.evaluate(() => {
    window.__snapshots = [];
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push(e.duration);
    }).observe({ type: 'longtask' });
    const log = document.querySelector('.transcript');
    new MutationObserver(() => {
      const replies = document.querySelectorAll('.msg.assistant .content');
      const text = replies.length ? replies[replies.length - 1].textContent : null;
      const snaps = window.__snapshots;
      if (text !== null && snaps[snaps.length - 1] !== text) snaps.push(text);
    }).observe(log, { subtree: true, childList: true, characterData: true });
  });

  const box = page.locator('[data-testid=message]');
  await box.fill(PROMPT);
  await box.press('Enter');
  await page.locator('.app[data-status=generating]').waitFor({ timeout: 10_000 }).catch(() => {});
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });

  const reply = page.locator('.msg.assistant').last();
  const text = await reply.locator('.content').evaluate((el) => el.textContent);
  const tokens = (await reply.getAttribute('data-tokens')).split(',').filter(Boolean);
  const snapshots = await page.evaluate(() => window.__snapshots);
  const longTasks = await page.evaluate(() => window.__longTasks);
  console.log(`reply: ${JSON.stringify(text)} (${tokens.length} tokens, ${snapshots.length} distinct states while streaming)`);
  console.log(`longest main-thread task during the reply: ${Math.max(0, ...longTasks).toFixed(0)} ms (${longTasks.length} over 50 ms)`);

  assert.equal(text, expected, 'browser reply equals the native engine\'s greedy reply');
  // Streamed: the text grew through several states, each a prefix of the final one.
  const growing = snapshots.filter((s) => s.length > 0 && s.length < text.length);
  assert.ok(growing.length >= 2, `expected partial replies while streaming, saw ${JSON.stringify(snapshots)}`);
  for (const s of growing) assert.ok(text.startsWith(s), `${JSON.stringify(s)} is not a prefix of the reply`);
  assert.ok(tokens.length >= 3 && tokens.length <= MAX_TOKENS, `token count ${tokens.length}`);
  // The page never froze: no single main-thread task blocked input for a second.
  assert.ok(Math.max(0, ...longTasks) < 1000, `a main-thread task took ${Math.max(...longTasks)} ms`);
  const stats = await reply.locator('.turn-stats').innerText();
  assert.match(stats, /tok\/s/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a truncated or non-GGUF file gets a clear error and the page keeps working', async () => {
  const bytes = readFileSync(tinyPath);
  const truncated = join(work, 'truncated.gguf');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const notGguf = join(work, 'notes.gguf');
  writeFileSync(notGguf, 'these are my notes, not a model\n'.repeat(20));

  const { page, errors } = await openApp();
  const error = page.locator('[data-testid=error]');

  await loadModel(page, truncated);
  await error.waitFor({ timeout: 60_000 });
  let message = await error.innerText();
  console.log(`truncated file: ${message}`);
  assert.match(message, /truncated\.gguf/);
  assert.match(message, /outside the file|truncated/);
  assert.equal(await page.locator('.app').getAttribute('data-status'), 'no-model');

  await loadModel(page, notGguf);
  await page.waitForFunction(() => document.querySelector('[data-testid=error]')?.textContent.includes('notes.gguf'));
  message = await error.innerText();
  console.log(`non-GGUF file: ${message}`);
  assert.match(message, /not a GGUF file/);

  // Still usable: the good model loads.
  await loadModel(page, tinyPath);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  assert.equal(await error.count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a model from a URL is cached in the browser and loads from the cache after a reload', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(baseUrl);
  await page.locator('.badge.ok').waitFor({ timeout: 60_000 });
  const url = `${baseUrl}models/tiny.gguf`;
  await page.getByLabel('Model URL').fill(url);
  await page.getByRole('button', { name: 'Load URL' }).click();
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 60_000 });
  assert.equal(served['/models/tiny.gguf'], 1);
  assert.doesNotMatch(await page.locator('[data-testid=model-info]').innerText(), /from the browser cache/);

  await page.reload();
  await page.locator('.badge.ok').waitFor({ timeout: 60_000 });
  const cached = page.locator('.cache li');
  await cached.first().waitFor({ timeout: 10_000 });
  assert.match(await cached.first().innerText(), /tiny\.gguf/);
  await cached.first().getByRole('button').click();
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 60_000 });
  assert.match(await page.locator('[data-testid=model-info]').innerText(), /from the browser cache/);
  assert.equal(served['/models/tiny.gguf'], 1, 'loaded from the cache, not downloaded again');

  await page.getByRole('button', { name: /Clear cache/ }).click();
  await cached.first().waitFor({ state: 'detached', timeout: 10_000 });
  await context.close();
});

test('Stop ends a reply early and the conversation goes on', async () => {
  const { page, errors } = await openApp();
  await loadModel(page, tinyPath);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 60_000 });
  // Short prompts (the tiny tokenizer spends a token per byte) so both turns fit its context
  // of 128 without dropping the first: the second turn then continues the cached prefix.
  const system = page.locator('#system-prompt');
  await system.fill('');
  await setSetting(page, 'maxtokens', 40);
  await setSetting(page, 'temperature', 0);
  // Press Stop from inside the page as soon as two tokens have streamed in (no race with
  // how fast the tiny model generates).
  await page.evaluate(() => {
    const log = document.querySelector('.transcript');
    const observer = new MutationObserver(() => {
      const replies = document.querySelectorAll('.msg.assistant');
      const last = replies[replies.length - 1];
      if (last && last.dataset.tokens.split(',').filter(Boolean).length >= 2) {
        const stop = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Stop');
        if (stop) {
          stop.click();
          observer.disconnect();
        }
      }
    });
    observer.observe(log, { subtree: true, childList: true, attributes: true });
  });
  const box = page.locator('[data-testid=message]');
  await box.fill('Hi!');
  await box.press('Enter');
  await page.locator('.turn-stats').first().waitFor({ timeout: 60_000 });
  const reply = page.locator('.msg.assistant').first();
  const tokens = (await reply.getAttribute('data-tokens')).split(',').filter(Boolean);
  assert.ok(tokens.length >= 2 && tokens.length <= 3, `stopped after ${tokens.length} tokens`);
  assert.match(await reply.locator('.turn-stats').innerText(), /stopped/);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 10_000 });

  // Shift+Enter adds a line instead of sending.
  await box.fill('And');
  await box.press('Shift+Enter');
  await box.type('?');
  assert.equal(await box.inputValue(), 'And\n?');
  assert.equal(await page.locator('.msg.user').count(), 1);
  await box.press('Enter');
  await page.locator('.msg.assistant .turn-stats').nth(1).waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('.msg.user').count(), 2);
  assert.equal(await page.locator('.msg.assistant').count(), 2);
  assert.equal(await page.getByText(/were left out/).count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('without WebGPU the page says which browsers and flags to use', async () => {
  const plain = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--disable-gpu', '--disable-webgpu', '--no-sandbox', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await plain.newPage();
    await page.goto(baseUrl);
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    const text = await alert.innerText();
    assert.match(text, /does not offer WebGPU/);
    assert.match(text, /Chrome/);
    assert.ok(await page.getByRole('button', { name: /Load SmolLM2/ }).isDisabled());
  } finally {
    await plain.close();
  }
});

test('a model file dropped on the page loads', async () => {
  const { page, errors } = await openApp();
  const bytes = readFileSync(tinyPath).toString('base64');
  await page.evaluate((b64) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], 'dropped.gguf'));
    const zone = document.querySelector('.dropzone');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, bytes);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 60_000 });
  assert.match(await page.locator('[data-testid=model-info]').innerText(), /qwen2/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Results view charts xlingo output files and says which it cannot', async () => {
  // Real outputs of the CLI where cheap (a scaling fit), hand-made ones in the CLI's formats
  // for a training log and an evaluation summary, and a JSON file that is neither.
  const points = join(work, 'points.json');
  writeFileSync(points, JSON.stringify({
    es: [[500, 8.1], [1000, 11.9], [2000, 15.2], [4000, 17.8], [8000, 19.9], [16000, 21.3]],
  }));
  const fits = join(work, 'fits.json');
  xlingo(['scaling', 'fit', '--points', points, '--out', fits]);
  const metrics = join(work, 'metrics.jsonl');
  writeFileSync(metrics, [
    { step: 0, valid_loss: 3.7 }, { step: 1, loss: 3.5, lr: 1e-4 }, { step: 2, loss: 3.1, lr: 2e-4, valid_loss: 3.2 },
  ].map((l) => JSON.stringify(l)).join('\n') + '\n');
  const summary = join(work, 'summary.json');
  writeFileSync(summary, JSON.stringify({
    task: 'translation', items: 20, model: 'tiny', bleu: { score: 3.9, signature: 'nrefs:1' },
    chrf: { score: 19.1 }, 'chrf++': { score: 18.7 }, off_target: { rate: 0.05 },
  }));
  const junk = join(work, 'settings.json');
  writeFileSync(junk, JSON.stringify({ colour: 'blue' }));

  const { page, errors } = await openApp();
  await page.locator('[data-testid=results-tab]').click();
  await page.locator('[data-testid=results-files]').setInputFiles([fits, metrics, summary, junk]);
  await page.locator('figure.chart').nth(2).waitFor({ timeout: 30_000 });
  const files = await page.locator('figure.chart').evaluateAll((fs) => fs.map((f) => f.dataset.file));
  assert.deepEqual(files.sort(), ['eval.svg', 'loss.svg', 'scaling.svg']);
  const scaling = page.locator('figure.chart[data-file="scaling.svg"] svg');
  assert.match(await scaling.innerHTML(), /es \(/);
  // Six observed points, drawn as markers (plus the legend's).
  assert.ok((await scaling.locator('circle').count()) >= 6);
  const notice = await page.locator('.results .notice').innerText();
  assert.match(notice, /settings\.json: not an xlingo output/);
  // Back to the chat and again: the page still works.
  await page.getByRole('button', { name: 'Chat' }).click();
  await page.locator('[data-testid=model-file]').waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Representations view computes per-layer similarity like xlingo analyze', async () => {
  // The same sentences through `xlingo analyze` (burn on the CPU) and through the page (the
  // chat's WGSL engine on WebGPU); the per-layer statistics must agree.
  const langs = {
    en: ['the cat sleeps', 'a big red house', 'we eat bread today', 'where is the station'],
    es: ['el gato duerme', 'una casa roja grande', 'hoy comemos pan', 'donde esta la estacion'],
    de: ['die Katze schlaeft', 'ein grosses rotes Haus', 'wir essen heute Brot', 'wo ist der Bahnhof'],
  };
  const args = ['analyze', '--model', tinyPath, '--out', join(work, 'analysis')];
  for (const [lang, lines] of Object.entries(langs)) {
    const file = join(work, `repr.${lang}`);
    writeFileSync(file, lines.join('\n') + '\n');
    args.push('--file', `${lang}=${file}`);
  }
  xlingo(args);
  const native = JSON.parse(readFileSync(join(work, 'analysis', 'analysis.json'), 'utf8'));

  const { page, errors } = await openApp();
  await page.locator('[data-testid=reprs-tab]').click();
  // Without a model the button is off and the page says why.
  assert.equal(await page.locator('[data-testid=repr-compute]').isDisabled(), true);
  await loadModel(page, tinyPath);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  const entries = Object.entries(langs);
  for (const [i, [lang, lines]] of entries.entries()) {
    await page.locator(`[data-testid=repr-code-${i}]`).fill(lang);
    await page.locator(`[data-testid=repr-text-${i}]`).fill(lines.join('\n'));
  }
  // Mismatched line counts are named before anything runs.
  await page.locator('[data-testid=repr-text-1]').fill(langs.es.slice(0, 3).join('\n'));
  await page.locator('[data-testid=repr-compute]').click();
  assert.match(await page.locator('[data-testid=repr-error]').innerText(), /`es` has 3 sentences but `en` has 4/);
  await page.locator('[data-testid=repr-text-1]').fill(langs.es.join('\n'));
  await page.locator('[data-testid=repr-compute]').click();
  await page.locator('[data-testid=repr-table] tbody tr').first().waitFor({ timeout: 120_000 });

  const rows = await page.locator('[data-testid=repr-table] tbody tr').evaluateAll((trs) =>
    trs.map((tr) => Object.fromEntries(Object.entries(tr.dataset).map(([k, v]) => [k, Number(v)]))));
  const mean = native.pooling.mean.layers;
  const last = native.pooling.last.layers;
  assert.equal(rows.length, mean.length, 'one row per layer (embeddings + decoder layers)');
  // f32 sums in another order on another device: cosines agree to ~1e-6 in practice.
  const TOL = 1e-4;
  let worst = 0;
  for (const [i, r] of rows.entries()) {
    for (const [ours, theirs] of [
      [r.meanCosine, mean[i].mean_cosine], [r.meanCentered, mean[i].mean_cosine_centered],
      [r.lastCosine, last[i].mean_cosine],
    ]) {
      worst = Math.max(worst, Math.abs(ours - theirs));
      assert.ok(Math.abs(ours - theirs) < TOL, `layer ${i}: ${ours} vs ${theirs}`);
    }
    assert.equal(r.meanRetrieval, mean[i].mean_retrieval, `layer ${i} retrieval (mean)`);
    assert.equal(r.lastRetrieval, last[i].mean_retrieval, `layer ${i} retrieval (last)`);
  }
  console.log(`representations: largest cosine difference to xlingo analyze ${worst.toExponential(2)}`);
  const charts = await page.locator('.reprs figure.chart').evaluateAll((fs) => fs.map((f) => f.dataset.file));
  assert.ok(charts.includes('similarity.svg') && charts.includes('retrieval.svg'), charts.join());
  const href = await page.locator('a[download="analysis.json"]').getAttribute('href');
  const downloaded = JSON.parse(decodeURIComponent(href.slice(href.indexOf(',') + 1)));
  assert.deepEqual(downloaded.languages, ['en', 'es', 'de']);
  // The engine is back: chat works after the analysis.
  await page.getByRole('button', { name: 'Chat' }).click();
  await page.locator('.app[data-status=ready]').waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Tune view LoRA-tunes the model on WebGPU: the loss falls, the adapter downloads, the chat uses the tuned model', async () => {
  // A user's Alpaca JSONL file the tiny model can learn from in a few steps.
  const words = ['cat', 'dog', 'sun', 'red', 'tree', 'blue', 'fish', 'bird', 'milk', 'rain'];
  const records = [];
  for (let i = 0; i < 20; i++) {
    const w = words[i % words.length];
    records.push(JSON.stringify({ instruction: `Say the word ${w} twice.`, input: '', output: `${w} ${w}` }));
  }
  const data = join(work, 'tune.jsonl');
  writeFileSync(data, records.join('\n') + '\n');

  const { page, errors } = await openApp();
  await page.locator('[data-testid=tune-tab]').click();
  assert.equal(await page.locator('[data-testid=tune-start]').isDisabled(), true, 'no model: no tuning');
  await loadModel(page, tinyPath);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  await page.locator('[data-testid=tune-file]').setInputFiles(data);
  await page.waitForFunction(() => document.querySelector('[data-testid=tune-data]')?.textContent === 'tune.jsonl');
  for (const [id, value] of [['steps', 12], ['lr', 0.01], ['batch', 4], ['max-len', 64]]) {
    const input = page.locator(`[data-testid=tune-${id}]`);
    await input.fill(String(value));
    await input.dispatchEvent('change');
  }
  const started = Date.now();
  await page.locator('[data-testid=tune-start]').click();
  await page.locator('.app[data-status=tuning]').waitFor({ timeout: 10_000 }).catch(() => {});
  await page.locator('[data-testid=tune-run][data-state=done]').waitFor({ timeout: 400_000 });
  const read = (id) => page.locator(`[data-testid=${id}] li`).evaluateAll((lis) =>
    lis.map((li) => [Number(li.dataset.step), Number(li.dataset.loss)]));
  const train = await read('tune-losses');
  const held = await read('tune-validation');
  console.log(`tune: ${train.length} steps in ${((Date.now() - started) / 1000).toFixed(0)} s; training loss ${train.map(([, l]) => l.toFixed(3)).join(' ')}; held out ${held.map(([s, l]) => `${s}:${l.toFixed(3)}`).join(' ')}`);
  assert.equal(train.length, 12);
  assert.ok(train.every(([, l]) => Number.isFinite(l)));
  const mean = (xs) => xs.reduce((a, [, l]) => a + l, 0) / xs.length;
  assert.ok(mean(train.slice(-3)) < 0.9 * mean(train.slice(0, 3)), 'the training loss falls by more than 10%');
  assert.equal(held[0][0], 0);
  assert.equal(held[held.length - 1][0], 12);
  assert.ok(held[held.length - 1][1] < 0.9 * held[0][1], 'the held-out loss falls by more than 10%');

  // The adapter in PEFT's format: lora_A and lora_B of q and v in both layers.
  const href = await page.locator('[data-testid=tune-download]').getAttribute('href');
  const names = await page.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
    return Object.keys(header).filter((k) => k !== '__metadata__').sort();
  }, href);
  assert.equal(names.length, 8, names.join());
  assert.ok(names.includes('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'), names.join());

  // The chat switches to the tuned model (adapters merged) and answers.
  await page.locator('[data-testid=tune-chat]').click();
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  assert.match(await page.locator('[data-testid=model-info]').innerText(), /\+ LoRA/);
  const box = page.locator('[data-testid=message]');
  await box.fill('Say the word cat twice.');
  await box.press('Enter');
  await page.locator('.app[data-status=generating]').waitFor({ timeout: 10_000 }).catch(() => {});
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  const reply = await page.locator('.msg.assistant .content').last().innerText();
  console.log(`tuned model's reply: ${JSON.stringify(reply)}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Lens view probes the subspaces like xlingo lens probe, then Lens-tunes the top layers on WebGPU', async () => {
  const rows = [
    ['tell me about the sea', 'hablame del mar', 'erzaehl mir vom meer'],
    ['what is a good book', 'que es un buen libro', 'was ist ein gutes buch'],
    ['how do birds fly', 'como vuelan los pajaros', 'wie fliegen voegel'],
    ['write a short poem', 'escribe un poema corto', 'schreib ein kurzes gedicht'],
    ['where do cats sleep', 'donde duermen los gatos', 'wo schlafen katzen'],
    ['name three colours', 'nombra tres colores', 'nenne drei farben'],
  ];
  const prompts = join(work, 'lens-prompts.jsonl');
  writeFileSync(prompts, rows.map(([en, es, de]) => JSON.stringify({ en, es, de })).join('\n') + '\n');
  const out = join(work, 'lens-probe');
  xlingo(['lens', 'probe', '--model', tinyPath, '--prompts', prompts, '--langs', 'en,es,de', '--out', out]);
  const native = JSON.parse(readFileSync(join(out, 'subspaces.json'), 'utf8'));

  const { page, errors } = await openApp();
  await page.locator('[data-testid=lens-tab]').click();
  assert.equal(await page.locator('[data-testid=lens-start]').isDisabled(), true, 'no model: no Lens');
  await loadModel(page, tinyPath);
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  await page.locator('[data-testid=lens-file]').setInputFiles(prompts);
  await page.waitForFunction(() => document.querySelector('[data-testid=lens-source]')?.textContent === 'lens-prompts.jsonl');
  for (const [id, value] of [['langs', 'en,es,de'], ['prompts', rows.length], ['top', 2], ['steps', 8], ['lr', 0.01]]) {
    const input = page.locator(`[data-testid=lens-${id}]`);
    await input.fill(String(value));
    await input.dispatchEvent('change');
  }
  const started = Date.now();
  await page.locator('[data-testid=lens-start]').click();
  await page.locator('[data-testid=lens-probe] tbody tr').first().waitFor({ timeout: 300_000 });
  const probed = await page.locator('[data-testid=lens-probe] tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    layer: Number(tr.dataset.layer),
    singular: tr.dataset.singular.split(',').map(Number),
    shifts: Object.fromEntries(tr.dataset.shifts.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])),
  })));
  assert.equal(probed.length, native.layers.length, 'one row per probed layer');
  let worst = 0;
  for (const [i, row] of probed.entries()) {
    const want = native.layers[i];
    assert.equal(row.layer, want.layer);
    const scale = Math.max(...want.singular_values);
    for (const [j, v] of want.singular_values.entries()) {
      worst = Math.max(worst, Math.abs(row.singular[j] - v) / scale);
      assert.ok(Math.abs(row.singular[j] - v) < 1e-3 * scale, `layer ${row.layer} σ${j}: ${row.singular[j]} vs ${v}`);
    }
    for (const [lang, n] of Object.entries(want.shift_norms)) {
      worst = Math.max(worst, Math.abs(row.shifts[lang] - n) / Math.max(n, 1e-6));
      assert.ok(Math.abs(row.shifts[lang] - n) < 1e-3 * Math.max(n, 1), `layer ${row.layer} shift ${lang}: ${row.shifts[lang]} vs ${n}`);
    }
  }
  console.log(`lens probe: largest relative difference to xlingo lens probe ${worst.toExponential(2)}`);
  assert.equal(await page.locator('[data-testid=lens-probe] figure svg').count(), 1, 'the subspace plot');

  await page.locator('[data-testid=lens-run][data-state=done]').waitFor({ timeout: 400_000 });
  const evals = await page.locator('[data-testid=lens-evals] li').evaluateAll((lis) =>
    lis.map((li) => ({ step: Number(li.dataset.step), total: Number(li.dataset.total), retain: Number(li.dataset.retain), push: Number(li.dataset.push), pull: Number(li.dataset.pull) })));
  const steps = await page.locator('[data-testid=lens-steps-list] li').count();
  console.log(`lens: ${steps} steps in ${((Date.now() - started) / 1000).toFixed(0)} s; before ${JSON.stringify(evals[0])}; after ${JSON.stringify(evals[evals.length - 1])}`);
  assert.equal(steps, 8);
  assert.equal(evals.length, 2);
  assert.equal(evals[1].step, 8);
  assert.ok(evals[1].total < evals[0].total, 'the Lens loss falls');
  assert.ok(evals[1].push < evals[0].push, 'the languages moved along their shifts');

  await page.locator('[data-testid=lens-chat]').click();
  await page.locator('.app[data-status=ready]').waitFor({ timeout: 120_000 });
  assert.match(await page.locator('[data-testid=model-info]').innerText(), /\+ LoRA/);
  assert.deepEqual(errors, []);
  await page.close();
});
