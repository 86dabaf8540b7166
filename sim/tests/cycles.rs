//! The exported cycle figures are measured on the simulated hardware and follow the documented
//! cycle model.

use coevm_kernels::{AluOp, U256};
use coevm_sim::cycles::{KECCAK_LENGTHS, alu_cycles, expected_keccak_cycles, keccak_cycles, storage_cycles};

#[test]
fn keccak_figures_follow_the_model() {
    let figs = keccak_cycles().unwrap();
    assert_eq!(figs.len(), KECCAK_LENGTHS.len());
    for (f, &len) in figs.iter().zip(&KECCAK_LENGTHS) {
        assert_eq!(f.latency, expected_keccak_cycles(len), "{}", f.operation);
    }
    // One 64-byte message: 8 beats + 1 pad + 24 rounds + 4 digest beats.
    assert_eq!(expected_keccak_cycles(64), 37);
}

#[test]
fn alu_and_storage_figures() {
    let alu = alu_cycles().unwrap();
    assert_eq!(alu.len(), AluOp::ALL.len() + 1);
    let get = |name: &str| alu.iter().find(|f| f.operation == name).unwrap().latency;
    assert_eq!(get("ADD"), 14);
    assert_eq!(get("MUL"), 31);
    assert_eq!(get("DIV"), 271);
    assert_eq!(get("MULMOD"), 548);
    assert_eq!(
        get("EXP (8-bit exponent 0xff)"),
        coevm_sim::cycles::expected_alu_cycles(AluOp::Exp, U256::from(0xff), U256::ZERO)
    );
    let storage = storage_cycles().unwrap();
    assert_eq!(storage.len(), 3);
    for f in &storage {
        assert!(f.latency > 24, "{f:?}");
    }
    assert!(coevm_sim::cycles_table(&storage).contains("| storage | insert |"));
}
