//! The GPU storage table: open addressing with linear probing, built on the host and
//! uploaded; lookups run on the device (`shaders/storage_lookup.wgsl`).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use super::{BufferSet, GpuContext, Job, Kernel, PreparedBatch, fixed_chunk_end, run_job};
use crate::{BackendError, StorageEntry, StorageKey, StorageTable, U256};

/// The table never holds more than `slots * MAX_LOAD_FACTOR` keys (it grows, or fails with
/// [`BackendError::TableFull`], first). At 1/2, a miss probes ~2.5 slots on average and an
/// empty slot always ends the probe.
pub const MAX_LOAD_FACTOR: f64 = 0.5;

const KEY_WORDS: usize = 13;
/// Words per slot in the key buffer: the key, then the occupied flag.
const SLOT_KEY_WORDS: usize = 14;
const SLOT_OCCUPIED: usize = 13;
/// Words per slot in the value buffer.
const VALUE_WORDS: usize = 8;
const MIN_SLOTS: usize = 16;

/// A key as the device sees it: the 20 address bytes then the 32 slot bytes (big-endian),
/// as 13 little-endian 32-bit words.
pub fn storage_key_words(key: &StorageKey) -> [u32; KEY_WORDS] {
    let mut bytes = [0u8; 52];
    bytes[..20].copy_from_slice(key.address.as_slice());
    bytes[20..].copy_from_slice(&key.slot.to_be_bytes::<32>());
    let mut words = [0u32; KEY_WORDS];
    for (w, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes(b.try_into().expect("4 bytes"));
    }
    words
}

/// The table's hash of a key (same as `storage_key_hash` in the WGSL kernel).
pub fn storage_key_hash(words: &[u32; KEY_WORDS]) -> u32 {
    let mut h: u32 = 0x9e37_79b9;
    for &w in words {
        h = (h ^ w).wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// The host image of the table: exactly the words uploaded (keys and values buffers).
#[derive(Clone, Debug)]
struct HostTable {
    keys: Vec<u32>,
    values: Vec<u32>,
    capacity: usize,
    len: usize,
}

impl HostTable {
    fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self { keys: vec![0; capacity * SLOT_KEY_WORDS], values: vec![0; capacity * VALUE_WORDS], capacity, len: 0 }
    }

    /// Key words and occupied flag of slot `i`.
    fn slot_key(&self, i: usize) -> &[u32] {
        &self.keys[i * SLOT_KEY_WORDS..(i + 1) * SLOT_KEY_WORDS]
    }

    fn slot_value(&self, i: usize) -> &[u32] {
        &self.values[i * VALUE_WORDS..(i + 1) * VALUE_WORDS]
    }

    /// The slot holding `key`, or the empty slot where it would go (linear probing from its
    /// home slot; the load factor keeps an empty slot).
    fn slot_for(&self, key: &[u32; KEY_WORDS]) -> usize {
        let mask = self.capacity - 1;
        let mut i = storage_key_hash(key) as usize & mask;
        loop {
            let k = self.slot_key(i);
            if k[SLOT_OCCUPIED] == 0 || k[..KEY_WORDS] == key[..] {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Is `key` in the table?
    fn contains(&self, key: &[u32; KEY_WORDS]) -> bool {
        self.slot_key(self.slot_for(key))[SLOT_OCCUPIED] == 1
    }

    /// Inserts or overwrites; the caller keeps the load factor (an empty slot must exist).
    fn insert(&mut self, key: &[u32; KEY_WORDS], value: &[u32]) {
        let i = self.slot_for(key);
        let k = &mut self.keys[i * SLOT_KEY_WORDS..(i + 1) * SLOT_KEY_WORDS];
        if k[SLOT_OCCUPIED] == 0 {
            k[..KEY_WORDS].copy_from_slice(key);
            k[SLOT_OCCUPIED] = 1;
            self.len += 1;
        }
        self.values[i * VALUE_WORDS..(i + 1) * VALUE_WORDS].copy_from_slice(value);
    }

    /// The same entries in a table of `capacity` slots.
    fn rehash(&self, capacity: usize) -> Self {
        let mut t = HostTable::new(capacity);
        for i in 0..self.capacity {
            let k = self.slot_key(i);
            if k[SLOT_OCCUPIED] == 1 {
                t.insert(k[..KEY_WORDS].try_into().expect("13 words"), self.slot_value(i));
            }
        }
        t
    }

    fn fits(len: usize, capacity: usize) -> bool {
        (len as f64) <= capacity as f64 * MAX_LOAD_FACTOR
    }
}

fn value_words(v: &U256) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (w, b) in words.iter_mut().zip(v.to_le_bytes::<32>().chunks_exact(4)) {
        *w = u32::from_le_bytes(b.try_into().expect("4 bytes"));
    }
    words
}

/// A storage table resident on the GPU. Duplicate keys: the last entry wins.
///
/// Capacity is a power of two, at most `max_slots` (the caller's cap, and the device's storage
/// binding and buffer limits: 56 bytes of keys per slot in one buffer, 32 bytes of values in
/// another); the table grows by doubling to stay at or below [`MAX_LOAD_FACTOR`], and fails
/// with [`BackendError::TableFull`] beyond that.
pub struct GpuStorageTable {
    ctx: Arc<GpuContext>,
    host: HostTable,
    /// Device copies of `host.keys` and `host.values`.
    buffers: [Arc<wgpu::Buffer>; 2],
    max_slots: usize,
    query_buffers: Mutex<Option<BufferSet>>,
}

impl GpuStorageTable {
    pub(super) fn build(
        ctx: Arc<GpuContext>,
        entries: &[StorageEntry],
        max_slots: Option<usize>,
    ) -> Result<Self, BackendError> {
        let device_slots = (ctx.max_binding() / (SLOT_KEY_WORDS as u64 * 4)) as usize;
        let cap = max_slots.unwrap_or(usize::MAX).min(device_slots).max(1);
        // Largest power of two not above the cap.
        let max_slots = 1usize << (usize::BITS - 1 - cap.leading_zeros());
        let host = Self::insert_all(HostTable::new(MIN_SLOTS.min(max_slots)), entries, max_slots)?;
        let buffers = ctx.guarded("storage table upload", || Ok(Self::upload(&ctx, &host)))?;
        Ok(Self { ctx, host, buffers, max_slots, query_buffers: Mutex::new(None) })
    }

    fn upload(ctx: &GpuContext, host: &HostTable) -> [Arc<wgpu::Buffer>; 2] {
        [&host.keys, &host.values].map(|words| {
            let buffer = ctx.create_buffer("storage table", words.len() as u64 * 4, super::INPUT_USAGE);
            ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(words));
            Arc::new(buffer)
        })
    }

    /// `table` plus `entries`, doubling as needed; `TableFull` past `max_slots`.
    fn insert_all(mut table: HostTable, entries: &[StorageEntry], max_slots: usize) -> Result<HostTable, BackendError> {
        for (n, e) in entries.iter().enumerate() {
            let key = storage_key_words(&e.key);
            // (Only a new key needs room: overwriting one never grows the table.)
            if !HostTable::fits(table.len + 1, table.capacity) && !table.contains(&key) {
                let mut cap = table.capacity * 2;
                while !HostTable::fits(table.len + 1, cap) {
                    cap *= 2;
                }
                if cap > max_slots {
                    // Count what was asked for, for a useful error.
                    let mut keys: HashSet<[u32; KEY_WORDS]> = (0..table.capacity)
                        .map(|i| table.slot_key(i))
                        .filter(|s| s[SLOT_OCCUPIED] == 1)
                        .map(|s| s[..KEY_WORDS].try_into().expect("13 words"))
                        .collect();
                    keys.extend(entries[n..].iter().map(|e| storage_key_words(&e.key)));
                    return Err(BackendError::TableFull { entries: keys.len(), capacity: max_slots });
                }
                table = table.rehash(cap);
            }
            table.insert(&key, &value_words(&e.value));
        }
        Ok(table)
    }

    /// Adds (or overwrites) entries, growing the table when the load factor requires it.
    /// On error the table is unchanged.
    pub fn extend(&mut self, entries: &[StorageEntry]) -> Result<(), BackendError> {
        let host = Self::insert_all(self.host.clone(), entries, self.max_slots)?;
        let ctx = Arc::clone(&self.ctx);
        let old_capacity = self.host.capacity;
        let buffers = ctx.guarded("storage table upload", || {
            if host.capacity == old_capacity {
                ctx.queue.write_buffer(&self.buffers[0], 0, bytemuck::cast_slice(&host.keys));
                ctx.queue.write_buffer(&self.buffers[1], 0, bytemuck::cast_slice(&host.values));
                Ok(None)
            } else {
                Ok(Some(Self::upload(&ctx, &host)))
            }
        })?;
        if let Some(b) = buffers {
            self.buffers = b;
        }
        self.host = host;
        Ok(())
    }

    /// The most slots this table may grow to.
    pub fn max_slots(&self) -> usize {
        self.max_slots
    }

    /// Uploads a batch of keys for repeated device-resident lookups.
    pub fn prepare_lookup(&self, keys: &[StorageKey]) -> Result<PreparedBatch<Option<U256>>, BackendError> {
        self.ctx.guarded("storage lookup", || PreparedBatch::new(&self.ctx, &LookupJob(keys), self.buffers.to_vec()))
    }
}

impl std::fmt::Debug for GpuStorageTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuStorageTable")
            .field("len", &self.host.len)
            .field("capacity", &self.host.capacity)
            .field("max_slots", &self.max_slots)
            .finish_non_exhaustive()
    }
}

impl StorageTable for GpuStorageTable {
    fn len(&self) -> usize {
        self.host.len
    }

    fn capacity(&self) -> usize {
        self.host.capacity
    }

    fn get(&self, keys: &[StorageKey]) -> Result<Vec<Option<U256>>, BackendError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let [table_keys, table_values] = &self.buffers;
        self.ctx.guarded("storage lookup", || {
            run_job(&self.ctx, &LookupJob(keys), &self.query_buffers, &[table_keys, table_values])
        })
    }
}

struct LookupJob<'a>(&'a [StorageKey]);

impl Job for LookupJob<'_> {
    type Output = Option<U256>;
    const KERNEL: Kernel = Kernel::StorageLookup;
    const OPERATION: &'static str = "storage lookup";

    fn len(&self) -> usize {
        self.0.len()
    }

    fn chunk_end(&self, start: usize, max_items: usize, max_binding: u64) -> Result<usize, BackendError> {
        fixed_chunk_end(start, self.len(), max_items, max_binding, &[KEY_WORDS as u64 * 4, 36])
    }

    fn input_sizes(&self, items: Range<usize>) -> [u64; 2] {
        [0, items.len() as u64 * KEY_WORDS as u64 * 4]
    }

    fn write(&self, items: Range<usize>, _in0: &mut [u8], in1: &mut [u8]) {
        for (dst, key) in in1.chunks_exact_mut(KEY_WORDS * 4).zip(&self.0[items]) {
            dst.copy_from_slice(bytemuck::cast_slice(&storage_key_words(key)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Address;

    fn entry(i: u64) -> StorageEntry {
        StorageEntry { key: StorageKey::new(Address::with_last_byte(i as u8), U256::from(i)), value: U256::from(i * 3) }
    }

    #[test]
    fn host_table_grows_and_keeps_load_factor() {
        let entries: Vec<_> = (0..1000).map(entry).collect();
        let t = GpuStorageTable::insert_all(HostTable::new(MIN_SLOTS), &entries, 1 << 20).unwrap();
        assert_eq!(t.len, 1000);
        assert_eq!(t.capacity, 2048);
        assert!(HostTable::fits(t.len, t.capacity));
        let occupied = (0..t.capacity).filter(|&i| t.slot_key(i)[SLOT_OCCUPIED] == 1).count();
        assert_eq!(occupied, 1000);
    }

    #[test]
    fn host_table_full_is_an_error() {
        let entries: Vec<_> = (0..33).map(entry).collect();
        let err = GpuStorageTable::insert_all(HostTable::new(16), &entries, 64).unwrap_err();
        assert!(matches!(err, BackendError::TableFull { entries: 33, capacity: 64 }), "{err}");
        assert!(GpuStorageTable::insert_all(HostTable::new(16), &entries[..32], 64).is_ok());
    }

    #[test]
    fn key_words_are_address_then_big_endian_slot() {
        let k = StorageKey::new(Address::repeat_byte(0x11), U256::from(0x0102_0304u32));
        let w = storage_key_words(&k);
        assert_eq!(w[0], 0x1111_1111);
        assert_eq!(w[12], u32::from_le_bytes([1, 2, 3, 4]));
        assert_ne!(storage_key_hash(&w), storage_key_hash(&storage_key_words(&entry(1).key)));
    }
}
