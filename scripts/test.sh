#!/usr/bin/env bash
# Everything the tests need, then every test: set-up (idempotent), test assets (model and
# llama.cpp's tokenizer vectors, checksummed, cached), native tests (CPU and wgpu on lavapipe),
# the wasm32 build of the wasm-safe crates, formatting and lints, browser tests of the engine,
# and the web app built by Trunk and tested end to end in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

echo "[test] fetching test assets into $XLINGO_CACHE"
cargo run -q -p xlingo-cli -- fetch smollm2-135m-instruct >/dev/null
bash scripts/fetch-test-assets.sh
# Real parallel data (UDHR, SWORD Bibles, gettext catalogs) for crates/data's real-data tests.
bash scripts/fetch-data.sh >/dev/null

echo "[test] cargo fmt --check"
cargo fmt --all -- --check
echo "[test] cargo clippy"
cargo clippy -q --workspace --all-targets -- -D warnings
echo "[test] wasm32 build of the wasm-safe crates; lints of the web app"
cargo check -q -p xlingo-formats -p xlingo-model -p xlingo-gpu -p xlingo-eval -p xlingo-data -p xlingo-plots -p xlingo-train --target wasm32-unknown-unknown
cargo clippy -q -p xlingo-web --target wasm32-unknown-unknown -- -D warnings
echo "[test] cargo test"
cargo test --workspace
echo "[test] wasm32 test of crates/plots in Node (no DOM; the same SVG bytes as natively)"
cargo test -p xlingo-plots --target wasm32-unknown-unknown --test wasm
echo "[test] wasm32 browser tests of crates/gpu (headless Chromium, WebGPU on SwiftShader)"
# webdriver.json beside crates/gpu/Cargo.toml enables WebGPU; never add -q (the runner rejects it).
CHROMEDRIVER=/usr/bin/chromedriver CARGO_PROFILE_DEV_DEBUG=0 cargo test -p xlingo-gpu --target wasm32-unknown-unknown
echo "[test] wasm32 browser test of crates/train (LoRA steps with burn on WebGPU vs the native run)"
# 8 training steps take ~40 s on SwiftShader; the runner's default limit is 20 s.
WASM_BINDGEN_TEST_TIMEOUT=300 CHROMEDRIVER=/usr/bin/chromedriver CARGO_PROFILE_DEV_DEBUG=0 \
  cargo test -p xlingo-train --target wasm32-unknown-unknown --test web
echo "[test] web app: trunk build --release, then end-to-end tests (playwright-core, headless Chromium)"
trunk build --release
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
XLINGO_BIN="$CARGO_TARGET_DIR/debug/xlingo" node --test --test-concurrency=1 tests/e2e/
