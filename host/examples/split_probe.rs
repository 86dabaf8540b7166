//! The ceiling of splitting a block in two on this machine: both halves executed at the same
//! time, each on its own `CacheDB` over the pre-state — no validation, no merge, no
//! re-execution (so the second half's results are not the block's). Not an executor; an upper
//! bound for any two-way split (docs/PERFORMANCE.md).
//!
//! Usage: cargo run --release -p coevm-host --example split_probe -- DATA_DIR... [synthetic:WORKLOAD]...

use std::time::{Duration, Instant};

use clap::ValueEnum;
use coevm_host::data::load_block;
use coevm_host::env::{BlockContext, tx_envs};
use coevm_host::state::PreState;
use coevm_host::synthetic::{Workload, build};
use revm::context::TxEnv;
use revm::database::CacheDB;
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

/// Plain revm over `txs`; invalid transactions (the second half's nonces) are skipped.
fn run(ctx: &BlockContext, txs: &[TxEnv], pre: &PreState) {
    let mut evm = Context::mainnet()
        .with_db(CacheDB::new(pre))
        .with_cfg(ctx.cfg.clone())
        .with_block(ctx.block.clone())
        .build_mainnet();
    for tx in txs {
        let _ = evm.transact_commit(tx.clone());
    }
}

fn fastest(mut f: impl FnMut()) -> Duration {
    (0..9)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .expect("ran")
}

fn probe(name: &str, ctx: &BlockContext, txs: &[TxEnv], pre: &PreState, pool: &rayon::ThreadPool) -> f64 {
    let whole = fastest(|| run(ctx, txs, pre));
    let (first, second) = txs.split_at(txs.len() / 2);
    // As the executor does: the first half on the calling thread, the second on a pool thread.
    let split = fastest(|| {
        pool.in_place_scope(|scope| {
            scope.spawn(|_| run(ctx, second, pre));
            run(ctx, first, pre);
        })
    });
    let speedup = whole.as_secs_f64() / split.as_secs_f64();
    println!("{name:>24} {:>6} txs  whole {whole:>10.2?}  halves at once {split:>10.2?}  {speedup:.2}×", txs.len());
    speedup
}

fn main() -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let backend = coevm_kernels::cpu::CpuBackend::new(1);
    let mut logs = Vec::new();
    for arg in std::env::args().skip(1) {
        if let Some(name) = arg.strip_prefix("synthetic:") {
            let workload = Workload::from_str(name, true).map_err(anyhow::Error::msg)?;
            let block = build(workload, 10_000, 1);
            logs.push(probe(&block.name, &block.ctx, &block.txs, &block.pre, &pool).ln());
            continue;
        }
        let mut dirs: Vec<_> = std::fs::read_dir(&arg)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort_by_key(|d| d.file_name().and_then(|n| n.to_str()?.parse::<u64>().ok()));
        for dir in dirs {
            let block = load_block(&dir)?;
            let txs = tx_envs(&block);
            if txs.len() < 8 {
                continue;
            }
            let (pre, _) = PreState::load(&block, &backend)?;
            let ctx = BlockContext::new(&block.header);
            logs.push(probe(&block.header.number.to_string(), &ctx, &txs, &pre, &pool).ln());
        }
    }
    if !logs.is_empty() {
        println!("geomean {:.2}×", (logs.iter().sum::<f64>() / logs.len() as f64).exp());
    }
    Ok(())
}
