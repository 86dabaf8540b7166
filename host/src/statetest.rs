//! Ethereum GeneralStateTests conformance (`coevm statetest`).
//!
//! Each test file (the `ethereum/tests` JSON format, parsed with `revm::statetest_types`) holds
//! units; each unit one pre-state, one parametrised transaction and, per fork, the expected
//! post-state root and logs hash of every (data, gas, value) combination. For every such entry
//! whose fork revm 43 supports, the transaction runs through coevm's host path:
//!
//! - the pre-state is a [`PreState`] and the fork, block and transaction come from the test
//!   into a [`BlockContext`] and a `TxEnv`;
//! - the transaction executes on revm against the [`PreState`] and its state is committed into
//!   coevm's [`Overlay`] (the committer's rules), after EIP-161's rule (Spurious Dragon on:
//!   touched accounts left empty are deleted), which revm leaves to the database;
//! - the same transaction also runs through coevm's sequential oracle ([`execute_sequential`])
//!   and its parallel executor, forced onto its parallel path,
//!   which must agree on the outcome and on every state change but those deletions;
//! - the post-state roots and logs hashes of all entries of a file are computed together on the
//!   [`Backend`] ([`state_roots`]): one keccak256 batch for every secure-trie key and log list,
//!   one [`trie_roots`] call for every storage trie, one for every account trie.
//!
//! Invalid transactions must be expected (`expectException`); the post-state is then the
//! pre-state with the beneficiary touched ([`rejected_post`]), and its root is checked too.
//! Known slow files are skipped unless asked for. On a mismatch, the entry is rerun on plain revm (`revm::database::State`) with a
//! reference trie (alloy-trie's `HashBuilder`) to name the first account or slot where coevm's
//! post-state differs, or to say that the post-states agree and the fault is in the hashing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_rlp::{Encodable, Header};
use alloy_trie::{HashBuilder, Nibbles, TrieAccount};
use coevm_kernels::{Backend, BackendError, MessageBatch};
use revm::bytecode::Bytecode;
use revm::context::result::ExecutionResult;
use revm::context::{CfgEnv, TxEnv};
use revm::database::State;
use revm::database_interface::WrapDatabaseRef;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, B256, KECCAK_EMPTY, Log, U256, keccak256};
use revm::state::AccountInfo;
use revm::statetest_types::{SpecName, Test, TestSuite, TestUnit};
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};

use crate::env::BlockContext;
use crate::exec::overlay::Overlay;
use crate::exec::{ParallelConfig, ParallelExecutor, StateChanges, TxOutcome, execute_sequential};
use crate::state::PreState;
use crate::trie::{EMPTY_ROOT, TrieWork, trie_roots};

/// Files revm 43 cannot run as written, with the reason (the same set `revme statetest` skips).
const UNSUPPORTED_FILES: &[(&str, &str)] = &[
    (
        "ValueOverflow.json",
        "transaction value wider than 256 bits (tests RLP decoding, which a typed state test cannot express)",
    ),
    (
        "ValueOverflowParis.json",
        "transaction value wider than 256 bits (tests RLP decoding, which a typed state test cannot express)",
    ),
    ("InitCollision.json", "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43"),
    ("InitCollisionParis.json", "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43"),
    (
        "RevertInCreateInInit.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "RevertInCreateInInit_Paris.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "RevertInCreateInInitCreate2.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "RevertInCreateInInitCreate2Paris.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "create2collisionStorage.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "create2collisionStorageParis.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "dynamicAccountOverwriteEmpty.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
    (
        "dynamicAccountOverwriteEmpty_Paris.json",
        "EIP-7610 (no deployment onto an address with storage) is not implemented by revm 43",
    ),
];

/// Files that pass but take minutes (each of loopMul's 18 entries runs ~3 s of 256-bit
/// multiplications, twice): skipped unless asked for, as `revme statetest` skips them.
const SLOW_FILES: &[&str] =
    &["loopMul.json", "Call50000_sha256.json", "static_Call50000_sha256.json", "CALLBlake2f_MaxRounds.json"];

const SLOW_REASON: &str = "slow (minutes of execution; revme skips it too): run with --include-slow";

/// Whether a file is one of the known slow ones.
pub fn slow_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| SLOW_FILES.contains(&n))
}

/// The reason `revm 43` cannot run a file, if it is one of the known ones.
pub fn unsupported_file(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    UNSUPPORTED_FILES.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}

/// How an entry (or a file) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One post entry: a (fork, data, gas, value) combination of one test unit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EntryReport {
    /// The test unit's name (a file may hold several).
    pub test: String,
    /// The fork as the file names it.
    pub fork: String,
    /// Position in the fork's list of post entries.
    pub index: usize,
    pub data: usize,
    pub gas: usize,
    pub value: usize,
    pub status: Status,
    /// Why the entry failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Chronological rank of the fork (for summaries).
    #[serde(skip)]
    pub fork_rank: u8,
}

impl EntryReport {
    /// `test [fork #index d g v]`, naming the entry in messages.
    pub fn label(&self) -> String {
        format!("{} [{} #{} d{} g{} v{}]", self.test, self.fork, self.index, self.data, self.gas, self.value)
    }
}

/// Everything about one file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub status: Status,
    /// Why the whole file failed (unreadable, not a state test, backend error) or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub entries: Vec<EntryReport>,
    /// Hashing sent to the backend for this file.
    pub hashing: HashWork,
    pub elapsed_ms: f64,
}

impl FileReport {
    fn whole_file(path: &Path, status: Status, reason: String, started: Instant) -> Self {
        FileReport {
            path: path.display().to_string(),
            status,
            reason: Some(reason),
            entries: Vec::new(),
            hashing: HashWork::default(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        }
    }

    pub fn count(&self, status: Status) -> usize {
        self.entries.iter().filter(|e| e.status == status).count()
    }

    /// Every failure of the file, one line each, naming file, test, fork and index.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.status == Status::Fail
            && let Some(reason) = &self.reason
        {
            out.push(format!("{}: {reason}", self.path));
        }
        for e in self.entries.iter().filter(|e| e.status == Status::Fail) {
            out.push(format!("{}: {}: {}", self.path, e.label(), e.reason.as_deref().unwrap_or("failed")));
        }
        out
    }
}

/// Pass/fail/skip counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip
    }
}

/// Counts for one fork.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ForkCounts {
    pub fork: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Totals over a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub files: Counts,
    pub entries: Counts,
    /// Per fork, oldest first.
    pub forks: Vec<ForkCounts>,
    /// Skipped entries and files by reason.
    pub skip_reasons: BTreeMap<String, usize>,
    pub hashing: HashWork,
}

impl Summary {
    pub fn from_reports(reports: &[FileReport]) -> Self {
        let mut s = Summary::default();
        let mut forks: BTreeMap<(u8, String), Counts> = BTreeMap::new();
        for r in reports {
            s.files.add(r.status);
            if r.status == Status::Skip
                && r.entries.is_empty()
                && let Some(reason) = &r.reason
            {
                *s.skip_reasons.entry(format!("file: {reason}")).or_default() += 1;
            }
            s.hashing.add(&r.hashing);
            for e in &r.entries {
                s.entries.add(e.status);
                forks.entry((e.fork_rank, e.fork.clone())).or_default().add(e.status);
                if e.status == Status::Skip
                    && let Some(reason) = &e.reason
                {
                    *s.skip_reasons.entry(reason.clone()).or_default() += 1;
                }
            }
        }
        s.forks = forks.into_iter().map(|((_, fork), counts)| ForkCounts { fork, counts }).collect();
        s
    }

    /// No file and no entry failed.
    pub fn passed(&self) -> bool {
        self.files.fail == 0 && self.entries.fail == 0
    }
}

/// Hashing a run sent to the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HashWork {
    /// keccak256 batches of secure-trie keys and logs (one per file).
    pub key_batches: usize,
    pub keys: usize,
    /// Trie node batches (storage and account tries, one per node height).
    pub node_batches: usize,
    pub nodes: usize,
}

impl HashWork {
    fn add(&mut self, o: &HashWork) {
        self.key_batches += o.key_batches;
        self.keys += o.keys;
        self.node_batches += o.node_batches;
        self.nodes += o.nodes;
    }

    fn add_trie(&mut self, w: TrieWork) {
        self.node_batches += w.batches;
        self.nodes += w.hashes;
    }
}

/// One account of a post-state, as the state trie sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostAccount {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
    /// Non-zero slots only.
    pub storage: BTreeMap<U256, U256>,
}

impl Default for PostAccount {
    fn default() -> Self {
        PostAccount { nonce: 0, balance: U256::ZERO, code_hash: KECCAK_EMPTY, storage: BTreeMap::new() }
    }
}

/// A whole world state, for roots and comparisons.
pub type PostState = BTreeMap<Address, PostAccount>;

/// The test's pre-state as a [`PostState`].
pub fn unit_state(unit: &TestUnit) -> PostState {
    unit.pre
        .iter()
        .map(|(address, a)| {
            let account = PostAccount {
                nonce: a.nonce,
                balance: a.balance,
                code_hash: if a.code.is_empty() { KECCAK_EMPTY } else { keccak256(&a.code) },
                storage: a.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*k, *v)).collect(),
            };
            (*address, account)
        })
        .collect()
}

/// The test's pre-state as coevm's [`PreState`] database.
pub fn unit_pre_state(unit: &TestUnit) -> PreState {
    PreState::from_parts(
        unit.pre.iter().map(|(address, a)| {
            let (code_hash, code) = if a.code.is_empty() {
                (KECCAK_EMPTY, None)
            } else {
                let code =
                    Bytecode::new_raw_checked(a.code.clone()).unwrap_or_else(|_| Bytecode::new_legacy(a.code.clone()));
                (keccak256(&a.code), Some(code))
            };
            let info = AccountInfo { balance: a.balance, nonce: a.nonce, code_hash, code, ..Default::default() };
            (*address, info, a.storage.iter().map(|(k, v)| (*k, *v)).collect())
        }),
        BTreeMap::new(),
    )
}

/// `base` with `changes` applied.
pub fn apply_changes(base: &PostState, changes: &StateChanges) -> PostState {
    let mut post = base.clone();
    for (address, change) in &changes.0 {
        match &change.account {
            None => {
                post.remove(address);
            }
            Some(summary) => {
                let account = post.entry(*address).or_default();
                account.nonce = summary.nonce;
                account.balance = summary.balance;
                account.code_hash = summary.code_hash;
                for (slot, value) in &change.storage {
                    if value.is_zero() {
                        account.storage.remove(slot);
                    } else {
                        account.storage.insert(*slot, *value);
                    }
                }
            }
        }
    }
    post
}

/// The first account or slot where two post-states differ, in words; `None` if they are equal.
pub fn first_state_difference(ours: &PostState, reference: &PostState) -> Option<String> {
    let addresses: std::collections::BTreeSet<&Address> = ours.keys().chain(reference.keys()).collect();
    for address in addresses {
        let (a, b) = match (ours.get(address), reference.get(address)) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => {
                return Some(format!(
                    "account {address} exists in coevm's post-state (nonce {}, balance {}, {} slots) but not in the reference",
                    a.nonce,
                    a.balance,
                    a.storage.len()
                ));
            }
            (None, Some(b)) => {
                return Some(format!(
                    "account {address} is missing from coevm's post-state (reference: nonce {}, balance {}, {} slots)",
                    b.nonce,
                    b.balance,
                    b.storage.len()
                ));
            }
            (None, None) => continue,
        };
        if a.nonce != b.nonce {
            return Some(format!("account {address}: nonce {} in coevm, {} in the reference", a.nonce, b.nonce));
        }
        if a.balance != b.balance {
            return Some(format!("account {address}: balance {} in coevm, {} in the reference", a.balance, b.balance));
        }
        if a.code_hash != b.code_hash {
            return Some(format!(
                "account {address}: code hash {} in coevm, {} in the reference",
                a.code_hash, b.code_hash
            ));
        }
        let slots: std::collections::BTreeSet<&U256> = a.storage.keys().chain(b.storage.keys()).collect();
        for slot in slots {
            let (x, y) =
                (a.storage.get(slot).copied().unwrap_or_default(), b.storage.get(slot).copied().unwrap_or_default());
            if x != y {
                return Some(format!("account {address} slot {slot:#x}: {x:#x} in coevm, {y:#x} in the reference"));
            }
        }
    }
    None
}

fn list(out: &mut Vec<u8>, payload: &[u8]) {
    Header { list: true, payload_length: payload.len() }.encode(out);
    out.extend_from_slice(payload);
}

/// `rlp(logs)`: a list of `[address, [topics], data]`.
pub fn logs_rlp(logs: &[Log]) -> Vec<u8> {
    let mut payload = Vec::new();
    for log in logs {
        let mut p = Vec::with_capacity(log.data.data.len() + 32 * log.topics().len() + 32);
        log.address.encode(&mut p);
        let mut topics = Vec::with_capacity(33 * log.topics().len());
        for t in log.topics() {
            t.encode(&mut topics);
        }
        list(&mut p, &topics);
        log.data.data.encode(&mut p);
        list(&mut payload, &p);
    }
    let mut out = Vec::with_capacity(payload.len() + 5);
    list(&mut out, &payload);
    out
}

fn account_rlp(account: &PostAccount, storage_root: B256) -> Vec<u8> {
    let mut p = Vec::with_capacity(110);
    account.nonce.encode(&mut p);
    account.balance.encode(&mut p);
    storage_root.encode(&mut p);
    account.code_hash.encode(&mut p);
    let mut out = Vec::with_capacity(p.len() + 2);
    list(&mut out, &p);
    out
}

fn value_rlp(value: &U256) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    value.encode(&mut out);
    out
}

/// State roots and logs hashes of many post-states at once, all hashing on `backend`: one
/// keccak256 batch for every secure-trie key (keccak(address), keccak(slot), deduplicated) and
/// every `rlp(logs)`, one [`trie_roots`] call for all storage tries, one for all account tries.
pub fn state_roots(
    backend: &dyn Backend,
    items: &[(&PostState, &[Log])],
) -> Result<(Vec<(B256, B256)>, HashWork), BackendError> {
    let mut work = HashWork::default();
    if items.is_empty() {
        return Ok((Vec::new(), work));
    }
    let mut batch = MessageBatch::new();
    let mut address_key: HashMap<Address, usize> = HashMap::new();
    let mut slot_key: HashMap<U256, usize> = HashMap::new();
    for (post, _) in items {
        for (address, account) in post.iter() {
            address_key.entry(*address).or_insert_with(|| batch.push(address.as_slice()));
            for slot in account.storage.keys() {
                slot_key.entry(*slot).or_insert_with(|| batch.push(&slot.to_be_bytes::<32>()));
            }
        }
    }
    let logs_start = batch.len();
    for (_, logs) in items {
        batch.push(&logs_rlp(logs));
    }
    let hashes = backend.keccak256(&batch)?;
    if hashes.len() != batch.len() {
        return Err(BackendError::DeviceLost {
            operation: "keccak256",
            reason: format!("{} digests for {} messages", hashes.len(), batch.len()),
        });
    }
    work.key_batches = 1;
    work.keys = batch.len();

    // Every non-empty storage trie of every post-state, in one call.
    let mut storage_tries = Vec::new();
    for (post, _) in items {
        for account in post.values().filter(|a| !a.storage.is_empty()) {
            storage_tries.push(
                account
                    .storage
                    .iter()
                    .map(|(slot, value)| (hashes[slot_key[slot]].to_vec(), value_rlp(value)))
                    .collect(),
            );
        }
    }
    let (storage_roots, w) = trie_roots(backend, &storage_tries)?;
    work.add_trie(w);

    // Then every account trie.
    let mut next_storage = storage_roots.iter();
    let mut account_tries = Vec::with_capacity(items.len());
    for (post, _) in items {
        let mut trie = Vec::with_capacity(post.len());
        for (address, account) in post.iter() {
            let storage_root = if account.storage.is_empty() {
                EMPTY_ROOT
            } else {
                *next_storage.next().ok_or_else(|| BackendError::DeviceLost {
                    operation: "trie_roots",
                    reason: "fewer storage roots than storage tries".into(),
                })?
            };
            trie.push((hashes[address_key[address]].to_vec(), account_rlp(account, storage_root)));
        }
        account_tries.push(trie);
    }
    let (roots, w) = trie_roots(backend, &account_tries)?;
    work.add_trie(w);
    let out = roots.into_iter().zip(&hashes[logs_start..]).map(|(root, logs)| (root, *logs)).collect();
    Ok((out, work))
}

/// The state root by alloy-trie's `HashBuilder` and revm's keccak (the reference).
pub fn reference_state_root(post: &PostState) -> B256 {
    fn root(mut leaves: Vec<(B256, Vec<u8>)>) -> B256 {
        leaves.sort_unstable_by_key(|(key, _)| *key);
        let mut hb = HashBuilder::default();
        for (key, value) in &leaves {
            hb.add_leaf(Nibbles::unpack(key), value);
        }
        hb.root()
    }
    root(
        post.iter()
            .map(|(address, account)| {
                let storage_root = root(
                    account
                        .storage
                        .iter()
                        .map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), alloy_rlp::encode(value)))
                        .collect(),
                );
                let trie_account = TrieAccount::new(account.nonce, account.balance, storage_root, account.code_hash);
                (keccak256(address), alloy_rlp::encode(trie_account))
            })
            .collect(),
    )
}

/// What coevm's host path made of one transaction.
#[derive(Clone, Debug)]
pub struct HostExecution {
    /// The outcome, or why the transaction is invalid.
    pub result: Result<TxOutcome, String>,
    /// Net changes against the pre-state (empty for an invalid transaction).
    pub changes: StateChanges,
    /// Accounts EIP-161 deleted (touched and left empty).
    pub eip161_deleted: Vec<Address>,
}

/// Runs one transaction through coevm's host path (see the module documentation). An `Err` is a
/// disagreement between coevm's executors, not an invalid transaction.
pub fn execute_host(ctx: &BlockContext, tx: &TxEnv, pre: &Arc<PreState>) -> Result<HostExecution, String> {
    let mut evm = Context::mainnet()
        .with_db(WrapDatabaseRef(&**pre))
        .with_cfg(ctx.cfg.clone())
        .with_block(ctx.block.clone())
        .build_mainnet();
    let host = match evm.transact(tx.clone()) {
        Err(e) => {
            HostExecution { result: Err(e.to_string()), changes: StateChanges::default(), eip161_deleted: Vec::new() }
        }
        Ok(out) => {
            let mut state = out.state;
            let mut deleted = Vec::new();
            // revm's journal already settled the pre-Spurious-Dragon rules (it keeps touched
            // empty accounts); from Spurious Dragon on, the database deletes them.
            if ctx.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) {
                for (address, account) in state.iter_mut() {
                    if account.is_touched()
                        && !account.is_selfdestructed()
                        && !account.is_created()
                        && account.is_empty()
                    {
                        account.mark_selfdestruct();
                        deleted.push(*address);
                    }
                }
            }
            deleted.sort_unstable();
            let mut overlay = Overlay::default();
            overlay.commit(state);
            HostExecution {
                result: Ok(TxOutcome::from_result(out.result)),
                changes: overlay.changes(pre),
                eip161_deleted: deleted,
            }
        }
    };
    cross_check_sequential(ctx, tx, pre, &host)?;
    Ok(host)
}

/// The parallel executor with its parallel path forced: on a one-transaction block that is the
/// committer executing through its own view of the state (deferred beneficiary fees, accounts
/// without code served with the thread's own empty code), which must match the oracle exactly
/// on every edge case the state tests hold. One thread: the state tests already run on a pool,
/// and a thread of one rayon pool waiting for another pool's helpers would run further test
/// files on its stack meanwhile.
fn parallel_executor() -> &'static ParallelExecutor {
    static EXECUTOR: std::sync::OnceLock<ParallelExecutor> = std::sync::OnceLock::new();
    EXECUTOR.get_or_init(|| ParallelExecutor::new(ParallelConfig::always_parallel(1)))
}

/// coevm's sequential oracle must agree with [`execute_host`], except on EIP-161 deletions
/// (its `CacheDB` keeps touched empty accounts); its parallel executor must agree with the
/// oracle exactly.
fn cross_check_sequential(
    ctx: &BlockContext,
    tx: &TxEnv,
    pre: &Arc<PreState>,
    host: &HostExecution,
) -> Result<(), String> {
    let txs: Arc<[TxEnv]> = Arc::new([tx.clone()]);
    let oracle = execute_sequential(ctx, &txs, pre);
    let parallel = parallel_executor().execute(ctx, &txs, pre, &coevm_kernels::cpu::CpuBackend::new(1), None);
    let differs = "coevm's parallel executor disagrees with its sequential oracle";
    match (&oracle, &parallel) {
        (Err(_), Err(_)) => {}
        (Ok(seq), Ok(par)) => {
            if let Some(d) = par.first_difference(seq, pre) {
                return Err(format!("{differs}: {d}"));
            }
        }
        (Ok(_), Err(e)) => return Err(format!("{differs}: it rejected the transaction ({e})")),
        (Err(e), Ok(_)) => return Err(format!("{differs}: it accepted a transaction the oracle rejected ({e})")),
    }
    let what = "coevm's sequential oracle (execute_sequential) disagrees with the host path";
    match (&host.result, oracle) {
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => Err(format!("{what}: it rejected the transaction ({e})")),
        (Err(e), Ok(_)) => Err(format!("{what}: it accepted a transaction the host path rejected ({e})")),
        (Ok(outcome), Ok(block)) => {
            if block.txs.first() != Some(outcome) {
                return Err(format!("{what}: outcome {:?} vs {outcome:?}", block.txs.first()));
            }
            let strip = |c: &StateChanges| {
                let mut c = c.clone();
                for address in &host.eip161_deleted {
                    c.0.remove(address);
                }
                c
            };
            match strip(&block.changes(pre)).first_difference(&strip(&host.changes)) {
                None => Ok(()),
                Some(d) => Err(format!("{what}: {d}")),
            }
        }
    }
}

/// Plain revm on revm's own `State`, and the alloy-trie reference root: the diagnosis of a
/// mismatch.
struct Reference {
    result: Result<ExecutionResult, String>,
    post: PostState,
    root: B256,
    logs_hash: B256,
}

fn reference_run(unit: &TestUnit, ctx: &BlockContext, tx: &TxEnv) -> Reference {
    let mut state = State::builder().with_cached_prestate(unit.state()).with_bundle_update().build();
    let result = {
        let mut evm = Context::mainnet()
            .with_db(&mut state)
            .with_cfg(ctx.cfg.clone())
            .with_block(ctx.block.clone())
            .build_mainnet();
        evm.transact_commit(tx.clone()).map_err(|e| e.to_string())
    };
    let post: PostState = state
        .cache
        .trie_account()
        .into_iter()
        .map(|(address, plain)| {
            let code_hash = if plain.info.code_hash.is_zero() { KECCAK_EMPTY } else { plain.info.code_hash };
            let account = PostAccount {
                nonce: plain.info.nonce,
                balance: plain.info.balance,
                code_hash,
                storage: plain.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*k, *v)).collect(),
            };
            (address, account)
        })
        .collect();
    let logs: &[Log] = result.as_ref().map(|r| r.logs()).unwrap_or_default();
    let mut logs_rlp = Vec::new();
    alloy_rlp::encode_list(logs, &mut logs_rlp);
    let logs_hash = keccak256(logs_rlp);
    let root = reference_state_root(&post);
    Reference { result, post, root, logs_hash }
}

fn diagnose_state(ours: &PostState, our_root: B256, expected: B256, reference: &Reference) -> String {
    let revm_verdict = if reference.root == expected {
        format!("plain revm's post-state has the expected root (alloy-trie {})", reference.root)
    } else {
        format!("plain revm's post-state root (alloy-trie) is {}, also not the expected one", reference.root)
    };
    match first_state_difference(ours, &reference.post) {
        Some(d) => format!("coevm's post-state differs from plain revm's: {d}; {revm_verdict}"),
        None if reference.root == expected => format!(
            "coevm's post-state equals plain revm's, whose alloy-trie root is the expected one: the fault is in the \
             trie hashing (coevm computed {our_root})"
        ),
        None if reference.root == our_root => format!(
            "coevm's post-state equals plain revm's and alloy-trie computes the same root {our_root}: both executions \
             disagree with the expected {expected}"
        ),
        None => format!(
            "coevm's post-state equals plain revm's but coevm's trie gives {our_root}, alloy-trie {}: the fault is \
             in the trie hashing",
            reference.root
        ),
    }
}

fn diagnose_logs(our_logs: &[Log], our_hash: B256, expected: B256, reference: &Reference) -> String {
    let ref_logs: &[Log] = reference.result.as_ref().map(|r| r.logs()).unwrap_or_default();
    if ref_logs.len() != our_logs.len() {
        return format!("coevm emitted {} logs, plain revm {}", our_logs.len(), ref_logs.len());
    }
    if let Some(i) = our_logs.iter().zip(ref_logs).position(|(a, b)| a != b) {
        return format!("log {i} differs from plain revm's: {:?} vs {:?}", our_logs[i], ref_logs[i]);
    }
    if reference.logs_hash == expected {
        format!(
            "the logs equal plain revm's, whose hash is the expected one: the fault is in the hashing (coevm {our_hash})"
        )
    } else if reference.logs_hash == our_hash {
        format!(
            "the logs equal plain revm's and hash to the same {our_hash}: both disagree with the expected {expected}"
        )
    } else {
        format!("the logs equal plain revm's, but hash to {our_hash} in coevm and {} in revm", reference.logs_hash)
    }
}

/// Chronological rank of a fork name (for summaries).
fn fork_rank(spec: &SpecName) -> u8 {
    match spec {
        SpecName::Constantinople | SpecName::ByzantiumToConstantinopleAt5 => SpecId::PETERSBURG as u8,
        SpecName::Unknown => u8::MAX,
        other => other.to_spec_id() as u8,
    }
}

/// Why revm 43 cannot run a fork, if it cannot.
fn unsupported_fork(spec: &SpecName) -> Option<&'static str> {
    match spec {
        SpecName::Constantinople | SpecName::ByzantiumToConstantinopleAt5 => {
            Some("fork Constantinople (pre-Petersburg) is not supported by revm 43")
        }
        SpecName::Unknown => Some("fork unknown to revm 43"),
        _ => None,
    }
}

/// The fork's configuration for a unit, as `revme statetest` builds it.
fn context_for(unit: &TestUnit, spec: SpecId) -> Result<BlockContext, String> {
    if let Some(excess) = unit.env.current_excess_blob_gas
        && excess > U256::from(u64::MAX)
    {
        return Err(format!("currentExcessBlobGas {excess} does not fit in 64 bits"));
    }
    let mut cfg = CfgEnv::new_with_spec(spec);
    // (revm prices blob gas whenever the test gives an excess, whatever its fork.)
    if let Some(excess) = unit.env.current_excess_blob_gas
        && !crate::env::blob_gas_price_fits(excess.to::<u64>(), cfg.blob_base_fee_update_fraction())
    {
        return Err(format!("currentExcessBlobGas {excess} is too large: its blob gas price overflows"));
    }
    cfg.chain_id = unit.env.current_chain_id.unwrap_or(U256::ONE).try_into().unwrap_or(1);
    cfg.set_max_blobs_per_tx(if spec.is_enabled_in(SpecId::PRAGUE) && !spec.is_enabled_in(SpecId::OSAKA) {
        9
    } else {
        6
    });
    let block = unit.block_env(&mut cfg);
    Ok(BlockContext { spec, cfg, block })
}

/// The entry's transaction: `Ok(Ok(tx))`, `Ok(Err(why))` when it cannot be a valid transaction
/// (fields out of range, no key), `Err` when the test itself is malformed (indexes out of range).
fn build_tx(unit: &TestUnit, test: &Test) -> Result<Result<TxEnv, String>, String> {
    let t = &unit.transaction;
    let i = &test.indexes;
    for (what, index, len) in
        [("data", i.data, t.data.len()), ("gasLimit", i.gas, t.gas_limit.len()), ("value", i.value, t.value.len())]
    {
        if index >= len {
            return Err(format!("{what} index {index} out of range ({len} entries)"));
        }
    }
    let too_wide = |v: Option<U256>| v.is_some_and(|v| v > U256::from(u128::MAX));
    if too_wide(t.max_priority_fee_per_gas) {
        return Ok(Err("maxPriorityFeePerGas wider than 128 bits".into()));
    }
    if too_wide(t.max_fee_per_blob_gas) {
        return Ok(Err("maxFeePerBlobGas wider than 128 bits".into()));
    }
    Ok(test.tx_env(unit).map_err(|e| e.to_string()))
}

/// An entry that ran (or was rejected), waiting for its roots.
struct Executed<'a> {
    report: usize,
    unit: &'a TestUnit,
    test: &'a Test,
    ctx: BlockContext,
    tx: Option<TxEnv>,
    /// `Ok(outcome)` or why the transaction is invalid.
    result: Result<TxOutcome, String>,
    post: PostState,
}

/// Runs every entry of one file on `backend`. Never panics on bad input: an unreadable or
/// malformed file is a failed [`FileReport`] naming it.
/// Known slow files are skipped unless `include_slow`.
pub fn run_file(path: &Path, backend: &dyn Backend, include_slow: bool) -> FileReport {
    let started = Instant::now();
    if let Some(why) = unsupported_file(path) {
        return FileReport::whole_file(path, Status::Skip, why.to_string(), started);
    }
    if !include_slow && slow_file(path) {
        return FileReport::whole_file(path, Status::Skip, SLOW_REASON.to_string(), started);
    }
    match std::fs::read(path) {
        Ok(bytes) => run_bytes(path, &bytes, backend, started),
        Err(e) => FileReport::whole_file(path, Status::Fail, format!("cannot read: {e}"), started),
    }
}

/// Runs a state-test file given as bytes; `path` names it in the report.
pub fn run_json(path: &Path, bytes: &[u8], backend: &dyn Backend) -> FileReport {
    run_bytes(path, bytes, backend, Instant::now())
}

fn run_bytes(path: &Path, bytes: &[u8], backend: &dyn Backend, started: Instant) -> FileReport {
    let suite: TestSuite = match serde_json::from_slice(bytes) {
        Ok(s) => s,
        Err(e) => {
            return FileReport::whole_file(path, Status::Fail, format!("not a GeneralStateTests file: {e}"), started);
        }
    };
    if suite.0.is_empty() {
        return FileReport::whole_file(path, Status::Fail, "no tests in the file".into(), started);
    }
    let mut entries = Vec::new();
    let mut pending = Vec::new();
    let units: Vec<(&TestUnit, Arc<PreState>, PostState)> =
        suite.0.values().map(|unit| (unit, Arc::new(unit_pre_state(unit)), unit_state(unit))).collect();
    for ((name, _), (unit_index, (unit, _, _))) in suite.0.iter().zip(units.iter().enumerate()) {
        for (spec_name, tests) in &unit.post {
            let fork = format!("{spec_name:?}");
            let rank = fork_rank(spec_name);
            let ctx: Result<BlockContext, (Status, String)> = match unsupported_fork(spec_name) {
                Some(why) => Err((Status::Skip, why.to_string())),
                None => context_for(unit, spec_name.to_spec_id())
                    .map_err(|e| (Status::Fail, format!("bad environment: {e}"))),
            };
            for (index, test) in tests.iter().enumerate() {
                let report = entries.len();
                let mut entry = EntryReport {
                    test: name.clone(),
                    fork: fork.clone(),
                    index,
                    data: test.indexes.data,
                    gas: test.indexes.gas,
                    value: test.indexes.value,
                    status: Status::Pass,
                    reason: None,
                    fork_rank: rank,
                };
                let step = ctx.as_ref().map_err(Clone::clone).and_then(|ctx| {
                    let tx = build_tx(unit, test).map_err(|e| (Status::Fail, format!("malformed test: {e}")))?;
                    Ok((ctx.clone(), tx))
                });
                match step {
                    Ok((ctx, tx)) => pending.push((report, unit_index, test, ctx, tx)),
                    Err((status, why)) => {
                        entry.status = status;
                        entry.reason = Some(why);
                    }
                }
                entries.push(entry);
            }
        }
    }
    // Entries execute in parallel (a file's entries can differ a thousandfold in cost).
    let outcomes: Vec<Result<Executed<'_>, (usize, String)>> = {
        use rayon::prelude::*;
        pending
            .into_par_iter()
            .map(|(report, unit_index, test, ctx, tx)| {
                let (unit, pre, base) = &units[unit_index];
                let (tx, result, post) = match tx {
                    Err(why) => (None, Err(format!("transaction cannot be built: {why}")), rejected_post(base, &ctx)),
                    Ok(tx) => {
                        let host = execute_host(&ctx, &tx, pre).map_err(|disagreement| (report, disagreement))?;
                        let post = match host.result {
                            Ok(_) => apply_changes(base, &host.changes),
                            Err(_) => rejected_post(base, &ctx),
                        };
                        (Some(tx), host.result, post)
                    }
                };
                Ok(Executed { report, unit, test, ctx, tx, result, post })
            })
            .collect()
    };
    let mut executed = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok(e) => executed.push(e),
            Err((report, why)) => {
                entries[report].status = Status::Fail;
                entries[report].reason = Some(why);
            }
        }
    }
    let items: Vec<(&PostState, &[Log])> =
        executed.iter().map(|e| (&e.post, e.result.as_ref().map(|o| o.logs.as_slice()).unwrap_or_default())).collect();
    let (roots, hashing) = match state_roots(backend, &items) {
        Ok(r) => r,
        Err(e) => {
            let mut r = FileReport::whole_file(
                path,
                Status::Fail,
                format!("hashing on {} failed: {e}", backend.kind()),
                started,
            );
            r.entries = entries;
            return r;
        }
    };
    for (e, (root, logs_hash)) in executed.iter().zip(roots) {
        if let Err(reason) = check_entry(e, root, logs_hash) {
            entries[e.report].status = Status::Fail;
            entries[e.report].reason = Some(reason);
        }
    }
    let status = if entries.iter().any(|e| e.status == Status::Fail) {
        Status::Fail
    } else if entries.iter().all(|e| e.status == Status::Skip) {
        Status::Skip
    } else {
        Status::Pass
    };
    let reason = (status == Status::Skip).then(|| "every entry skipped".to_string());
    FileReport {
        path: path.display().to_string(),
        status,
        reason,
        entries,
        hashing,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    }
}

/// The post-state of a rejected transaction: the pre-state with the beneficiary touched, as the
/// tests' filler leaves it (it credits the beneficiary with zero whatever the transaction did).
/// Before Spurious Dragon that creates it if absent; from Spurious Dragon on, EIP-161 deletes it
/// if it is empty.
pub fn rejected_post(base: &PostState, ctx: &BlockContext) -> PostState {
    let mut post = base.clone();
    let beneficiary = ctx.block.beneficiary;
    if ctx.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) {
        if post.get(&beneficiary).is_some_and(|a| a.nonce == 0 && a.balance.is_zero() && a.code_hash == KECCAK_EMPTY) {
            post.remove(&beneficiary);
        }
    } else {
        post.entry(beneficiary).or_default();
    }
    post
}

/// Compares one entry with its expectations; the error explains the first mismatch.
fn check_entry(e: &Executed<'_>, root: B256, logs_hash: B256) -> Result<(), String> {
    let test = e.test;
    match (&test.expect_exception, &e.result) {
        (Some(_), Err(_)) | (None, Ok(_)) => {}
        (Some(expected), Ok(outcome)) => {
            return Err(format!(
                "expected exception {expected} but the transaction was valid ({:?}, {} gas)",
                outcome.status, outcome.gas_used
            ));
        }
        (None, Err(why)) => return Err(format!("unexpected invalid transaction: {why}")),
    }
    if let (Some(expected), Ok(outcome)) = (&e.unit.out, &e.result)
        && !matches!(outcome.status, crate::exec::TxStatus::Halt(_))
        && &outcome.output != expected
    {
        return Err(format!("output {} differs from the expected {}", outcome.output, expected));
    }
    let mut problems = Vec::new();
    let logs_bad = logs_hash != test.logs;
    let root_bad = root != test.hash;
    if !logs_bad && !root_bad {
        return Ok(());
    }
    // A rejected transaction has nothing to rerun: its post-state is the pre-state's.
    let reference = match (&e.tx, &e.result) {
        (Some(tx), Ok(_)) => Some(reference_run(e.unit, &e.ctx, tx)),
        _ => None,
    };
    if logs_bad {
        let mut m = format!("logs hash mismatch: computed {logs_hash}, expected {}", test.logs);
        if let Some(r) = &reference {
            let logs = e.result.as_ref().map(|o| o.logs.as_slice()).unwrap_or_default();
            m += &format!("; {}", diagnose_logs(logs, logs_hash, test.logs, r));
        }
        problems.push(m);
    }
    if root_bad {
        let mut m = format!("state root mismatch: computed {root}, expected {}", test.hash);
        match &reference {
            Some(r) => m += &format!("; {}", diagnose_state(&e.post, root, test.hash, r)),
            None => {
                let alloy = reference_state_root(&e.post);
                let verdict = if alloy == root {
                    "alloy-trie computes the same root, so the expectation differs".to_string()
                } else {
                    format!("alloy-trie computes {alloy}: the fault is in the trie hashing")
                };
                m += &format!(
                    "; the transaction was rejected, so the post-state is the pre-state with the beneficiary touched; {verdict}"
                );
            }
        }
        if let Some(Err(why)) = reference.as_ref().map(|r| &r.result) {
            m += &format!(" (plain revm rejected the transaction: {why})");
        }
        problems.push(m);
    }
    Err(problems.join(" · "))
}

/// Every `*.json` under `paths` (files as given, directories recursively), sorted per argument.
pub fn discover(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    /// (Symbolic links are followed, each directory listed once: a link back up the tree
    /// would otherwise list the same files dozens of times, until the OS refuses the path, and
    /// two such links multiply that beyond any wait. A directory reachable by two paths is
    /// listed under the first that `read_dir` gives.)
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut std::collections::HashSet<PathBuf>) -> anyhow::Result<()> {
        let real = dir.canonicalize().map_err(|e| anyhow::anyhow!("{}: cannot resolve: {e}", dir.display()))?;
        if !seen.insert(real) {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: cannot list: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| anyhow::anyhow!("{}: cannot list: {e}", dir.display()))?.path();
            if path.is_dir() {
                walk(&path, out, seen)?;
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, &mut Default::default())?;
            found.sort();
            anyhow::ensure!(!found.is_empty(), "{}: no .json state tests found", path.display());
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    Ok(files)
}

/// Runs `files` on `threads` threads (one file per task, one shared backend); `on_done` is
/// called as each file finishes. Reports come back in the order of `files`.
pub fn run_files(
    files: &[PathBuf],
    backend: &dyn Backend,
    threads: usize,
    include_slow: bool,
    on_done: impl Fn(&FileReport) + Sync,
) -> anyhow::Result<(Vec<FileReport>, Duration)> {
    use rayon::prelude::*;
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("coevm-statetest-{i}"))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start {threads} threads: {e}"))?;
    let reports = pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                let r = run_file(f, backend, include_slow);
                on_done(&r);
                r
            })
            .collect()
    });
    Ok((reports, started.elapsed()))
}

/// What `coevm statetest` prints.
#[derive(Clone, Copy, Debug, Default)]
pub struct CliOptions {
    /// Worker threads (files run in parallel).
    pub threads: usize,
    /// One JSON object per file, then one with the summary.
    pub json: bool,
    /// Only failed and skipped files (the summary is always printed).
    pub quiet: bool,
    /// Also run the known slow files.
    pub include_slow: bool,
}

fn file_lines(r: &FileReport, quiet: bool) -> Vec<String> {
    let counts = format!(
        "({} pass, {} fail, {} skip, {:.0} ms)",
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::Skip),
        r.elapsed_ms
    );
    let mut lines = Vec::new();
    match r.status {
        Status::Pass if !quiet => lines.push(format!("PASS  {}  {counts}", r.path)),
        Status::Pass => {}
        Status::Skip => lines.push(format!("SKIP  {}: {}", r.path, r.reason.as_deref().unwrap_or("skipped"))),
        Status::Fail => {
            lines.push(format!("FAIL  {}  {counts}", r.path));
            if let Some(reason) = &r.reason {
                lines.push(format!("    ✗ {reason}"));
            }
            for e in r.entries.iter().filter(|e| e.status == Status::Fail) {
                lines.push(format!("    ✗ {}: {}", e.label(), e.reason.as_deref().unwrap_or("failed")));
            }
        }
    }
    lines
}

/// The summary table.
pub fn summary_lines(s: &Summary, elapsed: Duration, backend: &str) -> Vec<String> {
    let mut out = vec![format!("{:<22} {:>7} {:>7} {:>7}", "fork", "pass", "fail", "skip")];
    for f in &s.forks {
        out.push(format!("{:<22} {:>7} {:>7} {:>7}", f.fork, f.counts.pass, f.counts.fail, f.counts.skip));
    }
    out.push(format!("{:<22} {:>7} {:>7} {:>7}", "all entries", s.entries.pass, s.entries.fail, s.entries.skip));
    out.push(format!(
        "{} files: {} pass, {} fail, {} skip · {} entries · {:.2} s · hashing on {backend}: {} keys in {} batches, {} trie nodes in {} batches",
        s.files.total(),
        s.files.pass,
        s.files.fail,
        s.files.skip,
        s.entries.total(),
        elapsed.as_secs_f64(),
        s.hashing.keys,
        s.hashing.key_batches,
        s.hashing.nodes,
        s.hashing.node_batches,
    ));
    if !s.skip_reasons.is_empty() {
        out.push("skipped:".into());
        for (reason, n) in &s.skip_reasons {
            out.push(format!("{n:>7}  {reason}"));
        }
    }
    out
}

/// `coevm statetest`: runs `paths` (files or directories) on `backend`, prints per file and per
/// fork, and returns whether everything passed.
pub fn run_cli(paths: &[PathBuf], backend: &dyn Backend, options: CliOptions) -> anyhow::Result<bool> {
    let files = discover(paths)?;
    let bar = (!options.json && files.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar
    });
    if !options.json {
        println!("backend: {} · {} files · {} threads", backend.describe(), files.len(), options.threads.max(1));
    }
    let emit = |line: String| match &bar {
        Some(bar) if !bar.is_hidden() => bar.println(line),
        _ => println!("{line}"),
    };
    let (reports, elapsed) = run_files(&files, backend, options.threads, options.include_slow, |r| {
        if !options.json {
            file_lines(r, options.quiet).into_iter().for_each(&emit);
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = Summary::from_reports(&reports);
    if options.json {
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
        println!(
            "{}",
            serde_json::json!({
                "summary": summary,
                "elapsed_s": elapsed.as_secs_f64(),
                "backend": backend.describe(),
                "passed": summary.passed(),
            })
        );
    } else {
        println!();
        summary_lines(&summary, elapsed, &backend.describe()).into_iter().for_each(|l| println!("{l}"));
    }
    Ok(summary.passed())
}
