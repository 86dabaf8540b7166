//! A clocked driver for RustHDL designs with 64-bit valid/ready streams.
//!
//! Each clock: inputs are driven and the circuit settles, handshakes are sampled (a beat moves
//! when valid and ready are both high), then a rising and a falling clock edge are simulated.

use coevm_hdl::{Alu256, Keccak256Core, StorageLookup};
use rust_hdl::prelude::*;

/// Iterations allowed for combinational logic to settle after an input or clock change.
const SETTLE_ITERS: usize = 256;

/// The simulated hardware misbehaved (never a wrong answer: a missing one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimFault {
    #[error("combinational logic did not settle")]
    NoConvergence,
    #[error("{unit} did not finish a transaction within {cycles} cycles")]
    Timeout { unit: &'static str, cycles: u64 },
    #[error("{unit} took {first} clocks for an operation, then {again} for the same one")]
    Unrepeatable { unit: &'static str, first: u64, again: u64 },
    #[error("a simulation thread panicked: {0}")]
    Panicked(String),
    #[error("beat {index} declares {bytes} valid bytes; a 64-bit beat has at most 8")]
    InvalidBeat { index: usize, bytes: u8 },
}

/// One input beat. `bytes` matters only to the keccak core (valid bytes of its last beat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beat {
    pub data: u64,
    pub bytes: u8,
    pub last: bool,
}

impl Beat {
    pub fn word(data: u64) -> Self {
        Beat { data, bytes: 8, last: false }
    }
}

/// A design with a clock and 64-bit valid/ready streams in and out.
pub trait StreamPorts: Block {
    const UNIT: &'static str;
    fn set_clock(&mut self, high: bool);
    /// Drives the input stream: `Some(beat)` with valid high, `None` with valid low.
    fn drive(&mut self, beat: Option<Beat>);
    fn in_ready(&self) -> bool;
    fn set_out_ready(&mut self, ready: bool);
    /// `Some((data, last))` while the output stream is valid.
    fn output(&self) -> Option<(u64, bool)>;
}

/// A design under simulation plus the clock cycles it has run.
pub struct Device<T: StreamPorts> {
    uut: Box<T>,
    cycles: u64,
    /// Cycles one transaction may take before the device is declared hung.
    timeout: u64,
}

impl<T: StreamPorts + Default> Device<T> {
    pub fn new(timeout: u64) -> Result<Self, SimFault> {
        let mut uut = Box::<T>::default();
        uut.connect_all();
        let mut d = Device { uut, cycles: 0, timeout };
        d.uut.set_clock(false);
        d.settle()?;
        Ok(d)
    }
}

impl<T: StreamPorts> Device<T> {
    fn settle(&mut self) -> Result<(), SimFault> {
        if simulate(self.uut.as_mut(), SETTLE_ITERS) { Ok(()) } else { Err(SimFault::NoConvergence) }
    }

    /// One full clock period.
    fn tick(&mut self) -> Result<(), SimFault> {
        self.uut.set_clock(true);
        self.settle()?;
        self.uut.set_clock(false);
        self.settle()?;
        self.cycles += 1;
        Ok(())
    }

    /// Sets the cycles one transaction may take before the device is declared hung.
    pub fn set_timeout(&mut self, cycles: u64) {
        self.timeout = cycles;
    }

    /// Clock cycles run since construction.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    pub fn inner(&self) -> &T {
        &self.uut
    }

    /// Streams `beats` in, then collects `n_out` output beats. Returns the output words and
    /// the cycles from the first input beat's clock to the last output beat's clock, inclusive.
    pub fn transact(&mut self, beats: &[Beat], n_out: usize) -> Result<(Vec<u64>, u64), SimFault> {
        // (The keccak core reads 9–15 as a full word but pads only after exactly 8: refuse
        // what the bus cannot mean rather than hash it wrong.)
        if let Some((index, beat)) = beats.iter().enumerate().find(|(_, b)| b.bytes > 8) {
            return Err(SimFault::InvalidBeat { index, bytes: beat.bytes });
        }
        let start = self.cycles;
        let deadline = start + self.timeout;
        let mut out = Vec::with_capacity(n_out);
        let mut next_in = 0;
        self.uut.set_out_ready(true);
        while out.len() < n_out {
            if self.cycles >= deadline {
                return Err(SimFault::Timeout { unit: T::UNIT, cycles: self.timeout });
            }
            self.uut.drive(beats.get(next_in).copied());
            self.settle()?;
            if next_in < beats.len() && self.uut.in_ready() {
                next_in += 1;
            }
            if let Some((word, _last)) = self.uut.output() {
                out.push(word);
            }
            self.tick()?;
        }
        self.uut.drive(None);
        self.settle()?;
        Ok((out, self.cycles - start))
    }
}

/// `StreamPorts` for a design with the common 64-bit valid/ready bus; `[generics]` are the
/// impl's parameters, the block drives the design's extra input fields from the beat.
macro_rules! stream_ports {
    ([$($generics:tt)*] $ty:ty, $unit:expr, |$s:ident, $b:ident| $drive_bytes:block) => {
        impl<$($generics)*> StreamPorts for $ty {
            const UNIT: &'static str = $unit;
            fn set_clock(&mut self, high: bool) {
                self.clock.next = Clock { clk: high };
            }
            fn drive(&mut self, beat: Option<Beat>) {
                let $s = self;
                match beat {
                    Some($b) => {
                        $s.in_data.next = $b.data.into();
                        $s.in_valid.next = true;
                        $drive_bytes
                    }
                    None => {
                        $s.in_valid.next = false;
                    }
                }
            }
            fn in_ready(&self) -> bool {
                self.in_ready.val()
            }
            fn set_out_ready(&mut self, ready: bool) {
                self.out_ready.next = ready;
            }
            fn output(&self) -> Option<(u64, bool)> {
                if self.out_valid.val() { Some((self.out_data.val().to_u64(), self.out_last.val())) } else { None }
            }
        }
    };
}

stream_ports!([] Keccak256Core, "keccak256", |s, b| {
    s.in_bytes.next = (b.bytes as u64).into();
    s.in_last.next = b.last;
});
stream_ports!([] Alu256, "alu256", |_s, _b| {});
stream_ports!([const K: usize] StorageLookup<K>, "storage", |_s, _b| {});
