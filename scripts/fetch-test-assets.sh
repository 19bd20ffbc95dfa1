#!/usr/bin/env bash
# Fetch llama.cpp's tokenizer test vectors and chat templates for the xlingo-formats tests.
#
# Source: the PyPI source distribution of llama-cpp-python (which vendors llama.cpp), pinned by
# version and sha256. Only these files are kept:
#   vendor/llama.cpp/models/ggml-vocab-*.gguf{,.inp,.out}  (vocab-only GGUF + test strings/ids)
#   vendor/llama.cpp/models/templates/*.jinja               (chat templates)
# Destination: ${XLINGO_CACHE:-$HOME/.cache/xlingo}/llama.cpp-0.3.36/{models,templates}/
#
# Idempotent: does nothing when the destination is complete (marker file `.complete`); a cached
# sdist whose sha256 matches is reused instead of being downloaded again.
#
# The sdist is fetched with `pip download` (the ordinary PyPI client). pip prepares the package's
# metadata while downloading, which needs the build backend (scikit-build-core, plus cmake);
# with pip's default build isolation it installs those into a throw-away environment itself.
# Set XLINGO_PIP_NO_BUILD_ISOLATION=1 to use the current environment instead
# (then `pip install scikit-build-core cmake` first).
set -euo pipefail

VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
PYTHON=${PYTHON:-python3}

CACHE="${XLINGO_CACHE:-$HOME/.cache/xlingo}"
DEST="$CACHE/llama.cpp-$VERSION"
SDIST_NAME="llama_cpp_python-$VERSION.tar.gz"
SDIST="$CACHE/$SDIST_NAME"

if [ -f "$DEST/.complete" ]; then
    echo "test assets already present in $DEST"
    exit 0
fi

mkdir -p "$CACHE"
TMP="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

sha_ok() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum -c --quiet - >/dev/null 2>&1; }

if ! sha_ok "$SDIST"; then
    echo "downloading $SDIST_NAME from PyPI ..."
    iso=()
    if [ "${XLINGO_PIP_NO_BUILD_ISOLATION:-0}" = 1 ]; then iso=(--no-build-isolation); fi
    # --no-binary names only this package: with `:all:` pip would also build the build
    # backend's own dependencies (cmake, ninja) from source.
    "$PYTHON" -m pip download --no-deps --no-binary llama-cpp-python "${iso[@]}" \
        "llama-cpp-python==$VERSION" -d "$TMP/dl"
    if ! sha_ok "$TMP/dl/$SDIST_NAME"; then
        echo "error: sha256 of $SDIST_NAME does not match $SHA256" >&2
        sha256sum "$TMP/dl/$SDIST_NAME" >&2 || true
        exit 1
    fi
    mv "$TMP/dl/$SDIST_NAME" "$SDIST"
fi

echo "extracting vocab test vectors and templates ..."
PREFIX="llama_cpp_python-$VERSION/vendor/llama.cpp/models"
tar -xzf "$SDIST" -C "$TMP" --wildcards \
    "$PREFIX/ggml-vocab-*.gguf*" "$PREFIX/templates/*.jinja"

rm -rf "$DEST"
mkdir -p "$DEST/models" "$DEST/templates"
cp "$TMP/$PREFIX"/ggml-vocab-*.gguf* "$DEST/models/"
cp "$TMP/$PREFIX"/templates/*.jinja "$DEST/templates/"
echo "$SHA256  $SDIST_NAME" > "$DEST/.complete"
echo "test assets in $DEST: $(ls "$DEST/models" | wc -l) vocab files, $(ls "$DEST/templates" | wc -l) templates"
