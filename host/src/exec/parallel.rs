//! The parallel executor: optimistic execution, validation and in-order commit.
//!
//! Every thread takes the next unexecuted transaction and runs it against the state committed
//! so far, recording each account and slot it reads. Whichever thread holds the commit lock
//! commits finished transactions in block order: a transaction whose reads all still hold
//! commits its writes as is; otherwise it is re-executed on the committed state (which is then
//! exact). So the output is sequential revm's, whatever the timing.
//!
//! Beneficiary fees are deferred ([`crate::fees`]), so paying the block producer does not make
//! every transaction conflict. Blocks too small for parallelism to pay run sequentially.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use coevm_kernels::Backend;
use revm::context::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction};
use revm::context::{ContextSetters, TxEnv};
use revm::handler::{FrameResult, Handler, MainnetContext, MainnetEvm};
use revm::primitives::{Address, B256, U256};
use revm::state::{AccountInfo, EvmState};
use revm::{Context, Database, DatabaseRef, ExecuteEvm, MainBuilder, MainContext};

use super::overlay::Overlay;
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
    /// Blocks whose gas (header gasUsed, or the sum of gas limits) is below this run sequentially:
    /// measured on the 45 mainnet blocks, those under ~4 Mgas (< 1 ms) never gained.
    pub min_gas: u64,
    /// Blocks where more than this share of transactions follow an earlier one from the same
    /// sender run sequentially: those form chains only one thread can execute.
    pub max_chained_share: f64,
    /// Take the parallel path for every block, even at one thread (tests).
    pub force_parallel: bool,
}

impl ParallelConfig {
    pub fn with_threads(threads: usize) -> Self {
        Self { threads: threads.max(1), min_txs: 8, min_gas: 4_000_000, max_chained_share: 0.6, force_parallel: false }
    }

    /// Forces the parallel path for any block (tests).
    pub fn always_parallel(threads: usize) -> Self {
        Self { threads: threads.max(1), min_txs: 0, min_gas: 0, max_chained_share: 1.0, force_parallel: true }
    }
}

/// Runs blocks on a pool of threads that stays alive across blocks.
pub struct ParallelExecutor {
    config: ParallelConfig,
    pool: rayon::ThreadPool,
}

impl ParallelExecutor {
    pub fn new(config: ParallelConfig) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("coevm-exec-{i}"))
            .build()
            .expect("spawning executor threads");
        Self { config, pool }
    }

    pub fn config(&self) -> &ParallelConfig {
        &self.config
    }

    /// Would this block run in parallel? `gas_hint` is the header's gasUsed when known.
    pub fn goes_parallel(&self, txs: &[TxEnv], gas_hint: Option<u64>) -> bool {
        self.parallel_plan(txs, gas_hint).is_some()
    }

    /// For a block that should run in parallel, each transaction's previous one from the same
    /// sender (see [`previous_same_sender`]); `None` for a block that should run sequentially.
    fn parallel_plan(&self, txs: &[TxEnv], gas_hint: Option<u64>) -> Option<Vec<Option<usize>>> {
        if self.config.force_parallel {
            return Some(previous_same_sender(txs));
        }
        let gas = gas_hint.unwrap_or_else(|| txs.iter().map(|t| t.gas_limit).sum());
        if self.config.threads < 2 || txs.len() < self.config.min_txs.max(2) || gas < self.config.min_gas {
            return None;
        }
        let after = previous_same_sender(txs);
        let chained = after.iter().filter(|p| p.is_some()).count();
        ((chained as f64) <= self.config.max_chained_share * txs.len() as f64).then_some(after)
    }

    /// Executes a block; the result equals [`execute_sequential`]'s.
    pub fn execute(
        &self,
        ctx: &BlockContext,
        txs: &[TxEnv],
        pre: &PreState,
        backend: &dyn Backend,
        gas_hint: Option<u64>,
    ) -> Result<BlockOutcome, ExecError> {
        let Some(after) = self.parallel_plan(txs, gas_hint) else {
            return execute_sequential(ctx, txs, pre);
        };
        let shared = Shared::new(ctx, txs, pre, after);
        self.pool.broadcast(|_| shared.work());
        let commit = shared.commit.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(error) = commit.error {
            return Err(error);
        }
        let mut overlay = shared.overlay.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut stats = commit.stats;
        stats.threads = self.config.threads;
        if !txs.is_empty() {
            // Settle what is still owed to the beneficiary on the backend; a failed device
            // means the CPU does it (the ledger is only cleared on success; the sum is the same).
            let mut ledger = commit.fees;
            let total = match ledger.settle_on(backend) {
                Ok((total, _)) => total,
                Err(e) => {
                    tracing::warn!("fee settlement on {} failed ({e}); settling on CPU", backend.kind());
                    ledger.settle_cpu()
                }
            };
            overlay.credit(pre, ctx.block.beneficiary, total);
        }
        Ok(BlockOutcome { txs: commit.outcomes, state: FinalState::Overlay(overlay), stats })
    }
}

/// A plain value transfer whose only stale read is its recipient's balance commits without
/// re-execution: nothing it did depended on that balance, so the recipient ends at the current
/// balance plus the value. This keeps deposits to one busy address (an exchange's hot wallet)
/// from serialising a block. Conditions: the recipient has no code and is not the sender or the
/// beneficiary, its nonce and code are unchanged, it was and is non-empty (so the gas for
/// creating an account cannot differ), and every other read still holds.
fn lazy_credit(
    result: TxResult,
    reads: &ReadSet,
    tx: &TxEnv,
    overlay: &Overlay,
    pre: &PreState,
    beneficiary: Address,
) -> Option<TxResult> {
    let Ok((exec, mut state)) = result else { return None };
    let to = *tx.kind.to()?;
    if to == tx.caller || to == beneficiary || !exec.is_success() {
        return None;
    }
    let now = overlay.summary(pre, to)?;
    let non_empty = |a: &AccountSummary| !a.balance.is_zero() || a.nonce != 0;
    if now.code_hash != revm::primitives::KECCAK_EMPTY || !non_empty(&now) {
        return None;
    }
    let mut seen_recipient = None;
    for (address, seen) in &reads.accounts {
        if *address == to {
            let seen = (*seen)?;
            if seen.nonce != now.nonce || seen.code_hash != now.code_hash || !non_empty(&seen) {
                return None;
            }
            seen_recipient = Some(seen);
        } else if overlay.summary(pre, *address) != *seen {
            return None;
        }
    }
    if reads.storage.iter().any(|(a, s, v)| overlay.storage(pre, *a, *s) != *v) {
        return None;
    }
    let seen = seen_recipient?;
    let account = state.get_mut(&to)?;
    if account.info.balance != seen.balance + tx.value || !account.storage.is_empty() {
        return None;
    }
    account.info.balance = now.balance + tx.value;
    Some(Ok((exec, state)))
}

/// For each transaction, the index of the previous one from the same sender: it depends on
/// that one's nonce and balance, so running it before that one commits is wasted work.
fn previous_same_sender(txs: &[TxEnv]) -> Vec<Option<usize>> {
    let mut last = revm::primitives::HashMap::<Address, usize>::default();
    txs.iter().enumerate().map(|(i, tx)| last.insert(tx.caller, i)).collect()
}

/// Accounts and slots a transaction read, with the values it saw.
#[derive(Debug, Default)]
struct ReadSet {
    accounts: Vec<(Address, Option<AccountSummary>)>,
    storage: Vec<(Address, U256, U256)>,
}

impl ReadSet {
    fn clear(&mut self) {
        self.accounts.clear();
        self.storage.clear();
    }

    fn reads_account(&self, address: Address) -> bool {
        self.accounts.iter().any(|(a, _)| *a == address)
    }

    fn still_valid(&self, overlay: &Overlay, pre: &PreState) -> bool {
        self.accounts.iter().all(|(a, seen)| overlay.summary(pre, *a) == *seen)
            && self.storage.iter().all(|(a, s, v)| overlay.storage(pre, *a, *s) == *v)
    }
}

fn summary(info: &AccountInfo) -> AccountSummary {
    AccountSummary { balance: info.balance, nonce: info.nonce, code_hash: info.code_hash }
}

/// A transaction's view of the state: committed overlay over the pre-state, reads recorded.
struct TxView<'a> {
    pre: &'a PreState,
    overlay: &'a RwLock<Overlay>,
    reads: ReadSet,
}

fn read_overlay(lock: &RwLock<Overlay>) -> std::sync::RwLockReadGuard<'_, Overlay> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

impl Database for TxView<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        let info = read_overlay(self.overlay).basic(self.pre, address);
        self.reads.accounts.push((address, info.as_ref().map(summary)));
        Ok(info)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<revm::bytecode::Bytecode, Infallible> {
        let code = self.pre.code_by_hash_ref(code_hash)?;
        if !code.is_empty() {
            return Ok(code);
        }
        // Code deployed earlier in this block (accounts normally carry it; this is the rare path).
        let overlay = read_overlay(self.overlay);
        Ok(overlay
            .accounts
            .values()
            .filter_map(|a| a.info.as_ref())
            .find(|i| i.code_hash == code_hash)
            .and_then(|i| i.code.clone())
            .unwrap_or(code))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Infallible> {
        let value = read_overlay(self.overlay).storage(self.pre, address, index);
        self.reads.storage.push((address, index, value));
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Infallible> {
        self.pre.block_hash_ref(number)
    }
}

type ViewEvm<'a> = MainnetEvm<MainnetContext<TxView<'a>>>;
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

fn transact(evm: &mut ViewEvm<'_>, tx: &TxEnv) -> TxResult {
    evm.ctx.set_tx(tx.clone());
    let result = DeferredFeeHandler(std::marker::PhantomData).run(evm);
    let state = evm.finalize();
    result.map(|r| (r, state))
}

/// A speculative execution waiting to be validated.
struct Speculative {
    result: TxResult,
    reads: ReadSet,
}

/// State owned by whichever thread is committing.
struct CommitState {
    next: usize,
    outcomes: Vec<TxOutcome>,
    fees: FeeLedger,
    stats: ExecStats,
    error: Option<ExecError>,
}

struct Shared<'a> {
    ctx: &'a BlockContext,
    txs: &'a [TxEnv],
    pre: &'a PreState,
    overlay: RwLock<Overlay>,
    next_exec: AtomicUsize,
    slots: Vec<Mutex<Option<Speculative>>>,
    /// Previous transaction of the same sender, if any.
    after: Vec<Option<usize>>,
    /// Transactions sent from or to the beneficiary: they need the settled fees, so only the
    /// committer runs them.
    touches_beneficiary: Vec<bool>,
    /// Transactions left for the committer because their sender's previous one had not committed.
    deferred: Vec<AtomicBool>,
    /// How many transactions are committed.
    committed: AtomicUsize,
    /// Set when speculation keeps failing: the rest of the block goes to the committer alone.
    give_up_speculation: AtomicBool,
    commit: Mutex<CommitState>,
    done: AtomicBool,
}

impl<'a> Shared<'a> {
    fn new(ctx: &'a BlockContext, txs: &'a [TxEnv], pre: &'a PreState, after: Vec<Option<usize>>) -> Self {
        Shared {
            ctx,
            txs,
            pre,
            overlay: RwLock::new(Overlay::with_capacity(txs.len() * 2 + 16)),
            next_exec: AtomicUsize::new(0),
            slots: txs.iter().map(|_| Mutex::new(None)).collect(),
            after,
            touches_beneficiary: txs
                .iter()
                .map(|t| t.caller == ctx.block.beneficiary || t.kind.to() == Some(&ctx.block.beneficiary))
                .collect(),
            deferred: txs.iter().map(|_| AtomicBool::new(false)).collect(),
            committed: AtomicUsize::new(0),
            give_up_speculation: AtomicBool::new(false),
            commit: Mutex::new(CommitState {
                next: 0,
                outcomes: Vec::with_capacity(txs.len()),
                fees: FeeLedger::default(),
                stats: ExecStats::default(),
                error: None,
            }),
            done: AtomicBool::new(txs.is_empty()),
        }
    }

    fn new_evm(&self) -> ViewEvm<'_> {
        let view = TxView { pre: self.pre, overlay: &self.overlay, reads: ReadSet::default() };
        Context::mainnet()
            .with_db(view)
            .with_cfg(self.ctx.cfg.clone())
            .with_block(self.ctx.block.clone())
            .build_mainnet()
    }

    /// One thread's loop: commit what is ready, else execute the next transaction.
    fn work(&self) {
        let mut evm = self.new_evm();
        while !self.done.load(Ordering::Acquire) {
            if let Ok(mut commit) = self.commit.try_lock() {
                self.commit_ready(&mut commit, &mut evm);
                if self.done.load(Ordering::Acquire) {
                    break;
                }
            }
            let index = self.next_exec.fetch_add(1, Ordering::AcqRel);
            if index < self.txs.len() {
                let waits = self.after[index].is_some_and(|prev| prev >= self.committed.load(Ordering::Acquire));
                if waits || self.touches_beneficiary[index] || self.give_up_speculation.load(Ordering::Relaxed) {
                    self.deferred[index].store(true, Ordering::Release);
                    continue;
                }
                evm.ctx.journaled_state.database.reads.clear();
                let result = transact(&mut evm, &self.txs[index]);
                let reads = std::mem::take(&mut evm.ctx.journaled_state.database.reads);
                *self.slots[index].lock().unwrap_or_else(|p| p.into_inner()) = Some(Speculative { result, reads });
            } else {
                std::hint::spin_loop();
                std::thread::yield_now();
            }
        }
    }

    /// Commits, in block order, every transaction whose speculative result is ready.
    fn commit_ready(&self, commit: &mut CommitState, evm: &mut ViewEvm<'_>) {
        let beneficiary = self.ctx.block.beneficiary;
        while commit.next < self.txs.len() {
            let index = commit.next;
            let tx = &self.txs[index];
            let speculative = self.slots[index].lock().unwrap_or_else(|p| p.into_inner()).take();
            let result = match speculative {
                Some(spec) => {
                    if spec.reads.reads_account(beneficiary) && !commit.fees.is_empty() {
                        self.settle(commit);
                    }
                    let overlay = read_overlay(&self.overlay);
                    if spec.reads.still_valid(&overlay, self.pre) {
                        spec.result
                    } else if let Some(fixed) =
                        lazy_credit(spec.result, &spec.reads, tx, &overlay, self.pre, beneficiary)
                    {
                        commit.stats.lazy_credits += 1;
                        fixed
                    } else {
                        drop(overlay);
                        commit.stats.reexecutions += 1;
                        self.reexecute(commit, evm, index)
                    }
                }
                // Left for us: its sender's previous transaction is now committed.
                None if self.deferred[index].load(Ordering::Acquire) => {
                    commit.stats.deferred += 1;
                    self.reexecute(commit, evm, index)
                }
                None => return, // another thread is executing it
            };
            match result {
                Ok((result, state)) => {
                    commit.fees.push(self.ctx.coinbase_gas_price(tx), result.tx_gas_used());
                    self.overlay.write().unwrap_or_else(|p| p.into_inner()).commit(state);
                    commit.outcomes.push(TxOutcome::from_result(&result));
                }
                Err(e) => {
                    commit.error = Some(ExecError { index, message: e.to_string() });
                    self.done.store(true, Ordering::Release);
                    return;
                }
            }
            commit.next += 1;
            self.committed.store(commit.next, Ordering::Release);
            // Mostly re-executing: speculation costs more than it saves on this block.
            if commit.next >= 16
                && commit.stats.reexecutions * 3 > commit.next
                && !self.give_up_speculation.swap(true, Ordering::Relaxed)
            {
                commit.stats.gave_up_speculation = true;
            }
        }
        self.done.store(true, Ordering::Release);
    }

    /// Runs `tx` on the committed state (exact, since only the committer writes it).
    fn reexecute(&self, commit: &mut CommitState, evm: &mut ViewEvm<'_>, index: usize) -> TxResult {
        let tx = &self.txs[index];
        if self.touches_beneficiary[index] && !commit.fees.is_empty() {
            self.settle(commit);
        }
        evm.ctx.journaled_state.database.reads.clear();
        let result = transact(evm, tx);
        if evm.ctx.journaled_state.database.reads.reads_account(self.ctx.block.beneficiary) && !commit.fees.is_empty() {
            // It saw the beneficiary without the fees owed: settle them and run it again.
            self.settle(commit);
            evm.ctx.journaled_state.database.reads.clear();
            return transact(evm, tx);
        }
        result
    }

    /// Credits the deferred fees to the beneficiary now (someone is about to read it).
    fn settle(&self, commit: &mut CommitState) {
        let total = commit.fees.settle_cpu();
        self.overlay.write().unwrap_or_else(|p| p.into_inner()).credit(self.pre, self.ctx.block.beneficiary, total);
        commit.stats.fee_settlements += 1;
    }
}
