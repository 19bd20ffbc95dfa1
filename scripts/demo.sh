#!/usr/bin/env bash
# The main job, for now: set up, fetch the default model (SmolLM2-135M-Instruct, checksummed,
# cached) and chat with it through `xlingo generate`. Arguments are passed to `generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
if [ $# -eq 0 ]; then
  set -- --chat --prompt "Translate to French: The weather is lovely today." --temperature 0 --max-tokens 64
fi
cargo run -q -p xlingo-cli -- generate --model smollm2-135m-instruct "$@"
