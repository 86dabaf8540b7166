//! Synthetic blocks of every shape equal the sequential oracle, at every thread count.

use coevm_host::exec::{ParallelConfig, ParallelExecutor, TxStatus, execute_sequential};
use coevm_host::synthetic::{Workload, build};
use coevm_kernels::cpu::CpuBackend;

fn check(workload: Workload, n: usize) -> (coevm_host::exec::BlockOutcome, coevm_host::exec::StateChanges) {
    let block = build(workload, n, 7);
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
    let backend = CpuBackend::new(1);
    for threads in [1, 2, 4, 8] {
        let executor = ParallelExecutor::new(ParallelConfig::always_parallel(threads));
        for run in 0..3 {
            let outcome = executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).expect("valid block");
            if let Some(diff) = outcome.first_difference(&oracle, &block.pre) {
                panic!("{}: {threads} threads, run {run}: {diff}", block.name);
            }
        }
    }
    let changes = oracle.changes(&block.pre);
    (oracle, changes)
}

#[test]
fn independent_transfers() {
    let (out, changes) = check(Workload::Transfers, 200);
    assert!(out.txs.iter().all(|t| t.success() && t.gas_used == 21_000));
    // Senders, recipients and the beneficiary changed.
    assert_eq!(changes.len(), 401);
}

/// Helper results that validate as they are, to the end of their stretch, stay in the
/// stretch's own overlay, laid above the committed state instead of committed again
/// (`Tail` in exec/parallel.rs); the final state is still the oracle's.
#[test]
fn independent_transfers_leave_whole_stretches_in_their_helpers_overlay() {
    assert!(some_run(Workload::Transfers, |stats| stats.layered > 0));
}

/// An invalid block: late in it, a sender's transaction repeats the nonce of its previous
/// one. Sequential revm fails it (nonce too low); the parallel executor must fail it too, at
/// the same transaction, even where both run in one clean helper stretch whose results are
/// collected without being committed (a run assumes its sender's nonce, an assumption that
/// must be checked against the sender with the earlier transaction in it).
#[test]
fn a_repeated_nonce_fails_as_in_sequential_revm() {
    let mut block = build(Workload::Transfers, 2_000, 7);
    let at = 1_700;
    // The earlier transaction moves nothing but the nonce (no value, no fee: a zero base fee
    // and gas price), so only the nonce tells the two runs apart.
    block.ctx.block.basefee = 0;
    let txs = block.txs_mut();
    let earlier = &mut txs[at - 1];
    (earlier.value, earlier.gas_price, earlier.gas_priority_fee) = (Default::default(), 0, Some(0));
    txs[at].caller = txs[at - 1].caller;
    txs[at].nonce = txs[at - 1].nonce;
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).map(|_| ()).expect_err("invalid block");
    assert_eq!(oracle.index, at, "{oracle}");
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    for run in 0..20 {
        let parallel = executor.execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None);
        let error = parallel.map(|_| ()).expect_err("invalid block");
        assert_eq!((error.index, &error.message), (oracle.index, &oracle.message), "run {run}");
    }
}

#[test]
fn deposits_to_one_hot_wallet() {
    let (out, _) = check(Workload::Deposits, 300);
    assert!(out.txs.iter().all(|t| t.success()));
    // Run it in parallel and check the recipient's balance conflicts were credited lazily.
    let block = build(Workload::Deposits, 300, 7);
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    let parallel = executor.execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None).unwrap();
    assert_eq!(parallel.first_difference(&out, &block.pre), None);
    assert_eq!(parallel.stats.reexecutions, 0, "{:?}", parallel.stats);
}

#[test]
fn payouts_from_one_sender() {
    let (out, _) = check(Workload::Payouts, 300);
    assert!(out.txs.iter().all(|t| t.success()));
    // A helper's run assumes the sender's nonce its transaction carries; the sender's balance,
    // moved by every earlier payout, is then shifted rather than the payout re-executed.
    let repaired = some_run(Workload::Payouts, |stats| stats.balance_repairs > 0 && stats.reexecutions == 0);
    assert!(repaired, "no run committed the payouts without re-executing them");
}

/// Runs a 2,000-transaction block of `workload` in parallel up to 20 times, each equal to the
/// oracle, until `wanted` holds for a run's counters. (Whether a helper gets to run before the
/// committer is done depends on the machine's load, so a few runs are allowed to find one.)
fn some_run(workload: Workload, wanted: impl Fn(&coevm_host::exec::ExecStats) -> bool) -> bool {
    let block = build(workload, 2_000, 7);
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    (0..20).any(|_| {
        let parallel = executor.execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None).unwrap();
        assert_eq!(parallel.first_difference(&oracle, &block.pre), None, "{}", block.name);
        wanted(&parallel.stats)
    })
}

#[test]
fn erc20_transfers_among_many_holders() {
    let (out, _) = check(Workload::Erc20, 300);
    assert!(out.txs.iter().all(|t| t.success() && t.logs.len() == 1));
}

#[test]
fn one_hot_contract_written_by_every_transaction() {
    let (out, _) = check(Workload::HotContract, 100);
    // The counter's log carries its new value: 1, 2, ..., 100 in block order.
    for (i, tx) in out.txs.iter().enumerate() {
        assert_eq!(tx.logs[0].data.data.as_ref(), revm::primitives::U256::from(i + 1).to_be_bytes::<32>());
    }
}

#[test]
fn deposits_and_withdrawals_on_one_wrapped_ether_contract() {
    let (out, _) = check(Workload::Wrapped, 400);
    assert!(out.txs.iter().all(|t| t.success()));
    // Its balance moves with every transaction, but most runs never look at it: they commit
    // with the balance shifted rather than being re-executed.
    assert!(some_run(Workload::Wrapped, |stats| stats.balance_repairs > 0), "no run committed a shifted balance");
}

#[test]
fn shared_tallies_added_to_reset_and_logged() {
    let (out, changes) = check(Workload::Counters, 400);
    assert!(out.txs.iter().all(|t| t.success()));
    assert!(!changes.is_empty());
    // Runs that only add to a tally commit with it shifted rather than being re-executed.
    assert!(some_run(Workload::Counters, |stats| stats.slot_repairs > 0), "no run committed a shifted tally");
}

/// The gigagas-style ERC-20 block: no holder is touched by two transactions, so every helper
/// result validates as it is and no token balance needs shifting.
#[test]
fn independent_erc20_transfers_touch_each_holder_once_and_need_no_repair() {
    let (out, _) = check(Workload::Erc20Independent, 300);
    assert!(out.txs.iter().all(|t| t.success() && t.logs.len() == 1));
    let block = build(Workload::Erc20Independent, 300, 7);
    let mut holders = std::collections::HashSet::new();
    for tx in block.txs.iter() {
        // transfer(address to, uint256 amount): `to` is the low 20 bytes of the first word.
        let to = revm::primitives::Address::from_slice(&tx.data[16..36]);
        assert!(holders.insert(tx.caller) && holders.insert(to), "a holder in two transactions");
    }
    let clean = |stats: &coevm_host::exec::ExecStats| {
        stats.layered > 0 && stats.slot_repairs == 0 && stats.balance_repairs == 0 && stats.reexecutions == 0
    };
    assert!(some_run(Workload::Erc20Independent, clean), "no run laid the helper's results without repairs");
}

#[test]
fn erc20_transfers_commit_with_balances_shifted() {
    // Holders' token balances move in both halves of the block; a transfer that only checked
    // and moved them commits with them shifted.
    assert!(some_run(Workload::Erc20, |stats| stats.slot_repairs > 0), "no run committed a shifted token balance");
}

/// Swaps repeat pools all through the block, so a helper's part (run over the pre-state) goes
/// mostly stale as the committer approaches it: the executor gives up speculating and
/// executes the rest itself, without looking at the helper's results, with the oracle's output.
#[test]
fn swaps_give_up_speculation_and_discard_stale_results() {
    assert!(some_run(Workload::Swaps, |stats| stats.gave_up_speculation && stats.discarded > 0));
}

#[test]
fn swaps_across_many_pools() {
    let (out, _) = check(Workload::Swaps, 200);
    assert!(out.txs.iter().all(|t| t.success()));
}

#[test]
fn creations_reverts_out_of_gas_and_beneficiary_transfers() {
    let (out, _) = check(Workload::Mixed, 300);
    let count = |f: &dyn Fn(&TxStatus) -> bool| out.txs.iter().filter(|t| f(&t.status)).count();
    assert!(count(&|s| *s == TxStatus::Revert) > 10, "reverts");
    assert!(count(&|s| matches!(s, TxStatus::Halt(r) if r.contains("OutOfGas"))) > 10, "out of gas");
    assert!(out.txs.iter().filter(|t| t.created.is_some()).count() > 10, "creations");
}

#[test]
fn self_destructs_then_payments_to_the_destroyed_accounts() {
    let (_, changes) = check(Workload::SelfDestructs, 200);
    // Every destructible contract was destroyed: it no longer exists, or exists again only as
    // a plain account funded after its destruction (no code, storage cleared).
    let destroyed = changes
        .0
        .iter()
        .filter(|(a, _)| a.0[0] == 0xd0)
        .filter(|(_, c)| c.account.is_none_or(|acc| acc.code_hash == revm::primitives::KECCAK_EMPTY))
        .count();
    assert_eq!(destroyed, 8);
}

/// Many seeds, odd thread counts: helpers' stretches start, end and get split at different
/// places, and re-executions land in the middle of stretches whose later transactions read
/// what the re-executed one wrote.
#[test]
fn conflicting_workloads_over_many_seeds_and_thread_counts() {
    let backend = CpuBackend::new(1);
    let workloads = [
        Workload::Swaps,
        Workload::Erc20,
        Workload::Mixed,
        Workload::SelfDestructs,
        Workload::Deposits,
        Workload::Wrapped,
        Workload::Counters,
    ];
    for workload in workloads {
        for seed in 1..=4 {
            let block = build(workload, 400, seed);
            let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
            for threads in [2, 3, 5] {
                let executor = ParallelExecutor::new(ParallelConfig::always_parallel(threads));
                let outcome = executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).expect("valid");
                if let Some(diff) = outcome.first_difference(&oracle, &block.pre) {
                    panic!("{} seed {seed}, {threads} threads: {diff}", block.name);
                }
            }
        }
    }
}

/// The beneficiary is a contract that self-destructs when called (Shanghai rules): the fee of the
/// transaction that destroys it is burned with it, later fees recreate it, and a block whose
/// last transaction destroys it leaves it destroyed.
#[test]
fn beneficiary_that_self_destructs() {
    let backend = CpuBackend::new(1);
    for seed in 1..=3 {
        let mut block = build(Workload::SelfDestructs, 120, seed);
        let target = |tx: &revm::context::TxEnv| tx.kind.to().copied().filter(|_| tx.data.is_empty());
        let beneficiary = block.txs.iter().find_map(target).expect("a call to a self-destructing contract");
        block.ctx.block.beneficiary = beneficiary;
        // Its first call destroys it: end a block there too.
        let first_call = block.txs.iter().position(|tx| target(tx) == Some(beneficiary)).expect("called");
        let cut: std::sync::Arc<[revm::context::TxEnv]> = block.txs[..=first_call].into();
        for txs in [&block.txs, &cut] {
            let oracle = execute_sequential(&block.ctx, txs, &block.pre).expect("valid block");
            for threads in [1, 2, 3] {
                let executor = ParallelExecutor::new(ParallelConfig::always_parallel(threads));
                let outcome = executor.execute(&block.ctx, txs, &block.pre, &backend, None).expect("valid block");
                if let Some(diff) = outcome.first_difference(&oracle, &block.pre) {
                    panic!("seed {seed}, {} txs, {threads} threads: {diff}", txs.len());
                }
            }
        }
    }
}

/// With the timeline on, every transaction is accounted for once, in agreement with the
/// counters, and the output is still the oracle's; off, nothing is recorded.
#[test]
fn timeline_accounts_for_every_transaction() {
    for workload in [Workload::Erc20, Workload::Swaps, Workload::Mixed, Workload::Wrapped] {
        let block = build(workload, 400, 3);
        let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
        for threads in [2, 4] {
            let config = ParallelConfig { timeline: true, ..ParallelConfig::always_parallel(threads) };
            let outcome = ParallelExecutor::new(config)
                .execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None)
                .expect("valid block");
            assert_eq!(outcome.first_difference(&oracle, &block.pre), None, "{}", block.name);
            let stats = &outcome.stats;
            let t = stats.timeline.as_ref().expect("timeline recorded");
            let speculative = t.validated.txs + t.stale.txs + t.cascade.txs;
            assert_eq!(t.own.txs + speculative, block.txs.len(), "{}: {t:?}", block.name);
            assert_eq!(t.own.txs, stats.direct, "{}: {t:?}", block.name);
            assert_eq!(t.stale.txs + t.cascade.txs, stats.reexecutions, "{}: {t:?}", block.name);
            let helpers: usize = t.helpers.iter().map(|h| h.executed.txs).sum();
            assert_eq!(helpers + t.took_over.txs, speculative + stats.discarded, "{}: {t:?}", block.name);
            assert_eq!(t.helpers.len(), threads - 1);
            assert!(t.end_ns >= t.setup_ns && t.own.ns + t.validated.ns + t.stale.ns + t.cascade.ns <= t.end_ns);
            assert!(!t.summary().is_empty());
        }
        let plain = ParallelExecutor::new(ParallelConfig::always_parallel(2))
            .execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None)
            .expect("valid block");
        assert_eq!(plain.stats.timeline, None);
    }
}

/// A transaction carrying tens of kilobytes of calldata early in the block is run by a helper
/// out of order, before its first stretch (`exec::parallel::giant`); the output is still the
/// oracle's, whether or not that early result holds when the committer gets to it.
#[test]
fn a_giant_transaction_run_out_of_order() {
    for (workload, at) in [(Workload::Erc20, 10), (Workload::HotContract, 5), (Workload::Swaps, 30)] {
        let mut block = build(workload, 300, 11);
        let giant = &mut block.txs_mut()[at];
        // Extra calldata past the arguments is ignored by the contracts; it only costs gas.
        let mut data = giant.data.to_vec();
        data.resize(data.len() + 48 * 1024, 0);
        giant.data = data.into();
        giant.gas_limit += 48 * 1024 * 4;
        assert_eq!(coevm_host::exec::parallel::giant(&block.txs, &block.pre), Some(at), "{}", block.name);
        let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
        for threads in [2, 4] {
            let config = ParallelConfig { timeline: true, ..ParallelConfig::always_parallel(threads) };
            let executor = ParallelExecutor::new(config);
            for run in 0..3 {
                let outcome =
                    executor.execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None).expect("valid");
                if let Some(diff) = outcome.first_difference(&oracle, &block.pre) {
                    panic!("{}: {threads} threads, run {run}: {diff}", block.name);
                }
            }
        }
    }
    // Without such a transaction nothing is singled out.
    let block = build(Workload::Erc20, 300, 11);
    assert_eq!(coevm_host::exec::parallel::giant(&block.txs, &block.pre), None);
}

/// A helper's run assumes its sender's nonce is the one its transaction carries; a
/// transaction whose nonce is wrong must still fail where sequential execution fails, even
/// when it is its sender's first and nothing earlier in the block touched the sender.
#[test]
fn a_wrong_nonce_fails_as_in_sequential_execution() {
    let mut block = build(Workload::Transfers, 2_000, 7);
    let bad = 1_500;
    block.txs_mut()[bad].nonce += 1;
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect_err("a nonce too high");
    assert_eq!(oracle.index, bad);
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    for _ in 0..5 {
        let error = executor
            .execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None)
            .expect_err("a nonce too high");
        assert_eq!(error.index, bad, "{error:?}");
    }
}

/// A block that is mostly one sender's chain of calls runs sequentially, unless a giant
/// transaction can run beside the chain on a helper; a chain of plain transfers (a pool paying
/// out) runs in parallel: its transactions depend only on the sender's nonce and balance. Not
/// when the payer is the block producer (as in mainnet blocks 12,300,570 and 12,520,364): a
/// block mostly touching the beneficiary runs on the committer alone (forced parallel, it
/// still equals the oracle).
#[test]
fn a_chain_of_one_senders_calls_runs_in_parallel_only_beside_a_giant_transaction_and_not_from_the_beneficiary() {
    let executor = ParallelExecutor::new(ParallelConfig::with_threads(2));
    let backend = CpuBackend::new(1);
    let mut block = build(Workload::Payouts, 300, 7);
    let payouts = executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).expect("valid block");
    // (That a helper runs part of such a chain, with the sender's balance shifted rather than
    // re-executed, `payouts_from_one_sender` checks over several runs: it depends on timing.)
    assert!(!payouts.stats.ran_sequentially, "{:?}", payouts.stats);
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
    assert_eq!(payouts.first_difference(&oracle, &block.pre), None);
    // A pool paying out of the block producer's own account: the chain reads the beneficiary.
    let mut own = build(Workload::Payouts, 300, 7);
    own.ctx.block.beneficiary = own.txs[0].caller;
    let oracle = execute_sequential(&own.ctx, &own.txs, &own.pre).expect("valid block");
    let outcome = executor.execute(&own.ctx, &own.txs, &own.pre, &backend, None).expect("valid block");
    assert!(outcome.stats.ran_sequentially, "{:?}", outcome.stats);
    assert_eq!(outcome.first_difference(&oracle, &own.pre), None);
    let forced = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    for _ in 0..5 {
        let outcome = forced.execute(&own.ctx, &own.txs, &own.pre, &backend, None).expect("valid block");
        assert!(!outcome.stats.ran_sequentially, "{:?}", outcome.stats);
        assert_eq!(outcome.first_difference(&oracle, &own.pre), None);
    }

    // The same payouts as calls (with calldata): a chain of calls.
    for tx in block.txs_mut() {
        tx.data = vec![0xa9, 0x05, 0x9c, 0xbb].into();
        tx.gas_limit = 30_000;
    }
    let chain = executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).expect("valid block");
    assert!(chain.stats.ran_sequentially, "{:?}", chain.stats);
    // One of the chain's calls carries 100 KB of calldata.
    block.txs_mut()[3].data = vec![0x5a; 100_000].into();
    block.txs_mut()[3].gas_limit = 2_000_000;
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
    let outcome = executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None).expect("valid block");
    assert!(!outcome.stats.ran_sequentially, "{:?}", outcome.stats);
    assert_eq!(outcome.first_difference(&oracle, &block.pre), None);
}

/// One executor, two blocks at once from two threads: one block has the helpers, the other
/// runs on its committer alone (exec/helper_pool.rs); both equal the oracle, and neither
/// waits for the other's helpers.
#[test]
fn blocks_executed_at_once_on_one_executor_both_equal_the_oracle() {
    let executor = ParallelExecutor::new(ParallelConfig::always_parallel(2));
    let blocks = [build(Workload::Erc20, 400, 3), build(Workload::Swaps, 400, 5)];
    let oracles: Vec<_> =
        blocks.iter().map(|b| execute_sequential(&b.ctx, &b.txs, &b.pre).expect("valid block")).collect();
    let alone = std::sync::atomic::AtomicUsize::new(0);
    let start = std::sync::Barrier::new(blocks.len());
    std::thread::scope(|scope| {
        for (block, oracle) in blocks.iter().zip(&oracles) {
            let (executor, alone, start) = (&executor, &alone, &start);
            scope.spawn(move || {
                start.wait();
                // At least 10 runs each, and on until one found the helpers taken.
                for run in 0..500 {
                    if run >= 10 && alone.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                        break;
                    }
                    let outcome = executor.execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None);
                    let outcome = outcome.expect("valid block");
                    if let Some(diff) = outcome.first_difference(oracle, &block.pre) {
                        panic!("{}, run {run}: {diff}", block.name);
                    }
                    if outcome.stats.threads == 1 {
                        alone.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert!(alone.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

/// A helper the OS takes off its core mid-transaction (injected: it sleeps before publishing
/// its result, see `ParallelConfig::stall_helper_at`) holds nothing up: the committer finds it
/// stalled by its CPU time, executes that transaction itself, and returns without waiting for
/// it. The block equals the oracle, and a block executed while that helper still sleeps runs
/// without it, equal to its oracle too.
#[test]
fn a_helper_that_loses_its_core_mid_transaction_is_not_waited_for() {
    let block = build(Workload::Erc20, 2_000, 9);
    let oracle = execute_sequential(&block.ctx, &block.txs, &block.pre).expect("valid block");
    let next = build(Workload::Transfers, 400, 4);
    let next_oracle = execute_sequential(&next.ctx, &next.txs, &next.pre).expect("valid block");
    // The helper's first part is the back half of the block: stall it a hundred transactions in.
    let stall = (1_100, std::time::Duration::from_millis(300));
    let mut stalled = 0;
    for attempt in 0..5 {
        let config = ParallelConfig { stall_helper_at: Some(stall), ..ParallelConfig::always_parallel(2) };
        let executor = ParallelExecutor::new(config);
        let outcome = executor.execute(&block.ctx, &block.txs, &block.pre, &CpuBackend::new(1), None).expect("valid");
        if let Some(diff) = outcome.first_difference(&oracle, &block.pre) {
            panic!("attempt {attempt}: {diff}");
        }
        let second = executor.execute(&next.ctx, &next.txs, &next.pre, &CpuBackend::new(1), None).expect("valid");
        assert_eq!(second.first_difference(&next_oracle, &next.pre), None, "attempt {attempt}");
        if outcome.stats.stalled_helpers > 0 {
            stalled += 1;
            // The helper still sleeps in the first block's transaction: not leased again.
            assert_eq!(second.stats.threads, 1, "attempt {attempt}: {:?}", second.stats);
        }
    }
    // (Another thread's CPU time is read on Linux only; elsewhere the committer waits.)
    if cfg!(target_os = "linux") {
        assert!(stalled > 0, "the helper's stall was never noticed");
    }
}
