//! The block's pre-state as a read-only revm database, shared by every executor thread.
//!
//! Storage is not served from the parsed JSON: the pre-state's storage is loaded into the
//! backend's storage table (resident on the accelerator), and the slots the block will read
//! are fetched from it in one batched lookup before execution starts.

use std::collections::BTreeMap;

use revm::primitives::HashMap;
use std::convert::Infallible;

use coevm_kernels::{Backend, BackendError, StorageEntry, StorageKey};
use revm::DatabaseRef;
use revm::bytecode::Bytecode;
use revm::primitives::{Address, B256, KECCAK_EMPTY, U256};
use revm::state::AccountInfo;

use crate::data::Block;

/// What the storage prefetch did, for the run summary.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct StoragePrefetch {
    /// Entries placed in the backend's storage table.
    pub table_entries: usize,
    /// Keys looked up in one batch before execution.
    pub keys_looked_up: usize,
    /// Lookups that hit.
    pub hits: usize,
}

/// Read-only pre-state: accounts, code by hash, prefetched storage, block hashes.
#[derive(Debug, Default)]
pub struct PreState {
    accounts: HashMap<Address, AccountInfo>,
    code: HashMap<B256, Bytecode>,
    storage: HashMap<Address, HashMap<U256, U256>>,
    block_hashes: BTreeMap<u64, B256>,
}

impl PreState {
    /// Builds the state, with storage served through `backend`'s storage table.
    pub fn load(block: &Block, backend: &dyn Backend) -> Result<(Self, StoragePrefetch), BackendError> {
        let mut state = PreState { block_hashes: block.block_hashes.clone(), ..Default::default() };
        let mut entries = Vec::new();
        for (address, account) in &block.pre_state {
            let mut info = AccountInfo::default().with_balance(account.balance).with_nonce(account.nonce);
            info.code_hash = account.code_hash;
            if let Some(code) = &account.code {
                info.code = Some(code.clone());
                state.code.insert(account.code_hash, code.clone());
            }
            state.accounts.insert(*address, info);
            entries.extend(
                account
                    .storage
                    .iter()
                    .map(|(slot, value)| StorageEntry { key: StorageKey::new(*address, *slot), value: *value }),
            );
        }
        let table = backend.build_storage_table(&entries)?;
        // The pre-state is exactly the block's witness: every slot the block reads. So the
        // prefetch is the witness itself, fetched in one batch from the resident table.
        let keys: Vec<StorageKey> = entries.iter().map(|e| e.key).collect();
        let values = table.get(&keys)?;
        let mut hits = 0;
        for (key, value) in keys.iter().zip(values) {
            if let Some(value) = value {
                hits += 1;
                state.storage.entry(key.address).or_default().insert(key.slot, value);
            }
        }
        let prefetch = StoragePrefetch { table_entries: table.len(), keys_looked_up: keys.len(), hits };
        Ok((state, prefetch))
    }

    /// A state from explicit parts (synthetic blocks, state tests).
    pub fn from_parts(
        accounts: impl IntoIterator<Item = (Address, AccountInfo, BTreeMap<U256, U256>)>,
        block_hashes: BTreeMap<u64, B256>,
    ) -> Self {
        let mut state = PreState { block_hashes, ..Default::default() };
        for (address, info, storage) in accounts {
            if let Some(code) = &info.code {
                state.code.insert(info.code_hash, code.clone());
            }
            state.storage.insert(address, storage.into_iter().collect());
            state.accounts.insert(address, info);
        }
        state
    }

    pub fn account(&self, address: &Address) -> Option<&AccountInfo> {
        self.accounts.get(address)
    }

    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.accounts.keys()
    }

    pub fn storage_of(&self, address: &Address) -> Option<&HashMap<U256, U256>> {
        self.storage.get(address)
    }
}

impl DatabaseRef for PreState {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.accounts.get(&address).cloned())
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        Ok(self.code.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.storage.get(&address).and_then(|s| s.get(&index)).copied().unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.block_hashes.get(&number).copied().unwrap_or_default())
    }
}
