#!/usr/bin/env bash
# Install what xlingo needs on a Debian/Ubuntu machine (as root, or with sudo), idempotently:
# a C toolchain, Vulkan with the lavapipe software driver (so the wgpu path runs without a GPU),
# Python with pip (the package-registry source of models and test vectors), Rust with the
# wasm32 target, and headless Chromium + chromedriver + wasm-bindgen-test-runner for the
# `#[wasm_bindgen_test]` browser tests (WebGPU through SwiftShader; docs/wasm-webgpu-tests.md),
# Trunk (builds the web app) and Node.js (its end-to-end tests with playwright-core).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(build-essential pkg-config ca-certificates curl python3 python3-pip python3-venv
          mesa-vulkan-drivers libvulkan1 chromium chromium-driver)
# Node.js may come from elsewhere (nodesource, nvm); Debian's is recent enough (playwright-core
# needs 18+).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "[setup] installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
# The runner must be exactly the wasm-bindgen in Cargo.lock (pinned "=0.2.130" in Cargo.toml).
# Not --locked: one of its locked dependencies is no longer on crates.io.
WASM_BINDGEN_VERSION=0.2.130
if [ "$(wasm-bindgen-test-runner --version 2>/dev/null)" != "wasm-bindgen-test-runner $WASM_BINDGEN_VERSION" ]; then
  echo "[setup] installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
# Trunk builds and bundles the web app (web/, Trunk.toml). --ignore-rust-version: with
# --locked, one of its pinned dependencies refuses rustc 1.95 without it.
TRUNK_VERSION=0.22.1
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  echo "[setup] installing trunk $TRUNK_VERSION (about 9 minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --ignore-rust-version
fi
echo "[setup] ok: $(cargo --version), $(python3 --version), $(wasm-bindgen-test-runner --version), $(trunk --version), node $(node --version), $(chromium --version 2>/dev/null)"
