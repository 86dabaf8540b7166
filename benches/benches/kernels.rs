//! Kernel throughput: every batched operation on the CPU reference (1 thread, all threads)
//! and on the GPU, at batch sizes 2^MIN ..= 2^MAX.
//!
//! GPU numbers come in two kinds:
//! - `gpu-resident`: inputs already on the device (`PreparedBatch::dispatch`): dispatch + wait.
//! - `gpu-e2e`: the `Backend` call: upload + dispatch + wait + readback + decode.
//!
//! Environment:
//! - `COEVM_BENCH_MAX_LOG2` (default 20), `COEVM_BENCH_MIN_LOG2` (default 10),
//!   `COEVM_BENCH_STEP_LOG2` (default 2): the batch sizes. `COEVM_BENCH_MAX_LOG2=12` is a
//!   quick run.
//! - `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`, `COEVM_GPU_INT64`: adapter and
//!   path. Without an adapter the GPU variants are skipped.

use std::hint::black_box;
use std::time::Duration;

use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::gpu::GpuBackend;
use coevm_kernels::{Address, AluBatch, AluOp, Backend, MessageBatch, StorageEntry, StorageKey, U256};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn sizes() -> Vec<usize> {
    let min = env_usize("COEVM_BENCH_MIN_LOG2", 10);
    let max = env_usize("COEVM_BENCH_MAX_LOG2", 20).max(min);
    let step = env_usize("COEVM_BENCH_STEP_LOG2", 2).max(1);
    let mut v: Vec<usize> = (min..=max).step_by(step).map(|l| 1 << l).collect();
    if v.last() != Some(&(1 << max)) {
        v.push(1 << max);
    }
    v
}

fn gpu() -> Option<GpuBackend> {
    match GpuBackend::new() {
        Ok(g) => {
            eprintln!("GPU: {}", g.describe());
            Some(g)
        }
        Err(e) => {
            eprintln!("skipped GPU benchmarks: no GPU adapter ({e})");
            None
        }
    }
}

fn cpus() -> [(String, CpuBackend); 2] {
    let all = CpuBackend::with_all_threads();
    [("cpu-1".to_string(), CpuBackend::new(1)), (format!("cpu-{}", all.threads()), all)]
}

fn random_u256(rng: &mut impl RngCore) -> U256 {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    U256::from_be_bytes(b) >> rng.random_range(0..200usize)
}

fn messages(n: usize, len: usize) -> MessageBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let mut batch = MessageBatch::with_capacity(n, n * len);
    let mut m = vec![0u8; len];
    for _ in 0..n {
        rng.fill_bytes(&mut m);
        batch.push(&m);
    }
    batch
}

/// An ALU batch: one op, or all 26 interleaved (`None`).
fn alu_batch(n: usize, op: Option<AluOp>) -> AluBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let mut batch = AluBatch::with_capacity(n);
    for i in 0..n {
        let op = op.unwrap_or(AluOp::ALL[i % AluOp::ALL.len()]);
        batch.push(op, random_u256(&mut rng), random_u256(&mut rng), random_u256(&mut rng));
    }
    batch
}

/// A table of `n` entries and `n` keys, half of them hits.
fn storage(n: usize) -> (Vec<StorageEntry>, Vec<StorageKey>) {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let addrs: Vec<Address> = (0..64).map(|i| Address::with_last_byte(i as u8)).collect();
    let entries: Vec<StorageEntry> = (0..n)
        .map(|_| StorageEntry {
            key: StorageKey::new(addrs[rng.random_range(0..addrs.len())], random_u256(&mut rng)),
            value: random_u256(&mut rng),
        })
        .collect();
    let keys = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                entries[rng.random_range(0..n)].key
            } else {
                StorageKey::new(addrs[0], random_u256(&mut rng))
            }
        })
        .collect();
    (entries, keys)
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

fn bench_keccak(c: &mut Criterion, gpu: Option<&GpuBackend>) {
    for len in [32usize, 64, 200] {
        let mut group = c.benchmark_group(format!("keccak256-{len}B"));
        for n in sizes() {
            let batch = messages(n, len);
            group.throughput(Throughput::Elements(n as u64));
            for (name, cpu) in cpus() {
                group.bench_with_input(BenchmarkId::new(name, n), &batch, |b, batch| {
                    b.iter(|| black_box(cpu.keccak256(batch).unwrap()))
                });
            }
            if let Some(g) = gpu {
                // What is timed must be right: the GPU's answer against the CPU's, once.
                assert_eq!(g.keccak256(&batch).unwrap(), cpus()[0].1.keccak256(&batch).unwrap(), "keccak {len}B × {n}");
                group.bench_with_input(BenchmarkId::new("gpu-e2e", n), &batch, |b, batch| {
                    b.iter(|| black_box(g.keccak256(batch).unwrap()))
                });
                let prepared = g.prepare_keccak256(&batch).unwrap();
                group.bench_function(BenchmarkId::new("gpu-resident", n), |b| b.iter(|| prepared.dispatch().unwrap()));
            }
        }
        group.finish();
    }
}

fn bench_alu(c: &mut Criterion, gpu: Option<&GpuBackend>) {
    for (label, op) in
        [("mixed", None), ("add", Some(AluOp::Add)), ("mul", Some(AluOp::Mul)), ("mulmod", Some(AluOp::MulMod))]
    {
        let mut group = c.benchmark_group(format!("alu-{label}"));
        for n in sizes() {
            let batch = alu_batch(n, op);
            group.throughput(Throughput::Elements(n as u64));
            for (name, cpu) in cpus() {
                group.bench_with_input(BenchmarkId::new(name, n), &batch, |b, batch| {
                    b.iter(|| black_box(cpu.alu(batch).unwrap()))
                });
            }
            if let Some(g) = gpu {
                assert_eq!(g.alu(&batch).unwrap(), cpus()[0].1.alu(&batch).unwrap(), "alu {label} × {n}");
                group.bench_with_input(BenchmarkId::new("gpu-e2e", n), &batch, |b, batch| {
                    b.iter(|| black_box(g.alu(batch).unwrap()))
                });
                let prepared = g.prepare_alu(&batch).unwrap();
                group.bench_function(BenchmarkId::new("gpu-resident", n), |b| b.iter(|| prepared.dispatch().unwrap()));
            }
        }
        group.finish();
    }
}

fn bench_storage(c: &mut Criterion, gpu: Option<&GpuBackend>) {
    let mut group = c.benchmark_group("storage-lookup");
    for n in sizes() {
        let (entries, keys) = storage(n);
        group.throughput(Throughput::Elements(n as u64));
        for (name, cpu) in cpus() {
            let table = cpu.build_storage_table(&entries).unwrap();
            group.bench_with_input(BenchmarkId::new(name, n), &keys, |b, keys| {
                b.iter(|| black_box(table.get(keys).unwrap()))
            });
        }
        if let Some(g) = gpu {
            let table = match g.build_gpu_storage_table(&entries, None) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("skipped gpu storage-lookup/{n}: {e}");
                    continue;
                }
            };
            let reference = cpus()[0].1.build_storage_table(&entries).unwrap().get(&keys).unwrap();
            assert_eq!(coevm_kernels::StorageTable::get(&table, &keys).unwrap(), reference, "lookups × {n}");
            group.bench_with_input(BenchmarkId::new("gpu-e2e", n), &keys, |b, keys| {
                b.iter(|| black_box(coevm_kernels::StorageTable::get(&table, keys).unwrap()))
            });
            let prepared = table.prepare_lookup(&keys).unwrap();
            group.bench_function(BenchmarkId::new("gpu-resident", n), |b| b.iter(|| prepared.dispatch().unwrap()));
        }
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let gpu = gpu();
    bench_keccak(c, gpu.as_ref());
    bench_alu(c, gpu.as_ref());
    bench_storage(c, gpu.as_ref());
}

criterion_group! {
    name = benches;
    config = config();
    targets = kernels
}
criterion_main!(benches);
