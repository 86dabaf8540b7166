//! Shared by the GPU test binaries: one backend per path per binary (device creation is
//! slow), the skip rule, and value generators.
#![allow(dead_code)]

use std::sync::OnceLock;

use coevm_kernels::U256;
use coevm_kernels::gpu::{GpuBackend, GpuOptions, Int64Mode};
use rand::{Rng, RngCore};

/// True when `COEVM_REQUIRE_GPU=1`: a missing adapter fails instead of skipping.
pub fn gpu_required() -> bool {
    std::env::var("COEVM_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

fn make(mode: Int64Mode) -> Result<GpuBackend, String> {
    GpuBackend::with_options(&GpuOptions::from_env().with_int64(mode)).map_err(|e| e.to_string())
}

/// The shared backend, or `None` after printing the skip line (a failure under
/// `COEVM_REQUIRE_GPU=1`).
fn shared(slot: &'static OnceLock<Result<GpuBackend, String>>, mode: Int64Mode) -> Option<&'static GpuBackend> {
    match slot.get_or_init(|| make(mode)) {
        Ok(b) => Some(b),
        Err(e) => {
            assert!(!gpu_required(), "COEVM_REQUIRE_GPU=1 but no GPU backend: {e}");
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

/// The backend on its preferred path (int64 when the adapter has it).
pub fn gpu_auto() -> Option<&'static GpuBackend> {
    static GPU: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    shared(&GPU, Int64Mode::Auto)
}

/// The backend forced onto the 32-bit path.
pub fn gpu_u32() -> Option<&'static GpuBackend> {
    static GPU: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    shared(&GPU, Int64Mode::Disabled)
}

/// Both paths, labelled. Empty (after printing the skip line) without an adapter.
pub fn gpu_paths() -> Vec<(&'static str, &'static GpuBackend)> {
    let Some(auto) = gpu_auto() else {
        return Vec::new();
    };
    if !auto.uses_int64() {
        eprintln!("note: adapter {} has no SHADER_INT64; auto path is u32", auto.adapter_info().name);
    }
    let mut v = vec![(if auto.uses_int64() { "int64" } else { "auto(u32)" }, auto)];
    if let Some(g) = gpu_u32() {
        assert!(!g.uses_int64());
        v.push(("u32", g));
    }
    v
}

pub fn pow2(n: usize) -> U256 {
    U256::from(1) << n
}

/// Values that break 256-bit arithmetic: zero, one, max, sign boundaries, limb boundaries,
/// shift and byte-index boundaries.
pub fn edge_values() -> Vec<U256> {
    let mut v = vec![
        U256::ZERO,
        U256::from(1),
        U256::from(2),
        U256::from(3),
        U256::from(7),
        U256::from(8),
        U256::from(10),
        U256::from(30),
        U256::from(31),
        U256::from(32),
        U256::from(33),
        U256::from(255),
        U256::from(256),
        U256::from(257),
        U256::MAX,
        U256::MAX - U256::from(1),
        pow2(255),
        pow2(255) - U256::from(1),
        pow2(255) + U256::from(1),
        pow2(64),
        pow2(64) - U256::from(1),
        pow2(128),
        pow2(128) - U256::from(1),
        pow2(32),
        pow2(32) - U256::from(1),
        pow2(31),
        pow2(63),
        pow2(192),
        U256::from(0x80),
        U256::from(0x7f),
        U256::from(0xff),
    ];
    let extra: Vec<U256> = v.iter().map(|x| x.wrapping_neg()).collect();
    v.extend(extra);
    v.sort();
    v.dedup();
    v
}

/// A random value with a random bit length and occasionally structured limbs.
pub fn random_value(rng: &mut impl RngCore) -> U256 {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let v = U256::from_be_bytes(bytes);
    match rng.random_range(0..8) {
        0 => v,
        1 => v >> rng.random_range(0..256),
        2 => U256::from(rng.random_range(0..300u32)),
        3 => v | pow2(255),
        4 => v >> 192,
        5 => (v >> rng.random_range(0..256usize)).wrapping_neg(),
        6 => pow2(rng.random_range(0..256usize)) - U256::from(rng.random_range(0..2u8)),
        _ => v >> rng.random_range(128..256),
    }
}
