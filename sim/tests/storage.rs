//! The simulated storage unit against the CPU reference table.

mod common;

use coevm_kernels::cpu::CpuStorageTable;
use coevm_kernels::{Address, StorageEntry, StorageKey, U256};
use coevm_sim::StorageSim;
use rand::Rng;

fn key(rng: &mut impl Rng) -> StorageKey {
    let addr: [u8; 20] = rng.random();
    let slot = match rng.random_range(0..3) {
        0 => U256::from(rng.random_range(0..16u64)),
        _ => U256::from_limbs(rng.random()),
    };
    StorageKey::new(Address::from(addr), slot)
}

#[test]
fn random_entries_with_duplicates_match_the_reference() {
    let mut rng = common::rng(0x5a);
    for _ in 0..common::soak() {
        let mut unit = StorageSim::<8>::new().unwrap();
        let mut keys: Vec<StorageKey> = (0..100).map(|_| key(&mut rng)).collect();
        // Duplicates (last value wins) and keys sharing an address.
        keys.extend_from_slice(&keys.clone()[..10]);
        keys.push(StorageKey::new(keys[0].address, keys[0].slot + U256::from(1)));
        let entries: Vec<StorageEntry> =
            keys.iter().map(|&k| StorageEntry { key: k, value: common::value(&mut rng) }).collect();
        for e in &entries {
            assert!(unit.insert(&e.key, e.value).unwrap().0.ok);
        }
        let reference = CpuStorageTable::new(&entries);
        let mut probes = keys.clone();
        probes.extend((0..60).map(|_| key(&mut rng)));
        for k in &probes {
            let (r, _) = unit.lookup(k).unwrap();
            assert_eq!(r.ok.then_some(r.value), reference.lookup(k), "{k:?}");
            assert!(!r.full);
            if !r.ok {
                assert_eq!(r.value, U256::ZERO);
            }
        }
    }
}

/// An 8-slot table: collisions, probing that wraps around, a full table, overwrites.
#[test]
fn tiny_table_probes_wrap_and_fill() {
    let mut rng = common::rng(0x5b);
    let mut unit = StorageSim::<3>::new().unwrap();
    let keys: Vec<StorageKey> = (0..9).map(|_| key(&mut rng)).collect();
    for (i, k) in keys[..8].iter().enumerate() {
        let (r, _) = unit.insert(k, U256::from(i)).unwrap();
        assert!(r.ok && !r.full, "insert {i}");
    }
    for (i, k) in keys[..8].iter().enumerate() {
        let (r, _) = unit.lookup(k).unwrap();
        assert!(r.ok, "lookup {i}");
        assert_eq!(r.value, U256::from(i));
    }
    // Full: a new key can be neither stored nor found.
    let (r, _) = unit.insert(&keys[8], U256::from(99)).unwrap();
    assert!(!r.ok && r.full);
    let (r, _) = unit.lookup(&keys[8]).unwrap();
    assert!(!r.ok && r.full && r.value == U256::ZERO);
    // Overwrites still work when full.
    let (r, _) = unit.insert(&keys[5], U256::MAX).unwrap();
    assert!(r.ok);
    assert_eq!(unit.lookup(&keys[5]).unwrap().0.value, U256::MAX);
    assert_eq!(unit.lookup(&keys[4]).unwrap().0.value, U256::from(4));
}
