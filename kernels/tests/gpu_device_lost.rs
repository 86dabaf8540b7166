//! A really lost device (wgpu `Device::destroy`) gives `DeviceLost` from every operation:
//! no panic, no hang. Own test binary: it needs its own device.

mod common;

use std::time::{Duration, Instant};

use coevm_kernels::gpu::{GpuBackend, GpuOptions};
use coevm_kernels::{AluBatch, AluOp, Backend, BackendError, MessageBatch, StorageEntry, StorageKey, U256};

#[test]
fn destroyed_device_reports_device_lost() {
    let gpu = match GpuBackend::with_options(&GpuOptions::from_env()) {
        Ok(g) => g,
        Err(e) => {
            assert!(!common::gpu_required(), "COEVM_REQUIRE_GPU=1 but no GPU backend: {e}");
            eprintln!("skipped: no GPU adapter ({e})");
            return;
        }
    };
    let mut alu = AluBatch::new();
    alu.push(AluOp::Add, U256::from(1), U256::from(2), U256::ZERO);
    let msgs: MessageBatch = [&b"abc"[..]].into_iter().collect();
    let key = StorageKey::new(Default::default(), U256::from(1));
    let table = gpu.build_storage_table(&[StorageEntry { key, value: U256::from(5) }]).unwrap();
    let prepared = gpu.prepare_alu(&alu).unwrap();
    assert_eq!(gpu.alu(&alu).unwrap(), vec![U256::from(3)]);
    assert!(!gpu.is_lost());

    gpu.destroy_device();
    let start = Instant::now();
    for round in 0..2 {
        let results = [
            ("alu", gpu.alu(&alu).map(|_| ())),
            ("keccak256", gpu.keccak256(&msgs).map(|_| ())),
            ("lookup", table.get(&[key]).map(|_| ())),
            ("prepared dispatch", prepared.dispatch()),
            ("prepared read", prepared.read().map(|_| ())),
            ("prepare", gpu.prepare_alu(&alu).map(|_| ())),
        ];
        for (what, r) in results {
            match r {
                Err(e @ BackendError::DeviceLost { .. }) => {
                    eprintln!("{what}: {e}");
                    assert!(e.is_recoverable_on_cpu())
                }
                other => panic!("round {round}, {what}: expected DeviceLost, got {other:?}"),
            }
        }
    }
    assert!(gpu.is_lost(), "the device-lost callback should have fired");
    // Once known lost, calls fail fast without touching the device.
    match gpu.alu(&alu) {
        Err(BackendError::DeviceLost { reason, .. }) => {
            assert!(reason.contains("Destroyed"), "{reason}")
        }
        other => panic!("expected DeviceLost, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(30), "lost-device calls must not hang");
}
