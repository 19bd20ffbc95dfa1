//! Deterministic shuffling and train/validation/test splits that never share a source
//! sentence.
//!
//! Parallel corpora repeat sentences ("Amen.", UI strings such as "Cancel", the same verse
//! quoted twice). If one copy lands in training and another in test, the test score measures
//! memory, not translation. So records are grouped by their normalised source
//! ([`normalise`]: NFKC, lower case, collapsed whitespace, end punctuation stripped) and
//! whole groups are assigned to splits.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use serde::Serialize;

use crate::error::{DataError, Result};
use crate::rng::rng_for;
use crate::text::normalise;

/// Shuffle in place, the same way for the same seed on every platform.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    items.shuffle(&mut rng_for(seed, "shuffle"));
}

/// Fractions of records for validation and test (the rest is training).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitConfig {
    pub valid: f64,
    pub test: f64,
    pub seed: u64,
}

/// The three splits, each shuffled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Splits<T> {
    pub train: Vec<T>,
    pub valid: Vec<T>,
    pub test: Vec<T>,
}

/// Split records so that records with the same normalised `source` share a split. Groups are
/// taken in a seeded random order and fill test, then validation, up to their fractions of
/// all records (a group is never cut, so a split can exceed its share by less than one
/// group), the rest is training.
pub fn split_by_source<T>(
    items: Vec<T>,
    source: impl Fn(&T) -> &str,
    cfg: &SplitConfig,
) -> Result<Splits<T>> {
    let ok = |f: f64| f.is_finite() && f >= 0.0;
    if !ok(cfg.valid) || !ok(cfg.test) || cfg.valid + cfg.test > 1.0 {
        return Err(DataError::config(
            "split",
            format!(
                "valid {} and test {} must be fractions summing to at most 1",
                cfg.valid, cfg.test
            ),
        ));
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        groups.entry(normalise(source(it))).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.shuffle(&mut rng_for(cfg.seed, "split-groups"));
    let n = items.len() as f64;
    let (want_test, want_valid) = (
        (cfg.test * n).round() as usize,
        (cfg.valid * n).round() as usize,
    );
    let mut which = vec![0u8; items.len()];
    let (mut n_test, mut n_valid) = (0, 0);
    for g in groups {
        let split = if n_test < want_test {
            n_test += g.len();
            2
        } else if n_valid < want_valid {
            n_valid += g.len();
            1
        } else {
            0
        };
        for i in g {
            which[i] = split;
        }
    }
    let mut s = Splits {
        train: Vec::new(),
        valid: Vec::new(),
        test: Vec::new(),
    };
    for (it, w) in items.into_iter().zip(which) {
        match w {
            2 => s.test.push(it),
            1 => s.valid.push(it),
            _ => s.train.push(it),
        }
    }
    for (part, label) in [
        (&mut s.train, "train"),
        (&mut s.valid, "valid"),
        (&mut s.test, "test"),
    ] {
        part.shuffle(&mut rng_for(cfg.seed, label));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Pair;

    fn pairs(n: usize) -> Vec<Pair> {
        (0..n)
            .map(|i| {
                Pair::new(
                    format!("{i}"),
                    format!("Sentence number {i}."),
                    format!("t{i}"),
                )
            })
            .collect()
    }

    #[test]
    fn a_duplicate_source_always_lands_in_one_split() {
        for seed in 0..300 {
            let mut items = pairs(40);
            // The same source as record 7, written differently, far away in the list.
            items.push(Pair::new("dup", "  sentence NUMBER 7 !", "other target"));
            let s = split_by_source(
                items,
                |p| p.source.as_str(),
                &SplitConfig {
                    valid: 0.2,
                    test: 0.2,
                    seed,
                },
            )
            .unwrap();
            let holds =
                |part: &[Pair]| part.iter().filter(|p| p.id == "7" || p.id == "dup").count();
            let counts = [holds(&s.train), holds(&s.valid), holds(&s.test)];
            assert!(counts.contains(&2), "seed {seed}: split across {counts:?}");
        }
    }

    #[test]
    fn fractions_are_met_and_nothing_is_lost() {
        let s = split_by_source(
            pairs(1000),
            |p| p.source.as_str(),
            &SplitConfig {
                valid: 0.1,
                test: 0.05,
                seed: 3,
            },
        )
        .unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (850, 100, 50));
        let mut ids: Vec<usize> = s
            .train
            .iter()
            .chain(&s.valid)
            .chain(&s.test)
            .map(|p| p.id.parse().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_splits_other_seed_other_splits() {
        let cfg = SplitConfig {
            valid: 0.1,
            test: 0.1,
            seed: 11,
        };
        let a = split_by_source(pairs(200), |p| p.source.as_str(), &cfg).unwrap();
        assert_eq!(
            a,
            split_by_source(pairs(200), |p| p.source.as_str(), &cfg).unwrap()
        );
        let b = split_by_source(
            pairs(200),
            |p| p.source.as_str(),
            &SplitConfig { seed: 12, ..cfg },
        )
        .unwrap();
        assert_ne!(a.test, b.test);
    }

    #[test]
    fn bad_fractions_are_an_error() {
        for (v, t) in [(0.6, 0.5), (-0.1, 0.0), (f64::NAN, 0.1)] {
            assert!(
                split_by_source(
                    pairs(3),
                    |p| p.source.as_str(),
                    &SplitConfig {
                        valid: v,
                        test: t,
                        seed: 0
                    }
                )
                .is_err()
            );
        }
    }

    #[test]
    fn shuffle_is_seeded() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, 5);
        shuffle(&mut b, 5);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
    }
}
