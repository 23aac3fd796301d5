//! One lane (processing element) of a dense layer: the weights and state of the neurons
//! `j = g P + p`, `g < G`, of lane `p`, and one [`NeuronAlu`] (see `docs/accelerator.md`).
//!
//! The state memory holds three regions of `G` words: bank 0, bank 1 (one accumulates image
//! n+1 while the other fires image n) and the initial values `B + IMP`. The layer drives every
//! lane with the same operation, one per cycle, through a three-stage pipeline:
//! - stage 0 reads the weight (`weight_address`);
//! - stage 1 multiplies it by the spike's value, `W * D(t)`: a shift `W << shift(t)` when
//!   every `D(t)` is a power of two, else a 16 x 16 multiply (a DSP block); and reads the
//!   state (`state_address`);
//! - stage 2 adds `W * D(t)` (accumulate) or the layer's `addend` (`-H(t)` for a fire step,
//!   0 to copy an initial value into a bank) and writes the sum back, always or only on a
//!   spike (a fire step). The spike and the state read are outputs for the layer to collect.
//!
//! With [`Lane::with_registered_weights`] (what [`crate::core::dense_layer::DenseLayer`] builds), the
//! weight read takes three cycles: the block RAM's word goes straight into a register whose
//! only load is a second register, and stage 1 comes three cycles after stage 0. A block
//! RAM's output is slow on some FPGAs (ECP5's 5.6 ns), too slow to shift in the same cycle,
//! and with one register the placer put it beside the shifter, across the chip from the
//! block RAM (runs 17 to 19, 10.6 ns); the first register has nothing to stay near but the
//! block RAM.
//!
//! The sum is written back one cycle after stage 2, from registers (the adder, the saturation
//! and the block RAM's write port are not one path). The layer never issues two operations on
//! one word less than two cycles apart; the one read that can miss a write (two cycles apart:
//! its read and the delayed write are in the same cycle) takes the written word from a
//! forwarding register instead of the memory.

use crate::core::bram::Bram;
use crate::core::datapath::Datapath;
use crate::core::lane_layout::initial_state;
use crate::core::neuron_alu::NeuronAlu;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Lane {
    pub clock: Signal<In, Clock>,
    /// Stage 0.
    pub weight_address: Signal<In, Bits<16>>,
    /// With [`Lane::with_external_weights`]: the weight word read for `weight_address` (the
    /// layer's memory's registered output, sign-extended), in place of the lane's own.
    pub weight_in: Signal<In, Bits<32>>,
    /// Stage 1: the shift (or the 16-bit value) of the spike whose weight was read in stage
    /// 0, and the state word to read.
    pub spike_shift: Signal<In, Bits<5>>,
    pub spike_value: Signal<In, Bits<16>>,
    pub state_address: Signal<In, Bits<16>>,
    /// Stage 2: add the shifted weight (`use_product`) or `addend`; write the sum to
    /// `write_address` when `write_enable`, or when `write_on_spike` and the state word is at
    /// least `threshold`.
    pub use_product: Signal<In, Bit>,
    pub addend: Signal<In, Bits<32>>,
    pub threshold: Signal<In, Bits<32>>,
    pub write_enable: Signal<In, Bit>,
    pub write_on_spike: Signal<In, Bit>,
    pub write_address: Signal<In, Bits<16>>,
    /// With [`Lane::with_adjacent_forwarding`]: the state word read in stage 1 is the one
    /// that stage 2 writes (`state_address == write_address`), registered by the layer a
    /// cycle ahead from its own pipeline (a compare here would be one per bank, routed to
    /// every lane of it in the cycle that uses it).
    pub address_match: Signal<In, Bit>,
    /// With [`Lane::with_layer_write_back_match`]: the state word read now is the one the
    /// write-back register writes now (`state_address` equals the previous cycle's
    /// `write_address`), registered by the layer a cycle ahead, for the same reason.
    pub write_back_match: Signal<In, Bit>,
    /// Stage 2 results: the spike test and the state word read (for the output layer, the
    /// logit).
    pub spike: Signal<Out, Bit>,
    pub membrane: Signal<Out, Bits<32>>,
    /// `spike`, one cycle later (registered in the lane, so the layer gathers it from
    /// flip-flops).
    pub spike_registered: Signal<Out, Bit>,
    /// A saturated sum was written back, one cycle after stage 2 (registered: the layer ORs
    /// it over all lanes).
    pub saturated: Signal<Out, Bit>,
    /// Run-time writes (the host link streams a model through these, while the layer is
    /// idle): `weight_write_data` to the weight memory, or with `state_write_enable` to the
    /// state memory (laid out as [`crate::core::lane_layout::initial_state`] says), at `weight_write_address`.
    pub weight_write_enable: Signal<In, Bit>,
    pub state_write_enable: Signal<In, Bit>,
    pub weight_write_address: Signal<In, Bits<16>>,
    pub weight_write_data: Signal<In, Bits<32>>,
    weights: Bram<32>,
    state: Bram<32>,
    alu: NeuronAlu,
    product: DFF<Bits<32>>,
    /// The ALU saturated, registered apart from the write it belongs to (`write_back_enable`)
    /// and ANDed with it after the flip-flops: the two carry chains then each end in a
    /// flip-flop (run 17, seed 1: state word -> saturated_write, 9.90 ns).
    saturated_sum: DFF<Bit>,
    addend_selected: Signal<Local, Bits<32>>,
    mask: Constant<Bits<32>>,
    multiply: Constant<Bit>,
    /// Stage 1 is three cycles after stage 0, the weight read registered twice in between.
    registered_weights: Constant<Bit>,
    external_weights: Constant<Bit>,
    /// The shifts the spikes can ask for: `spike_shift` is cut to these bits, so the shifter
    /// has only the stages it needs.
    shift_mask: Constant<Bits<5>>,
    shift_amount: Signal<Local, Bits<5>>,
    weight_read: Signal<Local, Bits<32>>,
    /// The block RAM's word, then the same a cycle later.
    weight_capture: DFF<Bits<32>>,
    weight_register: DFF<Bits<32>>,
    weight_word: Signal<Local, Bits<32>>,
    spike_register: DFF<Bit>,
    weight16: Signal<Local, Bits<16>>,
    raw_product: Signal<Local, Bits<32>>,
    value_correction: Signal<Local, Bits<16>>,
    weight_correction: Signal<Local, Bits<16>>,
    correction: Signal<Local, Bits<16>>,
    /// The write-back of the operation that was in stage 2 in the previous cycle.
    write_back_enable: DFF<Bit>,
    write_back_address: DFF<Bits<16>>,
    write_back_data: DFF<Bits<32>>,
    write_now: Signal<Local, Bit>,
    /// The state word read in stage 1 was being written back in the same cycle: stage 2 takes
    /// the written word from `forward_data`.
    forward: DFF<Bit>,
    forward_data: DFF<Bits<32>>,
    state_word: Signal<Local, Bits<32>>,
    address_mask: Constant<Bits<16>>,
    /// With [`Lane::with_adjacent_forwarding`]: the state word read in stage 1 is the one that
    /// the operation in stage 2 in the same cycle writes, so stage 2 takes its sum (from
    /// `write_back_data`).
    adjacent: Constant<Bit>,
    /// `write_back_match` replaces the lane's own compare for `forward`.
    layer_match: Constant<Bit>,
    forward_adjacent: DFF<Bit>,
}

impl Lane {
    /// A lane with `weights` (`weight_bits` wide, laid out as the layer addresses them) and the
    /// initial value `B + IMP` of each of its `G = init.len()` neuron groups; `multiply`
    /// builds the multiplier instead of the shifter.
    pub fn new(
        datapath: Datapath,
        weight_bits: usize,
        weights: &[i64],
        init: &[i64],
        multiply: bool,
    ) -> Self {
        let membrane_bits = datapath.membrane_bits;
        let state = Bram::new(membrane_bits, &initial_state(init))
            .sign_extended_to(datapath.width)
            .lut_ram_when_small();
        // The memory's addresses wrap at its depth, and so does the forwarding's compare.
        let address_mask = Constant::new(((state.depth() - 1) as u64).into());
        Lane {
            clock: Default::default(),
            weight_address: Default::default(),
            weight_in: Default::default(),
            spike_shift: Default::default(),
            spike_value: Default::default(),
            state_address: Default::default(),
            use_product: Default::default(),
            addend: Default::default(),
            threshold: Default::default(),
            write_enable: Default::default(),
            write_on_spike: Default::default(),
            write_address: Default::default(),
            address_match: Default::default(),
            write_back_match: Default::default(),
            spike: Default::default(),
            membrane: Default::default(),
            spike_registered: Default::default(),
            saturated: Default::default(),
            weight_write_enable: Default::default(),
            state_write_enable: Default::default(),
            weight_write_address: Default::default(),
            weight_write_data: Default::default(),
            // At least 16 bits, so the multiplier's operand is sign-extended too.
            weights: Bram::new(weight_bits, weights).sign_extended_to(datapath.width.max(16)),
            state,
            alu: NeuronAlu::new(datapath),
            product: Default::default(),
            saturated_sum: Default::default(),
            addend_selected: Default::default(),
            mask: Constant::new(datapath.mask().into()),
            multiply: Constant::new(multiply),
            registered_weights: Constant::new(false),
            external_weights: Constant::new(false),
            shift_mask: Constant::new(31.into()),
            shift_amount: Default::default(),
            weight_read: Default::default(),
            weight_capture: Default::default(),
            weight_register: Default::default(),
            weight_word: Default::default(),
            spike_register: Default::default(),
            weight16: Default::default(),
            raw_product: Default::default(),
            value_correction: Default::default(),
            weight_correction: Default::default(),
            correction: Default::default(),
            write_back_enable: Default::default(),
            write_back_address: Default::default(),
            write_back_data: Default::default(),
            write_now: Default::default(),
            forward: Default::default(),
            forward_data: Default::default(),
            state_word: Default::default(),
            address_mask,
            adjacent: Constant::new(false),
            layer_match: Constant::new(false),
            forward_adjacent: Default::default(),
        }
    }
}

impl Lane {
    /// The weight read takes three cycles: stage 1 (the shift or multiply, the state read)
    /// comes three cycles after `weight_address`, and stage 2 four.
    pub fn with_registered_weights(mut self) -> Self {
        self.registered_weights = Constant::new(true);
        self
    }
}

impl Lane {
    /// Spikes shift by at most `max_shift` (the layer's largest `log2 D(t)`).
    pub fn with_max_shift(mut self, max_shift: u32) -> Self {
        let bits = u64::BITS - (max_shift as u64).leading_zeros();
        self.shift_mask = Constant::new(((1u64 << bits) - 1).into());
        self
    }
}

impl Lane {
    /// The weights come from the layer (`weight_in`), read from a memory that the lanes of a
    /// bank share ([`crate::core::field_bram::FieldBram`]); build the lane with one weight.
    /// With [`Lane::with_registered_weights`], `weight_in` is already the registered word (the
    /// layer registers it beside its memory), and the lane adds no registers of its own.
    pub fn with_external_weights(mut self) -> Self {
        self.external_weights = Constant::new(true);
        self
    }
}

impl Lane {
    /// Operations on one word may come in consecutive cycles: the second takes the first's
    /// sum straight from the write-back register (the convolution layer, whose consecutive
    /// input events can feed the same neuron).
    pub fn with_adjacent_forwarding(mut self) -> Self {
        self.adjacent = Constant::new(true);
        self
    }

    /// The layer says whether a read meets the write-back (`write_back_match`): its
    /// addresses never pass the memory's depth, so its plain compare is the lane's.
    pub fn with_layer_write_back_match(mut self) -> Self {
        self.layer_match = Constant::new(true);
        self
    }
}

impl Logic for Lane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            product,
            saturated_sum,
            write_back_enable,
            write_back_address,
            write_back_data,
            forward,
            forward_data,
            weight_capture,
            weight_register,
            spike_register,
            forward_adjacent
        );
        clock!(self, clock, weights, state);
        self.weights.read_address.next = self.weight_address.val();
        self.weights.write_enable.next = self.weight_write_enable.val();
        self.weights.write_address.next = self.weight_write_address.val();
        self.weights.write_data.next = self.weight_write_data.val();
        // W * D as unsigned 16 x 16 = 32 bits, corrected to the signed product (mod 2^32):
        // a negative operand was read as itself + 2^16, which added the other one << 16.
        self.weight_read.next = self.weights.read_data.val();
        if self.external_weights.val() {
            self.weight_read.next = self.weight_in.val();
        }
        self.weight_capture.d.next = self.weight_read.val();
        self.weight_register.d.next = self.weight_capture.q.val();
        self.weight_word.next = self.weight_read.val();
        if self.registered_weights.val() & !self.external_weights.val() {
            self.weight_word.next = self.weight_register.q.val();
        }
        self.weight16.next = self.weight_word.val().get_bits::<16>(0);
        self.raw_product.next = self.weight16.val() * self.spike_value.val();
        self.value_correction.next = 0.into();
        if self.weight16.val().get_bit(15) {
            self.value_correction.next = self.spike_value.val();
        }
        self.weight_correction.next = 0.into();
        if self.spike_value.val().get_bit(15) {
            self.weight_correction.next = self.weight16.val();
        }
        self.correction.next = self.value_correction.val() + self.weight_correction.val();
        self.shift_amount.next = self.spike_shift.val() & self.shift_mask.val();
        self.product.d.next = (self.weight_word.val() << self.shift_amount.val()) & self.mask.val();
        if self.multiply.val() {
            self.product.d.next = (self.raw_product.val()
                - (bit_cast::<32, 16>(self.correction.val()) << 16))
                & self.mask.val();
        }
        self.state.read_address.next = self.state_address.val();
        // Stage 2 works on the state word read, or on the word written back in the cycle of
        // the read.
        self.state_word.next = self.state.read_data.val();
        if self.forward.q.val() {
            self.state_word.next = self.forward_data.q.val();
        }
        if self.forward_adjacent.q.val() {
            self.state_word.next = self.write_back_data.q.val();
        }
        self.alu.membrane.next = self.state_word.val();
        // Sub-block inputs are written once per evaluation (see `NeuronAlu`).
        self.addend_selected.next = self.addend.val();
        if self.use_product.val() {
            self.addend_selected.next = self.product.q.val();
        }
        self.alu.addend.next = self.addend_selected.val();
        self.alu.threshold.next = self.threshold.val();
        self.spike.next = self.alu.spike.val();
        self.spike_register.d.next = self.alu.spike.val();
        self.spike_registered.next = self.spike_register.q.val();
        self.membrane.next = self.state_word.val();
        self.write_now.next =
            self.write_enable.val() | (self.write_on_spike.val() & self.alu.spike.val());
        self.saturated_sum.d.next = self.alu.saturated.val();
        self.saturated.next = self.write_back_enable.q.val() & self.saturated_sum.q.val();
        self.write_back_enable.d.next = self.write_now.val();
        self.write_back_address.d.next = self.write_address.val();
        self.write_back_data.d.next = self.alu.sum.val();
        // The pipeline's write-back comes first (the host loads only an idle layer).
        self.state.write_enable.next =
            self.write_back_enable.q.val() | self.state_write_enable.val();
        self.state.write_address.next = self.write_back_address.q.val();
        self.state.write_data.next = self.write_back_data.q.val();
        if !self.write_back_enable.q.val() {
            self.state.write_address.next = self.weight_write_address.val();
            self.state.write_data.next = self.weight_write_data.val();
        }
        self.forward.d.next = self.write_back_enable.q.val()
            & !(((self.write_back_address.q.val() ^ self.state_address.val())
                & self.address_mask.val())
            .any());
        if self.layer_match.val() {
            self.forward.d.next = self.write_back_enable.q.val() & self.write_back_match.val();
        }
        self.forward_data.d.next = self.write_back_data.q.val();
        // (Accumulations only: a fire step's write depends on its spike, and the layer never
        // puts another operation on its word in the next cycle.)
        self.forward_adjacent.d.next =
            self.adjacent.val() & self.write_enable.val() & self.address_match.val();
    }
}
