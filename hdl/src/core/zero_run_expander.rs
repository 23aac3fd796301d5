//! Pixel words (`run_zeros` zero pixels, then `run_value`: the accelerator's pixel port) to one
//! pixel per cycle, for the first layer that is computed from the pixels themselves
//! ([`crate::core::pixel_conv_layer`]) and so needs every pixel, zeros included.
//!
//! A word stays on the input while its zeros go out; its value goes out last and takes the
//! word. A counter of the zeros sent is the only state, so a dense stream (no zeros) passes
//! at one pixel per cycle with no bubble.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct ZeroRunExpander {
    pub clock: Signal<In, Clock>,
    pub run_valid: Signal<In, Bit>,
    pub run_zeros: Signal<In, Bits<16>>,
    pub run_value: Signal<In, Bits<16>>,
    pub run_ready: Signal<Out, Bit>,
    pub pixel_valid: Signal<Out, Bit>,
    pub pixel_value: Signal<Out, Bits<16>>,
    pub pixel_ready: Signal<In, Bit>,
    /// Zero pixels of the current word already sent.
    zeros_sent: DFF<Bits<16>>,
    /// The word's zeros are out: its value is the pixel now.
    at_value: Signal<Local, Bit>,
    value: Signal<Local, Bits<16>>,
}

impl Logic for ZeroRunExpander {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, zeros_sent);
        self.at_value.next = self.zeros_sent.q.val() == self.run_zeros.val();
        self.value.next = 0.into();
        if self.at_value.val() {
            self.value.next = self.run_value.val();
        }
        self.pixel_valid.next = self.run_valid.val();
        self.pixel_value.next = self.value.val();
        self.run_ready.next = self.pixel_ready.val() & self.at_value.val();
        if self.run_valid.val() & self.pixel_ready.val() {
            self.zeros_sent.d.next = self.zeros_sent.q.val() + 1;
            if self.at_value.val() {
                self.zeros_sent.d.next = 0.into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::accelerator::pixel_words;
    use crate::sim::{prepare, settle};
    use proptest::prelude::*;

    /// Feeds `pixels` as words with the pixel side ready on the cycles `ready` says; returns
    /// the pixels that came out.
    fn expand(pixels: &[u8], stall: u64) -> Vec<u8> {
        let words = pixel_words(pixels);
        let mut uut = ZeroRunExpander::default();
        prepare(&mut uut);
        let (mut next, mut out) = (0, Vec::new());
        for cycle in 0..(pixels.len() as u64 + 2) * (stall + 2) {
            let word = words.get(next);
            uut.run_valid.next = word.is_some();
            let (zeros, value) = word.copied().unwrap_or_default();
            uut.run_zeros.next = u64::from(zeros).into();
            uut.run_value.next = u64::from(value).into();
            uut.pixel_ready.next = stall == 0 || cycle % (stall + 1) != 0;
            settle(&mut uut);
            if uut.pixel_valid.val() && uut.pixel_ready.val() {
                out.push(uut.pixel_value.val().to_u64() as u8);
            }
            if uut.run_valid.val() && uut.run_ready.val() {
                next += 1;
            }
            uut.clock.next = true.into();
            settle(&mut uut);
            uut.clock.next = false.into();
            settle(&mut uut);
        }
        out
    }

    #[test]
    fn a_digit_comes_back_pixel_for_pixel() {
        let mut image = vec![0u8; 64];
        image[9] = 200;
        image[10] = 3;
        image[40] = 255;
        assert_eq!(pixel_words(&image).len(), 4); // the last word closes with zeros
        assert_eq!(expand(&image, 0), image);
        assert_eq!(expand(&image, 2), image);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_image_comes_back_under_any_stall(
            pixels in prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 1..80),
            stall in 0u64..3,
        ) {
            prop_assert_eq!(expand(&pixels, stall), pixels);
        }
    }
}
