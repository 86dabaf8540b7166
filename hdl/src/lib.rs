//! coevm's FPGA designs in RustHDL, emitted as Verilog.
//!
//! - [`keccak::Keccak256Core`]: keccak256 sponge around a one-round-per-clock Keccak-f\[1600\].
//! - [`alu::Alu256`]: the EVM's 256-bit ALU (all 26 stack arithmetic/bitwise opcodes).
//! - [`storage::StorageLookup`]: hashes `(address, slot)` keys with its own keccak core and
//!   probes a block-RAM hash table (insert and lookup).
//!
//! Every top level speaks 64-bit valid/ready streams, so it fits a real device's pins.
//! `coevm-sim` runs these same structs under RustHDL's simulator.

pub mod alu;
#[rustfmt::skip]
pub mod keccak;
pub mod ram;
pub mod storage;

use rust_hdl::prelude::*;
use std::path::{Path, PathBuf};

pub use alu::Alu256;
pub use keccak::Keccak256Core;
pub use storage::StorageLookup;

/// Address bits of the storage table in the emitted (synthesised) top level: 64 entries.
pub const EMIT_STORAGE_ADDR_BITS: usize = 6;

/// Renames RustHDL's `top` module (and its `top$child` submodules) to `name`, so the three
/// designs can be read into one tool run.
fn rename_top(verilog: &str, name: &str) -> String {
    verilog.replace("module top(", &format!("module {name}(")).replace("top$", &format!("{name}$"))
}

/// The emitted top levels: `(module name = file stem, Verilog source)`.
pub fn top_level_verilog() -> Vec<(&'static str, String)> {
    let mut keccak = Keccak256Core::default();
    keccak.connect_all();
    let mut alu = Alu256::default();
    alu.connect_all();
    let mut storage = StorageLookup::<EMIT_STORAGE_ADDR_BITS>::default();
    storage.connect_all();
    vec![
        ("coevm_keccak256", generate_verilog(&keccak)),
        ("coevm_alu256", generate_verilog(&alu)),
        ("coevm_storage", generate_verilog(&storage)),
    ]
    .into_iter()
    .map(|(name, v)| (name, rename_top(&v, name)))
    .collect()
}

/// Writes `<dir>/<name>.v` for every top level (module `<name>`) and returns the paths.
pub fn emit_verilog(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (name, text) in top_level_verilog() {
        let path = dir.join(format!("{name}.v"));
        std::fs::write(&path, text)?;
        out.push(path);
    }
    Ok(out)
}
