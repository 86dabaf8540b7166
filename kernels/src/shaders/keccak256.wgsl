// keccak256 of many variable-length messages, one invocation per message.
// Needs keccak_reset/keccak_xor_lane/keccak_permute/keccak_lane (lib/keccak_*.wgsl).
//
// msg_words: the messages' bytes back to back, little-endian in 32-bit words.
// offsets:   n + 1 byte offsets into msg_words; message i is bytes offsets[i]..offsets[i + 1].
// digests:   8 words per message, the 32 digest bytes in order.

@group(0) @binding(0) var<storage, read> msg_words: array<u32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> digests: array<u32>;

const KECCAK256_RATE: u32 = 136u;

fn msg_byte(p: u32) -> u32 {
    return (msg_words[p >> 2u] >> ((p & 3u) * 8u)) & 0xffu;
}

// The 4 bytes at byte offset p (any alignment), little-endian. p + 4 must not pass the
// message's end, so both words read lie inside the buffer.
fn msg_word(p: u32) -> u32 {
    let w = p >> 2u;
    let s = (p & 3u) * 8u;
    if s == 0u {
        return msg_words[w];
    }
    return (msg_words[w] >> s) | (msg_words[w + 1u] << (32u - s));
}

// keccak256 of bytes [start, start + len) of msg_words; the state holds the result.
fn keccak256_absorb(start: u32, len: u32) {
    keccak_reset();
    var pos = 0u;
    // Full blocks.
    loop {
        if len - pos < KECCAK256_RATE {
            break;
        }
        let base = start + pos;
        for (var lane = 0u; lane < 17u; lane++) {
            let p = base + lane * 8u;
            keccak_xor_lane(lane, vec2<u32>(msg_word(p), msg_word(p + 4u)));
        }
        keccak_permute();
        pos += KECCAK256_RATE;
    }
    // Last (partial, possibly empty) block with the 0x01 .. 0x80 padding.
    let rem = len - pos;
    let base = start + pos;
    for (var lane = 0u; lane < 17u; lane++) {
        var words = vec2<u32>(0u, 0u);
        for (var h = 0u; h < 2u; h++) {
            let q = lane * 8u + h * 4u; // byte index within the block
            var w = 0u;
            if q + 4u <= rem {
                w = msg_word(base + q);
            } else if q <= rem {
                for (var b = 0u; b < 4u; b++) {
                    if q + b < rem {
                        w |= msg_byte(base + q + b) << (b * 8u);
                    } else if q + b == rem {
                        w |= 0x01u << (b * 8u);
                    }
                }
            }
            if q == KECCAK256_RATE - 4u {
                w |= 0x80000000u;
            }
            words[h] = w;
        }
        keccak_xor_lane(lane, words);
    }
    keccak_permute();
}

@compute @workgroup_size(64)
fn keccak256_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i + 1u >= arrayLength(&offsets) {
        return;
    }
    let start = offsets[i];
    let end = offsets[i + 1u];
    keccak256_absorb(start, end - start);
    for (var lane = 0u; lane < 4u; lane++) {
        let v = keccak_lane(lane);
        digests[i * 8u + lane * 2u] = v.x;
        digests[i * 8u + lane * 2u + 1u] = v.y;
    }
}
