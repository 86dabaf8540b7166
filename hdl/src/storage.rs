//! Storage lookup unit: keccak256-hashes a `(address, slot)` key with its own sponge core and
//! probes an open-addressing (linear probing) hash table held in block RAM.
//!
//! Table word (513 bits): bit 512 = occupied, bits 511:256 = keccak256(key) (the tag),
//! bits 255:0 = value. The home slot is the low `K` bits of the digest. Keys are identified by
//! their 256-bit keccak digest (two keys would share a tag only through a keccak collision).
//!
//! Bus protocol (64-bit valid/ready both ways):
//! - in: header beat (bit 0: 1 = insert, 0 = lookup); 7 key beats carrying the 52 key bytes
//!   (`KEY_BYTES`: address then slot, little-endian bytes per beat, 4 bytes in the last beat);
//!   for an insert, 4 value beats (least significant limb first).
//! - out: a status beat (bit 0: hit for a lookup / stored for an insert; bit 1: table full),
//!   then 4 value beats: for a lookup the stored value on a hit and zero on a miss; for an
//!   insert the value written (or, when the table is full, the value that was not stored).
//!
//! An insert of a key already present overwrites its value (last write wins).

use crate::keccak::Keccak256Core;
use crate::ram::ZeroRam;
use rust_hdl::prelude::*;

/// Key bytes hashed per lookup: 20-byte address then 32-byte big-endian slot.
pub const KEY_BYTES: usize = 52;
/// Key beats on the bus (the last carries 4 bytes).
pub const KEY_BEATS: usize = 7;

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum StorageState {
    Header,
    /// Forwarding key beats to the keccak core.
    Key,
    /// Collecting the 4 digest words.
    Digest,
    /// Insert only: collecting the 4 value beats.
    Value,
    /// Read address presented to the RAM.
    Probe,
    /// RAM word available: compare.
    Check,
    /// Insert: write the slot.
    Write,
    /// Status beat, then 4 value beats.
    Out,
}

#[derive(LogicBlock)]
pub struct StorageLookup<const K: usize> {
    pub clock: Signal<In, Clock>,
    pub in_data: Signal<In, Bits<64>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub out_data: Signal<Out, Bits<64>>,
    pub out_last: Signal<Out, Bit>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    hasher: Keccak256Core,
    slots: ZeroRam<Bits<513>, K>,
    st: DFF<StorageState>,
    insert: DFF<Bit>,
    kidx: DFF<Bits<3>>,
    didx: DFF<Bits<2>>,
    tag: DFF<Bits<256>>,
    value: DFF<Bits<256>>,
    idx: DFF<Bits<K>>,
    start: DFF<Bits<K>>,
    hit: DFF<Bit>,
    full: DFF<Bit>,
    oidx: DFF<Bits<3>>,
    word: Signal<Local, Bits<513>>,
    wtag: Signal<Local, Bits<256>>,
    wval: Signal<Local, Bits<256>>,
    newword: Signal<Local, Bits<513>>,
    nidx: Signal<Local, Bits<K>>,
}

impl<const K: usize> Default for StorageLookup<K> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_last: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            hasher: Default::default(),
            slots: Default::default(),
            st: Default::default(),
            insert: Default::default(),
            kidx: Default::default(),
            didx: Default::default(),
            tag: Default::default(),
            value: Default::default(),
            idx: Default::default(),
            start: Default::default(),
            hit: Default::default(),
            full: Default::default(),
            oidx: Default::default(),
            word: Default::default(),
            wtag: Default::default(),
            wval: Default::default(),
            newword: Default::default(),
            nidx: Default::default(),
        }
    }
}

impl<const K: usize> StorageLookup<K> {
    /// Number of table slots.
    pub const CAPACITY: usize = 1 << K;
}

impl<const K: usize> Logic for StorageLookup<K> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, st, insert, kidx, didx, tag, value, idx, start, hit, full, oidx);
        self.hasher.clock.next = self.clock.val();
        self.slots.read_clock.next = self.clock.val();
        self.slots.write_clock.next = self.clock.val();
        // ---------------------------------------------------------------- defaults
        // Signals into and out of the embedded keccak core are assigned exactly once per
        // evaluation (no default-then-override): the core's handshake outputs feed back into
        // this block, and a glitching input would loop an event-driven simulator.
        self.hasher.in_data.next = self.in_data.val();
        self.hasher.in_valid.next = self.in_valid.val() && (self.st.q.val() == StorageState::Key);
        self.hasher.out_ready.next = self.st.q.val() == StorageState::Digest;
        self.hasher.in_last.next = self.kidx.q.val() == 6;
        if self.kidx.q.val() == 6 {
            self.hasher.in_bytes.next = 4.into();
        } else {
            self.hasher.in_bytes.next = 8.into();
        }
        self.slots.read_address.next = self.idx.q.val();
        self.slots.write_address.next = self.idx.q.val();
        self.slots.write_enable.next = false;
        self.word.next = self.slots.read_data.val();
        self.wtag.next = self.word.val().get_bits::<256>(256);
        self.wval.next = self.word.val().get_bits::<256>(0);
        self.newword.next = (bit_cast::<513, 256>(self.tag.q.val()) << 256)
            | bit_cast::<513, 256>(self.value.q.val())
            | (bits::<513>(1) << 512);
        self.slots.write_data.next = self.newword.val();
        self.nidx.next = self.idx.q.val() + 1;
        self.in_ready.next = (self.st.q.val() == StorageState::Header)
            || (self.st.q.val() == StorageState::Value)
            || ((self.st.q.val() == StorageState::Key) && self.hasher.in_ready.val());
        self.out_valid.next = self.st.q.val() == StorageState::Out;
        self.out_last.next = (self.st.q.val() == StorageState::Out) && (self.oidx.q.val() == 4);
        match self.oidx.q.val().index() {
            0 => {
                // Status beat: bit 0 hit/stored, bit 1 full.
                if self.hit.q.val() {
                    self.out_data.next = bits::<64>(1);
                } else if self.full.q.val() {
                    self.out_data.next = bits::<64>(2);
                } else {
                    self.out_data.next = bits::<64>(0);
                }
            }
            1 => {
                self.out_data.next = self.value.q.val().get_bits::<64>(0);
            }
            2 => {
                self.out_data.next = self.value.q.val().get_bits::<64>(64);
            }
            3 => {
                self.out_data.next = self.value.q.val().get_bits::<64>(128);
            }
            _ => {
                self.out_data.next = self.value.q.val().get_bits::<64>(192);
            }
        }

        match self.st.q.val() {
            StorageState::Header => {
                if self.in_valid.val() {
                    self.insert.d.next = self.in_data.val().get_bit(0);
                    self.kidx.d.next = 0.into();
                    self.value.d.next = bits::<256>(0);
                    self.st.d.next = StorageState::Key;
                }
            }
            StorageState::Key => {
                if self.in_valid.val() && self.hasher.in_ready.val() {
                    self.kidx.d.next = self.kidx.q.val() + 1;
                    if self.kidx.q.val() == 6 {
                        self.kidx.d.next = 0.into();
                        self.didx.d.next = 0.into();
                        self.st.d.next = StorageState::Digest;
                    }
                }
            }
            StorageState::Digest => {
                if self.hasher.out_valid.val() {
                    self.tag.d.next =
                        (self.tag.q.val() >> 64) | (bit_cast::<256, 64>(self.hasher.out_data.val()) << 192);
                    self.didx.d.next = self.didx.q.val() + 1;
                    if self.didx.q.val() == 3 {
                        if self.insert.q.val() {
                            self.st.d.next = StorageState::Value;
                        } else {
                            self.st.d.next = StorageState::Probe;
                        }
                    }
                }
            }
            StorageState::Value => {
                if self.in_valid.val() {
                    self.value.d.next = (self.value.q.val() >> 64) | (bit_cast::<256, 64>(self.in_data.val()) << 192);
                    self.didx.d.next = self.didx.q.val() + 1;
                    if self.didx.q.val() == 3 {
                        self.st.d.next = StorageState::Probe;
                    }
                }
            }
            StorageState::Probe => {
                // First probe: the home slot is the digest's low K bits.
                if self.kidx.q.val() == 0 {
                    self.slots.read_address.next = self.tag.q.val().get_bits::<K>(0);
                    self.idx.d.next = self.tag.q.val().get_bits::<K>(0);
                    self.start.d.next = self.tag.q.val().get_bits::<K>(0);
                    self.kidx.d.next = 1.into();
                }
                self.st.d.next = StorageState::Check;
            }
            StorageState::Check => {
                self.hit.d.next = false;
                self.full.d.next = false;
                self.oidx.d.next = 0.into();
                if !self.word.val().get_bit(512) {
                    // Empty slot: the key is absent.
                    if self.insert.q.val() {
                        self.st.d.next = StorageState::Write;
                    } else {
                        self.value.d.next = bits::<256>(0);
                        self.st.d.next = StorageState::Out;
                    }
                } else if self.wtag.val() == self.tag.q.val() {
                    if self.insert.q.val() {
                        self.st.d.next = StorageState::Write;
                    } else {
                        self.hit.d.next = true;
                        self.value.d.next = self.wval.val();
                        self.st.d.next = StorageState::Out;
                    }
                } else if self.nidx.val() == self.start.q.val() {
                    // Probed every slot.
                    self.full.d.next = true;
                    if !self.insert.q.val() {
                        self.value.d.next = bits::<256>(0);
                    }
                    self.st.d.next = StorageState::Out;
                } else {
                    self.idx.d.next = self.nidx.val();
                    self.st.d.next = StorageState::Probe;
                }
            }
            StorageState::Write => {
                self.slots.write_enable.next = true;
                self.hit.d.next = true;
                self.oidx.d.next = 0.into();
                self.st.d.next = StorageState::Out;
            }
            StorageState::Out => {
                if self.out_ready.val() {
                    self.oidx.d.next = self.oidx.q.val() + 1;
                    if self.oidx.q.val() == 4 {
                        self.kidx.d.next = 0.into();
                        self.tag.d.next = bits::<256>(0);
                        self.st.d.next = StorageState::Header;
                    }
                }
            }
        }
    }
}
