//! Our batched trie builder against alloy-trie's reference roots, and the encodings against
//! alloy's consensus types via real block data (see blocks.rs for the header roots).

use alloy_primitives::{B256 as AB256, keccak256 as akeccak};
use alloy_trie::{HashBuilder, Nibbles};
use coevm_host::trie::{EMPTY_ROOT, indexed, trie_roots};
use coevm_kernels::cpu::CpuBackend;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn reference_root(items: &[(Vec<u8>, Vec<u8>)]) -> AB256 {
    let mut sorted: Vec<_> = items.iter().map(|(k, v)| (Nibbles::unpack(k), v.clone())).collect();
    sorted.sort_by_key(|a| a.0);
    let mut hb = HashBuilder::default();
    for (k, v) in &sorted {
        hb.add_leaf(*k, v);
    }
    hb.root()
}

#[test]
fn empty_trie_has_the_empty_root() {
    let (roots, work) = trie_roots(&CpuBackend::new(1), &[vec![]]).unwrap();
    assert_eq!(roots[0], EMPTY_ROOT);
    assert_eq!(work.hashes, 0);
    assert_eq!(EMPTY_ROOT.0, alloy_trie::EMPTY_ROOT_HASH.0);
}

#[test]
fn random_tries_match_alloy_trie() {
    let backend = CpuBackend::new(2);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut tries = Vec::new();
    for case in 0..300 {
        let n = match case % 4 {
            0 => rng.random_range(1..4),
            1 => rng.random_range(4..40),
            2 => rng.random_range(40..400),
            _ => rng.random_range(1..2000),
        };
        let key_len = if case % 3 == 0 { 32 } else { rng.random_range(1..6) };
        let mut items = std::collections::BTreeMap::new();
        for _ in 0..n {
            let key: Vec<u8> = (0..key_len).map(|_| rng.random()).collect();
            // Short values give inline (< 32 byte) nodes; long ones hashed nodes.
            let len = if rng.random_bool(0.5) { rng.random_range(1..8) } else { rng.random_range(30..120) };
            let value: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            items.insert(key, value);
        }
        tries.push(items.into_iter().collect::<Vec<_>>());
    }
    let (roots, work) = trie_roots(&backend, &tries).unwrap();
    for (i, (trie, root)) in tries.iter().zip(&roots).enumerate() {
        assert_eq!(root.0, reference_root(trie).0, "trie {i} with {} keys", trie.len());
    }
    // All 300 tries were hashed together: one batch per node height, not per trie.
    assert!(work.batches < 80, "{work:?}");
}

#[test]
fn index_keyed_tries_match_alloy_trie() {
    let backend = CpuBackend::new(1);
    for n in [1usize, 2, 15, 16, 17, 127, 128, 129, 300, 1300] {
        let values: Vec<Vec<u8>> = (0..n).map(|i| akeccak(i.to_be_bytes()).to_vec()).collect();
        let items = indexed(values);
        let (roots, _) = trie_roots(&backend, std::slice::from_ref(&items)).unwrap();
        assert_eq!(roots[0].0, reference_root(&items).0, "{n} items");
    }
}
