//! Shared by the integration tests: where the real blocks are.
#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Block directories to test: the full shared set when present (`COEVM_DATA` or `../shared`),
/// and always the blocks kept in the repository.
pub fn block_dirs() -> Vec<PathBuf> {
    let shared =
        std::env::var_os("COEVM_DATA").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/data/mainnet"));
    let mut dirs = coevm_host::data::discover_blocks(&repo_root().join("data/mainnet")).expect("in-repo blocks");
    assert!(dirs.len() >= 5, "the repository keeps a few real blocks in data/mainnet");
    if shared.is_dir() {
        let all = coevm_host::data::discover_blocks(&shared).expect("shared blocks");
        eprintln!("using {} shared blocks from {}", all.len(), shared.display());
        dirs.extend(all);
    } else {
        eprintln!("{} not found: testing the {} in-repo blocks only", shared.display(), dirs.len());
    }
    dirs
}
