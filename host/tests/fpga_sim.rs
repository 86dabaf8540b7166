//! Real blocks with their hashing, ALU work and storage lookups on the simulated FPGA designs.

mod common;

use std::sync::Arc;

use coevm_host::backend::ResilientBackend;
use coevm_host::data::load_block;
use coevm_host::exec::{ParallelConfig, ParallelExecutor};
use coevm_host::run::{RunOptions, run_block};
use coevm_sim::FpgaSimBackend;

#[test]
fn real_blocks_pass_every_check_on_the_simulated_hardware() {
    let sim = Arc::new(FpgaSimBackend::new(2));
    let backend = ResilientBackend::new(sim.clone(), 2);
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    // A Byzantium block (receipts root checked) with storage, and a Cancun block with a blob tx.
    for number in ["6196166", "19933122"] {
        let block = load_block(&common::repo_root().join("data/mainnet").join(number)).unwrap();
        let report = run_block(&block, &backend, &executor, RunOptions { repeat: 1 }).unwrap();
        assert!(report.passed(), "block {number}: {:?} {:?}", report.checks, report.mismatch);
        assert_eq!(report.offload.cpu_redos, 0);
        assert!(report.offload.keccak_messages > 0 && report.offload.alu_items > 0 && report.offload.lookups > 0);
    }
    // The results came out of the simulated hardware: it ran cycles for every kind of work.
    let stats = sim.stats();
    assert!(stats.keccak_cycles > 0 && stats.alu_cycles > 0 && stats.storage_cycles > 0, "{stats:?}");
}
