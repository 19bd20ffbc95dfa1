//! The sample charts, byte for byte, against `tests/golden/*.svg` (the wasm32 test compares
//! against the same files, so this also pins native and browser output to each other).
//!
//! After an intended change to the drawing, rewrite them and look at the result:
//! `XLINGO_UPDATE_GOLDEN=1 cargo test -p xlingo-plots --test golden`.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::path::Path;

#[test]
fn samples_match_the_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("XLINGO_UPDATE_GOLDEN").is_some();
    for (name, svg) in common::rendered() {
        let path = dir.join(format!("{name}.svg"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &svg).unwrap();
            continue;
        }
        let golden =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            golden == svg,
            "{name}: the SVG differs from {}; if the change is intended, rerun with \
             XLINGO_UPDATE_GOLDEN=1 and look at the new file",
            path.display()
        );
    }
}
