//! Storage lookup tables: `(20-byte address, 32-byte slot) -> 32-byte value`, built once from a
//! state and then queried in batches.

use crate::{Address, BackendError, U256};

/// A storage key: the account and the slot within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey {
    pub address: Address,
    pub slot: U256,
}

impl StorageKey {
    pub fn new(address: Address, slot: U256) -> Self {
        Self { address, slot }
    }
}

/// One entry of a state's storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageEntry {
    pub key: StorageKey,
    pub value: U256,
}

/// A table resident on a backend. Lookups are batched; `None` means the key is not in the table.
pub trait StorageTable: Send + Sync {
    /// Number of distinct keys stored.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots the table has (entries / capacity never exceeds the documented max load).
    fn capacity(&self) -> usize;

    /// Looks up every key; results in input order.
    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError>;
}
