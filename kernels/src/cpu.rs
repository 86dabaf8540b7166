//! The CPU reference backend: revm's own primitives, spread over threads for big batches.

use std::collections::HashMap;
use std::num::NonZeroUsize;

use crate::alu::{self, AluBatch};
use crate::{B256, Backend, BackendError, BackendKind, MessageBatch, StorageEntry, StorageKey, StorageTable, U256};

/// Batches smaller than this many items per thread stay on one thread: spawning costs ~10 µs.
const MIN_ITEMS_PER_THREAD: usize = 2048;

/// The reference [`Backend`]: keccak256 from `revm::primitives::keccak256`, the ALU from
/// [`alu::eval`] (revm's semantics), storage tables in a `HashMap`. Never fails on valid input.
#[derive(Clone, Debug)]
pub struct CpuBackend {
    threads: usize,
}

impl CpuBackend {
    /// A backend using up to `threads` threads (0 is treated as 1).
    pub fn new(threads: usize) -> Self {
        Self { threads: threads.max(1) }
    }

    /// A backend using every available hardware thread.
    pub fn with_all_threads() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// How many threads a batch of `items` is split over.
    fn threads_for(&self, items: usize) -> usize {
        (items / MIN_ITEMS_PER_THREAD).clamp(1, self.threads)
    }

    /// Computes `f(i)` for every `i < n` into a vector, over as many threads as pay off.
    fn map_indexed<T, F>(&self, n: usize, f: F) -> Vec<T>
    where
        T: Send + Clone + Default,
        F: Fn(usize) -> T + Sync,
    {
        let threads = self.threads_for(n);
        let mut out = vec![T::default(); n];
        if threads == 1 {
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = f(i);
            }
            return out;
        }
        let per_thread = n.div_ceil(threads);
        std::thread::scope(|scope| {
            for (chunk_index, chunk) in out.chunks_mut(per_thread).enumerate() {
                let f = &f;
                scope.spawn(move || {
                    let base = chunk_index * per_thread;
                    for (k, slot) in chunk.iter_mut().enumerate() {
                        *slot = f(base + k);
                    }
                });
            }
        });
        out
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::with_all_threads()
    }
}

impl Backend for CpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn describe(&self) -> String {
        format!("cpu reference (revm primitives), {} thread(s)", self.threads)
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        Ok(self.map_indexed(batch.len(), |i| revm::primitives::keccak256(batch.get(i))))
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        let ops = batch.ops();
        let operands = batch.operands();
        Ok(self.map_indexed(batch.len(), |i| {
            let [a, b, c] = operands[i];
            alu::eval(ops[i], a, b, c)
        }))
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        Ok(Box::new(CpuStorageTable::new(entries)))
    }
}

/// A storage table in a `HashMap`; duplicate keys: the last entry wins.
#[derive(Clone, Debug, Default)]
pub struct CpuStorageTable {
    map: HashMap<StorageKey, U256>,
}

impl CpuStorageTable {
    pub fn new(entries: &[StorageEntry]) -> Self {
        let mut map = HashMap::with_capacity(entries.len());
        for e in entries {
            map.insert(e.key, e.value);
        }
        Self { map }
    }

    /// Looks up one key.
    pub fn lookup(&self, key: &StorageKey) -> Option<U256> {
        self.map.get(key).copied()
    }
}

impl StorageTable for CpuStorageTable {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn capacity(&self) -> usize {
        self.map.capacity()
    }

    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError> {
        Ok(keys.iter().map(|k| self.lookup(k)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, AluOp};

    #[test]
    fn threaded_and_single_thread_agree() {
        let mut alu = AluBatch::new();
        let mut msgs = MessageBatch::new();
        for i in 0..10_000u64 {
            alu.push(AluOp::Mul, U256::from(i) << 200, U256::from(i * 7 + 1), U256::ZERO);
            msgs.push(&i.to_le_bytes()[..(i % 9) as usize]);
        }
        let one = CpuBackend::new(1);
        let four = CpuBackend::new(4);
        assert_eq!(four.threads_for(alu.len()), 4);
        assert_eq!(one.alu(&alu).unwrap(), four.alu(&alu).unwrap());
        let h1 = one.keccak256(&msgs).unwrap();
        assert_eq!(h1, four.keccak256(&msgs).unwrap());
        assert_eq!(h1[0], revm::primitives::KECCAK_EMPTY);
        assert_eq!(h1[9], revm::primitives::KECCAK_EMPTY);
    }

    #[test]
    fn storage_last_duplicate_wins() {
        let k = StorageKey::new(Address::repeat_byte(1), U256::from(5));
        let other = StorageKey::new(Address::repeat_byte(2), U256::from(5));
        let table = CpuBackend::new(1)
            .build_storage_table(&[
                StorageEntry { key: k, value: U256::from(1) },
                StorageEntry { key: k, value: U256::from(2) },
            ])
            .unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(&[k, other]).unwrap(), vec![Some(U256::from(2)), None]);
    }
}
