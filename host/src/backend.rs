//! Choosing a backend, and the wrapper that makes an accelerator safe to use: a batch that
//! fails on the device (device lost, map failed) is redone on the CPU reference, with the same
//! result, and the device is not used again. It also counts what was offloaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::gpu::{GpuBackend, GpuOptions};
use coevm_kernels::{
    AluBatch, B256, Backend, BackendError, BackendKind, MessageBatch, StorageEntry, StorageKey, StorageTable, U256,
};

/// What `--backend` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// The CPU reference (revm's primitives), on all threads.
    Cpu,
    /// A GPU through wgpu (fails if there is none).
    Gpu,
    /// The GPU when an adapter exists, else the CPU with one message.
    Auto,
}

/// Opens the backend asked for. `Auto` without an adapter returns the CPU and a note saying so.
pub fn open_backend(choice: BackendChoice, threads: usize) -> Result<(Arc<dyn Backend>, Option<String>), BackendError> {
    let cpu = || Arc::new(CpuBackend::new(threads)) as Arc<dyn Backend>;
    match choice {
        BackendChoice::Cpu => Ok((cpu(), None)),
        BackendChoice::Gpu => Ok((Arc::new(GpuBackend::with_options(&GpuOptions::from_env())?), None)),
        BackendChoice::Auto => match GpuBackend::with_options(&GpuOptions::from_env()) {
            Ok(gpu) => Ok((Arc::new(gpu), None)),
            Err(e) => Ok((cpu(), Some(format!("{e}; using the CPU backend")))),
        },
    }
}

/// Work sent to a backend, by operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OffloadCounts {
    pub keccak_batches: usize,
    pub keccak_messages: usize,
    pub alu_batches: usize,
    pub alu_items: usize,
    pub lookup_batches: usize,
    pub lookups: usize,
    /// Batches the accelerator failed and the CPU redid.
    pub cpu_redos: usize,
}

#[derive(Default)]
struct Counters {
    keccak_batches: AtomicUsize,
    keccak_messages: AtomicUsize,
    alu_batches: AtomicUsize,
    alu_items: AtomicUsize,
    lookup_batches: AtomicUsize,
    lookups: AtomicUsize,
    cpu_redos: AtomicUsize,
}

struct Shared {
    primary: Arc<dyn Backend>,
    cpu: CpuBackend,
    failed: AtomicBool,
    counters: Counters,
}

impl Shared {
    /// Runs `op` on the primary backend; on a recoverable failure, once on the CPU instead.
    fn run<T>(&self, what: &str, op: impl Fn(&dyn Backend) -> Result<T, BackendError>) -> Result<T, BackendError> {
        if self.primary.kind() != BackendKind::Cpu && !self.failed.load(Ordering::Acquire) {
            match op(self.primary.as_ref()) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_recoverable_on_cpu() => {
                    if !self.failed.swap(true, Ordering::AcqRel) {
                        tracing::warn!(
                            "{} failed during {what} ({e}); redoing on the CPU from now on",
                            self.primary.kind()
                        );
                        eprintln!(
                            "warning: {} backend failed during {what}: {e}; continuing on the CPU",
                            self.primary.kind()
                        );
                    }
                    self.counters.cpu_redos.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        } else if self.primary.kind() == BackendKind::Cpu {
            return op(self.primary.as_ref());
        }
        op(&self.cpu)
    }
}

/// A backend whose failures fall back to the CPU, counting offloaded work.
#[derive(Clone)]
pub struct ResilientBackend {
    shared: Arc<Shared>,
}

impl ResilientBackend {
    pub fn new(primary: Arc<dyn Backend>, cpu_threads: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                primary,
                cpu: CpuBackend::new(cpu_threads),
                failed: AtomicBool::new(false),
                counters: Counters::default(),
            }),
        }
    }

    /// The backend doing the work (the CPU after an accelerator failure).
    pub fn active_kind(&self) -> BackendKind {
        if self.shared.failed.load(Ordering::Acquire) { BackendKind::Cpu } else { self.shared.primary.kind() }
    }

    pub fn primary(&self) -> &Arc<dyn Backend> {
        &self.shared.primary
    }

    /// Counts so far; `reset` zeroes them (per-block reports).
    pub fn take_counts(&self) -> OffloadCounts {
        let c = &self.shared.counters;
        let take = |a: &AtomicUsize| a.swap(0, Ordering::Relaxed);
        OffloadCounts {
            keccak_batches: take(&c.keccak_batches),
            keccak_messages: take(&c.keccak_messages),
            alu_batches: take(&c.alu_batches),
            alu_items: take(&c.alu_items),
            lookup_batches: take(&c.lookup_batches),
            lookups: take(&c.lookups),
            cpu_redos: take(&c.cpu_redos),
        }
    }
}

impl Backend for ResilientBackend {
    fn kind(&self) -> BackendKind {
        self.active_kind()
    }

    fn describe(&self) -> String {
        if self.shared.failed.load(Ordering::Acquire) {
            format!("{} (failed; CPU takes over)", self.shared.primary.describe())
        } else {
            self.shared.primary.describe()
        }
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        let c = &self.shared.counters;
        c.keccak_batches.fetch_add(1, Ordering::Relaxed);
        c.keccak_messages.fetch_add(batch.len(), Ordering::Relaxed);
        self.shared.run("keccak256", |b| b.keccak256(batch))
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        let c = &self.shared.counters;
        c.alu_batches.fetch_add(1, Ordering::Relaxed);
        c.alu_items.fetch_add(batch.len(), Ordering::Relaxed);
        self.shared.run("alu", |b| b.alu(batch))
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        let table = self.shared.run("storage table build", |b| b.build_storage_table(entries))?;
        Ok(Box::new(ResilientTable { shared: self.shared.clone(), table, entries: entries.to_vec() }))
    }
}

/// A storage table that, if its device fails, rebuilds itself on the CPU from its entries.
struct ResilientTable {
    shared: Arc<Shared>,
    table: Box<dyn StorageTable>,
    entries: Vec<StorageEntry>,
}

impl StorageTable for ResilientTable {
    fn len(&self) -> usize {
        self.table.len()
    }

    fn capacity(&self) -> usize {
        self.table.capacity()
    }

    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError> {
        let c = &self.shared.counters;
        c.lookup_batches.fetch_add(1, Ordering::Relaxed);
        c.lookups.fetch_add(keys.len(), Ordering::Relaxed);
        match self.table.get(keys) {
            Ok(values) => Ok(values),
            Err(e) if e.is_recoverable_on_cpu() => {
                if !self.shared.failed.swap(true, Ordering::AcqRel) {
                    eprintln!(
                        "warning: {} backend failed during storage lookup: {e}; continuing on the CPU",
                        self.shared.primary.kind()
                    );
                }
                c.cpu_redos.fetch_add(1, Ordering::Relaxed);
                self.shared.cpu.build_storage_table(&self.entries)?.get(keys)
            }
            Err(e) => Err(e),
        }
    }
}
