//! The parallel executor: one committer walking the block in order, and helpers running
//! stretches of later transactions speculatively on private state.
//!
//! The calling thread is the **committer** (so a block starts without waiting for a pool
//! thread to wake). It owns the committed state and takes the transactions in block order. One
//! that nobody has started it executes itself, on the committed state, which is exact. One that
//! a helper has executed it validates — every value the helper's run read must still hold — and
//! then commits the helper's writes, or re-executes it if they do not. So the output is
//! sequential revm's, whatever the timing. (Where a helper's whole stretch validates as it ran,
//! its writes are not committed a second time: the stretch's own overlay is laid above the
//! committed state, see `Tail`.)
//!
//! The pool's threads are **helpers**. A helper starts on a part of the block that does not
//! depend on timing (the block cut into equal estimated cost, one part per thread, computed by
//! the first helper to wake while the committer starts on the first part at once), then takes
//! the back half of the longest stretch of transactions nobody has started (the committer does
//! the same rather than wait for a helper that is behind). It
//! executes each stretch in order on its own overlay over the pre-state, recording what each
//! transaction read and where from. Helpers share nothing mutable with the committer while they
//! run: no lock on the read path, only a claim flag and a result slot per transaction. On this
//! project's 2-core machines a shared, locked view of the committed state cost more than a
//! second core gains.
//!
//! Validation is cheap when a helper's stretch stayed consistent: a value the helper read from
//! its own stretch's earlier writes still holds as long as every one of those transactions was
//! committed exactly as the helper ran it, so only reads from the pre-state (and of the
//! beneficiary) are compared. Once one transaction of a stretch is re-executed or corrected,
//! every later read of that stretch is compared.
//!
//! Every 32 transactions it executes itself, the committer also probes the first results of
//! each helper's stretch against its partly committed state: a stretch whose sample already
//! conflicts is abandoned (the helper takes another), and two abandoned stretches, or
//! re-executions passing a third of the block or three in four of the last 128 helper results,
//! end speculation for the block (helpers' results are then not even read).
//!
//! Some stale results are corrected rather than re-executed: one whose only stale reads are
//! balances the run did not depend on (WETH's, a deposit contract's, a chained sender's, a busy
//! recipient's; see exec/balance_uses.rs), or storage values it only added to, compared and
//! stored back (an exchange's token balance; see exec/slot_uses.rs), commits with those values
//! shifted. A speculative run assumes its sender's nonce is the one its transaction carries, so
//! a sender's later transactions do not fail speculatively.
//!
//! The committer never waits for a helper that has lost its core (the OS gave it to another
//! process): waiting for a helper's transaction, it reads that helper's CPU time
//! (exec/cpu_clock.rs), and one that stands still is told to abandon its stretch while the
//! committer executes the transaction itself. The block's data is behind `Arc`s, so such a
//! helper finishes its transaction on its own time, after `execute` has returned.
//!
//! Beneficiary fees are deferred ([`crate::fees`]), so paying the block producer does not make
//! every transaction conflict. Blocks too small for parallelism to pay run on the committer
//! alone, without helpers. Plain value transfers run without revm's interpreter
//! (exec/transfer.rs).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use coevm_kernels::Backend;
use revm::context::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction};
use revm::context::{ContextSetters, TxEnv};
use revm::context_interface::Transaction;
use revm::handler::{FrameResult, Handler, MainnetContext, MainnetEvm};
use revm::primitives::{Address, B256, HashMap, KECCAK_EMPTY, U256};
use revm::state::{AccountInfo, EvmState};
use revm::{Context, Database, DatabaseRef, ExecuteEvm, MainBuilder, MainContext};

use super::balance_uses::{self, BalanceUse, RecordsBalanceUses};
use super::cpu_clock::{CpuClock, StallWatch};
use super::helper_pool::HelperPool;
use super::keccak_memo::{KeccakMemo, MemoizesKeccak};
use super::overlay::{CommittedState, Overlay, Stack, with_code};
use super::slot_uses::{self, Shadow, SlotUses, TracksSlotUses};
use super::timeline::{Clock, CommitterTimes, Handling, HelperTime};
use super::transfer;
use super::{AccountSummary, BlockOutcome, ExecError, ExecStats, FinalState, TxOutcome, execute_sequential};
use crate::env::BlockContext;
use crate::fees::FeeLedger;
use crate::state::PreState;

/// When to go parallel, and with how many threads.
#[derive(Clone, Debug)]
pub struct ParallelConfig {
    pub threads: usize,
    /// Blocks with fewer transactions run sequentially.
    pub min_txs: usize,
    /// Blocks before London whose gas (header gasUsed, or the sum of gas limits) is below this
    /// run sequentially: measured on the 45 mainnet blocks, those under ~4 Mgas (there 0.1–0.8
    /// ms) never gained.
    pub min_gas: u64,
    /// The same bar from London on, where a unit of gas buys far more work (this machine runs
    /// those blocks at 3–4 Mgas/ms, older ones at 10–25): London-era blocks of 1.6–3.4 Mgas
    /// (0.5–1.6 ms) gained 1.1–1.2× forced parallel.
    pub min_gas_since_london: u64,
    /// Blocks where more than this share of transactions are calls following an earlier one
    /// from the same sender run sequentially (those form chains only one thread can execute),
    /// unless a giant transaction can run beside the chain on a helper (see
    /// `out_of_order_giant`). Plain transfers do not count: a chain of them (a pool paying
    /// out) depends only on the sender's nonce and balance, which a speculative run assumes and
    /// the committer shifts (see exec/balance_uses.rs).
    pub max_chained_share: f64,
    /// Take the parallel path for every block, even at one thread (tests).
    pub force_parallel: bool,
    /// Record where the time goes ([`super::Timeline`], in [`ExecStats::timeline`]).
    pub timeline: bool,
    /// Execute plain value transfers without revm's interpreter, with revm's own checks, to
    /// the same result (exec/transfer.rs); off: every transaction runs through revm.
    pub native_transfers: bool,
    /// Fault injection (tests): a helper that executes the transaction at this index then
    /// sleeps for this long before publishing its result, as one the OS took off its core
    /// mid-transaction would. The committer must not wait for it.
    pub stall_helper_at: Option<(usize, std::time::Duration)>,
}

impl ParallelConfig {
    pub fn with_threads(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            min_txs: 8,
            min_gas: 4_000_000,
            min_gas_since_london: 1_500_000,
            max_chained_share: 0.6,
            force_parallel: false,
            timeline: false,
            native_transfers: true,
            stall_helper_at: None,
        }
    }

    /// Forces the parallel path for any block (tests).
    pub fn always_parallel(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            min_txs: 0,
            min_gas: 0,
            min_gas_since_london: 0,
            max_chained_share: 1.0,
            force_parallel: true,
            timeline: false,
            native_transfers: true,
            stall_helper_at: None,
        }
    }
}

/// Runs blocks on the calling thread (the committer) and helper threads that stay alive
/// across blocks (exec/helper_pool.rs). One block at a time has the helpers: a block executed
/// while another holds them runs on its committer alone, to the same result.
pub struct ParallelExecutor {
    config: ParallelConfig,
    helpers: HelperPool,
}

impl ParallelExecutor {
    pub fn new(mut config: ParallelConfig) -> Self {
        config.threads = config.threads.max(1);
        let helpers = HelperPool::new(config.threads - 1).expect("spawning executor threads");
        Self { config, helpers }
    }

    pub fn config(&self) -> &ParallelConfig {
        &self.config
    }

    /// Would this block run in parallel? `gas_hint` is the header's gasUsed when known.
    pub fn goes_parallel(&self, ctx: &BlockContext, txs: &[TxEnv], pre: &PreState, gas_hint: Option<u64>) -> bool {
        self.may_go_parallel(ctx, txs, gas_hint) && self.pays_to_go_parallel(ctx, txs, pre, gas_hint)
    }

    /// The rest of [`Self::goes_parallel`], for a block past [`Self::may_go_parallel`]: the
    /// gas bar with plain transfers at their cost, and chains of one sender.
    fn pays_to_go_parallel(&self, ctx: &BlockContext, txs: &[TxEnv], pre: &PreState, gas_hint: Option<u64>) -> bool {
        if self.config.force_parallel {
            return true;
        }
        let mut gas = self.block_gas(txs, gas_hint);
        let min_gas = self.min_gas(ctx);
        // A plain transfer's 21,000 gas buys far less work than contract code's (see
        // [`PLAIN_TRANSFER_COST`]): the bar counts it at that cost. (Only looked up where it can
        // matter: a pre-state lookup per transaction.)
        if gas >= min_gas && gas < min_gas.saturating_mul(4) {
            let transfers = txs.iter().filter(|tx| is_plain_transfer(tx, pre)).count() as u64;
            gas = gas.saturating_sub(transfers * (21_000 - PLAIN_TRANSFER_COST as u64));
        }
        if gas < min_gas {
            return false;
        }
        // Mostly transactions that touch the beneficiary (a block producer paying out of its
        // own account: 12,300,570, 12,520,364): a helper's result that reads the beneficiary
        // costs the committer a fee settlement and a balance repair (~1.9 µs), more than such
        // a payout costs it to execute natively (~1 µs). Run in parallel those blocks read the
        // same as on the committer alone at best (medians of 6 alternating rounds: 1.12× and
        // 1.33× against 1.10× and 1.31×), and down to 0.89× at worst.
        if txs.iter().filter(|tx| touches(tx, ctx.block.beneficiary)).count() * 2 > txs.len() {
            return false;
        }
        // Mostly one sender's chain: only one thread can usefully run it, unless a giant
        // transaction can run beside it on a helper (see [`out_of_order_giant`]).
        let limit = (self.config.max_chained_share * txs.len() as f64) as usize;
        !more_chained_than(txs, pre, limit) || Plan::new(txs, pre, self.config.threads - 1).giant.is_some()
    }

    /// The cheap part of [`Self::goes_parallel`], without looking at the pre-state: false
    /// means the block surely runs on the committer alone.
    fn may_go_parallel(&self, ctx: &BlockContext, txs: &[TxEnv], gas_hint: Option<u64>) -> bool {
        self.config.force_parallel
            || (self.config.threads >= 2
                && txs.len() >= self.config.min_txs.max(2)
                && self.block_gas(txs, gas_hint) >= self.min_gas(ctx))
    }

    /// The header's gasUsed where known, else the sum of the transactions' gas limits.
    fn block_gas(&self, txs: &[TxEnv], gas_hint: Option<u64>) -> u64 {
        gas_hint.unwrap_or_else(|| txs.iter().map(|t| t.gas_limit).sum())
    }

    /// The gas bar for the block's fork (see [`ParallelConfig::min_gas_since_london`]).
    fn min_gas(&self, ctx: &BlockContext) -> u64 {
        match ctx.spec.is_enabled_in(revm::primitives::hardfork::SpecId::LONDON) {
            true => self.config.min_gas_since_london,
            false => self.config.min_gas,
        }
    }

    /// Executes a block; the result equals [`execute_sequential`]'s.
    ///
    /// The transactions and pre-state come behind `Arc`s: a helper that lost its core while
    /// the committer finished the block holds them until it is done, and `execute` returns
    /// without waiting for it.
    pub fn execute(
        &self,
        ctx: &BlockContext,
        txs: &Arc<[TxEnv]>,
        pre: &Arc<PreState>,
        backend: &dyn Backend,
        gas_hint: Option<u64>,
    ) -> Result<BlockOutcome, ExecError> {
        let clock = Clock::new(self.config.timeline);
        if txs.is_empty() {
            return execute_sequential(ctx, txs, pre);
        }
        // Helpers take 50–140 µs to wake on this VM: wake them before deciding and setting up.
        let may = self.may_go_parallel(ctx, txs, gas_hint);
        if may {
            self.helpers.wake();
        }
        let parallel = may && self.pays_to_go_parallel(ctx, txs, pre, gas_hint);
        // A block not worth a helper runs on the committer alone: the same exact path without
        // helpers, which beats plain revm on its own (fees settled once per block rather than
        // credited per transaction, pre-state reads not copied into a cache, plain transfers
        // without the interpreter).
        let lease = self.helpers.lease(if parallel { self.config.threads - 1 } else { 0 });
        let helpers = lease.helpers();
        let shared = Shared::new(ctx.clone(), txs.clone(), pre.clone(), lease.cpu_clocks(), &self.config, clock);
        let shared = Arc::new(shared);
        let job = {
            let shared = shared.clone();
            Arc::new(move |helper| shared.help(helper))
        };
        // The committer runs on the calling thread, so it starts at once; helpers join as they
        // wake up. A helper that has not started when the committer is done never does.
        let committed = lease.run(job, || shared.commit_block());
        let Committed { outcomes, mut overlay, fees: mut ledger, mut stats, error, times, tail } = committed;
        if let Some(error) = error {
            return Err(error);
        }
        stats.layered = tail.layered;
        // (What is left, allocated by helpers, is freed with `shared` at the end, inside the
        // block's time: overlays of stretches that ended after the committer closed its run,
        // results nobody took; what the committer gave back the helpers freed before leaving.
        // A helper still finishing a transaction holds `shared` and frees it itself.)
        stats.threads = helpers + 1;
        stats.ran_sequentially = !parallel;
        if clock.is_on() {
            // (A helper still on its last transaction has not recorded its time yet: zeros.)
            let mut timeline = times.timeline;
            timeline.helpers =
                shared.helper_times.iter().map(|t| *t.lock().unwrap_or_else(|p| p.into_inner())).collect();
            stats.timeline = Some(timeline);
        }
        // Nothing owed to a beneficiary that self-destructed (its last fee burned with it): it
        // stays destroyed, as in sequential revm, rather than coming back empty.
        let destroyed = overlay.accounts.get(&ctx.block.beneficiary).is_some_and(|a| a.info.is_none());
        let nothing_owed = txs.is_empty() || (destroyed && ledger.is_empty());
        if !nothing_owed {
            // Settle what is still owed to the beneficiary on the backend; a failed device
            // means the CPU does it (the ledger is only cleared on success; the sum is the same).
            // A block too small for a helper is too small for a device round trip as well
            // (~250 µs on lavapipe, against 3–120 µs for such a block): the CPU settles it.
            let total = match parallel {
                false => ledger.settle_cpu(),
                true => match ledger.settle_on(backend) {
                    Ok((total, _)) => total,
                    Err(e) => {
                        tracing::warn!("fee settlement on {} failed ({e}); settling on CPU", backend.kind());
                        ledger.settle_cpu()
                    }
                },
            };
            overlay.credit(pre, ctx.block.beneficiary, total);
        }
        let state = match tail.layers.is_empty() {
            true => FinalState::Overlay(overlay),
            false => FinalState::Layered { below: overlay, above: tail.layers },
        };
        Ok(BlockOutcome { txs: outcomes, state, stats })
    }
}

/// Is `account` the transaction's sender or recipient?
fn touches(tx: &TxEnv, account: Address) -> bool {
    tx.caller == account || tx.kind.to() == Some(&account)
}

/// Do more than `limit` calls follow an earlier transaction from the same sender? Such a call
/// may depend on what that one did, so only one thread can usefully run such a chain; plain
/// transfers are not counted (see [`ParallelConfig::max_chained_share`]). Stops counting at
/// the limit (a block of one sender's chain of calls answers early).
///
/// Senders are keyed by their first 8 bytes (an address is a hash: as good as random), which
/// hash far faster than 20 (this runs before every block; ~50 µs on 1,226 transactions keyed by
/// the whole address); a collision would only count one more transaction as chained.
fn more_chained_than(txs: &[TxEnv], pre: &PreState, limit: usize) -> bool {
    let mut senders = revm::primitives::HashSet::<u64>::with_capacity_and_hasher(txs.len(), Default::default());
    let mut chained = 0;
    txs.iter().any(|tx| {
        let key = u64::from_le_bytes(tx.caller.0[..8].try_into().expect("8 of 20 bytes"));
        chained += usize::from(!senders.insert(key) && !is_plain_transfer(tx, pre));
        chained > limit
    })
}

/// How a stale result was corrected instead of re-executed.
enum Salvaged {
    /// A plain transfer whose only stale read was its recipient's balance (deposits to one
    /// busy address, such as an exchange's hot wallet): the recipient is credited lazily.
    LazyCredit,
    /// Any other result whose stale reads were only balances it did not depend on.
    Balances,
    /// A result with stale storage reads (and perhaps balances) that it only shifted and
    /// compared, every comparison coming out the same.
    Slots,
}

/// Corrects a stale result so that it can still be committed ([`repair`]), and says
/// how; `None`: it is handed back as it was, to be re-executed.
fn salvage(
    mut result: TxResult,
    reads: &ReadSet,
    tx: &TxEnv,
    committed: &Overlay,
    pre: &PreState,
) -> (TxResult, Option<Salvaged>) {
    let Some(Repair { balances, slots }) = repair(&result, reads, tx, committed, pre) else {
        return (result, None);
    };
    let how = if !slots.is_empty() {
        Salvaged::Slots
    } else if matches!(balances.as_slice(), [(to, _)] if tx.kind.to() == Some(to)) && is_plain_transfer(tx, pre) {
        Salvaged::LazyCredit
    } else {
        Salvaged::Balances
    };
    if let Ok((_, state)) = &mut result {
        for (address, balance) in balances {
            if let Some(account) = state.get_mut(&address) {
                account.info.balance = balance;
            }
        }
        for (address, slot, now, shift) in slots {
            if let Some(slot) = state.get_mut(&address).and_then(|a| a.storage.get_mut(&slot)) {
                slot.original_value = now;
                slot.present_value = slot.present_value.wrapping_add(shift);
            }
        }
    }
    (result, Some(how))
}

/// How to correct a stale result: each shifted account's new balance, and each shifted slot's
/// (account, slot, committed value, shift).
struct Repair {
    balances: Vec<(Address, U256)>,
    slots: Vec<(Address, U256, U256, U256)>,
}

/// A result whose only stale reads are balances that the run did not depend on (see
/// exec/balance_uses.rs), and storage values that it only shifted and compared (see
/// exec/slot_uses.rs), commits with each such balance and slot shifted by how much the
/// committed value differs from what the run saw, instead of being re-executed.
///
/// Slots: every comparison the run made must come out the same with the shifted values, and
/// the account must be neither created nor self-destructed by the run. Balances, per account:
/// same nonce and code, existing and non-empty before and after (emptiness decides gas,
/// EXTCODEHASH and end-of-transaction clearing); its balance not read, moved whole or short of
/// a payment in the run, and every payment out of it still covered after the shift; for the
/// sender, the shifted balance still covers the most the transaction can cost (checked up
/// front). The beneficiary's committed balance is exact here: owed fees are settled before a
/// result that read it is validated. No EIP-7702 authorisation may be involved.
fn repair(result: &TxResult, reads: &ReadSet, tx: &TxEnv, committed: &Overlay, pre: &PreState) -> Option<Repair> {
    let Ok((_, state)) = result else { return None };
    if !tx.authorization_list.is_empty() {
        return None;
    }
    // (read index, account, slot, committed value, shift)
    let mut slot_shifts: Vec<(usize, Address, U256, U256, U256)> = Vec::new();
    for (read, (address, slot, seen, _)) in reads.storage.iter().enumerate() {
        let now = committed.storage(pre, *address, *slot);
        if now != *seen {
            // (revm 43 reads a slot once per transaction; a slot read twice is not shifted twice.)
            if !reads.slots.shiftable(read) || slot_shifts.iter().any(|s| (s.1, s.2) == (*address, *slot)) {
                return None;
            }
            slot_shifts.push((read, *address, *slot, now, now.wrapping_sub(*seen)));
        }
    }
    let shift_of = |read: usize| slot_shifts.iter().find(|s| s.0 == read).map_or(U256::ZERO, |s| s.4);
    if !slot_shifts.is_empty() && !reads.slots.hold(shift_of) {
        return None;
    }
    if slot_shifts
        .iter()
        .any(|(_, address, ..)| state.get(address).is_some_and(|a| a.is_created() || a.is_selfdestructed()))
    {
        return None;
    }
    let slots: Vec<_> =
        slot_shifts.into_iter().map(|(_, address, slot, now, shift)| (address, slot, now, shift)).collect();
    // As revm's `is_empty`: a zero code hash is empty code too.
    let has_code = |a: &AccountSummary| a.code_hash != KECCAK_EMPTY && !a.code_hash.is_zero();
    let non_empty = |a: &AccountSummary| !a.balance.is_zero() || a.nonce != 0 || has_code(a);
    // (account, balance seen, balance now), each account once.
    let mut shifts: Vec<(Address, U256, U256)> = Vec::new();
    for (address, seen, _) in &reads.accounts {
        let now = committed.summary(pre, *address);
        if now == *seen || shifts.iter().any(|(a, ..)| a == address) {
            continue;
        }
        let (Some(seen), Some(now)) = (seen, now) else { return None };
        // The sender's balance is checked up front against the most the transaction can cost.
        let short = *address == tx.caller && tx.max_balance_spending().is_ok_and(|most| now.balance < most);
        if short || seen.nonce != now.nonce || seen.code_hash != now.code_hash || !non_empty(seen) || !non_empty(&now) {
            return None;
        }
        for (used, usage) in &reads.balances {
            match usage {
                _ if used != address => {}
                BalanceUse::Observed => return None,
                // A payment out of it must still go through with the committed balance.
                BalanceUse::Spent { slack } if now.balance < seen.balance && seen.balance - now.balance > *slack => {
                    return None;
                }
                BalanceUse::Spent { .. } => {}
            }
        }
        shifts.push((*address, seen.balance, now.balance));
    }
    if shifts.is_empty() && slots.is_empty() {
        return None;
    }
    let mut balances = Vec::with_capacity(shifts.len());
    for (address, seen, now) in shifts {
        let Some(account) = state.get(&address) else { continue };
        if account.is_selfdestructed() {
            return None;
        }
        let shifted = account.info.balance.checked_add(now)?.checked_sub(seen)?;
        // Empty after the run on one side only: revm would clear it on one side only.
        if shifted.is_zero() != account.info.balance.is_zero() {
            return None;
        }
        balances.push((address, shifted));
    }
    Some(Repair { balances, slots })
}

/// Where a read was served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The view's own overlay: the committed state, or a helper's own earlier writes.
    Local,
    /// The block's pre-state.
    Pre,
    /// Neither: a value the run assumed (its sender's nonce, see [`View::basic`]); always
    /// compared with the committed state.
    Assumed,
}

/// Accounts and slots a transaction read, with the values it saw and where they came from.
#[derive(Clone, Debug, Default)]
struct ReadSet {
    accounts: Vec<(Address, Option<AccountSummary>, Source)>,
    storage: Vec<(Address, U256, U256, Source)>,
    /// How the run used balances beyond adding to them (see exec/balance_uses.rs).
    balances: Vec<(Address, BalanceUse)>,
    /// How the run used the values it read from storage (see exec/slot_uses.rs).
    slots: SlotUses,
}

impl ReadSet {
    fn clear(&mut self) {
        self.accounts.clear();
        self.storage.clear();
        self.balances.clear();
    }

    /// Did the run assume a value (its sender's nonce) rather than read it?
    fn assumes(&self) -> bool {
        self.accounts.iter().any(|(_, _, source)| *source == Source::Assumed)
    }

    fn reads_account(&self, address: Address) -> bool {
        self.accounts.iter().any(|(a, _, _)| *a == address)
    }

    /// Does any read differ from the committed state? A read served by the pre-state is stale
    /// only if the committed state has since written that account or slot (one lookup, no
    /// pre-state access). With `trust_local`, reads served by the helper's own earlier writes
    /// are taken as current (see the module docs); the beneficiary, whose committed balance
    /// also moves when fees are settled, is always compared.
    fn stale(&self, committed: &impl CommittedState, pre: &PreState, trust_local: bool, beneficiary: Address) -> bool {
        let account_stale = |(address, seen, source): &(Address, Option<AccountSummary>, Source)| match source {
            Source::Pre => written_otherwise(committed, address, seen),
            Source::Local => (!trust_local || *address == beneficiary) && committed.summary(pre, *address) != *seen,
            Source::Assumed => committed.summary(pre, *address) != *seen,
        };
        let slot_stale = |(address, slot, seen, source): &(Address, U256, U256, Source)| match source {
            Source::Pre => committed.local_storage(*address, *slot).is_some_and(|v| v != *seen),
            Source::Local => !trust_local && committed.storage(pre, *address, *slot) != *seen,
            Source::Assumed => committed.storage(pre, *address, *slot) != *seen,
        };
        self.accounts.iter().any(account_stale) || self.storage.iter().any(slot_stale)
    }

    /// A guess, ahead of time, that a result will be stale when the committer gets to it: the
    /// partly committed state has written something it read, with a different value. (A value
    /// from the helper's own earlier write that the committed state also wrote means those
    /// earlier transactions conflicted too.) A plain transfer's recipient does not count: the
    /// committer credits it lazily; nor does a moved balance the run did not depend on, or a
    /// moved storage value it only shifted and compared: the committer may shift them
    /// ([`repair`]).
    fn conflicts_with(&self, committed: &Overlay, tx: &TxEnv) -> bool {
        let lazy = tx.data.is_empty().then(|| tx.kind.to()).flatten();
        let balance_only = |address: &Address, seen: &Option<AccountSummary>| {
            let now = committed.accounts.get(address).and_then(|a| a.info.as_ref()).map(summary);
            // (The sender's nonce catches up with the one its run assumed as the committer goes.)
            let nonce_ok = |s: &AccountSummary, n: &AccountSummary| {
                s.nonce == n.nonce || (*address == tx.caller && n.nonce < s.nonce)
            };
            matches!((seen, now), (Some(s), Some(n)) if nonce_ok(s, &n) && s.code_hash == n.code_hash)
                && !self.balances.iter().any(|(a, u)| a == address && *u == BalanceUse::Observed)
        };
        self.accounts.iter().any(|(address, seen, _)| {
            Some(address) != lazy && written_otherwise(committed, address, seen) && !balance_only(address, seen)
        }) || self.storage.iter().enumerate().any(|(read, (a, s, seen, _))| {
            committed.local_storage(*a, *s).is_some_and(|v| v != *seen) && !self.slots.shiftable(read)
        })
    }
}

/// Has the committed state written `address` with something other than `seen`?
fn written_otherwise(committed: &impl CommittedState, address: &Address, seen: &Option<AccountSummary>) -> bool {
    committed.account(address).is_some_and(|a| a.info.as_ref().map(summary) != *seen)
}

fn summary(info: &AccountInfo) -> AccountSummary {
    AccountSummary { balance: info.balance, nonce: info.nonce, code_hash: info.code_hash }
}

/// A thread's view of the state: its overlay (the committed state for the committer, private
/// writes for a helper) over the pre-state. A helper's view records every read (for
/// validation); the committer's exact executions need only know whether the beneficiary was read.
struct View<'a> {
    pre: &'a PreState,
    overlay: Overlay,
    /// Record every read in `reads` (speculative runs).
    record: bool,
    reads: ReadSet,
    beneficiary: Address,
    read_beneficiary: bool,
    /// A speculative run's sender and its transaction's nonce: the sender is served with that
    /// nonce (see [`View::basic`]).
    sender_nonce: Option<(Address, u64)>,
    /// Speculative runs: the stack items holding values read from storage, and which storage
    /// read served each slot (an index into `reads.storage`).
    shadow: Shadow,
    slot_reads: HashMap<(Address, U256), u32>,
    /// Is the EVM's instruction table the tracing one (see [`transact`])?
    tracing_table: bool,
    /// This thread's empty code (see [`EmptyCode`]).
    empty_code: EmptyCode,
    /// Execute plain transfers without revm's interpreter (see exec/transfer.rs).
    native_transfers: bool,
    keccak_memo: KeccakMemo,
}

/// One thread's own empty bytecode, served for every account without code.
///
/// revm 43's `Bytecode` is an `Arc`, and every account without code shares one: revm's global
/// empty bytecode, which revm clones and drops several times per transaction (into the
/// journal, into the account's original info, into the state it returns). Two threads doing
/// so bounce its reference count's cache line between their cores: run at the same time on
/// two cores, two plain sequential runs of 12,300,570 (687 plain transfers) took 12–33 % longer
/// each than one alone, and 3–5 % with an empty code of their own
/// (`host/examples/pair_probe.rs`). Contract code stays shared: copying it per thread and
/// block cost more than it saved (measured).
struct EmptyCode {
    code: revm::bytecode::Bytecode,
}

impl EmptyCode {
    fn new() -> Self {
        let global = revm::bytecode::Bytecode::default();
        let jumps = global.legacy_jump_table().cloned().unwrap_or_default();
        // SAFETY: the padded bytes, length and jump table of revm's own empty bytecode,
        // unchanged, so `new_analyzed`'s invariants hold as they do for it.
        let code = unsafe { revm::bytecode::Bytecode::new_analyzed(global.bytecode().clone(), global.len(), jumps) };
        Self { code }
    }

    /// The account as stored, with this thread's empty code if it has none. (Not a clone of
    /// the stored account when it has no code: that would touch the shared count.)
    fn serve(&self, info: &AccountInfo) -> AccountInfo {
        if info.code.as_ref().is_some_and(|code| !code.is_empty()) {
            return info.clone();
        }
        // (Code not loaded yet, with a hash that says there is some: revm asks `code_by_hash`.)
        let no_code = info.code.is_some() || info.code_hash == KECCAK_EMPTY || info.code_hash.is_zero();
        with_code(info, no_code.then(|| self.code.clone()))
    }
}

impl TracksSlotUses for View<'_> {
    fn shadow(&self) -> &Shadow {
        &self.shadow
    }

    fn shadow_and_uses(&mut self) -> (&mut Shadow, &mut SlotUses) {
        (&mut self.shadow, &mut self.reads.slots)
    }

    fn read_of(&self, address: Address, slot: U256) -> Option<u32> {
        self.slot_reads.get(&(address, slot)).copied()
    }
}

impl MemoizesKeccak for View<'_> {
    fn keccak_memo(&mut self) -> &mut KeccakMemo {
        &mut self.keccak_memo
    }
}

impl RecordsBalanceUses for View<'_> {
    fn watching(&self) -> bool {
        self.record
    }

    fn record_balance_use(&mut self, address: Address, usage: BalanceUse) {
        self.reads.balances.push((address, usage));
    }
}

impl Database for View<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        let (stored, mut source) = match self.overlay.accounts.get(&address) {
            Some(account) => (account.info.as_ref(), Source::Local),
            None => (self.pre.account(&address), Source::Pre),
        };
        let mut info = stored.map(|info| self.empty_code.serve(info));
        // A speculative run assumes its sender's nonce is its transaction's, as it will be once
        // the sender's earlier transactions are committed (a valid block's are in order), rather
        // than failing on a nonce that earlier transactions run elsewhere have not yet raised.
        // The assumption is a read like any other: validated against the committed state.
        if let (Some((sender, nonce)), Some(info)) = (self.sender_nonce, info.as_mut())
            && sender == address
            && info.nonce != nonce
        {
            info.nonce = nonce;
            source = Source::Assumed;
        }
        if self.record {
            self.reads.accounts.push((address, info.as_ref().map(summary), source));
        }
        self.read_beneficiary |= address == self.beneficiary;
        Ok(info)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<revm::bytecode::Bytecode, Infallible> {
        if code_hash == KECCAK_EMPTY || code_hash.is_zero() {
            return Ok(self.empty_code.code.clone());
        }
        let code = self.pre.code_by_hash_ref(code_hash)?;
        if !code.is_empty() {
            return Ok(code);
        }
        // Code deployed earlier in this block (accounts normally carry it; this is the rare path).
        Ok(self
            .overlay
            .accounts
            .values()
            .filter_map(|a| a.info.as_ref())
            .find(|i| i.code_hash == code_hash)
            .and_then(|i| i.code.clone())
            .unwrap_or(code))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Infallible> {
        let (value, source) = match self.overlay.local_storage(address, index) {
            Some(value) => (value, Source::Local),
            None => (self.pre.storage_ref(address, index)?, Source::Pre),
        };
        if self.record {
            if self.shadow.traced() {
                let read = self.reads.storage.len() as u32;
                self.slot_reads.entry((address, index)).or_insert(read);
            }
            self.reads.storage.push((address, index, value, source));
        }
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Infallible> {
        self.pre.block_hash_ref(number)
    }
}

type ViewEvm<'a> = MainnetEvm<MainnetContext<View<'a>>>;
type TxResult = Result<(ExecutionResult<HaltReason>, EvmState), EVMError<Infallible, InvalidTransaction>>;

/// revm's mainnet handler, minus the beneficiary reward (settled separately, see crate::fees).
struct DeferredFeeHandler<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> Handler for DeferredFeeHandler<'a> {
    type Evm = ViewEvm<'a>;
    type Error = EVMError<Infallible, InvalidTransaction>;
    type HaltReason = HaltReason;

    fn reward_beneficiary(&self, _evm: &mut Self::Evm, _result: &mut FrameResult) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Runs `tx` on the view, recording its reads afresh (speculative runs); `trace`: follow the
/// values it reads from storage (see exec/slot_uses.rs). Tracing costs every opcode a check, so
/// the instruction table is swapped for the tracing one only for a run that is traced.
fn transact(evm: &mut ViewEvm<'_>, tx: &TxEnv, trace: bool) -> TxResult {
    let view = &mut evm.ctx.journaled_state.database;
    let trace = trace && view.record;
    if trace != view.tracing_table {
        view.tracing_table = trace;
        let table = evm.instruction.instruction_table_mut();
        if trace { slot_uses::track(table) } else { balance_uses::watch(table) }
    }
    let view = &mut evm.ctx.journaled_state.database;
    view.reads.clear();
    view.reads.slots.start(trace);
    view.shadow.start(trace);
    view.slot_reads.clear();
    view.read_beneficiary = false;
    view.sender_nonce = view.record.then_some((tx.caller, tx.nonce));
    evm.ctx.set_tx(tx.clone());
    if evm.ctx.journaled_state.database.native_transfers {
        if let Some(done) = transfer::execute(&mut evm.ctx, tx) {
            return done.map_err(EVMError::Database);
        }
        // Not a plain transfer after all: forget what the attempt read.
        let view = &mut evm.ctx.journaled_state.database;
        view.reads.accounts.clear();
        view.read_beneficiary = false;
    }
    let result = DeferredFeeHandler(std::marker::PhantomData).run(evm);
    let state = evm.finalize();
    result.map(|r| (r, state))
}

/// What the committer gets for a transaction a helper claimed.
enum Waited {
    /// The helper's result.
    Result(Box<Speculative>),
    /// No result: the helper lost its core mid-transaction and abandons `stretch`; the
    /// committer executes the transaction itself.
    Stalled { stretch: usize },
}

/// A helper's execution of one transaction, waiting to be validated.
struct Speculative {
    result: TxResult,
    reads: ReadSet,
    /// Which stretch it belongs to (transactions of one stretch are consecutive).
    stretch: usize,
}

/// What the committer hands back.
struct Committed {
    outcomes: Vec<TxOutcome>,
    overlay: Overlay,
    tail: Tail,
    fees: FeeLedger,
    stats: ExecStats,
    error: Option<ExecError>,
    times: CommitterTimes,
}

/// Claim flags: who executes a transaction (helper `h` claims with `FIRST_HELPER + h`).
const FREE: u32 = 0;
const COMMITTER: u32 = 1;
const FIRST_HELPER: u32 = 2;

/// A helper only takes a stretch at least this long: a shorter one is reached by the committer
/// before the helper's result would be ready.
const MIN_STRETCH_FREE: usize = 4;

/// The committer gives back what it is done with in batches of this many results, states and
/// overlays (one lock per batch: giving back each result as a helper waited for it made
/// validating 12,300,570's payouts take twice as long).
const GIVE_BACK_BATCH: usize = 64;

/// The committer probes the helpers' stretches after every this many transactions it executes.
const PROBE_EVERY: usize = 32;
/// Results probed at the start of a stretch.
const PROBE_SAMPLE: usize = 4;
/// Abandoned stretches after which a block stops speculating.
const MAX_ABANDONED: usize = 2;

/// A stretch that ended: which, its first transaction and end (exclusive), and its overlay,
/// holding exactly the writes of those transactions as its taker ran them.
struct Finished {
    stretch: usize,
    start: usize,
    end: usize,
    overlay: Overlay,
}

/// Helper results the committer validated as they were but has not committed. A taker commits
/// every result into its own overlay as it runs its stretch, and the committer used to commit
/// each again into the committed state. Instead, while a stretch's results keep validating as
/// they are, the committer only collects them; when the stretch ends and they covered the rest
/// of it, that stretch's own overlay is laid above the committed state as it is (the block's
/// final state is then the committed overlay with these layers, in order). Anything else
/// first commits everything in order ([`Tail::flush`]), so the committed state is whole
/// before the committer executes, repairs or settles anything.
#[derive(Default)]
struct Tail {
    /// Overlays of finished stretches above the committed state, in block order.
    layers: Vec<Overlay>,
    /// The run being collected: its stretch, first transaction, and states (kept to commit
    /// them one by one if the run does not reach the end of its stretch).
    stretch: usize,
    first: usize,
    states: Vec<EvmState>,
    /// Results left in layers, for the counters.
    layered: usize,
    /// What is left of results and stretches once used, mostly allocated by helpers: given
    /// back for the helpers to free ([`Shared::give_back`]), not freed on the committer's path.
    garbage: Garbage,
}

/// See [`Tail::garbage`].
#[derive(Default)]
struct Garbage {
    /// Boxed as the helpers allocated them: unboxing would free each box here.
    #[allow(clippy::vec_box)]
    results: Vec<Box<Speculative>>,
    states: Vec<EvmState>,
    overlays: Vec<Overlay>,
}

impl Garbage {
    fn len(&self) -> usize {
        self.results.len() + self.states.len() + self.overlays.len()
    }
}

impl Tail {
    /// Takes a result that can wait, after ending the run of another stretch: its stretch
    /// consistent so far, valid as it is against the committed state and the layers, and not
    /// touching the beneficiary (whose fees settle on the committed state). Those lack only
    /// the writes of the run being collected, which this result can only have seen as the
    /// helper's own: a read from the pre-state is of something none of them wrote (or the
    /// helper would have read its own write), and its own reads are trusted in a consistent
    /// stretch. Not a result whose run assumed its sender's nonce: that assumption is checked
    /// against the sender as committed, which may lack an earlier transaction of the run
    /// (two transactions with one nonce in an invalid block would both pass). Returns the
    /// outcome and gas used, or the result to handle the usual way.
    fn defer(
        &mut self,
        spec: Box<Speculative>,
        index: usize,
        committed: &mut Overlay,
        shared: &Shared,
        inconsistent: usize,
    ) -> Result<(TxOutcome, u64), Box<Speculative>> {
        let beneficiary = shared.ctx.block.beneficiary;
        if spec.stretch != self.stretch {
            self.close(committed, shared);
        }
        let fits = spec.stretch != inconsistent
            && spec.result.is_ok()
            && !spec.reads.reads_account(beneficiary)
            && !spec.reads.assumes()
            && !spec.reads.stale(&Stack { below: committed, above: &self.layers }, &shared.pre, true, beneficiary);
        if !fits {
            return Err(spec);
        }
        let mut spec = spec;
        let Ok((result, state)) = std::mem::replace(&mut spec.result, Err(EVMError::Custom(String::new()))) else {
            unreachable!("checked")
        };
        if self.states.is_empty() {
            (self.stretch, self.first) = (spec.stretch, index);
        }
        self.states.push(state);
        self.garbage.results.push(spec);
        let gas_used = result.tx_gas_used();
        Ok((TxOutcome::from_result(result), gas_used))
    }

    /// Ends the run: its stretch's overlay becomes a layer if the run covered the rest of
    /// that stretch (its earlier transactions were committed as they were: the overlay holds
    /// the same values for them) and never wrote the beneficiary; else everything is
    /// committed.
    fn close(&mut self, committed: &mut Overlay, shared: &Shared) {
        if self.states.is_empty() {
            return;
        }
        let (first, end) = (self.first, self.first + self.states.len());
        let finished = shared.take_finished(self.stretch);
        let fits = |f: &Finished| {
            f.start <= first && f.end == end && !f.overlay.accounts.contains_key(&shared.ctx.block.beneficiary)
        };
        match finished {
            Some(finished) if fits(&finished) => {
                self.layered += self.states.len();
                self.garbage.states.append(&mut self.states);
                self.layers.push(finished.overlay);
            }
            other => {
                self.garbage.overlays.extend(other.map(|f| f.overlay));
                self.flush(committed);
            }
        }
    }

    /// Commits everything, in order: the layers, then the collected states.
    fn flush(&mut self, committed: &mut Overlay) {
        for layer in self.layers.drain(..) {
            committed.lay(&layer);
            self.garbage.overlays.push(layer);
        }
        for state in self.states.drain(..) {
            committed.commit_lean(&state);
            self.garbage.states.push(state);
        }
    }
}

/// Whether the last [`RecentResults::WINDOW`] helper results the committer handled were re-executed.
#[derive(Default)]
struct RecentResults {
    stale: u128,
    handled: u32,
}

impl RecentResults {
    /// Long enough that a burst (one stale result, then the rest of its stretch after it)
    /// does not count as the rule: token transfers and shared tallies go stale in bursts
    /// of up to ~30 and still gain from speculating.
    const WINDOW: u32 = 128;

    fn push(&mut self, stale: bool) {
        self.stale = (self.stale << 1) | stale as u128;
        self.handled += 1;
    }

    /// Three in four of a full window re-executed: the helpers' parts conflict with what the
    /// committer has written since they started (pools that repeat, one counter all touch).
    fn mostly_stale(&self) -> bool {
        self.handled >= Self::WINDOW && self.stale.count_ones() * 4 >= Self::WINDOW * 3
    }
}

/// One transaction's coordination: who executes it, and a helper's result once it is ready.
struct Slot {
    /// [`FREE`], [`COMMITTER`], or `FIRST_HELPER + h` for helper `h`.
    claim: AtomicU32,
    ready: AtomicBool,
    /// Boxed: every slot is written at the start of each block, so it is kept small.
    result: Mutex<Option<Box<Speculative>>>,
}

impl Slot {
    fn take_result(&self) -> Option<Box<Speculative>> {
        self.result.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// How the block is shared out among the helpers. The first helper to wake computes it (a few
/// tens of microseconds on a 1,000-transaction block, as long as a helper takes to wake): the
/// committer needs none of it to start on the first transaction at once.
struct Plan {
    /// Running sum of each transaction's estimated cost (see [`estimated_cost`]).
    cost_prefix: Vec<f64>,
    /// Each helper's first stretch (see [`first_parts`]).
    first: Vec<std::ops::Range<usize>>,
    /// A transaction the first helper runs before its first stretch (see [`out_of_order_giant`]).
    giant: Option<usize>,
}

impl Plan {
    fn new(txs: &[TxEnv], pre: &PreState, helpers: usize) -> Self {
        let cost_prefix = cost_prefix(txs, pre);
        let first = first_parts(&cost_prefix, helpers);
        let giant = out_of_order_giant(txs, &cost_prefix, &first);
        Plan { cost_prefix, first, giant }
    }
}

/// The block's coordination, shared with the helpers. Owned (the block's data behind `Arc`s),
/// so a helper that lost its core while the block finished holds it alive itself, and the
/// committer need not wait for it (see exec/helper_pool.rs).
struct Shared {
    ctx: BlockContext,
    /// See [`ParallelConfig::native_transfers`].
    native_transfers: bool,
    /// See [`ParallelConfig::stall_helper_at`].
    stall_helper_at: Option<(usize, std::time::Duration)>,
    txs: Arc<[TxEnv]>,
    pre: Arc<PreState>,
    slots: Vec<Slot>,
    helpers: usize,
    plan: std::sync::OnceLock<Plan>,
    /// For each call with calldata, the first transaction of the block making a related call
    /// (see [`first_related_calls`]); computed by the first helper that needs it, off the
    /// committer's path.
    first_call: std::sync::OnceLock<Vec<u32>>,
    /// Where each taker's current stretch started.
    stretch_starts: Vec<AtomicUsize>,
    /// Where each helper's current stretch ends; a helper taking over its back half shortens it.
    ends: Vec<AtomicUsize>,
    /// Each helper's current stretch: its id and first transaction.
    current: Vec<Mutex<Option<(usize, usize)>>>,
    /// A stretch id the committer told each helper to abandon (see [`Shared::probe`]).
    abandon: Vec<AtomicUsize>,
    /// Each helper's CPU-time clock, to tell a helper that lost its core (see [`Waited`]).
    cpu_clocks: Vec<Option<CpuClock>>,
    /// Serialises helpers choosing stretches (rare: a few times per block).
    choosing: Mutex<()>,
    next_stretch: AtomicUsize,
    /// Transactions before this index are committed.
    committed: AtomicUsize,
    /// Helpers start nothing new: the block is done, failed, or speculation stopped paying.
    stop: AtomicBool,
    clock: Clock,
    /// Each helper's time, when the timeline is on.
    helper_times: Vec<Mutex<HelperTime>>,
    /// Stretches that ended, with their overlays ([`Tail`]).
    finished: Mutex<Vec<Finished>>,
    /// What the committer is done with, given back for the helpers to free
    /// ([`Shared::free_given_back`]).
    given_back: Mutex<Vec<Garbage>>,
    /// Something is waiting in `given_back`: helpers poll this, not the lock, which the
    /// committer would otherwise find taken (and sleep on) when it gives back.
    giving_back: AtomicBool,
    /// The committer has committed the block and given back everything.
    done: AtomicBool,
    /// The committer discarded results: each helper takes back its own untaken ones.
    discarded: AtomicBool,
}

impl Shared {
    fn new(
        ctx: BlockContext,
        txs: Arc<[TxEnv]>,
        pre: Arc<PreState>,
        cpu_clocks: Vec<Option<CpuClock>>,
        config: &ParallelConfig,
        clock: Clock,
    ) -> Self {
        let helpers = cpu_clocks.len();
        let slots = txs
            .iter()
            .map(|_| Slot { claim: AtomicU32::new(FREE), ready: AtomicBool::new(false), result: Mutex::new(None) })
            .collect();
        Shared {
            native_transfers: config.native_transfers,
            stall_helper_at: config.stall_helper_at,
            ctx,
            txs,
            pre,
            slots,
            helpers,
            plan: std::sync::OnceLock::new(),
            first_call: std::sync::OnceLock::new(),
            stretch_starts: (0..=helpers).map(|_| AtomicUsize::new(0)).collect(),
            // One more slot than helpers: the committer's, when it takes a stretch itself.
            ends: (0..=helpers).map(|_| AtomicUsize::new(0)).collect(),
            current: (0..=helpers).map(|_| Mutex::new(None)).collect(),
            abandon: (0..=helpers).map(|_| AtomicUsize::new(usize::MAX)).collect(),
            cpu_clocks,
            choosing: Mutex::new(()),
            next_stretch: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            clock,
            helper_times: (0..helpers).map(|_| Mutex::default()).collect(),
            finished: Mutex::new(Vec::new()),
            given_back: Mutex::new(Vec::new()),
            giving_back: AtomicBool::new(false),
            done: AtomicBool::new(false),
            discarded: AtomicBool::new(false),
        }
    }

    /// An EVM over `overlay`; `record`: keep every read for validation (speculative runs).
    fn new_evm(&self, overlay: Overlay, record: bool) -> ViewEvm<'_> {
        let beneficiary = self.ctx.block.beneficiary;
        let view = View {
            pre: &self.pre,
            overlay,
            record,
            reads: ReadSet::default(),
            beneficiary,
            read_beneficiary: false,
            sender_nonce: None,
            shadow: Shadow::default(),
            slot_reads: HashMap::default(),
            tracing_table: false,
            empty_code: EmptyCode::new(),
            native_transfers: self.native_transfers,
            keccak_memo: KeccakMemo::default(),
        };
        let mut evm = Context::mainnet()
            .with_db(view)
            .with_cfg(self.ctx.cfg.clone())
            .with_block(self.ctx.block.clone())
            .build_mainnet();
        balance_uses::watch(evm.instruction.instruction_table_mut());
        evm
    }

    fn touches_beneficiary(&self, tx: &TxEnv) -> bool {
        touches(tx, self.ctx.block.beneficiary)
    }

    /// The committer: every transaction in order, executed or validated, then committed.
    fn commit_block(&self) -> Committed {
        let beneficiary = self.ctx.block.beneficiary;
        let mut evm = self.new_evm(Overlay::with_capacity(self.txs.len() * 2 + 16), false);
        let mut fees = FeeLedger::default();
        let mut stats = ExecStats::default();
        let mut outcomes = Vec::with_capacity(self.txs.len());
        let mut error = None;
        // The stretch in which a transaction was committed otherwise than its helper ran it.
        let mut inconsistent = usize::MAX;
        let mut since_probe = 0;
        let mut spare = None;
        let mut times = CommitterTimes::default();
        let mut recent = RecentResults::default();
        let mut tail = Tail::default();
        for (index, tx) in self.txs.iter().enumerate() {
            let start = self.clock.now();
            let claimed =
                self.slots[index].claim.compare_exchange(FREE, COMMITTER, Ordering::AcqRel, Ordering::Acquire).is_ok();
            // Once speculation is given up, helpers' results are not even looked at: most would
            // be stale, and checking one before re-executing it costs more than executing it.
            let discard = !claimed && stats.gave_up_speculation;
            stats.discarded += discard as usize;
            if discard && stats.discarded == 1 {
                self.discarded.store(true, Ordering::Release);
            }
            let mut ready = start;
            let spec = match claimed || discard {
                true => None,
                false => {
                    let waited = self.wait_for(index, &mut spare, &mut times);
                    ready = self.clock.now();
                    match waited {
                        Waited::Result(spec) => Some(spec),
                        Waited::Stalled { stretch } => {
                            // Its helper lost its core: executed here instead, so that stretch's
                            // later results (if the helper got to any) cannot trust its writes.
                            stats.stalled_helpers += 1;
                            inconsistent = stretch;
                            None
                        }
                    }
                }
            };
            let mine = spec.is_none();
            let mut handling = if mine { Handling::Own } else { Handling::Validated };
            // The state to commit is a helper's (validated or repaired), not the committer's own.
            let mut helpers_state = false;
            let result = match spec {
                None => {
                    tail.flush(&mut evm.ctx.journaled_state.database.overlay);
                    stats.direct += 1;
                    Some(self.execute_exact(&mut evm, &mut fees, &mut stats, tx))
                }
                Some(spec) => {
                    let view = &mut evm.ctx.journaled_state.database;
                    match tail.defer(spec, index, &mut view.overlay, self, inconsistent) {
                        Ok((result, gas_used)) => {
                            // Does not touch the beneficiary: its fee is not burned with it.
                            fees.push(self.ctx.coinbase_gas_price(tx), gas_used);
                            outcomes.push(result);
                            recent.push(false);
                            None
                        }
                        Err(mut spec) => Some({
                            let speculative = std::mem::replace(&mut spec.result, Err(EVMError::Custom(String::new())));
                            tail.flush(&mut view.overlay);
                            if spec.reads.reads_account(beneficiary) && !fees.is_empty() {
                                settle(&mut view.overlay, &self.pre, beneficiary, &mut fees, &mut stats);
                            }
                            let trust_local = spec.stretch != inconsistent;
                            let result = match speculative {
                                Ok(ok) if !spec.reads.stale(&view.overlay, &self.pre, trust_local, beneficiary) => {
                                    recent.push(false);
                                    helpers_state = true;
                                    Ok(ok)
                                }
                                result => {
                                    inconsistent = spec.stretch;
                                    let failed = result.is_err();
                                    match salvage(result, &spec.reads, tx, &view.overlay, &self.pre) {
                                        (fixed, Some(how)) => {
                                            recent.push(false);
                                            helpers_state = true;
                                            *match how {
                                                Salvaged::LazyCredit => &mut stats.lazy_credits,
                                                Salvaged::Balances => &mut stats.balance_repairs,
                                                Salvaged::Slots => &mut stats.slot_repairs,
                                            } += 1;
                                            fixed
                                        }
                                        (stale, None) => {
                                            // (Given back with `spec` below, not freed here.)
                                            spec.result = stale;
                                            if self.clock.is_on() {
                                                // Stale on its own, or only through its stretch's earlier writes?
                                                let own = failed
                                                    || spec.reads.stale(&view.overlay, &self.pre, true, beneficiary);
                                                handling = if own { Handling::Stale } else { Handling::Cascade };
                                            }
                                            stats.reexecutions += 1;
                                            recent.push(true);
                                            self.execute_exact(&mut evm, &mut fees, &mut stats, tx)
                                        }
                                    }
                                }
                            };
                            // Given back for a helper to free, not freed here (see `Shared::give_back`).
                            tail.garbage.results.push(spec);
                            result
                        }),
                    }
                }
            };
            match result {
                None => {}
                Some(Ok((result, mut state))) => {
                    // revm pays the fee into a beneficiary that self-destructed in this very
                    // transaction, and the self-destruct then wipes it: the fee is burned.
                    if !state.get(&beneficiary).is_some_and(|a| a.is_selfdestructed()) {
                        fees.push(self.ctx.coinbase_gas_price(tx), result.tx_gas_used());
                    }
                    if helpers_state {
                        // A helper's state (or one of the committer's take-over stretches):
                        // copied without its empty code, and given back for a helper to free
                        // (see `Shared::give_back`).
                        evm.ctx.journaled_state.database.overlay.commit_lean(&state);
                        tail.garbage.states.push(state);
                    } else {
                        evm.ctx.journaled_state.database.overlay.commit_drain(&mut state);
                        // revm hands over its journal's map of accounts at the end of every
                        // transaction and grows a fresh one in the next: give it this one back,
                        // emptied, with its room (the journal's map is empty between transactions).
                        // The committer alone ran the 45 blocks 0.5–1 % faster.
                        let journal = &mut evm.ctx.journaled_state.inner.state;
                        if journal.capacity() < state.capacity() {
                            *journal = state;
                        }
                    }
                    outcomes.push(TxOutcome::from_result(result));
                }
                Some(Err(e)) => {
                    error = Some(ExecError { index, message: e.to_string() });
                    break;
                }
            }
            self.committed.store(index + 1, Ordering::Release);
            if tail.garbage.len() >= GIVE_BACK_BATCH {
                self.give_back(std::mem::take(&mut tail.garbage));
            }
            if let (Some(start), Some(ready)) = (start, ready) {
                times.record(&self.clock, handling, start, ready, std::time::Instant::now());
            }
            if mine && !stats.gave_up_speculation {
                since_probe += 1;
                if since_probe == PROBE_EVERY {
                    since_probe = 0;
                    self.probe(&evm.ctx.journaled_state.database.overlay, index + 1, &mut stats);
                }
            }
            // Mostly re-executing: speculation costs more than it saves on this block.
            let mostly_stale = (index >= 15 && stats.reexecutions * 3 > index + 1) || recent.mostly_stale();
            if mostly_stale && !stats.gave_up_speculation {
                stats.gave_up_speculation = true;
                self.stop.store(true, Ordering::Release);
            }
        }
        self.stop.store(true, Ordering::Release);
        // Helpers stop before their next transaction and free what was given back before they
        // leave; the lease waits for one still running, not for one that lost its core. (A
        // stretch's overlay is published right after its last result: `close` waits a moment
        // for it.)
        let view = &mut evm.ctx.journaled_state.database;
        tail.close(&mut view.overlay, self);
        self.give_back(std::mem::take(&mut tail.garbage));
        self.done.store(true, Ordering::Release);
        let overlay = std::mem::take(&mut view.overlay);
        Committed { outcomes, overlay, fees, stats, error, times, tail }
    }

    /// Runs `tx` on the committed state: exact, provided the beneficiary's fees are settled
    /// before it reads the beneficiary.
    fn execute_exact(
        &self,
        evm: &mut ViewEvm<'_>,
        fees: &mut FeeLedger,
        stats: &mut ExecStats,
        tx: &TxEnv,
    ) -> TxResult {
        let beneficiary = self.ctx.block.beneficiary;
        if self.touches_beneficiary(tx) && !fees.is_empty() {
            settle(&mut evm.ctx.journaled_state.database.overlay, &self.pre, beneficiary, fees, stats);
        }
        let result = transact(evm, tx, false);
        let view = &mut evm.ctx.journaled_state.database;
        if view.read_beneficiary && !fees.is_empty() {
            // It saw the beneficiary without the fees owed: settle them and run it again.
            settle(&mut view.overlay, &self.pre, beneficiary, fees, stats);
            return transact(evm, tx, false);
        }
        result
    }

    /// The helper's result for a transaction a helper claimed (it is being executed or done).
    ///
    /// Rather than wait for a helper that is behind, the committer takes the back half of what
    /// nobody has started yet (the helper keeps the front) and runs it as a stretch itself, on
    /// `spare`, its own private overlay. Rather than wait for a helper that lost its core (see
    /// exec/cpu_clock.rs), it tells that helper to abandon its stretch and executes the
    /// transaction itself.
    fn wait_for<'s>(&'s self, index: usize, spare: &mut Option<ViewEvm<'s>>, times: &mut CommitterTimes) -> Waited {
        let mut spins = 0u32;
        let slot = &self.slots[index];
        let mut watch = StallWatch::new();
        while !slot.ready.load(Ordering::Acquire) {
            if spins == 0 && !self.stop.load(Ordering::Relaxed) {
                let me = self.committer_as_helper();
                // The helper has this transaction to finish before it gets to what is free.
                let ahead = self.plan.get().map_or(0.0, |p| p.cost_prefix[index + 1] - p.cost_prefix[index]) / 2.0;
                if let Some(start) = self.choose_stretch(me, ahead) {
                    let evm = spare.get_or_insert_with(|| self.new_evm(Overlay::with_capacity(64), true));
                    let stretch = self.next_stretch.fetch_add(1, Ordering::Relaxed);
                    let mut took_over = HelperTime::default();
                    if !self.run_stretch(me, stretch, start, evm, &mut took_over) {
                        *spare = None;
                    }
                    times.took_over(&took_over.executed);
                    continue;
                }
            }
            // (Only once it yields: a helper's result is usually there within the spinning.)
            if spins >= BACK_OFF_YIELDS_AFTER
                && let Some(stretch) = self.stalled_owner(slot, &mut watch)
            {
                return Waited::Stalled { stretch };
            }
            back_off(&mut spins);
        }
        Waited::Result(slot.take_result().expect("a ready result is stored"))
    }

    /// If the helper that claimed `slot` lost its core (measured by `watch` over the wait),
    /// tells it to abandon its stretch (it finishes its transaction when it gets a core back,
    /// then takes no more of that stretch) and returns that stretch.
    fn stalled_owner(&self, slot: &Slot, watch: &mut StallWatch) -> Option<usize> {
        let owner = slot.claim.load(Ordering::Acquire).checked_sub(FIRST_HELPER)? as usize;
        let clock = self.cpu_clocks.get(owner).copied().flatten()?;
        if !watch.stalled(&clock) {
            return None;
        }
        let current = self.current[owner].lock().unwrap_or_else(|p| p.into_inner());
        // The helper may have come back since the check (this thread may have lost its core
        // too): once it published this result it may be on a later stretch, which must not
        // be blamed. It publishes a result before it changes `current`, under this lock.
        if slot.ready.load(Ordering::Acquire) {
            return None;
        }
        let (stretch, _) = (*current)?;
        self.abandon[owner].store(stretch, Ordering::Release);
        Some(stretch)
    }

    /// A helper: take a stretch, execute it speculatively, repeat while there is one to take;
    /// then free what the committer gives back until the block is done.
    fn help(&self, helper: usize) {
        let mut times = HelperTime::default();
        self.help_with(helper, &mut times);
        if self.clock.is_on() {
            *self.helper_times[helper].lock().unwrap_or_else(|p| p.into_inner()) = times;
        }
        self.free_given_back(helper);
    }

    /// Hands what the committer is done with (results, states and overlays, mostly allocated
    /// by helpers) to the helpers to free. Freed by the committer, each of those frees would
    /// move a cache line between the cores (with mimalloc, a free from another thread is an
    /// atomic push onto a list the owning thread reads when it allocates), and it would drop
    /// copies of the helper's empty code, whose count the helper changes all the time.
    fn give_back(&self, garbage: Garbage) {
        if garbage.len() > 0 {
            self.given_back.lock().unwrap_or_else(|p| p.into_inner()).push(garbage);
            self.giving_back.store(true, Ordering::Release);
        }
    }

    /// A helper with no work left frees what the committer gives back while the committer
    /// validates its last results, on the helper's core and within the block's time. It
    /// leaves once the block is done, or once nothing has come for a while: it spins and
    /// yields but never sleeps, since a helper still in the job keeps its seat from the next
    /// block (see exec/helper_pool.rs). What is given back after it left is freed with
    /// `shared`, by whoever drops it last. If the committer discarded results, a helper that
    /// stayed to the end takes back its own (the slots it claimed).
    fn free_given_back(&self, helper: usize) {
        let mut spins = 0;
        let finished = loop {
            let done = self.done.load(Ordering::Acquire);
            if self.giving_back.swap(false, Ordering::AcqRel) {
                drop(std::mem::take(&mut *self.given_back.lock().unwrap_or_else(|p| p.into_inner())));
                spins = 0;
            } else if done {
                break true;
            } else if spins >= BACK_OFF_SLEEPS_AFTER {
                break false;
            } else {
                back_off(&mut spins);
            }
        };
        if finished && self.discarded.load(Ordering::Acquire) {
            let claim = FIRST_HELPER + helper as u32;
            let mine = self.slots.iter().filter(|slot| slot.claim.load(Ordering::Acquire) == claim);
            mine.for_each(|slot| drop(slot.take_result()));
        }
    }

    fn help_with(&self, helper: usize, times: &mut HelperTime) {
        if self.stop.load(Ordering::Acquire) {
            return; // woke after the block was done (or speculation stopped): no plan needed
        }
        let plan = self.plan.get_or_init(|| Plan::new(&self.txs, &self.pre, self.helpers));
        let mut evm = self.new_evm(Overlay::with_capacity(64), true);
        if let Some(giant) = plan.giant.filter(|_| helper == 0) {
            // Alone, on a fresh overlay, before anything else: out of order, so it runs while the
            // committer does the rest of its part rather than after it.
            self.ends[helper].store(giant + 1, Ordering::Release);
            let stretch = self.next_stretch.fetch_add(1, Ordering::Relaxed);
            *self.current[helper].lock().unwrap_or_else(|p| p.into_inner()) = Some((stretch, giant));
            if !self.run_stretch(helper, stretch, giant, &mut evm, times) {
                return;
            }
        }
        let mut stretches = 0;
        while !self.stop.load(Ordering::Acquire) {
            let first = &plan.first[helper];
            let start = if stretches == 0 && first.len() >= MIN_STRETCH_FREE {
                self.ends[helper].store(first.end, Ordering::Release);
                first.start
            } else {
                match self.choose_stretch(helper, 0.0) {
                    Some(start) => start,
                    None => return,
                }
            };
            stretches += 1;
            let stretch = self.next_stretch.fetch_add(1, Ordering::Relaxed);
            *self.current[helper].lock().unwrap_or_else(|p| p.into_inner()) = Some((stretch, start));
            if !self.run_stretch(helper, stretch, start, &mut evm, times) {
                return;
            }
        }
    }

    /// Executes transactions from `start` on, in order, on `evm`'s private overlay (cleared
    /// first), until the taker's stretch end, a transaction someone else claimed, or a stop.
    /// `taker` is a helper, or [`Shared::committer_as_helper`]. Returns false after a panic.
    fn run_stretch<'s>(
        &'s self,
        taker: usize,
        stretch: usize,
        start: usize,
        evm: &mut ViewEvm<'s>,
        times: &mut HelperTime,
    ) -> bool {
        let claim = FIRST_HELPER + taker as u32;
        self.stretch_starts[taker].store(start, Ordering::Release);
        evm.ctx.journaled_state.database.overlay.clear();
        let mut index = start;
        while index < self.ends[taker].load(Ordering::Acquire)
            && !self.stop.load(Ordering::Relaxed)
            && self.abandon[taker].load(Ordering::Relaxed) != stretch
        {
            let slot = &self.slots[index];
            if slot.claim.compare_exchange(FREE, claim, Ordering::AcqRel, Ordering::Acquire).is_err() {
                break; // the committer (or another helper) got here first
            }
            let started = self.clock.now();
            // A panic must not leave the committer waiting for this result: publish it as a
            // failed speculation (the committer then executes the transaction itself) and stop.
            // Traced when an earlier transaction outside this stretch made a related call: the
            // two may move the same counter (see exec/slot_uses.rs). Not on the committer, whose
            // time is the block's. (Only calls with calldata have related calls: the table, up
            // to ~100 µs to build, is not built for a stretch of plain transfers.)
            let trace = taker != self.committer_as_helper()
                && !self.txs[index].data.is_empty()
                && (self.first_call.get_or_init(|| first_related_calls(&self.txs))[index] as usize) < start;
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| transact(evm, &self.txs[index], trace)));
            let panicked = run.is_err();
            let result = run.unwrap_or_else(|_| Err(EVMError::Custom("speculative execution panicked".into())));
            if let Some((_, pause)) =
                self.stall_helper_at.filter(|&(at, _)| at == index && taker != self.committer_as_helper())
            {
                std::thread::sleep(pause);
            }
            let view = &mut evm.ctx.journaled_state.database;
            if let Ok((_, state)) = &result {
                view.overlay.commit_ref(state);
            }
            // A copy in buffers of its exact size (a clone's): the view keeps its own, grown to
            // the largest run so far, where handing them over left each run to grow fresh ones.
            let reads = view.reads.clone();
            *slot.result.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Box::new(Speculative { result, reads, stretch }));
            slot.ready.store(true, Ordering::Release);
            if let Some(started) = started {
                times.record(&self.clock, started, std::time::Instant::now());
            }
            if panicked {
                return false;
            }
            index += 1;
        }
        // Its overlay holds exactly the writes of the transactions it ran, which the committer
        // may lay above the committed state rather than commit them again ([`Tail`]).
        let view = &mut evm.ctx.journaled_state.database;
        let fresh = Overlay::with_capacity(view.overlay.accounts.len());
        let overlay = std::mem::replace(&mut view.overlay, fresh);
        let finished = Finished { stretch, start, end: index, overlay };
        self.finished.lock().unwrap_or_else(|p| p.into_inner()).push(finished);
        true
    }

    /// Stretch `stretch`'s published overlay. Its taker publishes it right after its last
    /// result, so the committer, which has just handled that result, waits a moment for it.
    fn take_finished(&self, stretch: usize) -> Option<Finished> {
        for _ in 0..2_000 {
            let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = finished.iter().position(|f| f.stretch == stretch) {
                return Some(finished.swap_remove(at));
            }
            drop(finished);
            std::hint::spin_loop();
        }
        None
    }

    /// The committer's slot among the stretch takers: it takes a stretch itself when the next
    /// transaction is a helper's and still running, rather than wait.
    fn committer_as_helper(&self) -> usize {
        self.helpers
    }

    /// Looks ahead at the first results of each helper's stretch: when all of them conflict
    /// already with the partly committed state, they will be stale when the committer gets
    /// there, so the helper abandons the stretch instead of spending memory bandwidth on work
    /// that will be redone; after [`MAX_ABANDONED`] such stretches the block stops speculating.
    fn probe(&self, committed: &Overlay, next: usize, stats: &mut ExecStats) {
        for (helper, current) in self.current.iter().enumerate() {
            let Some((stretch, start)) = *current.lock().unwrap_or_else(|p| p.into_inner()) else { continue };
            if start <= next || self.abandon[helper].load(Ordering::Relaxed) == stretch {
                continue;
            }
            let sample = start..(start + PROBE_SAMPLE).min(self.txs.len());
            let all_conflict = sample.len() == PROBE_SAMPLE
                && sample.into_iter().all(|index| {
                    let slot = &self.slots[index];
                    if !slot.ready.load(Ordering::Acquire) {
                        return false;
                    }
                    let result = slot.result.lock().unwrap_or_else(|p| p.into_inner());
                    result.as_ref().is_some_and(|spec| {
                        spec.result.is_err() || spec.reads.conflicts_with(committed, &self.txs[index])
                    })
                });
            if all_conflict {
                self.abandon[helper].store(stretch, Ordering::Relaxed);
                stats.abandoned_stretches += 1;
                if stats.abandoned_stretches >= MAX_ABANDONED {
                    stats.gave_up_speculation = true;
                    self.stop.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Picks the back half (by estimated cost) of the longest run of unclaimed transactions
    /// ahead of the committer, shortens the stretch of the helper heading into it, and returns
    /// its first index. `ahead`: the estimated cost that helper has still to run before it
    /// gets there (the committer waiting for its current transaction), which moves the split
    /// forward, to the whole run when it is that much: a helper on a giant transaction leaves
    /// the committer everything after it rather than half.
    fn choose_stretch(&self, helper: usize, ahead: f64) -> Option<usize> {
        // (Not before the plan: until then no helper has claimed anything to wait for.)
        let cost_prefix = &self.plan.get()?.cost_prefix;
        let _choosing = self.choosing.lock().unwrap_or_else(|p| p.into_inner());
        let from = self.committed.load(Ordering::Acquire) + 1;
        let (mut best, mut run_start) = ((0, 0), None);
        for index in from..=self.txs.len() {
            let free = index < self.txs.len() && self.slots[index].claim.load(Ordering::Acquire) == FREE;
            match (free, run_start) {
                (true, None) => run_start = Some(index),
                (false, Some(start)) => {
                    if index - start > best.1 - best.0 {
                        best = (start, index);
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        let (start, end) = best;
        if end - start < MIN_STRETCH_FREE {
            return None;
        }
        let half = (cost_prefix[start] - ahead + cost_prefix[end]) / 2.0;
        let middle = cost_prefix[start..end].partition_point(|&c| c < half) + start;
        let middle = middle.clamp(if ahead > 0.0 { start } else { start + 1 }, end - 1);
        // The helper whose stretch runs into this one stops at its middle (not one that ran
        // the transaction before it out of order, see `giant`, and is now on a later stretch).
        if let Some(owner) = self.slots[start - 1].claim.load(Ordering::Acquire).checked_sub(FIRST_HELPER) {
            let (end, began) = (&self.ends[owner as usize], &self.stretch_starts[owner as usize]);
            if end.load(Ordering::Acquire) > start && began.load(Ordering::Acquire) < start {
                end.store(middle, Ordering::Release);
            }
        }
        self.ends[helper].store(end, Ordering::Release);
        Some(middle)
    }
}

/// [`back_off`] yields from this many rounds on, and sleeps from [`BACK_OFF_SLEEPS_AFTER`] on.
const BACK_OFF_YIELDS_AFTER: u32 = 256;
const BACK_OFF_SLEEPS_AFTER: u32 = 320;

/// Waiting for another thread: spin briefly (it is mid-transaction on another core), then
/// yield, then sleep. With more threads than cores the other may be waiting for this very
/// core, and a yielding thread does not reliably hand it over.
fn back_off(spins: &mut u32) {
    *spins += 1;
    if *spins < BACK_OFF_YIELDS_AFTER {
        std::hint::spin_loop();
    } else if *spins < BACK_OFF_SLEEPS_AFTER {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
}

/// For each call with calldata, the first transaction of `txs` that makes a related call: to
/// the same account, with a participant in common (its sender, or its first argument, such as
/// a token transfer's recipient); `u32::MAX` for the others. Related calls are the ones that
/// may move one counter: a token balance that one holder spends and another receives. (Keys
/// are 64-bit hashes: a collision only traces a run that did not need it.)
fn first_related_calls(txs: &[TxEnv]) -> Vec<u32> {
    use std::hash::BuildHasher;
    let hasher = revm::primitives::map::DefaultHashBuilder::default();
    let mut first = HashMap::<u64, u32>::with_capacity_and_hasher(2 * txs.len(), Default::default());
    let mut first_of =
        |to: &Address, word: &[u8], index: u32| *first.entry(hasher.hash_one((to, word))).or_insert(index);
    txs.iter()
        .zip(0u32..)
        .map(|(tx, index)| match tx.kind.to() {
            Some(to) if !tx.data.is_empty() => {
                let sender = first_of(to, tx.caller.into_word().as_slice(), index);
                tx.data.get(4..36).map_or(sender, |word| sender.min(first_of(to, word, index)))
            }
            _ => u32::MAX,
        })
        .collect()
}

/// Running sums of each transaction's estimated cost (see [`estimated_cost`]), from 0.
fn cost_prefix(txs: &[TxEnv], pre: &PreState) -> Vec<f64> {
    std::iter::once(0.0)
        .chain(txs.iter().scan(0.0, |sum, tx| {
            *sum += estimated_cost(tx, pre);
            Some(*sum)
        }))
        .collect()
}

/// Each helper's first part of the block: the block split into equal estimated cost, one part
/// per thread; the committer starts on the first and helper h on part h + 1. Fixing this by
/// estimated cost keeps it independent of how fast a helper wakes up (which stretch a helper
/// runs decides which of its results go stale, so a split that moved with wake-up latency made
/// a block's time vary from run to run).
fn first_parts(cost_prefix: &[f64], helpers: usize) -> Vec<std::ops::Range<usize>> {
    let len = cost_prefix.len().saturating_sub(1);
    let total = cost_prefix.last().copied().unwrap_or(0.0);
    let boundary = |part: usize| {
        let target = total * part as f64 / (helpers + 1) as f64;
        cost_prefix.partition_point(|&c| c < target).min(len)
    };
    (0..helpers).map(|h| boundary(h + 1).max(1)..boundary(h + 2).max(1)).collect()
}

/// The [`giant`] the first helper runs out of order: only one the committer would otherwise
/// reach in its own part (and not the first transaction, which the committer starts at once).
fn out_of_order_giant(txs: &[TxEnv], cost_prefix: &[f64], first: &[std::ops::Range<usize>]) -> Option<usize> {
    giant_by_cost(txs, cost_prefix).filter(|&g| first.first().is_some_and(|f| g < f.start && g > 0))
}

/// A transaction likely to take a large share of the block's time, which a contiguous split
/// cannot balance: the first helper runs it out of order, at once, when it falls in the
/// committer's part. Picked by gas limit plus 1,024 per byte of calldata (calls carrying tens
/// of kilobytes, such as rollup batches and proof verifications, took up to half of a block
/// in the shared mainnet set, far more than their gas limit says), when that reaches a
/// quarter of the block's total. A wrong pick costs the helper one transaction's time.
pub fn giant(txs: &[TxEnv], pre: &PreState) -> Option<usize> {
    giant_by_cost(txs, &cost_prefix(txs, pre))
}

/// [`giant`], given the running sum of estimated costs.
fn giant_by_cost(txs: &[TxEnv], cost_prefix: &[f64]) -> Option<usize> {
    let weights: Vec<f64> = (txs.iter().enumerate())
        .map(|(i, tx)| cost_prefix[i + 1] - cost_prefix[i] + 1024.0 * tx.data.len() as f64)
        .collect();
    let total: f64 = weights.iter().sum();
    let (index, cost) = weights.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    (*cost >= total / 4.0).then_some(index)
}

/// What a plain transfer costs, in gas of contract code taking as long: executed natively
/// (exec/transfer.rs) one takes ~1.1 µs, contract calls a median 0.18 ns per gas. Counting
/// transfers at 6,000 instead of their 21,000 moved the 35 mainnet blocks run in parallel
/// 0.3–1.3 % faster (alternating runs, 2026-11-24); 3,000 and 10,000 read the same.
pub const PLAIN_TRANSFER_COST: f64 = 6_000.0;

/// A guess at what executing `tx` costs, before running it: its gas limit, or
/// [`PLAIN_TRANSFER_COST`] for a plain transfer. (`host/examples/cut_estimators.rs` compares
/// it with other guesses.)
pub fn estimated_cost(tx: &TxEnv, pre: &PreState) -> f64 {
    if is_plain_transfer(tx, pre) { PLAIN_TRANSFER_COST } else { tx.gas_limit as f64 }
}

/// A call without calldata to an account that has no code (in the pre-state).
pub fn is_plain_transfer(tx: &TxEnv, pre: &PreState) -> bool {
    let to_code = |to: &Address| pre.account(to).is_some_and(|a| a.code_hash != KECCAK_EMPTY && !a.code_hash.is_zero());
    tx.data.is_empty() && tx.kind.to().is_some_and(|to| !to_code(to))
}

/// Credits the deferred fees to the beneficiary now (someone is about to read it).
fn settle(committed: &mut Overlay, pre: &PreState, beneficiary: Address, fees: &mut FeeLedger, stats: &mut ExecStats) {
    let total = fees.settle_cpu();
    committed.credit(pre, beneficiary, total);
    stats.fee_settlements += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use revm::bytecode::Bytecode;
    use revm::primitives::Bytes;

    #[test]
    fn accounts_without_code_get_the_threads_own_empty_code() {
        let empty = EmptyCode::new();
        assert!(empty.code.is_empty() && !empty.code.is_default(), "its own Arc, not revm's global one");
        assert_eq!(empty.code.bytecode(), Bytecode::default().bytecode(), "same padding as revm's");
        assert_eq!(empty.code.hash_slow(), KECCAK_EMPTY);

        // An account as the pre-state stores it (revm's default code), and one with a zero hash.
        let eoa = AccountInfo::default().with_balance(U256::from(7)).with_nonce(3);
        for stored in [eoa.clone(), AccountInfo { code: None, code_hash: B256::ZERO, ..eoa.clone() }] {
            let served = empty.serve(&stored);
            assert_eq!(
                (served.balance, served.nonce, served.code_hash),
                (stored.balance, stored.nonce, stored.code_hash)
            );
            let code = served.code.expect("served with code");
            assert!(code.is_empty() && !code.is_default());
        }

        // Contract code is served as stored; code not loaded yet stays for `code_by_hash`.
        let code = Bytecode::new_raw(Bytes::from_static(&[0x60, 0x01, 0x00]));
        let contract = AccountInfo::default().with_code(code.clone());
        assert_eq!(empty.serve(&contract).code, Some(code));
        let unloaded = AccountInfo { code: None, ..contract };
        assert_eq!(empty.serve(&unloaded).code, None);
    }

    #[test]
    fn speculation_is_given_up_when_three_in_four_of_the_last_128_results_were_stale() {
        const W: usize = RecentResults::WINDOW as usize;
        let mut recent = RecentResults::default();
        (0..W - 1).for_each(|_| recent.push(true));
        assert!(!recent.mostly_stale(), "not before a full window");
        recent.push(true);
        assert!(recent.mostly_stale());

        let mut recent = RecentResults::default();
        (0..2 * W).for_each(|i| recent.push(i % 4 != 0)); // three in four stale
        assert!(recent.mostly_stale());
        recent.push(false); // drops a good one: still three in four
        assert!(recent.mostly_stale());
        recent.push(false); // drops a stale one: one short
        assert!(!recent.mostly_stale());

        // A burst of 32 stale results among good ones is not the rule.
        let mut recent = RecentResults::default();
        (0..W).for_each(|i| recent.push((40..72).contains(&i)));
        assert!(!recent.mostly_stale());

        // Only the window counts: a stale start followed by a window of good results is forgotten.
        let mut recent = RecentResults::default();
        (0..300).for_each(|_| recent.push(true));
        (0..W).for_each(|_| recent.push(false));
        assert!(!recent.mostly_stale());
    }
}
