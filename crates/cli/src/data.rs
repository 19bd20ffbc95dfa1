//! `xlingo data coit|muit`: build a cross-lingual instruction-tuning set (x-LLaMA's CoIT) for
//! one target language from parallel text and instruction data, and mix several languages'
//! sets under a budget (m-LLaMA's MuIT), as JSONL that `xlingo train sft` reads.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use xlingo_data::coit::{CoitConfig, Direction, GeneralMix, build_coit};
use xlingo_data::muit::{mix_muit, parse_budgets};
use xlingo_data::record::{Example, Instruction, Pair};
use xlingo_data::sword::join_verses;

use crate::assets::{data_dir, write_atomically};

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Cross-lingual instruction data for one language: translation instructions from
    /// parallel text (33 templates, English → target by default) plus general instructions.
    Coit(CoitArgs),
    /// Multilingual instruction data (m-LLaMA's MuIT): one shuffled training set drawing a
    /// budgeted number of examples from each language's pool (e.g. the budget map that
    /// `xlingo scaling allocate --budget-map` writes).
    Muit(MuitArgs),
}

#[derive(Args, Debug)]
pub struct MuitArgs {
    /// One language's examples as LANG=FILE.jsonl (`xlingo data coit` output, or Alpaca
    /// records, which count as general examples in LANG); repeat for each language.
    #[arg(long = "pool", value_name = "LANG=JSONL", required = true)]
    pools: Vec<String>,
    /// JSON: {"es": examples, "zh": examples, ...}.
    #[arg(long)]
    budgets: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output JSONL (instruction, input, output, lang, kind).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    EnX,
    XEn,
    Both,
}

#[derive(Args, Debug)]
pub struct CoitArgs {
    /// ISO 639-1 code of the target language.
    #[arg(long)]
    lang: String,
    /// Parallel text as TSV (English, target).
    #[arg(long, conflicts_with_all = ["source", "bible"])]
    tsv: Option<PathBuf>,
    /// Parallel text as two line-aligned files (Flores/Moses style): English, then --target.
    #[arg(long, requires = "target", conflicts_with = "bible")]
    source: Option<PathBuf>,
    #[arg(long)]
    target: Option<PathBuf>,
    /// English–Spanish Bible verse pairs from the SWORD modules fetched by
    /// scripts/fetch-data.sh (World English Bible, Reina-Valera 1909).
    #[arg(long)]
    bible: bool,
    /// English–target passages of the Universal Declaration of Human Rights (fetched by
    /// scripts/fetch-data.sh), aligned by paragraph where the translations agree, else by article.
    #[arg(long, conflicts_with_all = ["tsv", "source", "bible"])]
    udhr: bool,
    /// Use at most this many translation pairs (the first ones, in the source's order).
    #[arg(long)]
    max_pairs: Option<usize>,
    /// English instruction data (Alpaca JSON/JSONL).
    #[arg(long)]
    general_en: Option<PathBuf>,
    /// Instruction data in the target language (Alpaca JSON/JSONL).
    #[arg(long)]
    general_target: Option<PathBuf>,
    /// General examples per translation example (half English, half target language).
    #[arg(long, default_value_t = 1.0)]
    general_ratio: f64,
    #[arg(long, value_enum, default_value = "en-x")]
    direction: DirectionArg,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output JSONL (instruction, input, output, lang, kind).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Coit(args) => coit(args),
        DataCommand::Muit(args) => muit(args),
    }
}

fn muit(args: MuitArgs) -> Result<()> {
    let mut pools = BTreeMap::new();
    for spec in &args.pools {
        let Some((lang, file)) = spec.split_once('=') else {
            bail!("--pool {spec}: expected LANG=FILE.jsonl, e.g. --pool es=coit-es.jsonl");
        };
        let parsed = xlingo_data::fs::load_pool(file, lang)?;
        report_issues(&parsed.issues);
        if pools.insert(lang.to_owned(), parsed.records).is_some() {
            bail!("--pool: language `{lang}` given twice");
        }
    }
    let text = xlingo_data::fs::read_text(&args.budgets)?;
    let budgets = parse_budgets(&args.budgets.display().to_string(), &text)?;
    let (examples, report) = mix_muit(&pools, &budgets, args.seed);
    write_examples(&args.out, &examples)?;
    let taken: Vec<String> = report
        .taken
        .iter()
        .map(|(lang, n)| format!("{n} {lang}"))
        .collect();
    eprintln!("[xlingo] {} examples: {}", examples.len(), taken.join(", "));
    for s in &report.shortfalls {
        eprintln!(
            "[xlingo] note: {} has {} examples, fewer than its budget of {}",
            s.lang, s.available, s.budget
        );
    }
    for lang in &report.unbudgeted {
        eprintln!("[xlingo] note: {lang} has a pool but no budget; none of it was taken");
    }
    println!("{}", args.out.display());
    Ok(())
}

fn write_examples(path: &Path, examples: &[Example]) -> Result<()> {
    let mut out = Vec::new();
    for e in examples {
        writeln!(out, "{}", serde_json::to_string(e)?)?;
    }
    write_atomically(path, &out)
}

fn coit(args: CoitArgs) -> Result<()> {
    let mut pairs = read_pairs(&args)?;
    if let Some(n) = args.max_pairs {
        pairs.truncate(n);
    }
    let general = |path: &Option<PathBuf>| -> Result<Vec<Instruction>> {
        let Some(path) = path else {
            return Ok(Vec::new());
        };
        let parsed = xlingo_data::fs::load_alpaca(path)?;
        report_issues(&parsed.issues);
        Ok(parsed.records)
    };
    let general_en = general(&args.general_en)?;
    let general_x = general(&args.general_target)?;
    let mut cfg = CoitConfig::new(&args.lang);
    cfg.direction = match args.direction {
        DirectionArg::EnX => Direction::EnToX,
        DirectionArg::XEn => Direction::XToEn,
        DirectionArg::Both => Direction::Both,
    };
    cfg.general = GeneralMix::PerTranslation(args.general_ratio);
    cfg.seed = args.seed;
    let (examples, report) = build_coit(&pairs, &general_en, &general_x, &cfg)?;
    write_examples(&args.out, &examples)?;
    eprintln!(
        "[xlingo] {} examples: {} translation, {} general English, {} general {}",
        examples.len(),
        report.translation,
        report.general_en,
        report.general_target,
        args.lang
    );
    for (lang, missing) in &report.general_shortfall {
        eprintln!(
            "[xlingo] note: {missing} fewer general examples in {lang} than the ratio asked for"
        );
    }
    println!("{}", args.out.display());
    Ok(())
}

fn read_pairs(args: &CoitArgs) -> Result<Vec<Pair>> {
    if let Some(tsv) = &args.tsv {
        let parsed = xlingo_data::fs::load_tsv(tsv)?;
        report_issues(&parsed.issues);
        return Ok(parsed.records);
    }
    if let (Some(source), Some(target)) = (&args.source, &args.target) {
        let parsed = xlingo_data::fs::load_line_aligned(source, target)?;
        report_issues(&parsed.issues);
        return Ok(parsed.records);
    }
    if args.bible {
        if args.lang != "es" {
            bail!("--bible gives English–Spanish pairs; --lang must be es");
        }
        return bible_pairs();
    }
    if args.udhr {
        let corpus = crate::parallel::udhr_corpus(&["en".to_owned(), args.lang.clone()])?;
        return Ok((0..corpus.len())
            .map(|i| {
                let id = format!("udhr {}", corpus.names[i]);
                Pair::new(id, &corpus.texts[0][i], &corpus.texts[1][i])
            })
            .collect());
    }
    bail!("give parallel text: --tsv FILE, --source FILE --target FILE, --bible or --udhr")
}

/// The English–Spanish verse pairs of the SWORD modules scripts/fetch-data.sh fetches (World
/// English Bible, Reina-Valera 1909).
pub(crate) fn bible_pairs() -> Result<Vec<Pair>> {
    let root = data_dir().join("root/usr/share/sword");
    if !root.exists() {
        bail!(
            "{} not found: run scripts/fetch-data.sh first (it fetches the SWORD modules)",
            root.display()
        );
    }
    let web = xlingo_data::fs::load_sword_module(&root, "engWEB2015eb")?;
    let rv = xlingo_data::fs::load_sword_module(&root, "spaRV1909eb")?;
    Ok(join_verses(&web.verses, &rv.verses).0)
}

fn report_issues(issues: &[xlingo_data::Issue]) {
    for issue in issues.iter().take(5) {
        eprintln!("[xlingo] skipped: {issue}");
    }
    if issues.len() > 5 {
        eprintln!("[xlingo] … and {} more malformed records", issues.len() - 5);
    }
}
