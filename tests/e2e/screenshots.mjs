// Screenshots of the web app at desktop and phone widths, light and dark, for looking at
// the layout (not a test). Usage, after `trunk build --release` and with a model to load:
//   node tests/e2e/screenshots.mjs OUT_DIR [MODEL.gguf] [PROMPT]
// Without MODEL it presses "Load SmolLM2-135M-Instruct" (dist/models/ must hold it).

import { createServer } from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, extname, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.env.XLINGO_DIST || join(here, '..', '..', 'dist');
const [out = 'screenshots', model, prompt = 'Translate to Spanish: The library opens at nine.'] =
  process.argv.slice(2);
mkdirSync(out, { recursive: true });
const mime = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
  const file = join(dist, path.endsWith('/') ? path + 'index.html' : path);
  try {
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': mime[extname(file)] || 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
    '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--no-sandbox',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(url);
await page.locator('.badge.ok').waitFor({ timeout: 60_000 });
await page.screenshot({ path: join(out, 'desktop-empty.png') });
if (model) {
  await page.locator('[data-testid=model-file]').setInputFiles(model);
} else {
  await page.getByRole('button', { name: /Load SmolLM2/ }).click();
}
await page.waitForTimeout(300);
await page.screenshot({ path: join(out, 'desktop-loading.png') });
await page.locator('.app[data-status=ready]').waitFor({ timeout: 600_000 });
const maxTokens = page.locator('#setting-maxtokens');
await maxTokens.fill(process.env.MAX_TOKENS || '40');
await maxTokens.dispatchEvent('change');
const box = page.locator('[data-testid=message]');
await box.fill(prompt);
await box.press('Enter');
await page.waitForTimeout(1500);
await page.screenshot({ path: join(out, 'desktop-streaming.png') });
await page.locator('.app[data-status=ready]').waitFor({ timeout: 600_000 });
await page.locator('details.panel:has(h2:text("GPU")) summary').click();
await page.screenshot({ path: join(out, 'desktop-light.png') });
await page.selectOption('select[aria-label=Theme]', 'dark');
await page.screenshot({ path: join(out, 'desktop-dark.png') });
await page.setViewportSize({ width: 390, height: 844 });
await page.screenshot({ path: join(out, 'phone-dark.png'), fullPage: true });
await page.selectOption('select[aria-label=Theme]', 'light');
await page.screenshot({ path: join(out, 'phone-light.png'), fullPage: true });
await page.locator('[data-testid=message]').scrollIntoViewIfNeeded();
await page.screenshot({ path: join(out, 'phone-chat.png') });
// The Representations view on its example sentences (en, es, zh).
await page.setViewportSize({ width: 1280, height: 800 });
await page.locator('[data-testid=reprs-tab]').click();
await page.locator('[data-testid=repr-compute]').click();
await page.locator('[data-testid=repr-table] tbody tr').first().waitFor({ timeout: 600_000 });
await page.screenshot({ path: join(out, 'desktop-representations.png'), fullPage: true });
await browser.close();
server.close();
console.log(`screenshots in ${out}`);
