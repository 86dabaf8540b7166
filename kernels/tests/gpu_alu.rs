//! GPU ALU vs the CPU reference (`alu::eval`, itself checked against revm), on both the
//! int64 and the u32 path: every edge-value pair per op plus thousands of seeded random items.

mod common;

use coevm_kernels::alu::{self, AluBatch, AluOp};
use coevm_kernels::gpu::{GpuBackend, GpuOptions, Int64Mode};
use coevm_kernels::{Backend, U256};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const RANDOM_PER_OP: usize = 3000;

fn moduli() -> Vec<U256> {
    vec![
        U256::ZERO,
        U256::from(1),
        U256::from(7),
        U256::MAX,
        common::pow2(255) + U256::from(1),
        common::pow2(128) - U256::from(1),
    ]
}

fn batch_for(op: AluOp, seed: u64) -> AluBatch {
    let edges = common::edge_values();
    let mut batch = AluBatch::new();
    match op.arity() {
        1 => {
            for &a in &edges {
                batch.push(op, a, U256::ZERO, U256::ZERO);
            }
        }
        2 => {
            for &a in &edges {
                for &b in &edges {
                    batch.push(op, a, b, U256::ZERO);
                }
            }
        }
        _ => {
            for &a in &edges {
                for &b in &edges {
                    for &c in &moduli() {
                        batch.push(op, a, b, c);
                    }
                }
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ op as u64);
    for _ in 0..RANDOM_PER_OP {
        let a = common::random_value(&mut rng);
        let b = common::random_value(&mut rng);
        let c = common::random_value(&mut rng);
        batch.push(op, a, b, c);
    }
    batch
}

fn check(label: &str, gpu: &GpuBackend, batch: &AluBatch) {
    let got = gpu.alu(batch).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(got.len(), batch.len());
    let mut bad = Vec::new();
    for (i, ((op, [a, b, c]), g)) in batch.iter().zip(&got).enumerate() {
        let want = alu::eval(op, *a, *b, *c);
        if *g != want {
            bad.push(format!("#{i} {}({a:#x}, {b:#x}, {c:#x}) = {want:#x}, gpu {g:#x}", op.name()));
        }
    }
    assert!(
        bad.is_empty(),
        "{label}: {} of {} wrong, first:\n{}",
        bad.len(),
        batch.len(),
        bad.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_op_matches_reference_on_both_paths() {
    for (path, gpu) in common::gpu_paths() {
        for op in AluOp::ALL {
            let batch = batch_for(op, 0xC0E7);
            assert!(batch.len() >= RANDOM_PER_OP);
            check(&format!("{path} {}", op.name()), gpu, &batch);
        }
    }
}

/// All ops interleaved in one batch (divergent warps, one dispatch), with a fresh seed.
#[test]
fn mixed_batch_matches_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let mut batch = AluBatch::new();
    for i in 0..20_000 {
        let op = AluOp::ALL[i % AluOp::ALL.len()];
        let (a, b, c) =
            (common::random_value(&mut rng), common::random_value(&mut rng), common::random_value(&mut rng));
        batch.push(op, a, b, c);
    }
    for (path, gpu) in common::gpu_paths() {
        check(&format!("{path} mixed"), gpu, &batch);
        // Buffers are reused: a smaller batch after a bigger one must not see stale items.
        let mut small = AluBatch::new();
        small.push(AluOp::Add, U256::from(1), U256::from(2), U256::ZERO);
        assert_eq!(gpu.alu(&small).unwrap(), vec![U256::from(3)], "{path}");
        assert!(gpu.alu(&AluBatch::new()).unwrap().is_empty());
    }
}

/// Batches beyond one dispatch are chunked (a backend capped at 1000 items per dispatch), and
/// every op's specialised pipeline (`alu_specialize_min_items = 0`) matches the reference, on
/// both paths.
#[test]
fn chunked_and_specialised_match_reference() {
    if common::gpu_auto().is_none() {
        return;
    }
    for mode in [Int64Mode::Auto, Int64Mode::Disabled] {
        let gpu = GpuBackend::with_options(
            &GpuOptions::from_env().with_int64(mode).with_max_items_per_dispatch(1000).with_alu_specialize_min_items(0),
        )
        .expect("adapter exists");
        assert_eq!(gpu.max_items_per_dispatch(), 1000);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut batch = AluBatch::new();
        for i in 0..4321 {
            let op = AluOp::ALL[(i * 7) % AluOp::ALL.len()];
            batch.push(op, common::random_value(&mut rng), common::random_value(&mut rng), U256::from(i));
        }
        let label = format!("{mode:?} specialised");
        check(&label, &gpu, &batch);
        let want: Vec<U256> = batch.iter().map(|(op, [a, b, c])| alu::eval(op, *a, *b, *c)).collect();
        let prepared = gpu.prepare_alu(&batch).unwrap();
        assert_eq!(prepared.dispatches(), 26, "one dispatch per op");
        prepared.dispatch().unwrap();
        assert_eq!(prepared.read().unwrap(), want, "{label}");

        // One op beyond the dispatch cap: split into ceil(2500 / 1000) dispatches.
        let mut adds = AluBatch::new();
        for i in 0..2500u64 {
            adds.push(AluOp::Add, U256::MAX - U256::from(i), U256::from(i * i), U256::ZERO);
        }
        check(&label, &gpu, &adds);
        assert_eq!(gpu.prepare_alu(&adds).unwrap().dispatches(), 3);
    }
}

/// The resident API: prepare once, dispatch repeatedly, read.
#[test]
fn prepared_alu_matches_reference() {
    for (path, gpu) in common::gpu_paths() {
        let batch = batch_for(AluOp::MulMod, 9);
        let prepared = gpu.prepare_alu(&batch).unwrap();
        assert_eq!(prepared.len(), batch.len());
        for _ in 0..2 {
            gpu.dispatch_prepared(&prepared).unwrap();
        }
        let got = gpu.read_prepared(&prepared).unwrap();
        let want: Vec<U256> = batch.iter().map(|(op, [a, b, c])| alu::eval(op, *a, *b, *c)).collect();
        assert_eq!(got, want, "{path}");
    }
}

/// Division operands that take the rare "add back" correction of Knuth's algorithm D on
/// 16-bit digits (found by searching a model of the shader's division): DIV, MOD, SDIV, SMOD
/// on (dividend, divisor), MULMOD on (a, b, modulus) whose 512-bit product needs it.
const ADD_BACK_DIV: &[(&str, &str)] = &[
    ("0xffff000180010002fffefffe7fff80008001ffff8001000000018000", "0x80008001ffff00028001fffe80017fff8001ffff"),
    ("0xfffffffe800000018000800080010000000080010002", "0x80007ffffffe"),
    ("0xffffffff0001ffff800000007fff000180000000fffe8001fffeffff", "0xfffeffff80010000ffff80018000"),
    ("0x800080000002fffe000200020002ffff800000028000800100028000", "0x8001000180017fff00027fff80000000000280000001"),
    ("0x8000000000027fff0000fffe00020001ffff0001ffff000180010002", "0x8000fffffffe8000000080018000fffe8001"),
    ("0xfffe8000800000020001", "0xffff0002ffff"),
    ("0x8001fffe0001ffff000200027fff00017fff80017fff8001", "0x8001fffe8000fffe7fff7fff0001ffff0001"),
    ("0x8000fffefffe800000010002ffffffff0001fffe0002", "0x8001800080017fff"),
    ("0x2fffe80010002fffe00000000fffefffefffe00008001fffffffefffe", "0xffff8000fffeffff8000"),
    ("0x80007fff0001800080007fff80000001ffffffffffff0000ffff", "0x80007fff00027fff80017fff000280010000"),
    ("0xffffffff000080018001fffe000000028000800100000000", "0x100000000fffe80008001"),
    ("0xffff800000008001800000027fff7fff", "0xffff80000002800080010001ffffffff"),
];

const ADD_BACK_MULMOD: &[(&str, &str, &str)] = &[
    (
        "0xfffe800080010001000280000000000100000001",
        "0xfffe0001ffff8001fffe80008001ffffffff000100008001",
        "0xfffe000080017fffffff00028000fffeffff7fff800000007fff",
    ),
    ("0x1ffff", "0x80007fff80017fff0002800100017fff800100010001", "0xffff0001ffff8000800000000000fffe"),
    (
        "0x800180007fff80000002fffe80007fff80017fff0001fffe80007fff80010002",
        "0x10001000200028001fffe7fff0001800080010002fffe0001",
        "0x8000800180000002",
    ),
    ("0x8000ffff80007fff80007fff80008001000000027fffffff", "0xfffe0002", "0x80007fffffff8000"),
    (
        "0x2ffff7fff0002fffe800180007fffffff80018001fffe7fff0000fffe0001",
        "0xfffe8000fffefffe000200020002fffe",
        "0x2fffe0002000100000002fffe000280007ffffffe",
    ),
    (
        "0xffff7fff0001000100010001fffe0002ffffffff7fff00017fff8001",
        "0xfffffffe8000fffe0000800000017fff0001000200027fff",
        "0x8001000080010000fffffffeffff800080008001fffeffff0001",
    ),
    (
        "0x80007fff7ffffffe80000001ffff00017fff00000000000180007fff",
        "0x8000ffff0001000180010001",
        "0x800080017fff80000001fffeffff00010002fffeffff80000002ffff80018001",
    ),
    ("0xfffe0002000000000000ffff00007fffffff0000", "0x7ffffffe", "0x7fffffff0002800100028000"),
    (
        "0x8001",
        "0xffff0001000000018000800080010000ffff000100020001fffe800100008001",
        "0x7fff8000fffeffff80007fff7fff8000ffff80018001800100010001",
    ),
    (
        "0xffff0002000180000001ffff00027ffffffeffff0002",
        "0x8000800000020001fffe000280000001fffe7fff",
        "0x80000000fffeffff80018001fffe00007fffffff7fffffffffff00020002",
    ),
    ("0x17fff800180017fff7fff7fff0002fffe", "0x1000000007fff", "0x80000000fffe0001ffffffff"),
    (
        "0xffff00000000fffeffff0002fffe7fff0001fffefffe80017fff80010000fffe",
        "0x800080008001ffffffffffffffff7ffffffe000280017fff7fff7fff",
        "0x7ffffffffffffffe7fffffff0002",
    ),
];

#[test]
fn division_add_back_cases() {
    let hex = |s: &str| U256::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let mut batch = AluBatch::new();
    for &(u, v) in ADD_BACK_DIV {
        let (u, v) = (hex(u), hex(v));
        for op in [AluOp::Div, AluOp::Mod, AluOp::SDiv, AluOp::SMod] {
            batch.push(op, u, v, U256::ZERO);
            batch.push(op, u.wrapping_neg(), v, U256::ZERO);
        }
        batch.push(AluOp::AddMod, u, u, v);
        batch.push(AluOp::MulMod, u, U256::from(1), v);
    }
    for &(a, b, n) in ADD_BACK_MULMOD {
        batch.push(AluOp::MulMod, hex(a), hex(b), hex(n));
        batch.push(AluOp::MulMod, hex(b), hex(a), hex(n));
    }
    for (path, gpu) in common::gpu_paths() {
        check(&format!("{path} add-back"), gpu, &batch);
    }
}
