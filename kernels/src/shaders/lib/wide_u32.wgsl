// 32-bit limb primitives, portable path: only 32-bit integers. 32x32 -> 64-bit products are
// built from 16-bit halves. Same signatures as wide_int64.wgsl.

// (low word, high word) of a * b.
fn mul32(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Bits 16..47 of the product, before carries: each term < 2^16 or < 2^32 as noted.
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu); // < 3 * 2^16
    let lo = (p00 & 0xffffu) | (mid << 16u);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(lo, hi);
}

// (sum, carry out) of a + b + carry_in, carry_in in {0, 1}.
fn adc32(a: u32, b: u32, carry_in: u32) -> vec2<u32> {
    let s = a + b;
    let c1 = select(0u, 1u, s < a);
    let s2 = s + carry_in;
    let c2 = select(0u, 1u, s2 < s);
    return vec2<u32>(s2, c1 + c2);
}

// (low word, high word) of r + a * b + carry. Never overflows 64 bits.
fn mac32(r: u32, a: u32, b: u32, carry: u32) -> vec2<u32> {
    let p = mul32(a, b);
    let s1 = adc32(p.x, r, 0u);
    let s2 = adc32(s1.x, carry, 0u);
    return vec2<u32>(s2.x, p.y + s1.y + s2.y);
}
