//! coevm's accelerator layer: the [`Backend`] trait and its implementations.
//!
//! Every accelerator performs the same three *batched* operations, bit-exact with revm:
//! - keccak256 of many variable-length messages ([`MessageBatch`]),
//! - the EVM's 256-bit ALU over many `(op, a, b, c)` items ([`AluBatch`]),
//! - lookups of many `(address, slot)` keys in a storage table built once from a state
//!   ([`StorageTable`]).
//!
//! There is deliberately no per-item call: a GPU round trip costs ~100 µs, so work only pays
//! on an accelerator in batches. [`cpu::CpuBackend`] is the reference; [`gpu::GpuBackend`]
//! runs WGSL compute shaders through wgpu.

pub mod alu;
pub mod cpu;
pub mod error;
pub mod gpu;
pub mod keccak;
pub mod storage;

pub use alu::{AluBatch, AluOp};
pub use error::BackendError;
pub use keccak::MessageBatch;
pub use revm::primitives::{Address, B256, U256};
pub use storage::{StorageEntry, StorageKey, StorageTable};

/// Which kind of device a backend runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Cpu,
    Gpu,
    FpgaSim,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "gpu",
            BackendKind::FpgaSim => "fpga-sim",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A co-processor for the batchable parts of EVM execution.
///
/// Every method takes a whole batch; results come back in input order. An error means the
/// batch produced nothing usable (device lost, map failed, ...): the caller redoes it on the
/// CPU reference, which never fails for valid input.
pub trait Backend: Send + Sync {
    /// Which kind of device this is.
    fn kind(&self) -> BackendKind;

    /// One line for humans: device name, thread count, int64 path, ...
    fn describe(&self) -> String;

    /// keccak256 of every message in the batch.
    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError>;

    /// Evaluates every ALU item with revm's exact semantics.
    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError>;

    /// Builds a lookup table of `(address, slot) -> value` resident on this backend.
    /// Duplicate keys: the last entry wins.
    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError>;
}
