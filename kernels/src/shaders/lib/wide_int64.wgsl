// 32-bit limb primitives, 64-bit-integer path: used when the adapter has SHADER_INT64.
// Every u256 routine (u256.wgsl) is written against these two functions only, so the
// u32 path (wide_u32.wgsl) and this one share all of it.

// (low word, high word) of r + a * b + carry. Never overflows: (2^32-1)^2 + 2(2^32-1) = 2^64-1.
fn mac32(r: u32, a: u32, b: u32, carry: u32) -> vec2<u32> {
    let t = u64(r) + u64(a) * u64(b) + u64(carry);
    return vec2<u32>(u32(t & 0xfffffffflu), u32(t >> 32u));
}

// (sum, carry out) of a + b + carry_in, carry_in in {0, 1}.
fn adc32(a: u32, b: u32, carry_in: u32) -> vec2<u32> {
    let t = u64(a) + u64(b) + u64(carry_in);
    return vec2<u32>(u32(t & 0xfffffffflu), u32(t >> 32u));
}
