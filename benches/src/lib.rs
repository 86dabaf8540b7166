//! Criterion benchmarks for coevm (see `benches/`): kernel throughput on every backend
//! (`cargo bench -p coevm-benches --bench kernels`) and block execution, sequential vs parallel,
//! on real mainnet blocks and synthetic gigagas-style blocks (`--bench blocks`).
//!
//! `coevm bench` is the users' tool for the same questions; these are the developers'.
