//! `coevm run` as users call it: JSON lines, block numbers under `--data`, and the exit code
//! when a header check fails.

mod common;

use std::process::Command;

fn coevm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_coevm")).current_dir(common::repo_root()).args(args).output().unwrap()
}

#[test]
fn json_gives_one_parsable_line_per_block_and_no_progress_bar() {
    let out =
        coevm(&["run", "--data", "data/mainnet", "--backend", "cpu", "--threads", "2", "--repeat", "1", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let blocks = common::block_dirs_in_repo();
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(lines.len(), blocks.len(), "{stdout}");
    for line in &lines {
        assert_eq!(line["matches_sequential"], true, "{line}");
        for check in ["gas_used", "logs_bloom", "transactions_root"] {
            assert_eq!(line["checks"][check]["result"], "match", "{check}: {line}");
        }
        let receipts = &line["checks"]["receipts_root"]["result"];
        match line["number"].as_u64().unwrap() >= 4_370_000 {
            true => assert_eq!(receipts, "match", "{line}"),
            false => assert_eq!(receipts, "not_checked", "{line}"),
        }
    }
}

#[test]
fn a_block_number_is_looked_up_under_data() {
    let out = coevm(&["run", "930196", "--data", "data/mainnet", "--backend", "cpu", "--repeat", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("930196 Frontier") && stdout.contains("1 blocks · 1 passed every check"), "{stdout}");
}

#[test]
fn a_failed_header_check_exits_1_and_says_which() {
    // 930,196 with a wrong gasUsed in its header: everything runs, one check fails.
    let dir = std::env::temp_dir().join(format!("coevm-cli-gas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = common::repo_root().join("data/mainnet/930196");
    std::fs::copy(src.join("pre_state.json"), dir.join("pre_state.json")).unwrap();
    let mut block: serde_json::Value = serde_json::from_slice(&std::fs::read(src.join("block.json")).unwrap()).unwrap();
    block["gasUsed"] = "0x1".into();
    std::fs::write(dir.join("block.json"), serde_json::to_vec(&block).unwrap()).unwrap();
    let out = coevm(&["run", dir.to_str().unwrap(), "--backend", "cpu", "--repeat", "1", "--json"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["checks"]["gas_used"]["result"], "mismatch", "{line}");
    assert_eq!(line["checks"]["logs_bloom"]["result"], "match", "{line}");
}
