//! A device lost mid-block: every batch from that point is redone on the CPU, and the block
//! comes out the same. Runs without a GPU: a stand-in device (the CPU reference, reporting
//! itself as a GPU) fails from its k-th call on, for every k the block reaches, whether that
//! call hashes, does ALU work, builds the storage table or looks slots up in it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coevm_host::backend::ResilientBackend;
use coevm_host::data::{Block, load_block};
use coevm_host::env::{BlockContext, tx_envs};
use coevm_host::exec::{ParallelConfig, ParallelExecutor, execute_sequential};
use coevm_host::state::PreState;
use coevm_host::verify::{HeaderChecks, check_header};
use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::{
    AluBatch, B256, Backend, BackendError, BackendKind, MessageBatch, StorageEntry, StorageKey, StorageTable, U256,
};

/// The CPU reference, posing as a GPU that is lost from its `fails_from`-th call on.
struct LosableDevice {
    cpu: CpuBackend,
    calls: Arc<AtomicUsize>,
    fails_from: usize,
}

impl LosableDevice {
    fn call(&self, operation: &'static str) -> Result<(), BackendError> {
        match self.calls.fetch_add(1, Ordering::SeqCst) >= self.fails_from {
            true => Err(BackendError::DeviceLost { operation, reason: "lost (test)".into() }),
            false => Ok(()),
        }
    }
}

impl Backend for LosableDevice {
    fn kind(&self) -> BackendKind {
        BackendKind::Gpu
    }

    fn describe(&self) -> String {
        "a device that gets lost".into()
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        self.call("keccak256")?;
        self.cpu.keccak256(batch)
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        self.call("alu")?;
        self.cpu.alu(batch)
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        self.call("storage table build")?;
        let table = self.cpu.build_storage_table(entries)?;
        Ok(Box::new(LosableTable { table, device: self.calls.clone(), fails_from: self.fails_from }))
    }
}

/// A table on that device: its lookups fail once the device is lost.
struct LosableTable {
    table: Box<dyn StorageTable>,
    device: Arc<AtomicUsize>,
    fails_from: usize,
}

impl StorageTable for LosableTable {
    fn len(&self) -> usize {
        self.table.len()
    }

    fn capacity(&self) -> usize {
        self.table.capacity()
    }

    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError> {
        if self.device.fetch_add(1, Ordering::SeqCst) >= self.fails_from {
            return Err(BackendError::DeviceLost { operation: "storage lookup", reason: "lost (test)".into() });
        }
        self.table.get(keys)
    }
}

/// The block once through `backend`: its pre-state's table and lookups, its execution
/// (fees settled on the backend's ALU), its header checks (tries and bloom hashed there), all
/// compared with the oracle. (`run_block` would run it a number of times that depends on the
/// machine's speed, and so reach the device a varying number of times.)
fn run_once(block: &Block, backend: &ResilientBackend, executor: &ParallelExecutor) -> HeaderChecks {
    let (pre, _) = PreState::load(block, backend).expect("a device loss is redone on the CPU");
    let pre = Arc::new(pre);
    let ctx = BlockContext::new(&block.header);
    let txs = tx_envs(block);
    let oracle = execute_sequential(&ctx, &txs, &pre).unwrap();
    let outcome = executor.execute(&ctx, &txs, &pre, backend, Some(block.header.gas_used)).unwrap();
    assert_eq!(outcome.first_difference(&oracle, &pre), None);
    check_header(block, ctx.spec, &outcome.txs, backend).expect("hashing")
}

#[test]
fn a_device_lost_at_any_call_is_redone_on_the_cpu_with_the_same_result() {
    // 19,933,122: run in parallel (fees settled through the ALU), a storage table and lookups,
    // tries and a bloom to hash.
    let block = load_block(&common::repo_root().join("data/mainnet/19933122")).unwrap();
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    let reference = run_once(&block, &ResilientBackend::new(Arc::new(CpuBackend::new(2)), 2), &executor);
    assert!(reference.passed());

    let mut fails_from = 0;
    loop {
        let calls = Arc::new(AtomicUsize::new(0));
        let device = LosableDevice { cpu: CpuBackend::new(2), calls: calls.clone(), fails_from };
        let backend = ResilientBackend::new(Arc::new(device), 2);
        let checks = run_once(&block, &backend, &executor);
        assert_eq!(checks, reference, "lost at call {fails_from}");
        let counts = backend.take_counts();
        let reached = calls.load(Ordering::SeqCst);
        if reached <= fails_from {
            // The whole block ran before the loss: nothing to redo.
            assert_eq!(counts.cpu_redos, 0);
            assert_eq!(backend.kind(), BackendKind::Gpu);
            assert!(fails_from >= 4, "the block reaches the device at least four times ({reached})");
            break;
        }
        assert_eq!(counts.cpu_redos, 1, "lost at call {fails_from}: one failure, then the CPU: {counts:?}");
        assert_eq!(backend.kind(), BackendKind::Cpu, "after the loss the CPU does the work");
        assert!(backend.describe().contains("the CPU took over"), "{}", backend.describe());
        fails_from += 1;
    }
}

/// A device that takes no batch of more than `max_items` (as a GPU takes no message larger
/// than a storage binding).
struct SmallDevice {
    cpu: CpuBackend,
    max_items: usize,
}

impl Backend for SmallDevice {
    fn kind(&self) -> BackendKind {
        BackendKind::Gpu
    }

    fn describe(&self) -> String {
        "a small device".into()
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        if batch.len() > self.max_items {
            let reason = format!("{} messages", batch.len());
            return Err(BackendError::ExceedsDeviceLimits { operation: "keccak256", reason });
        }
        self.cpu.keccak256(batch)
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        self.cpu.alu(batch)
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        self.cpu.build_storage_table(entries)
    }
}

#[test]
fn a_batch_beyond_the_devices_limits_goes_to_the_cpu_and_the_device_stays_in_use() {
    let block = load_block(&common::repo_root().join("data/mainnet/19933122")).unwrap();
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    let backend = ResilientBackend::new(Arc::new(SmallDevice { cpu: CpuBackend::new(2), max_items: 64 }), 2);
    assert!(run_once(&block, &backend, &executor).passed());
    let counts = backend.take_counts();
    assert!(counts.kept_on_cpu >= 1, "{counts:?}");
    assert_eq!(counts.cpu_redos, 0, "not a device failure");
    assert_eq!(backend.kind(), BackendKind::Gpu, "the device stays in use");
}
