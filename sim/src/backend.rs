//! [`FpgaSimBackend`]: the [`Backend`] trait served by the simulated hardware.
//!
//! Every digest, ALU result and lookup answer is read off the simulated designs' output buses;
//! nothing is computed on the CPU reference. A batch is split over `cores` simulated instances
//! of a unit (one host thread each), as a device would instantiate several cores.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use coevm_kernels::{
    AluBatch, B256, Backend, BackendError, BackendKind, MessageBatch, StorageEntry, StorageKey, StorageTable, U256,
};

use crate::{AluSim, KeccakSim, SimFault, StorageSim};

/// Clock cycles the simulated units have run, summed over instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub keccak_messages: u64,
    pub keccak_cycles: u64,
    pub alu_items: u64,
    pub alu_cycles: u64,
    pub storage_requests: u64,
    pub storage_cycles: u64,
}

#[derive(Default)]
struct Counters {
    keccak_messages: AtomicU64,
    keccak_cycles: AtomicU64,
    alu_items: AtomicU64,
    alu_cycles: AtomicU64,
    storage_requests: AtomicU64,
    storage_cycles: AtomicU64,
}

/// A [`Backend`] whose results come from RustHDL simulations of `coevm-hdl`'s designs.
pub struct FpgaSimBackend {
    cores: usize,
    counters: std::sync::Arc<Counters>,
}

impl FpgaSimBackend {
    /// Simulates up to `cores` instances of a unit in parallel (0 is treated as 1).
    pub fn new(cores: usize) -> Self {
        FpgaSimBackend { cores: cores.max(1), counters: Default::default() }
    }

    /// One simulated instance per available hardware thread.
    pub fn with_all_threads() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Cycles run so far by every simulated unit of this backend (and its tables).
    pub fn stats(&self) -> SimStats {
        let c = &self.counters;
        SimStats {
            keccak_messages: c.keccak_messages.load(Ordering::Relaxed),
            keccak_cycles: c.keccak_cycles.load(Ordering::Relaxed),
            alu_items: c.alu_items.load(Ordering::Relaxed),
            alu_cycles: c.alu_cycles.load(Ordering::Relaxed),
            storage_requests: c.storage_requests.load(Ordering::Relaxed),
            storage_cycles: c.storage_cycles.load(Ordering::Relaxed),
        }
    }

    /// Runs `step` over items `0..n` split into contiguous chunks, each chunk on its own
    /// simulated unit (built by `make`) in its own thread.
    fn parallel<T, S, M, F>(&self, n: usize, make: M, step: F) -> Result<Vec<T>, SimFault>
    where
        T: Send + Clone + Default,
        M: Fn() -> Result<S, SimFault> + Sync,
        F: Fn(&mut S, usize) -> Result<T, SimFault> + Sync,
    {
        let mut out = vec![T::default(); n];
        if n == 0 {
            return Ok(out);
        }
        let per = n.div_ceil(self.cores.min(n));
        std::thread::scope(|scope| {
            let handles: Vec<_> = out
                .chunks_mut(per)
                .enumerate()
                .map(|(ci, chunk)| {
                    let (make, step) = (&make, &step);
                    scope.spawn(move || -> Result<(), SimFault> {
                        let mut unit = make()?;
                        for (k, slot) in chunk.iter_mut().enumerate() {
                            *slot = step(&mut unit, ci * per + k)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            // Every thread joined (a scope would re-raise a panic left unjoined); the first
            // fault is returned.
            let joined: Vec<Result<(), SimFault>> = handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|panic| {
                        let message = coevm_kernels::error::panic_message(panic.as_ref());
                        Err(SimFault::Panicked(message.unwrap_or_else(|| "(no message)".into())))
                    })
                })
                .collect();
            joined.into_iter().collect::<Result<(), SimFault>>()
        })?;
        Ok(out)
    }
}

impl Default for FpgaSimBackend {
    fn default() -> Self {
        Self::with_all_threads()
    }
}

fn lost(operation: &'static str, e: SimFault) -> BackendError {
    BackendError::DeviceLost { operation, reason: format!("simulated hardware: {e}") }
}

impl Backend for FpgaSimBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::FpgaSim
    }

    fn describe(&self) -> String {
        format!(
            "fpga-sim: RustHDL cycle simulation of coevm-hdl (keccak256 core, 256-bit ALU, storage unit), {} core(s)",
            self.cores
        )
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        let c = &self.counters;
        self.parallel(batch.len(), KeccakSim::new, |core, i| {
            let (d, cycles) = core.hash(batch.get(i))?;
            c.keccak_messages.fetch_add(1, Ordering::Relaxed);
            c.keccak_cycles.fetch_add(cycles, Ordering::Relaxed);
            Ok(B256::from(d))
        })
        .map_err(|e| lost("keccak256", e))
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        let c = &self.counters;
        let (ops, operands) = (batch.ops(), batch.operands());
        self.parallel(batch.len(), AluSim::new, |alu, i| {
            let [a, b, x] = operands[i];
            let (r, cycles) = alu.eval(ops[i], a, b, x)?;
            c.alu_items.fetch_add(1, Ordering::Relaxed);
            c.alu_cycles.fetch_add(cycles, Ordering::Relaxed);
            Ok(r)
        })
        .map_err(|e| lost("alu", e))
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        let distinct = entries.iter().map(|e| e.key).collect::<HashSet<_>>().len();
        let mut unit = TableUnit::for_entries(distinct)?;
        let capacity = unit.capacity();
        for e in entries {
            let (stored, cycles) = unit.insert(&e.key, e.value).map_err(|e| lost("build_storage_table", e))?;
            self.counters.storage_requests.fetch_add(1, Ordering::Relaxed);
            self.counters.storage_cycles.fetch_add(cycles, Ordering::Relaxed);
            if !stored {
                return Err(BackendError::TableFull { entries: distinct, capacity });
            }
        }
        Ok(Box::new(SimStorageTable {
            unit: Mutex::new(unit),
            len: distinct,
            capacity,
            counters: self.counters.clone(),
        }))
    }
}

/// Maximum load factor of a simulated table: entries <= capacity / 2.
pub const MAX_LOAD_NUM: usize = 1;
pub const MAX_LOAD_DEN: usize = 2;

/// The table sizes the simulated storage unit is instantiated with (address bits).
enum TableUnit {
    K8(Box<StorageSim<8>>),
    K12(Box<StorageSim<12>>),
    K16(Box<StorageSim<16>>),
    K20(Box<StorageSim<20>>),
}

macro_rules! each_unit {
    ($self:expr, $u:ident => $body:expr) => {
        match $self {
            TableUnit::K8($u) => $body,
            TableUnit::K12($u) => $body,
            TableUnit::K16($u) => $body,
            TableUnit::K20($u) => $body,
        }
    };
}

impl TableUnit {
    fn for_entries(n: usize) -> Result<Self, BackendError> {
        let fits = |k: usize| n * MAX_LOAD_DEN <= (1usize << k) * MAX_LOAD_NUM;
        let fault = |e| lost("build_storage_table", e);
        Ok(if fits(8) {
            TableUnit::K8(Box::new(StorageSim::new().map_err(fault)?))
        } else if fits(12) {
            TableUnit::K12(Box::new(StorageSim::new().map_err(fault)?))
        } else if fits(16) {
            TableUnit::K16(Box::new(StorageSim::new().map_err(fault)?))
        } else if fits(20) {
            TableUnit::K20(Box::new(StorageSim::new().map_err(fault)?))
        } else {
            return Err(BackendError::TableFull { entries: n, capacity: 1 << 20 });
        })
    }

    fn capacity(&self) -> usize {
        match self {
            TableUnit::K8(_) => 1 << 8,
            TableUnit::K12(_) => 1 << 12,
            TableUnit::K16(_) => 1 << 16,
            TableUnit::K20(_) => 1 << 20,
        }
    }

    fn insert(&mut self, key: &StorageKey, value: U256) -> Result<(bool, u64), SimFault> {
        each_unit!(self, u => u.insert(key, value).map(|(r, c)| (r.ok, c)))
    }

    fn lookup(&mut self, key: &StorageKey) -> Result<(Option<U256>, u64), SimFault> {
        each_unit!(self, u => u.lookup(key).map(|(r, c)| (r.ok.then_some(r.value), c)))
    }
}

/// A table resident in a simulated storage unit's block RAM.
struct SimStorageTable {
    unit: Mutex<TableUnit>,
    len: usize,
    capacity: usize,
    counters: std::sync::Arc<Counters>,
}

impl StorageTable for SimStorageTable {
    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError> {
        let mut unit = self.unit.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .map(|k| {
                let (v, cycles) = unit.lookup(k).map_err(|e| lost("storage get", e))?;
                self.counters.storage_requests.fetch_add(1, Ordering::Relaxed);
                self.counters.storage_cycles.fetch_add(cycles, Ordering::Relaxed);
                Ok(v)
            })
            .collect()
    }
}
