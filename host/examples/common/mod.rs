//! What the measuring examples share: loading every real block of a data directory, timing
//! its transactions one by one, and cutting a block in two by cost.

use std::time::{Duration, Instant};

use coevm_host::data::{discover_blocks, load_block};
use coevm_host::env::{BlockContext, tx_envs};
use coevm_host::state::PreState;
use revm::context::TxEnv;
use revm::database::CacheDB;
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

/// Calls `f(number, context, transactions, pre-state)` for every block under `data` with at
/// least `min_txs` transactions, in block order.
pub fn for_each_block(
    data: &str,
    min_txs: usize,
    mut f: impl FnMut(u64, &BlockContext, &[TxEnv], &PreState),
) -> anyhow::Result<()> {
    let backend = coevm_kernels::cpu::CpuBackend::new(1);
    for dir in discover_blocks(std::path::Path::new(data))? {
        let block = load_block(&dir)?;
        let txs = tx_envs(&block);
        if txs.len() < min_txs {
            continue;
        }
        let (pre, _) = PreState::load(&block, &backend)?;
        f(block.header.number, &BlockContext::new(&block.header), &txs, &pre);
    }
    Ok(())
}

/// The fastest of `runs` runs of `f`; what a run returns is dropped outside the timing (as
/// `coevm run` drops the executors' final state outside it).
pub fn fastest<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let kept = f();
            let elapsed = start.elapsed();
            drop(kept);
            elapsed
        })
        .min()
        .expect("ran at least once")
}

/// Each transaction's time (best of `runs` sequential runs of the whole block over `pre`) and
/// its gas used.
pub fn time_each_tx(ctx: &BlockContext, txs: &[TxEnv], pre: &PreState, runs: usize) -> (Vec<Duration>, Vec<u64>) {
    let mut best = vec![Duration::MAX; txs.len()];
    let mut used = vec![0u64; txs.len()];
    for _ in 0..runs {
        let mut evm = Context::mainnet()
            .with_db(CacheDB::new(pre))
            .with_cfg(ctx.cfg.clone())
            .with_block(ctx.block.clone())
            .build_mainnet();
        for (i, tx) in txs.iter().enumerate() {
            let start = Instant::now();
            let result = evm.transact_commit(tx.clone());
            best[i] = best[i].min(start.elapsed());
            used[i] = result.map_or(0, |r| r.tx_gas_used());
        }
    }
    (best, used)
}

/// Where to cut so both halves carry the same total `cost`: the first index after which the
/// running sum reaches half, kept inside 1..len-1.
pub fn half_cut(cost: &[f64]) -> usize {
    let half = cost.iter().sum::<f64>() / 2.0;
    let mut sum = 0.0;
    cost.iter()
        .position(|c| {
            sum += c;
            sum >= half
        })
        .map_or(cost.len() / 2, |i| i + 1)
        .clamp(1, cost.len().saturating_sub(1).max(1))
}
