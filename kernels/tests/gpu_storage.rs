//! GPU storage table vs the CPU HashMap table: hits, misses, duplicates, chunked lookups,
//! growth and the full-table error.

mod common;

use coevm_kernels::cpu::CpuStorageTable;
use coevm_kernels::gpu::{GpuBackend, GpuOptions, Int64Mode, MAX_LOAD_FACTOR};
use coevm_kernels::{Address, Backend, BackendError, StorageEntry, StorageKey, StorageTable, U256};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_entries(rng: &mut impl RngCore, n: usize, accounts: usize) -> Vec<StorageEntry> {
    let addrs: Vec<Address> = (0..accounts)
        .map(|_| {
            let mut a = [0u8; 20];
            rng.fill_bytes(&mut a);
            Address::from(a)
        })
        .collect();
    (0..n)
        .map(|i| StorageEntry {
            key: StorageKey::new(
                addrs[rng.random_range(0..accounts)],
                if i % 3 == 0 { U256::from(i) } else { common::random_value(rng) },
            ),
            value: common::random_value(rng),
        })
        .collect()
}

/// Keys: every stored key, near misses (same address other slot, same slot other address)
/// and random keys.
fn query_keys(rng: &mut impl RngCore, entries: &[StorageEntry], n: usize) -> Vec<StorageKey> {
    let mut keys: Vec<StorageKey> = entries.iter().map(|e| e.key).collect();
    for e in entries.iter().take(n) {
        keys.push(StorageKey::new(e.key.address, e.key.slot.wrapping_add(U256::from(1))));
        let mut a = e.key.address.0;
        a[19] ^= 1;
        keys.push(StorageKey::new(Address::from(a), e.key.slot));
        keys.push(StorageKey::new(Address::ZERO, common::random_value(rng)));
    }
    keys
}

fn check(label: &str, table: &dyn StorageTable, reference: &CpuStorageTable, keys: &[StorageKey]) {
    let got = table.get(keys).unwrap();
    let want = reference.get(keys).unwrap();
    assert_eq!(got.len(), want.len());
    let hits = want.iter().filter(|v| v.is_some()).count();
    assert!(hits > 0 && hits < keys.len(), "{label}: test needs hits and misses");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{label}: key {i} {:?}", keys[i]);
    }
}

#[test]
fn hits_misses_and_duplicates() {
    let Some(gpu) = common::gpu_auto() else {
        return;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut entries = random_entries(&mut rng, 20_000, 300);
    // Duplicates: the last one wins.
    let dup = entries[5].key;
    entries.push(StorageEntry { key: dup, value: U256::from(123) });
    entries.push(StorageEntry { key: dup, value: U256::from(456) });
    // Zero values are hits, not misses.
    let zero_key = StorageKey::new(Address::repeat_byte(0xee), U256::ZERO);
    entries.push(StorageEntry { key: zero_key, value: U256::ZERO });
    let reference = CpuStorageTable::new(&entries);
    let table = gpu.build_storage_table(&entries).unwrap();
    assert_eq!(table.len(), reference.len());
    assert!(table.len() as f64 <= table.capacity() as f64 * MAX_LOAD_FACTOR);
    let keys = query_keys(&mut rng, &entries, 5000);
    check("gpu table", table.as_ref(), &reference, &keys);
    assert_eq!(table.get(&[dup, zero_key]).unwrap(), vec![Some(U256::from(456)), Some(U256::ZERO)]);
    assert!(table.get(&[]).unwrap().is_empty());

    // The empty table: everything misses.
    let empty = gpu.build_storage_table(&[]).unwrap();
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.get(&keys[..10]).unwrap(), vec![None; 10]);
}

#[test]
fn chunked_lookups_growth_and_full() {
    if common::gpu_auto().is_none() {
        return;
    }
    let gpu = GpuBackend::with_options(
        &GpuOptions::from_env().with_int64(Int64Mode::Disabled).with_max_items_per_dispatch(777),
    )
    .expect("adapter exists");
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let entries = random_entries(&mut rng, 3000, 50);

    // Growth: start small, extend to 3000 entries, capacity doubles as needed.
    let mut table = gpu.build_gpu_storage_table(&entries[..10], Some(1 << 16)).unwrap();
    let small_capacity = table.capacity();
    table.extend(&entries[10..]).unwrap();
    let reference = CpuStorageTable::new(&entries);
    assert_eq!(table.len(), reference.len());
    assert!(table.capacity() > small_capacity);
    assert!(table.len() as f64 <= table.capacity() as f64 * MAX_LOAD_FACTOR);
    let keys = query_keys(&mut rng, &entries, 2000);
    assert!(keys.len() > 777 * 4);
    check("grown + chunked", &table, &reference, &keys);

    // Overwrite in place (no growth) is visible on the device.
    let k = entries[0].key;
    let cap = table.capacity();
    table.extend(&[StorageEntry { key: k, value: U256::from(99) }]).unwrap();
    assert_eq!(table.capacity(), cap);
    assert_eq!(table.get(&[k]).unwrap(), vec![Some(U256::from(99))]);

    // Full: a 64-slot cap holds 32 keys; one more is TableFull and the table is unchanged.
    let mut capped = gpu.build_gpu_storage_table(&entries[..32], Some(64)).unwrap();
    assert_eq!(capped.capacity(), 64);
    match capped.extend(&entries[32..40]) {
        Err(BackendError::TableFull { entries: 40, capacity: 64 }) => {}
        other => panic!("expected TableFull, got {other:?}", other = other.map(|_| ())),
    }
    assert_eq!(capped.len(), 32);
    let want = CpuStorageTable::new(&entries[..32]);
    check("capped", &capped, &want, &query_keys(&mut rng, &entries[..32], 32));
    // At its cap, a full table still takes new values for the keys it holds (the last wins).
    let overwrite = StorageEntry { key: entries[5].key, value: U256::from(77) };
    capped.extend(std::slice::from_ref(&overwrite)).unwrap();
    assert_eq!((capped.len(), capped.capacity()), (32, 64));
    assert_eq!(capped.get(&[overwrite.key]).unwrap(), vec![Some(U256::from(77))]);
    let mut want = entries[..32].to_vec();
    want.push(overwrite);
    let want = CpuStorageTable::new(&want);
    check("capped, overwritten", &capped, &want, &query_keys(&mut rng, &entries[..32], 32));
    assert!(matches!(
        gpu.build_gpu_storage_table(&entries[..33], Some(64)),
        Err(BackendError::TableFull { entries: 33, capacity: 64 })
    ));

    // Resident lookups.
    let prepared = table.prepare_lookup(&keys).unwrap();
    assert!(prepared.dispatches() > 1);
    prepared.dispatch().unwrap();
    let reference = {
        let mut e = entries.clone();
        e.push(StorageEntry { key: k, value: U256::from(99) });
        CpuStorageTable::new(&e)
    };
    assert_eq!(prepared.read().unwrap(), reference.get(&keys).unwrap());
}
