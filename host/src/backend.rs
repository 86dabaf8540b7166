//! Choosing a backend, and the wrapper that makes an accelerator safe and worth using:
//! - batches below the crossover size stay on the CPU (a device round trip costs ~100 µs);
//! - a batch that fails on the device (device lost, map failed) is redone on the CPU reference,
//!   with the same result, and the device is not used again;
//! - everything is counted, for the run summary.

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
    /// A GPU through wgpu, for every batch (fails if there is none).
    Gpu,
    /// The GPU when a hardware adapter exists, for batches past the crossover; else the CPU.
    Auto,
    /// The FPGA designs (coevm-hdl), simulated cycle by cycle: slow, exact, every batch.
    FpgaSim,
}

/// Batch sizes from which an accelerator beats the CPU, per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Crossovers {
    pub keccak_messages: usize,
    pub alu_items: usize,
    pub lookups: usize,
}

impl Crossovers {
    /// Everything to the accelerator (`--backend gpu`: the user asked for it).
    pub const ALWAYS: Crossovers = Crossovers { keccak_messages: 0, alu_items: 0, lookups: 0 };
    /// Nothing pays: the "GPU" is the CPU itself (a software device such as lavapipe).
    pub const NEVER: Crossovers =
        Crossovers { keccak_messages: usize::MAX, alu_items: usize::MAX, lookups: usize::MAX };
    /// Before any measurement (`coevm bench` caches measured ones), on a hardware GPU: sizes where a ~100 µs round trip is amortised
    /// against a CPU thread doing ~3.5 M keccak256/s and tens of millions of ALU ops/s.
    pub const HARDWARE_DEFAULT: Crossovers = Crossovers { keccak_messages: 4096, alu_items: 16384, lookups: 4096 };
}

/// An opened backend and how work is routed to it.
pub struct Opened {
    pub backend: Arc<dyn Backend>,
    pub crossovers: Crossovers,
    /// A message for the user (e.g. why `auto` keeps work on the CPU).
    pub note: Option<String>,
}

/// Opens the backend asked for. `Auto` without an adapter returns the CPU and a note saying so.
pub fn open_backend(choice: BackendChoice, threads: usize) -> Result<Opened, BackendError> {
    let cpu = || Arc::new(CpuBackend::new(threads)) as Arc<dyn Backend>;
    match choice {
        BackendChoice::Cpu => Ok(Opened { backend: cpu(), crossovers: Crossovers::ALWAYS, note: None }),
        BackendChoice::Gpu => Ok(Opened {
            backend: Arc::new(GpuBackend::with_options(&GpuOptions::from_env())?),
            crossovers: Crossovers::ALWAYS,
            note: None,
        }),
        BackendChoice::FpgaSim => Ok(Opened {
            backend: Arc::new(coevm_sim::FpgaSimBackend::new(threads)),
            crossovers: Crossovers::ALWAYS,
            note: Some(
                "fpga-sim: hashing, ALU work and lookups run on simulated hardware (cycle by cycle: slow)".into(),
            ),
        }),
        BackendChoice::Auto => match GpuBackend::with_options(&GpuOptions::from_env()) {
            // Measured by `coevm bench` on this adapter: route by the measurement.
            Ok(gpu) if let Some(measured) = crate::bench::cached_crossovers(gpu.adapter_info()) => {
                Ok(Opened { backend: Arc::new(gpu), crossovers: measured, note: None })
            }
            Ok(gpu) if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu => {
                let note = format!(
                    "{} is a software device (the CPU emulating a GPU): `auto` keeps the work on the CPU \
                     (--backend gpu sends it there anyway; `coevm bench` measures where it pays)",
                    gpu.adapter_info().name
                );
                Ok(Opened { backend: Arc::new(gpu), crossovers: Crossovers::NEVER, note: Some(note) })
            }
            Ok(gpu) => Ok(Opened { backend: Arc::new(gpu), crossovers: Crossovers::HARDWARE_DEFAULT, note: None }),
            Err(e) => Ok(Opened {
                backend: cpu(),
                crossovers: Crossovers::ALWAYS,
                note: Some(format!("{e}; using the CPU backend")),
            }),
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
    /// Batches kept on the CPU because they were below the crossover size, or beyond the
    /// device's limits.
    pub kept_on_cpu: usize,
}

impl OffloadCounts {
    pub fn add(&mut self, o: &OffloadCounts) {
        self.keccak_batches += o.keccak_batches;
        self.keccak_messages += o.keccak_messages;
        self.alu_batches += o.alu_batches;
        self.alu_items += o.alu_items;
        self.lookup_batches += o.lookup_batches;
        self.lookups += o.lookups;
        self.cpu_redos += o.cpu_redos;
        self.kept_on_cpu += o.kept_on_cpu;
    }

    pub fn items(&self) -> usize {
        self.keccak_messages + self.alu_items + self.lookups
    }
}

#[derive(Default)]
struct Counters([AtomicUsize; 8]);

impl Counters {
    const KECCAK_BATCHES: usize = 0;
    const KECCAK_MESSAGES: usize = 1;
    const ALU_BATCHES: usize = 2;
    const ALU_ITEMS: usize = 3;
    const LOOKUP_BATCHES: usize = 4;
    const LOOKUPS: usize = 5;
    const CPU_REDOS: usize = 6;
    const KEPT_ON_CPU: usize = 7;

    fn add(&self, which: usize, n: usize) {
        self.0[which].fetch_add(n, Ordering::Relaxed);
    }

    fn take(&self) -> OffloadCounts {
        let t = |i: usize| self.0[i].swap(0, Ordering::Relaxed);
        OffloadCounts {
            keccak_batches: t(Self::KECCAK_BATCHES),
            keccak_messages: t(Self::KECCAK_MESSAGES),
            alu_batches: t(Self::ALU_BATCHES),
            alu_items: t(Self::ALU_ITEMS),
            lookup_batches: t(Self::LOOKUP_BATCHES),
            lookups: t(Self::LOOKUPS),
            cpu_redos: t(Self::CPU_REDOS),
            kept_on_cpu: t(Self::KEPT_ON_CPU),
        }
    }
}

struct Shared {
    primary: Arc<dyn Backend>,
    crossovers: Crossovers,
    cpu: CpuBackend,
    failed: AtomicBool,
    counters: Counters,
}

impl Shared {
    fn accelerated(&self) -> bool {
        self.primary.kind() != BackendKind::Cpu
    }

    /// Marks the accelerator failed (once, with one message) and counts a CPU redo.
    fn fail_over(&self, what: &str, error: &BackendError) {
        if !self.failed.swap(true, Ordering::AcqRel) {
            tracing::warn!(backend = %self.primary.kind(), "failed during {what}: {error}");
            eprintln!("warning: {} backend failed during {what}: {error}; continuing on the CPU", self.primary.kind());
        }
        self.counters.add(Counters::CPU_REDOS, 1);
    }

    /// Runs `op` where it pays: on the accelerator from `crossover` items on, else on the CPU;
    /// an accelerator failure is redone on the CPU.
    fn run<T>(
        &self,
        what: &str,
        size: usize,
        crossover: usize,
        op: impl Fn(&dyn Backend) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        if !self.accelerated() {
            return op(self.primary.as_ref());
        }
        if size < crossover {
            self.counters.add(Counters::KEPT_ON_CPU, 1);
            return op(&self.cpu);
        }
        if !self.failed.load(Ordering::Acquire) {
            match op(self.primary.as_ref()) {
                Ok(v) => return Ok(v),
                // Too big for the device, not a device failure: this batch on the CPU only.
                Err(e @ BackendError::ExceedsDeviceLimits { .. }) => {
                    tracing::debug!("{what}: {e}; on the CPU");
                    self.counters.add(Counters::KEPT_ON_CPU, 1);
                }
                Err(e) if e.is_recoverable_on_cpu() => self.fail_over(what, &e),
                Err(e) => return Err(e),
            }
        }
        op(&self.cpu)
    }
}

/// A backend that routes by batch size, falls back to the CPU on failure and counts its work.
#[derive(Clone)]
pub struct ResilientBackend {
    shared: Arc<Shared>,
}

impl ResilientBackend {
    /// Everything goes to `primary`.
    pub fn new(primary: Arc<dyn Backend>, cpu_threads: usize) -> Self {
        Self::routed(primary, Crossovers::ALWAYS, cpu_threads)
    }

    /// Batches below the crossovers stay on the CPU.
    pub fn routed(primary: Arc<dyn Backend>, crossovers: Crossovers, cpu_threads: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                primary,
                crossovers,
                cpu: CpuBackend::new(cpu_threads),
                failed: AtomicBool::new(false),
                counters: Counters::default(),
            }),
        }
    }

    pub fn from_opened(opened: &Opened, cpu_threads: usize) -> Self {
        Self::routed(opened.backend.clone(), opened.crossovers, cpu_threads)
    }

    /// The backend doing the work (the CPU after an accelerator failure).
    pub fn active_kind(&self) -> BackendKind {
        if self.shared.failed.load(Ordering::Acquire) { BackendKind::Cpu } else { self.shared.primary.kind() }
    }

    pub fn primary(&self) -> &Arc<dyn Backend> {
        &self.shared.primary
    }

    /// Counts since the last call.
    pub fn take_counts(&self) -> OffloadCounts {
        self.shared.counters.take()
    }
}

impl Backend for ResilientBackend {
    fn kind(&self) -> BackendKind {
        self.active_kind()
    }

    fn describe(&self) -> String {
        if self.shared.failed.load(Ordering::Acquire) {
            format!("{} (failed; the CPU took over)", self.shared.primary.describe())
        } else {
            self.shared.primary.describe()
        }
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        let s = &self.shared;
        s.counters.add(Counters::KECCAK_BATCHES, 1);
        s.counters.add(Counters::KECCAK_MESSAGES, batch.len());
        s.run("keccak256", batch.len(), s.crossovers.keccak_messages, |b| b.keccak256(batch))
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        let s = &self.shared;
        s.counters.add(Counters::ALU_BATCHES, 1);
        s.counters.add(Counters::ALU_ITEMS, batch.len());
        s.run("alu", batch.len(), s.crossovers.alu_items, |b| b.alu(batch))
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        let s = &self.shared;
        // A table is built once and queried in batches: it lives on the accelerator unless
        // lookups never pay there.
        let crossover = if s.crossovers.lookups == usize::MAX { usize::MAX } else { 0 };
        let table = s.run("storage table build", entries.len(), crossover, |b| b.build_storage_table(entries))?;
        Ok(Box::new(ResilientTable { shared: s.clone(), table, entries: entries.to_vec(), on_cpu: Default::default() }))
    }
}

/// A storage table that, once its device fails (here or in any other batch), rebuilds itself
/// on the CPU from its entries, once, and serves every later lookup from that copy.
struct ResilientTable {
    shared: Arc<Shared>,
    table: Box<dyn StorageTable>,
    entries: Vec<StorageEntry>,
    on_cpu: std::sync::OnceLock<Box<dyn StorageTable>>,
}

impl ResilientTable {
    fn cpu_copy(&self) -> Result<&dyn StorageTable, BackendError> {
        if let Some(table) = self.on_cpu.get() {
            return Ok(table.as_ref());
        }
        let table = self.shared.cpu.build_storage_table(&self.entries)?;
        Ok(self.on_cpu.get_or_init(|| table).as_ref())
    }
}

impl StorageTable for ResilientTable {
    fn len(&self) -> usize {
        self.table.len()
    }

    fn capacity(&self) -> usize {
        self.table.capacity()
    }

    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError> {
        let s = &self.shared;
        s.counters.add(Counters::LOOKUP_BATCHES, 1);
        s.counters.add(Counters::LOOKUPS, keys.len());
        if s.failed.load(Ordering::Acquire) {
            return self.cpu_copy()?.get(keys);
        }
        match self.table.get(keys) {
            Ok(values) => Ok(values),
            // Too big for the device, not a device failure: this batch on the CPU only.
            Err(BackendError::ExceedsDeviceLimits { .. }) => {
                s.counters.add(Counters::KEPT_ON_CPU, 1);
                self.cpu_copy()?.get(keys)
            }
            Err(e) if e.is_recoverable_on_cpu() => {
                s.fail_over("storage lookup", &e);
                self.cpu_copy()?.get(keys)
            }
            Err(e) => Err(e),
        }
    }
}
