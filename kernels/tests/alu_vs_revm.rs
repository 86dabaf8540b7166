//! The reference ALU (`alu::eval`) is revm's semantics: for every op, hundreds of random and
//! edge cases run as real EVM bytecode in revm 43 (spec OSAKA, which has CLZ) and must agree.
//!
//! Code: PUSH32 c, PUSH32 b, PUSH32 a, OP, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN.

mod common;

use coevm_kernels::alu::{self, AluOp};
use coevm_kernels::{Address, U256};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::TxKind;
use revm::primitives::hardfork::SpecId;
use revm::state::{AccountInfo, Bytecode};
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};

const TARGET: Address = Address::new([0xc0; 20]);
const CALLER: Address = Address::new([0xca; 20]);

fn code(op: AluOp, a: U256, b: U256, c: U256) -> Vec<u8> {
    let mut code = Vec::with_capacity(120);
    for v in [c, b, a] {
        code.push(0x7f); // PUSH32
        code.extend_from_slice(&v.to_be_bytes::<32>());
    }
    code.push(op.opcode());
    code.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]);
    code
}

fn run_in_revm(op: AluOp, a: U256, b: U256, c: U256) -> U256 {
    let mut db = CacheDB::new(EmptyDB::default());
    db.insert_account_info(
        TARGET,
        AccountInfo { code: Some(Bytecode::new_raw(code(op, a, b, c).into())), ..Default::default() },
    );
    let mut evm = Context::mainnet()
        .modify_cfg_chained(|cfg| cfg.set_spec_and_mainnet_gas_params(SpecId::OSAKA))
        .with_db(db)
        .build_mainnet();
    let tx = TxEnv::builder().caller(CALLER).kind(TxKind::Call(TARGET)).gas_limit(1_000_000).build().expect("valid tx");
    let result = evm.transact(tx).expect("transaction executes").result;
    match result {
        ExecutionResult::Success { output: Output::Call(bytes), .. } => {
            assert_eq!(bytes.len(), 32);
            U256::from_be_slice(&bytes)
        }
        other => panic!("{}({a:#x}, {b:#x}, {c:#x}) did not succeed: {other:?}", op.name()),
    }
}

#[test]
fn reference_alu_is_revm() {
    let edges = common::edge_values();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED);
    for op in AluOp::ALL {
        let mut cases = Vec::new();
        // Edge values against each other (a sample of the square for 2- and 3-input ops).
        for (i, &a) in edges.iter().enumerate() {
            let b = edges[(i * 7 + 3) % edges.len()];
            let c = edges[(i * 13 + 5) % edges.len()];
            cases.push((a, b, c));
            cases.push((b, a, edges[i % 6]));
            cases.push((a, a, a));
        }
        for _ in 0..200 {
            cases.push((
                common::random_value(&mut rng),
                common::random_value(&mut rng),
                common::random_value(&mut rng),
            ));
        }
        assert!(cases.len() >= 300);
        for (a, b, c) in cases {
            assert_eq!(alu::eval(op, a, b, c), run_in_revm(op, a, b, c), "{}({a:#x}, {b:#x}, {c:#x})", op.name());
        }
    }
}

/// The harness itself: a wrong opcode byte would give a different answer.
#[test]
fn harness_distinguishes_ops() {
    let (a, b) = (U256::from(10), U256::from(3));
    assert_eq!(run_in_revm(AluOp::Sub, a, b, U256::ZERO), U256::from(7));
    assert_eq!(run_in_revm(AluOp::Div, a, b, U256::ZERO), U256::from(3));
    assert_eq!(run_in_revm(AluOp::Clz, U256::from(1), U256::ZERO, U256::ZERO), U256::from(255));
}
