//! Checking corpus-level inputs, shared by BLEU and chrF.
//!
//! References are given per segment (`references[i]` are the references of hypothesis `i`),
//! which allows a different number of references per segment (sacreBLEU's `nrefs:var`).
//! sacreBLEU itself takes reference *streams* (one list per reference set);
//! [`transpose_streams`] converts.

use crate::error::MetricError;

/// Turns sacreBLEU's layout (`streams[k][i]` = reference `k` of segment `i`) into per-segment
/// lists (`out[i][k]`). Every stream must have the same length.
pub fn transpose_streams<S: AsRef<str>>(streams: &[Vec<S>]) -> Result<Vec<Vec<&str>>, MetricError> {
    let Some(first) = streams.first() else {
        return Ok(Vec::new());
    };
    let expected = first.len();
    if let Some((stream, s)) = streams
        .iter()
        .enumerate()
        .find(|(_, s)| s.len() != expected)
    {
        return Err(MetricError::StreamLength {
            stream,
            expected,
            got: s.len(),
        });
    }
    Ok((0..expected)
        .map(|i| streams.iter().map(|s| s[i].as_ref()).collect())
        .collect())
}

/// Checks that there is at least one hypothesis, one reference list per hypothesis, and at
/// least one reference in each list.
pub(crate) fn check<H, R>(hypotheses: &[H], references: &[Vec<R>]) -> Result<(), MetricError> {
    if hypotheses.is_empty() {
        return Err(MetricError::NoHypotheses);
    }
    if hypotheses.len() != references.len() {
        return Err(MetricError::SegmentCount {
            hypotheses: hypotheses.len(),
            references: references.len(),
        });
    }
    match references.iter().position(Vec::is_empty) {
        Some(segment) => Err(MetricError::NoReferences { segment }),
        None => Ok(()),
    }
}

/// Adds per-segment statistics element-wise (sacreBLEU's `sum_of_lists`).
pub(crate) fn sum_stats(per_segment: &[Vec<u64>]) -> Vec<u64> {
    let width = per_segment.first().map_or(0, Vec::len);
    let mut total = vec![0u64; width];
    for stats in per_segment {
        for (t, s) in total.iter_mut().zip(stats) {
            *t += s;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_streams() {
        let streams = vec![vec!["a1", "b1"], vec!["a2", "b2"]];
        assert_eq!(
            transpose_streams(&streams),
            Ok(vec![vec!["a1", "a2"], vec!["b1", "b2"]])
        );
        let ragged = vec![vec!["a1", "b1"], vec!["a2"]];
        assert_eq!(
            transpose_streams(&ragged),
            Err(MetricError::StreamLength {
                stream: 1,
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn checks_shapes() {
        let refs = vec![vec!["r"], vec![]];
        assert_eq!(
            check(&["a", "b"], &refs),
            Err(MetricError::NoReferences { segment: 1 })
        );
        assert_eq!(
            check(&["a"], &refs),
            Err(MetricError::SegmentCount {
                hypotheses: 1,
                references: 2
            })
        );
        assert_eq!(
            check::<&str, &str>(&[], &[]),
            Err(MetricError::NoHypotheses)
        );
    }
}
