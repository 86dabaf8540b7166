//! keccak256 through the simulated [`Keccak256Core`].

use crate::harness::{Beat, Device, SimFault};
use coevm_hdl::Keccak256Core;

/// Splits a message into bus beats: 8 bytes each, little-endian; the last beat carries 0..=8.
pub fn message_beats(msg: &[u8]) -> Vec<Beat> {
    let mut beats: Vec<Beat> = msg
        .chunks(8)
        .map(|chunk| {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            Beat { data: u64::from_le_bytes(w), bytes: chunk.len() as u8, last: false }
        })
        .collect();
    if beats.is_empty() {
        beats.push(Beat { data: 0, bytes: 0, last: true });
    }
    beats.last_mut().expect("at least one beat").last = true;
    beats
}

/// A simulated keccak256 core.
pub struct KeccakSim {
    dev: Device<Keccak256Core>,
}

impl KeccakSim {
    pub fn new() -> Result<Self, SimFault> {
        Ok(KeccakSim { dev: Device::new(64)? })
    }

    /// Hashes one message; returns the digest and the cycles it took on the core.
    pub fn hash(&mut self, msg: &[u8]) -> Result<([u8; 32], u64), SimFault> {
        // Twice the documented cycle count before the core is declared hung.
        self.dev.set_timeout(2 * crate::cycles::expected_keccak_cycles(msg.len()) + 64);
        let (words, cycles) = self.dev.transact(&message_beats(msg), 4)?;
        let mut digest = [0u8; 32];
        for (i, w) in words.iter().enumerate() {
            digest[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
        Ok((digest, cycles))
    }

    pub fn cycles(&self) -> u64 {
        self.dev.cycles()
    }
}
