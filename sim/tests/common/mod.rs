//! Shared helpers of the simulation tests.
#![allow(dead_code)]

use coevm_kernels::U256;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Multiplier of the random-case counts: `COEVM_SIM_SOAK=N` runs N times as many (default 1).
pub fn soak() -> usize {
    std::env::var("COEVM_SIM_SOAK").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    let extra = std::env::var("COEVM_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0u64);
    ChaCha8Rng::seed_from_u64(seed ^ extra.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A random 256-bit value from a mix of distributions: uniform, small, near the sign bit,
/// near the top, sparse.
pub fn value(rng: &mut ChaCha8Rng) -> U256 {
    match rng.random_range(0..6) {
        0 | 1 => U256::from_limbs(rng.random()),
        2 => U256::from(rng.random_range(0..300u64)),
        3 => (U256::from(1) << 255) ^ U256::from(rng.random::<u64>()),
        4 => U256::MAX - U256::from(rng.random::<u32>()),
        _ => U256::from(1) << rng.random_range(0..256usize),
    }
}

/// Edge values of 256-bit arithmetic.
pub fn edges() -> Vec<U256> {
    let one = U256::from(1);
    vec![
        U256::ZERO,
        one,
        U256::from(2),
        U256::from(7),
        U256::from(31),
        U256::from(32),
        U256::from(255),
        U256::from(256),
        one << 64,
        (one << 128) - one,
        (one << 255) - one,
        one << 255,
        U256::MAX - one,
        U256::MAX,
    ]
}
