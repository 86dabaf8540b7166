//! Block executors: the sequential oracle and the parallel executor. Both produce a
//! [`BlockOutcome`]; for any block and any thread count they must be equal.

mod balance_uses;
mod cpu_clock;
mod helper_pool;
mod keccak_memo;
pub mod overlay;
pub mod parallel;
pub mod sequential;
mod slot_uses;
pub mod timeline;
mod transfer;

use std::collections::BTreeMap;

use revm::context::result::{ExecutionResult, HaltReason};
use revm::primitives::{Address, B256, Bytes, Log, U256};

use crate::state::PreState;

pub use overlay::{AccountState, CommittedState, Overlay, OverlayAccount, Stack, StateChanges};
pub use parallel::{ParallelConfig, ParallelExecutor};
pub use sequential::execute_sequential;
pub use timeline::Timeline;

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum TxStatus {
    Success,
    Revert,
    Halt(String),
}

/// What one transaction did, as its receipt and caller see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    pub status: TxStatus,
    pub gas_used: u64,
    pub logs: Vec<Log>,
    pub output: Bytes,
    pub created: Option<Address>,
}

impl TxOutcome {
    /// Takes the result apart: its logs and output move into the outcome, not copied (the
    /// committer does this for every transaction of a block).
    pub fn from_result(result: ExecutionResult<HaltReason>) -> Self {
        let gas_used = result.tx_gas_used();
        let created = result.created_address();
        match result {
            ExecutionResult::Success { logs, output, .. } => {
                TxOutcome { status: TxStatus::Success, gas_used, logs, output: output.into_data(), created }
            }
            ExecutionResult::Revert { logs, output, .. } => {
                TxOutcome { status: TxStatus::Revert, gas_used, logs, output, created }
            }
            ExecutionResult::Halt { reason, logs, .. } => TxOutcome {
                status: TxStatus::Halt(format!("{reason:?}")),
                gas_used,
                logs,
                output: Default::default(),
                created,
            },
        }
    }

    pub fn success(&self) -> bool {
        self.status == TxStatus::Success
    }
}

/// Counters that explain how a block was executed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecStats {
    /// Threads that took part (1 = sequential).
    pub threads: usize,
    /// True when the block ran on one thread by choice (too small, or predicted to conflict):
    /// on the committer alone, without helpers (an empty block: plain revm).
    pub ran_sequentially: bool,
    /// Speculative executions whose reads were stale at commit, redone on the committed state.
    pub reexecutions: usize,
    /// Plain transfers committed with their recipient's balance brought up to date, instead of
    /// being re-executed (see `Salvaged` in exec/parallel.rs).
    pub lazy_credits: usize,
    /// Re-executions passed a third of the block, or helpers' stretches kept going stale: the
    /// rest ran on the committer alone.
    pub gave_up_speculation: bool,
    /// Helper results left in their stretch's overlay, laid above the committed state, instead
    /// of being committed into it a second time (see `Tail` in exec/parallel.rs).
    pub layered: usize,
    /// Helpers' results not looked at, once speculation was given up: the committer executed
    /// those transactions itself (counted in `direct`).
    pub discarded: usize,
    /// Helper stretches abandoned because their first results already conflicted.
    pub abandoned_stretches: usize,
    /// Transactions the committer executed itself because the helper running them had lost
    /// its core (under other load); that helper abandoned the rest of its stretch.
    pub stalled_helpers: usize,
    /// Transactions the committer executed itself on the committed state (no helper had
    /// started them); the others were executed by helpers and validated.
    pub direct: usize,
    /// Times the deferred beneficiary fees were settled because a transaction read the beneficiary.
    pub fee_settlements: usize,
    /// Speculative results whose only stale reads were balances the run did not depend on
    /// (e.g. WETH's, or a deposit contract's), committed with those balances shifted instead
    /// of being re-executed (see exec/balance_uses.rs).
    pub balance_repairs: usize,
    /// Speculative results with stale storage reads whose values the run only shifted (added
    /// to, subtracted from, stored back) and compared, every comparison coming out the same
    /// (an exchange's token balance), committed with those slots shifted
    /// (see exec/slot_uses.rs).
    pub slot_repairs: usize,
    /// Where the time went (parallel blocks, when `ParallelConfig::timeline` is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// The state a block leaves, as the executor holds it. Turning it into net [`StateChanges`]
/// is left to whoever needs them (comparisons, state roots), outside the timed execution.
#[derive(Clone, Debug)]
pub enum FinalState {
    /// The parallel executor's committed overlay.
    Overlay(Overlay),
    /// The committed overlay, and above it, in order, the overlays of helper stretches whose
    /// results were validated but not committed a second time (see `Tail` in
    /// exec/parallel.rs).
    Layered { below: Overlay, above: Vec<Overlay> },
    /// revm's `CacheDB` cache after sequential execution, with the accounts whose storage a
    /// self-destruct wiped (CacheDB forgets that once such an account is funded again).
    Cache { cache: revm::database::Cache, wiped: revm::primitives::HashSet<Address> },
}

impl FinalState {
    /// Net effect on the state: every account whose existence, info or storage changed.
    pub fn changes(&self, pre: &PreState) -> StateChanges {
        match self {
            FinalState::Overlay(overlay) => overlay.changes(pre),
            FinalState::Layered { below, above } => {
                let mut merged = below.clone();
                above.iter().for_each(|layer| merged.lay(layer));
                merged.changes(pre)
            }
            FinalState::Cache { cache, wiped } => {
                use revm::database::AccountState as DbState;
                let mut overlay = Overlay::default();
                for (address, account) in &cache.accounts {
                    if account.account_state == DbState::None {
                        continue; // loaded, never written
                    }
                    overlay.accounts.insert(
                        *address,
                        OverlayAccount {
                            info: account.info(),
                            storage_cleared: wiped.contains(address)
                                || matches!(account.account_state, DbState::StorageCleared | DbState::NotExisting),
                            storage: account.storage.iter().map(|(k, v)| (*k, *v)).collect(),
                        },
                    );
                }
                overlay.changes(pre)
            }
        }
    }
}

/// The result of executing a block.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    pub txs: Vec<TxOutcome>,
    pub state: FinalState,
    pub stats: ExecStats,
}

impl BlockOutcome {
    pub fn gas_used(&self) -> u64 {
        self.txs.iter().map(|t| t.gas_used).sum()
    }

    /// Net effect on the state (computed on demand).
    pub fn changes(&self, pre: &PreState) -> StateChanges {
        self.state.changes(pre)
    }

    /// Where two outcomes of the same block first differ — transactions, then state changes —
    /// or `None` if they are equal.
    pub fn first_difference(&self, other: &BlockOutcome, pre: &PreState) -> Option<String> {
        if self.txs.len() != other.txs.len() {
            return Some(format!("{} transactions vs {}", self.txs.len(), other.txs.len()));
        }
        for (i, (a, b)) in self.txs.iter().zip(&other.txs).enumerate() {
            if a != b {
                return Some(format!("transaction {i}: {a:?} vs {b:?}"));
            }
        }
        self.changes(pre).first_difference(&other.changes(pre))
    }
}

/// A transaction the EVM rejected (invalid nonce, insufficient funds, ...): the block is invalid.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("transaction {index}: {message}")]
pub struct ExecError {
    pub index: usize,
    pub message: String,
}

/// The subset of an account compared between executors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountSummary {
    pub balance: U256,
    pub nonce: u64,
    pub code_hash: B256,
}

/// Storage of one account after the block (for state roots).
pub type StorageMap = BTreeMap<U256, U256>;

#[cfg(test)]
mod tests {
    use super::*;
    use revm::state::AccountInfo;

    /// A block of two transactions that left one account (with two slots in the pre-state)
    /// with a new balance, nonce and one slot changed.
    fn outcome() -> (BlockOutcome, PreState) {
        let holder = Address::with_last_byte(7);
        let pre = PreState::from_parts(
            [(
                holder,
                AccountInfo::default().with_balance(U256::from(100)),
                BTreeMap::from([(U256::from(1), U256::from(5)), (U256::from(3), U256::from(4))]),
            )],
            BTreeMap::new(),
        );
        let log = Log::new_unchecked(holder, vec![B256::with_last_byte(1)], Bytes::from_static(b"data"));
        let tx = |gas_used| TxOutcome {
            status: TxStatus::Success,
            gas_used,
            logs: vec![log.clone()],
            output: Bytes::from_static(b"out"),
            created: None,
        };
        let mut overlay = Overlay::default();
        overlay.accounts.insert(
            holder,
            OverlayAccount {
                info: Some(AccountInfo::default().with_balance(U256::from(60)).with_nonce(2)),
                storage_cleared: false,
                storage: [(U256::from(1), U256::from(9))].into_iter().collect(),
            },
        );
        let outcome = BlockOutcome {
            txs: vec![tx(21_000), tx(30_000)],
            state: FinalState::Overlay(overlay),
            stats: ExecStats::default(),
        };
        (outcome, pre)
    }

    fn account(outcome: &mut BlockOutcome) -> &mut OverlayAccount {
        let FinalState::Overlay(overlay) = &mut outcome.state else { unreachable!("built as an overlay") };
        overlay.accounts.values_mut().next().expect("one account")
    }

    #[test]
    fn first_difference_finds_every_kind_of_difference() {
        let (base, pre) = outcome();
        assert_eq!(base.first_difference(&base.clone(), &pre), None);
        type Edit = Box<dyn Fn(&mut BlockOutcome)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("transactions", Box::new(|o| drop(o.txs.pop()))),
            ("transaction 1", Box::new(|o| o.txs[1].gas_used += 1)),
            ("transaction 0", Box::new(|o| o.txs[0].status = TxStatus::Revert)),
            ("transaction 1", Box::new(|o| o.txs[1].logs[0].data.data = Bytes::from_static(b"other"))),
            ("transaction 0", Box::new(|o| o.txs[0].logs.clear())),
            ("transaction 1", Box::new(|o| o.txs[1].output = Bytes::new())),
            ("transaction 0", Box::new(|o| o.txs[0].created = Some(Address::ZERO))),
            ("account", Box::new(|o| account(o).info.as_mut().unwrap().balance += U256::from(1))),
            ("account", Box::new(|o| account(o).info.as_mut().unwrap().nonce += 1)),
            ("account", Box::new(|o| _ = account(o).storage.insert(U256::from(1), U256::from(8)))),
            ("account", Box::new(|o| _ = account(o).storage.insert(U256::from(2), U256::from(1)))),
            ("account", Box::new(|o| account(o).info = None)),
            ("account", Box::new(|o| account(o).storage_cleared = true)),
        ];
        for (i, (names, edit)) in edits.iter().enumerate() {
            let mut changed = base.clone();
            edit(&mut changed);
            let found = changed.first_difference(&base, &pre);
            assert!(found.as_deref().is_some_and(|d| d.contains(names)), "edit {i}: {found:?}");
            // Either way round.
            assert!(base.first_difference(&changed, &pre).is_some(), "edit {i}, reversed");
        }
    }
}
