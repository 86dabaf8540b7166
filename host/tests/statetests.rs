//! Ethereum GeneralStateTests through coevm's host path: the shared Cancun set on the CPU
//! backend, a sample on the GPU backend, and proof that the comparison can fail (corrupted
//! expectations, malformed files) with explanations that name file, test, fork and index.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use coevm_host::statetest::{
    FileReport, PostAccount, PostState, Status, Summary, discover, first_state_difference, reference_state_root,
    run_file, run_files, run_json, state_roots,
};
use coevm_kernels::Backend;
use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::gpu::{GpuBackend, GpuOptions, Int64Mode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revm::primitives::{Address, B256, Bytes, Log, LogData, U256};

/// The state tests kept in the repository (a small subset of the Cancun set).
fn in_repo() -> PathBuf {
    common::repo_root().join("data/statetests")
}

/// The full shared set (`COEVM_STATETESTS`, else `../shared/data/statetests`), if present.
fn shared() -> Option<PathBuf> {
    let named = std::env::var_os("COEVM_STATETESTS").map(PathBuf::from);
    let dir = named.clone().unwrap_or_else(|| common::repo_root().join("../shared/data/statetests"));
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(named.is_none(), "COEVM_STATETESTS={}: not a directory", dir.display());
        assert!(!common::shared_required(), "COEVM_REQUIRE_SHARED=1 but {} is missing", dir.display());
        eprintln!("{} not found: running the in-repo state tests only", dir.display());
        None
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Every failure of every report, one line each.
fn failures(reports: &[FileReport]) -> Vec<String> {
    reports.iter().flat_map(FileReport::failures).collect()
}

fn in_repo_file(relative: &str) -> (PathBuf, Vec<u8>) {
    let path = in_repo().join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, bytes)
}

#[test]
fn the_state_tests_pass_on_the_cpu_backend() {
    let backend = CpuBackend::new(threads());
    let mut roots = vec![in_repo()];
    roots.extend(shared());
    for root in roots {
        let files = discover(std::slice::from_ref(&root)).expect("state test files");
        let (reports, elapsed) = run_files(&files, &backend, threads(), false, |_| {}).expect("thread pool");
        let summary = Summary::from_reports(&reports);
        for line in coevm_host::statetest::summary_lines(&summary, elapsed, &backend.describe()) {
            eprintln!("{line}");
        }
        let failed = failures(&reports);
        assert!(failed.is_empty(), "{}: {} failures:\n{}", root.display(), failed.len(), failed.join("\n"));
        // Skips are the known ones only: most entries really ran and passed.
        assert!(summary.entries.pass > 0 && summary.entries.pass >= summary.entries.total() * 9 / 10, "{summary:?}");
        for reason in summary.skip_reasons.keys() {
            assert!(
                reason.contains("revm 43") || reason.contains("256 bits") || reason.contains("slow"),
                "unexpected skip reason: {reason}"
            );
        }
        assert_eq!(summary.files.total(), files.len());
        // One keccak batch per file that ran (keys and logs), not one per hash.
        assert_eq!(summary.hashing.key_batches, summary.files.pass);
    }
}

#[test]
fn a_sample_passes_on_the_gpu_backend() {
    let required = std::env::var("COEVM_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let root = shared().unwrap_or_else(in_repo);
    let files = discover(&[root]).expect("state test files");
    // 20 files spread over the set (it is sorted by category).
    let step = (files.len() / 20).max(1);
    let sample: Vec<PathBuf> = files.iter().step_by(step).take(20).cloned().collect();
    let mut paths_run = 0;
    for (label, mode) in [("auto", Int64Mode::Auto), ("u32", Int64Mode::Disabled)] {
        let gpu = match GpuBackend::with_options(&GpuOptions::from_env().with_int64(mode)) {
            Ok(gpu) => gpu,
            Err(e) => {
                assert!(!required, "COEVM_REQUIRE_GPU=1 but no GPU backend ({label} path): {e}");
                eprintln!("skipped: no GPU adapter ({e})");
                continue;
            }
        };
        let (reports, _) = run_files(&sample, &gpu, 2, false, |_| {}).expect("thread pool");
        let failed = failures(&reports);
        assert!(failed.is_empty(), "GPU {label} path ({}): {}", gpu.describe(), failed.join("\n"));
        let summary = Summary::from_reports(&reports);
        assert!(summary.entries.pass > 0, "{summary:?}");
        assert!(summary.hashing.nodes > 0 && summary.hashing.keys > 0, "{summary:?}");
        eprintln!("{}: {} entries of {} files pass", gpu.describe(), summary.entries.pass, sample.len());
        paths_run += 1;
    }
    if paths_run > 0 {
        eprintln!("GPU sample passed on {paths_run} path(s)");
    }
}

/// Sets `post[fork][index][field]` of the file's only test unit to `value`.
fn edit(
    bytes: &[u8],
    fork: &str,
    index: usize,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(bytes).expect("test JSON");
    let unit = json.as_object_mut().and_then(|o| o.values_mut().next()).expect("one test unit");
    let entry = unit["post"][fork][index].as_object_mut().expect("post entry");
    edit(entry);
    serde_json::to_vec(&json).expect("serialise")
}

fn only_failure(report: &FileReport) -> &coevm_host::statetest::EntryReport {
    let failed: Vec<_> = report.entries.iter().filter(|e| e.status == Status::Fail).collect();
    assert_eq!(failed.len(), 1, "{:#?}", report.failures());
    assert_eq!(report.status, Status::Fail);
    failed[0]
}

#[test]
fn a_corrupted_state_root_is_a_failure_that_explains_itself() {
    let (path, bytes) = in_repo_file("stExample/add11.json");
    let backend = CpuBackend::new(1);
    assert_eq!(run_json(&path, &bytes, &backend).status, Status::Pass);

    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let real = json["add11"]["post"]["Cancun"][0]["hash"].as_str().unwrap().to_string();
    let wrong = format!("0x{}", "ab".repeat(32));
    let corrupted = edit(&bytes, "Cancun", 0, |e| {
        e.insert("hash".into(), wrong.clone().into());
    });
    let report = run_json(&path, &corrupted, &backend);
    let failed = only_failure(&report);
    assert_eq!((failed.test.as_str(), failed.fork.as_str(), failed.index), ("add11", "Cancun", 0));
    let reason = failed.reason.as_deref().unwrap();
    assert!(reason.contains("state root mismatch"), "{reason}");
    assert!(reason.contains(&format!("computed {real}")), "{reason}");
    assert!(reason.contains(&format!("expected {wrong}")), "{reason}");
    // The diagnosis reran plain revm: same post-state, same alloy-trie root, so the expectation
    // is what differs.
    assert!(reason.contains("coevm's post-state equals plain revm's"), "{reason}");
    assert!(reason.contains("both executions disagree"), "{reason}");
    // The file, test, fork and index are all in the report's failure line.
    let line = &report.failures()[0];
    for part in [path.display().to_string(), "add11 [Cancun #0 d0 g0 v0]".into()] {
        assert!(line.contains(&part), "{line}");
    }
}

/// The CPU backend with wrong digests for trie nodes (RLP lists of 56 bytes or more).
struct BadTrieHashing(CpuBackend);

impl Backend for BadTrieHashing {
    fn kind(&self) -> coevm_kernels::BackendKind {
        self.0.kind()
    }
    fn describe(&self) -> String {
        "faulty".into()
    }
    fn keccak256(&self, batch: &coevm_kernels::MessageBatch) -> Result<Vec<B256>, coevm_kernels::BackendError> {
        let mut out = self.0.keccak256(batch)?;
        for (digest, message) in out.iter_mut().zip(batch.iter()) {
            if matches!(message.first(), Some(0xf8..=0xfa)) {
                digest.0[0] ^= 1;
            }
        }
        Ok(out)
    }
    fn alu(&self, batch: &coevm_kernels::AluBatch) -> Result<Vec<U256>, coevm_kernels::BackendError> {
        self.0.alu(batch)
    }
    fn build_storage_table(
        &self,
        entries: &[coevm_kernels::StorageEntry],
    ) -> Result<Box<dyn coevm_kernels::StorageTable>, coevm_kernels::BackendError> {
        self.0.build_storage_table(entries)
    }
}

#[test]
fn a_hashing_fault_is_told_apart_from_an_execution_fault() {
    let (path, bytes) = in_repo_file("stExample/add11.json");
    let report = run_json(&path, &bytes, &BadTrieHashing(CpuBackend::new(1)));
    assert_eq!(report.status, Status::Fail);
    let failed: Vec<_> = report.entries.iter().filter(|e| e.status == Status::Fail).collect();
    assert!(!failed.is_empty());
    for e in failed {
        let reason = e.reason.as_deref().unwrap();
        assert!(reason.contains("state root mismatch"), "{reason}");
        assert!(reason.contains("the fault is in the trie hashing"), "{reason}");
        assert!(!reason.contains("logs hash"), "{reason}");
    }
}

#[test]
fn a_corrupted_logs_hash_is_a_failure() {
    let (path, bytes) = in_repo_file("stLogTests/log1_nonEmptyMem.json");
    let backend = CpuBackend::new(1);
    assert_eq!(run_json(&path, &bytes, &backend).status, Status::Pass);
    let corrupted = edit(&bytes, "Shanghai", 0, |e| {
        e.insert("logs".into(), format!("0x{}", "00".repeat(32)).into());
    });
    let failed = only_failure(&run_json(&path, &corrupted, &backend)).clone();
    let reason = failed.reason.unwrap();
    assert!(reason.contains("logs hash mismatch"), "{reason}");
    assert!(reason.contains("the logs equal plain revm's"), "{reason}");
    assert!(!reason.contains("state root"), "the state root is right: {reason}");
}

#[test]
fn exceptions_must_be_expected_and_must_happen() {
    let backend = CpuBackend::new(1);
    // A valid transaction said to be invalid.
    let (path, bytes) = in_repo_file("stExample/add11.json");
    let corrupted = edit(&bytes, "Berlin", 0, |e| {
        e.insert("expectException".into(), "TR_NoFunds".into());
    });
    let reason = only_failure(&run_json(&path, &corrupted, &backend)).reason.clone().unwrap();
    assert!(reason.contains("expected exception TR_NoFunds but the transaction was valid"), "{reason}");

    // An invalid transaction (fee cap below the tip) no longer expected to be.
    let (path, bytes) = in_repo_file("stEIP1559/tipTooHigh.json");
    assert_eq!(run_json(&path, &bytes, &backend).status, Status::Pass);
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let (fork, index) = json["tipTooHigh"]["post"]
        .as_object()
        .unwrap()
        .iter()
        .find_map(|(fork, entries)| {
            entries
                .as_array()
                .unwrap()
                .iter()
                .position(|e| e.get("expectException").is_some())
                .map(|i| (fork.clone(), i))
        })
        .expect("an entry expecting an exception");
    let corrupted = edit(&bytes, &fork, index, |e| {
        e.remove("expectException");
    });
    let failed = only_failure(&run_json(&path, &corrupted, &backend)).clone();
    assert_eq!(failed.fork, fork);
    let reason = failed.reason.unwrap();
    assert!(reason.contains("unexpected invalid transaction"), "{reason}");
}

#[test]
fn bad_input_is_reported_not_panicked_on() {
    let backend = CpuBackend::new(1);
    let path = Path::new("bad.json");
    for (bytes, expected) in [
        (&b"not json"[..], "not a GeneralStateTests file"),
        (b"{}", "no tests in the file"),
        (b"{\"x\": {\"env\": 1}}", "not a GeneralStateTests file"),
    ] {
        let report = run_json(path, bytes, &backend);
        assert_eq!(report.status, Status::Fail);
        let line = &report.failures()[0];
        assert!(line.starts_with("bad.json: ") && line.contains(expected), "{line}");
    }
    // Indexes past the transaction's lists.
    let (path, bytes) = in_repo_file("stExample/add11.json");
    let corrupted = edit(&bytes, "London", 0, |e| {
        e.insert("indexes".into(), serde_json::json!({"data": 7, "gas": 0, "value": 0}));
    });
    let failed = only_failure(&run_json(&path, &corrupted, &backend)).clone();
    assert!(failed.reason.as_deref().unwrap().contains("data index 7 out of range (1 entries)"), "{failed:?}");
    // A blob excess whose price overflows revm's series (revm prices it whatever the fork).
    let mut huge: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for test in huge.as_object_mut().unwrap().values_mut() {
        test["env"]["currentExcessBlobGas"] = "0x20000000".into();
    }
    let report = run_json(&path, &serde_json::to_vec(&huge).unwrap(), &backend);
    assert_eq!(report.status, Status::Fail);
    let failures = report.failures();
    assert!(!failures.is_empty() && failures.iter().all(|f| f.contains("currentExcessBlobGas")), "{failures:?}");
    assert!(failures.iter().any(|f| f.contains("overflows")), "{failures:?}");
    // A missing file.
    let report = run_file(Path::new("/nonexistent/x.json"), &backend, false);
    assert_eq!(report.status, Status::Fail);
    assert!(report.failures()[0].contains("/nonexistent/x.json: cannot read"), "{:?}", report.failures());
    assert!(discover(&[PathBuf::from("/nonexistent")]).is_err());
}

#[test]
fn a_symbolic_link_back_up_the_tree_is_listed_once() {
    let dir = std::env::temp_dir().join(format!("coevm-statetest-loop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/a.json"), "{}").unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("sub/loop")).unwrap();
    let found = discover(std::slice::from_ref(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.expect("listed").len(), 1);
}

#[test]
fn unsupported_forks_and_files_are_skipped_with_a_reason() {
    let backend = CpuBackend::new(1);
    let report = run_file(&in_repo().join("stTransactionTest/ValueOverflow.json"), &backend, false);
    assert_eq!(report.status, Status::Skip);
    assert!(report.reason.as_deref().unwrap().contains("256 bits"));
    let report = run_file(&in_repo().join("stExample/accessListExample.json"), &backend, false);
    assert_eq!(report.status, Status::Pass, "{:?}", report.failures());
    let constantinople: Vec<_> = report.entries.iter().filter(|e| e.fork == "Constantinople").collect();
    assert!(!constantinople.is_empty());
    for e in constantinople {
        assert_eq!(e.status, Status::Skip);
        assert!(e.reason.as_deref().unwrap().contains("not supported by revm 43"));
    }
}

fn random_state(rng: &mut ChaCha8Rng, accounts: usize) -> PostState {
    (0..accounts)
        .map(|_| {
            let slots = if rng.random_bool(0.5) { rng.random_range(0..40) } else { 0 };
            let storage: BTreeMap<U256, U256> = (0..slots)
                .map(|_| (U256::from(rng.random_range(0u64..50)), U256::from(rng.random::<u128>() | 1)))
                .collect();
            let account = PostAccount {
                nonce: rng.random_range(0..3),
                balance: U256::from(rng.random::<u64>()),
                code_hash: if rng.random_bool(0.3) {
                    B256::from(rng.random::<[u8; 32]>())
                } else {
                    revm::primitives::KECCAK_EMPTY
                },
                storage,
            };
            (Address::from(rng.random::<[u8; 20]>()), account)
        })
        .collect()
}

#[test]
fn batched_roots_match_alloy_trie_and_first_difference_names_the_slot() {
    let backend = CpuBackend::new(2);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let states: Vec<PostState> = (0..30).map(|i| random_state(&mut rng, [0, 1, 2, 17, 120][i % 5])).collect();
    let log = Log {
        address: Address::repeat_byte(1),
        data: LogData::new_unchecked(vec![B256::repeat_byte(2)], Bytes::from_static(b"hello")),
    };
    let logs = vec![log];
    let items: Vec<(&PostState, &[Log])> =
        states.iter().enumerate().map(|(i, s)| (s, if i % 2 == 0 { &logs[..] } else { &[][..] })).collect();
    let (roots, work) = state_roots(&backend, &items).unwrap();
    for (i, (state, (root, logs_hash))) in states.iter().zip(&roots).enumerate() {
        assert_eq!(*root, reference_state_root(state), "state {i} with {} accounts", state.len());
        let expected_logs = if i % 2 == 0 {
            let mut out = Vec::new();
            alloy_rlp::encode_list(&logs, &mut out);
            revm::primitives::keccak256(out)
        } else {
            // keccak256(rlp([])): the empty logs hash every state test uses.
            "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347".parse().unwrap()
        };
        assert_eq!(*logs_hash, expected_logs, "logs of state {i}");
    }
    // Three round trips in all: keys+logs, then storage tries and account tries by height.
    assert_eq!(work.key_batches, 1);
    assert!(work.node_batches < 40, "{work:?}");

    let mut changed = states[3].clone();
    let (address, account) = changed.iter_mut().find(|(_, a)| !a.storage.is_empty()).expect("an account with storage");
    let (slot, value) = account.storage.iter_mut().next().unwrap();
    *value += U256::from(1);
    let (address, slot) = (*address, *slot);
    let d = first_state_difference(&changed, &states[3]).expect("a difference");
    assert!(d.contains(&address.to_string()) && d.contains(&format!("slot {slot:#x}")), "{d}");
    assert_eq!(first_state_difference(&states[3], &states[3]), None);
    let mut missing = states[3].clone();
    missing.remove(&address);
    assert!(first_state_difference(&missing, &states[3]).unwrap().contains("missing from coevm's post-state"));
}

#[test]
fn the_cli_reports_and_exits_non_zero_on_failure() {
    let exe = env!("CARGO_BIN_EXE_coevm");
    let ok = Command::new(exe).args(["statetest", "--backend", "cpu", "--quiet"]).arg(in_repo()).output().unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&ok.stderr));
    assert!(stdout.contains("Cancun") && stdout.contains(" 0 fail"), "{stdout}");

    let dir = std::env::temp_dir().join(format!("coevm-statetest-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, bytes) = in_repo_file("stExample/add11.json");
    let corrupted = edit(&bytes, "Cancun", 0, |e| {
        e.insert("hash".into(), format!("0x{}", "cd".repeat(32)).into());
    });
    std::fs::write(dir.join("add11_corrupted.json"), corrupted).unwrap();
    let bad = Command::new(exe).args(["statetest", "--backend", "cpu", "--json"]).arg(&dir).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&bad.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    assert_eq!(lines.len(), 2, "one file, then the summary");
    assert_eq!(lines[0]["status"], "fail");
    assert_eq!(lines[1]["passed"], false);
    assert_eq!(lines[1]["summary"]["entries"]["fail"], 1);

    let missing = Command::new(exe).args(["statetest", "/nonexistent/dir"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/dir"));
}

#[test]
fn a_sample_passes_on_the_simulated_fpga() {
    // Every key and trie node of these files is hashed by the simulated keccak256 core.
    let sim = coevm_sim::FpgaSimBackend::new(threads());
    let dirs = [in_repo().join("stExample"), in_repo().join("stLogTests")];
    let files = discover(&dirs).expect("state test files");
    assert!(!files.is_empty());
    let (reports, _) = run_files(&files, &sim, threads(), false, |_| {}).expect("thread pool");
    let failed = failures(&reports);
    assert!(failed.is_empty(), "{} failures:\n{}", failed.len(), failed.join("\n"));
    let summary = Summary::from_reports(&reports);
    assert!(summary.entries.pass > 0, "{summary:?}");
    assert!(sim.stats().keccak_cycles > 0, "the simulated core did the hashing");
}
