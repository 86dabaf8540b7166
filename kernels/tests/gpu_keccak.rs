//! GPU keccak256 vs revm's keccak256 on both paths: block boundaries, multi-block messages,
//! unaligned packing, random lengths, chunked batches and the resident API.

mod common;

use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::gpu::{GpuBackend, GpuOptions, Int64Mode};
use coevm_kernels::{B256, Backend, BackendError, MessageBatch};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EMPTY: &str = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

fn reference(batch: &MessageBatch) -> Vec<B256> {
    CpuBackend::new(1).keccak256(batch).unwrap()
}

fn message(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut m = vec![0u8; len];
    rng.fill_bytes(&mut m);
    m
}

fn boundary_batch() -> MessageBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut batch = MessageBatch::new();
    let lengths = [0, 1, 2, 3, 4, 5, 31, 32, 33, 63, 64, 65, 135, 136, 137, 271, 272, 273, 1000, 4096, 4097, 10_000];
    // Each length at several byte alignments within the packed buffer.
    for pad in 0..4 {
        for &len in &lengths {
            if pad > 0 {
                batch.push(&message(&mut rng, pad));
            }
            batch.push(&message(&mut rng, len));
        }
    }
    // Messages that are all 0xff or all zero (padding bits must not leak).
    batch.push(&[0xff; 135]);
    batch.push(&[0xff; 136]);
    batch.push(&[0u8; 136]);
    batch
}

#[test]
fn empty_message_known_digest() {
    for (path, gpu) in common::gpu_paths() {
        let batch: MessageBatch = [&b""[..]].into_iter().collect();
        let got = gpu.keccak256(&batch).unwrap();
        assert_eq!(got, vec![EMPTY.parse::<B256>().unwrap()], "{path}");
        let abc: MessageBatch = [&b"abc"[..]].into_iter().collect();
        assert_eq!(
            gpu.keccak256(&abc).unwrap()[0],
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45".parse::<B256>().unwrap(),
            "{path}"
        );
        assert!(gpu.keccak256(&MessageBatch::new()).unwrap().is_empty());
    }
}

#[test]
fn block_boundaries_and_alignment() {
    let batch = boundary_batch();
    let want = reference(&batch);
    assert_eq!(want[0], EMPTY.parse::<B256>().unwrap());
    for (path, gpu) in common::gpu_paths() {
        let got = gpu.keccak256(&batch).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{path}: message {i} ({} bytes)", batch.get(i).len());
        }
        assert_eq!(got.len(), want.len());
    }
}

#[test]
fn random_lengths_and_common_sizes() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut batch = MessageBatch::new();
    for i in 0..6000 {
        let len = match i % 4 {
            0 => 32,
            1 => 64,
            2 => rng.random_range(0..300),
            _ => rng.random_range(0..2000),
        };
        batch.push(&message(&mut rng, len));
    }
    let want = reference(&batch);
    for (path, gpu) in common::gpu_paths() {
        let got = gpu.keccak256(&batch).unwrap();
        let bad: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(bad.is_empty(), "{path}: {} wrong, first {:?}", bad.len(), &bad[..bad.len().min(10)]);
    }
}

/// Chunking by item count and by binding bytes (a 64 KiB pass cap forces many passes).
#[test]
fn chunked_and_multi_pass() {
    if common::gpu_auto().is_none() {
        return;
    }
    let gpu = GpuBackend::with_options(
        &GpuOptions::from_env()
            .with_int64(Int64Mode::Auto)
            .with_max_items_per_dispatch(100)
            .with_max_pass_bytes(64 << 10),
    )
    .expect("adapter exists");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut batch = MessageBatch::new();
    for _ in 0..1500 {
        let len = rng.random_range(0..700);
        batch.push(&message(&mut rng, len));
    }
    batch.push(&message(&mut rng, 60_000)); // nearly one whole pass by itself
    batch.push(&[7u8; 3]);
    let want = reference(&batch);
    assert_eq!(gpu.keccak256(&batch).unwrap(), want);

    // A single message larger than any binding is a clear error, not a wrong answer, and one
    // the CPU can take over.
    let mut huge = MessageBatch::new();
    huge.push(&vec![1u8; 70_000]);
    let err = gpu.keccak256(&huge).unwrap_err();
    assert!(matches!(err, BackendError::ExceedsDeviceLimits { .. }), "{err}");
    assert!(err.is_recoverable_on_cpu(), "{err}");

    // A prepared batch must fit one pass.
    assert!(gpu.prepare_keccak256(&batch).is_err());

    // Many tiny messages, chunked by their digests (see the planner's unit test), hash right.
    let gpu = GpuBackend::with_options(&GpuOptions::from_env().with_max_pass_bytes(64 << 10)).expect("adapter exists");
    let mut tiny = MessageBatch::new();
    for i in 0..20_000u32 {
        tiny.push(&i.to_le_bytes()[..(i % 3) as usize]);
    }
    assert_eq!(gpu.keccak256(&tiny).unwrap(), reference(&tiny));
}

#[test]
fn prepared_keccak_matches_reference() {
    let batch = boundary_batch();
    let want = reference(&batch);
    for (path, gpu) in common::gpu_paths() {
        let prepared = gpu.prepare_keccak256(&batch).unwrap();
        prepared.dispatch().unwrap();
        prepared.dispatch().unwrap();
        assert_eq!(prepared.read().unwrap(), want, "{path}");
    }
}
