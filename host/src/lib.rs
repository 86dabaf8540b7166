//! coevm's host runtime: executes Ethereum blocks in parallel with revm, identical to
//! sequential revm, and offloads the batchable work (hashing, storage lookups, 256-bit
//! arithmetic) to a [`coevm_kernels::Backend`].
//!
//! - [`data`]: loading real blocks and their pre-state;
//! - [`env`](mod@env): fork rules and revm environments;
//! - [`state`]: the pre-state database (storage served through the backend's table);
//! - [`exec`]: the sequential oracle and the parallel executor;
//! - [`fees`]: deferred beneficiary fees, settled on the backend's ALU;
//! - [`trie`], [`encode`], [`verify`]: batched Merkle-Patricia tries, receipts, header checks;
//! - [`backend`]: choosing a backend and falling back to the CPU when a device fails;
//! - [`run`]: one block end to end;
//! - [`statetest`]: Ethereum GeneralStateTests conformance (`coevm statetest`).

pub mod backend;
pub mod bench;
pub mod data;
pub mod encode;
pub mod env;
pub mod exec;
pub mod fees;
pub mod run;
pub mod state;
pub mod statetest;
pub mod synthetic;
pub mod trie;
pub mod verify;
