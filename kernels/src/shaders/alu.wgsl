// The EVM ALU over a batch, one invocation per item. Needs lib/u256.wgsl (evm_alu).
//
// ops:      one AluOp discriminant per item.
// operands: 24 words per item: a, b, c, each 8 little-endian limbs.
// results:  8 limbs per item.

// When set (by the pipeline, to an AluOp discriminant), every item runs that op and the
// compiler keeps only its code path; the default reads each item's op from `ops`.
override ALU_OP: u32 = 0xffffffffu;

@group(0) @binding(0) var<storage, read> ops: array<u32>;
@group(0) @binding(1) var<storage, read> operands: array<u32>;
@group(0) @binding(2) var<storage, read_write> results: array<u32>;

fn load_operand(item: u32, which: u32) -> U256 {
    var r = U256();
    let base = item * 24u + which * 8u;
    for (var i = 0u; i < 8u; i++) {
        r[i] = operands[base + i];
    }
    return r;
}

@compute @workgroup_size(64)
fn alu_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= arrayLength(&ops) {
        return;
    }
    var op = ALU_OP;
    if op == 0xffffffffu {
        op = ops[i];
    }
    let r = evm_alu(op, load_operand(i, 0u), load_operand(i, 1u), load_operand(i, 2u));
    for (var k = 0u; k < 8u; k++) {
        results[i * 8u + k] = r[k];
    }
}
