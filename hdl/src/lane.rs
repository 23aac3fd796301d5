//! One lane of a dense layer: the state and arithmetic of the neurons `j = g P + p`,
//! `g < G`, of lane `p` (see `docs/accelerator.md`).
//!
//! Two accumulator banks: while one *accumulates* image n+1 (spike `(i, t)` of the sender adds
//! `W_ji * D(t)`), the other *fires* image n (step `t` of neuron `j`: `v >= T(t)`, `v - H(t)`).
//! The last fire step writes the neuron's initial value `B + IMP` back, so the bank is ready to
//! accumulate the next image when the layer swaps the banks.
//!
//! Both ports are two-stage pipelines: stage 0 presents an operation and reads the memories;
//! stage 1, one cycle later, computes and writes back. A write is forwarded to a read of the
//! same word in the next operation, so back-to-back operations on one neuron see each other.
//! Spike values are powers of two, `D(t) = 2^shift` (ReLU layers and the input code), so
//! `W * D(t)` is a shift.

use crate::bram::Bram;
use crate::fire_step::FireStep;
use crate::saturating_adder::SaturatingAdder;
use fs_model::fixed::{SignedRange, bits_for_magnitude};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Lane {
    pub clock: Signal<In, Clock>,
    /// The bank that accumulates; the other one fires.
    pub accumulate_bank: Signal<In, Bit>,
    /// Stage 0 of an accumulate operation: add `weight[weight_address] << spike_shift` to
    /// neuron group `acc_group`.
    pub acc_enable: Signal<In, Bit>,
    pub weight_address: Signal<In, Bits<16>>,
    pub acc_group: Signal<In, Bits<16>>,
    pub spike_shift: Signal<In, Bits<5>>,
    /// Stage 0 of a fire step of neuron group `fire_group`; `fire_last` re-initialises it.
    pub fire_enable: Signal<In, Bit>,
    pub fire_group: Signal<In, Bits<16>>,
    pub threshold: Signal<In, Bits<32>>,
    pub reset: Signal<In, Bits<32>>,
    pub fire_last: Signal<In, Bit>,
    /// Stage 1 of a fire step: its spike, and the membrane before the step (for the output
    /// layer, the logit).
    pub spike_valid: Signal<Out, Bit>,
    pub spike: Signal<Out, Bit>,
    pub membrane: Signal<Out, Bits<32>>,
    /// Stage 1 saturations, counted as the golden model counts them.
    pub acc_saturated: Signal<Out, Bit>,
    pub fire_saturated: Signal<Out, Bit>,
    /// Run-time weight writes (the host link streams weights through these).
    pub weight_write_enable: Signal<In, Bit>,
    pub weight_write_address: Signal<In, Bits<16>>,
    pub weight_write_data: Signal<In, Bits<16>>,
    weights: Bram<16>,
    bank0: Bram<32>,
    bank1: Bram<32>,
    init: Bram<32>,
    adder: SaturatingAdder,
    fire: FireStep,
    // Stage 1 registers.
    s1_acc: DFF<Bit>,
    s1_acc_bank: DFF<Bit>,
    s1_acc_group: DFF<Bits<16>>,
    s1_shift: DFF<Bits<5>>,
    s1_fire: DFF<Bit>,
    s1_fire_group: DFF<Bits<16>>,
    s1_threshold: DFF<Bits<32>>,
    s1_reset: DFF<Bits<32>>,
    s1_last: DFF<Bit>,
    // The last write of each bank, for forwarding.
    written0: DFF<Bit>,
    written0_group: DFF<Bits<16>>,
    written0_value: DFF<Bits<32>>,
    written1: DFF<Bit>,
    written1_group: DFF<Bits<16>>,
    written1_value: DFF<Bits<32>>,
    // Stage 1 values.
    acc_old: Signal<Local, Bits<32>>,
    fire_old: Signal<Local, Bits<32>>,
    product: Signal<Local, Bits<32>>,
    new_membrane: Signal<Local, Bits<32>>,
    sign_extension: Constant<Bits<32>>,
}

impl Lane {
    /// A lane with `weights[i * G + g]` for its neurons (within `weight_bits`), and the initial
    /// accumulator value `B + IMP` of each of its `G` neuron groups.
    pub fn new(membrane: SignedRange, weight_bits: usize, weights: &[i64], init: &[i64]) -> Self {
        let membrane_bits = bits_for_magnitude(membrane.max as u64) as usize;
        Lane {
            clock: Default::default(),
            accumulate_bank: Default::default(),
            acc_enable: Default::default(),
            weight_address: Default::default(),
            acc_group: Default::default(),
            spike_shift: Default::default(),
            fire_enable: Default::default(),
            fire_group: Default::default(),
            threshold: Default::default(),
            reset: Default::default(),
            fire_last: Default::default(),
            spike_valid: Default::default(),
            spike: Default::default(),
            membrane: Default::default(),
            acc_saturated: Default::default(),
            fire_saturated: Default::default(),
            weight_write_enable: Default::default(),
            weight_write_address: Default::default(),
            weight_write_data: Default::default(),
            weights: Bram::new(weight_bits, weights),
            bank0: Bram::new(membrane_bits, init),
            bank1: Bram::new(membrane_bits, init),
            init: Bram::new(membrane_bits, init),
            adder: SaturatingAdder::new(membrane),
            fire: FireStep::new(membrane),
            s1_acc: Default::default(),
            s1_acc_bank: Default::default(),
            s1_acc_group: Default::default(),
            s1_shift: Default::default(),
            s1_fire: Default::default(),
            s1_fire_group: Default::default(),
            s1_threshold: Default::default(),
            s1_reset: Default::default(),
            s1_last: Default::default(),
            written0: Default::default(),
            written0_group: Default::default(),
            written0_value: Default::default(),
            written1: Default::default(),
            written1_group: Default::default(),
            written1_value: Default::default(),
            acc_old: Default::default(),
            fire_old: Default::default(),
            product: Default::default(),
            new_membrane: Default::default(),
            sign_extension: Constant::new(Bits::<32>::from(0xffff_0000u64)),
        }
    }
}

impl Logic for Lane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            s1_acc,
            s1_acc_bank,
            s1_acc_group,
            s1_shift,
            s1_fire,
            s1_fire_group,
            s1_threshold,
            s1_reset,
            s1_last,
            written0,
            written0_group,
            written0_value,
            written1,
            written1_group,
            written1_value
        );
        clock!(self, clock, weights, bank0, bank1, init);
        // Stage 0: read the weight, both banks and the initial value; register the operation.
        self.weights.read_address.next = self.weight_address.val();
        self.weights.write_enable.next = self.weight_write_enable.val();
        self.weights.write_address.next = self.weight_write_address.val();
        self.weights.write_data.next = self.weight_write_data.val();
        self.bank0.read_address.next = self.fire_group.val();
        self.bank1.read_address.next = self.acc_group.val();
        if !self.accumulate_bank.val() {
            self.bank0.read_address.next = self.acc_group.val();
            self.bank1.read_address.next = self.fire_group.val();
        }
        self.init.read_address.next = self.fire_group.val();
        self.init.write_enable.next = false;
        self.init.write_address.next = 0.into();
        self.init.write_data.next = 0.into();
        self.s1_acc.d.next = self.acc_enable.val();
        self.s1_acc_bank.d.next = self.accumulate_bank.val();
        self.s1_acc_group.d.next = self.acc_group.val();
        self.s1_shift.d.next = self.spike_shift.val();
        self.s1_fire.d.next = self.fire_enable.val();
        self.s1_fire_group.d.next = self.fire_group.val();
        self.s1_threshold.d.next = self.threshold.val();
        self.s1_reset.d.next = self.reset.val();
        self.s1_last.d.next = self.fire_last.val();

        // Stage 1, accumulate: the old value (forwarded if the bank was just written there).
        self.acc_old.next = self.bank0.read_data.val();
        if self.s1_acc_bank.q.val() {
            self.acc_old.next = self.bank1.read_data.val();
        }
        if !self.s1_acc_bank.q.val()
            & self.written0.q.val()
            & (self.written0_group.q.val() == self.s1_acc_group.q.val())
        {
            self.acc_old.next = self.written0_value.q.val();
        }
        if self.s1_acc_bank.q.val()
            & self.written1.q.val()
            & (self.written1_group.q.val() == self.s1_acc_group.q.val())
        {
            self.acc_old.next = self.written1_value.q.val();
        }
        // W * 2^shift: the 16-bit weight sign-extended to 32 bits, shifted.
        self.product.next = bit_cast::<32, 16>(self.weights.read_data.val());
        if self.weights.read_data.val().get_bit(15) {
            self.product.next =
                bit_cast::<32, 16>(self.weights.read_data.val()) | self.sign_extension.val();
        }
        self.adder.a.next = self.acc_old.val();
        self.adder.b.next = self.product.val() << self.s1_shift.q.val();
        self.adder.subtract.next = false;
        self.acc_saturated.next = self.s1_acc.q.val() & self.adder.saturated.val();

        // Stage 1, fire: the bank that does not accumulate.
        self.fire_old.next = self.bank1.read_data.val();
        if self.s1_acc_bank.q.val() {
            self.fire_old.next = self.bank0.read_data.val();
        }
        if self.s1_acc_bank.q.val()
            & self.written0.q.val()
            & (self.written0_group.q.val() == self.s1_fire_group.q.val())
        {
            self.fire_old.next = self.written0_value.q.val();
        }
        if !self.s1_acc_bank.q.val()
            & self.written1.q.val()
            & (self.written1_group.q.val() == self.s1_fire_group.q.val())
        {
            self.fire_old.next = self.written1_value.q.val();
        }
        self.fire.membrane.next = self.fire_old.val();
        self.fire.threshold.next = self.s1_threshold.q.val();
        self.fire.reset.next = self.s1_reset.q.val();
        self.spike_valid.next = self.s1_fire.q.val();
        self.spike.next = self.s1_fire.q.val() & self.fire.spike.val();
        self.membrane.next = self.fire_old.val();
        self.fire_saturated.next = self.s1_fire.q.val() & self.fire.saturated.val();
        self.new_membrane.next = self.fire.next_membrane.val();
        if self.s1_last.q.val() {
            self.new_membrane.next = self.init.read_data.val();
        }

        // Write back, and remember the writes for forwarding.
        self.bank0.write_enable.next = false;
        self.bank0.write_address.next = self.s1_fire_group.q.val();
        self.bank0.write_data.next = self.new_membrane.val();
        self.bank1.write_enable.next = false;
        self.bank1.write_address.next = self.s1_fire_group.q.val();
        self.bank1.write_data.next = self.new_membrane.val();
        if self.s1_fire.q.val() {
            if self.s1_acc_bank.q.val() {
                self.bank0.write_enable.next = true;
            } else {
                self.bank1.write_enable.next = true;
            }
        }
        if self.s1_acc.q.val() {
            if self.s1_acc_bank.q.val() {
                self.bank1.write_enable.next = true;
                self.bank1.write_address.next = self.s1_acc_group.q.val();
                self.bank1.write_data.next = self.adder.sum.val();
            } else {
                self.bank0.write_enable.next = true;
                self.bank0.write_address.next = self.s1_acc_group.q.val();
                self.bank0.write_data.next = self.adder.sum.val();
            }
        }
        self.written0.d.next = self.bank0.write_enable.val();
        self.written0_group.d.next = self.bank0.write_address.val();
        self.written0_value.d.next = self.bank0.write_data.val();
        self.written1.d.next = self.bank1.write_enable.val();
        self.written1_group.d.next = self.bank1.write_address.val();
        self.written1_value.d.next = self.bank1.write_data.val();
    }
}
