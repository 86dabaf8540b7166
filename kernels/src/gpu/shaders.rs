//! The WGSL sources, assembled at runtime for the 64-bit-integer or the 32-bit path.
//!
//! Shared helpers live in `src/shaders/lib/`: 32-bit limb primitives (`wide_int64.wgsl` /
//! `wide_u32.wgsl`, same functions), the u256 library on top of them (`u256.wgsl`) and
//! keccak-f (`keccak_int64.wgsl` / `keccak_u32.wgsl`, same API). Each kernel is one file in
//! `src/shaders/` and is prefixed with the helpers it needs.

/// 32-bit limb primitives with 64-bit integers (`mac32`, `adc32`).
pub const WIDE_INT64: &str = include_str!("../shaders/lib/wide_int64.wgsl");
/// 32-bit limb primitives with 32-bit integers only (`mac32`, `adc32`).
pub const WIDE_U32: &str = include_str!("../shaders/lib/wide_u32.wgsl");
/// 256-bit arithmetic and the EVM ALU (`evm_alu`), on top of `mac32` / `adc32`.
pub const U256: &str = include_str!("../shaders/lib/u256.wgsl");
/// keccak-f\[1600\] with u64 lanes.
pub const KECCAK_F_INT64: &str = include_str!("../shaders/lib/keccak_int64.wgsl");
/// keccak-f\[1600\] with (lo, hi) u32 lanes.
pub const KECCAK_F_U32: &str = include_str!("../shaders/lib/keccak_u32.wgsl");
/// The keccak256 kernel.
pub const KECCAK256_KERNEL: &str = include_str!("../shaders/keccak256.wgsl");
/// The ALU kernel.
pub const ALU_KERNEL: &str = include_str!("../shaders/alu.wgsl");
/// The storage lookup kernel.
pub const STORAGE_LOOKUP_KERNEL: &str = include_str!("../shaders/storage_lookup.wgsl");

/// The compute kernels of the GPU backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Keccak256,
    Alu,
    StorageLookup,
}

impl Kernel {
    pub const ALL: [Kernel; 3] = [Kernel::Keccak256, Kernel::Alu, Kernel::StorageLookup];

    /// Workgroup size of every kernel (`@workgroup_size(64)`).
    pub const WORKGROUP_SIZE: u32 = 64;

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Keccak256 => "keccak256",
            Kernel::Alu => "alu",
            Kernel::StorageLookup => "storage_lookup",
        }
    }

    /// Number of storage bindings (group 0, bindings 0..n): read-only inputs, then the output.
    pub fn bindings(self) -> u32 {
        match self {
            Kernel::Keccak256 | Kernel::Alu => 3,
            Kernel::StorageLookup => 4,
        }
    }

    /// Number of pipelines (specialisations) of this kernel. Variant 0 is the generic one;
    /// the ALU also has variant `1 + op` per op, with the `ALU_OP` override set to the op's
    /// discriminant.
    pub fn variants(self) -> u32 {
        match self {
            Kernel::Alu => 1 + crate::AluOp::ALL.len() as u32,
            Kernel::Keccak256 | Kernel::StorageLookup => 1,
        }
    }

    /// The pipeline-overridable constants of variant `variant`.
    pub fn override_constants(self, variant: u32) -> Vec<(&'static str, f64)> {
        match (self, variant) {
            (Kernel::Alu, 1..) => vec![("ALU_OP", f64::from(variant - 1))],
            _ => Vec::new(),
        }
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Keccak256 => "keccak256_main",
            Kernel::Alu => "alu_main",
            Kernel::StorageLookup => "storage_lookup_main",
        }
    }

    /// The full WGSL module for this kernel, for the 64-bit-integer path (`int64`) or the
    /// 32-bit path. The storage lookup only uses 32-bit integers, so both are the same.
    pub fn source(self, int64: bool) -> String {
        let parts: &[&str] = match (self, int64) {
            (Kernel::Keccak256, true) => &[KECCAK_F_INT64, KECCAK256_KERNEL],
            (Kernel::Keccak256, false) => &[KECCAK_F_U32, KECCAK256_KERNEL],
            (Kernel::Alu, true) => &[WIDE_INT64, U256, ALU_KERNEL],
            (Kernel::Alu, false) => &[WIDE_U32, U256, ALU_KERNEL],
            (Kernel::StorageLookup, _) => &[STORAGE_LOOKUP_KERNEL],
        };
        parts.join("\n")
    }
}
