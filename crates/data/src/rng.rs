//! Seeded randomness that is the same on every platform and run.
//!
//! Each use gets its own stream, derived from the user's seed and a fixed label, so that
//! adding a language or changing one step does not reshuffle everything else.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases).
pub(crate) fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finaliser, to spread seed + label over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream for `label` under `seed`.
pub(crate) fn rng_for(seed: u64, label: &str) -> StdRng {
    StdRng::seed_from_u64(mix(seed ^ mix(stable_hash(label))))
}
