// 256-bit unsigned integers as 8 little-endian 32-bit limbs (limb 0 least significant), with
// the EVM's arithmetic on top. Needs mac32/adc32 from wide_int64.wgsl or wide_u32.wgsl.
// Everything is by value and side-effect free, so any kernel (or a future WGSL EVM
// interpreter) can call it.

alias U256 = array<u32, 8>;
alias U512 = array<u32, 16>;

struct U256Carry {
    value: U256,
    carry: u32,
}

struct U256DivMod {
    quot: U256,
    rem: U256,
}

fn u256_zero() -> U256 {
    return U256();
}

fn u256_from_u32(x: u32) -> U256 {
    var r = U256();
    r[0] = x;
    return r;
}

fn u256_from_bool(x: bool) -> U256 {
    return u256_from_u32(select(0u, 1u, x));
}

fn u256_max() -> U256 {
    return U256(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
}

// -2^255, the most negative signed value.
fn u256_min_signed() -> U256 {
    var r = U256();
    r[7] = 0x80000000u;
    return r;
}

fn u256_is_zero(a: U256) -> bool {
    var acc = 0u;
    for (var i = 0u; i < 8u; i++) {
        acc |= a[i];
    }
    return acc == 0u;
}

fn u256_eq(a: U256, b: U256) -> bool {
    var acc = 0u;
    for (var i = 0u; i < 8u; i++) {
        acc |= a[i] ^ b[i];
    }
    return acc == 0u;
}

// True when a fits in 32 bits.
fn u256_fits_u32(a: U256) -> bool {
    var acc = 0u;
    for (var i = 1u; i < 8u; i++) {
        acc |= a[i];
    }
    return acc == 0u;
}

// -1, 0 or 1 as a <, ==, > b (unsigned).
fn u256_cmp(a: U256, b: U256) -> i32 {
    for (var k = 8u; k > 0u; k--) {
        let i = k - 1u;
        if a[i] != b[i] {
            return select(-1, 1, a[i] > b[i]);
        }
    }
    return 0;
}

fn u256_lt(a: U256, b: U256) -> bool {
    return u256_cmp(a, b) < 0;
}

fn u256_gt(a: U256, b: U256) -> bool {
    return u256_cmp(a, b) > 0;
}

fn u256_is_neg(a: U256) -> bool {
    return (a[7] >> 31u) == 1u;
}

// Signed (two's complement) a < b.
fn u256_slt(a: U256, b: U256) -> bool {
    let na = u256_is_neg(a);
    let nb = u256_is_neg(b);
    if na != nb {
        return na;
    }
    return u256_lt(a, b);
}

fn u256_not(a: U256) -> U256 {
    var r = U256();
    for (var i = 0u; i < 8u; i++) {
        r[i] = ~a[i];
    }
    return r;
}

fn u256_and(a: U256, b: U256) -> U256 {
    var r = U256();
    for (var i = 0u; i < 8u; i++) {
        r[i] = a[i] & b[i];
    }
    return r;
}

fn u256_or(a: U256, b: U256) -> U256 {
    var r = U256();
    for (var i = 0u; i < 8u; i++) {
        r[i] = a[i] | b[i];
    }
    return r;
}

fn u256_xor(a: U256, b: U256) -> U256 {
    var r = U256();
    for (var i = 0u; i < 8u; i++) {
        r[i] = a[i] ^ b[i];
    }
    return r;
}

// a + b with the carry out of bit 255.
fn u256_add_carry(a: U256, b: U256) -> U256Carry {
    var r = U256();
    var c = 0u;
    for (var i = 0u; i < 8u; i++) {
        let s = adc32(a[i], b[i], c);
        r[i] = s.x;
        c = s.y;
    }
    return U256Carry(r, c);
}

fn u256_add(a: U256, b: U256) -> U256 {
    return u256_add_carry(a, b).value;
}

// a - b (wrapping): a + ~b + 1.
fn u256_sub(a: U256, b: U256) -> U256 {
    var r = U256();
    var c = 1u;
    for (var i = 0u; i < 8u; i++) {
        let s = adc32(a[i], ~b[i], c);
        r[i] = s.x;
        c = s.y;
    }
    return r;
}

fn u256_neg(a: U256) -> U256 {
    return u256_sub(U256(), a);
}

// Low 256 bits of a * b.
fn u256_mul(a: U256, b: U256) -> U256 {
    var r = U256();
    for (var i = 0u; i < 8u; i++) {
        if a[i] == 0u {
            continue;
        }
        var carry = 0u;
        for (var j = 0u; i + j < 8u; j++) {
            let t = mac32(r[i + j], a[i], b[j], carry);
            r[i + j] = t.x;
            carry = t.y;
        }
    }
    return r;
}

// Full 512-bit a * b.
fn u256_mul_wide(a: U256, b: U256) -> U512 {
    var r = U512();
    for (var i = 0u; i < 8u; i++) {
        if a[i] == 0u {
            continue;
        }
        var carry = 0u;
        for (var j = 0u; j < 8u; j++) {
            let t = mac32(r[i + j], a[i], b[j], carry);
            r[i + j] = t.x;
            carry = t.y;
        }
        r[i + 8u] = carry;
    }
    return r;
}

// Number of leading zero bits (256 for zero).
fn u256_clz(a: U256) -> u32 {
    for (var k = 8u; k > 0u; k--) {
        let i = k - 1u;
        if a[i] != 0u {
            return (7u - i) * 32u + countLeadingZeros(a[i]);
        }
    }
    return 256u;
}

fn u256_bit(a: U256, i: u32) -> u32 {
    return (a[i >> 5u] >> (i & 31u)) & 1u;
}

// a << s for s < 256.
fn u256_shl(a: U256, s: u32) -> U256 {
    let ws = s >> 5u;
    let bs = s & 31u;
    var r = U256();
    for (var i = ws; i < 8u; i++) {
        let src = i - ws;
        var v = a[src] << bs;
        if bs != 0u && src > 0u {
            v |= a[src - 1u] >> (32u - bs);
        }
        r[i] = v;
    }
    return r;
}

// a >> s (logical) for s < 256.
fn u256_shr(a: U256, s: u32) -> U256 {
    let ws = s >> 5u;
    let bs = s & 31u;
    var r = U256();
    for (var i = 0u; i + ws < 8u; i++) {
        let src = i + ws;
        var v = a[src] >> bs;
        if bs != 0u && src + 1u < 8u {
            v |= a[src + 1u] << (32u - bs);
        }
        r[i] = v;
    }
    return r;
}

// Shift amount of an EVM shift: the value if below 256, else 256 (meaning "everything out").
fn u256_shift_amount(a: U256) -> u32 {
    if u256_fits_u32(a) && a[0] < 256u {
        return a[0];
    }
    return 256u;
}

struct U512DivMod {
    quot: U512,
    rem: U256,
}

// n / d and n % d for a 512-bit n and d != 0: Knuth's algorithm D (as in Hacker's Delight
// divmnu) on 16-bit digits, so every intermediate fits 32 bits on both paths.
fn u512_divmod(n: U512, d: U256) -> U512DivMod {
    var res: U512DivMod;
    var ud: array<u32, 32>;
    var vd: array<u32, 16>;
    for (var i = 0u; i < 16u; i++) {
        ud[2u * i] = n[i] & 0xffffu;
        ud[2u * i + 1u] = n[i] >> 16u;
    }
    for (var i = 0u; i < 8u; i++) {
        vd[2u * i] = d[i] & 0xffffu;
        vd[2u * i + 1u] = d[i] >> 16u;
    }
    var m = 32u;
    while m > 0u && ud[m - 1u] == 0u {
        m--;
    }
    var nn = 16u;
    while nn > 1u && vd[nn - 1u] == 0u {
        nn--;
    }
    var q: array<u32, 32>;
    var rd: array<u32, 16>;
    if m < nn {
        // n < d: quotient 0, remainder n (which fits 256 bits).
        for (var i = 0u; i < 8u; i++) {
            res.rem[i] = n[i];
        }
        return res;
    }
    if nn == 1u {
        // One-digit divisor: schoolbook short division.
        let dv = vd[0];
        var k = 0u;
        for (var jj = m; jj > 0u; jj--) {
            let j = jj - 1u;
            let t = (k << 16u) | ud[j];
            q[j] = t / dv;
            k = t - q[j] * dv;
        }
        rd[0] = k;
    } else {
        // Normalise: shift so the divisor's top digit has its high bit set.
        let s = countLeadingZeros(vd[nn - 1u]) - 16u;
        var v: array<u32, 16>;
        var u: array<u32, 33>;
        for (var i = nn - 1u; i > 0u; i--) {
            v[i] = ((vd[i] << s) | (vd[i - 1u] >> (16u - s))) & 0xffffu;
        }
        v[0] = (vd[0] << s) & 0xffffu;
        u[m] = ud[m - 1u] >> (16u - s);
        for (var i = m - 1u; i > 0u; i--) {
            u[i] = ((ud[i] << s) | (ud[i - 1u] >> (16u - s))) & 0xffffu;
        }
        u[0] = (ud[0] << s) & 0xffffu;
        let vtop = v[nn - 1u];
        let vnext = v[nn - 2u];
        for (var jj = m - nn + 1u; jj > 0u; jj--) {
            let j = jj - 1u;
            // Estimate the quotient digit from the top two digits, then correct it.
            let num = (u[j + nn] << 16u) | u[j + nn - 1u];
            var qhat = num / vtop;
            var rhat = num - qhat * vtop;
            loop {
                if qhat >= 0x10000u || qhat * vnext > ((rhat << 16u) | u[j + nn - 2u]) {
                    qhat -= 1u;
                    rhat += vtop;
                    if rhat < 0x10000u {
                        continue;
                    }
                }
                break;
            }
            // Multiply and subtract.
            var k = 0i;
            for (var i = 0u; i < nn; i++) {
                let p = qhat * v[i];
                let t = i32(u[i + j]) - k - i32(p & 0xffffu);
                u[i + j] = u32(t) & 0xffffu;
                k = i32(p >> 16u) - (t >> 16u);
            }
            let t = i32(u[j + nn]) - k;
            u[j + nn] = u32(t) & 0xffffu;
            q[j] = qhat;
            if t < 0 {
                // Subtracted too much: add one divisor back.
                q[j] = qhat - 1u;
                var c = 0u;
                for (var i = 0u; i < nn; i++) {
                    let sum = u[i + j] + v[i] + c;
                    u[i + j] = sum & 0xffffu;
                    c = sum >> 16u;
                }
                u[j + nn] = (u[j + nn] + c) & 0xffffu;
            }
        }
        // Unnormalise the remainder.
        for (var i = 0u; i < nn; i++) {
            rd[i] = ((u[i] >> s) | (u[i + 1u] << (16u - s))) & 0xffffu;
        }
    }
    for (var i = 0u; i < 16u; i++) {
        res.quot[i] = q[2u * i] | (q[2u * i + 1u] << 16u);
    }
    for (var i = 0u; i < 8u; i++) {
        res.rem[i] = rd[2u * i] | (rd[2u * i + 1u] << 16u);
    }
    return res;
}

// n / d and n % d, d != 0.
fn u256_divmod_nonzero(n: U256, d: U256) -> U256DivMod {
    var q = U256();
    var r = U256();
    if u256_lt(n, d) {
        return U256DivMod(q, n);
    }
    // One-limb divisor and dividend: native division.
    if u256_fits_u32(n) {
        q[0] = n[0] / d[0];
        r[0] = n[0] % d[0];
        return U256DivMod(q, r);
    }
    var wide = U512();
    for (var i = 0u; i < 8u; i++) {
        wide[i] = n[i];
    }
    let qr = u512_divmod(wide, d);
    for (var i = 0u; i < 8u; i++) {
        q[i] = qr.quot[i];
    }
    return U256DivMod(q, qr.rem);
}

// EVM DIV / MOD: division by zero gives zero for both.
fn u256_divmod(n: U256, d: U256) -> U256DivMod {
    if u256_is_zero(d) {
        return U256DivMod(U256(), U256());
    }
    return u256_divmod_nonzero(n, d);
}

// n mod d for a 512-bit n, d != 0.
fn u512_mod(n: U512, d: U256) -> U256 {
    return u512_divmod(n, d).rem;
}

// EVM ADDMOD: (a + b) mod n with a 257-bit intermediate; n == 0 gives 0.
fn u256_addmod(a: U256, b: U256, n: U256) -> U256 {
    if u256_is_zero(n) {
        return U256();
    }
    let s = u256_add_carry(a, b);
    if s.carry == 0u {
        return u256_divmod_nonzero(s.value, n).rem;
    }
    var wide = U512();
    for (var i = 0u; i < 8u; i++) {
        wide[i] = s.value[i];
    }
    wide[8] = 1u;
    return u512_mod(wide, n);
}

// EVM MULMOD: (a * b) mod n with a 512-bit intermediate; n == 0 gives 0.
fn u256_mulmod(a: U256, b: U256, n: U256) -> U256 {
    if u256_is_zero(n) {
        return U256();
    }
    return u512_mod(u256_mul_wide(a, b), n);
}

// EVM EXP: base^e mod 2^256 by square-and-multiply.
fn u256_exp(base: U256, e: U256) -> U256 {
    var r = u256_from_u32(1u);
    var b = base;
    let bits = 256u - u256_clz(e);
    for (var i = 0u; i < bits; i++) {
        if u256_bit(e, i) == 1u {
            r = u256_mul(r, b);
        }
        if i + 1u < bits {
            b = u256_mul(b, b);
        }
    }
    return r;
}

fn u256_abs(a: U256) -> U256 {
    if u256_is_neg(a) {
        return u256_neg(a);
    }
    return a;
}

// EVM SDIV, exactly as revm's i256_div.
fn u256_sdiv(a: U256, b: U256) -> U256 {
    if u256_is_zero(b) {
        return U256();
    }
    let ua = u256_abs(a);
    let ub = u256_abs(b);
    if u256_eq(ua, u256_min_signed()) && u256_eq(ub, u256_from_u32(1u)) {
        return u256_min_signed();
    }
    var q = u256_divmod_nonzero(ua, ub).quot;
    q[7] &= 0x7fffffffu;
    if u256_is_neg(a) != u256_is_neg(b) {
        return u256_neg(q);
    }
    return q;
}

// EVM SMOD, exactly as revm's i256_mod: the result takes the dividend's sign.
fn u256_smod(a: U256, b: U256) -> U256 {
    if u256_is_zero(a) || u256_is_zero(b) {
        return U256();
    }
    var r = u256_divmod_nonzero(u256_abs(a), u256_abs(b)).rem;
    r[7] &= 0x7fffffffu;
    if u256_is_neg(a) {
        return u256_neg(r);
    }
    return r;
}

// EVM SIGNEXTEND: extend x from byte `byte_index` (little-endian byte number).
fn u256_signextend(byte_index: U256, x: U256) -> U256 {
    if !u256_fits_u32(byte_index) || byte_index[0] >= 31u {
        return x;
    }
    let bit_index = 8u * byte_index[0] + 7u;
    let mask = u256_sub(u256_shl(u256_from_u32(1u), bit_index), u256_from_u32(1u));
    if u256_bit(x, bit_index) == 1u {
        return u256_or(x, u256_not(mask));
    }
    return u256_and(x, mask);
}

// EVM BYTE: byte i of x counting from the most significant (i >= 32 gives 0).
fn u256_byte(i: U256, x: U256) -> U256 {
    if !u256_fits_u32(i) || i[0] >= 32u {
        return U256();
    }
    let le = 31u - i[0];
    return u256_from_u32((x[le >> 2u] >> ((le & 3u) * 8u)) & 0xffu);
}

// EVM SHL: value << shift (shift >= 256 gives 0).
fn u256_evm_shl(shift: U256, value: U256) -> U256 {
    let s = u256_shift_amount(shift);
    if s >= 256u {
        return U256();
    }
    return u256_shl(value, s);
}

// EVM SHR: value >> shift, logical.
fn u256_evm_shr(shift: U256, value: U256) -> U256 {
    let s = u256_shift_amount(shift);
    if s >= 256u {
        return U256();
    }
    return u256_shr(value, s);
}

// EVM SAR: value >> shift, arithmetic.
fn u256_evm_sar(shift: U256, value: U256) -> U256 {
    let s = u256_shift_amount(shift);
    let neg = u256_is_neg(value);
    if s >= 256u {
        if neg {
            return u256_max();
        }
        return U256();
    }
    let r = u256_shr(value, s);
    if neg {
        return u256_or(r, u256_not(u256_shr(u256_max(), s)));
    }
    return r;
}

// The EVM's stack ALU: `op` is coevm's AluOp discriminant; operands in stack order
// (a = top). Unknown ops give 0.
fn evm_alu(op: u32, a: U256, b: U256, c: U256) -> U256 {
    var r = U256();
    switch op {
        case 0u: { r = u256_add(a, b); }
        case 1u: { r = u256_mul(a, b); }
        case 2u: { r = u256_sub(a, b); }
        case 3u: { r = u256_divmod(a, b).quot; }
        case 4u: { r = u256_sdiv(a, b); }
        case 5u: { r = u256_divmod(a, b).rem; }
        case 6u: { r = u256_smod(a, b); }
        case 7u: { r = u256_addmod(a, b, c); }
        case 8u: { r = u256_mulmod(a, b, c); }
        case 9u: { r = u256_exp(a, b); }
        case 10u: { r = u256_signextend(a, b); }
        case 11u: { r = u256_from_bool(u256_lt(a, b)); }
        case 12u: { r = u256_from_bool(u256_gt(a, b)); }
        case 13u: { r = u256_from_bool(u256_slt(a, b)); }
        case 14u: { r = u256_from_bool(u256_slt(b, a)); }
        case 15u: { r = u256_from_bool(u256_eq(a, b)); }
        case 16u: { r = u256_from_bool(u256_is_zero(a)); }
        case 17u: { r = u256_and(a, b); }
        case 18u: { r = u256_or(a, b); }
        case 19u: { r = u256_xor(a, b); }
        case 20u: { r = u256_not(a); }
        case 21u: { r = u256_byte(a, b); }
        case 22u: { r = u256_evm_shl(a, b); }
        case 23u: { r = u256_evm_shr(a, b); }
        case 24u: { r = u256_evm_sar(a, b); }
        case 25u: { r = u256_from_u32(u256_clz(a)); }
        default: {}
    }
    return r;
}
