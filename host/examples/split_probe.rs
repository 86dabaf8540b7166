//! The ceiling of splitting a block in two on this machine: both halves executed at the same
//! time by plain revm, with perfect knowledge and no overhead — the first half on a `CacheDB`
//! over the pre-state, the second on a `CacheDB` over the exact state the first half leaves
//! (computed beforehand, untimed), so every transaction runs exactly as in sequential
//! execution; no validation, no merge. The cut is where the halves' measured sequential times
//! are equal. Not an executor: an upper bound for any executor that splits a block in two on
//! two cores (docs/PERFORMANCE.md).
//!
//! Usage: cargo run --release -p coevm-host --example split_probe -- DATA_DIR... [synthetic:WORKLOAD]...
//! With `SPLIT_BY_GAS=1` the cut is at half the gas limits instead (what the executor can know).

use std::time::Duration;

use clap::ValueEnum;
mod common;

use coevm_host::env::BlockContext;
use coevm_host::state::PreState;
use coevm_host::synthetic::{Workload, build};
use revm::context::TxEnv;
use revm::database::CacheDB;
use revm::{Context, DatabaseRef, ExecuteCommitEvm, MainBuilder, MainContext};

/// Plain revm over `txs` on `base`; returns the state it leaves.
fn run<DB: DatabaseRef>(ctx: &BlockContext, txs: &[TxEnv], base: DB) -> CacheDB<DB>
where
    DB::Error: std::fmt::Debug,
{
    let mut evm = Context::mainnet()
        .with_db(CacheDB::new(base))
        .with_cfg(ctx.cfg.clone())
        .with_block(ctx.block.clone())
        .build_mainnet();
    for tx in txs {
        evm.transact_commit(tx.clone()).expect("valid transaction: both halves run on their exact state");
    }
    evm.ctx.journaled_state.database
}

/// Where to cut `txs` so both halves take the same time: each transaction timed in a
/// sequential run (best of 9), the cut at half the total.
fn balanced_cut(ctx: &BlockContext, txs: &[TxEnv], pre: &PreState) -> usize {
    let (best, _) = common::time_each_tx(ctx, txs, pre, 9);
    common::half_cut(&best.iter().map(Duration::as_secs_f64).collect::<Vec<_>>())
}

fn gas_cut(txs: &[TxEnv]) -> usize {
    common::half_cut(&txs.iter().map(|t| t.gas_limit as f64).collect::<Vec<_>>())
}

fn probe(name: &str, ctx: &BlockContext, txs: &[TxEnv], pre: &PreState, pool: &rayon::ThreadPool) -> f64 {
    let whole = common::fastest(9, || run(ctx, txs, pre));
    let cut = if std::env::var_os("SPLIT_BY_GAS").is_some() { gas_cut(txs) } else { balanced_cut(ctx, txs, pre) };
    let (first, second) = txs.split_at(cut);
    // The exact state between the halves, read-only while both run.
    let middle = run(ctx, first, pre);
    // As the executor does: the first half on the calling thread, the second on a pool thread.
    let split = common::fastest(9, || {
        let second_state = std::sync::Mutex::new(None);
        let first_state = pool.in_place_scope(|scope| {
            scope.spawn(|_| *second_state.lock().expect("unpoisoned") = Some(run(ctx, second, &middle)));
            run(ctx, first, pre)
        });
        (first_state, second_state)
    });
    let speedup = whole.as_secs_f64() / split.as_secs_f64();
    println!("{name:>24} {:>6} txs  whole {whole:>10.2?}  halves at once {split:>10.2?}  {speedup:.2}×", txs.len());
    speedup
}

fn main() -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut logs = Vec::new();
    for arg in std::env::args().skip(1) {
        if let Some(name) = arg.strip_prefix("synthetic:") {
            let workload = Workload::from_str(name, true).map_err(anyhow::Error::msg)?;
            let block = build(workload, 10_000, 1);
            logs.push(probe(&block.name, &block.ctx, &block.txs, &block.pre, &pool).ln());
            continue;
        }
        common::for_each_block(&arg, 8, |number, ctx, txs, pre| {
            logs.push(probe(&number.to_string(), ctx, txs, pre, &pool).ln());
        })?;
    }
    if !logs.is_empty() {
        println!("geomean {:.2}×", (logs.iter().sum::<f64>() / logs.len() as f64).exp());
    }
    Ok(())
}
