//! Which account balances a speculative run depended on.
//!
//! A helper's result that read an account's balance which the committed state has since
//! changed is stale by the usual rule. But most such runs never looked at the number: calling
//! WETH, or paying a deposit contract, credits or debits a balance without reading it. Such a
//! result can be committed with the balance shifted by the difference, instead of being
//! re-executed, provided nothing in the run depended on the balance. The EVM depends on a
//! balance in few places, and those are the opcodes watched here: BALANCE and SELFBALANCE
//! read it, SELFDESTRUCT moves all of it, and CALL, CALLCODE, CREATE and CREATE2 with a value
//! check that the sender can pay (recorded with the slack left, so a shift that keeps every
//! such check passing is still allowed). Emptiness (which also decides gas and EXTCODEHASH)
//! and the transaction's own up-front check on its sender are handled by the committer
//! (`repair` in exec/parallel.rs).
//!
//! The list is revm 43's: every place it reads or checks a balance while executing (checked
//! against its sources). A revm upgrade must be checked against it again; the synthetic
//! `wrapped` workload, whose runs read, spend and fall short of a balance, fails if a use is
//! missed there.

use revm::bytecode::opcode;
use revm::context_interface::ContextTr;
use revm::interpreter::instructions::utility::IntoAddress;
use revm::interpreter::instructions::{contract, host};
use revm::interpreter::interpreter_types::{InputsTr, StackTr};
use revm::interpreter::{
    Host, Instruction, InstructionContext, InstructionExecResult, InstructionTable, InterpreterTypes,
};
use revm::primitives::{Address, U256};

use super::keccak_memo::{MemoizesKeccak, keccak256_memoized};

/// How a run used an account's balance, beyond adding to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BalanceUse {
    /// Read (BALANCE, SELFBALANCE), moved whole (SELFDESTRUCT), or short of a value it had
    /// to send: the run may have depended on its exact value.
    Observed,
    /// A value sent out of it, with `slack` (balance minus value) to spare at that moment.
    Spent { slack: U256 },
}

/// A database that keeps the balance uses of the run it serves.
pub(crate) trait RecordsBalanceUses {
    /// Is the run being recorded (a speculative one)?
    fn watching(&self) -> bool;
    fn record_balance_use(&mut self, address: Address, usage: BalanceUse);
}

/// Replaces the balance-dependent opcodes of `table` with watching ones.
pub(crate) fn watch<W, H>(table: &mut InstructionTable<W, H>)
where
    W: InterpreterTypes,
    H: Host + ContextTr,
    H::Db: RecordsBalanceUses + MemoizesKeccak,
{
    *table = const { watched_table::<W, H>() };
}

/// revm's instruction table with the balance-dependent opcodes watching (and KECCAK256
/// remembering, see exec/keccak_memo.rs).
pub(crate) const fn watched_table<W, H>() -> InstructionTable<W, H>
where
    W: InterpreterTypes,
    H: Host + ContextTr,
    H::Db: RecordsBalanceUses + MemoizesKeccak,
{
    let mut table = revm::interpreter::instruction_table::<W, H>();
    table[opcode::BALANCE as usize] = Instruction::new(balance::<W, H>);
    table[opcode::SELFBALANCE as usize] = Instruction::new(selfbalance::<W, H>);
    table[opcode::SELFDESTRUCT as usize] = Instruction::new(selfdestruct::<W, H>);
    table[opcode::CALL as usize] = Instruction::new(call::<W, H>);
    table[opcode::CALLCODE as usize] = Instruction::new(callcode::<W, H>);
    table[opcode::CREATE as usize] = Instruction::new(create::<W, H>);
    table[opcode::CREATE2 as usize] = Instruction::new(create2::<W, H>);
    table[opcode::KECCAK256 as usize] = Instruction::new(keccak256_memoized::<W, H>);
    table
}

fn record<W: InterpreterTypes, H: Host + ContextTr>(
    ctx: &mut InstructionContext<'_, H, W>,
    address: Address,
    usage: BalanceUse,
) where
    H::Db: RecordsBalanceUses,
{
    let db = ctx.host.db_mut();
    if db.watching() {
        db.record_balance_use(address, usage);
    }
}

/// The stack item `depth` places below the top.
pub(crate) fn peek<W: InterpreterTypes>(stack: &W::Stack, depth: usize) -> Option<U256> {
    let data = stack.data();
    data.len().checked_sub(depth + 1).map(|i| data[i])
}

/// A value about to leave the current account: how much balance is left to spare.
fn spend<W: InterpreterTypes, H: Host + ContextTr>(ctx: &mut InstructionContext<'_, H, W>, value_depth: usize)
where
    H::Db: RecordsBalanceUses,
{
    let Some(value) = peek::<W>(&ctx.interpreter.stack, value_depth) else { return };
    if value.is_zero() || !ctx.host.db_mut().watching() {
        return;
    }
    let from = ctx.interpreter.input.target_address();
    let usage = match ctx.host.balance(from) {
        Some(balance) if balance.data >= value => BalanceUse::Spent { slack: balance.data - value },
        _ => BalanceUse::Observed,
    };
    record(ctx, from, usage);
}

fn balance<W: InterpreterTypes, H: Host + ContextTr>(mut ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    if let Some(top) = peek::<W>(&ctx.interpreter.stack, 0) {
        record(&mut ctx, top.into_address(), BalanceUse::Observed);
    }
    host::balance(ctx)
}

fn selfbalance<W: InterpreterTypes, H: Host + ContextTr>(mut ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    let me = ctx.interpreter.input.target_address();
    record(&mut ctx, me, BalanceUse::Observed);
    host::selfbalance(ctx)
}

fn selfdestruct<W: InterpreterTypes, H: Host + ContextTr>(
    mut ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    let me = ctx.interpreter.input.target_address();
    record(&mut ctx, me, BalanceUse::Observed);
    host::selfdestruct(ctx)
}

/// CALL and CALLCODE: gas, address, value, … on the stack.
fn call<W: InterpreterTypes, H: Host + ContextTr>(mut ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    spend(&mut ctx, 2);
    contract::call::<{ opcode::CALL }, W, H>(ctx)
}

fn callcode<W: InterpreterTypes, H: Host + ContextTr>(mut ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    spend(&mut ctx, 2);
    contract::call::<{ opcode::CALLCODE }, W, H>(ctx)
}

/// CREATE and CREATE2: value, offset, size, … on the stack.
fn create<W: InterpreterTypes, H: Host + ContextTr>(mut ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    spend(&mut ctx, 0);
    contract::create::<false, W, H>(ctx)
}

fn create2<W: InterpreterTypes, H: Host + ContextTr>(mut ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    H::Db: RecordsBalanceUses,
{
    spend(&mut ctx, 0);
    contract::create::<true, W, H>(ctx)
}
