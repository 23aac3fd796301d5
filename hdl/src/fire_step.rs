//! One FS-neuron step (`fs_model::neuron::FsRom::fire`, one `t`): spike when `v >= T(t)`, and
//! then `v - H(t)`, saturating to the membrane width.

use crate::saturating_adder::SaturatingAdder;
use fs_model::fixed::SignedRange;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct FireStep {
    pub membrane: Signal<In, Bits<32>>,
    pub threshold: Signal<In, Bits<32>>,
    pub reset: Signal<In, Bits<32>>,
    pub spike: Signal<Out, Bit>,
    pub next_membrane: Signal<Out, Bits<32>>,
    /// High when the reset saturated (the golden model counts these).
    pub saturated: Signal<Out, Bit>,
    subtractor: SaturatingAdder,
    sign_flip: Constant<Bits<32>>,
}

impl FireStep {
    pub fn new(membrane: SignedRange) -> Self {
        FireStep {
            membrane: Default::default(),
            threshold: Default::default(),
            reset: Default::default(),
            spike: Default::default(),
            next_membrane: Default::default(),
            saturated: Default::default(),
            subtractor: SaturatingAdder::new(membrane),
            sign_flip: Constant::new(Bits::<32>::from(1u64 << 31)),
        }
    }
}

impl Logic for FireStep {
    #[hdl_gen]
    fn update(&mut self) {
        self.subtractor.a.next = self.membrane.val();
        self.subtractor.b.next = self.reset.val();
        self.subtractor.subtract.next = true;
        // `fs_model::neuron::fires`: v >= T, as a signed compare (sign bits flipped).
        self.spike.next = (self.membrane.val() ^ self.sign_flip.val())
            >= (self.threshold.val() ^ self.sign_flip.val());
        self.next_membrane.next = self.membrane.val();
        self.saturated.next = false;
        if (self.membrane.val() ^ self.sign_flip.val())
            >= (self.threshold.val() ^ self.sign_flip.val())
        {
            self.next_membrane.next = self.subtractor.sum.val();
            self.saturated.next = self.subtractor.saturated.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{from_bits32, prepare, settle, to_bits32};
    use fs_model::neuron::FsRom;
    use proptest::prelude::*;

    /// Runs a whole neuron through the step block, one step per evaluation.
    fn fire(uut: &mut FireStep, rom: &FsRom, v0: i64) -> (u32, i64, u64) {
        let mut v = v0;
        let mut mask = 0;
        let mut saturations = 0;
        for t in 0..rom.k() {
            uut.membrane.next = to_bits32(v);
            uut.threshold.next = to_bits32(rom.t[t]);
            uut.reset.next = to_bits32(rom.h[t]);
            settle(uut);
            if uut.spike.val() {
                mask |= 1 << t;
            }
            saturations += uut.saturated.val() as u64;
            v = from_bits32(uut.next_membrane.val());
        }
        (mask, v, saturations)
    }

    fn edgy(r: SignedRange) -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(r.min),
            Just(r.max),
            Just(0i64),
            -2i64..=2,
            r.min..=r.max
        ]
    }

    proptest! {
        #[test]
        fn neuron_matches_the_golden_fs_rom(
            bits in 8u32..=32,
            k in 1usize..=12,
            seeds in proptest::collection::vec((any::<u64>(), any::<u64>()), 12),
            v0 in any::<u64>(),
        ) {
            let m = SignedRange::of_bits(bits);
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
            let mut uut = FireStep::new(m);
            prepare(&mut uut);
            let mut golden_saturations = 0;
            let golden = rom.fire(v0, m, &mut golden_saturations);
            let (mask, _, saturations) = fire(&mut uut, &rom, v0);
            prop_assert_eq!(mask, golden);
            prop_assert_eq!(saturations, golden_saturations);
        }

        #[test]
        fn relu_rom_is_a_converter(v in edgy(SignedRange::of_bits(20))) {
            let m = SignedRange::of_bits(20);
            let rom = FsRom { t: vec![64, 32, 16, 8], h: vec![64, 32, 16, 8], d: vec![8, 4, 2, 1] };
            let mut uut = FireStep::new(m);
            prepare(&mut uut);
            let (mask, _, _) = fire(&mut uut, &rom, v);
            prop_assert_eq!(rom.output_of(mask), v.div_euclid(8).clamp(0, 15));
        }
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = FireStep::new(SignedRange::of_bits(23));
        prepare(&mut uut);
        yosys_validate("fs_hdl_fire_step", &generate_verilog(&uut)).unwrap();
    }
}
