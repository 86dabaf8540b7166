//! What a speculative run did with the storage values it read.
//!
//! Most stale storage reads left in real blocks are counters that many transactions move: an
//! exchange's token balance that every deposit adds to (block 8,889,776: ~120 of its 145
//! re-executions). A run that read such a slot typically adds to or subtracts
//! from the value, checks it against an amount, and stores it back: its result is then the same
//! with the value shifted by how much the committed state differs, and the stored value shifted
//! by that much too. This module follows each value read from storage through the helper's EVM
//! (a shadow of the stack, per call frame) to find out whether that is all the run did:
//!
//! - ADD with a value that does not come from storage, SUB of such a value, DUP, SWAP and POP
//!   keep the value "shifted by the read" (the shift is exact modulo 2^256);
//! - LT, GT, SLT, SGT, EQ and ISZERO record a [`Predicate`]: the comparison's outcome, which
//!   must come out the same with the shifted operands;
//! - SSTORE of such a value into the very slot it was read from keeps that slot shiftable,
//!   recording whether the original, present and new values are zero (all that SSTORE's gas
//!   and refund depend on besides equalities, which a common shift keeps);
//! - anything else that takes such a value (memory, hashing, jumps, calls, logs, other
//!   arithmetic, storing it elsewhere or storing anything else into the slot) marks the read
//!   *observed*: a result with that read stale is re-executed.
//!
//! The committer (`repair` in exec/parallel.rs) applies the shift only when every predicate
//! still holds, and never to an account the run created or destroyed.
//!
//! Tracing costs the helper time, so it is kept narrow. Only runs that may move a shared
//! counter are traced (the executor picks them: an earlier transaction outside the helper's
//! stretch made a related call), on an instruction table swapped in for them; an untraced
//! run's stale storage reads are never shifted. In a traced run every opcode is wrapped, but it
//! runs as it is after one check unless it is SLOAD or SSTORE or reaches a stack item holding a
//! value from storage; and a run stops being traced after [`TRACE_BUDGET`] traced opcodes.
//!
//! The rules are revm 43's EVM (its stack effects in `OPCODE_INFO`, its SSTORE gas rules); a
//! revm upgrade must be checked against them. The synthetic `counters` workload (adds, resets,
//! caps, zero crossings, logs) fails if a rule is missing.

use revm::bytecode::opcode::{self, OPCODE_INFO};
use revm::context_interface::ContextTr;
use revm::context_interface::journaled_state::JournalTr;
use revm::interpreter::instructions::i256::i256_cmp;
use revm::interpreter::interpreter_types::{InputsTr, StackTr};
use revm::interpreter::{
    Host, Instruction, InstructionContext, InstructionExecResult, InstructionTable, InterpreterTypes,
};
use revm::primitives::{Address, U256};
use revm::state::EvmState;

use super::balance_uses::{self, RecordsBalanceUses, peek};
use super::keccak_memo::MemoizesKeccak;

/// One operand of a recorded comparison: its value in the run, and the storage read it is
/// shifted with (an index into the run's storage reads), if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Operand {
    value: U256,
    read: Option<u32>,
}

impl Operand {
    fn shifted(&self, shift: &impl Fn(usize) -> U256) -> U256 {
        match self.read {
            Some(read) => self.value.wrapping_add(shift(read as usize)),
            None => self.value,
        }
    }
}

/// A comparison the run made on a value from storage, with its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Predicate {
    op: u8,
    a: Operand,
    /// Unused for ISZERO.
    b: Operand,
    outcome: bool,
}

/// EVM comparison `op` of `a` (the top of the stack) with `b` (the item below).
fn compare(op: u8, a: U256, b: U256) -> bool {
    match op {
        opcode::LT => a < b,
        opcode::GT => a > b,
        opcode::SLT => i256_cmp(&a, &b).is_lt(),
        opcode::SGT => i256_cmp(&a, &b).is_gt(),
        opcode::EQ => a == b,
        opcode::ISZERO => a.is_zero(),
        _ => unreachable!("not a comparison: {op:#x}"),
    }
}

/// What a run did with the values of its storage reads (indices into its storage reads).
/// Until [`SlotUses::start`] says the run is traced, no read may be shifted.
#[derive(Clone, Debug)]
pub(crate) struct SlotUses {
    /// Reads whose value the run depended on otherwise than through shifts and comparisons.
    observed: Vec<u32>,
    predicates: Vec<Predicate>,
    /// Not traced, or tracing stopped part-way (see [`TRACE_BUDGET`]): no read may be shifted.
    untraced: bool,
}

impl Default for SlotUses {
    fn default() -> Self {
        SlotUses { observed: Vec::new(), predicates: Vec::new(), untraced: true }
    }
}

impl SlotUses {
    /// Forgets the last run's uses; `traced`: whether the next run is traced (an untraced
    /// run's reads are never shifted).
    pub fn start(&mut self, traced: bool) {
        self.observed.clear();
        self.predicates.clear();
        self.untraced = !traced;
    }

    /// Can read `read` be shifted, as far as the run's uses of it go?
    pub fn shiftable(&self, read: usize) -> bool {
        !self.untraced && !self.observed.contains(&(read as u32))
    }

    /// Does every comparison come out as it did with each read `i` shifted by `shift(i)`?
    pub fn hold(&self, shift: impl Fn(usize) -> U256) -> bool {
        self.predicates.iter().all(|p| compare(p.op, p.a.shifted(&shift), p.b.shifted(&shift)) == p.outcome)
    }

    fn observe(&mut self, read: Option<u32>) {
        if let Some(read) = read
            && !self.observed.contains(&read)
        {
            self.observed.push(read);
        }
    }
}

/// The stack items that hold a value shifted with a storage read: (call depth, position from
/// the bottom of that frame's stack, read).
#[derive(Debug, Default)]
pub(crate) struct Shadow {
    items: Vec<(usize, usize, u32)>,
    /// The call depth of the frame last traced, and the highest position holding such a
    /// value in it (-1: none): an opcode of that frame that reaches no lower needs no tracing.
    depth: usize,
    high: isize,
    /// Opcodes traced in this run so far.
    steps: u32,
    /// The run is not traced, or no longer (past [`TRACE_BUDGET`], or an opcode whose stack
    /// effect is not followed).
    gave_up: bool,
}

/// Opcodes traced per run before tracing stops (and no read of the run may be shifted). Only
/// SLOAD, SSTORE and opcodes that reach a value from storage are traced: a token transfer
/// traces a few dozen.
const TRACE_BUDGET: u32 = 1_000;

/// DUPN, SWAPN and EXCHANGE (EIP-8024, Amsterdam; they halt on every earlier fork) reach an
/// immediate-chosen depth that `OPCODE_INFO` does not give: a run that executes one while a
/// value from storage is on a stack stops being traced.
const fn untracked_stack_effect(op: u8) -> bool {
    matches!(op, opcode::DUPN | opcode::SWAPN | opcode::EXCHANGE)
}

/// How deep into the stack opcode `op` reaches (its inputs; DUPn reads n, SWAPn n + 1).
const fn reach(op: u8) -> isize {
    match OPCODE_INFO[op as usize] {
        Some(info) => info.inputs() as isize,
        None => 0,
    }
}

impl Shadow {
    /// Starts a run, traced or not.
    pub fn start(&mut self, traced: bool) {
        self.items.clear();
        self.depth = 0;
        self.high = -1;
        self.steps = 0;
        self.gave_up = !traced;
    }

    /// Must opcode `op` be traced, in a frame at `depth()` with `len` items on its stack?
    /// SLOAD and SSTORE always are (one may put a value from storage on the stack, the other
    /// overwrite a slot that was read); any other only when it reaches a stack item holding a
    /// value from storage, or when the frame changed. None once the budget is spent.
    fn traces(&self, op: u8, reach: isize, len: usize, depth: impl FnOnce() -> usize) -> bool {
        !self.gave_up
            && (op == opcode::SLOAD
                || op == opcode::SSTORE
                || (!self.items.is_empty()
                    && (untracked_stack_effect(op) || depth() != self.depth || len as isize - reach <= self.high)))
    }

    /// Is the run still traced?
    pub fn traced(&self) -> bool {
        !self.gave_up
    }

    fn at(&self, depth: usize, position: usize) -> Option<u32> {
        self.items.iter().find(|(d, p, _)| *d == depth && *p == position).map(|(.., read)| *read)
    }

    fn set(&mut self, depth: usize, position: usize, read: Option<u32>) {
        self.items.retain(|(d, p, _)| !(*d == depth && *p == position));
        if let Some(read) = read {
            self.items.push((depth, position, read));
        }
    }

    /// Follows the frame the interpreter is in now: items of a finished call are gone.
    fn enter(&mut self, depth: usize, len: usize) {
        if depth > self.depth {
            // A new frame: anything at its depth or deeper belongs to calls that have returned.
            self.items.retain(|(d, ..)| *d < depth);
        } else if depth < self.depth {
            self.items.retain(|(d, ..)| *d <= depth);
        }
        self.depth = depth;
        self.items.retain(|(d, p, _)| *d != depth || *p < len);
    }

    fn update_high(&mut self) {
        let depth = self.depth;
        self.high = self.items.iter().filter(|(d, ..)| *d == depth).map(|(_, p, _)| *p as isize).max().unwrap_or(-1);
    }
}

/// A database that serves a run whose storage values are traced.
pub(crate) trait TracksSlotUses: RecordsBalanceUses + MemoizesKeccak {
    fn shadow(&self) -> &Shadow;
    fn shadow_and_uses(&mut self) -> (&mut Shadow, &mut SlotUses);
    /// Which of the run's storage reads served `address`'s `slot`, if one did.
    fn read_of(&self, address: Address, slot: U256) -> Option<u32>;
}

/// Swaps the helpers' tracing instruction table into `table` (a copy of a table built at
/// compile time).
pub(crate) fn track<W, H>(table: &mut InstructionTable<W, H>)
where
    W: InterpreterTypes,
    H: Host + ContextTr<Journal: JournalTr<State = EvmState>>,
    H::Db: TracksSlotUses,
{
    *table = const { traced_table::<W, H>() };
}

/// Every opcode traced, over the balance-watching table.
const fn traced_table<W, H>() -> InstructionTable<W, H>
where
    W: InterpreterTypes,
    H: Host + ContextTr<Journal: JournalTr<State = EvmState>>,
    H::Db: TracksSlotUses,
{
    macro_rules! traced {
        ($($op:literal)*) => { [$(Instruction::new(traced::<$op, W, H>)),*] };
    }
    traced!(
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
        64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95
        96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121
        122 123 124 125 126 127 128 129 130 131 132 133 134 135 136 137 138 139 140 141 142 143 144 145 146
        147 148 149 150 151 152 153 154 155 156 157 158 159 160 161 162 163 164 165 166 167 168 169 170 171
        172 173 174 175 176 177 178 179 180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196
        197 198 199 200 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215 216 217 218 219 220 221
        222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 244 245 246
        247 248 249 250 251 252 253 254 255
    )
}

/// Opcode `OP`: traced when [`Shadow::traces`] says so, else run as it is.
fn traced<const OP: u8, W, H>(ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    W: InterpreterTypes,
    H: Host + ContextTr<Journal: JournalTr<State = EvmState>>,
    H::Db: TracksSlotUses,
{
    let inner = const { balance_uses::watched_table::<W, H>() }[OP as usize];
    let len = ctx.interpreter.stack.len();
    if !ctx.host.db_ref().shadow().traces(OP, const { reach(OP) }, len, || ctx.host.journal_ref().depth()) {
        return inner.execute(ctx);
    }
    trace(OP, inner, ctx)
}

fn trace<W, H>(op: u8, inner: Instruction<W, H>, ctx: InstructionContext<'_, H, W>) -> InstructionExecResult
where
    W: InterpreterTypes,
    H: Host + ContextTr<Journal: JournalTr<State = EvmState>>,
    H::Db: TracksSlotUses,
{
    let InstructionContext { interpreter, host } = ctx;
    let depth = host.journal_ref().depth();
    let target = interpreter.input.target_address();
    let len = interpreter.stack.len();
    let [a, b] = [0, 1].map(|below| peek::<W>(&interpreter.stack, below).unwrap_or_default());
    let (shadow, uses) = host.db_mut().shadow_and_uses();
    shadow.steps += 1;
    if shadow.steps > TRACE_BUDGET || untracked_stack_effect(op) {
        shadow.gave_up = true;
        shadow.items.clear();
        uses.untraced = true;
        return inner.execute(InstructionContext { interpreter, host });
    }
    shadow.enter(depth, len);
    let top = |shadow: &Shadow, below: usize| len.checked_sub(below + 1).and_then(|p| shadow.at(depth, p));
    let (ta, tb) = (top(shadow, 0), top(shadow, 1));
    let inputs = (reach(op) as usize).min(len);
    let consumes = |&(d, p, _): &(usize, usize, u32)| d == depth && p >= len - inputs;
    // For SSTORE: whether the slot's present value is zero before the store.
    let present_before = (op == opcode::SSTORE).then(|| {
        host.journal_ref().evm_state().get(&target).and_then(|acc| acc.storage.get(&a)).map(|s| s.present_value)
    });

    let result = inner.execute(InstructionContext { interpreter: &mut *interpreter, host: &mut *host });

    let len_after = interpreter.stack.len();
    let created = |host: &H| host.journal_ref().evm_state().get(&target).is_some_and(|acc| acc.is_created());
    let (shadow, uses) = host.db_mut().shadow_and_uses();
    match op {
        opcode::POP => shadow.set(depth, len.saturating_sub(1), None),
        opcode::DUP1..=opcode::DUP16 => {
            let n = (op - opcode::DUP1 + 1) as usize;
            if len_after == len + 1 {
                let source = len.checked_sub(n).and_then(|p| shadow.at(depth, p));
                shadow.set(depth, len, source);
            }
        }
        opcode::SWAP1..=opcode::SWAP16 => {
            let n = (op - opcode::SWAP1 + 1) as usize;
            if len > n && len_after == len {
                let (upper, lower) = (len - 1, len - 1 - n);
                let (tu, tl) = (shadow.at(depth, upper), shadow.at(depth, lower));
                shadow.set(depth, upper, tl);
                shadow.set(depth, lower, tu);
            }
        }
        opcode::ADD | opcode::SUB => {
            // a + b with one of them shifted is shifted the same way; a - b only with a shifted.
            let shifted = match (op, ta, tb) {
                (opcode::ADD, Some(t), None) | (opcode::ADD, None, Some(t)) | (opcode::SUB, Some(t), None) => Some(t),
                _ => {
                    uses.observe(ta);
                    uses.observe(tb);
                    None
                }
            };
            shadow.set(depth, len.wrapping_sub(1), None);
            if len >= 2 && len_after == len - 1 {
                shadow.set(depth, len - 2, shifted);
            } else {
                shadow.set(depth, len.wrapping_sub(2), None);
            }
        }
        opcode::LT | opcode::GT | opcode::SLT | opcode::SGT | opcode::EQ | opcode::ISZERO => {
            let unary = op == opcode::ISZERO;
            let tb = if unary { None } else { tb };
            if ta.is_some() || tb.is_some() {
                uses.predicates.push(Predicate {
                    op,
                    a: Operand { value: a, read: ta },
                    b: Operand { value: if unary { U256::ZERO } else { b }, read: tb },
                    outcome: compare(op, a, b),
                });
            }
            shadow.set(depth, len.wrapping_sub(1), None);
            if !unary {
                shadow.set(depth, len.wrapping_sub(2), None);
            }
        }
        opcode::SLOAD => {
            uses.observe(ta);
            shadow.set(depth, len.wrapping_sub(1), None);
            if len_after == len && len > 0 {
                // (A slot of an account created in this run holds no read value.)
                let read = if created(host) { None } else { host.db_ref().read_of(target, a) };
                let (shadow, _) = host.db_mut().shadow_and_uses();
                shadow.set(depth, len - 1, read);
            }
        }
        opcode::SSTORE => {
            // Stack: slot (a), value (b). Only a value shifted with this very slot's read may go
            // back into it (a slot of an account created in this run holds no read value).
            uses.observe(ta);
            shadow.set(depth, len.wrapping_sub(1), None);
            shadow.set(depth, len.wrapping_sub(2), None);
            let slot_read = host.db_ref().read_of(target, a);
            let account = host.journal_ref().evm_state().get(&target);
            let created = account.is_some_and(|acc| acc.is_created());
            let original = account.and_then(|acc| acc.storage.get(&a)).map_or(U256::ZERO, |s| s.original_value);
            let (_, uses) = host.db_mut().shadow_and_uses();
            match (slot_read, tb) {
                (Some(read), Some(t)) if read == t && !created => {
                    // Zero or not is all the gas depends on, besides equalities a common shift keeps.
                    let present = present_before.flatten().unwrap_or(original);
                    for value in [original, present, b] {
                        uses.predicates.push(Predicate {
                            op: opcode::ISZERO,
                            a: Operand { value, read: Some(read) },
                            b: Operand { value: U256::ZERO, read: None },
                            outcome: value.is_zero(),
                        });
                    }
                }
                _ => {
                    uses.observe(slot_read);
                    uses.observe(tb);
                }
            }
        }
        _ => {
            // Anything else that takes a value from storage depends on it.
            for item in shadow.items.iter().filter(|item| consumes(item)) {
                uses.observe(Some(item.2));
            }
            shadow.items.retain(|item| !consumes(item));
        }
    }
    host.db_mut().shadow_and_uses().0.update_high();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_the_evm() {
        let (one, two) = (U256::from(1), U256::from(2));
        let minus_one = U256::MAX;
        assert!(compare(opcode::LT, one, two) && !compare(opcode::LT, two, one));
        assert!(compare(opcode::GT, two, one));
        assert!(compare(opcode::SLT, minus_one, one) && !compare(opcode::LT, minus_one, one));
        assert!(compare(opcode::SGT, one, minus_one));
        assert!(compare(opcode::EQ, two, two) && compare(opcode::ISZERO, U256::ZERO, two));
    }

    #[test]
    fn a_frame_sees_only_its_own_values_from_storage() {
        let mut shadow = Shadow::default();
        shadow.start(true);
        shadow.enter(1, 0);
        shadow.set(1, 2, Some(0)); // the top frame holds read 0 at position 2
        shadow.enter(2, 0); // a call
        shadow.set(2, 2, Some(1)); // which leaves read 1 at position 2 when it returns
        shadow.enter(1, 4); // back in the caller
        assert_eq!((shadow.at(1, 2), shadow.at(2, 2)), (Some(0), None));
        shadow.set(2, 2, Some(1));
        shadow.enter(2, 3); // a second call, at the same depth: nothing of the first one's
        assert_eq!((shadow.at(1, 2), shadow.at(2, 2)), (Some(0), None));
        shadow.enter(1, 2); // the caller's stack shrank below position 2
        assert_eq!(shadow.at(1, 2), None);
        shadow.update_high();
        assert_eq!(shadow.high, -1);
    }

    #[test]
    fn predicates_hold_only_while_the_outcome_stays() {
        let mut uses = SlotUses::default();
        assert!(!uses.shiftable(0), "nothing is shiftable before a traced run starts");
        uses.start(true);
        // "balance (read 0) >= 100": run with balance 150 as !(150 < 100).
        uses.predicates.push(Predicate {
            op: opcode::LT,
            a: Operand { value: U256::from(150), read: Some(0) },
            b: Operand { value: U256::from(100), read: None },
            outcome: false,
        });
        assert!(uses.hold(|_| U256::from(10)));
        assert!(uses.hold(|_| U256::ZERO.wrapping_sub(U256::from(50))));
        assert!(!uses.hold(|_| U256::ZERO.wrapping_sub(U256::from(51))));
        uses.observe(Some(3));
        assert!(uses.shiftable(0) && !uses.shiftable(3));
    }
}
