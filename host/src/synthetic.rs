//! Synthetic blocks with known shapes, for tests and benchmarks: independent transfers,
//! ERC-20-style token transfers, one hot contract every transaction writes, Uniswap-like swaps
//! across many pools, contract creations, reverts and out-of-gas.
//!
//! The contracts are small hand-assembled EVM programs (listed below with their stack effects),
//! so every transaction is real revm execution.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revm::bytecode::Bytecode;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use revm::state::AccountInfo;

use crate::env::BlockContext;
use crate::state::PreState;

/// A block to execute: environment, transactions and pre-state.
pub struct SyntheticBlock {
    pub name: String,
    pub ctx: BlockContext,
    pub txs: std::sync::Arc<[TxEnv]>,
    pub pre: std::sync::Arc<PreState>,
}

impl SyntheticBlock {
    /// The transactions, to change (tests that make a block invalid or odd); copied first if
    /// an executor still holds them.
    pub fn txs_mut(&mut self) -> &mut [TxEnv] {
        std::sync::Arc::make_mut(&mut self.txs)
    }
}

/// The kinds of synthetic blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Plain value transfers between distinct accounts: no conflicts at all.
    Transfers,
    /// Deposits: many senders pay one busy recipient (an exchange's hot wallet).
    Deposits,
    /// Payouts: one sender (an exchange's hot wallet, a mining pool) pays many recipients,
    /// nonce after nonce.
    Payouts,
    /// Token transfers among many holders (storage writes, logs), few conflicts.
    Erc20,
    /// Token transfers, each from its own holder to a holder no other transaction touches: no
    /// conflicts at all (the independent ERC-20 block of gigagas-style benchmarks).
    Erc20Independent,
    /// Every transaction increments the same storage slot: all conflict.
    HotContract,
    /// Swaps on randomly chosen pools of a Uniswap-like AMM: conflicts when pools repeat.
    Swaps,
    /// Contract creations, reverting and out-of-gas transactions, transfers to the beneficiary.
    Mixed,
    /// Shanghai rules: contracts with storage and balance self-destruct when called, and are
    /// then paid and called again as empty accounts.
    SelfDestructs,
    /// Deposits into and withdrawals from one WETH-like contract, whose ether balance every
    /// transaction moves; one in ten reads that balance (like WETH's totalSupply), and the
    /// contract starts short of ether, so early withdrawals may fail to pay out.
    Wrapped,
    /// A few shared tallies that most transactions add one to (up to a cap, from zero), some
    /// reset, mirror (cap minus the tally) or log, one in four twice through a proxy that counts
    /// its calls: runs that only add to a tally commit with it shifted, the others (and those
    /// where the shift would cross the cap or zero) are re-executed.
    Counters,
}

const BENEFICIARY: Address = Address::new([0xbe; 20]);
const TOKEN: Address = Address::new([0x70; 20]);
const COUNTER: Address = Address::new([0xc0; 20]);
const LOOP: Address = Address::new([0x10; 20]);
const WRAPPED: Address = Address::new([0x3e; 20]);
const TALLY: Address = Address::new([0x7a; 20]);
const TALLY_PROXY: Address = Address::new([0x7b; 20]);
const TRANSFER: &str = "transfer(address,uint256)";
/// The tallies of the `counters` workload (slots 0..TALLIES).
const TALLIES: u64 = 4;
const BASEFEE: u64 = 7;

/// A tiny assembler: opcodes, pushes, and one-byte jump labels.
#[derive(Default)]
struct Asm {
    code: Vec<u8>,
    labels: BTreeMap<&'static str, usize>,
    fixups: Vec<(usize, &'static str)>,
}

impl Asm {
    fn op(&mut self, ops: &[u8]) -> &mut Self {
        self.code.extend_from_slice(ops);
        self
    }
    fn push(&mut self, bytes: &[u8]) -> &mut Self {
        assert!((1..=32).contains(&bytes.len()));
        self.code.push(0x5f + bytes.len() as u8);
        self.code.extend_from_slice(bytes);
        self
    }
    fn push_label(&mut self, label: &'static str) -> &mut Self {
        self.code.push(0x60);
        self.fixups.push((self.code.len(), label));
        self.code.push(0);
        self
    }
    fn label(&mut self, label: &'static str) -> &mut Self {
        self.labels.insert(label, self.code.len());
        self.code.push(0x5b); // JUMPDEST
        self
    }
    /// amount = the calldata word at `amount_at`; `slot[caller] -= amount`, or jump to `fail` if
    /// short. Leaves the amount on the stack.
    fn debit_caller(&mut self, amount_at: u8) -> &mut Self {
        self.push(&[amount_at])
            .op(&[CALLDATALOAD]) // amount
            .op(&[CALLER, SLOAD]) // amount, balance
            .op(&[DUP2, DUP2, LT]) // amount, balance, balance < amount
            .push_label("fail")
            .op(&[JUMPI])
            .op(&[DUP2, SWAP1, SUB, CALLER, SSTORE]) // amount
    }
    /// The `fail` label: revert with no data.
    fn fail(&mut self) -> &mut Self {
        self.label("fail").push(&[0]).op(&[DUP1, REVERT])
    }
    /// Logs the word on top of the stack with `log` (LOG0..LOG4, topics pushed above it).
    fn log_word(&mut self, log: u8) -> &mut Self {
        self.push(&[0]).op(&[MSTORE]).push(&[0x20]).push(&[0]).op(&[log, STOP])
    }
    fn finish(&mut self) -> Bytes {
        for (at, label) in &self.fixups {
            self.code[*at] = u8::try_from(self.labels[label]).expect("label within 256 bytes");
        }
        Bytes::from(self.code.clone())
    }
}

// Opcodes used below.
const STOP: u8 = 0x00;
const ADD: u8 = 0x01;
const MUL: u8 = 0x02;
const SUB: u8 = 0x03;
const DIV: u8 = 0x04;
const LT: u8 = 0x10;
const EQ: u8 = 0x14;
const ISZERO: u8 = 0x15;
const CALLVALUE: u8 = 0x34;
const SELFBALANCE: u8 = 0x47;
const POP: u8 = 0x50;
const GAS: u8 = 0x5a;
const LOG0: u8 = 0xa0;
const CALL: u8 = 0xf1;
const CALLDATASIZE: u8 = 0x36;
const CALLDATACOPY: u8 = 0x37;
const CALLER: u8 = 0x33;
const CALLDATALOAD: u8 = 0x35;
const SHR: u8 = 0x1c;
const MSTORE: u8 = 0x52;
const SLOAD: u8 = 0x54;
const SSTORE: u8 = 0x55;
const JUMP: u8 = 0x56;
const JUMPI: u8 = 0x57;
const DUP1: u8 = 0x80;
const DUP2: u8 = 0x81;
const DUP3: u8 = 0x82;
const DUP4: u8 = 0x83;
const DUP5: u8 = 0x84;
const SWAP1: u8 = 0x90;
const LOG1: u8 = 0xa1;
const LOG3: u8 = 0xa3;
const RETURN: u8 = 0xf3;
const REVERT: u8 = 0xfd;
const CODECOPY: u8 = 0x39;
const SELFDESTRUCT: u8 = 0xff;

/// ERC-20's transfer(address to, uint256 amount), ABI-encoded (the selector is not checked);
/// balance of `a` at slot `a`. Reverts on insufficient balance; logs Transfer(from, to, amount).
fn token_code() -> Bytes {
    let sig = keccak256("Transfer(address,address,uint256)");
    Asm::default()
        .debit_caller(36) // amount
        .push(&[4])
        .op(&[CALLDATALOAD]) // amount, to
        .op(&[DUP1, SLOAD]) // amount, to, bal_to
        .op(&[DUP3, ADD]) // amount, to, bal_to + amount
        .op(&[SWAP1, SSTORE]) // amount
        .push(&[0])
        .op(&[MSTORE]) // mem[0] = amount
        .push(&[4])
        .op(&[CALLDATALOAD, CALLER]) // to, from
        .push(sig.as_slice()) // to, from, sig
        .push(&[0x20])
        .push(&[0])
        .op(&[LOG3, STOP])
        .fail()
        .finish()
}

/// WETH-like, the holder's wrapped balance at the slot of its address, called like WETH:
/// deposit() adds the value (and logs it), withdraw(uint256 amount) reverts if short and sends
/// the ether back with CALL, totalSupply() logs the contract's own ether balance (SELFBALANCE).
fn wrapped_code() -> Bytes {
    Asm::default()
        .push(&[0])
        .op(&[CALLDATALOAD])
        .push(&[0xe0])
        .op(&[SHR]) // selector
        .op(&[DUP1])
        .push(&selector("deposit()"))
        .op(&[EQ])
        .push_label("deposit")
        .op(&[JUMPI])
        .op(&[DUP1])
        .push(&selector("withdraw(uint256)"))
        .op(&[EQ])
        .push_label("withdraw")
        .op(&[JUMPI])
        .push(&selector("totalSupply()"))
        .op(&[EQ])
        .push_label("total")
        .op(&[JUMPI, STOP])
        .label("deposit")
        .op(&[POP, CALLER, SLOAD, CALLVALUE, ADD, CALLER, SSTORE]) // slot[caller] += value
        .op(&[CALLVALUE])
        .push_label("log")
        .op(&[JUMP])
        .label("withdraw")
        .op(&[POP])
        .debit_caller(4) // amount
        .push(&[0])
        .op(&[DUP1, DUP1, DUP1]) // amount, 0, 0, 0, 0
        .op(&[DUP5, CALLER, GAS, CALL, POP, POP, STOP]) // CALL(gas, caller, amount, 0, 0, 0, 0)
        .label("total")
        .op(&[SELFBALANCE])
        .label("log")
        .log_word(LOG0)
        .fail()
        .finish()
}

/// Tallies: calldata[0..32] picks the operation on tally `k` = calldata[32..64]: 0 adds one
/// while it is below `cap`, 1 resets it to zero (after reading it), 3 sets it to `cap` minus
/// itself, anything else logs it.
fn tally_code(cap: u64) -> Bytes {
    Asm::default()
        .push(&[0x20])
        .op(&[CALLDATALOAD]) // k
        .op(&[DUP1, SLOAD]) // k, v
        .push(&[0])
        .op(&[CALLDATALOAD]) // k, v, op
        .op(&[DUP1, ISZERO])
        .push_label("add")
        .op(&[JUMPI])
        .op(&[DUP1])
        .push(&[1])
        .op(&[EQ])
        .push_label("reset")
        .op(&[JUMPI])
        .push(&[3])
        .op(&[EQ])
        .push_label("mirror")
        .op(&[JUMPI]) // k, v
        .op(&[SWAP1, POP]) // v
        .log_word(LOG0)
        .label("add") // k, v, op
        .op(&[POP])
        .push(&cap.to_be_bytes())
        .op(&[DUP2, LT, ISZERO]) // k, v, !(v < cap)
        .push_label("done")
        .op(&[JUMPI])
        .push(&[1])
        .op(&[ADD, SWAP1, SSTORE, STOP]) // slot[k] = v + 1
        .label("done")
        .op(&[STOP])
        .label("reset") // k, v, op
        .op(&[POP, POP])
        .push(&[0])
        .op(&[SWAP1, SSTORE, STOP]) // slot[k] = 0
        .label("mirror") // k, v
        .push(&cap.to_be_bytes())
        .op(&[SUB, SWAP1, SSTORE, STOP]) // slot[k] = cap - v
        .finish()
}

/// Counts its calls in slot 0 around forwarding its calldata to the tallies twice: the count,
/// read before the calls, stays on its stack while the calls run.
fn tally_proxy_code() -> Bytes {
    let mut asm = Asm::default();
    asm.push(&[0]).op(&[SLOAD]); // n
    asm.op(&[CALLDATASIZE]).push(&[0]).push(&[0]).op(&[CALLDATACOPY]); // n; mem[..] = calldata
    for _ in 0..2 {
        asm.push(&[0]).push(&[0]).op(&[CALLDATASIZE]).push(&[0]).push(&[0]).push(TALLY.as_slice());
        asm.op(&[GAS, CALL, POP]); // n
    }
    asm.push(&[1]).op(&[ADD]).push(&[0]).op(&[SSTORE, STOP]); // slot[0] = n + 1
    asm.finish()
}

/// Increments slot 0 and logs the new value.
fn counter_code() -> Bytes {
    Asm::default()
        .push(&[0])
        .op(&[SLOAD])
        .push(&[1])
        .op(&[ADD, DUP1])
        .push(&[0])
        .op(&[SSTORE]) // new
        .push(&[0])
        .op(&[MSTORE])
        .push(&[0x11])
        .push(&[0x20])
        .push(&[0])
        .op(&[LOG1, STOP])
        .finish()
}

/// Loops forever: every call runs out of gas.
fn loop_code() -> Bytes {
    Asm::default().label("top").push_label("top").op(&[JUMP]).finish()
}

/// swap(amount_in = calldata[0..32]): out = r1 * in / (r0 + in); r0 += in; r1 -= out.
fn pool_code() -> Bytes {
    Asm::default()
        .push(&[0])
        .op(&[CALLDATALOAD]) // in
        .push(&[0])
        .op(&[SLOAD]) // in, r0
        .push(&[1])
        .op(&[SLOAD]) // in, r0, r1
        .op(&[DUP3, DUP3, ADD]) // in, r0, r1, r0+in
        .op(&[DUP4, DUP3, MUL]) // in, r0, r1, r0+in, r1*in
        .op(&[DIV]) // in, r0, r1, out
        .op(&[SWAP1, SUB]) // in, r0, r1-out
        .push(&[1])
        .op(&[SSTORE]) // in, r0
        .op(&[ADD]) // r0+in
        .push(&[0])
        .op(&[SSTORE, STOP])
        .finish()
}

/// Self-destructs, sending its balance to a fixed heir.
fn destruct_code() -> Bytes {
    Asm::default().push(Address::new([0xee; 20]).as_slice()).op(&[SELFDESTRUCT]).finish()
}

fn destructible(i: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xd0;
    bytes[12..].copy_from_slice(&i.to_be_bytes());
    Address::new(bytes)
}

/// Init code that deploys `runtime`.
fn creation_code(runtime: &[u8]) -> Bytes {
    let len = u8::try_from(runtime.len()).expect("short runtime");
    let mut init = Asm::default();
    init.push(&[len]).op(&[DUP1]).push(&[0x0c]).push(&[0]).op(&[CODECOPY]).push(&[0]).op(&[RETURN]);
    let mut code = init.finish().to_vec();
    assert_eq!(code.len(), 0x0b);
    code.insert(0, 0x5f); // PUSH0 pad so the runtime starts at 0x0c: (PUSH0 is harmless, Shanghai+)
    code.extend_from_slice(runtime);
    Bytes::from(code)
}

fn account(i: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xaa;
    bytes[12..].copy_from_slice(&i.to_be_bytes());
    Address::new(bytes)
}

fn pool(i: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0x9e;
    bytes[12..].copy_from_slice(&i.to_be_bytes());
    Address::new(bytes)
}

fn contract(code: Bytes) -> AccountInfo {
    let bytecode = Bytecode::new_raw(code);
    AccountInfo::default().with_code_and_hash(bytecode.clone(), bytecode.hash_slow())
}

fn call(from: Address, nonce: u64, to: Address, value: U256, data: Bytes, gas: u64) -> TxEnv {
    TxEnv {
        tx_type: 2,
        caller: from,
        gas_limit: gas,
        gas_price: 2_000_000_000,
        gas_priority_fee: Some(1_000_000_000),
        kind: TxKind::Call(to),
        value,
        data,
        nonce,
        chain_id: Some(1),
        ..Default::default()
    }
}

fn words(values: &[U256]) -> Bytes {
    Bytes::from(values.iter().flat_map(|v| v.to_be_bytes::<32>()).collect::<Vec<u8>>())
}

/// The 4-byte selector of a Solidity function signature.
fn selector(signature: &str) -> [u8; 4] {
    keccak256(signature)[..4].try_into().expect("four bytes")
}

/// An ABI-encoded call: selector, then one word per argument.
fn abi(signature: &str, args: &[U256]) -> Bytes {
    Bytes::from([selector(signature).as_slice(), &words(args)].concat())
}

/// An address as an ABI word.
fn address_word(address: Address) -> U256 {
    U256::from_be_slice(address.as_slice())
}

/// Builds a block of `n` transactions of the given workload, deterministic in `seed`.
pub fn build(workload: Workload, n: usize, seed: u64) -> SyntheticBlock {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rich = U256::from(10u128.pow(24));
    let mut accounts: Vec<(Address, AccountInfo, BTreeMap<U256, U256>)> = Vec::new();
    let mut txs = Vec::with_capacity(n);
    let n64 = n as u64;
    let eoa = |i: u64| (account(i), AccountInfo::default().with_balance(rich), BTreeMap::new());
    match workload {
        Workload::Transfers => {
            for i in 0..n64 {
                accounts.push(eoa(i));
                txs.push(call(account(i), 0, account(1_000_000 + i), U256::from(1_000 + i), Bytes::new(), 21_000));
            }
        }
        Workload::Deposits => {
            let hot_wallet = account(9_999_999);
            accounts.push(eoa(9_999_999));
            for i in 0..n64 {
                accounts.push(eoa(i));
                txs.push(call(account(i), 0, hot_wallet, U256::from(1_000_000 + i), Bytes::new(), 21_000));
            }
        }
        Workload::Payouts => {
            let hot_wallet = account(9_999_999);
            accounts.push(eoa(9_999_999));
            for i in 0..n64 {
                txs.push(call(hot_wallet, i, account(1_000_000 + i), U256::from(1_000_000 + i), Bytes::new(), 21_000));
            }
        }
        Workload::Erc20 | Workload::Erc20Independent => {
            let holders = (n64 * 4).max(8);
            let mut storage = BTreeMap::new();
            for i in 0..holders {
                accounts.push(eoa(i));
                storage.insert(U256::from_be_slice(account(i).as_slice()), U256::from(1_000_000u64));
            }
            accounts.push((TOKEN, contract(token_code()), storage));
            for i in 0..n64 {
                // Senders are holders 0..n; an independent transfer pays holder n + i, whom no
                // other transaction touches.
                let to = match workload {
                    Workload::Erc20Independent => account(n64 + i),
                    _ => account(rng.random_range(0..holders)),
                };
                let data = abi(TRANSFER, &[address_word(to), U256::from(rng.random_range(1..1000u64))]);
                txs.push(call(account(i), 0, TOKEN, U256::ZERO, data, 100_000));
            }
        }
        Workload::HotContract => {
            accounts.push((COUNTER, contract(counter_code()), BTreeMap::new()));
            for i in 0..n64 {
                accounts.push(eoa(i));
                txs.push(call(account(i), 0, COUNTER, U256::ZERO, Bytes::new(), 60_000));
            }
        }
        Workload::Swaps => {
            let pools = (n64 / 4).max(4);
            for p in 0..pools {
                let reserves = BTreeMap::from([
                    (U256::ZERO, U256::from(10u64.pow(18))),
                    (U256::from(1), U256::from(10u64.pow(18))),
                ]);
                accounts.push((pool(p), contract(pool_code()), reserves));
            }
            for i in 0..n64 {
                accounts.push(eoa(i));
                let data = words(&[U256::from(rng.random_range(1_000..1_000_000u64))]);
                txs.push(call(account(i), 0, pool(rng.random_range(0..pools)), U256::ZERO, data, 100_000));
            }
        }
        Workload::Mixed => {
            let mut storage = BTreeMap::new();
            for i in 0..16 {
                accounts.push(eoa(i));
                storage.insert(U256::from_be_slice(account(i).as_slice()), U256::from(500u64));
            }
            accounts.push((TOKEN, contract(token_code()), storage));
            accounts.push((LOOP, contract(loop_code()), BTreeMap::new()));
            accounts.push((COUNTER, contract(counter_code()), BTreeMap::new()));
            let mut nonces = [0u64; 16];
            for _ in 0..n64 {
                let s = rng.random_range(0..16u64);
                let from = account(s);
                let nonce = nonces[s as usize];
                nonces[s as usize] += 1;
                let tx = match rng.random_range(0..7) {
                    0 => TxEnv {
                        kind: TxKind::Create,
                        ..call(from, nonce, Address::ZERO, U256::ZERO, creation_code(&counter_code()), 200_000)
                    },
                    // Transfers more than the balance: reverts.
                    1 => call(
                        from,
                        nonce,
                        TOKEN,
                        U256::ZERO,
                        abi(TRANSFER, &[U256::from(1), U256::from(10_000u64)]),
                        100_000,
                    ),
                    2 => call(from, nonce, LOOP, U256::ZERO, Bytes::new(), 50_000),
                    3 => call(from, nonce, BENEFICIARY, U256::from(12_345u64), Bytes::new(), 21_000),
                    4 => call(from, nonce, COUNTER, U256::ZERO, Bytes::new(), 60_000),
                    _ => {
                        let to = account(rng.random_range(0..16u64));
                        call(
                            from,
                            nonce,
                            TOKEN,
                            U256::ZERO,
                            abi(TRANSFER, &[address_word(to), U256::from(3u64)]),
                            100_000,
                        )
                    }
                };
                txs.push(tx);
            }
        }
        Workload::SelfDestructs => {
            for d in 0..8 {
                let info = contract(destruct_code()).with_balance(U256::from(1_000u64));
                accounts.push((destructible(d), info, BTreeMap::from([(U256::ZERO, U256::from(5u64))])));
            }
            let mut nonces = [0u64; 16];
            for i in 0..16 {
                accounts.push(eoa(i));
            }
            for _ in 0..n64 {
                let s = rng.random_range(0..16u64);
                let nonce = nonces[s as usize];
                nonces[s as usize] += 1;
                let target = destructible(rng.random_range(0..8u64));
                let value = U256::from(rng.random_range(0..3u64) * 100);
                txs.push(match rng.random_range(0..4) {
                    0 => TxEnv {
                        kind: TxKind::Create,
                        ..call(account(s), nonce, Address::ZERO, U256::ZERO, creation_code(&counter_code()), 200_000)
                    },
                    _ => call(account(s), nonce, target, value, Bytes::new(), 60_000),
                });
            }
        }
        Workload::Wrapped => {
            let mut holdings = BTreeMap::new();
            for i in 0..n64 {
                accounts.push(eoa(i));
                holdings.insert(U256::from_be_slice(account(i).as_slice()), U256::from(10u64.pow(18)));
            }
            // Less ether than the holdings: early withdrawals can find the contract short (the
            // CALL fails and the ether stays), so some runs depend on its balance.
            let reserve = U256::from(2 * 10u64.pow(17));
            accounts.push((WRAPPED, contract(wrapped_code()).with_balance(reserve), holdings));
            for i in 0..n64 {
                let amount = U256::from(rng.random_range(1..10u64.pow(17)));
                let (data, value) = match rng.random_range(0..10) {
                    0 => (abi("totalSupply()", &[]), U256::ZERO),
                    1..=5 => (abi("deposit()", &[]), amount),
                    _ => (abi("withdraw(uint256)", &[amount]), U256::ZERO),
                };
                txs.push(call(account(i), 0, WRAPPED, value, data, 100_000));
            }
        }
        Workload::Counters => {
            // A mirror (cap minus the tally) puts a tally near the cap, so later adds meet it.
            let cap = (n64 / (2 * TALLIES)).max(2);
            accounts.push((TALLY, contract(tally_code(cap)), BTreeMap::new()));
            accounts.push((TALLY_PROXY, contract(tally_proxy_code()), BTreeMap::new()));
            for i in 0..n64 {
                accounts.push(eoa(i));
                let op = match rng.random_range(0..20) {
                    0 => 1,
                    1..=3 => 2,
                    4 => 3,
                    _ => 0,
                };
                let data = words(&[U256::from(op), U256::from(rng.random_range(0..TALLIES))]);
                // One in four through the proxy: nested calls, each frame with its own counters.
                let to = if rng.random_range(0..4) == 0 { TALLY_PROXY } else { TALLY };
                txs.push(call(account(i), 0, to, U256::ZERO, data, 150_000));
            }
        }
    }
    let spec = if workload == Workload::SelfDestructs { SpecId::SHANGHAI } else { SpecId::CANCUN };
    let mut cfg = CfgEnv::new_with_spec(spec);
    cfg.chain_id = 1;
    let mut block = BlockEnv {
        number: U256::from(20_000_000u64),
        beneficiary: BENEFICIARY,
        timestamp: U256::from(1_720_000_000u64),
        gas_limit: u64::MAX / 2,
        basefee: BASEFEE,
        prevrandao: Some(B256::repeat_byte(0x42)),
        ..Default::default()
    };
    if spec == SpecId::CANCUN {
        block.set_blob_excess_gas_and_price(0, revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN);
    }
    SyntheticBlock {
        name: format!("{workload:?} × {n}"),
        ctx: BlockContext { spec, cfg, block },
        txs: txs.into(),
        pre: std::sync::Arc::new(PreState::from_parts(accounts, BTreeMap::new())),
    }
}
