//! KECCAK256 of one or two words, remembered per thread and block.
//!
//! Solidity finds a mapping's slot by hashing the key with the mapping's slot number, and
//! does so again for every access: a token transfer hashes the sender's and the recipient's
//! balance slots once to read and once to write, and every later transaction touching the
//! same holder hashes them again. revm hashes each time. The executor's instruction
//! replaces KECCAK256 of 32 or 64 bytes (the mapping and array cases) with a lookup in a
//! table of this block's earlier hashes, falling back to revm's instruction for every other
//! length and wherever memory would grow, so gas and memory stay exactly revm's.
//!
//! A block whose keys do not repeat gains nothing and pays for every insert: 15,537,393 (one
//! transaction) hashes 1,306 distinct keys and repeats 2, and ran ~3 % slower with the table.
//! Every other shared block repeats ≥ 43 % of its first 512 lookups (a slot is read, then
//! written). So a table that served fewer than one in eight of its first 256 lookups is
//! turned off for the rest of the block on that thread.

use revm::context_interface::ContextTr;
use revm::interpreter::instructions::system;
use revm::interpreter::interpreter_types::{MemoryTr, StackTr};
use revm::interpreter::{Host, InstructionContext, InstructionExecResult, InterpreterTypes};
use revm::primitives::{B256, HashMap, U256, keccak256};

/// This block's hashes of 32- and 64-byte inputs on one thread.
#[derive(Default)]
pub(crate) struct KeccakMemo {
    one_word: HashMap<[u8; 32], B256>,
    two_words: HashMap<[u8; 64], B256>,
    /// Lookups and hits so far, counted until [`PROBATION`] lookups decide [`Self::off`].
    lookups: u32,
    hits: u32,
    /// Serving too few lookups to pay for itself: every hash goes to revm's instruction.
    off: bool,
}

/// Lookups after which a table that served fewer than one in eight is turned off.
const PROBATION: u32 = 256;

/// Inputs each table keeps at most (~10 MB for both): a block that hashes millions of
/// distinct words (a loop over a counter) gains nothing from a table and must not grow one
/// without bound; past this, new inputs are hashed and not kept.
const MEMO_ENTRIES: usize = 1 << 16;

impl KeccakMemo {
    /// keccak256 of `input` (32 or 64 bytes; any other length is hashed, not remembered).
    pub(crate) fn hash(&mut self, input: &[u8]) -> B256 {
        let (hash, hit) = if let Ok(word) = <[u8; 32]>::try_from(input) {
            remembered(&mut self.one_word, word)
        } else if let Ok(words) = <[u8; 64]>::try_from(input) {
            remembered(&mut self.two_words, words)
        } else {
            return keccak256(input);
        };
        if self.lookups < PROBATION {
            self.lookups += 1;
            self.hits += u32::from(hit);
            self.off = self.lookups == PROBATION && self.hits * 8 < PROBATION;
        }
        hash
    }

    /// Is the table in use (not turned off for serving too few lookups)?
    pub(crate) fn on(&self) -> bool {
        !self.off
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.one_word.len() + self.two_words.len()
    }
}

/// keccak256 of `input` from `table` (and true), or hashed and kept there while it has room.
fn remembered<const N: usize>(table: &mut HashMap<[u8; N], B256>, input: [u8; N]) -> (B256, bool) {
    use std::collections::hash_map::Entry;
    if table.len() < MEMO_ENTRIES {
        return match table.entry(input) {
            Entry::Occupied(kept) => (*kept.get(), true),
            Entry::Vacant(room) => (*room.insert(keccak256(input)), false),
        };
    }
    table.get(&input).map_or_else(|| (keccak256(input), false), |hash| (*hash, true))
}

/// A database that keeps a [`KeccakMemo`] for the runs it serves.
pub(crate) trait MemoizesKeccak {
    fn keccak_memo(&mut self) -> &mut KeccakMemo;
}

/// KECCAK256 with the memo: offset and length on the stack, the hash replaces them.
pub(crate) fn keccak256_memoized<W: InterpreterTypes, H: Host + ContextTr>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult
where
    H::Db: MemoizesKeccak,
{
    let InstructionContext { interpreter, host } = ctx;
    if !host.db_mut().keccak_memo().on() {
        return system::keccak256(InstructionContext { interpreter, host });
    }
    let memoized = |interpreter: &revm::interpreter::Interpreter<W>| -> Option<(usize, usize)> {
        let data = interpreter.stack.data();
        let [.., len, offset] = data else { return None };
        let len = match *len {
            l if l == U256::from(32) => 32,
            l if l == U256::from(64) => 64,
            _ => return None,
        };
        let offset = usize::try_from(*offset).ok()?;
        // Inside memory already: revm's instruction would charge no expansion.
        let end = offset.checked_add(len)?;
        (end.div_ceil(32) <= interpreter.gas.memory().words_num).then_some((offset, len))
    };
    let Some((offset, len)) = memoized(interpreter) else {
        return system::keccak256(InstructionContext { interpreter, host });
    };
    if !interpreter.gas.record_regular_cost(host.gas_params().keccak256_cost(len)) {
        // Out of gas: revm's instruction fails the same way (the charge above left gas as it was).
        return system::keccak256(InstructionContext { interpreter, host });
    }
    let hash = host.db_mut().keccak_memo().hash(&interpreter.memory.slice_len(offset, len));
    let Some(([_], top)) = interpreter.stack.popn_top::<1>() else { unreachable!("two items were on the stack") };
    *top = hash.into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use rand::{Rng, SeedableRng};
    use revm::bytecode::{Bytecode, opcode};
    use revm::context::{CfgEnv, TxEnv};
    use revm::database::{CacheDB, EmptyDB};
    use revm::interpreter::Instruction;
    use revm::primitives::hardfork::SpecId;
    use revm::primitives::{Address, Bytes, TxKind};
    use revm::state::AccountInfo;
    use revm::{Context, Database, ExecuteEvm, MainBuilder, MainContext};

    use super::*;

    #[test]
    fn remembers_one_and_two_words_and_hashes_other_lengths_plainly() {
        let mut memo = KeccakMemo::default();
        for input in [&[7u8; 32][..], &[9u8; 64][..], &[1u8; 33][..], &[][..]] {
            assert_eq!(memo.hash(input), keccak256(input));
            assert_eq!(memo.hash(input), keccak256(input), "again, from the memo");
        }
        assert_eq!(memo.len(), 2, "only the 32- and 64-byte inputs are kept");

        // Full: new inputs are hashed right and not kept; kept ones are still served.
        let mut memo = KeccakMemo::default();
        for i in 0..MEMO_ENTRIES as u64 + 10 {
            let input = U256::from(i).to_be_bytes::<32>();
            assert_eq!(memo.hash(&input), keccak256(input));
        }
        assert_eq!(memo.len(), MEMO_ENTRIES);
        assert_eq!(memo.hash(&[0; 32]), keccak256([0u8; 32]));
    }

    #[test]
    fn turns_off_when_its_first_lookups_barely_repeat() {
        let word = |i: u64| U256::from(i).to_be_bytes::<32>();
        // Distinct keys, one in ten repeated: off after the probation.
        let mut memo = KeccakMemo::default();
        for i in 0..PROBATION as u64 {
            let input = if i % 10 == 9 { word(0) } else { word(i) };
            assert!(memo.on());
            assert_eq!(memo.hash(&input), keccak256(input));
        }
        assert!(!memo.on());
        // A key read, then written (each hashed twice): half repeat, on for good.
        let mut memo = KeccakMemo::default();
        for i in 0..4 * PROBATION as u64 {
            memo.hash(&word(i / 2));
        }
        assert!(memo.on());
        // Other lengths are not lookups.
        let mut memo = KeccakMemo::default();
        (0..2 * PROBATION).for_each(|_| _ = memo.hash(&[5; 40]));
        assert!(memo.on() && memo.len() == 0);
    }

    /// A database with a memo, for revm with the memoized instruction.
    struct MemoDb(CacheDB<EmptyDB>, KeccakMemo);

    impl MemoizesKeccak for MemoDb {
        fn keccak_memo(&mut self) -> &mut KeccakMemo {
            &mut self.1
        }
    }

    impl Database for MemoDb {
        type Error = Infallible;
        fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
            self.0.basic(address)
        }
        fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Infallible> {
            self.0.code_by_hash(code_hash)
        }
        fn storage(&mut self, address: Address, index: U256) -> Result<U256, Infallible> {
            self.0.storage(address, index)
        }
        fn block_hash(&mut self, number: u64) -> Result<B256, Infallible> {
            self.0.block_hash(number)
        }
    }

    fn push32(code: &mut Vec<u8>, value: U256) {
        code.push(opcode::PUSH32);
        code.extend_from_slice(&value.to_be_bytes::<32>());
    }

    /// A contract that copies its calldata into memory (so memory is as large as the calldata),
    /// hashes `len` bytes at `offset` twice (the second from the memo) and then `len` bytes at
    /// `offset + 1`, and returns the sum of the three hashes; or, for `offset` None, runs
    /// KECCAK256 on a stack of one item.
    fn contract(offset: Option<U256>, len: U256) -> Bytecode {
        let mut code = vec![opcode::CALLDATASIZE, opcode::PUSH1, 0, opcode::PUSH1, 0, opcode::CALLDATACOPY];
        let Some(offset) = offset else {
            push32(&mut code, len);
            code.push(opcode::KECCAK256);
            return Bytecode::new_raw(code.into());
        };
        for offset in [offset, offset, offset.wrapping_add(U256::from(1))] {
            push32(&mut code, len);
            push32(&mut code, offset);
            code.push(opcode::KECCAK256);
        }
        code.extend_from_slice(&[opcode::ADD, opcode::ADD, opcode::PUSH1, 0, opcode::MSTORE]);
        code.extend_from_slice(&[opcode::PUSH1, 32, opcode::PUSH1, 0, opcode::RETURN]);
        Bytecode::new_raw(code.into())
    }

    /// The memoized instruction ends every run as revm's does: same result, gas and output,
    /// whether the input is in memory or memory must grow, at every length, offsets past any
    /// memory, and gas running out at the hash or its memory. (At Cancun, the last fork of the
    /// shared blocks: from Prague on, EIP-7623's calldata floor would replace the execution
    /// gas of most of these calls and hide a difference in it.)
    #[test]
    fn matches_revm_instruction() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5a3);
        let huge = U256::from(1u64 << 40);
        let offsets = [0u64, 1, 5, 31, 32, 60, 100, 150, 190].map(U256::from);
        let lens = [0u64, 1, 31, 32, 33, 63, 64, 65, 100].map(U256::from);
        let (contract_address, caller) = (Address::with_last_byte(0xc0), Address::with_last_byte(0xca));
        let (mut served, mut served_then_out_of_gas) = (0, 0);
        for _ in 0..6_000 {
            let offset = match rng.random_range(0..20) {
                0 => None,
                1 => Some(U256::MAX),
                2 => Some(huge),
                _ => Some(offsets[rng.random_range(0..offsets.len())]),
            };
            let len = if rng.random_range(0..20) == 0 { huge } else { lens[rng.random_range(0..lens.len())] };
            let calldata: Bytes = (0..rng.random_range(0..300)).map(|_| rng.random::<u8>()).collect();
            let mut db = CacheDB::new(EmptyDB::default());
            db.insert_account_info(contract_address, AccountInfo::from_bytecode(contract(offset, len)));
            let tx = |gas_limit| TxEnv {
                caller,
                gas_limit,
                kind: TxKind::Call(contract_address),
                data: calldata.clone(),
                ..Default::default()
            };
            let cfg = CfgEnv::new_with_spec(SpecId::CANCUN);
            let mut plain = Context::mainnet().with_cfg(cfg.clone()).with_db(db.clone()).build_mainnet();
            let mut memoized =
                Context::mainnet().with_cfg(cfg).with_db(MemoDb(db, KeccakMemo::default())).build_mainnet();
            memoized.instruction.instruction_table_mut()[opcode::KECCAK256 as usize] =
                Instruction::new(keccak256_memoized);
            // Enough gas, or a limit that runs out in the hashes and what follows them (the
            // last ~150 gas), or anywhere in the last 400.
            let enough = plain.transact(tx(1_000_000)).expect("valid").result.tx_gas_used();
            let limit = match rng.random_range(0..4) {
                0 => 1_000_000,
                1 => enough.saturating_sub(rng.random_range(0..400)),
                _ => enough.saturating_sub(rng.random_range(0..150)),
            };
            let expected = plain.transact(tx(limit)).map(|r| r.result);
            let got = memoized.transact(tx(limit)).map(|r| r.result);
            assert_eq!(format!("{got:?}"), format!("{expected:?}"), "offset {offset:?} len {len} limit {limit}");
            if memoized.ctx.journaled_state.database.1.len() > 0 {
                served += 1;
                served_then_out_of_gas += usize::from(expected.is_ok_and(|r| r.is_halt()));
            }
        }
        // Enough runs took the memo, and enough of them ran out of gas at or after a hash.
        assert!(served > 500 && served_then_out_of_gas > 250, "{served} served, {served_then_out_of_gas} out of gas");
    }
}
