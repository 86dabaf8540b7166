//! Committed state on top of the read-only pre-state, with revm's `CacheDB` commit rules, and
//! the net [`StateChanges`] of a block.

use std::collections::BTreeMap;

use revm::primitives::HashMap;

use revm::DatabaseRef;
use revm::bytecode::Bytecode;
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
        self.commit_accounts(state);
    }

    /// [`Overlay::commit`], leaving `state` empty with its room, to be used again (see
    /// `Shared::commit_block`).
    pub fn commit_drain(&mut self, state: &mut EvmState) {
        self.commit_accounts(state.drain());
    }

    fn commit_accounts(&mut self, accounts: impl IntoIterator<Item = (Address, Account)>) {
        for (address, account) in accounts {
            if let Some(entry) = self.commit_storage(address, &account) {
                entry.info = Some(account.info);
            }
        }
    }

    /// [`Overlay::commit`] for a state that is kept (a speculative result awaiting validation).
    pub fn commit_ref(&mut self, state: &EvmState) {
        self.commit_copied(state, AccountInfo::clone);
    }

    /// [`Overlay::commit_ref`] for a state another thread built (a helper's): each account's
    /// info is copied without that thread's empty code (see `lean` below), and the caller has
    /// the state freed off this thread, so this thread touches none of that thread's reference
    /// counts or allocator pages.
    pub fn commit_lean(&mut self, state: &EvmState) {
        self.commit_copied(state, lean);
    }

    fn commit_copied(&mut self, state: &EvmState, copy: impl Fn(&AccountInfo) -> AccountInfo) {
        for (address, account) in state {
            if let Some(entry) = self.commit_storage(*address, account) {
                match &mut entry.info {
                    // The code this overlay already holds for the account: kept, and only the
                    // rest copied, so its count (which other threads change too) is not.
                    Some(held) if held.code.is_some() && held.code_hash == account.info.code_hash => {
                        *held = with_code(&account.info, held.code.take());
                    }
                    info => *info = Some(copy(&account.info)),
                }
            }
        }
    }

    /// Applies `above`, an overlay of later writes over the same pre-state, as if its
    /// transactions had been committed here: its accounts replace these, and their storage
    /// adds to this one's unless it was wiped above. `above` is a helper's: its infos are
    /// copied without that helper's empty code (see `lean` below).
    pub fn lay(&mut self, above: &Overlay) {
        for (address, account) in &above.accounts {
            let entry = self.accounts.entry(*address).or_default();
            if account.storage_cleared {
                entry.storage.clone_from(&account.storage);
                entry.storage_cleared = true;
            } else {
                entry.storage.extend(account.storage.iter().map(|(k, v)| (*k, *v)));
            }
            entry.info = account.info.as_ref().map(lean);
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

    /// The account as the committed state sees it.
    pub fn basic(&self, pre: &PreState, address: Address) -> Option<AccountInfo> {
        match self.accounts.get(&address) {
            Some(acc) => acc.info.clone(),
            None => pre.basic_ref(address).unwrap_or_else(|e| match e {}),
        }
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

/// The committed state over the pre-state, as one overlay or several laid one above another.
pub trait CommittedState {
    /// The account as the top-most overlay that has it holds it.
    fn account(&self, address: &Address) -> Option<&OverlayAccount>;

    /// A slot as the overlays know it: `None` when the pre-state decides.
    fn local_storage(&self, address: Address, slot: U256) -> Option<U256>;

    /// The compared fields of an account as the committed state sees it (no code clone).
    fn summary(&self, pre: &PreState, address: Address) -> Option<AccountSummary> {
        let info = match self.account(&address) {
            Some(acc) => acc.info.as_ref(),
            None => pre.account(&address),
        };
        info.map(|i| AccountSummary { balance: i.balance, nonce: i.nonce, code_hash: i.code_hash })
    }

    /// A storage slot as the committed state sees it.
    fn storage(&self, pre: &PreState, address: Address, slot: U256) -> U256 {
        self.local_storage(address, slot)
            .unwrap_or_else(|| pre.storage_ref(address, slot).unwrap_or_else(|e| match e {}))
    }
}

impl CommittedState for Overlay {
    fn account(&self, address: &Address) -> Option<&OverlayAccount> {
        self.accounts.get(address)
    }

    fn local_storage(&self, address: Address, slot: U256) -> Option<U256> {
        let acc = self.accounts.get(&address)?;
        match acc.storage.get(&slot) {
            Some(v) => Some(*v),
            None if acc.storage_cleared || acc.info.is_none() => Some(U256::ZERO),
            None => None,
        }
    }
}

/// An overlay with later overlays laid above it (see [`Overlay::lay`]), read without merging.
pub struct Stack<'a> {
    pub below: &'a Overlay,
    /// In order: each one's writes come after the previous one's.
    pub above: &'a [Overlay],
}

impl CommittedState for Stack<'_> {
    fn account(&self, address: &Address) -> Option<&OverlayAccount> {
        self.above.iter().rev().find_map(|layer| layer.account(address)).or_else(|| self.below.account(address))
    }

    fn local_storage(&self, address: Address, slot: U256) -> Option<U256> {
        self.above
            .iter()
            .rev()
            .find_map(|layer| layer.local_storage(address, slot))
            .or_else(|| self.below.local_storage(address, slot))
    }
}

/// `info` without its code when that is empty: the empty code is each thread's own `Arc`
/// (`EmptyCode` in exec/parallel.rs), and a copy kept by another thread would bounce its
/// count between the cores each time either clones or drops it. A reader serves its own empty
/// code for the hash.
fn lean(info: &AccountInfo) -> AccountInfo {
    with_code(info, info.code.as_ref().filter(|code| !code.is_empty()).cloned())
}

/// `info` with `code` in place of its own, without cloning (and later dropping) its own: a
/// code's count is an `Arc` that other threads may be changing. Names every field of revm
/// 43's `AccountInfo`, so a field added by a revm upgrade (or its optional `account-ext`
/// feature, off in this workspace) fails to compile here rather than go missing.
pub(super) fn with_code(info: &AccountInfo, code: Option<Bytecode>) -> AccountInfo {
    AccountInfo {
        balance: info.balance,
        nonce: info.nonce,
        code_hash: info.code_hash,
        account_id: info.account_id,
        code,
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

#[cfg(test)]
mod tests {
    use super::*;
    use revm::state::{EvmStorageSlot, TransactionId};

    fn address(n: u8) -> Address {
        Address::with_last_byte(n)
    }

    /// One transaction's state: `address` touched with `balance`, these slots changed, and
    /// perhaps created or self-destructed.
    fn write(address: Address, balance: u64, slots: &[(u64, u64)], mark: Option<&str>) -> EvmState {
        let info = AccountInfo::default().with_balance(U256::from(balance)).with_nonce(1);
        let storage = slots.iter().map(|&(slot, value)| {
            (U256::from(slot), EvmStorageSlot::new_changed(U256::from(99), U256::from(value), TransactionId::ZERO))
        });
        let mut account = Account::from(info).with_storage(storage).with_touched_mark();
        match mark {
            Some("created") => account = account.with_created_mark(),
            Some("destroyed") => account = account.with_selfdestruct_mark(),
            _ => {}
        }
        EvmState::from_iter([(address, account)])
    }

    /// Writes, creations and self-destructs of three accounts, one of which has pre-state storage.
    fn block() -> (PreState, Vec<EvmState>) {
        let (a, b, c) = (address(1), address(2), address(3));
        let pre_storage = BTreeMap::from([(U256::from(1), U256::from(5)), (U256::from(2), U256::from(6))]);
        let pre = PreState::from_parts(
            [
                (a, AccountInfo::default().with_balance(U256::from(10)), pre_storage),
                (b, AccountInfo::default(), BTreeMap::new()),
            ],
            BTreeMap::new(),
        );
        let txs = vec![
            write(a, 11, &[(1, 7)], None),
            write(b, 1, &[(3, 8)], Some("created")),
            write(a, 12, &[(2, 0), (4, 9)], None),
            write(c, 3, &[], None),
            write(a, 0, &[], Some("destroyed")),
            write(b, 2, &[(5, 1)], None),
            write(a, 4, &[(6, 2)], None),
            write(c, 5, &[(1, 1)], Some("created")),
            write(b, 6, &[(3, 0)], None),
        ];
        (pre, txs)
    }

    #[test]
    fn an_overlay_laid_above_another_equals_committing_both_in_order() {
        let (pre, txs) = block();
        let mut whole = Overlay::default();
        txs.iter().for_each(|state| whole.commit_ref(state));
        let keys: Vec<(Address, U256)> =
            (1..=3).flat_map(|a| (0..8).map(move |s| (address(a), U256::from(s)))).collect();
        for cut in 0..=txs.len() {
            for second_cut in cut..=txs.len() {
                let mut below = Overlay::default();
                let (mut middle, mut top) = (Overlay::default(), Overlay::default());
                txs[..cut].iter().for_each(|state| below.commit_ref(state));
                txs[cut..second_cut].iter().for_each(|state| middle.commit_ref(state));
                txs[second_cut..].iter().for_each(|state| top.commit_ref(state));
                let layers = [middle, top];
                // Read through, without merging, as the committer validates against it.
                let stack = Stack { below: &below, above: &layers };
                for &(account, slot) in &keys {
                    assert_eq!(stack.summary(&pre, account), whole.summary(&pre, account), "cut {cut}/{second_cut}");
                    assert_eq!(stack.storage(&pre, account, slot), whole.storage(&pre, account, slot));
                }
                // Merged, as the block's final state is.
                let mut merged = below.clone();
                layers.iter().for_each(|layer| merged.lay(layer));
                assert_eq!(merged.changes(&pre).first_difference(&whole.changes(&pre)), None, "cut {cut}/{second_cut}");
            }
        }
    }

    /// A contract touched again keeps the code the overlay holds for it (the same `Arc`, its
    /// count untouched) and takes everything else from the new state; new code replaces it.
    #[test]
    fn a_contract_committed_again_keeps_its_held_code_and_takes_the_rest() {
        let contract = address(7);
        // (Each in its own allocation, as another thread's copy would be.)
        let code = |bytes: &[u8]| Bytecode::new_raw(revm::primitives::Bytes::from(bytes.to_vec()));
        let state = |balance: u64, nonce: u64, code: &Bytecode| {
            let info =
                AccountInfo::default().with_balance(U256::from(balance)).with_nonce(nonce).with_code(code.clone());
            EvmState::from_iter([(contract, Account::from(info).with_touched_mark())])
        };
        let (first, same) = (code(&[0x60, 0x01, 0x00]), code(&[0x60, 0x01, 0x00]));
        let mut overlay = Overlay::default();
        overlay.commit_ref(&state(5, 1, &first));
        let held = |overlay: &Overlay| overlay.accounts[&contract].info.clone().expect("exists");
        // Equal code in another allocation.
        overlay.commit_lean(&state(6, 2, &same));
        let info = held(&overlay);
        assert_eq!((info.balance, info.nonce), (U256::from(6), 2));
        assert!(std::ptr::eq(info.code.as_ref().unwrap().original_byte_slice(), first.original_byte_slice()));
        let other = code(&[0x60, 0x02, 0x00]);
        overlay.commit_ref(&state(7, 3, &other));
        let info = held(&overlay);
        assert_eq!((info.balance, info.code_hash), (U256::from(7), other.hash_slow()));
        assert_eq!(info.code.unwrap().original_byte_slice(), other.original_byte_slice());
    }
}
