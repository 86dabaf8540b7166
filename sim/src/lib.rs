//! Cycle-accurate simulation of coevm's FPGA designs (`coevm-hdl`) under RustHDL's simulator,
//! and [`FpgaSimBackend`], a [`coevm_kernels::Backend`] whose every result comes out of the
//! simulated hardware.

pub mod harness;
pub mod keccak;

pub use harness::SimFault;
pub use keccak::KeccakSim;
pub mod alu;
pub use alu::AluSim;
pub mod storage;
pub use storage::StorageSim;
pub mod backend;
pub use backend::{FpgaSimBackend, SimStats};
pub mod cycles;
pub use cycles::{CycleFigure, cycles_table, measure_cycles};

/// The Verilog of the designs simulated here (re-exported so the host needs only this crate).
pub use coevm_hdl::emit_verilog;
