//! Block execution, sequential vs parallel at 1 and 2 threads, in gas per second:
//! - the real mainnet blocks kept in the repository (all 45 shared ones with COEVM_DATA set);
//! - synthetic gigagas-style blocks: raw transfers, deposits to one wallet, ERC-20 transfers,
//!   Uniswap-like swaps across many pools.
//!
//! `COEVM_BENCH_TXS` sets the synthetic block size (default 10,000 transactions).

use std::path::PathBuf;
use std::sync::Arc;

use coevm_host::backend::ResilientBackend;
use coevm_host::data::{discover_blocks, load_block};
use coevm_host::env::{BlockContext, tx_envs};
use coevm_host::exec::{ParallelConfig, ParallelExecutor, execute_sequential};
use coevm_host::state::PreState;
use coevm_host::synthetic::{Workload, build};
use coevm_kernels::cpu::CpuBackend;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// The allocator the `coevm` binary ships with: the executors allocate small maps per
// transaction on every thread, so the system allocator would measure something else.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Executors at 1 and 2 threads: as `coevm run` configures them (`forced: false`: small blocks
/// and one-sender chains without a giant transaction stay sequential), or always taking the parallel path.
fn executors(forced: bool) -> Vec<(usize, ParallelExecutor)> {
    let config = |t| if forced { ParallelConfig::always_parallel(t) } else { ParallelConfig::with_threads(t) };
    [1, 2].into_iter().map(|t| (t, ParallelExecutor::new(config(t)))).collect()
}

fn real_blocks(c: &mut Criterion) {
    let data = std::env::var_os("COEVM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mainnet"));
    let backend = ResilientBackend::new(Arc::new(CpuBackend::new(1)), 1);
    let executors = executors(false);
    let mut group = c.benchmark_group("mainnet");
    for dir in discover_blocks(&data).expect("block directory") {
        let block = load_block(&dir).expect("valid block");
        if block.transactions.is_empty() {
            continue;
        }
        let (pre, _) = PreState::load(&block, &backend).expect("cpu backend");
        let pre = std::sync::Arc::new(pre);
        let ctx = BlockContext::new(&block.header);
        let txs = tx_envs(&block);
        let n = block.header.number;
        group.throughput(Throughput::Elements(block.header.gas_used));
        group.bench_function(format!("{n}/sequential"), |b| b.iter(|| execute_sequential(&ctx, &txs, &pre).unwrap()));
        let oracle = execute_sequential(&ctx, &txs, &pre).unwrap();
        for (threads, executor) in &executors {
            // What is timed must be right: once against the oracle first.
            let parallel = executor.execute(&ctx, &txs, &pre, &backend, Some(block.header.gas_used)).unwrap();
            assert_eq!(parallel.first_difference(&oracle, &pre), None, "block {n}, {threads} threads");
            group.bench_function(format!("{n}/parallel-{threads}"), |b| {
                b.iter(|| executor.execute(&ctx, &txs, &pre, &backend, Some(block.header.gas_used)).unwrap())
            });
        }
    }
    group.finish();
}

fn synthetic_blocks(c: &mut Criterion) {
    let txs: usize = std::env::var("COEVM_BENCH_TXS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let backend = CpuBackend::new(1);
    let executors = executors(true);
    let mut group = c.benchmark_group("synthetic");
    group.sample_size(10);
    for workload in
        [Workload::Transfers, Workload::Deposits, Workload::Erc20, Workload::Erc20Independent, Workload::Swaps]
    {
        let block = build(workload, txs, 1);
        let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).unwrap();
        let gas = oracle.gas_used();
        group.throughput(Throughput::Elements(gas));
        let name = format!("{workload:?}").to_lowercase();
        group.bench_function(format!("{name}/sequential"), |b| {
            b.iter(|| execute_sequential(&block.ctx, &block.txs, &block.pre).unwrap())
        });
        for (threads, executor) in &executors {
            let parallel = executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).unwrap();
            assert_eq!(parallel.first_difference(&oracle, &block.pre), None, "{name}, {threads} threads");
            group.bench_function(format!("{name}/parallel-{threads}"), |b| {
                b.iter(|| executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, real_blocks, synthetic_blocks);
criterion_main!(benches);
