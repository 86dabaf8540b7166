//! The EVM ALU through the simulated [`Alu256`].

use crate::harness::{Beat, Device, SimFault};
use coevm_hdl::Alu256;
use coevm_hdl::alu::op;
use coevm_kernels::{AluOp, U256};

/// Bus op code of an [`AluOp`] (the hardware decodes the same numbering).
pub fn op_code(op: AluOp) -> u64 {
    op as u32 as u64
}

/// The bus beats of one ALU item: header, then `4 * arity` limbs.
pub fn alu_beats(op: AluOp, operands: &[U256; 3]) -> Vec<Beat> {
    let code = op_code(op);
    let arity = op::arity(code);
    debug_assert_eq!(arity, op.arity());
    let mut beats = vec![Beat::word(code)];
    for v in &operands[..arity] {
        beats.extend(v.as_limbs().iter().map(|&l| Beat::word(l)));
    }
    beats
}

/// A simulated 256-bit ALU.
pub struct AluSim {
    dev: Device<Alu256>,
}

impl AluSim {
    pub fn new() -> Result<Self, SimFault> {
        // Worst case is EXP with a 256-bit exponent: ~255 * (2 * 17 + 2) cycles.
        Ok(AluSim { dev: Device::new(50_000)? })
    }

    /// Evaluates one item (operands in EVM stack order); returns the result and its cycles.
    pub fn eval(&mut self, op: AluOp, a: U256, b: U256, c: U256) -> Result<(U256, u64), SimFault> {
        let (words, cycles) = self.dev.transact(&alu_beats(op, &[a, b, c]), 4)?;
        let limbs: [u64; 4] = words.try_into().expect("4 result beats");
        Ok((U256::from_limbs(limbs), cycles))
    }

    pub fn cycles(&self) -> u64 {
        self.dev.cycles()
    }
}
