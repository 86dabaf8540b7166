// Storage lookups in an open-addressing hash table (linear probing), one invocation per key.
//
// A key is 13 words: the 20 address bytes then the 32 slot bytes (big-endian), read as
// little-endian 32-bit words. The table has a power-of-two number of slots, split over two
// buffers so twice as many slots fit the storage-binding limit:
//   table_keys:   14 words per slot: [0..13) key, [13] 1 if occupied;
//   table_values:  8 words per slot: the value (8 little-endian limbs).
// It is built on the host at a load factor of at most 1/2, so probing always reaches an
// empty slot; the probe is still bounded by the slot count.
//
// results: 9 words per key: [0] 1 on a hit, 0 on a miss; [1..9) the value (0 on a miss).

@group(0) @binding(0) var<storage, read> table_keys: array<u32>;
@group(0) @binding(1) var<storage, read> table_values: array<u32>;
@group(0) @binding(2) var<storage, read> keys: array<u32>;
@group(0) @binding(3) var<storage, read_write> results: array<u32>;

const KEY_WORDS: u32 = 13u;
const SLOT_KEY_WORDS: u32 = 14u;
const SLOT_OCCUPIED: u32 = 13u;
const VALUE_WORDS: u32 = 8u;
const RESULT_WORDS: u32 = 9u;

// Cheap mixing hash of a key (must match the host's `storage_key_hash`).
fn storage_key_hash(k: array<u32, 13>) -> u32 {
    var h = 0x9e3779b9u;
    for (var i = 0u; i < KEY_WORDS; i++) {
        h = (h ^ k[i]) * 0x85ebca6bu;
        h ^= h >> 13u;
    }
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

@compute @workgroup_size(64)
fn storage_lookup_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= arrayLength(&keys) / KEY_WORDS {
        return;
    }
    var k: array<u32, 13>;
    for (var w = 0u; w < KEY_WORDS; w++) {
        k[w] = keys[i * KEY_WORDS + w];
    }
    let slots = arrayLength(&table_values) / VALUE_WORDS;
    let mask = slots - 1u;
    var s = storage_key_hash(k) & mask;
    var found = 0u;
    for (var probe = 0u; probe < slots; probe++) {
        let base = s * SLOT_KEY_WORDS;
        if table_keys[base + SLOT_OCCUPIED] == 0u {
            break;
        }
        var same = true;
        for (var w = 0u; w < KEY_WORDS; w++) {
            if table_keys[base + w] != k[w] {
                same = false;
                break;
            }
        }
        if same {
            found = 1u;
            break;
        }
        s = (s + 1u) & mask;
    }
    let out = i * RESULT_WORDS;
    results[out] = found;
    for (var w = 0u; w < 8u; w++) {
        results[out + 1u + w] = select(0u, table_values[s * VALUE_WORDS + w], found == 1u);
    }
}
