//! The EVM's 256-bit ALU behind a 64-bit streaming bus.
//!
//! Bus protocol (valid/ready both ways):
//! - in: one header beat, `op` in bits 4:0 (the discriminants of [`op`], same as
//!   `coevm_kernels::AluOp`), then `4 * arity` operand beats: the limbs of `a` (least
//!   significant first), then `b`, then `c`. Arity is 1 for ISZERO/NOT/CLZ, 3 for
//!   ADDMOD/MULMOD, 2 otherwise. `a` is the top of the EVM stack.
//! - out: 4 beats, the result's limbs least significant first, `out_last` on the fourth.
//!
//! Datapath: add/sub/compare/bitwise/shift/byte/signextend/clz finish in the one `Exec`
//! clock. MUL is limb-serial: 16 clocks of a 256x16-bit multiply-accumulate built from sixteen
//! 16x16 multipliers. DIV/SDIV/MOD/SMOD (256 clocks), ADDMOD (257) and MULMOD (16 + 512) share
//! one restoring divider whose dividend register is the multiplier's 512-bit product register.
//! EXP is left-to-right square-and-multiply over the exponent's significant bits (its leading
//! zeros are skipped by the CLZ unit).

// `#[hdl_gen]` translates `if` inside `match` arms but not match guards.
#![allow(clippy::collapsible_match)]

use rust_hdl::prelude::*;

/// Operation codes on the bus (equal to `coevm_kernels::AluOp as u32`).
pub mod op {
    pub const ADD: u64 = 0;
    pub const MUL: u64 = 1;
    pub const SUB: u64 = 2;
    pub const DIV: u64 = 3;
    pub const SDIV: u64 = 4;
    pub const MOD: u64 = 5;
    pub const SMOD: u64 = 6;
    pub const ADDMOD: u64 = 7;
    pub const MULMOD: u64 = 8;
    pub const EXP: u64 = 9;
    pub const SIGNEXTEND: u64 = 10;
    pub const LT: u64 = 11;
    pub const GT: u64 = 12;
    pub const SLT: u64 = 13;
    pub const SGT: u64 = 14;
    pub const EQ: u64 = 15;
    pub const ISZERO: u64 = 16;
    pub const AND: u64 = 17;
    pub const OR: u64 = 18;
    pub const XOR: u64 = 19;
    pub const NOT: u64 = 20;
    pub const BYTE: u64 = 21;
    pub const SHL: u64 = 22;
    pub const SHR: u64 = 23;
    pub const SAR: u64 = 24;
    pub const CLZ: u64 = 25;

    /// Number of 256-bit operands the bus carries for `op`.
    pub fn arity(op: u64) -> usize {
        match op {
            ISZERO | NOT | CLZ => 1,
            ADDMOD | MULMOD => 3,
            _ => 2,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum AluState {
    /// Waiting for a header beat.
    Header,
    /// Shifting operand beats into a, b, c.
    Load,
    /// One clock: single-cycle ops finish, multi-cycle ops set up their engine.
    Exec,
    /// One limb step (256x16 multiply-accumulate) per clock, 16 clocks.
    Mul,
    /// The product {h, l} is ready: finish MUL, start MULMOD's division, or continue EXP.
    MulDone,
    /// One restoring-division step per clock.
    Div,
    /// Quotient in l, remainder in rem: pick and sign-correct the result.
    DivDone,
    /// EXP: next exponent bit, or finish.
    ExpNext,
    /// Presenting the result's 4 limbs.
    Out,
}

#[derive(LogicBlock, Default)]
pub struct Alu256 {
    pub clock: Signal<In, Clock>,
    pub in_data: Signal<In, Bits<64>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub out_data: Signal<Out, Bits<64>>,
    pub out_last: Signal<Out, Bit>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    st: DFF<AluState>,
    opr: DFF<Bits<5>>,
    /// Index of the last operand beat (3, 7 or 11) and the current beat.
    lastw: DFF<Bits<4>>,
    widx: DFF<Bits<4>>,
    a: DFF<Bits<256>>,
    b: DFF<Bits<256>>,
    /// Third operand; EXP shifts its exponent through here.
    c: DFF<Bits<256>>,
    /// Product / dividend register {h, l}; l is also the multiplier and the quotient.
    h: DFF<Bits<256>>,
    l: DFF<Bits<256>>,
    /// Multiplicand.
    my: DFF<Bits<256>>,
    rem: DFF<Bits<256>>,
    dv: DFF<Bits<256>>,
    r: DFF<Bits<256>>,
    mcnt: DFF<Bits<4>>,
    cnt: DFF<Bits<10>>,
    /// EXP: the multiply in flight is by the base (else a squaring).
    phase: DFF<Bit>,
    /// SDIV: negate the quotient; SMOD: negate the remainder.
    negq: DFF<Bit>,
    negr: DFF<Bit>,
    oidx: DFF<Bits<2>>,
    // ---- combinational intermediates
    hop: Signal<Local, Bits<5>>,
    win: Signal<Local, Bits<256>>,
    res: Signal<Local, Bits<256>>,
    ones: Signal<Local, Bits<256>>,
    sa: Signal<Local, Bit>,
    sb: Signal<Local, Bit>,
    ltu: Signal<Local, Bit>,
    gtu: Signal<Local, Bit>,
    big: Signal<Local, Bit>,
    sh8: Signal<Local, Bits<8>>,
    shr: Signal<Local, Bits<256>>,
    onesr: Signal<Local, Bits<256>>,
    a5n: Signal<Local, Bits<5>>,
    bsh: Signal<Local, Bits<8>>,
    bsr: Signal<Local, Bits<256>>,
    lomask: Signal<Local, Bits<256>>,
    bsl: Signal<Local, Bits<256>>,
    nega: Signal<Local, Bits<256>>,
    negb: Signal<Local, Bits<256>>,
    s257: Signal<Local, Bits<257>>,
    ssh: Signal<Local, Bits<257>>,
    // CLZ: 8 shift-and-count stages
    z0: Signal<Local, Bits<256>>,
    z1: Signal<Local, Bits<256>>,
    z2: Signal<Local, Bits<256>>,
    z3: Signal<Local, Bits<256>>,
    z4: Signal<Local, Bits<256>>,
    z5: Signal<Local, Bits<256>>,
    z6: Signal<Local, Bits<256>>,
    z7: Signal<Local, Bits<256>>,
    z8: Signal<Local, Bits<256>>,
    n1: Signal<Local, Bits<9>>,
    n2: Signal<Local, Bits<9>>,
    n3: Signal<Local, Bits<9>>,
    n4: Signal<Local, Bits<9>>,
    n5: Signal<Local, Bits<9>>,
    n6: Signal<Local, Bits<9>>,
    n7: Signal<Local, Bits<9>>,
    n8: Signal<Local, Bits<9>>,
    clz: Signal<Local, Bits<9>>,
    esh: Signal<Local, Bits<9>>,
    erem: Signal<Local, Bits<9>>,
    // multiplier: 16 partial products of my * l[15:0]
    d16: Signal<Local, Bits<16>>,
    p0: Signal<Local, Bits<32>>,
    p1: Signal<Local, Bits<32>>,
    p2: Signal<Local, Bits<32>>,
    p3: Signal<Local, Bits<32>>,
    p4: Signal<Local, Bits<32>>,
    p5: Signal<Local, Bits<32>>,
    p6: Signal<Local, Bits<32>>,
    p7: Signal<Local, Bits<32>>,
    p8: Signal<Local, Bits<32>>,
    p9: Signal<Local, Bits<32>>,
    p10: Signal<Local, Bits<32>>,
    p11: Signal<Local, Bits<32>>,
    p12: Signal<Local, Bits<32>>,
    p13: Signal<Local, Bits<32>>,
    p14: Signal<Local, Bits<32>>,
    p15: Signal<Local, Bits<32>>,
    ppe: Signal<Local, Bits<272>>,
    ppo: Signal<Local, Bits<272>>,
    hsum: Signal<Local, Bits<272>>,
    hsumsh: Signal<Local, Bits<272>>,
    low16: Signal<Local, Bits<16>>,
    lsh: Signal<Local, Bits<256>>,
    // divider
    hb: Signal<Local, Bits<1>>,
    lb: Signal<Local, Bits<1>>,
    t257: Signal<Local, Bits<257>>,
    dv257: Signal<Local, Bits<257>>,
    dsub: Signal<Local, Bits<257>>,
    negl: Signal<Local, Bits<256>>,
    negrem: Signal<Local, Bits<256>>,
}

impl Logic for Alu256 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, st, opr, lastw, widx, a, b, c, h, l, my, rem, dv, r, mcnt, cnt, phase, negq, negr, oidx
        );
        // ---------------------------------------------------------------- defaults
        // Handshake outputs are assigned once per evaluation (no default-then-override), so they
        // never glitch into a parent that feeds them back combinationally.
        self.in_ready.next = (self.st.q.val() == AluState::Header) || (self.st.q.val() == AluState::Load);
        self.out_valid.next = self.st.q.val() == AluState::Out;
        self.out_last.next = (self.st.q.val() == AluState::Out) && (self.oidx.q.val() == 3);
        match self.oidx.q.val().index() {
            0 => {
                self.out_data.next = self.r.q.val().get_bits::<64>(0);
            }
            1 => {
                self.out_data.next = self.r.q.val().get_bits::<64>(64);
            }
            2 => {
                self.out_data.next = self.r.q.val().get_bits::<64>(128);
            }
            _ => {
                self.out_data.next = self.r.q.val().get_bits::<64>(192);
            }
        }
        self.hop.next = self.in_data.val().get_bits::<5>(0);
        self.win.next = bit_cast::<256, 64>(self.in_data.val()) << 192;
        self.res.next = bits::<256>(0);
        self.ones.next = !bits::<256>(0);
        self.sa.next = self.a.q.val().get_bit(255);
        self.sb.next = self.b.q.val().get_bit(255);
        self.ltu.next = false;
        self.gtu.next = false;
        self.big.next = false;
        self.sh8.next = bits::<8>(0);
        self.shr.next = bits::<256>(0);
        self.onesr.next = bits::<256>(0);
        self.a5n.next = bits::<5>(0);
        self.bsh.next = bits::<8>(0);
        self.bsr.next = bits::<256>(0);
        self.lomask.next = bits::<256>(0);
        self.bsl.next = bits::<256>(0);
        self.nega.next = bits::<256>(0);
        self.negb.next = bits::<256>(0);
        self.s257.next = bits::<257>(0);
        self.ssh.next = bits::<257>(0);
        self.z0.next = bits::<256>(0);
        self.z1.next = bits::<256>(0);
        self.z2.next = bits::<256>(0);
        self.z3.next = bits::<256>(0);
        self.z4.next = bits::<256>(0);
        self.z5.next = bits::<256>(0);
        self.z6.next = bits::<256>(0);
        self.z7.next = bits::<256>(0);
        self.z8.next = bits::<256>(0);
        self.n1.next = bits::<9>(0);
        self.n2.next = bits::<9>(0);
        self.n3.next = bits::<9>(0);
        self.n4.next = bits::<9>(0);
        self.n5.next = bits::<9>(0);
        self.n6.next = bits::<9>(0);
        self.n7.next = bits::<9>(0);
        self.n8.next = bits::<9>(0);
        self.clz.next = bits::<9>(0);
        self.esh.next = bits::<9>(0);
        self.erem.next = bits::<9>(0);
        self.d16.next = bits::<16>(0);
        self.p0.next = bits::<32>(0);
        self.p1.next = bits::<32>(0);
        self.p2.next = bits::<32>(0);
        self.p3.next = bits::<32>(0);
        self.p4.next = bits::<32>(0);
        self.p5.next = bits::<32>(0);
        self.p6.next = bits::<32>(0);
        self.p7.next = bits::<32>(0);
        self.p8.next = bits::<32>(0);
        self.p9.next = bits::<32>(0);
        self.p10.next = bits::<32>(0);
        self.p11.next = bits::<32>(0);
        self.p12.next = bits::<32>(0);
        self.p13.next = bits::<32>(0);
        self.p14.next = bits::<32>(0);
        self.p15.next = bits::<32>(0);
        self.ppe.next = bits::<272>(0);
        self.ppo.next = bits::<272>(0);
        self.hsum.next = bits::<272>(0);
        self.hsumsh.next = bits::<272>(0);
        self.low16.next = bits::<16>(0);
        self.lsh.next = bits::<256>(0);
        self.hb.next = bits::<1>(0);
        self.lb.next = bits::<1>(0);
        self.t257.next = bits::<257>(0);
        self.dv257.next = bits::<257>(0);
        self.dsub.next = bits::<257>(0);
        self.negl.next = bits::<256>(0);
        self.negrem.next = bits::<256>(0);

        match self.st.q.val() {
            // ------------------------------------------------------------ bus in
            AluState::Header => {
                if self.in_valid.val() {
                    self.opr.d.next = self.hop.val();
                    self.widx.d.next = 0.into();
                    self.lastw.d.next = 7.into();
                    if (self.hop.val() == 16) || (self.hop.val() == 20) || (self.hop.val() == 25) {
                        self.lastw.d.next = 3.into();
                    }
                    if (self.hop.val() == 7) || (self.hop.val() == 8) {
                        self.lastw.d.next = 11.into();
                    }
                    self.st.d.next = AluState::Load;
                }
            }
            AluState::Load => {
                if self.in_valid.val() {
                    if self.widx.q.val() < 4 {
                        self.a.d.next = (self.a.q.val() >> 64) | self.win.val();
                    } else if self.widx.q.val() < 8 {
                        self.b.d.next = (self.b.q.val() >> 64) | self.win.val();
                    } else {
                        self.c.d.next = (self.c.q.val() >> 64) | self.win.val();
                    }
                    self.widx.d.next = self.widx.q.val() + 1;
                    if self.widx.q.val() == self.lastw.q.val() {
                        self.st.d.next = AluState::Exec;
                    }
                }
            }
            // ------------------------------------------------------------ dispatch
            AluState::Exec => {
                // Shared intermediates of the single-cycle ops.
                self.ltu.next = self.a.q.val() < self.b.q.val();
                self.gtu.next = self.a.q.val() > self.b.q.val();
                self.big.next = self.a.q.val().get_bits::<248>(8).any();
                self.sh8.next = self.a.q.val().get_bits::<8>(0);
                self.shr.next = self.b.q.val() >> self.sh8.val();
                self.onesr.next = self.ones.val() >> self.sh8.val();
                // 8 * (31 - a[4:0]): BYTE's right shift, SIGNEXTEND's mask shift.
                self.a5n.next = !self.a.q.val().get_bits::<5>(0);
                self.bsh.next = bit_cast::<8, 5>(self.a5n.val()) << 3;
                self.bsr.next = self.b.q.val() >> self.bsh.val();
                self.lomask.next = self.ones.val() >> self.bsh.val();
                self.bsl.next = self.b.q.val() << self.bsh.val();
                self.nega.next = bits::<256>(0) - self.a.q.val();
                self.negb.next = bits::<256>(0) - self.b.q.val();
                self.s257.next = bit_cast::<257, 256>(self.a.q.val()) + bit_cast::<257, 256>(self.b.q.val());
                self.ssh.next = self.s257.val() >> 1;
                // CLZ of a (of b, the exponent, for EXP).
                if self.opr.q.val() == 9 {
                    self.z0.next = self.b.q.val();
                } else {
                    self.z0.next = self.a.q.val();
                }
                if self.z0.val().get_bits::<128>(128).any() {
                    self.z1.next = self.z0.val();
                    self.n1.next = bits::<9>(0);
                } else {
                    self.z1.next = self.z0.val() << 128;
                    self.n1.next = bits::<9>(128);
                }
                if self.z1.val().get_bits::<64>(192).any() {
                    self.z2.next = self.z1.val();
                    self.n2.next = self.n1.val();
                } else {
                    self.z2.next = self.z1.val() << 64;
                    self.n2.next = self.n1.val() + 64;
                }
                if self.z2.val().get_bits::<32>(224).any() {
                    self.z3.next = self.z2.val();
                    self.n3.next = self.n2.val();
                } else {
                    self.z3.next = self.z2.val() << 32;
                    self.n3.next = self.n2.val() + 32;
                }
                if self.z3.val().get_bits::<16>(240).any() {
                    self.z4.next = self.z3.val();
                    self.n4.next = self.n3.val();
                } else {
                    self.z4.next = self.z3.val() << 16;
                    self.n4.next = self.n3.val() + 16;
                }
                if self.z4.val().get_bits::<8>(248).any() {
                    self.z5.next = self.z4.val();
                    self.n5.next = self.n4.val();
                } else {
                    self.z5.next = self.z4.val() << 8;
                    self.n5.next = self.n4.val() + 8;
                }
                if self.z5.val().get_bits::<4>(252).any() {
                    self.z6.next = self.z5.val();
                    self.n6.next = self.n5.val();
                } else {
                    self.z6.next = self.z5.val() << 4;
                    self.n6.next = self.n5.val() + 4;
                }
                if self.z6.val().get_bits::<2>(254).any() {
                    self.z7.next = self.z6.val();
                    self.n7.next = self.n6.val();
                } else {
                    self.z7.next = self.z6.val() << 2;
                    self.n7.next = self.n6.val() + 2;
                }
                if self.z7.val().get_bit(255) {
                    self.z8.next = self.z7.val();
                    self.n8.next = self.n7.val();
                } else {
                    self.z8.next = self.z7.val() << 1;
                    self.n8.next = self.n7.val() + 1;
                }
                if self.z8.val().get_bit(255) {
                    self.clz.next = self.n8.val();
                } else {
                    self.clz.next = self.n8.val() + 1;
                }
                self.esh.next = self.clz.val() + 1;
                self.erem.next = bits::<9>(255) - self.clz.val();

                match self.opr.q.val().index() {
                    0 => {
                        self.res.next = self.a.q.val() + self.b.q.val();
                    }
                    2 => {
                        self.res.next = self.a.q.val() - self.b.q.val();
                    }
                    10 => {
                        // SIGNEXTEND: b from byte a (a < 31), else b unchanged.
                        self.res.next = self.b.q.val();
                        if !self.a.q.val().get_bits::<251>(5).any() && (self.a.q.val().get_bits::<5>(0) != 31) {
                            if self.bsl.val().get_bit(255) {
                                self.res.next = self.b.q.val() | !self.lomask.val();
                            } else {
                                self.res.next = self.b.q.val() & self.lomask.val();
                            }
                        }
                    }
                    11 => {
                        if self.ltu.val() {
                            self.res.next = bits::<256>(1);
                        }
                    }
                    12 => {
                        if self.gtu.val() {
                            self.res.next = bits::<256>(1);
                        }
                    }
                    13 => {
                        if (self.sa.val() && !self.sb.val()) || ((self.sa.val() == self.sb.val()) && self.ltu.val()) {
                            self.res.next = bits::<256>(1);
                        }
                    }
                    14 => {
                        if (!self.sa.val() && self.sb.val()) || ((self.sa.val() == self.sb.val()) && self.gtu.val()) {
                            self.res.next = bits::<256>(1);
                        }
                    }
                    15 => {
                        if self.a.q.val() == self.b.q.val() {
                            self.res.next = bits::<256>(1);
                        }
                    }
                    16 => {
                        if !self.a.q.val().any() {
                            self.res.next = bits::<256>(1);
                        }
                    }
                    17 => {
                        self.res.next = self.a.q.val() & self.b.q.val();
                    }
                    18 => {
                        self.res.next = self.a.q.val() | self.b.q.val();
                    }
                    19 => {
                        self.res.next = self.a.q.val() ^ self.b.q.val();
                    }
                    20 => {
                        self.res.next = !self.a.q.val();
                    }
                    21 => {
                        // BYTE: byte a of b, counted from the most significant.
                        if !self.a.q.val().get_bits::<251>(5).any() {
                            self.res.next = self.bsr.val() & bits::<256>(0xff);
                        }
                    }
                    22 => {
                        if !self.big.val() {
                            self.res.next = self.b.q.val() << self.sh8.val();
                        }
                    }
                    23 => {
                        if !self.big.val() {
                            self.res.next = self.shr.val();
                        }
                    }
                    24 => {
                        if self.big.val() {
                            if self.sb.val() {
                                self.res.next = self.ones.val();
                            }
                        } else if self.sb.val() {
                            self.res.next = self.shr.val() | !self.onesr.val();
                        } else {
                            self.res.next = self.shr.val();
                        }
                    }
                    25 => {
                        self.res.next = bit_cast::<256, 9>(self.clz.val());
                    }
                    _ => {}
                }
                self.r.d.next = self.res.val();
                self.st.d.next = AluState::Out;
                self.oidx.d.next = 0.into();
                self.h.d.next = bits::<256>(0);
                self.mcnt.d.next = 0.into();
                self.rem.d.next = bits::<256>(0);
                self.phase.d.next = false;
                match self.opr.q.val().index() {
                    1 => {
                        self.l.d.next = self.a.q.val();
                        self.my.d.next = self.b.q.val();
                        self.st.d.next = AluState::Mul;
                    }
                    8 => {
                        if self.c.q.val().any() {
                            self.l.d.next = self.a.q.val();
                            self.my.d.next = self.b.q.val();
                            self.dv.d.next = self.c.q.val();
                            self.st.d.next = AluState::Mul;
                        }
                    }
                    3 => {
                        if self.b.q.val().any() {
                            self.h.d.next = self.a.q.val();
                            self.l.d.next = bits::<256>(0);
                            self.dv.d.next = self.b.q.val();
                            self.negq.d.next = false;
                            self.negr.d.next = false;
                            self.cnt.d.next = 256.into();
                            self.st.d.next = AluState::Div;
                        }
                    }
                    5 => {
                        if self.b.q.val().any() {
                            self.h.d.next = self.a.q.val();
                            self.l.d.next = bits::<256>(0);
                            self.dv.d.next = self.b.q.val();
                            self.negq.d.next = false;
                            self.negr.d.next = false;
                            self.cnt.d.next = 256.into();
                            self.st.d.next = AluState::Div;
                        }
                    }
                    4 => {
                        if self.b.q.val().any() {
                            if self.sa.val() {
                                self.h.d.next = self.nega.val();
                            } else {
                                self.h.d.next = self.a.q.val();
                            }
                            if self.sb.val() {
                                self.dv.d.next = self.negb.val();
                            } else {
                                self.dv.d.next = self.b.q.val();
                            }
                            self.l.d.next = bits::<256>(0);
                            self.negq.d.next = self.sa.val() ^ self.sb.val();
                            self.negr.d.next = self.sa.val();
                            self.cnt.d.next = 256.into();
                            self.st.d.next = AluState::Div;
                        }
                    }
                    6 => {
                        if self.b.q.val().any() {
                            if self.sa.val() {
                                self.h.d.next = self.nega.val();
                            } else {
                                self.h.d.next = self.a.q.val();
                            }
                            if self.sb.val() {
                                self.dv.d.next = self.negb.val();
                            } else {
                                self.dv.d.next = self.b.q.val();
                            }
                            self.l.d.next = bits::<256>(0);
                            self.negq.d.next = self.sa.val() ^ self.sb.val();
                            self.negr.d.next = self.sa.val();
                            self.cnt.d.next = 256.into();
                            self.st.d.next = AluState::Div;
                        }
                    }
                    7 => {
                        if self.c.q.val().any() {
                            // Dividend a + b (257 bits) in the top of {h, l}.
                            self.h.d.next = bit_cast::<256, 257>(self.ssh.val());
                            if self.s257.val().get_bit(0) {
                                self.l.d.next = bits::<256>(1) << 255;
                            } else {
                                self.l.d.next = bits::<256>(0);
                            }
                            self.dv.d.next = self.c.q.val();
                            self.negq.d.next = false;
                            self.negr.d.next = false;
                            self.cnt.d.next = 257.into();
                            self.st.d.next = AluState::Div;
                        }
                    }
                    9 => {
                        if self.b.q.val().any() {
                            // Skip the exponent's leading zeros and its top set bit.
                            self.r.d.next = self.a.q.val();
                            self.c.d.next = self.b.q.val() << self.esh.val();
                            self.cnt.d.next = bit_cast::<10, 9>(self.erem.val());
                            self.st.d.next = AluState::ExpNext;
                        } else {
                            self.r.d.next = bits::<256>(1);
                        }
                    }
                    _ => {}
                }
            }
            // ------------------------------------------------------------ multiplier
            AluState::Mul => {
                self.d16.next = self.l.q.val().get_bits::<16>(0);
                self.p0.next = self.my.q.val().get_bits::<16>(0) * self.d16.val();
                self.p1.next = self.my.q.val().get_bits::<16>(16) * self.d16.val();
                self.p2.next = self.my.q.val().get_bits::<16>(32) * self.d16.val();
                self.p3.next = self.my.q.val().get_bits::<16>(48) * self.d16.val();
                self.p4.next = self.my.q.val().get_bits::<16>(64) * self.d16.val();
                self.p5.next = self.my.q.val().get_bits::<16>(80) * self.d16.val();
                self.p6.next = self.my.q.val().get_bits::<16>(96) * self.d16.val();
                self.p7.next = self.my.q.val().get_bits::<16>(112) * self.d16.val();
                self.p8.next = self.my.q.val().get_bits::<16>(128) * self.d16.val();
                self.p9.next = self.my.q.val().get_bits::<16>(144) * self.d16.val();
                self.p10.next = self.my.q.val().get_bits::<16>(160) * self.d16.val();
                self.p11.next = self.my.q.val().get_bits::<16>(176) * self.d16.val();
                self.p12.next = self.my.q.val().get_bits::<16>(192) * self.d16.val();
                self.p13.next = self.my.q.val().get_bits::<16>(208) * self.d16.val();
                self.p14.next = self.my.q.val().get_bits::<16>(224) * self.d16.val();
                self.p15.next = self.my.q.val().get_bits::<16>(240) * self.d16.val();
                // Even and odd partial products do not overlap among themselves.
                self.ppe.next = bit_cast::<272, 32>(self.p0.val())
                    | (bit_cast::<272, 32>(self.p2.val()) << 32)
                    | (bit_cast::<272, 32>(self.p4.val()) << 64)
                    | (bit_cast::<272, 32>(self.p6.val()) << 96)
                    | (bit_cast::<272, 32>(self.p8.val()) << 128)
                    | (bit_cast::<272, 32>(self.p10.val()) << 160)
                    | (bit_cast::<272, 32>(self.p12.val()) << 192)
                    | (bit_cast::<272, 32>(self.p14.val()) << 224);
                self.ppo.next = (bit_cast::<272, 32>(self.p1.val()) << 16)
                    | (bit_cast::<272, 32>(self.p3.val()) << 48)
                    | (bit_cast::<272, 32>(self.p5.val()) << 80)
                    | (bit_cast::<272, 32>(self.p7.val()) << 112)
                    | (bit_cast::<272, 32>(self.p9.val()) << 144)
                    | (bit_cast::<272, 32>(self.p11.val()) << 176)
                    | (bit_cast::<272, 32>(self.p13.val()) << 208)
                    | (bit_cast::<272, 32>(self.p15.val()) << 240);
                self.hsum.next = bit_cast::<272, 256>(self.h.q.val()) + self.ppe.val() + self.ppo.val();
                self.hsumsh.next = self.hsum.val() >> 16;
                self.low16.next = self.hsum.val().get_bits::<16>(0);
                self.lsh.next = self.l.q.val() >> 16;
                self.h.d.next = bit_cast::<256, 272>(self.hsumsh.val());
                self.l.d.next = self.lsh.val() | (bit_cast::<256, 16>(self.low16.val()) << 240);
                self.mcnt.d.next = self.mcnt.q.val() + 1;
                if self.mcnt.q.val() == 15 {
                    self.st.d.next = AluState::MulDone;
                }
            }
            AluState::MulDone => {
                self.oidx.d.next = 0.into();
                if self.opr.q.val() == 8 {
                    // MULMOD: divide the 512-bit product by c.
                    self.rem.d.next = bits::<256>(0);
                    self.negq.d.next = false;
                    self.negr.d.next = false;
                    self.cnt.d.next = 512.into();
                    self.st.d.next = AluState::Div;
                } else if self.opr.q.val() == 9 {
                    self.r.d.next = self.l.q.val();
                    self.h.d.next = bits::<256>(0);
                    self.mcnt.d.next = 0.into();
                    if !self.phase.q.val() && self.c.q.val().get_bit(255) {
                        // Squared; the exponent bit is set: multiply by the base.
                        self.my.d.next = self.a.q.val();
                        self.phase.d.next = true;
                        self.st.d.next = AluState::Mul;
                    } else {
                        self.c.d.next = self.c.q.val() << 1;
                        self.cnt.d.next = self.cnt.q.val() - 1;
                        self.st.d.next = AluState::ExpNext;
                    }
                } else {
                    self.r.d.next = self.l.q.val();
                    self.st.d.next = AluState::Out;
                }
            }
            AluState::ExpNext => {
                self.oidx.d.next = 0.into();
                if self.cnt.q.val() == 0 {
                    self.st.d.next = AluState::Out;
                } else {
                    self.l.d.next = self.r.q.val();
                    self.my.d.next = self.r.q.val();
                    self.h.d.next = bits::<256>(0);
                    self.mcnt.d.next = 0.into();
                    self.phase.d.next = false;
                    self.st.d.next = AluState::Mul;
                }
            }
            // ------------------------------------------------------------ divider
            AluState::Div => {
                self.hb.next = self.h.q.val().get_bits::<1>(255);
                self.lb.next = self.l.q.val().get_bits::<1>(255);
                self.t257.next = (bit_cast::<257, 256>(self.rem.q.val()) << 1) | bit_cast::<257, 1>(self.hb.val());
                self.dv257.next = bit_cast::<257, 256>(self.dv.q.val());
                self.dsub.next = self.t257.val() - self.dv257.val();
                self.h.d.next = (self.h.q.val() << 1) | bit_cast::<256, 1>(self.lb.val());
                if self.t257.val() >= self.dv257.val() {
                    self.rem.d.next = bit_cast::<256, 257>(self.dsub.val());
                    self.l.d.next = (self.l.q.val() << 1) | bits::<256>(1);
                } else {
                    self.rem.d.next = bit_cast::<256, 257>(self.t257.val());
                    self.l.d.next = self.l.q.val() << 1;
                }
                self.cnt.d.next = self.cnt.q.val() - 1;
                if self.cnt.q.val() == 1 {
                    self.st.d.next = AluState::DivDone;
                }
            }
            AluState::DivDone => {
                self.negl.next = bits::<256>(0) - self.l.q.val();
                self.negrem.next = bits::<256>(0) - self.rem.q.val();
                self.oidx.d.next = 0.into();
                self.st.d.next = AluState::Out;
                if (self.opr.q.val() == 3) || (self.opr.q.val() == 4) {
                    if self.negq.q.val() {
                        self.r.d.next = self.negl.val();
                    } else {
                        self.r.d.next = self.l.q.val();
                    }
                } else if self.negr.q.val() {
                    self.r.d.next = self.negrem.val();
                } else {
                    self.r.d.next = self.rem.q.val();
                }
            }
            // ------------------------------------------------------------ bus out
            AluState::Out => {
                if self.out_ready.val() {
                    self.oidx.d.next = self.oidx.q.val() + 1;
                    if self.oidx.q.val() == 3 {
                        self.st.d.next = AluState::Header;
                    }
                }
            }
        }
    }
}
