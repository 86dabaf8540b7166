//! Shared by the integration tests: where the real blocks are.
#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The blocks kept in the repository.
pub fn block_dirs_in_repo() -> Vec<PathBuf> {
    coevm_host::data::discover_blocks(&repo_root().join("data/mainnet")).expect("in-repo blocks")
}

/// Is the shared data required (`COEVM_REQUIRE_SHARED=1`, as CI sets it)? Then a missing
/// `../shared` fails the tests instead of leaving them to the in-repo subset.
pub fn shared_required() -> bool {
    std::env::var_os("COEVM_REQUIRE_SHARED").is_some_and(|v| v == "1")
}

/// Block directories to test: the full shared set when present (`COEVM_DATA` or `../shared`),
/// and always the blocks kept in the repository. A `COEVM_DATA` that names no blocks is an
/// error, not a reason to test fewer.
pub fn block_dirs() -> Vec<PathBuf> {
    let named = std::env::var_os("COEVM_DATA").map(PathBuf::from);
    let shared = named.clone().unwrap_or_else(|| repo_root().join("../shared/data/mainnet"));
    let mut dirs = block_dirs_in_repo();
    assert!(dirs.len() >= 5, "the repository keeps a few real blocks in data/mainnet");
    if shared.is_dir() {
        let all = coevm_host::data::discover_blocks(&shared).expect("shared blocks");
        assert!(!all.is_empty(), "{}: no block directories", shared.display());
        if named.is_none() || shared_required() {
            assert!(all.len() >= 45, "{}: {} blocks, expected the 45 shared ones", shared.display(), all.len());
        }
        eprintln!("using {} shared blocks from {}", all.len(), shared.display());
        dirs.extend(all);
    } else {
        assert!(named.is_none(), "COEVM_DATA={}: not a directory", shared.display());
        assert!(!shared_required(), "COEVM_REQUIRE_SHARED=1 but {} is missing", shared.display());
        eprintln!("{} not found: testing the {} in-repo blocks only", shared.display(), dirs.len());
    }
    dirs
}
