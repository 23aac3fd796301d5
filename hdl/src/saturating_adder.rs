//! `sum = saturate(a ± b)` to the membrane width: the one adder of the datapath, used by
//! accumulation (`acc + W * D(t)`) and by the fire phase (`v - H(t)`).

use fs_model::fixed::SignedRange;
use rust_hdl::prelude::*;

/// Combinational saturating adder/subtractor of two's complement values, 32-bit ports.
#[derive(LogicBlock)]
pub struct SaturatingAdder {
    pub a: Signal<In, Bits<32>>,
    pub b: Signal<In, Bits<32>>,
    /// Computes `a - b` instead of `a + b` (in 34 bits, so `-b` cannot overflow).
    pub subtract: Signal<In, Bit>,
    pub sum: Signal<Out, Bits<32>>,
    /// High when the sum was clamped.
    pub saturated: Signal<Out, Bit>,
    wide_a: Signal<Local, Bits<34>>,
    wide_b: Signal<Local, Bits<34>>,
    wide_sum: Signal<Local, Bits<34>>,
    /// Sign flipped so that an unsigned compare is a signed one.
    flipped_sum: Signal<Local, Bits<34>>,
    sign_extension: Constant<Bits<34>>,
    sign_flip: Constant<Bits<34>>,
    max_flipped: Constant<Bits<34>>,
    min_flipped: Constant<Bits<34>>,
    max: Constant<Bits<32>>,
    min: Constant<Bits<32>>,
}

impl SaturatingAdder {
    /// An adder clamping to `range` (the membrane range of the model's fixed-point format).
    pub fn new(range: SignedRange) -> Self {
        let wide = |x: i64| Bits::<34>::from((x as u64) & ((1u64 << 34) - 1));
        let flip = 1u64 << 33;
        SaturatingAdder {
            a: Default::default(),
            b: Default::default(),
            subtract: Default::default(),
            sum: Default::default(),
            saturated: Default::default(),
            wide_a: Default::default(),
            wide_b: Default::default(),
            wide_sum: Default::default(),
            flipped_sum: Default::default(),
            sign_extension: Constant::new(Bits::<34>::from(0b11u64 << 32)),
            sign_flip: Constant::new(Bits::<34>::from(flip)),
            max_flipped: Constant::new(wide(range.max) ^ Bits::<34>::from(flip)),
            min_flipped: Constant::new(wide(range.min) ^ Bits::<34>::from(flip)),
            max: Constant::new(crate::sim::to_bits32(range.max)),
            min: Constant::new(crate::sim::to_bits32(range.min)),
        }
    }
}

impl Logic for SaturatingAdder {
    #[hdl_gen]
    fn update(&mut self) {
        // Sign-extend both operands to 34 bits: the sum of two 32-bit values cannot overflow.
        self.wide_a.next = bit_cast::<34, 32>(self.a.val());
        if self.a.val().get_bit(31) {
            self.wide_a.next = bit_cast::<34, 32>(self.a.val()) | self.sign_extension.val();
        }
        self.wide_b.next = bit_cast::<34, 32>(self.b.val());
        if self.b.val().get_bit(31) {
            self.wide_b.next = bit_cast::<34, 32>(self.b.val()) | self.sign_extension.val();
        }
        self.wide_sum.next = self.wide_a.val() + self.wide_b.val();
        if self.subtract.val() {
            self.wide_sum.next = self.wide_a.val() - self.wide_b.val();
        }
        self.flipped_sum.next = self.wide_sum.val() ^ self.sign_flip.val();
        self.sum.next = bit_cast::<32, 34>(self.wide_sum.val());
        self.saturated.next = false;
        if self.flipped_sum.val() > self.max_flipped.val() {
            self.sum.next = self.max.val();
            self.saturated.next = true;
        }
        if self.flipped_sum.val() < self.min_flipped.val() {
            self.sum.next = self.min.val();
            self.saturated.next = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{from_bits32, prepare, settle, to_bits32};
    use proptest::prelude::*;

    fn add(uut: &mut SaturatingAdder, a: i64, b: i64) -> (i64, bool) {
        run(uut, a, b, false)
    }

    fn run(uut: &mut SaturatingAdder, a: i64, b: i64, subtract: bool) -> (i64, bool) {
        uut.a.next = to_bits32(a);
        uut.b.next = to_bits32(b);
        uut.subtract.next = subtract;
        settle(uut);
        (from_bits32(uut.sum.val()), uut.saturated.val())
    }

    proptest! {
        /// Against the golden model's saturation, for every membrane width.
        #[test]
        fn matches_the_fixed_point_definition(
            bits in 8u32..=32, a in any::<i32>(), b in any::<i32>(), subtract in any::<bool>(),
        ) {
            let range = SignedRange::of_bits(bits);
            let a = range.saturate(a as i64, &mut 0);
            let mut uut = SaturatingAdder::new(range);
            prepare(&mut uut);
            let mut saturations = 0;
            let exact = if subtract { a - b as i64 } else { a + b as i64 };
            let expect = range.saturate(exact, &mut saturations);
            prop_assert_eq!(run(&mut uut, a, b as i64, subtract), (expect, saturations == 1));
        }
    }

    #[test]
    fn edges_of_the_range() {
        let range = SignedRange::of_bits(23);
        let mut uut = SaturatingAdder::new(range);
        prepare(&mut uut);
        assert_eq!(add(&mut uut, range.max, 1), (range.max, true));
        assert_eq!(add(&mut uut, range.max, 0), (range.max, false));
        assert_eq!(add(&mut uut, range.min, -1), (range.min, true));
        assert_eq!(add(&mut uut, range.min, i32::MAX as i64), (range.max, true));
        assert_eq!(add(&mut uut, -5, 3), (-2, false));
        let full = SignedRange::of_bits(32);
        let mut uut = SaturatingAdder::new(full);
        prepare(&mut uut);
        assert_eq!(add(&mut uut, full.max, full.max), (full.max, true));
        assert_eq!(add(&mut uut, full.min, full.min), (full.min, true));
        // -min does not fit 32 bits; the subtraction must still be exact.
        assert_eq!(run(&mut uut, -1, full.min, true), (full.max, false));
        assert_eq!(run(&mut uut, 0, full.min, true), (full.max, true));
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = SaturatingAdder::new(SignedRange::of_bits(20));
        prepare(&mut uut);
        yosys_validate("fs_hdl_saturating_adder", &generate_verilog(&uut)).unwrap();
    }
}
