# Sourced by the scripts: a build cache outside the clone, so CI and fresh clones reuse it.
export PATH="$HOME/.cargo/bin:$PATH"
export XLINGO_CACHE="${XLINGO_CACHE:-$HOME/.cache/xlingo}"
export CARGO_TARGET_DIR="${XLINGO_TARGET_DIR:-$XLINGO_CACHE/target}"
# lavapipe warns without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
