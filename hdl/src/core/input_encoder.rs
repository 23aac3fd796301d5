//! The input layer: pixels in, their FS spikes out as address events in the golden order
//! (step-major: the most significant bit plane first, ascending pixel index within a step).
//!
//! While an image loads, the index of every pixel whose bit `b` is set is appended to plane
//! list `b` (one block RAM per bit, all written in the same cycle). Pixels come as words of a
//! zero run and a pixel (`pixel_zeros` zero pixels, then `pixel_value`), one word per cycle:
//! zero pixels send nothing, so an image loads in as many cycles as it has words (152 on average
//! for an MNIST digit instead of 784), and a dense stream is the words with no zeros. The
//! lists are then drained MSB plane first at one event per cycle, with no scanning of zero
//! pixels, and an end-of-image marker closes the image. There are two sets of lists: image
//! n+1 loads into one while image n drains from the other.
//!
//! The read address runs one cycle ahead (`next_pointer`), so the plane memory's registered
//! output is the current event even under back-pressure. A drain starts with one empty
//! "priming" plane, so that the image's last writes have landed before the first read (the
//! property test of random networks found that hazard).
//!
//! Events leave through an output stage: every plane memory's word goes into a register of its
//! own (no logic between a block RAM's slow output and a flip-flop), with the event's plane,
//! set and flags; the plane multiplexer works from those registers. The stage is loaded
//! whenever it is empty or its event is being taken, so the drain still moves one event per
//! cycle and stops exactly when the consumer does; events leave one cycle later than they
//! are read, in the same order.

use crate::core::bram::Bram;
use fs_model::fixed::bits_for_magnitude;
use fs_model::network::InputEncoding;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct InputEncoder {
    pub clock: Signal<In, Clock>,
    /// Pixel words of an image in order (`pixel_zeros` zero pixels, then `pixel_value`; a
    /// word never runs past the image's last pixel); taken when `pixel_ready` is high.
    pub pixel_valid: Signal<In, Bit>,
    pub pixel_zeros: Signal<In, Bits<16>>,
    pub pixel_value: Signal<In, Bits<16>>,
    pub pixel_ready: Signal<Out, Bit>,
    /// High in the cycle an image's last pixel is taken.
    pub image_loaded: Signal<Out, Bit>,
    /// Spike `(event_index, event_step)`, or with `event_last` the end of the image.
    pub event_valid: Signal<Out, Bit>,
    pub event_index: Signal<Out, Bits<16>>,
    pub event_step: Signal<Out, Bits<5>>,
    pub event_last: Signal<Out, Bit>,
    pub event_ready: Signal<In, Bit>,
    planes_a: Vec<Bram<16>>,
    planes_b: Vec<Bram<16>>,
    counts_a: Vec<DFF<Bits<16>>>,
    counts_b: Vec<DFF<Bits<16>>>,
    plane_index: Vec<Constant<Bits<5>>>,
    last_pixel: Constant<Bits<16>>,
    top_plane: Constant<Bits<5>>,
    priming_plane: Constant<Bits<5>>,
    /// A set holds a whole image waiting to drain (or draining).
    full_a: DFF<Bit>,
    full_b: DFF<Bit>,
    load_set_b: DFF<Bit>,
    drain_set_b: DFF<Bit>,
    draining: DFF<Bit>,
    load_index: DFF<Bits<16>>,
    /// With [`InputEncoder::with_pixels_left`] (else empty): `last_pixel - load_index`, the
    /// zero run that ends the image, so its test is a compare with the word's run, not one
    /// after an adder. Kept XOR `last_pixel`, so that a register's configuration value 0
    /// means the first pixel.
    pixels_left: Vec<DFF<Bits<16>>>,
    /// The index of the word's pixel: past its zero run.
    pixel_index: Signal<Local, Bits<16>>,
    plane: DFF<Bits<5>>,
    pointer: DFF<Bits<16>>,
    next_pointer: Signal<Local, Bits<16>>,
    /// The length of the current plane's list (registered, so the drain's handshake is
    /// shallow logic), and of the plane below it.
    plane_count: DFF<Bits<16>>,
    /// `pointer != plane_count` (in the bits a pixel index has), kept as a flag so the read
    /// address does not wait for the compare; and that compare for the pointer's next value.
    more: DFF<Bit>,
    more_after: Signal<Local, Bit>,
    count_below: Signal<Local, Bits<16>>,
    plane_above: Vec<Constant<Bits<5>>>,
    index_mask: Constant<Bits<16>>,
    plane_data: Signal<Local, Bits<16>>,
    /// The drain moves on: the output stage is empty or its event is being taken.
    advance: Signal<Local, Bit>,
    /// The event the drain offers this cycle (with the plane memories' words).
    drain_valid: Signal<Local, Bit>,
    drain_last: Signal<Local, Bit>,
    /// The output stage: the plane memories' words, and the event's plane, set and flags.
    words_a: Vec<DFF<Bits<16>>>,
    words_b: Vec<DFF<Bits<16>>>,
    out_valid: DFF<Bit>,
    out_last: DFF<Bit>,
    out_plane: DFF<Bits<5>>,
    out_set_b: DFF<Bit>,
    _bits: usize,
    _adding: usize,
    _left: usize,
}

impl InputEncoder {
    pub fn new(input: &InputEncoding) -> Self {
        let bits = input.bits as usize;
        let pixels = input.size();
        // Pixel indices, kept non-negative by the memory's sign extension.
        let width = bits_for_magnitude(pixels as u64 - 1) as usize;
        let lists = || {
            (0..bits)
                .map(|_| Bram::new(width, &vec![0; pixels]))
                .collect()
        };
        let counts = || (0..bits).map(|_| Default::default()).collect();
        InputEncoder {
            clock: Default::default(),
            pixel_valid: Default::default(),
            pixel_zeros: Default::default(),
            pixel_value: Default::default(),
            pixel_ready: Default::default(),
            image_loaded: Default::default(),
            event_valid: Default::default(),
            event_index: Default::default(),
            event_step: Default::default(),
            event_last: Default::default(),
            event_ready: Default::default(),
            planes_a: lists(),
            planes_b: lists(),
            counts_a: counts(),
            counts_b: counts(),
            plane_index: (0..bits)
                .map(|b| Constant::new((b as u64).into()))
                .collect(),
            last_pixel: Constant::new(((pixels - 1) as u64).into()),
            top_plane: Constant::new(((bits - 1) as u64).into()),
            priming_plane: Constant::new((bits as u64).into()),
            full_a: Default::default(),
            full_b: Default::default(),
            load_set_b: Default::default(),
            drain_set_b: Default::default(),
            draining: Default::default(),
            load_index: Default::default(),
            pixels_left: Vec::new(),
            pixel_index: Default::default(),
            plane: Default::default(),
            pointer: Default::default(),
            next_pointer: Default::default(),
            plane_count: Default::default(),
            more: Default::default(),
            more_after: Default::default(),
            count_below: Default::default(),
            index_mask: Constant::new(((1u64 << bits_for_magnitude(pixels as u64)) - 1).into()),
            plane_above: (0..bits)
                .map(|b| Constant::new((b as u64 + 1).into()))
                .collect(),
            plane_data: Default::default(),
            advance: Default::default(),
            drain_valid: Default::default(),
            drain_last: Default::default(),
            words_a: counts(),
            words_b: counts(),
            out_valid: Default::default(),
            out_last: Default::default(),
            out_plane: Default::default(),
            out_set_b: Default::default(),
            _bits: bits,
            _adding: 1,
            _left: 0,
        }
    }

    /// Tests for an image's last word against a register of the pixels left, not the sum
    /// of the pixel counter and the word's zero run: 16 flip-flops and an adder more, and a
    /// shorter path into everything an image's end switches (the load set, the full flags,
    /// the image counter), which the larger designs need to close timing.
    pub fn with_pixels_left(mut self) -> Self {
        self.pixels_left = vec![Default::default()];
        self._adding = 0;
        self._left = 1;
        self
    }
}

impl Logic for InputEncoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            full_a,
            full_b,
            load_set_b,
            drain_set_b,
            draining,
            load_index,
            plane,
            pointer,
            plane_count,
            more,
            out_valid,
            out_last,
            out_plane,
            out_set_b
        );
        self.pixel_index.next = self.load_index.q.val() + self.pixel_zeros.val();
        for _w in 0..self._left {
            self.pixels_left[0].clock.next = self.clock.val();
            self.pixels_left[0].d.next = self.pixels_left[0].q.val();
        }
        for b in 0..self._bits {
            self.planes_a[b].clock.next = self.clock.val();
            self.planes_b[b].clock.next = self.clock.val();
            self.counts_a[b].clock.next = self.clock.val();
            self.counts_b[b].clock.next = self.clock.val();
            self.counts_a[b].d.next = self.counts_a[b].q.val();
            self.counts_b[b].d.next = self.counts_b[b].q.val();
            self.words_a[b].clock.next = self.clock.val();
            self.words_b[b].clock.next = self.clock.val();
            self.words_a[b].d.next = self.words_a[b].q.val();
            self.words_b[b].d.next = self.words_b[b].q.val();
            self.planes_a[b].write_enable.next = false;
            self.planes_a[b].write_address.next = self.counts_a[b].q.val();
            self.planes_a[b].write_data.next = self.pixel_index.val();
            self.planes_b[b].write_enable.next = false;
            self.planes_b[b].write_address.next = self.counts_b[b].q.val();
            self.planes_b[b].write_data.next = self.pixel_index.val();
        }

        // Load into the set that is not full.
        self.pixel_ready.next = !self.full_a.q.val();
        if self.load_set_b.q.val() {
            self.pixel_ready.next = !self.full_b.q.val();
        }
        self.image_loaded.next = false;
        if self.pixel_valid.val() & self.pixel_ready.val() {
            for b in 0..self._bits {
                if self.pixel_value.val().get_bit(b) {
                    if self.load_set_b.q.val() {
                        self.planes_b[b].write_enable.next = true;
                        self.counts_b[b].d.next = self.counts_b[b].q.val() + 1;
                    } else {
                        self.planes_a[b].write_enable.next = true;
                        self.counts_a[b].d.next = self.counts_a[b].q.val() + 1;
                    }
                }
            }
            for _w in 0..self._adding {
                self.load_index.d.next = self.pixel_index.val() + 1;
                if self.pixel_index.val() == self.last_pixel.val() {
                    self.image_loaded.next = true;
                    self.load_index.d.next = 0.into();
                    self.load_set_b.d.next = !self.load_set_b.q.val();
                    if self.load_set_b.q.val() {
                        self.full_b.d.next = true;
                    } else {
                        self.full_a.d.next = true;
                    }
                }
            }
            // The same from the pixels left (`L - !Z` is `L + Z + 1`: one carry chain).
            for _w in 0..self._left {
                self.load_index.d.next = self.load_index.q.val() - !self.pixel_zeros.val();
                self.pixels_left[0].d.next = ((self.pixels_left[0].q.val()
                    ^ self.last_pixel.val())
                    + !self.pixel_zeros.val())
                    ^ self.last_pixel.val();
                if self.pixel_zeros.val() == (self.pixels_left[0].q.val() ^ self.last_pixel.val()) {
                    self.image_loaded.next = true;
                    self.load_index.d.next = 0.into();
                    self.pixels_left[0].d.next = 0.into();
                    self.load_set_b.d.next = !self.load_set_b.q.val();
                    if self.load_set_b.q.val() {
                        self.full_b.d.next = true;
                    } else {
                        self.full_a.d.next = true;
                    }
                }
            }
        }

        // The output stage: its plane's word of its set.
        self.advance.next = !self.out_valid.q.val() | self.event_ready.val();
        self.plane_data.next = 0.into();
        for b in 0..self._bits {
            if self.out_plane.q.val() == self.plane_index[b].val() {
                self.plane_data.next = self.words_a[b].q.val();
                if self.out_set_b.q.val() {
                    self.plane_data.next = self.words_b[b].q.val();
                }
            }
        }
        self.event_valid.next = self.out_valid.q.val();
        self.event_last.next = self.out_last.q.val();
        self.event_index.next = self.plane_data.val();
        self.event_step.next = self.top_plane.val() - self.out_plane.q.val();

        // Drain the other set: the current plane's head, and the next plane's length.
        self.count_below.next = 0.into();
        for b in 0..self._bits {
            if self.plane.q.val() == self.plane_above[b].val() {
                self.count_below.next = self.counts_a[b].q.val();
                if self.drain_set_b.q.val() {
                    self.count_below.next = self.counts_b[b].q.val();
                }
            }
        }
        self.drain_valid.next = false;
        self.drain_last.next = false;
        // The pointer matters only while a plane has events left (`more`, which implies
        // `draining`): else it is 0, ready for the next plane, so the read address is a gate
        // after the handshake, not the whole state machine.
        self.next_pointer.next = 0.into();
        if self.more.q.val() {
            self.next_pointer.next = self.pointer.q.val();
            if self.advance.val() {
                self.next_pointer.next = self.pointer.q.val() + 1;
            }
        }
        self.more_after.next =
            (((self.pointer.q.val() + 1) ^ self.plane_count.q.val()) & self.index_mask.val()).any();
        if !self.draining.q.val() {
            if (self.full_a.q.val() & !self.drain_set_b.q.val())
                | (self.full_b.q.val() & self.drain_set_b.q.val())
            {
                self.draining.d.next = true;
                self.plane.d.next = self.priming_plane.val();
                self.plane_count.d.next = 0.into();
                self.more.d.next = false;
            }
        } else if self.more.q.val() {
            // The pointer counts up to the list length: an equality (no carry chain) of the
            // bits a pixel index has.
            self.drain_valid.next = true;
            if self.advance.val() {
                self.more.d.next = self.more_after.val();
            }
        } else if !self.plane.q.val().any() {
            // Every plane drained: the end-of-image marker frees the set.
            self.drain_valid.next = true;
            self.drain_last.next = true;
            if self.advance.val() {
                self.draining.d.next = false;
                self.drain_set_b.d.next = !self.drain_set_b.q.val();
                for b in 0..self._bits {
                    if self.drain_set_b.q.val() {
                        self.counts_b[b].d.next = 0.into();
                    } else {
                        self.counts_a[b].d.next = 0.into();
                    }
                }
                if self.drain_set_b.q.val() {
                    self.full_b.d.next = false;
                } else {
                    self.full_a.d.next = false;
                }
            }
        } else {
            self.plane.d.next = self.plane.q.val() - 1;
            self.plane_count.d.next = self.count_below.val();
            self.more.d.next = (self.count_below.val() & self.index_mask.val()).any();
        }
        self.pointer.d.next = self.next_pointer.val();
        if self.advance.val() {
            self.out_valid.d.next = self.drain_valid.val();
            self.out_last.d.next = self.drain_last.val();
            self.out_plane.d.next = self.plane.q.val();
            self.out_set_b.d.next = self.drain_set_b.q.val();
            for b in 0..self._bits {
                self.words_a[b].d.next = self.planes_a[b].read_data.val();
                self.words_b[b].d.next = self.planes_b[b].read_data.val();
            }
        }
        for b in 0..self._bits {
            self.planes_a[b].read_address.next = self.next_pointer.val();
            self.planes_b[b].read_address.next = self.next_pointer.val();
        }
    }
}
