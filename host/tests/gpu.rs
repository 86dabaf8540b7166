//! Real blocks through the GPU backend (any Vulkan adapter, lavapipe included), and a device
//! lost mid-run: the batch is redone on the CPU and the result is the same.

mod common;

use std::sync::{Arc, OnceLock};

use coevm_host::backend::ResilientBackend;
use coevm_host::data::load_block;
use coevm_host::exec::{ParallelConfig, ParallelExecutor};
use coevm_host::run::{RunOptions, run_block};
use coevm_kernels::Backend;
use coevm_kernels::gpu::{GpuBackend, GpuOptions};

/// A fresh GPU backend, or `None` (printing why) when there is no adapter — unless the
/// environment requires one (`COEVM_REQUIRE_GPU=1`, as in CI).
fn gpu() -> Option<GpuBackend> {
    match GpuBackend::with_options(&GpuOptions::from_env()) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var("COEVM_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("COEVM_REQUIRE_GPU=1 but no GPU backend: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

fn executor() -> &'static ParallelExecutor {
    static EXECUTOR: OnceLock<ParallelExecutor> = OnceLock::new();
    EXECUTOR.get_or_init(|| ParallelExecutor::new(ParallelConfig::always_parallel(2)))
}

#[test]
fn in_repo_blocks_pass_every_check_with_hashing_and_lookups_on_the_gpu() {
    let Some(gpu) = gpu() else { return };
    let backend = ResilientBackend::new(Arc::new(gpu), 2);
    let dirs = coevm_host::data::discover_blocks(&common::repo_root().join("data/mainnet")).unwrap();
    for dir in dirs {
        let block = load_block(&dir).unwrap();
        let report = run_block(&block, &backend, executor(), RunOptions { repeat: 1 }).unwrap();
        assert!(report.passed(), "block {}: {:?} {:?}", report.number, report.checks, report.mismatch);
        assert_eq!(report.offload.cpu_redos, 0);
        assert_eq!(report.offload.kept_on_cpu, 0, "--backend gpu sends every batch to the device");
        assert_eq!(report.offload.lookups, report.prefetch.keys_looked_up);
        assert_eq!(report.prefetch.hits, report.prefetch.keys_looked_up);
        if report.txs > 0 {
            assert!(report.offload.keccak_messages > 0, "trie nodes hashed on the GPU");
        }
    }
    assert_eq!(backend.kind(), coevm_kernels::BackendKind::Gpu);
}

#[test]
fn a_device_lost_mid_run_is_redone_on_the_cpu_with_the_same_result() {
    let Some(gpu) = gpu() else { return };
    let gpu = Arc::new(gpu);
    let backend = ResilientBackend::new(gpu.clone(), 2);
    let block = load_block(&common::repo_root().join("data/mainnet/19933122")).unwrap();
    let before = run_block(&block, &backend, executor(), RunOptions { repeat: 1 }).unwrap();
    assert!(before.passed());

    // Lose the device for real (wgpu's Device::destroy): every later batch fails on it.
    gpu.destroy_device();
    let after = run_block(&block, &backend, executor(), RunOptions { repeat: 1 }).unwrap();
    assert!(after.passed(), "{:?}", after.checks);
    assert!(after.offload.cpu_redos >= 1, "the failed batch was redone on the CPU: {:?}", after.offload);
    assert_eq!(backend.kind(), coevm_kernels::BackendKind::Cpu);
    assert_eq!(before.checks, after.checks);
    assert_eq!(before.gas_used, after.gas_used);
}
