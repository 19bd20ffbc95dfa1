//! Multilingual instruction tuning data (MuIT, m-LLaMA): one training set mixing every
//! language, with a number of examples per language given by a budget map
//! (`{"es": 20000, "zh": 12000}`: the format the data-allocation step writes).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::Value;

use crate::alpaca::{instruction_from_value, json_kind};
use crate::coit::sample;
use crate::error::{DataError, Issue, Location, Parsed, Result};
use crate::record::{Example, Kind};
use crate::rng::rng_for;
use crate::text::numbered_lines;

/// Read a budget map: a JSON object from language code to a non-negative whole number.
pub fn parse_budgets(file: &str, text: &str) -> Result<BTreeMap<String, usize>> {
    let v: Value = serde_json::from_str(crate::text::strip_bom(text))
        .map_err(|e| DataError::json(file, &e))?;
    let Value::Object(map) = v else {
        return Err(DataError::format(
            file,
            "expected a JSON object from language to number of examples",
        ));
    };
    map.into_iter()
        .map(|(lang, n)| match n.as_u64() {
            Some(n) => Ok((lang, n as usize)),
            None => Err(DataError::format(
                file,
                format!("budget for {lang:?} is {n}, not a non-negative whole number"),
            )),
        })
        .collect()
}

/// Read one language's pool: JSON Lines of examples as `xlingo data coit` writes them
/// (Alpaca fields plus `lang` and `kind`), or plain Alpaca records, which count as general
/// examples in `lang`. Every bad line is an issue with its line number.
pub fn parse_pool_jsonl(file: &str, text: &str, lang: &str) -> Parsed<Example> {
    let mut out = Parsed::default();
    for (n, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let example = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("invalid JSON at column {}: {e}", e.column()))
            .and_then(|v| example_from_value(&v, lang));
        out.push(example.map_err(|m| Issue::new(file, Location::Line(n), m)));
    }
    out
}

fn example_from_value(v: &Value, lang: &str) -> std::result::Result<Example, String> {
    let record = instruction_from_value(v)?;
    let lang = match v.get("lang") {
        None | Some(Value::Null) => lang.to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("`lang` is {}, not a string", json_kind(other))),
    };
    let kind = match v.get("kind") {
        None | Some(Value::Null) => Kind::General,
        Some(k) => serde_json::from_value(k.clone())
            .map_err(|_| format!("`kind` is {k}, not \"translation\" or \"general\""))?,
    };
    Ok(Example {
        instruction: record.instruction,
        input: record.input,
        output: record.output,
        lang,
        kind,
    })
}

/// A language that had fewer examples than its budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    pub lang: String,
    pub budget: usize,
    pub available: usize,
}

/// What the mixer took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MuitReport {
    pub taken: BTreeMap<String, usize>,
    pub shortfalls: Vec<Shortfall>,
    /// Languages with examples but no budget (none of them taken).
    pub unbudgeted: Vec<String>,
}

/// Take `budgets[lang]` examples from `pools[lang]` for every language (all of them, and a
/// [`Shortfall`], when there are fewer), chosen and then shuffled deterministically by `seed`.
/// Each language draws from its own random stream, so changing one budget leaves the other
/// languages' choices as they were.
pub fn mix_muit(
    pools: &BTreeMap<String, Vec<Example>>,
    budgets: &BTreeMap<String, usize>,
    seed: u64,
) -> (Vec<Example>, MuitReport) {
    let mut out = Vec::new();
    let mut report = MuitReport::default();
    for (lang, &budget) in budgets {
        let pool = pools.get(lang).map(Vec::as_slice).unwrap_or_default();
        let picked = sample(pool, budget, seed, &format!("muit-{lang}"));
        if picked.len() < budget {
            report.shortfalls.push(Shortfall {
                lang: lang.clone(),
                budget,
                available: pool.len(),
            });
        }
        report.taken.insert(lang.clone(), picked.len());
        out.extend(picked.into_iter().cloned());
    }
    report.unbudgeted = pools
        .keys()
        .filter(|l| !budgets.contains_key(*l))
        .cloned()
        .collect();
    out.shuffle(&mut rng_for(seed, "muit-order"));
    (out, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;

    fn pool(lang: &str, n: usize) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                instruction: "i".into(),
                input: format!("{lang}{i}"),
                output: "o".into(),
                lang: lang.into(),
                kind: Kind::Translation,
            })
            .collect()
    }

    #[test]
    fn pools_read_coit_lines_and_plain_alpaca_and_name_bad_lines() {
        let text = concat!(
            r#"{"instruction":"Translate.","input":"a","output":"b","lang":"es","kind":"translation"}"#,
            "\n\n",
            r#"{"instruction":"Hi","output":"Hola"}"#,
            "\n",
            r#"{"instruction":"Hi","output":"Hola","kind":"poem"}"#,
            "\n{oops\n",
            r#"{"instruction":"Hi","output":"Hola","lang":3}"#,
            "\n",
        );
        let parsed = parse_pool_jsonl("es.jsonl", text, "es");
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].kind, Kind::Translation);
        assert_eq!(parsed.records[1].kind, Kind::General);
        assert_eq!(parsed.records[1].lang, "es");
        let issues: Vec<String> = parsed.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(issues.len(), 3, "{issues:?}");
        assert!(issues[0].starts_with("es.jsonl: line 4"), "{issues:?}");
        assert!(issues[0].contains("poem"), "{issues:?}");
        assert!(issues[1].starts_with("es.jsonl: line 5"), "{issues:?}");
        assert!(issues[2].contains("`lang`"), "{issues:?}");
    }

    #[test]
    fn budgets_parse_and_reject_bad_values() {
        let b = parse_budgets("b.json", "\u{feff}{\"es\": 3, \"zh\": 0}").unwrap();
        assert_eq!(
            b,
            BTreeMap::from([("es".to_string(), 3), ("zh".to_string(), 0)])
        );
        for bad in ["{\"es\": -1}", "{\"es\": 2.5}", "{\"es\": \"3\"}"] {
            let err = parse_budgets("b.json", bad).unwrap_err().to_string();
            assert!(err.starts_with("b.json: budget for \"es\""), "{err}");
        }
        assert!(parse_budgets("b.json", "[1]").is_err());
    }

    #[test]
    fn takes_budgets_reports_shortfalls_and_is_deterministic() {
        let pools = BTreeMap::from([
            ("es".to_string(), pool("es", 10)),
            ("zh".to_string(), pool("zh", 2)),
            ("fr".to_string(), pool("fr", 5)),
        ]);
        let budgets = BTreeMap::from([
            ("es".to_string(), 4),
            ("zh".to_string(), 5),
            ("ar".to_string(), 1),
        ]);
        let (mix, rep) = mix_muit(&pools, &budgets, 7);
        assert_eq!(mix.len(), 6);
        assert_eq!(
            rep.taken,
            BTreeMap::from([("ar".into(), 0), ("es".into(), 4), ("zh".into(), 2)])
        );
        assert_eq!(
            rep.shortfalls,
            vec![
                Shortfall {
                    lang: "ar".into(),
                    budget: 1,
                    available: 0
                },
                Shortfall {
                    lang: "zh".into(),
                    budget: 5,
                    available: 2
                },
            ]
        );
        assert_eq!(rep.unbudgeted, vec!["fr"]);
        // Without replacement.
        let es: std::collections::HashSet<_> = mix
            .iter()
            .filter(|e| e.lang == "es")
            .map(|e| &e.input)
            .collect();
        assert_eq!(es.len(), 4);
        assert_eq!(mix, mix_muit(&pools, &budgets, 7).0);
        let other_seed: Vec<_> = mix_muit(&pools, &budgets, 8).0;
        assert_ne!(mix, other_seed);
    }

    #[test]
    fn changing_one_budget_keeps_the_other_languages_choice() {
        let pools = BTreeMap::from([
            ("es".to_string(), pool("es", 50)),
            ("zh".to_string(), pool("zh", 50)),
        ]);
        let chosen = |zh: usize| {
            let budgets = BTreeMap::from([("es".to_string(), 10), ("zh".to_string(), zh)]);
            let mut es: Vec<_> = mix_muit(&pools, &budgets, 1)
                .0
                .into_iter()
                .filter(|e| e.lang == "es")
                .map(|e| e.input)
                .collect();
            es.sort();
            es
        };
        assert_eq!(chosen(5), chosen(20));
    }
}
