//! Storage lookups through the simulated [`StorageLookup`] unit.

use crate::harness::{Beat, Device, SimFault};
use crate::keccak::message_beats;
use coevm_hdl::StorageLookup;
use coevm_hdl::storage::{KEY_BEATS, KEY_BYTES};
use coevm_kernels::{StorageKey, U256};

/// The 52 key bytes the unit hashes: address, then the slot big-endian.
pub fn key_bytes(key: &StorageKey) -> [u8; KEY_BYTES] {
    let mut k = [0u8; KEY_BYTES];
    k[..20].copy_from_slice(key.address.as_slice());
    k[20..].copy_from_slice(&key.slot.to_be_bytes::<32>());
    k
}

/// What the unit answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageReply {
    /// Lookup: the key was found. Insert: the value was stored.
    pub ok: bool,
    /// Every slot was probed without finding the key or a free slot.
    pub full: bool,
    pub value: U256,
}

/// A simulated storage lookup unit with a table of `2^K` slots.
pub struct StorageSim<const K: usize> {
    dev: Device<StorageLookup<K>>,
}

impl<const K: usize> StorageSim<K> {
    pub const CAPACITY: usize = 1 << K;

    pub fn new() -> Result<Self, SimFault> {
        // Hashing ~40 cycles; each probe 2 cycles; a full table costs 2 * 2^K.
        Ok(StorageSim { dev: Device::new(200 + 4 * (1u64 << K))? })
    }

    fn request(
        &mut self,
        insert: bool,
        key: &StorageKey,
        value: Option<U256>,
    ) -> Result<(StorageReply, u64), SimFault> {
        let mut beats = vec![Beat::word(insert as u64)];
        let mut kb = message_beats(&key_bytes(key));
        debug_assert_eq!(kb.len(), KEY_BEATS);
        for b in &mut kb {
            b.last = false;
        }
        beats.extend(kb);
        if let Some(v) = value {
            beats.extend(v.as_limbs().iter().map(|&l| Beat::word(l)));
        }
        let (words, cycles) = self.dev.transact(&beats, 5)?;
        let reply = StorageReply {
            ok: words[0] & 1 == 1,
            full: words[0] & 2 == 2,
            value: U256::from_limbs([words[1], words[2], words[3], words[4]]),
        };
        Ok((reply, cycles))
    }

    /// Inserts (or overwrites) `key`.
    pub fn insert(&mut self, key: &StorageKey, value: U256) -> Result<(StorageReply, u64), SimFault> {
        self.request(true, key, Some(value))
    }

    pub fn lookup(&mut self, key: &StorageKey) -> Result<(StorageReply, u64), SimFault> {
        self.request(false, key, None)
    }

    pub fn cycles(&self) -> u64 {
        self.dev.cycles()
    }
}
