//! The simulated keccak256 core against revm's keccak256.

mod common;

use coevm_sim::KeccakSim;
use coevm_sim::cycles::expected_keccak_cycles;
use rand::Rng;
use revm::primitives::keccak256;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn known_digests() {
    let mut k = KeccakSim::new().unwrap();
    let (d, _) = k.hash(b"").unwrap();
    assert_eq!(hex(&d), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    let (d, _) = k.hash(b"abc").unwrap();
    assert_eq!(hex(&d), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

/// Every length through three blocks, so every padding position (0x01 and 0x80 in the same
/// byte, in the same word, in a word of their own, in a block of their own) is exercised.
#[test]
fn every_length_up_to_three_blocks() {
    let mut rng = common::rng(0x4b);
    let mut k = KeccakSim::new().unwrap();
    for len in 0..=3 * 136 + 1 {
        let msg: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let (d, cycles) = k.hash(&msg).unwrap();
        assert_eq!(d, keccak256(&msg).0, "len {len}");
        assert_eq!(cycles, expected_keccak_cycles(len), "cycles for len {len}");
    }
}

#[test]
fn random_long_messages() {
    let mut rng = common::rng(0x4c);
    let mut k = KeccakSim::new().unwrap();
    for _ in 0..8 * common::soak() {
        let len = rng.random_range(0..3000);
        let msg: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert_eq!(k.hash(&msg).unwrap().0, keccak256(&msg).0, "len {len}");
    }
}

/// Messages whose bytes are all 0x00 or all 0xff (state bits saturated either way).
#[test]
fn uniform_bytes() {
    let mut k = KeccakSim::new().unwrap();
    for len in [1, 8, 135, 136, 137, 300] {
        for byte in [0x00u8, 0xff] {
            let msg = vec![byte; len];
            assert_eq!(k.hash(&msg).unwrap().0, keccak256(&msg).0, "len {len} byte {byte:#x}");
        }
    }
}

/// A transaction that never completes is reported as a fault, not a hang or a wrong answer.
#[test]
fn a_missing_output_beat_times_out() {
    use coevm_hdl::Keccak256Core;
    use coevm_sim::SimFault;
    use coevm_sim::harness::Device;
    use coevm_sim::keccak::message_beats;
    let mut dev = Device::<Keccak256Core>::new(100).unwrap();
    // The core answers 4 digest beats; asking for 5 must time out after 100 cycles.
    let err = dev.transact(&message_beats(b"abc"), 5).unwrap_err();
    assert_eq!(err, SimFault::Timeout { unit: "keccak256", cycles: 100 });
    assert_eq!(dev.cycles(), 100);
}

#[test]
fn a_beat_claiming_more_than_eight_bytes_is_refused() {
    use coevm_sim::harness::{Beat, Device};
    let mut device = Device::<coevm_hdl::Keccak256Core>::new(1_000).unwrap();
    let beats = [Beat { data: 0x0102, bytes: 9, last: true }];
    assert_eq!(device.transact(&beats, 4).unwrap_err(), coevm_sim::SimFault::InvalidBeat { index: 0, bytes: 9 });
    // The same device still hashes what the bus can mean.
    let (words, _) = device.transact(&[Beat { data: 0x0102, bytes: 2, last: true }], 4).unwrap();
    let digest: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(digest, keccak256([0x02, 0x01]).to_vec());
}
