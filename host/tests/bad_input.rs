//! Malformed input gets an error naming the file, the field and the transaction — never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use coevm_host::data::load_block;

/// A temporary directory removed when dropped.
struct TempBlock(PathBuf);

impl Drop for TempBlock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempBlock {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

/// A copy of a real in-repo block in a fresh temporary directory, edited by `edit`.
fn edited_block(name: &str, edit: impl FnOnce(&Path)) -> TempBlock {
    edited("930196", name, edit)
}

fn edited(block: &str, name: &str, edit: impl FnOnce(&Path)) -> TempBlock {
    let dir = std::env::temp_dir().join(format!("coevm-bad-input-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = common::repo_root().join("data/mainnet").join(block);
    for file in ["block.json", "pre_state.json"] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    edit(&dir);
    TempBlock(dir)
}

fn edit_json(file: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(file, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn error_of(dir: &Path) -> String {
    load_block(dir).expect_err("malformed input must be rejected").to_string()
}

#[test]
fn a_missing_file_is_named() {
    let dir = edited_block("missing", |d| std::fs::remove_file(d.join("pre_state.json")).unwrap());
    let e = error_of(&dir);
    assert!(e.contains("pre_state.json") && e.contains("cannot read"), "{e}");
}

#[test]
fn broken_json_is_named() {
    let dir = edited_block("json", |d| std::fs::write(d.join("block.json"), "{\"number\": ").unwrap());
    let e = error_of(&dir);
    assert!(e.contains("block.json") && e.contains("not valid JSON"), "{e}");
}

#[test]
fn a_bad_transaction_field_names_file_field_and_index() {
    let dir = edited_block("gasprice", |d| {
        edit_json(&d.join("block.json"), |b| b["transactions"][3]["gasPrice"] = "0xzz".into())
    });
    let e = error_of(&dir);
    assert!(e.contains("block.json") && e.contains("transactions[3].gasPrice"), "{e}");
}

#[test]
fn an_unsupported_transaction_type_is_named() {
    let dir =
        edited_block("type", |d| edit_json(&d.join("block.json"), |b| b["transactions"][0]["type"] = "0x7".into()));
    let e = error_of(&dir);
    assert!(e.contains("transactions[0].type") && e.contains("unsupported transaction type 7"), "{e}");
}

#[test]
fn a_missing_header_field_is_named() {
    let dir = edited_block("header", |d| {
        edit_json(&d.join("block.json"), |b| {
            b.as_object_mut().unwrap().remove("receiptsRoot");
        })
    });
    let e = error_of(&dir);
    assert!(e.contains("block.json: field `receiptsRoot`: missing"), "{e}");
}

#[test]
fn code_that_does_not_hash_to_its_code_hash_is_rejected() {
    let dir = edited("6196166", "codehash", |d| {
        edit_json(&d.join("pre_state.json"), |p| {
            let (_, account) = p.as_object_mut().unwrap().iter_mut().find(|(_, a)| !a["code"].is_null()).unwrap();
            account["code_hash"] = format!("0x{}", "11".repeat(32)).into();
        })
    });
    let e = error_of(&dir);
    assert!(e.contains("pre_state.json") && e.contains("code_hash") && e.contains("keccak256(code)"), "{e}");
}

#[test]
fn the_cli_reports_bad_input_and_exits_non_zero() {
    let dir = edited_block("cli", |d| {
        edit_json(&d.join("block.json"), |b| b["transactions"][5]["nonce"] = serde_json::Value::Null)
    });
    let out = Command::new(env!("CARGO_BIN_EXE_coevm")).args(["run", "--backend", "cpu"]).arg(&*dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("field `transactions[5].nonce`: missing"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_cli_rejects_a_directory_without_a_block() {
    let out = Command::new(env!("CARGO_BIN_EXE_coevm")).args(["run", "/nonexistent-block-dir"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("/nonexistent-block-dir: not a block directory"), "{stderr}");
}

#[test]
fn a_multibyte_character_in_a_long_hex_field_is_reported_not_a_panic() {
    // The error message abbreviates the value at 40 characters: a cut inside a character
    // must not panic.
    let dir = edited_block("utf8", |d| {
        edit_json(&d.join("block.json"), |b| b["miner"] = format!("0x{}é", "0".repeat(37)).into())
    });
    let e = error_of(&dir);
    assert!(e.contains("block.json") && e.contains("miner"), "{e}");
}

#[test]
fn a_malformed_delegation_in_the_pre_state_is_named() {
    // Code starting 0xef01 is an EIP-7702 delegation and must be 23 bytes (revm panics on it).
    let dir = edited_block("eip7702", |d| {
        edit_json(&d.join("pre_state.json"), |p| {
            let (_, account) = p.as_object_mut().unwrap().iter_mut().next().unwrap();
            account["code"] = serde_json::json!({ "bytecode": "0xef01" });
            account.as_object_mut().unwrap().remove("code_hash");
        })
    });
    let e = error_of(&dir);
    assert!(e.contains("pre_state.json") && e.contains("code.bytecode"), "{e}");
}

#[test]
fn fields_a_fork_requires_are_named_when_missing() {
    // 19,933,122 is a Cancun block: base fee (London), mixHash (the Merge) and excess blob gas
    // (Cancun) must be there; revm would run on with zeros.
    for field in ["baseFeePerGas", "mixHash", "excessBlobGas"] {
        let dir = edited("19933122", &format!("fork-{field}"), |d| {
            edit_json(&d.join("block.json"), |b| {
                b.as_object_mut().unwrap().remove(field);
            })
        });
        let e = error_of(&dir);
        assert!(e.contains("block.json") && e.contains(field) && e.contains("missing on a block from"), "{e}");
    }
}

#[test]
fn an_excess_blob_gas_whose_price_overflows_is_rejected() {
    let dir = edited("19933122", "excess-blob-gas", |d| {
        edit_json(&d.join("block.json"), |b| b["excessBlobGas"] = "0x20000000".into())
    });
    let e = error_of(&dir);
    assert!(e.contains("excessBlobGas") && e.contains("overflows"), "{e}");
    // Mainnet-sized values pass.
    assert!(coevm_host::env::blob_gas_price_fits(10_000_000, 3_338_477));
    assert!(!coevm_host::env::blob_gas_price_fits(u64::MAX, 3_338_477));
}

#[test]
fn the_cli_bounds_the_thread_count() {
    for threads in ["0", "100000000"] {
        let out = Command::new(env!("CARGO_BIN_EXE_coevm"))
            .args(["synthetic", "transfers", "--txs", "10", "--threads", threads])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--threads") && !stderr.contains("panicked"), "{stderr}");
    }
}
