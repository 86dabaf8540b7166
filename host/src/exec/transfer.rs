//! Plain value transfers without revm's interpreter.
//!
//! A call to an account without code runs no opcode: revm validates the transaction, moves
//! the value, reimburses unused gas and returns. Around that it loads both accounts into its
//! journal, opens a checkpoint and a call frame, and builds and tears down the state map it
//! returns. Here such a transaction is executed directly against the same database with
//! revm's own checks (`validate_env`, intrinsic gas, nonce and code, the up-front fee): the
//! result and the state it returns are those revm returns, to the flags the committer reads.
//! On one thread the executor runs 10,000 transfers ~1.4× faster than plain revm this way
//! (docs/PERFORMANCE.md).
//!
//! Only the plainest case is taken: a legacy, EIP-2930 or EIP-1559 call without calldata or
//! access list, before Prague, to an address other than the sender that is not a precompile
//! and holds no code, from an existing sender without code, that validates. Everything else —
//! and any transaction revm would reject, so that its error is revm's own — returns `None`,
//! and the caller runs revm. `tests::matches_revm` checks every branch against revm on
//! randomised transactions at each fork.

use revm::Database;
use revm::context::TxEnv;
use revm::context::result::{EVMError, ExecutionResult, HaltReason, Output, ResultGas, SuccessReason};
use revm::context_interface::{Block, Cfg, Transaction};
use revm::handler::MainnetContext;
use revm::handler::pre_execution::{calculate_caller_fee, validate_account_nonce_and_code};
use revm::handler::validation::{validate_env, validate_initial_tx_gas_with_gas_params};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Bytes, KECCAK_EMPTY, U256};
use revm::state::{Account, AccountInfo, AccountStatus, EvmState};

/// A transaction's result and the state it leaves, as revm's `transact` returns them.
type Executed<E> = Result<(ExecutionResult<HaltReason>, EvmState), E>;

/// Executes `tx` as revm would (beneficiary reward left out, as the executor defers fees),
/// if it is a plain transfer revm accepts; `None` otherwise, having read at most the sender
/// and the recipient. `ctx` must hold `tx` (`set_tx`) and an empty journal.
pub(crate) fn execute<DB: Database>(ctx: &mut MainnetContext<DB>, tx: &TxEnv) -> Option<Executed<DB::Error>> {
    let to = *tx.kind.to()?;
    let spec: SpecId = ctx.cfg.spec;
    let plain = tx.tx_type <= 2
        && tx.data.is_empty()
        && tx.access_list.0.is_empty()
        && tx.blob_hashes.is_empty()
        && tx.authorization_list.is_empty()
        && !spec.is_enabled_in(SpecId::PRAGUE)
        && to != tx.caller
        // Precompiles live at low addresses (0x01–0x11 by Prague); running them is revm's job.
        && to.0[..18].iter().any(|b| *b != 0)
        // Switches a client may turn off or on, none of them mainnet's: revm is left to honour them.
        && !ctx.cfg.is_fee_charge_disabled()
        && !ctx.cfg.is_balance_check_disabled()
        && !ctx.cfg.is_nonce_check_disabled()
        && !ctx.cfg.is_amsterdam_eip2780_enabled()
        && !ctx.cfg.is_amsterdam_eip8037_enabled();
    if !plain {
        return None;
    }
    // The recipient first: a contract called without calldata (a deposit) costs one read to
    // turn away, before any of the checks below.
    let recipient = match ctx.journaled_state.database.basic(to) {
        Ok(Some(info)) if info.code_hash == KECCAK_EMPTY => Some(info),
        Ok(Some(_)) => return None,
        Ok(None) => None,
        Err(e) => return Some(Err(e)),
    };
    validate_env::<_, EVMError<DB::Error>>(&mut *ctx).ok()?;
    let gas = validate_initial_tx_gas_with_gas_params(
        tx,
        spec,
        ctx.cfg.gas_params(),
        ctx.cfg.is_eip7623_disabled(),
        ctx.cfg.is_amsterdam_eip8037_enabled(),
        ctx.cfg.tx_gas_limit_cap(),
        None,
    )
    .ok()?;
    // The call itself spends nothing: the intrinsic gas is what the transaction uses.
    let used = gas.initial_total_gas();
    if gas.floor_gas() > used || gas.initial_state_gas != 0 {
        return None;
    }
    let basefee = ctx.block.basefee();
    let price = tx.effective_gas_price(basefee as u128);
    let db = &mut ctx.journaled_state.database;

    let mut sender = match db.basic(tx.caller) {
        Ok(Some(info)) if info.code_hash == KECCAK_EMPTY => info,
        Ok(_) => return None,
        Err(e) => return Some(Err(e)),
    };
    if sender.code.is_none() {
        sender.code = Some(match db.code_by_hash(KECCAK_EMPTY) {
            Ok(code) => code,
            Err(e) => return Some(Err(e)),
        });
    }
    validate_account_nonce_and_code(
        &sender,
        tx.nonce,
        ctx.cfg.is_eip3607_disabled(),
        ctx.cfg.is_nonce_check_disabled(),
    )
    .ok()?;
    // revm's up-front check (the most the transaction can cost) and deduction (what it costs
    // at the effective price, gas limit times price); the unused gas comes back below.
    let charged = calculate_caller_fee(sender.balance, tx, &ctx.block, &ctx.cfg).ok()?;

    let refund = U256::from(price.saturating_mul((tx.gas_limit - used) as u128));
    let sender_balance = charged.checked_sub(tx.value)?.checked_add(refund)?;
    let (mut recipient, existed) = match recipient {
        Some(info) => (info, true),
        None => {
            let code = match db.code_by_hash(KECCAK_EMPTY) {
                Ok(code) => code,
                Err(e) => return Some(Err(e)),
            };
            (AccountInfo::new(U256::ZERO, 0, KECCAK_EMPTY, code), false)
        }
    };
    recipient.balance = recipient.balance.checked_add(tx.value)?;

    sender.balance = sender_balance;
    sender.nonce = sender.nonce.checked_add(1)?;
    // The journal's map of accounts, empty between transactions: the committer gives it back
    // with room after committing each of its own (see `Shared::commit_block`).
    let mut state = std::mem::take(&mut ctx.journaled_state.inner.state);
    state.reserve(2);
    state.insert(tx.caller, touched(sender, true, spec));
    state.insert(to, touched(recipient, existed, spec));
    let result = ExecutionResult::Success {
        reason: SuccessReason::Stop,
        // As revm's `build_result_gas` for a frame that spent nothing beyond the intrinsic gas.
        gas: ResultGas::default()
            .with_total_gas_spent(used)
            .with_refunded(0)
            .with_floor_gas(gas.floor_gas())
            .with_state_gas_spent(0),
        logs: Vec::new(),
        output: Output::Call(Bytes::new()),
    };
    Some(Ok((result, state)))
}

/// An account as revm's journal leaves it after a transfer touched it: revm materialises an
/// empty account that did not exist, and leaves an existing empty one alone, before Spurious
/// Dragon (EIP-161), so that commit does not treat either as touched-and-empty.
fn touched(info: AccountInfo, existed: bool, spec: SpecId) -> Account {
    let mut account = Account::from(info);
    account.status =
        if existed { AccountStatus::Touched } else { AccountStatus::LoadedAsNotExisting | AccountStatus::Touched };
    if !spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) && account.is_empty() {
        if existed {
            account.unmark_touch();
        } else {
            account.mark_created();
        }
    }
    account
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use rand::{Rng, SeedableRng};
    use revm::bytecode::Bytecode;
    use revm::context::result::InvalidTransaction;
    use revm::context::{BlockEnv, CfgEnv, ContextSetters};
    use revm::context_interface::transaction::{AccessList, AccessListItem};
    use revm::database::{CacheDB, EmptyDB};
    use revm::handler::{FrameResult, Handler, MainnetEvm};
    use revm::primitives::{Address, B256, TxKind};
    use revm::{Context, ExecuteEvm, MainBuilder, MainContext};

    use super::*;

    type TestEvm = MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>;

    /// revm's mainnet handler without the beneficiary reward, as the executor runs it.
    struct NoReward;

    impl Handler for NoReward {
        type Evm = TestEvm;
        type Error = EVMError<Infallible, InvalidTransaction>;
        type HaltReason = HaltReason;

        fn reward_beneficiary(&self, _: &mut TestEvm, _: &mut FrameResult) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    const SPECS: [SpecId; 12] = [
        SpecId::FRONTIER,
        SpecId::HOMESTEAD,
        SpecId::TANGERINE,
        SpecId::SPURIOUS_DRAGON,
        SpecId::BYZANTIUM,
        SpecId::PETERSBURG,
        SpecId::ISTANBUL,
        SpecId::BERLIN,
        SpecId::LONDON,
        SpecId::MERGE,
        SpecId::SHANGHAI,
        SpecId::CANCUN,
    ];

    fn addr(n: u64) -> Address {
        let mut a = [0x5au8; 20];
        a[12..].copy_from_slice(&n.to_be_bytes());
        Address::from(a)
    }

    /// A random world and transaction, mostly plain transfers and mostly valid, with every
    /// way of falling short of one mixed in.
    fn case(rng: &mut impl Rng) -> (SpecId, CacheDB<EmptyDB>, BlockEnv, TxEnv) {
        let spec = SPECS[rng.random_range(0..SPECS.len())];
        let (sender, empty, funded, contract, rich) = (addr(1), addr(2), addr(3), addr(4), addr(6));
        // Sometimes the sender is the beneficiary itself.
        let beneficiary = if rng.random_range(0..10) == 0 { sender } else { addr(5) };
        let london = spec.is_enabled_in(SpecId::LONDON);
        let basefee: u64 = if london { [0, 7, 1_000_000_000][rng.random_range(0..3)] } else { 0 };
        let mut block = BlockEnv {
            beneficiary,
            gas_limit: 30_000_000,
            basefee,
            prevrandao: spec.is_enabled_in(SpecId::MERGE).then_some(B256::ZERO),
            ..Default::default()
        };
        if spec.is_enabled_in(SpecId::CANCUN) {
            block.set_blob_excess_gas_and_price(0, revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN);
        } else {
            block.blob_excess_gas_and_price = None;
        }

        // Typed transactions before their fork are rejected: mostly legacy before Berlin.
        let tx_type: u8 = if spec.is_enabled_in(SpecId::LONDON) || rng.random_range(0..10) == 0 {
            [0, 1, 2][rng.random_range(0..3)]
        } else {
            0
        };
        let price: u128 = basefee as u128 + rng.random_range(0..3u128) * 1_000_000_000;
        let gas_limit = [21_000, 21_000, 21_000, 50_000, 29_000, 20_999, 31_000_000][rng.random_range(0..7)];
        let value = match rng.random_range(0..10) {
            0..2 => U256::ZERO,
            2 => U256::from(1),
            3..7 => U256::from(rng.random_range(0..10u64.pow(18))),
            7..9 => U256::from(10u64.pow(18)),
            _ => U256::MAX - U256::from(5),
        };
        let data: Bytes = match rng.random_range(0..6) {
            0 => Bytes::from(vec![0, 1, 0, 0xff]),
            _ => Bytes::new(),
        };
        let to = match rng.random_range(0..10) {
            9 => rich,
            0 => empty,
            1 => funded,
            2 => contract,
            3 => Address::with_last_byte(1 + rng.random_range(0..10u8)),
            4 => sender,
            5 => beneficiary,
            _ => addr(100 + rng.random_range(0..1000)),
        };
        let mut tx = TxEnv {
            tx_type,
            caller: sender,
            gas_limit,
            gas_price: price,
            gas_priority_fee: (tx_type == 2).then(|| [0, 1_000_000_000, u128::MAX][rng.random_range(0..3)]),
            kind: TxKind::Call(to),
            value,
            data,
            nonce: 0,
            chain_id: [Some(1), Some(1), Some(1), Some(1), Some(1), None, None, Some(5)][rng.random_range(0..8)],
            ..Default::default()
        };
        if rng.random_range(0..10) == 0 {
            tx.access_list = AccessList(vec![AccessListItem { address: funded, storage_keys: vec![B256::ZERO] }]);
        }

        // The sender: usually able to pay exactly the most the transaction can cost, or more.
        let most = U256::from(gas_limit as u128 * price).saturating_add(value);
        let balance = match rng.random_range(0..10) {
            0..2 => most,
            2 => most.saturating_sub(U256::from(1)),
            3 => U256::ZERO,
            _ => most.saturating_add(U256::from(rng.random_range(0..10u64.pow(18)))),
        };
        let nonce = rng.random_range(0..3u64);
        tx.nonce = if rng.random_range(0..16) == 0 { nonce + 1 } else { nonce };
        let mut db = CacheDB::new(EmptyDB::default());
        if rng.random_range(0..20) != 0 {
            let mut info = AccountInfo::from_balance(balance);
            info.nonce = nonce;
            if rng.random_range(0..20) == 0 {
                info = info.with_code(Bytecode::new_raw(Bytes::from_static(&[0x00])));
            }
            db.insert_account_info(sender, info);
        }
        db.insert_account_info(empty, AccountInfo::default());
        db.insert_account_info(funded, AccountInfo::from_balance(U256::from(12_345)));
        db.insert_account_info(contract, AccountInfo::from_bytecode(Bytecode::new_raw(Bytes::from_static(&[0x00]))));
        if beneficiary != sender {
            db.insert_account_info(beneficiary, AccountInfo::from_balance(U256::from(7)));
        }
        // A balance the value can overflow.
        db.insert_account_info(rich, AccountInfo::from_balance(U256::MAX - U256::from(10u64.pow(18))));
        (spec, db, block, tx)
    }

    fn evm(spec: SpecId, db: CacheDB<EmptyDB>, block: BlockEnv) -> TestEvm {
        let mut cfg = CfgEnv::new_with_spec(spec);
        cfg.chain_id = 1;
        Context::mainnet().with_db(db).with_cfg(cfg).with_block(block).build_mainnet()
    }

    /// Every transaction the native path takes ends as in revm: the same result, and every
    /// account revm touched, created or destroyed the same, with the same balance, nonce and
    /// code. Checked on 20,000 random transactions over twelve forks; at least 3,000 must be
    /// taken, over 100 at each fork, and revm must reject some of those not taken.
    #[test]
    fn matches_revm() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xc0e7);
        let (mut taken, mut rejected, mut overflows, mut taken_at) = (0, 0, 0, [0; SPECS.len()]);
        for n in 0..20_000 {
            let (spec, db, block, tx) = case(&mut rng);
            let mut native = evm(spec, db.clone(), block.clone());
            native.ctx.set_tx(tx.clone());
            let fast = execute(&mut native.ctx, &tx);

            let mut reference = evm(spec, db, block);
            reference.ctx.set_tx(tx.clone());
            let expected = NoReward.run(&mut reference).map(|result| (result, reference.finalize()));

            let Some(fast) = fast else {
                rejected += usize::from(expected.is_err());
                // (revm runs a payment that overflows its recipient's balance, and fails it.)
                overflows +=
                    usize::from(tx.kind.to() == Some(&addr(6)) && tx.value > U256::from(1) << 128 && expected.is_ok());
                continue;
            };
            taken += 1;
            taken_at[SPECS.iter().position(|s| *s == spec).expect("one of SPECS")] += 1;
            let (result, state) = fast.unwrap_or_else(|e| match e {});
            let Ok((expected_result, expected_state)) = expected else {
                panic!("case {n} ({spec:?}, {tx:?}): revm rejected what the native path executed: {expected:?}");
            };
            assert_eq!(result, expected_result, "case {n} ({spec:?}): result");
            let addresses =
                state.keys().chain(expected_state.keys()).copied().collect::<std::collections::BTreeSet<_>>();
            for address in addresses {
                let flags = |a: Option<&Account>| {
                    a.map_or((false, false, false), |a| (a.is_touched(), a.is_created(), a.is_selfdestructed()))
                };
                let (ours, theirs) = (state.get(&address), expected_state.get(&address));
                assert_eq!(flags(ours), flags(theirs), "case {n} ({spec:?}, {tx:?}): flags of {address}");
                if let (Some(ours), Some(theirs)) = (ours, theirs)
                    && ours.is_touched()
                {
                    assert_eq!(ours.info, theirs.info, "case {n} ({spec:?}): {address}");
                    assert!(ours.info.code.is_some() && theirs.changed_storage_slots().next().is_none());
                }
            }
        }
        assert!(taken > 3_000, "only {taken} of 20,000 taken");
        assert!(overflows > 10, "only {overflows} recipients' balances overflowed");
        for (spec, taken) in SPECS.iter().zip(taken_at) {
            assert!(taken > 100, "only {taken} taken at {spec:?}");
        }
        assert!(rejected > 1_000, "only {rejected} rejected by revm");
    }

    /// From Prague on (EIP-7623's calldata floor, EIP-7702's delegations) every transaction is
    /// left to revm.
    #[test]
    fn prague_and_later_are_left_to_revm() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let (_, db, mut block, tx) = case(&mut rng);
            block.prevrandao = Some(B256::ZERO);
            block.set_blob_excess_gas_and_price(0, revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE);
            let mut evm = evm(SpecId::PRAGUE, db, block);
            evm.ctx.set_tx(tx.clone());
            assert!(execute(&mut evm.ctx, &tx).is_none());
        }
    }
}
