//! Choosing the next token from logits, with llama.cpp's default order:
//! repetition penalty → top-k → top-p → min-p → temperature → draw.
//! Temperature 0 (or below) is greedy: the arg-max after the penalty.
//! Shared by both engines: the burn reference model and the WGSL engine (xlingo-gpu).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p × the most likely one; 0 keeps all.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recently seen tokens; 1 is off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    /// llama.cpp's defaults.
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// Generation ends after any of these (e.g. `<|im_end|>`); the stop token is not emitted.
    pub stop_ids: Vec<u32>,
    pub sampling: SamplingParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    MaxTokens,
    StopToken(u32),
    /// The context window is full.
    Context,
    /// The token callback asked to stop (e.g. a stop string was seen).
    Callback,
}

/// The bookkeeping of one generation, shared by both engines: the token budget, stop tokens,
/// the context, the caller's callback, and sampling with the history the penalty needs.
/// An engine feeds the prompt, then alternates [`Generation::next`] and feeding the token it
/// returned until it returns a stop reason.
pub struct Generation<'a> {
    options: &'a GenerateOptions,
    context: usize,
    sampler: Sampler,
    history: Vec<u32>,
    generated: Vec<u32>,
}

impl<'a> Generation<'a> {
    pub fn new(prompt: &[u32], options: &'a GenerateOptions, context: usize) -> Self {
        Generation {
            options,
            context,
            sampler: Sampler::new(options.sampling.clone()),
            history: prompt.to_vec(),
            generated: Vec::new(),
        }
    }

    /// Take the next token — chosen by the engine, or sampled from its logits or candidates
    /// (see [`Scores`]) — and hand it to `on_token`. `Ok(token)`: feed it and call again;
    /// `Err(reason)`: generation is over.
    pub fn next(
        &mut self,
        scores: Scores<'_>,
        on_token: &mut impl FnMut(u32) -> bool,
    ) -> std::result::Result<u32, StopReason> {
        if self.generated.len() >= self.options.max_tokens {
            return Err(StopReason::MaxTokens);
        }
        let token = match scores {
            Scores::Chosen(token) => token,
            Scores::Logits(logits) => self.sampler.sample(logits, &self.history),
            Scores::Candidates(candidates) => self.sampler.sample_candidates(candidates),
        };
        if self.options.stop_ids.contains(&token) {
            return Err(StopReason::StopToken(token));
        }
        self.generated.push(token);
        self.history.push(token);
        if !on_token(token) {
            return Err(StopReason::Callback);
        }
        if self.history.len() >= self.context {
            return Err(StopReason::Context);
        }
        Ok(token)
    }

    /// The distinct tokens the repetition penalty applies to for the next token (the last
    /// `repeat_last_n` of the prompt and the tokens so far, first occurrence order); empty when
    /// the penalty is off. For engines that apply it where the logits are (on the GPU).
    pub fn penalized(&self) -> Vec<u32> {
        let p = &self.options.sampling;
        if p.repeat_penalty == 1.0 {
            return Vec::new();
        }
        penalized_tokens(&self.history, p.repeat_last_n)
    }

    /// The generated tokens (stop token excluded).
    pub fn into_tokens(self) -> Vec<u32> {
        self.generated
    }
}

/// What an engine hands [`Generation::next`] for one new token.
pub enum Scores<'a> {
    /// The token itself, already picked by the engine (greedy, on the GPU).
    Chosen(u32),
    /// The whole row of logits (the repetition penalty is applied to it here).
    Logits(&'a mut [f32]),
    /// The best (token, logit) pairs of a row, the repetition penalty already applied (on the
    /// GPU): at least the `top_k` best, in any order, with every token tied with the k-th
    /// (so that [`Sampler::sample_candidates`] draws what [`Sampler::sample`] draws).
    Candidates(Vec<(u32, f32)>),
}

pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Sampler { params, rng }
    }

    /// Pick a token from `logits` (modified in place by the penalty), given the tokens so far.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repeat_penalty != 1.0 {
            apply_repeat_penalty(logits, history, p.repeat_penalty, p.repeat_last_n);
        }
        if p.temperature <= 0.0 {
            return argmax(logits);
        }
        let candidates = logits.iter().enumerate().map(|(i, &l)| (i as u32, l));
        self.draw(candidates.collect())
    }

    /// Pick a token from a row's best candidates (see [`Scores::Candidates`]); the same token
    /// [`Sampler::sample`] picks from the whole row, the same draw from the generator.
    pub fn sample_candidates(&mut self, candidates: Vec<(u32, f32)>) -> u32 {
        if self.params.temperature <= 0.0 {
            return candidates
                .iter()
                .min_by(|a, b| better(a, b))
                .map_or(0, |c| c.0);
        }
        self.draw(candidates)
    }

    /// top-k → top-p → min-p → temperature → draw, over (token, logit) pairs.
    fn draw(&mut self, mut candidates: Vec<(u32, f32)>) -> u32 {
        let p = &self.params;
        if candidates.is_empty() {
            return 0;
        }
        candidates.sort_unstable_by(better);
        if p.top_k > 0 {
            candidates.truncate(p.top_k);
        }
        let probs = softmax(candidates.iter().map(|c| c.1));
        let mut keep = candidates.len();
        if p.top_p < 1.0 {
            let mut cumulative = 0.0;
            for (i, &q) in probs.iter().enumerate() {
                cumulative += q;
                if cumulative >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        if p.min_p > 0.0 {
            let threshold = probs[0] * p.min_p;
            keep = keep.min(probs.iter().take_while(|&&q| q >= threshold).count().max(1));
        }
        candidates.truncate(keep);
        let probs = softmax(candidates.iter().map(|c| c.1 / p.temperature));
        let mut r: f32 = self.rng.random();
        for (c, q) in candidates.iter().zip(&probs) {
            if r < *q {
                return c.0;
            }
            r -= q;
        }
        candidates.last().map_or(0, |c| c.0)
    }
}

/// The order candidates are ranked in: higher logit first, the lower token id on ties (as
/// [`argmax`] and the GPU kernels).
fn better(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn softmax(logits: impl Iterator<Item = f32> + Clone) -> Vec<f32> {
    let max = logits.clone().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// How many tokens `a` and `b` start with in common (a prompt and what an engine's cache holds:
/// the part it need not read again).
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The distinct tokens among the last `last_n` of `history`, in first-occurrence order.
fn penalized_tokens(history: &[u32], last_n: usize) -> Vec<u32> {
    let recent = &history[history.len().saturating_sub(last_n)..];
    let mut seen = std::collections::HashSet::new();
    recent.iter().copied().filter(|&t| seen.insert(t)).collect()
}

/// The repetition penalty on one logit: positive ones divided, negative ones multiplied.
fn penalize(logit: f32, penalty: f32) -> f32 {
    if logit > 0.0 {
        logit / penalty
    } else {
        logit * penalty
    }
}

fn apply_repeat_penalty(logits: &mut [f32], history: &[u32], penalty: f32, last_n: usize) {
    for t in penalized_tokens(history, last_n) {
        if let Some(l) = logits.get_mut(t as usize) {
            *l = penalize(*l, penalty);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_after_the_penalty() {
        let mut s = Sampler::new(SamplingParams {
            repeat_penalty: 4.0,
            ..SamplingParams::greedy()
        });
        // Token 0 leads, but it was just generated: 2.0/4 = 0.5 < 1.0.
        assert_eq!(s.sample(&mut [2.0, 1.0, -1.0], &[0]), 1);
        // A negative logit is pushed further down, not up.
        let mut logits = [-1.0, -2.0];
        Sampler::new(SamplingParams {
            repeat_penalty: 2.0,
            ..SamplingParams::greedy()
        })
        .sample(&mut logits, &[0]);
        assert_eq!(logits, [-2.0, -2.0]);
    }

    #[test]
    fn top_k_one_is_greedy_whatever_the_temperature() {
        let mut s = Sampler::new(SamplingParams {
            temperature: 5.0,
            top_k: 1,
            ..SamplingParams::default()
        });
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [0.1, 3.0, 2.9, -7.0], &[]), 1);
        }
    }

    #[test]
    fn min_p_and_top_p_cut_the_tail() {
        // probs ≈ [0.665, 0.245, 0.090]; min_p 0.2 keeps the first two, top_p 0.6 only the first.
        let logits = [2.0, 1.0, 0.0];
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.2,
            ..SamplingParams::default()
        };
        let mut s = Sampler::new(params.clone());
        let seen: std::collections::HashSet<u32> = (0..200)
            .map(|_| s.sample(&mut logits.clone(), &[]))
            .collect();
        assert_eq!(seen, [0, 1].into_iter().collect());
        let mut s = Sampler::new(SamplingParams {
            top_p: 0.6,
            min_p: 0.0,
            ..params
        });
        assert!((0..50).all(|_| s.sample(&mut logits.clone(), &[]) == 0));
    }

    #[test]
    fn sampling_follows_the_distribution_and_the_seed() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: 7,
            ..Default::default()
        };
        let logits = [0.0f32, (3.0f32).ln()]; // probabilities 1/4, 3/4
        let draw = |params: SamplingParams| {
            let mut s = Sampler::new(params);
            (0..4000)
                .map(|_| s.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        let a = draw(params.clone());
        assert_eq!(a, draw(params.clone()), "same seed, same tokens");
        let share = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        assert!((share - 0.75).abs() < 0.03, "share of token 1 = {share}");
        assert_ne!(a, draw(SamplingParams { seed: 8, ..params }));
    }

    #[test]
    fn generation_stops_for_each_reason() {
        let options = |max_tokens, stop_ids: Vec<u32>| GenerateOptions {
            max_tokens,
            stop_ids,
            sampling: SamplingParams::greedy(),
        };
        // Logits always favour token 2; run a generation to its end.
        let run = |options: &GenerateOptions,
                   context: usize,
                   mut on_token: Box<dyn FnMut(u32) -> bool>| {
            let mut g = Generation::new(&[0, 1], options, context);
            loop {
                if let Err(reason) = g.next(Scores::Logits(&mut [0.0, 1.0, 5.0]), &mut on_token) {
                    return (g.into_tokens(), reason);
                }
            }
        };
        let all = |_| true;
        assert_eq!(
            run(&options(3, vec![]), 100, Box::new(all)),
            (vec![2, 2, 2], StopReason::MaxTokens)
        );
        assert_eq!(
            run(&options(3, vec![2]), 100, Box::new(all)),
            (vec![], StopReason::StopToken(2))
        );
        assert_eq!(
            run(&options(9, vec![]), 4, Box::new(all)),
            (vec![2, 2], StopReason::Context)
        );
        let mut seen = 0;
        let stop_second = move |_| {
            seen += 1;
            seen < 2
        };
        assert_eq!(
            run(&options(9, vec![]), 100, Box::new(stop_second)),
            (vec![2, 2], StopReason::Callback)
        );
        // A token chosen by the engine is taken as it is.
        let one = options(1, vec![]);
        let mut g = Generation::new(&[0], &one, 100);
        assert_eq!(g.next(Scores::Chosen(1), &mut |_| true), Ok(1));
    }
    /// What a GPU returns for a row: the penalised logits' best `k` and every token tied with
    /// the k-th, in a scrambled order.
    fn candidates(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut all: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        all.sort_by(better);
        let kth = all[k.min(all.len()) - 1].1;
        let mut best: Vec<(u32, f32)> = all.into_iter().filter(|c| c.1 >= kth).collect();
        best.reverse();
        let third = best.len() / 3;
        best.rotate_left(third);
        best
    }

    #[test]
    fn candidates_give_the_draws_of_the_whole_row() {
        // 300 logits in steps of 0.25 (many exact ties), for several settings; the penalty is
        // applied to the row before the candidates are taken, as the GPU does.
        let logits: Vec<f32> = (0..300u32)
            .map(|i| ((i * 37) % 23) as f32 * 0.25 - 2.0)
            .collect();
        let history: Vec<u32> = (0..40).map(|i| (i * 7) % 300).collect();
        for (top_k, top_p, min_p, temperature, repeat_penalty) in [
            (40, 0.95, 0.05, 0.8, 1.0),
            (5, 1.0, 0.0, 1.5, 1.3),
            (1, 0.9, 0.1, 0.7, 1.0),
            (17, 0.5, 0.0, 1.0, 0.8),
            (40, 0.95, 0.05, 0.0, 1.3),
        ] {
            let params = SamplingParams {
                temperature,
                top_k,
                top_p,
                min_p,
                repeat_penalty,
                repeat_last_n: 64,
                seed: 11,
            };
            let mut whole = Sampler::new(params.clone());
            let mut cands = Sampler::new(params.clone());
            let mut penalised = logits.clone();
            if repeat_penalty != 1.0 {
                for t in penalized_tokens(&history, 64) {
                    penalised[t as usize] = penalize(penalised[t as usize], repeat_penalty);
                }
            }
            for _ in 0..200 {
                let a = whole.sample(&mut logits.clone(), &history);
                let b = cands.sample_candidates(candidates(&penalised, top_k.max(1)));
                assert_eq!(a, b, "{params:?}");
            }
        }
    }

    #[test]
    fn the_penalised_tokens_are_the_distinct_recent_ones() {
        let options = |repeat_penalty| GenerateOptions {
            max_tokens: 9,
            stop_ids: vec![],
            sampling: SamplingParams {
                repeat_penalty,
                repeat_last_n: 4,
                ..SamplingParams::greedy()
            },
        };
        let on = options(1.2);
        let g = Generation::new(&[5, 1, 2, 1, 3], &on, 100);
        assert_eq!(g.penalized(), vec![1, 2, 3]);
        let off = options(1.0);
        assert!(Generation::new(&[5, 1], &off, 100).penalized().is_empty());
    }
}
