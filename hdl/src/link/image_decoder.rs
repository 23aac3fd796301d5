//! Decodes the sparse image code (`crate::protocol::encode_image`: groups `[zeros, count,
//! value_1 .. value_count]`, each `zeros` zero pixels then `count` literal pixels) from a
//! buffer into the accelerator's pixel port, one pixel per cycle while the pixel port takes
//! them (a literal takes two: its byte is read, then sent).
//!
//! `start` decodes the `length` bytes at `base`. A chunk may end anywhere, inside an image or
//! a group: the position in the image and in the group (`phase`) is kept between chunks. A
//! group that runs past an image's last pixel (which the host never sends) pulses
//! `code_error`. `pad` completes a partly fed image with zero pixels and forgets a partly read
//! group, so that a reset leaves the accelerator and the code at an image boundary.

use rust_hdl::prelude::*;

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum DecodeState {
    Idle,
    /// The read of the chunk's first byte is issued.
    Fetch,
    /// A byte of the code arrives (`phase` says which); the next one's read is issued.
    Take,
    /// The group's zero pixels go out.
    Zeros,
    /// A literal pixel goes out.
    Literal,
    /// Zero pixels until the current image ends.
    Pad,
}

/// Which byte of a group the next one is.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum GroupPhase {
    ZeroRun,
    Count,
    Value,
}

#[derive(LogicBlock)]
pub struct ImageDecoder {
    pub clock: Signal<In, Clock>,
    /// Decode the `length` bytes at `base`; taken when not `busy`.
    pub start: Signal<In, Bit>,
    pub base: Signal<In, Bits<16>>,
    pub length: Signal<In, Bits<16>>,
    /// Complete the current image with zeros; taken when not `busy`.
    pub pad: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    /// The buffer's read port (data one cycle after the address).
    pub read_address: Signal<Out, Bits<16>>,
    pub read_data: Signal<In, Bits<8>>,
    pub pixel_valid: Signal<Out, Bit>,
    pub pixel_value: Signal<Out, Bits<16>>,
    pub pixel_ready: Signal<In, Bit>,
    /// High in the cycle an image's last pixel is taken.
    pub image_fed: Signal<Out, Bit>,
    /// High in the cycle a group runs past an image's end.
    pub code_error: Signal<Out, Bit>,
    /// Some pixels of an image have gone out, not all, or a group is partly read.
    pub mid_image: Signal<Out, Bit>,
    state: DFF<DecodeState>,
    phase: DFF<GroupPhase>,
    pointer: DFF<Bits<16>>,
    /// One past the chunk's last byte (`end` is a Verilog keyword).
    chunk_end: DFF<Bits<16>>,
    /// The group's zero pixels and literals still to send.
    zeros: DFF<Bits<8>>,
    literals: DFF<Bits<8>>,
    value: DFF<Bits<8>>,
    pixel: DFF<Bits<16>>,
    last_pixel: Constant<Bits<16>>,
    taken: Signal<Local, Bit>,
    image_end: Signal<Local, Bit>,
    /// The chunk has another byte (its read is issued when this is used).
    more: Signal<Local, Bit>,
    values_left: Signal<Local, Bit>,
    /// The pixel going out is not the group's last.
    group_goes_on: Signal<Local, Bit>,
    emit_value: Signal<Local, Bits<16>>,
}

impl ImageDecoder {
    /// A decoder for images of `pixels` pixels.
    pub fn new(pixels: usize) -> Self {
        assert!((1..=65536).contains(&pixels));
        ImageDecoder {
            clock: Default::default(),
            start: Default::default(),
            base: Default::default(),
            length: Default::default(),
            pad: Default::default(),
            busy: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            pixel_valid: Default::default(),
            pixel_value: Default::default(),
            pixel_ready: Default::default(),
            image_fed: Default::default(),
            code_error: Default::default(),
            mid_image: Default::default(),
            state: Default::default(),
            phase: Default::default(),
            pointer: Default::default(),
            chunk_end: Default::default(),
            zeros: Default::default(),
            literals: Default::default(),
            value: Default::default(),
            pixel: Default::default(),
            last_pixel: Constant::new((pixels as u64 - 1).into()),
            taken: Default::default(),
            image_end: Default::default(),
            more: Default::default(),
            values_left: Default::default(),
            group_goes_on: Default::default(),
            emit_value: Default::default(),
        }
    }
}

impl Logic for ImageDecoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, phase, pointer, chunk_end, zeros, literals, value, pixel
        );
        self.busy.next = self.state.q.val() != DecodeState::Idle;
        // A count of 0 leaves `phase` at `Value` with no literals left: the next byte starts
        // a group (the phase is not chosen by the count's value, which comes straight from the
        // buffer's slow output).
        self.values_left.next =
            (self.phase.q.val() == GroupPhase::Value) & (self.literals.q.val() != 0);
        self.mid_image.next = (self.pixel.q.val() != 0)
            | (self.phase.q.val() == GroupPhase::Count)
            | self.values_left.val();
        self.read_address.next = self.pointer.q.val();
        self.more.next = self.pointer.q.val() != self.chunk_end.q.val();
        self.pixel_valid.next = (self.state.q.val() == DecodeState::Zeros)
            | (self.state.q.val() == DecodeState::Literal)
            | (self.state.q.val() == DecodeState::Pad);
        // Written once (see `crate::link::device` on iverilog): the literal, or 0.
        self.emit_value.next = 0.into();
        if self.state.q.val() == DecodeState::Literal {
            self.emit_value.next = bit_cast::<16, 8>(self.value.q.val());
        }
        self.pixel_value.next = self.emit_value.val();
        self.taken.next = self.pixel_valid.val() & self.pixel_ready.val();
        self.image_end.next = self.pixel.q.val() == self.last_pixel.val();
        self.image_fed.next = self.taken.val() & self.image_end.val();
        self.group_goes_on.next = false;
        if self.state.q.val() == DecodeState::Zeros {
            self.group_goes_on.next = (self.zeros.q.val() != 1) | (self.literals.q.val() != 0);
        }
        if self.state.q.val() == DecodeState::Literal {
            self.group_goes_on.next = self.literals.q.val() != 0;
        }
        self.code_error.next = self.image_fed.val() & self.group_goes_on.val();
        if self.taken.val() {
            self.pixel.d.next = self.pixel.q.val() + 1;
            if self.image_end.val() {
                self.pixel.d.next = 0.into();
            }
        }
        // Wherever the next byte is wanted: its read is issued (`pointer` moves on) and it
        // arrives in `Take`, or the chunk is done and the decoder waits for the next one.
        match self.state.q.val() {
            DecodeState::Idle => {
                if self.start.val() {
                    self.pointer.d.next = self.base.val();
                    self.chunk_end.d.next = self.base.val() + self.length.val();
                    self.state.d.next = DecodeState::Fetch;
                } else if self.pad.val() {
                    self.phase.d.next = GroupPhase::ZeroRun;
                    if self.pixel.q.val() != 0 {
                        self.state.d.next = DecodeState::Pad;
                    }
                }
            }
            DecodeState::Fetch => {
                self.state.d.next = DecodeState::Idle;
                if self.more.val() {
                    self.pointer.d.next = self.pointer.q.val() + 1;
                    self.state.d.next = DecodeState::Take;
                }
            }
            DecodeState::Take => {
                // The next byte by default; the zero run and a literal go out first.
                self.state.d.next = DecodeState::Idle;
                if self.more.val() {
                    self.pointer.d.next = self.pointer.q.val() + 1;
                    self.state.d.next = DecodeState::Take;
                }
                match self.phase.q.val() {
                    GroupPhase::ZeroRun => {
                        self.zeros.d.next = self.read_data.val();
                        self.phase.d.next = GroupPhase::Count;
                    }
                    GroupPhase::Count => {
                        self.literals.d.next = self.read_data.val();
                        self.phase.d.next = GroupPhase::Value;
                        if self.zeros.q.val() != 0 {
                            self.pointer.d.next = self.pointer.q.val();
                            self.state.d.next = DecodeState::Zeros;
                        }
                    }
                    GroupPhase::Value => {
                        if self.values_left.val() {
                            self.value.d.next = self.read_data.val();
                            self.literals.d.next = self.literals.q.val() - 1;
                            self.pointer.d.next = self.pointer.q.val();
                            self.state.d.next = DecodeState::Literal;
                        } else {
                            // (The group had no literals: this byte is the next one's zeros.)
                            self.zeros.d.next = self.read_data.val();
                            self.phase.d.next = GroupPhase::Count;
                        }
                    }
                }
            }
            DecodeState::Zeros => {
                if self.taken.val() {
                    self.zeros.d.next = self.zeros.q.val() - 1;
                    if self.zeros.q.val() == 1 {
                        self.state.d.next = DecodeState::Idle;
                        if self.more.val() {
                            self.pointer.d.next = self.pointer.q.val() + 1;
                            self.state.d.next = DecodeState::Take;
                        }
                    }
                }
            }
            DecodeState::Literal => {
                if self.taken.val() {
                    if self.literals.q.val() == 0 {
                        self.phase.d.next = GroupPhase::ZeroRun;
                    }
                    self.state.d.next = DecodeState::Idle;
                    if self.more.val() {
                        self.pointer.d.next = self.pointer.q.val() + 1;
                        self.state.d.next = DecodeState::Take;
                    }
                }
            }
            DecodeState::Pad => {
                if self.image_fed.val() {
                    self.state.d.next = DecodeState::Idle;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_image;
    use crate::sim::{prepare, settle};
    use proptest::prelude::*;

    /// Runs chunks of `code` (stored in a simulated buffer) through the decoder with the pixel
    /// port ready on the cycles `ready` says; returns the pixels, images fed and code errors.
    fn decode(
        uut: &mut ImageDecoder,
        code: &[u8],
        chunk: usize,
        stall: u64,
        pad: bool,
    ) -> (Vec<u8>, usize, usize) {
        let mut buffer = vec![0u8; 65536];
        buffer[100..100 + code.len()].copy_from_slice(code);
        let (mut pixels, mut fed, mut errors) = (Vec::new(), 0, 0);
        let mut next = 0;
        let mut read = 0u8;
        let mut padded = !pad;
        for cycle in 0..(code.len() as u64 * 300 + 3000) {
            let idle = !uut.busy.val();
            let more = next < code.len();
            uut.start.next = idle && more;
            uut.base.next = (100 + next as u64).into();
            let n = chunk.min(code.len().saturating_sub(next));
            uut.length.next = (n as u64).into();
            uut.pad.next = idle && !more && !padded;
            uut.read_data.next = (read as u64).into();
            uut.pixel_ready.next = stall == 0 || cycle % (stall + 1) != 0;
            settle(uut);
            if uut.start.val() && !uut.busy.val() {
                next += n;
            }
            if uut.pad.val() && !uut.busy.val() {
                padded = true;
            }
            if uut.pixel_valid.val() && uut.pixel_ready.val() {
                pixels.push(uut.pixel_value.val().index() as u8);
            }
            fed += uut.image_fed.val() as usize;
            errors += uut.code_error.val() as usize;
            read = buffer[uut.read_address.val().index()];
            uut.clock.next = true.into();
            settle(uut);
            uut.clock.next = false.into();
            settle(uut);
        }
        assert!(!uut.busy.val());
        (pixels, fed, errors)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn decodes_what_the_host_encodes(
            images in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 37..=37),
                1..4,
            ),
            chunk in 1usize..20,
            stall in 0u64..3,
        ) {
            let mut code = Vec::new();
            for image in &images {
                code.extend(encode_image(image));
            }
            let mut uut = ImageDecoder::new(37);
            prepare(&mut uut);
            let (pixels, fed, errors) = decode(&mut uut, &code, chunk, stall, false);
            prop_assert_eq!(pixels, images.concat());
            prop_assert_eq!((fed, errors), (images.len(), 0));
        }
    }

    #[test]
    fn a_group_past_the_image_end_is_an_error_and_pad_completes_the_image() {
        // 10-pixel images: 8 zeros and 3 literals cross the first image's end.
        let mut uut = ImageDecoder::new(10);
        prepare(&mut uut);
        let (pixels, fed, errors) = decode(&mut uut, &[8, 3, 5, 6, 7], 2, 0, true);
        assert_eq!((fed, errors), (2, 1));
        assert_eq!(pixels.len(), 20, "the second image was padded with zeros");
        assert_eq!(&pixels[8..12], &[5, 6, 7, 0]);
    }

    #[test]
    fn pad_forgets_a_partly_read_group() {
        // The chunk ends after a group's zero run byte: the decoder is mid-group, and after
        // the pad a whole image decodes from a fresh group.
        let mut uut = ImageDecoder::new(4);
        prepare(&mut uut);
        let (pixels, fed, errors) = decode(&mut uut, &[1], 1, 0, true);
        assert_eq!((pixels.len(), fed, errors), (0, 0, 0));
        let (pixels, fed, errors) = decode(&mut uut, &[1, 2, 9, 8, 1, 0], 6, 0, false);
        assert_eq!((pixels, fed, errors), (vec![0, 9, 8, 0], 1, 0));
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = ImageDecoder::new(784);
        prepare(&mut uut);
        yosys_validate("fs_hdl_image_decoder", &generate_verilog(&uut)).unwrap();
    }
}
