//! The weights of two dense lanes in one memory: word `a` holds both lanes' weight `a`, one
//! 9-bit field each, so one ECP5 DP16KD (1,024 x 18) serves two lanes of up to 1,024 weights
//! where separate memories would take one block each.
//!
//! Why: a dense layer with one neuron group has as many lanes as neurons (256 in the MNIST
//! MLP's hidden layer), more lanes than the chip has block RAMs; its lanes always read the
//! same address, so two can share a word, as a convolution bank's lanes do
//! ([`crate::core::field_bram::FieldBram`]).
//!
//! Timing is a lane's own registered weight read ([`crate::core::lane::Lane::with_registered_weights`]):
//! `read_address` in cycle c, the memory's registered word in c + 1, the word registered twice
//! here (the block RAM's output is slow, and the first register stays beside it) and
//! `low_weight` / `high_weight`, sign-extended to 32 bits, in c + 3. A run-time load writes one lane's field (`write_high`: the second lane's).

use crate::core::field_bram::FieldBram;
use rust_hdl::prelude::*;

/// Bits of the pair's word: two 9-bit fields (an ECP5 block RAM's byte is 9 bits wide).
pub const PAIR_WORD_BITS: usize = 18;

/// The widest weight a pair holds.
pub const PAIR_FIELD_BITS: usize = 9;
const _: () = assert!(2 * PAIR_FIELD_BITS == PAIR_WORD_BITS);

#[derive(LogicBlock)]
pub struct WeightPair {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<16>>,
    /// The first and the second lane's weight, three cycles after `read_address`.
    pub low_weight: Signal<Out, Bits<32>>,
    pub high_weight: Signal<Out, Bits<32>>,
    pub write_enable: Signal<In, Bit>,
    pub write_high: Signal<In, Bit>,
    pub write_address: Signal<In, Bits<16>>,
    pub write_data: Signal<In, Bits<32>>,
    weights: FieldBram<PAIR_WORD_BITS>,
    /// The memory's word, then the same a cycle later.
    captured_word: DFF<Bits<PAIR_WORD_BITS>>,
    word: DFF<Bits<PAIR_WORD_BITS>>,
    low_field: Signal<Local, Bits<32>>,
    high_field: Signal<Local, Bits<32>>,
    /// The bits above a field, set when its sign bit is.
    field_extension: Constant<Bits<32>>,
}

impl WeightPair {
    /// Two lanes' weights, `low[a]` and `high[a]` at address `a` (the same count, each value
    /// fitting [`PAIR_FIELD_BITS`] bits as two's complement).
    pub fn new(low: &[i64], high: &[i64]) -> Self {
        assert_eq!(low.len(), high.len(), "a pair's lanes hold as many weights");
        let words: Vec<Vec<i64>> = low.iter().zip(high).map(|(&l, &h)| vec![l, h]).collect();
        let f = PAIR_FIELD_BITS;
        WeightPair {
            clock: Default::default(),
            read_address: Default::default(),
            low_weight: Default::default(),
            high_weight: Default::default(),
            write_enable: Default::default(),
            write_high: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            weights: FieldBram::new(f, &words),
            captured_word: Default::default(),
            word: Default::default(),
            low_field: Default::default(),
            high_field: Default::default(),
            field_extension: Constant::new(((u64::MAX << f) & 0xffff_ffff).into()),
        }
    }
}

impl Logic for WeightPair {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, captured_word, word);
        clock!(self, clock, weights);
        self.weights.read_address.next = self.read_address.val();
        self.weights.write_enable.next = self.write_enable.val();
        self.weights.write_field.next = 0.into();
        if self.write_high.val() {
            self.weights.write_field.next = 1.into();
        }
        self.weights.write_address.next = self.write_address.val();
        self.weights.write_data.next = self.write_data.val();
        self.captured_word.d.next = self.weights.read_data.val();
        self.word.d.next = self.captured_word.q.val();
        // (Literal widths: the Verilog writer takes no named constants here; 9 is
        // `PAIR_FIELD_BITS`.)
        self.low_field.next = bit_cast::<32, 9>(self.word.q.val().get_bits::<9>(0));
        self.high_field.next = bit_cast::<32, 9>(self.word.q.val().get_bits::<9>(9));
        self.low_weight.next = self.low_field.val();
        if self.low_field.val().get_bit(8) {
            self.low_weight.next = self.low_field.val() | self.field_extension.val();
        }
        self.high_weight.next = self.high_field.val();
        if self.high_field.val().get_bit(8) {
            self.high_weight.next = self.high_field.val() | self.field_extension.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{from_bits32, prepare, settle};

    fn tick(uut: &mut WeightPair) {
        uut.clock.next = true.into();
        settle(uut);
        uut.clock.next = false.into();
        settle(uut);
    }

    fn weights(uut: &WeightPair) -> (i64, i64) {
        (
            from_bits32(uut.low_weight.val()),
            from_bits32(uut.high_weight.val()),
        )
    }

    #[test]
    fn reads_both_lanes_three_cycles_later_and_loads_one() {
        let low: Vec<i64> = (0..300).map(|a| a % 256 - 128).collect();
        let high: Vec<i64> = (0..300).map(|a| 127 - a % 256).collect();
        let mut uut = WeightPair::new(&low, &high);
        prepare(&mut uut);
        uut.read_address.next = 5.into();
        tick(&mut uut);
        uut.read_address.next = 299.into();
        tick(&mut uut);
        assert_ne!(weights(&uut), (low[5], high[5]), "address 5, two cycles on");
        tick(&mut uut);
        assert_eq!(
            weights(&uut),
            (low[5], high[5]),
            "address 5, three cycles on"
        );
        tick(&mut uut);
        assert_eq!(weights(&uut), (low[299], high[299]));
        // Load the second lane's weight 299; the first's stays.
        uut.write_enable.next = true;
        uut.write_high.next = true;
        uut.write_address.next = 299.into();
        uut.write_data.next = (-77i64 as u64 & 0xffff_ffff).into();
        tick(&mut uut);
        uut.write_enable.next = false;
        tick(&mut uut);
        tick(&mut uut);
        tick(&mut uut);
        assert_eq!(weights(&uut), (low[299], -77));
        // The extremes of the field.
        uut.write_enable.next = true;
        uut.write_high.next = false;
        uut.write_data.next = (-256i64 as u64 & 0xffff_ffff).into();
        tick(&mut uut);
        uut.write_high.next = true;
        uut.write_data.next = 255.into();
        tick(&mut uut);
        uut.write_enable.next = false;
        tick(&mut uut);
        tick(&mut uut);
        tick(&mut uut);
        assert_eq!(weights(&uut), (-256, 255));
    }

    #[test]
    fn verilog_passes_yosys() {
        let mut uut = WeightPair::new(&[1, -2, 3], &[-4, 5, -6]);
        prepare(&mut uut);
        yosys_validate("fs_hdl_weight_pair", &generate_verilog(&uut)).unwrap();
    }
}
