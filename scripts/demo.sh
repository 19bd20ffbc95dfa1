#!/usr/bin/env bash
# The main job: set up, fetch the default model (SmolLM2-135M-Instruct, checksummed, cached),
# build the web app (Trunk, release), put the model beside it and serve it on localhost.
# Open the printed address in a browser with WebGPU (Chrome/Edge 113+, Safari 26+, ...).
# XLINGO_PORT picks the port (default 8080); XLINGO_HOST the address (default 127.0.0.1:
# WebGPU needs a secure context, which localhost is).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
host="${XLINGO_HOST:-127.0.0.1}"
port="${XLINGO_PORT:-8080}"

echo "[demo] fetching the default model into $XLINGO_CACHE"
model="$(cargo run -q -p xlingo-cli -- fetch smollm2-135m-instruct)"

echo "[demo] building the web app (trunk build --release)"
trunk build --release
mkdir -p dist/models
# A hard link when the cache is on the same file system, else a copy.
ln -f "$model" dist/models/ 2>/dev/null || cp "$model" dist/models/

echo
echo "  xlingo web app: http://$host:$port/"
echo "  (\"Load SmolLM2-135M-Instruct\" reads dist/models/; Ctrl+C stops the server)"
echo
exec python3 -m http.server --bind "$host" --directory dist "$port"
