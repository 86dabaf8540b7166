//! The simulated 256-bit ALU against `coevm_kernels::alu::eval` (revm's semantics).

mod common;

use coevm_kernels::{AluOp, U256, alu::eval};
use coevm_sim::AluSim;
use coevm_sim::cycles::expected_alu_cycles;
use rand::Rng;

fn check(alu: &mut AluSim, op: AluOp, a: U256, b: U256, c: U256) {
    let want = eval(op, a, b, c);
    let (got, cycles) = alu.eval(op, a, b, c).expect("simulation");
    assert_eq!(got, want, "{op:?} a={a:#x} b={b:#x} c={c:#x}");
    assert_eq!(cycles, expected_alu_cycles(op, b, c), "cycles of {op:?} a={a:#x} b={b:#x} c={c:#x}");
}

#[test]
fn single_cycle_ops_on_edge_values() {
    use AluOp::*;
    let mut alu = AluSim::new().unwrap();
    let e = common::edges();
    for op in [Add, Sub, Lt, Gt, SLt, SGt, Eq, And, Or, Xor, Byte, Shl, Shr, Sar, SignExtend] {
        for &a in &e {
            for &b in &e {
                check(&mut alu, op, a, b, U256::ZERO);
            }
        }
    }
}

#[test]
fn unary_ops_and_every_clz_position() {
    let mut alu = AluSim::new().unwrap();
    for a in common::edges() {
        for op in [AluOp::IsZero, AluOp::Not, AluOp::Clz] {
            check(&mut alu, op, a, U256::ZERO, U256::ZERO);
        }
    }
    for k in 0..256 {
        let v = U256::from(1) << k;
        check(&mut alu, AluOp::Clz, v, U256::ZERO, U256::ZERO);
        check(&mut alu, AluOp::Clz, v | U256::from(1), U256::ZERO, U256::ZERO);
    }
}

#[test]
fn byte_shift_signextend_every_index() {
    let mut alu = AluSim::new().unwrap();
    let b =
        U256::from_limbs([0x8192_a3b4_c5d6_e7f8, 0x0102_0304_0506_0708, 0xf0e1_d2c3_b4a5_9687, 0x7f80_ff00_1122_3344]);
    let neg = U256::MAX - U256::from(12345);
    for i in 0..260u64 {
        let a = U256::from(i);
        check(&mut alu, AluOp::Shl, a, b, U256::ZERO);
        check(&mut alu, AluOp::Shr, a, b, U256::ZERO);
        check(&mut alu, AluOp::Sar, a, neg, U256::ZERO);
        if i < 34 {
            check(&mut alu, AluOp::Byte, a, b, U256::ZERO);
            check(&mut alu, AluOp::SignExtend, a, b, U256::ZERO);
            check(&mut alu, AluOp::SignExtend, a, !b, U256::ZERO);
        }
    }
}

#[test]
fn mul_div_mod_on_edge_values() {
    let one = U256::from(1);
    let e = [
        U256::ZERO,
        one,
        U256::from(2),
        U256::from(3),
        (one << 128) + one,
        (one << 255) - one,
        one << 255,
        U256::MAX - one,
        U256::MAX,
    ];
    let mut alu = AluSim::new().unwrap();
    for &a in &e {
        for &b in &e {
            for op in [AluOp::Mul, AluOp::Div, AluOp::SDiv, AluOp::Mod, AluOp::SMod] {
                check(&mut alu, op, a, b, U256::ZERO);
            }
        }
    }
}

#[test]
fn addmod_mulmod_on_edge_values() {
    let one = U256::from(1);
    let e = [U256::ZERO, one, U256::from(12), one << 255, U256::MAX - one, U256::MAX];
    let mut alu = AluSim::new().unwrap();
    for &a in &e {
        for &b in &e {
            for &c in &e {
                check(&mut alu, AluOp::AddMod, a, b, c);
                check(&mut alu, AluOp::MulMod, a, b, c);
            }
        }
    }
}

#[test]
fn exp_edges() {
    let one = U256::from(1);
    let mut alu = AluSim::new().unwrap();
    let bases = [U256::ZERO, one, U256::from(2), U256::from(3), U256::from(10), U256::MAX, one << 255];
    let exps = [U256::ZERO, one, U256::from(2), U256::from(3), U256::from(18), U256::from(255), U256::from(256)];
    for &a in &bases {
        for &b in &exps {
            check(&mut alu, AluOp::Exp, a, b, U256::ZERO);
        }
    }
    // Full-length exponents (255 squarings, up to 255 multiplies).
    check(&mut alu, AluOp::Exp, U256::from(3), U256::MAX, U256::ZERO);
    check(&mut alu, AluOp::Exp, U256::MAX - U256::from(4), one << 255, U256::ZERO);
}

#[test]
fn random_items_every_op() {
    let mut rng = common::rng(0xa1);
    let mut alu = AluSim::new().unwrap();
    let n = 6 * common::soak();
    for op in AluOp::ALL {
        for _ in 0..n {
            let (mut a, b, c) = (common::value(&mut rng), common::value(&mut rng), common::value(&mut rng));
            if matches!(op, AluOp::Byte | AluOp::SignExtend | AluOp::Shl | AluOp::Shr | AluOp::Sar)
                && rng.random_bool(0.7)
            {
                a = U256::from(rng.random_range(0..300u64));
            }
            check(&mut alu, op, a, b, c);
        }
    }
}
