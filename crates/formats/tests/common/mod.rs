//! Shared by the tests that read llama.cpp's test assets.

use std::path::PathBuf;

/// `$XLINGO_CACHE/llama.cpp-0.3.36` (or `~/.cache/xlingo/…`), fetched by
/// scripts/fetch-test-assets.sh. Missing assets fail the test: they never skip it.
pub fn llama_cpp_assets_dir() -> PathBuf {
    let cache = std::env::var_os("XLINGO_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/xlingo")))
        .expect("neither XLINGO_CACHE nor HOME is set");
    let dir = cache.join("llama.cpp-0.3.36");
    assert!(
        dir.join(".complete").is_file(),
        "llama.cpp test assets not found in {}: run scripts/fetch-test-assets.sh \
         (honours XLINGO_CACHE)",
        dir.display()
    );
    dir
}
