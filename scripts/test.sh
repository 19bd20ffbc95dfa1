#!/usr/bin/env bash
# Everything the tests need, then every test: set-up (idempotent), test assets (model and
# llama.cpp's tokenizer vectors, checksummed, cached), native tests (CPU and wgpu on lavapipe),
# the wasm32 build of the wasm-safe crates, formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

echo "[test] fetching test assets into $XLINGO_CACHE"
cargo run -q -p xlingo-cli -- fetch smollm2-135m-instruct >/dev/null
bash scripts/fetch-test-assets.sh

echo "[test] cargo fmt --check"
cargo fmt --all -- --check
echo "[test] cargo clippy"
cargo clippy -q --workspace --all-targets -- -D warnings
echo "[test] wasm32 build of xlingo-formats, xlingo-model and xlingo-gpu"
cargo check -q -p xlingo-formats -p xlingo-model -p xlingo-gpu --target wasm32-unknown-unknown
echo "[test] cargo test"
cargo test --workspace
echo "[test] wasm32 browser tests of crates/gpu (headless Chromium, WebGPU on SwiftShader)"
# webdriver.json beside crates/gpu/Cargo.toml enables WebGPU; never add -q (the runner rejects it).
CHROMEDRIVER=/usr/bin/chromedriver CARGO_PROFILE_DEV_DEBUG=0 cargo test -p xlingo-gpu --target wasm32-unknown-unknown
