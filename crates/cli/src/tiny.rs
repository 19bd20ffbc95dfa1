//! `xlingo tiny`: write a tiny random model (GGUF, with a byte-level tokenizer and a ChatML
//! template) for trying the tools end to end in seconds. The web app's tests load one.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use xlingo_formats::GgmlType;
use xlingo_formats::tiny::{
    TINY_CHAT_VOCAB, add_tiny_tokenizer, gguf_metadata, random_weights, tiny_config, write_gguf,
};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TinyType {
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4_1,
}

impl TinyType {
    fn ggml(self) -> GgmlType {
        match self {
            TinyType::F32 => GgmlType::F32,
            TinyType::F16 => GgmlType::F16,
            TinyType::Q8_0 => GgmlType::Q8_0,
            TinyType::Q4_0 => GgmlType::Q4_0,
            TinyType::Q4_1 => GgmlType::Q4_1,
        }
    }
}

#[derive(Args, Debug)]
pub struct TinyArgs {
    /// Where to write the GGUF file.
    #[arg(long)]
    out: PathBuf,
    /// GGUF architecture: llama (interleaved RoPE, tied head) or qwen2 (NeoX RoPE, q/k/v bias).
    #[arg(long, default_value = "llama", value_parser = ["llama", "qwen2"])]
    arch: String,
    /// Type of the weight matrices (norms stay F32).
    #[arg(long = "type", value_enum, default_value = "q4-1")]
    ty: TinyType,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(args: TinyArgs) -> Result<()> {
    let mut config = tiny_config(&args.arch);
    config.vocab_size = TINY_CHAT_VOCAB;
    let mut g = gguf_metadata(&config);
    add_tiny_tokenizer(&mut g, config.vocab_size);
    g.set(
        "general.name",
        xlingo_formats::MetaValue::String(format!("tiny-{}-{}", args.arch, args.ty.ggml().name())),
    );
    let bytes = write_gguf(g, &random_weights(&config, args.seed), args.ty.ggml())?;
    crate::assets::write_atomically(&args.out, &bytes)?;
    println!("{}", args.out.display());
    Ok(())
}
