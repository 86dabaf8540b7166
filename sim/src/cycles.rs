//! Cycles per operation of every design, measured by running the simulated hardware.
//!
//! `latency`: clocks from the first input beat to the last result beat, inclusive. No design
//! overlaps consecutive operations (each takes its next input after its last result beat), so
//! this is also each unit's initiation interval; a pipelined design would need its II measured
//! by streaming operations back to back, which the harness (one operation per transaction)
//! does not do.

use crate::{AluSim, KeccakSim, SimFault, StorageSim};
use coevm_kernels::{Address, AluOp, StorageKey, U256};

/// Clocks for keccak256 of a `len`-byte message on [`coevm_hdl::Keccak256Core`] (latency =
/// initiation interval): one per input beat, 24 per permutation (one per 136-byte block, plus
/// the padding block), one padding clock, four output beats.
pub fn expected_keccak_cycles(len: usize) -> u64 {
    let beats = len.div_ceil(8).max(1) as u64;
    let permutations = (len / 136 + 1) as u64;
    beats + 24 * permutations + 1 + 4
}

/// Clocks for one ALU item on [`coevm_hdl::Alu256`] (latency = initiation interval), given its
/// operands in stack order: `1 + 4 * arity` input beats, one dispatch clock, the engine, four
/// output beats. Engines: MUL 16 + 1; DIV/SDIV/MOD/SMOD 256 + 1; ADDMOD 257 + 1; MULMOD
/// 16 + 1 + 512 + 1 (zero divisors skip the engine); EXP per exponent bit below the top set
/// bit 18 (squaring) plus 17 if the bit is set, plus one final clock.
pub fn expected_alu_cycles(op: AluOp, b: U256, c: U256) -> u64 {
    let io = 1 + 4 * op.arity() as u64 + 1 + 4;
    io + match op {
        AluOp::Mul => 17,
        AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod if !b.is_zero() => 257,
        AluOp::AddMod if !c.is_zero() => 258,
        AluOp::MulMod if !c.is_zero() => 17 + 513,
        AluOp::Exp if !b.is_zero() => {
            let bits = 256 - b.leading_zeros() as u64;
            let ones = b.count_ones() as u64;
            18 * (bits - 1) + 17 * (ones - 1) + 1
        }
        _ => 0,
    }
}

/// One measured figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleFigure {
    /// "keccak256", "alu256" or "storage".
    pub unit: &'static str,
    /// What was measured, e.g. "64-byte message" or "MULMOD".
    pub operation: String,
    pub latency: u64,
}

/// Runs of each operation: a design that does not come back to the same state after one
/// would show as a different count.
const REPEAT: usize = 3;

/// keccak256 message lengths measured (bytes).
pub const KECCAK_LENGTHS: [usize; 6] = [0, 32, 64, 135, 136, 1024];

fn figure<F>(unit: &'static str, operation: String, mut run: F) -> Result<CycleFigure, SimFault>
where
    F: FnMut() -> Result<u64, SimFault>,
{
    let latency = run()?;
    for _ in 1..REPEAT {
        let again = run()?;
        if again != latency {
            return Err(SimFault::Unrepeatable { unit, first: latency, again });
        }
    }
    Ok(CycleFigure { unit, operation, latency })
}

/// keccak256 figures for [`KECCAK_LENGTHS`].
pub fn keccak_cycles() -> Result<Vec<CycleFigure>, SimFault> {
    let mut core = KeccakSim::new()?;
    KECCAK_LENGTHS
        .iter()
        .map(|&len| {
            let msg = vec![0xa5u8; len];
            figure("keccak256", format!("{len}-byte message"), || core.hash(&msg).map(|r| r.1))
        })
        .collect()
}

/// ALU figures: every op on full-width operands; EXP also with an 8-bit exponent.
pub fn alu_cycles() -> Result<Vec<CycleFigure>, SimFault> {
    let mut alu = AluSim::new()?;
    let a =
        U256::from_limbs([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210, 0x0f0f_0f0f_0f0f_0f0f, 0x7777_8888_9999_aaaa]);
    let b =
        U256::from_limbs([0xdead_beef_dead_beef, 0x1111_2222_3333_4444, 0x5555_6666_7777_8888, 0x0000_0000_0000_0fff]);
    let c = U256::from_limbs([0x9999_9999_9999_9999, 0x8888_8888_8888_8888, 0, 0x1234]);
    let mut out = Vec::new();
    for op in AluOp::ALL {
        // Shift/byte/signextend take small first operands; EXP's exponent is b.
        let a = match op {
            AluOp::Byte | AluOp::SignExtend | AluOp::Shl | AluOp::Shr | AluOp::Sar => U256::from(13),
            _ => a,
        };
        let name = match op {
            AluOp::Exp => "EXP (256-bit exponent, 0x..0fff top limb)".to_string(),
            _ => op.name().to_string(),
        };
        out.push(figure("alu256", name, || alu.eval(op, a, b, c).map(|r| r.1))?);
    }
    out.push(figure("alu256", "EXP (8-bit exponent 0xff)".into(), || {
        alu.eval(AluOp::Exp, a, U256::from(0xff), c).map(|r| r.1)
    })?);
    Ok(out)
}

/// Storage unit figures on a lightly loaded table (no probe collisions for these keys).
pub fn storage_cycles() -> Result<Vec<CycleFigure>, SimFault> {
    let mut unit = StorageSim::<8>::new()?;
    let key = StorageKey::new(Address::with_last_byte(0x42), U256::from(7));
    let absent = StorageKey::new(Address::with_last_byte(0x43), U256::from(7));
    let mut out = vec![figure("storage", "insert".into(), || unit.insert(&key, U256::from(9)).map(|r| r.1))?];
    out.push(figure("storage", "lookup (hit, first probe)".into(), || unit.lookup(&key).map(|r| r.1))?);
    out.push(figure("storage", "lookup (miss, empty home slot)".into(), || unit.lookup(&absent).map(|r| r.1))?);
    Ok(out)
}

/// Every figure of every unit.
pub fn measure_cycles() -> Result<Vec<CycleFigure>, SimFault> {
    let mut all = keccak_cycles()?;
    all.extend(alu_cycles()?);
    all.extend(storage_cycles()?);
    Ok(all)
}

/// The figures as a Markdown table.
pub fn cycles_table(figures: &[CycleFigure]) -> String {
    let mut s = String::from("| unit | operation | latency = II (clocks) |\n|---|---|---:|\n");
    for f in figures {
        s.push_str(&format!("| {} | {} | {} |\n", f.unit, f.operation, f.latency));
    }
    s
}
