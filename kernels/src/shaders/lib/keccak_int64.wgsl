// Keccak-f[1600], 64-bit-integer path (needs SHADER_INT64): each lane is a u64.
// Same API as keccak_u32.wgsl: lanes go in and out as vec2<u32> (low word, high word).
// The round is unrolled over the 25 lanes (kept in registers, no dynamic indexing);
// only the round loop remains.

const KECCAK_RC = array<u64, 24>(
    0x0000000000000001lu,
    0x0000000000008082lu,
    0x800000000000808alu,
    0x8000000080008000lu,
    0x000000000000808blu,
    0x0000000080000001lu,
    0x8000000080008081lu,
    0x8000000000008009lu,
    0x000000000000008alu,
    0x0000000000000088lu,
    0x0000000080008009lu,
    0x000000008000000alu,
    0x000000008000808blu,
    0x800000000000008blu,
    0x8000000000008089lu,
    0x8000000000008003lu,
    0x8000000000008002lu,
    0x8000000000000080lu,
    0x000000000000800alu,
    0x800000008000000alu,
    0x8000000080008081lu,
    0x8000000000008080lu,
    0x0000000080000001lu,
    0x8000000080008008lu
);

var<private> keccak_state: array<u64, 25>;

fn keccak_reset() {
    keccak_state = array<u64, 25>();
}

fn keccak_xor_lane(i: u32, lane: vec2<u32>) {
    keccak_state[i] ^= u64(lane.x) | (u64(lane.y) << 32u);
}

fn keccak_lane(i: u32) -> vec2<u32> {
    let v = keccak_state[i];
    return vec2<u32>(u32(v & 0xfffffffflu), u32(v >> 32u));
}

// Rotate left by n, 0 < n < 64.
fn keccak_rotl(v: u64, n: u32) -> u64 {
    return (v << n) | (v >> (64u - n));
}

fn keccak_permute() {
    var a0 = keccak_state[0];
    var a1 = keccak_state[1];
    var a2 = keccak_state[2];
    var a3 = keccak_state[3];
    var a4 = keccak_state[4];
    var a5 = keccak_state[5];
    var a6 = keccak_state[6];
    var a7 = keccak_state[7];
    var a8 = keccak_state[8];
    var a9 = keccak_state[9];
    var a10 = keccak_state[10];
    var a11 = keccak_state[11];
    var a12 = keccak_state[12];
    var a13 = keccak_state[13];
    var a14 = keccak_state[14];
    var a15 = keccak_state[15];
    var a16 = keccak_state[16];
    var a17 = keccak_state[17];
    var a18 = keccak_state[18];
    var a19 = keccak_state[19];
    var a20 = keccak_state[20];
    var a21 = keccak_state[21];
    var a22 = keccak_state[22];
    var a23 = keccak_state[23];
    var a24 = keccak_state[24];
    var rc = KECCAK_RC;
    for (var round = 0u; round < 24u; round++) {
        // theta
        let c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
        let c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
        let c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
        let c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
        let c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
        let d0 = c4 ^ keccak_rotl(c1, 1u);
        let d1 = c0 ^ keccak_rotl(c2, 1u);
        let d2 = c1 ^ keccak_rotl(c3, 1u);
        let d3 = c2 ^ keccak_rotl(c4, 1u);
        let d4 = c3 ^ keccak_rotl(c0, 1u);
        a0 ^= d0;
        a1 ^= d1;
        a2 ^= d2;
        a3 ^= d3;
        a4 ^= d4;
        a5 ^= d0;
        a6 ^= d1;
        a7 ^= d2;
        a8 ^= d3;
        a9 ^= d4;
        a10 ^= d0;
        a11 ^= d1;
        a12 ^= d2;
        a13 ^= d3;
        a14 ^= d4;
        a15 ^= d0;
        a16 ^= d1;
        a17 ^= d2;
        a18 ^= d3;
        a19 ^= d4;
        a20 ^= d0;
        a21 ^= d1;
        a22 ^= d2;
        a23 ^= d3;
        a24 ^= d4;
        // rho and pi
        let b0 = a0;
        let b1 = keccak_rotl(a6, 44u);
        let b2 = keccak_rotl(a12, 43u);
        let b3 = keccak_rotl(a18, 21u);
        let b4 = keccak_rotl(a24, 14u);
        let b5 = keccak_rotl(a3, 28u);
        let b6 = keccak_rotl(a9, 20u);
        let b7 = keccak_rotl(a10, 3u);
        let b8 = keccak_rotl(a16, 45u);
        let b9 = keccak_rotl(a22, 61u);
        let b10 = keccak_rotl(a1, 1u);
        let b11 = keccak_rotl(a7, 6u);
        let b12 = keccak_rotl(a13, 25u);
        let b13 = keccak_rotl(a19, 8u);
        let b14 = keccak_rotl(a20, 18u);
        let b15 = keccak_rotl(a4, 27u);
        let b16 = keccak_rotl(a5, 36u);
        let b17 = keccak_rotl(a11, 10u);
        let b18 = keccak_rotl(a17, 15u);
        let b19 = keccak_rotl(a23, 56u);
        let b20 = keccak_rotl(a2, 62u);
        let b21 = keccak_rotl(a8, 55u);
        let b22 = keccak_rotl(a14, 39u);
        let b23 = keccak_rotl(a15, 41u);
        let b24 = keccak_rotl(a21, 2u);
        // chi
        a0 = b0 ^ (~b1 & b2);
        a1 = b1 ^ (~b2 & b3);
        a2 = b2 ^ (~b3 & b4);
        a3 = b3 ^ (~b4 & b0);
        a4 = b4 ^ (~b0 & b1);
        a5 = b5 ^ (~b6 & b7);
        a6 = b6 ^ (~b7 & b8);
        a7 = b7 ^ (~b8 & b9);
        a8 = b8 ^ (~b9 & b5);
        a9 = b9 ^ (~b5 & b6);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
        // iota
        a0 ^= rc[round];
    }
    keccak_state[0] = a0;
    keccak_state[1] = a1;
    keccak_state[2] = a2;
    keccak_state[3] = a3;
    keccak_state[4] = a4;
    keccak_state[5] = a5;
    keccak_state[6] = a6;
    keccak_state[7] = a7;
    keccak_state[8] = a8;
    keccak_state[9] = a9;
    keccak_state[10] = a10;
    keccak_state[11] = a11;
    keccak_state[12] = a12;
    keccak_state[13] = a13;
    keccak_state[14] = a14;
    keccak_state[15] = a15;
    keccak_state[16] = a16;
    keccak_state[17] = a17;
    keccak_state[18] = a18;
    keccak_state[19] = a19;
    keccak_state[20] = a20;
    keccak_state[21] = a21;
    keccak_state[22] = a22;
    keccak_state[23] = a23;
    keccak_state[24] = a24;
}
