//! The EVM's 256-bit ALU as batch items.
//!
//! Operands follow EVM stack order: `a` is the first value popped (top of stack), `b` the second,
//! `c` the third (only ADDMOD/MULMOD use it, as the modulus). So `SUB` is `a - b`, `SHL` shifts
//! `b` left by `a`, `BYTE` takes byte `a` of `b`, `SIGNEXTEND` extends `b` from byte `a`.

use crate::U256;

/// Every stack arithmetic, comparison and bitwise opcode. Discriminants are what the GPU sees.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AluOp {
    Add = 0,
    Mul = 1,
    Sub = 2,
    Div = 3,
    SDiv = 4,
    Mod = 5,
    SMod = 6,
    AddMod = 7,
    MulMod = 8,
    Exp = 9,
    SignExtend = 10,
    Lt = 11,
    Gt = 12,
    SLt = 13,
    SGt = 14,
    Eq = 15,
    IsZero = 16,
    And = 17,
    Or = 18,
    Xor = 19,
    Not = 20,
    Byte = 21,
    Shl = 22,
    Shr = 23,
    Sar = 24,
    Clz = 25,
}

impl AluOp {
    pub const ALL: [AluOp; 26] = [
        AluOp::Add,
        AluOp::Mul,
        AluOp::Sub,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::AddMod,
        AluOp::MulMod,
        AluOp::Exp,
        AluOp::SignExtend,
        AluOp::Lt,
        AluOp::Gt,
        AluOp::SLt,
        AluOp::SGt,
        AluOp::Eq,
        AluOp::IsZero,
        AluOp::And,
        AluOp::Or,
        AluOp::Xor,
        AluOp::Not,
        AluOp::Byte,
        AluOp::Shl,
        AluOp::Shr,
        AluOp::Sar,
        AluOp::Clz,
    ];

    /// The EVM opcode byte.
    pub fn opcode(self) -> u8 {
        match self {
            AluOp::Add => 0x01,
            AluOp::Mul => 0x02,
            AluOp::Sub => 0x03,
            AluOp::Div => 0x04,
            AluOp::SDiv => 0x05,
            AluOp::Mod => 0x06,
            AluOp::SMod => 0x07,
            AluOp::AddMod => 0x08,
            AluOp::MulMod => 0x09,
            AluOp::Exp => 0x0a,
            AluOp::SignExtend => 0x0b,
            AluOp::Lt => 0x10,
            AluOp::Gt => 0x11,
            AluOp::SLt => 0x12,
            AluOp::SGt => 0x13,
            AluOp::Eq => 0x14,
            AluOp::IsZero => 0x15,
            AluOp::And => 0x16,
            AluOp::Or => 0x17,
            AluOp::Xor => 0x18,
            AluOp::Not => 0x19,
            AluOp::Byte => 0x1a,
            AluOp::Shl => 0x1b,
            AluOp::Shr => 0x1c,
            AluOp::Sar => 0x1d,
            AluOp::Clz => 0x1e,
        }
    }

    /// How many stack inputs the opcode pops (1, 2 or 3).
    pub fn arity(self) -> usize {
        match self {
            AluOp::IsZero | AluOp::Not | AluOp::Clz => 1,
            AluOp::AddMod | AluOp::MulMod => 3,
            _ => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AluOp::Add => "ADD",
            AluOp::Mul => "MUL",
            AluOp::Sub => "SUB",
            AluOp::Div => "DIV",
            AluOp::SDiv => "SDIV",
            AluOp::Mod => "MOD",
            AluOp::SMod => "SMOD",
            AluOp::AddMod => "ADDMOD",
            AluOp::MulMod => "MULMOD",
            AluOp::Exp => "EXP",
            AluOp::SignExtend => "SIGNEXTEND",
            AluOp::Lt => "LT",
            AluOp::Gt => "GT",
            AluOp::SLt => "SLT",
            AluOp::SGt => "SGT",
            AluOp::Eq => "EQ",
            AluOp::IsZero => "ISZERO",
            AluOp::And => "AND",
            AluOp::Or => "OR",
            AluOp::Xor => "XOR",
            AluOp::Not => "NOT",
            AluOp::Byte => "BYTE",
            AluOp::Shl => "SHL",
            AluOp::Shr => "SHR",
            AluOp::Sar => "SAR",
            AluOp::Clz => "CLZ",
        }
    }
}

/// Many ALU items. Unused operands (e.g. `c` of ADD) are ignored by every backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AluBatch {
    ops: Vec<AluOp>,
    operands: Vec<[U256; 3]>,
}

impl AluBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self { ops: Vec::with_capacity(n), operands: Vec::with_capacity(n) }
    }

    /// Appends one item and returns its index.
    pub fn push(&mut self, op: AluOp, a: U256, b: U256, c: U256) -> usize {
        self.ops.push(op);
        self.operands.push([a, b, c]);
        self.ops.len() - 1
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn clear(&mut self) {
        self.ops.clear();
        self.operands.clear();
    }

    pub fn ops(&self) -> &[AluOp] {
        &self.ops
    }

    /// `[a, b, c]` per item.
    pub fn operands(&self) -> &[[U256; 3]] {
        &self.operands
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (AluOp, &[U256; 3])> + '_ {
        self.ops.iter().copied().zip(self.operands.iter())
    }
}

/// Evaluates one ALU item with revm 43's exact semantics (the reference every backend matches).
///
/// Operands are in EVM stack order (see the module docs); unused operands are ignored.
pub fn eval(op: AluOp, a: U256, b: U256, c: U256) -> U256 {
    use revm::interpreter::instructions::i256::{i256_cmp, i256_div, i256_mod};
    use std::cmp::Ordering;

    // revm's `as_usize_saturated!`: values that do not fit a usize saturate.
    let saturated = |v: U256| usize::try_from(v).unwrap_or(usize::MAX);
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Div => {
            if b.is_zero() {
                U256::ZERO
            } else {
                a.wrapping_div(b)
            }
        }
        AluOp::SDiv => i256_div(a, b),
        AluOp::Mod => {
            if b.is_zero() {
                U256::ZERO
            } else {
                a.wrapping_rem(b)
            }
        }
        AluOp::SMod => i256_mod(a, b),
        AluOp::AddMod => a.add_mod(b, c),
        AluOp::MulMod => a.mul_mod(b, c),
        AluOp::Exp => a.pow(b),
        AluOp::SignExtend => {
            if a < U256::from(31) {
                let bit_index = (8 * a.as_limbs()[0] + 7) as usize;
                let mask = (U256::from(1) << bit_index) - U256::from(1);
                if b.bit(bit_index) { b | !mask } else { b & mask }
            } else {
                b
            }
        }
        AluOp::Lt => U256::from(a < b),
        AluOp::Gt => U256::from(a > b),
        AluOp::SLt => U256::from(i256_cmp(&a, &b) == Ordering::Less),
        AluOp::SGt => U256::from(i256_cmp(&a, &b) == Ordering::Greater),
        AluOp::Eq => U256::from(a == b),
        AluOp::IsZero => U256::from(a.is_zero()),
        AluOp::And => a & b,
        AluOp::Or => a | b,
        AluOp::Xor => a ^ b,
        AluOp::Not => !a,
        AluOp::Byte => {
            let i = saturated(a);
            if i < 32 { U256::from(b.byte(31 - i)) } else { U256::ZERO }
        }
        AluOp::Shl => {
            let s = saturated(a);
            if s < 256 { b << s } else { U256::ZERO }
        }
        AluOp::Shr => {
            let s = saturated(a);
            if s < 256 { b >> s } else { U256::ZERO }
        }
        AluOp::Sar => {
            let s = saturated(a);
            if s < 256 {
                b.arithmetic_shr(s)
            } else if b.bit(255) {
                U256::MAX
            } else {
                U256::ZERO
            }
        }
        AluOp::Clz => U256::from(a.leading_zeros()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(x: u64) -> U256 {
        U256::from(x)
    }

    #[test]
    fn operand_order_follows_the_stack() {
        assert_eq!(eval(AluOp::Sub, u(10), u(3), U256::ZERO), u(7));
        assert_eq!(eval(AluOp::Div, u(10), u(3), U256::ZERO), u(3));
        assert_eq!(eval(AluOp::Shl, u(4), u(1), U256::ZERO), u(16));
        assert_eq!(eval(AluOp::Byte, u(31), u(0xab), U256::ZERO), u(0xab));
        assert_eq!(eval(AluOp::SignExtend, u(0), u(0x80), U256::ZERO), U256::MAX - u(0x7f));
        assert_eq!(eval(AluOp::AddMod, u(7), u(8), u(5)), u(0));
        assert_eq!(eval(AluOp::Exp, u(3), u(4), U256::ZERO), u(81));
    }

    #[test]
    fn edge_cases() {
        let min = U256::from(1) << 255;
        assert_eq!(eval(AluOp::Div, u(1), U256::ZERO, U256::ZERO), U256::ZERO);
        assert_eq!(eval(AluOp::SDiv, min, U256::MAX, U256::ZERO), min);
        assert_eq!(eval(AluOp::MulMod, U256::MAX, U256::MAX, u(12)), u(9));
        assert_eq!(eval(AluOp::AddMod, U256::MAX, u(2), U256::MAX), u(2));
        assert_eq!(eval(AluOp::Sar, u(256), min, U256::ZERO), U256::MAX);
        assert_eq!(eval(AluOp::Shr, U256::MAX, U256::MAX, U256::ZERO), U256::ZERO);
        assert_eq!(eval(AluOp::Clz, U256::ZERO, U256::ZERO, U256::ZERO), u(256));
        assert_eq!(eval(AluOp::Clz, min, U256::ZERO, U256::ZERO), u(0));
    }
}
