//! Writing xlingo-plots' figures beside the outputs they draw.

use std::path::Path;

use anyhow::Result;
pub use xlingo_plots::figures::*;

use crate::assets::write_atomically;

/// Write each figure into `dir` under its file name.
pub fn write_figures(dir: &Path, figures: &[Figure]) -> Result<()> {
    for f in figures {
        write_atomically(&dir.join(&f.file), f.svg.as_bytes())?;
    }
    Ok(())
}
