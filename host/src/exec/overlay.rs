//! Committed state on top of the read-only pre-state, with revm's `CacheDB` commit rules, and
//! the net [`StateChanges`] of a block.

use std::collections::BTreeMap;

use revm::primitives::HashMap;

use revm::DatabaseRef;
use revm::primitives::{Address, KECCAK_EMPTY, U256};
use revm::state::{Account, AccountInfo, EvmState};

use super::AccountSummary;
use crate::state::PreState;

/// One account as the block has left it so far.
#[derive(Clone, Debug, Default)]
pub struct OverlayAccount {
    /// `None`: the account does not exist (self-destructed).
    pub info: Option<AccountInfo>,
    /// Storage was wiped (creation or self-destruct): unlisted slots read as zero.
    pub storage_cleared: bool,
    pub storage: HashMap<U256, U256>,
}

/// Writes of committed transactions, looked up before the pre-state.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    pub accounts: HashMap<Address, OverlayAccount>,
}

impl Overlay {
    /// An empty overlay with room for `accounts` accounts (a block touches about two per
    /// transaction: growing the map mid-block is measurable).
    pub fn with_capacity(accounts: usize) -> Self {
        Self { accounts: HashMap::with_capacity_and_hasher(accounts, Default::default()) }
    }

    /// Applies one transaction's state, exactly as `CacheDB::commit` would.
    pub fn commit(&mut self, state: EvmState) {
        for (address, account) in state {
            if let Some(entry) = self.commit_storage(address, &account) {
                entry.info = Some(account.info);
            }
        }
    }

    /// [`Overlay::commit`] for a state that is kept (a speculative result awaiting validation).
    pub fn commit_ref(&mut self, state: &EvmState) {
        for (address, account) in state {
            if let Some(entry) = self.commit_storage(*address, account) {
                entry.info = Some(account.info.clone());
            }
        }
    }

    /// Forgets every account, keeping the allocation.
    pub fn clear(&mut self) {
        self.accounts.clear();
    }

    /// Applies an account's existence and storage; returns the entry whose info is to be set
    /// (`None`: untouched, or self-destructed).
    fn commit_storage<'s>(&'s mut self, address: Address, account: &Account) -> Option<&'s mut OverlayAccount> {
        if !account.is_touched() {
            return None;
        }
        let entry = self.accounts.entry(address).or_default();
        if account.is_selfdestructed() {
            entry.storage.clear();
            entry.storage_cleared = true;
            entry.info = None;
            return None;
        }
        if account.is_created() {
            entry.storage.clear();
            entry.storage_cleared = true;
        }
        entry.storage.extend(account.changed_storage_slots().map(|(k, v)| (*k, v.present_value())));
        Some(entry)
    }

    /// A slot as this overlay alone knows it: `None` when the pre-state decides.
    pub fn local_storage(&self, address: Address, slot: U256) -> Option<U256> {
        let acc = self.accounts.get(&address)?;
        match acc.storage.get(&slot) {
            Some(v) => Some(*v),
            None if acc.storage_cleared || acc.info.is_none() => Some(U256::ZERO),
            None => None,
        }
    }

    /// The account as the committed state sees it.
    pub fn basic(&self, pre: &PreState, address: Address) -> Option<AccountInfo> {
        match self.accounts.get(&address) {
            Some(acc) => acc.info.clone(),
            None => pre.basic_ref(address).unwrap_or_else(|e| match e {}),
        }
    }

    /// The compared fields of an account as the committed state sees it (no code clone).
    pub fn summary(&self, pre: &PreState, address: Address) -> Option<AccountSummary> {
        let info = match self.accounts.get(&address) {
            Some(acc) => acc.info.as_ref(),
            None => pre.account(&address),
        };
        info.map(|i| AccountSummary { balance: i.balance, nonce: i.nonce, code_hash: i.code_hash })
    }

    /// A storage slot as the committed state sees it.
    pub fn storage(&self, pre: &PreState, address: Address, slot: U256) -> U256 {
        self.local_storage(address, slot)
            .unwrap_or_else(|| pre.storage_ref(address, slot).unwrap_or_else(|e| match e {}))
    }

    /// Adds `amount` to an account's balance (deferred beneficiary fees).
    pub fn credit(&mut self, pre: &PreState, address: Address, amount: U256) {
        let mut info = self.basic(pre, address).unwrap_or_default();
        info.balance += amount;
        self.accounts.entry(address).or_default().info = Some(info);
    }

    /// The net changes against the pre-state.
    pub fn changes(&self, pre: &PreState) -> StateChanges {
        let mut out = BTreeMap::new();
        for (address, acc) in &self.accounts {
            let before = pre.account(address);
            let after = acc.info.as_ref();
            let pre_storage = pre.storage_of(address);
            let mut storage = BTreeMap::new();
            let cleared = acc.storage_cleared || acc.info.is_none();
            if cleared {
                // Every non-zero slot of the pre-state is gone unless rewritten.
                if let Some(pre_storage) = pre_storage {
                    for (slot, value) in pre_storage {
                        if !value.is_zero() && !acc.storage.contains_key(slot) {
                            storage.insert(*slot, U256::ZERO);
                        }
                    }
                }
            }
            for (slot, value) in &acc.storage {
                let old = pre_storage.and_then(|s| s.get(slot)).copied().unwrap_or_default();
                if *value != old || (cleared && !value.is_zero()) {
                    storage.insert(*slot, *value);
                }
            }
            let summary =
                |i: &AccountInfo| AccountSummary { balance: i.balance, nonce: i.nonce, code_hash: code_hash(i) };
            let (before, after) = (before.map(summary), after.map(summary));
            if before != after || !storage.is_empty() {
                out.insert(*address, AccountState { account: after, storage });
            }
        }
        StateChanges(out)
    }
}

/// Empty code has two spellings in revm (zero and KECCAK_EMPTY): compare one.
fn code_hash(info: &AccountInfo) -> revm::primitives::B256 {
    if info.code_hash.is_zero() { KECCAK_EMPTY } else { info.code_hash }
}

/// An account after the block, where it differs from before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// `None`: the account no longer exists.
    pub account: Option<AccountSummary>,
    /// Slots whose value changed (zero = cleared).
    pub storage: BTreeMap<U256, U256>,
}

/// The net effect of a block on the state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateChanges(pub BTreeMap<Address, AccountState>);

impl StateChanges {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn first_difference(&self, other: &StateChanges) -> Option<String> {
        let addresses: std::collections::BTreeSet<_> = self.0.keys().chain(other.0.keys()).collect();
        for address in addresses {
            let (a, b) = (self.0.get(address), other.0.get(address));
            if a != b {
                return Some(format!("account {address}: {a:?} vs {b:?}"));
            }
        }
        None
    }
}
