//! The arithmetic of one FS-neuron operation, on [`Datapath`] patterns: `saturate(v + addend)`
//! to the membrane range, and the spike test `v >= T`.
//!
//! An accumulation adds `W * D(t)`; a fire step adds `-H(t)` (kept only when it spikes,
//! `fs_model::neuron::FsRom::fire`); a re-initialisation adds 0. One adder serves all three.
//! The sum is exact in the datapath's width, so saturation is a check of its top bits (all
//! equal to the membrane's sign bit, or not): no wide comparator on the adder's output.

use crate::core::datapath::Datapath;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct NeuronAlu {
    pub membrane: Signal<In, Bits<32>>,
    pub addend: Signal<In, Bits<32>>,
    pub threshold: Signal<In, Bits<32>>,
    /// `saturate(membrane + addend)`.
    pub sum: Signal<Out, Bits<32>>,
    /// High when the sum was clamped (the golden model counts these).
    pub saturated: Signal<Out, Bit>,
    /// `membrane >= threshold` (`fs_model::neuron::fires`).
    pub spike: Signal<Out, Bit>,
    raw: Signal<Local, Bits<32>>,
    high: Signal<Local, Bits<32>>,
    clamped: Signal<Local, Bits<32>>,
    clamping: Signal<Local, Bit>,
    mask: Constant<Bits<32>>,
    sign_bit: Constant<Bits<32>>,
    /// The bits from the membrane's sign bit to the datapath's.
    top_mask: Constant<Bits<32>>,
    max: Constant<Bits<32>>,
    min: Constant<Bits<32>>,
}

impl NeuronAlu {
    pub fn new(datapath: Datapath) -> Self {
        let membrane_bits = datapath.membrane_bits;
        NeuronAlu {
            membrane: Default::default(),
            addend: Default::default(),
            threshold: Default::default(),
            sum: Default::default(),
            saturated: Default::default(),
            spike: Default::default(),
            raw: Default::default(),
            high: Default::default(),
            clamped: Default::default(),
            clamping: Default::default(),
            mask: Constant::new(datapath.mask().into()),
            sign_bit: Constant::new(datapath.sign_bit().into()),
            top_mask: Constant::new(
                (datapath.mask() >> (membrane_bits - 1) << (membrane_bits - 1)).into(),
            ),
            max: Constant::new(datapath.pattern(datapath.membrane.max)),
            min: Constant::new(datapath.pattern(datapath.membrane.min)),
        }
    }
}

impl Logic for NeuronAlu {
    #[hdl_gen]
    fn update(&mut self) {
        self.raw.next = (self.membrane.val() + self.addend.val()) & self.mask.val();
        self.high.next = self.raw.val() & self.top_mask.val();
        // Outputs are written once per evaluation: a glitch on an output that the parent
        // feeds back into an input makes iverilog's event loop spin forever.
        self.clamping.next = self.high.val().any() & (self.high.val() != self.top_mask.val());
        self.clamped.next = self.max.val();
        if (self.raw.val() & self.sign_bit.val()).any() {
            self.clamped.next = self.min.val();
        }
        self.saturated.next = self.clamping.val();
        if !self.clamping.val() {
            self.clamped.next = self.raw.val();
        }
        self.sum.next = self.clamped.val();
        // A signed compare of patterns: flip the sign bits, compare unsigned.
        self.spike.next = (self.membrane.val() ^ self.sign_bit.val())
            >= (self.threshold.val() ^ self.sign_bit.val());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{prepare, settle};
    use fs_model::fixed::SignedRange;
    use fs_model::neuron::FsRom;
    use proptest::prelude::*;

    fn run(uut: &mut NeuronAlu, d: &Datapath, v: i64, addend: i64, t: i64) -> (i64, bool, bool) {
        uut.membrane.next = d.pattern(v);
        uut.addend.next = d.pattern(addend);
        uut.threshold.next = d.pattern(t);
        settle(uut);
        (d.value(uut.sum.val()), uut.saturated.val(), uut.spike.val())
    }

    fn edgy(r: SignedRange) -> impl Strategy<Value = i64> {
        prop_oneof![Just(r.min), Just(r.max), -2i64..=2, r.min..=r.max]
    }

    proptest! {
        /// An accumulation against the golden model's saturating add, for every width.
        #[test]
        fn accumulation_matches_the_fixed_point_definition(
            bits in 8u32..=31,
            product_bits in 2u32..=31,
            (a, b) in (any::<i64>(), any::<i64>()),
        ) {
            let d = Datapath::new(bits, product_bits).unwrap();
            let products = SignedRange::of_bits(product_bits);
            let a = d.membrane.min + a.rem_euclid(d.membrane.max - d.membrane.min + 1);
            let b = products.min + b.rem_euclid(products.max - products.min + 1);
            let mut uut = NeuronAlu::new(d);
            prepare(&mut uut);
            let mut saturations = 0;
            let expect = d.membrane.saturate(a + b, &mut saturations);
            let (sum, saturated, _) = run(&mut uut, &d, a, b, 0);
            prop_assert_eq!((sum, saturated), (expect, saturations == 1));
        }

        /// A whole neuron, one fire step per evaluation (`v >= T`, then `v - H`), against
        /// `FsRom::fire`, thresholds and resets anywhere in the membrane range.
        #[test]
        fn fire_steps_match_the_golden_fs_rom(
            bits in 8u32..=31,
            k in 1usize..=12,
            seeds in proptest::collection::vec((any::<u64>(), any::<u64>()), 12),
            v0 in any::<u64>(),
        ) {
            let d = Datapath::new(bits, 2).unwrap();
            let m = d.membrane;
            let pick = |x: u64| match x % 5 {
                0 => m.min,
                1 => m.max,
                2 => 0,
                _ => m.min + (x / 5) as i64 % (m.max - m.min + 1),
            };
            let rom = FsRom {
                t: seeds[..k].iter().map(|s| pick(s.0)).collect(),
                h: seeds[..k].iter().map(|s| pick(s.1)).collect(),
                d: vec![1; k],
            };
            let v0 = pick(v0);
            let mut uut = NeuronAlu::new(d);
            prepare(&mut uut);
            let (mut v, mut mask, mut saturations) = (v0, 0u32, 0u64);
            for t in 0..k {
                let (next, saturated, spike) = run(&mut uut, &d, v, -rom.h[t], rom.t[t]);
                if spike {
                    mask |= 1 << t;
                    saturations += saturated as u64;
                    v = next;
                }
            }
            let mut golden_saturations = 0;
            prop_assert_eq!(mask, rom.fire(v0, m, &mut golden_saturations));
            prop_assert_eq!(saturations, golden_saturations);
        }

        #[test]
        fn relu_rom_is_a_converter(v in edgy(SignedRange::of_bits(20))) {
            let d = Datapath::new(20, 2).unwrap();
            let rom = FsRom { t: vec![64, 32, 16, 8], h: vec![64, 32, 16, 8], d: vec![8, 4, 2, 1] };
            let mut uut = NeuronAlu::new(d);
            prepare(&mut uut);
            let (mut x, mut mask) = (v, 0);
            for t in 0..4 {
                let (next, _, spike) = run(&mut uut, &d, x, -rom.h[t], rom.t[t]);
                if spike {
                    mask |= 1 << t;
                    x = next;
                }
            }
            prop_assert_eq!(rom.output_of(mask), v.div_euclid(8).clamp(0, 15));
        }
    }

    #[test]
    fn edges_of_the_range() {
        let d = Datapath::new(23, 16).unwrap();
        let m = d.membrane;
        let mut uut = NeuronAlu::new(d);
        prepare(&mut uut);
        assert_eq!(run(&mut uut, &d, m.max, 1, 0).0, m.max);
        assert!(run(&mut uut, &d, m.max, 1, 0).1);
        assert_eq!(run(&mut uut, &d, m.max, 0, 0), (m.max, false, true));
        assert_eq!(run(&mut uut, &d, m.min, -1, 0), (m.min, true, false));
        assert_eq!(run(&mut uut, &d, m.min, m.min, m.min), (m.min, true, true));
        assert_eq!(run(&mut uut, &d, -5, 3, -5), (-2, false, true));
        assert_eq!(run(&mut uut, &d, -6, 3, -5), (-3, false, false));
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = NeuronAlu::new(Datapath::new(23, 16).unwrap());
        prepare(&mut uut);
        yosys_validate("fs_hdl_neuron_alu", &generate_verilog(&uut)).unwrap();
    }
}
