//! `FpgaSimBackend` against the CPU reference backend through the `Backend` trait.

mod common;

use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::{
    Address, AluBatch, AluOp, Backend, BackendError, BackendKind, MessageBatch, StorageEntry, StorageKey, U256,
};
use coevm_sim::FpgaSimBackend;
use rand::Rng;

#[test]
fn kind_and_description() {
    let b = FpgaSimBackend::new(2);
    assert_eq!(b.kind(), BackendKind::FpgaSim);
    assert!(b.describe().contains("fpga-sim"));
    assert_eq!(b.cores(), 2);
}

#[test]
fn keccak_batch_matches_cpu() {
    let mut rng = common::rng(0xb1);
    let mut batch = MessageBatch::new();
    for len in [0usize, 1, 32, 52, 64, 135, 136, 137, 500] {
        let m: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        batch.push(&m);
    }
    for _ in 0..10 * common::soak() {
        let m: Vec<u8> = (0..rng.random_range(0..200)).map(|_| rng.random()).collect();
        batch.push(&m);
    }
    let sim = FpgaSimBackend::new(3);
    let got = sim.keccak256(&batch).unwrap();
    assert_eq!(got, CpuBackend::new(1).keccak256(&batch).unwrap());
    let stats = sim.stats();
    assert_eq!(stats.keccak_messages, batch.len() as u64);
    let expected: u64 = batch.iter().map(|m| coevm_sim::cycles::expected_keccak_cycles(m.len())).sum();
    assert_eq!(stats.keccak_cycles, expected);
    assert!(sim.keccak256(&MessageBatch::new()).unwrap().is_empty());
}

#[test]
fn alu_batch_matches_cpu() {
    let mut rng = common::rng(0xb2);
    let mut batch = AluBatch::new();
    for _ in 0..2 * common::soak() {
        for op in AluOp::ALL {
            if op == AluOp::Exp {
                // Keep the batch quick: exponents up to 16 bits here (tests/alu.rs does the rest).
                batch.push(op, common::value(&mut rng), U256::from(rng.random::<u16>()), U256::ZERO);
            } else {
                batch.push(op, common::value(&mut rng), common::value(&mut rng), common::value(&mut rng));
            }
        }
    }
    let sim = FpgaSimBackend::new(2);
    assert_eq!(sim.alu(&batch).unwrap(), CpuBackend::new(1).alu(&batch).unwrap());
    assert_eq!(sim.stats().alu_items, batch.len() as u64);
}

#[test]
fn storage_table_matches_cpu() {
    let mut rng = common::rng(0xb3);
    let key = |rng: &mut rand_chacha::ChaCha8Rng| {
        StorageKey::new(Address::from(rng.random::<[u8; 20]>()), U256::from(rng.random_range(0..1000u64)))
    };
    let mut entries: Vec<StorageEntry> =
        (0..150).map(|_| StorageEntry { key: key(&mut rng), value: common::value(&mut rng) }).collect();
    let dup = StorageEntry { key: entries[3].key, value: U256::from(77) };
    entries.push(dup);
    let sim = FpgaSimBackend::new(1);
    let cpu = CpuBackend::new(1);
    let table = sim.build_storage_table(&entries).unwrap();
    let reference = cpu.build_storage_table(&entries).unwrap();
    assert_eq!(table.len(), 150);
    assert_eq!(table.len(), reference.len());
    assert!(table.capacity() >= 2 * table.len());
    let mut probes: Vec<StorageKey> = entries.iter().map(|e| e.key).collect();
    probes.extend((0..50).map(|_| key(&mut rng)));
    let got = table.get(&probes).unwrap();
    assert_eq!(got, reference.get(&probes).unwrap());
    assert_eq!(got[3], Some(U256::from(77)));
    assert!(sim.stats().storage_requests >= (entries.len() + probes.len()) as u64);
}

#[test]
fn oversized_table_is_refused_before_simulating() {
    let entries: Vec<StorageEntry> = (0..(1u64 << 19) + 1)
        .map(|i| StorageEntry { key: StorageKey::new(Address::ZERO, U256::from(i)), value: U256::from(i) })
        .collect();
    match FpgaSimBackend::new(1).build_storage_table(&entries) {
        Err(BackendError::TableFull { entries: n, capacity }) => {
            assert_eq!(n, entries.len());
            assert_eq!(capacity, 1 << 20);
        }
        other => panic!("expected TableFull, got {:?}", other.map(|t| t.len())),
    }
}
