#!/usr/bin/env bash
# Build llama.cpp's `llama-bench` for benches/compare.py.
#
# Source: the PyPI source distribution of llama-cpp-python 0.3.36 (which vendors llama.cpp at
# ggml-org/llama.cpp@0c1e57098, per its CHANGELOG), pinned by sha256 — the same archive that
# scripts/fetch-test-assets.sh fetches. Only vendor/llama.cpp is extracted, into
#   ${XLINGO_CACHE:-$HOME/.cache/xlingo}/llama.cpp-0.3.36-src/
# and built there with cmake:
#   build/bin/llama-bench        CPU (AVX2/FMA/F16C; no AVX-512, no AMX, not -march=native),
#                                and llama-batched-bench beside it (compare.py --batch-size)
#   build-cuda/bin/llama-bench   CUDA, only when nvcc is on PATH (same flags + GGML_CUDA=ON;
#                                CUDA_ARCHS, default "native" when nvidia-smi works, else
#                                llama.cpp's own list)
#
# Idempotent: the extraction is skipped when `.complete` names the sdist's sha256, and a build is
# skipped when its binary exists and was configured with the same flags. The last line printed
# is the path of the binary to use (the CUDA one when it was built, else the CPU one).
#
# Environment: XLINGO_CACHE, PYTHON (for pip), JOBS (default 2), CUDA_ARCHS,
# XLINGO_PIP_NO_BUILD_ISOLATION=1 (as in scripts/fetch-test-assets.sh).
set -euo pipefail

VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-2}

CACHE="${XLINGO_CACHE:-$HOME/.cache/xlingo}"
SRC="$CACHE/llama.cpp-$VERSION-src"
SDIST_NAME="llama_cpp_python-$VERSION.tar.gz"
SDIST="$CACHE/$SDIST_NAME"
PREFIX="llama_cpp_python-$VERSION"

log() { echo "build-llama-bench: $*" >&2; }
sha_ok() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum -c --quiet - >/dev/null 2>&1; }

# --- cmake ----------------------------------------------------------------------------------
if ! cmake --version >/dev/null 2>&1; then
    log "cmake not found; installing it"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get install -y cmake || { apt-get update && apt-get install -y cmake; }
    elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
        sudo apt-get install -y cmake || { sudo apt-get update && sudo apt-get install -y cmake; }
    else
        "$PYTHON" -m pip install cmake
    fi
fi
cmake --version | head -n1 >&2

# --- source ---------------------------------------------------------------------------------
mkdir -p "$CACHE"
if ! { [ -f "$SRC/.complete" ] && grep -q "$SHA256" "$SRC/.complete"; }; then
    TMP="$(mktemp -d "$CACHE/.llama-src.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
    if ! sha_ok "$SDIST"; then
        log "downloading $SDIST_NAME from PyPI ..."
        iso=()
        if [ "${XLINGO_PIP_NO_BUILD_ISOLATION:-0}" = 1 ]; then iso=(--no-build-isolation); fi
        # --no-binary names only this package (see scripts/fetch-test-assets.sh).
        "$PYTHON" -m pip download --no-deps --no-binary llama-cpp-python "${iso[@]}" \
            "llama-cpp-python==$VERSION" -d "$TMP/dl"
        if ! sha_ok "$TMP/dl/$SDIST_NAME"; then
            log "error: sha256 of $SDIST_NAME does not match $SHA256"
            sha256sum "$TMP/dl/$SDIST_NAME" >&2 || true
            exit 1
        fi
        mv "$TMP/dl/$SDIST_NAME" "$SDIST"
    fi
    log "extracting vendor/llama.cpp into $SRC ..."
    tar -xzf "$SDIST" -C "$TMP" "$PREFIX/vendor/llama.cpp" "$PREFIX/CHANGELOG.md"
    # The vendored commit, from llama-cpp-python's CHANGELOG entry for this version
    # ("feat: update llama.cpp to ggml-org/llama.cpp@<hash>").
    commit="$(awk -v v="## [$VERSION]" '$0==v{f=1;next} /^## \[/{f=0} f' "$TMP/$PREFIX/CHANGELOG.md" \
        | grep -o 'ggml-org/llama.cpp@[0-9a-f]*' | head -n1 | cut -d@ -f2 || true)"
    rm -rf "$SRC"
    mv "$TMP/$PREFIX/vendor/llama.cpp" "$SRC"
    # vendor/llama.cpp/.git is a git-submodule pointer to a directory the sdist lacks.
    rm -f "$SRC/.git"
    echo "${commit:-unknown}" > "$SRC/.vendored-commit"
    echo "$SHA256  $SDIST_NAME" > "$SRC/.complete"
fi
COMMIT="$(cat "$SRC/.vendored-commit")"
log "llama.cpp source: $SRC (llama-cpp-python $VERSION, llama.cpp@$COMMIT)"

# --- build ----------------------------------------------------------------------------------
COMMON=(
    -DCMAKE_BUILD_TYPE=Release
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
    -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_VULKAN=OFF
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
    -DLLAMA_BUILD_APP=OFF
    # The extracted tree has no .git: name the vendored commit ourselves (else "unknown", or,
    # if the cache lies inside some other git repository, that repository's commit).
    -DLLAMA_BUILD_COMMIT="$COMMIT" -DLLAMA_BUILD_NUMBER=0
)

# build DIR [extra cmake args...]: configure + build llama-bench (and llama-batched-bench) in
# $SRC/DIR unless up to date.
build() {
    local dir="$SRC/$1"; shift
    local args=("${COMMON[@]}" "$@")
    local stamp="$dir/.xlingo-config"
    if [ -x "$dir/bin/llama-bench" ] && [ -x "$dir/bin/llama-batched-bench" ] && [ -f "$stamp" ] \
        && [ "$(cat "$stamp")" = "${args[*]}" ]; then
        log "up to date: $dir/bin/llama-bench"
        return
    fi
    log "configuring $dir: ${args[*]}"
    cmake -S "$SRC" -B "$dir" "${args[@]}" >&2
    log "building llama-bench and llama-batched-bench in $dir with -j$JOBS (several minutes) ..."
    cmake --build "$dir" --config Release --target llama-bench llama-batched-bench -j"$JOBS" >&2
    echo "${args[*]}" > "$stamp"
}

build build
BIN="$SRC/build/bin/llama-bench"

if command -v nvcc >/dev/null 2>&1; then
    archs="${CUDA_ARCHS:-}"
    if [ -z "$archs" ] && nvidia-smi >/dev/null 2>&1; then archs=native; fi
    cuda=(-DGGML_CUDA=ON)
    if [ -n "$archs" ]; then cuda+=(-DCMAKE_CUDA_ARCHITECTURES="$archs"); fi
    build build-cuda "${cuda[@]}"
    log "CPU build: $BIN"
    BIN="$SRC/build-cuda/bin/llama-bench"
    log "CUDA build: $BIN"
else
    log "nvcc not on PATH: CPU build only"
fi

echo "$BIN"
