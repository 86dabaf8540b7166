//! Real mainnet blocks: every header check passes, and the parallel executor equals the
//! sequential oracle for 1, 2, 4 and 8 threads, as `coevm run` configures it, and with plain
//! transfers through revm, three runs each (to catch races).

mod common;

use std::sync::Arc;

use coevm_host::backend::ResilientBackend;
use coevm_host::data::load_block;
use coevm_host::env::{BlockContext, tx_envs};
use coevm_host::exec::{ParallelConfig, ParallelExecutor, execute_sequential};
use coevm_host::state::PreState;
use coevm_host::verify::check_header;
use coevm_kernels::cpu::CpuBackend;

#[test]
fn every_block_matches_its_header_and_the_sequential_oracle() {
    let backend = ResilientBackend::new(Arc::new(CpuBackend::new(2)), 2);
    let mut executors: Vec<(String, ParallelExecutor)> = [1, 2, 4, 8]
        .into_iter()
        .map(|t| (format!("{t} threads"), ParallelExecutor::new(ParallelConfig::always_parallel(t))))
        .collect();
    // As `coevm run` configures it: it chooses which blocks get a helper, and runs the others on
    // the committer alone.
    executors.push(("as `coevm run`".into(), ParallelExecutor::new(ParallelConfig::with_threads(2))));
    // Every transaction through revm, plain transfers included, with and without a helper.
    for threads in [1, 2] {
        let config = ParallelConfig { native_transfers: false, ..ParallelConfig::always_parallel(threads) };
        executors.push((format!("{threads} threads, transfers through revm"), ParallelExecutor::new(config)));
    }
    let mut checked = 0;
    for dir in common::block_dirs() {
        let block = load_block(&dir).unwrap_or_else(|e| panic!("{e}"));
        let n = block.header.number;
        let (pre, prefetch) = PreState::load(&block, &backend).expect("cpu backend");
        let pre = std::sync::Arc::new(pre);
        assert_eq!(prefetch.hits, prefetch.keys_looked_up, "block {n}: every witness key is in the table");
        let ctx = BlockContext::new(&block.header);
        let txs = tx_envs(&block);
        let oracle = execute_sequential(&ctx, &txs, &pre).unwrap_or_else(|e| panic!("block {n}: {e}"));
        let checks = check_header(&block, ctx.spec, &oracle.txs, &backend).expect("hashing");
        assert!(checks.passed(), "block {n}: {checks:#?}");
        if n >= 4_370_000 {
            assert_eq!(checks.receipts_root, coevm_host::verify::Check::Match, "block {n}");
        }
        for (name, executor) in &executors {
            for run in 0..3 {
                let parallel = executor
                    .execute(&ctx, &txs, &pre, &backend, Some(block.header.gas_used))
                    .unwrap_or_else(|e| panic!("block {n}: {e}"));
                if let Some(diff) = parallel.first_difference(&oracle, &pre) {
                    panic!("block {n}, {name}, run {run}: {diff}");
                }
                if run == 0 {
                    // Against the real header too, not only against the oracle.
                    let checks = check_header(&block, ctx.spec, &parallel.txs, &backend).expect("hashing");
                    assert!(checks.passed(), "block {n}, {name}: {checks:#?}");
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "checked {checked} blocks");
}
