//! The device: the wire protocol's command unit around an [`Accelerator`], with byte ports for
//! a link (the UART of a board top, or the simulated device's pseudo-terminal).
//!
//! Bytes go through a [`FrameReceiver`] into one half of a receive buffer; each checked frame
//! is executed, answered through a [`FrameSender`], and only then released, so the device
//! handles one request at a time (the host waits for each response). Requests
//! (`crate::protocol`, `docs/protocol.md`):
//! - identify: the design's identity words and the loaded model's fingerprint;
//! - classify: the payload (sparse image code) is handed to the [`ImageDecoder`], which feeds
//!   the accelerator from that buffer half in the background while the other half receives
//!   the next request; a classify while the decoder is still busy is answered `Busy`, and one
//!   repeating the last classify's sequence number (a retry whose answer was lost) is answered
//!   without feeding the images twice;
//! - read results: the next image's logits and class, taken from the accelerator's result
//!   port as they go out, after the count of results sent before it and a flag saying
//!   whether the decoder is still busy; the request waits (up to 65,535 cycles) until a
//!   result is ready or the decoder has finished (with a payload: until a result is ready,
//!   or no image is left in the accelerator);
//! - load: weights, state or the model fingerprint, written through the accelerator's load
//!   port while no image is in flight (else `Busy`); the whole request is checked first;
//! - status: every accelerator and device counter;
//! - reset: finishes the images in flight (the decoder completes a partial image with zeros),
//!   drops their results, clears the counters and the retry memory.
//!
//! A bad frame gets an error response and the receiver hunts for the next one.

use crate::core::accelerator::{Accelerator, Counter, HwConfig};
use crate::core::bram::Bram;
use crate::link::frame_receiver::FrameReceiver;
use crate::link::frame_sender::FrameSender;
use crate::link::image_decoder::ImageDecoder;
use crate::protocol::{DEVICE_MAX_PAYLOAD, DeviceCounter, ErrorCode, Status, identity};
use anyhow::Result;
use fs_model::network::Model;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum UnitState {
    /// Waiting for a frame.
    Wait,
    /// A load request: its header is being read, its end address summed, the request
    /// checked, then its words written.
    LoadHeader,
    LoadSum,
    LoadCheck,
    LoadVerdict,
    LoadWords,
    /// A read-results request waits (a bounded time) for a result or for the decoder to
    /// finish, so that the host neither polls nor sends images that would be refused.
    ResultWait,
    /// A reset: images in flight finish, their results are dropped.
    Drain,
    /// The response starts, then goes out.
    RespondStart,
    Respond,
}

/// What the response's payload words are.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum Payload {
    Empty,
    Error,
    Identity,
    Status,
    Result,
}

#[derive(LogicBlock)]
pub struct Device {
    pub clock: Signal<In, Clock>,
    /// Bytes from the link, taken when `rx_ready` (a byte the link could not deliver pulses
    /// `rx_lost`, which is counted).
    pub rx_valid: Signal<In, Bit>,
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_ready: Signal<Out, Bit>,
    pub rx_lost: Signal<In, Bit>,
    /// Bytes to the link.
    pub tx_valid: Signal<Out, Bit>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_ready: Signal<In, Bit>,
    /// The state of the command unit, for a board's LEDs: a request is waiting, being executed
    /// or answered; images are being fed.
    pub active: Signal<Out, Bit>,
    pub feeding: Signal<Out, Bit>,
    /// Images are in the accelerator and none of their results is waiting at its port (a
    /// simulation runs the clock while this is high).
    pub computing: Signal<Out, Bit>,
    pub receiver: FrameReceiver,
    pub sender: FrameSender,
    pub decoder: ImageDecoder,
    pub buffer: Bram<8>,
    pub accelerator: Accelerator,
    state: DFF<UnitState>,
    payload: DFF<Payload>,
    /// The buffer half the receiver writes (the other may be feeding images).
    rx_half: DFF<Bit>,
    response_command: DFF<Bits<8>>,
    response_length: DFF<Bits<16>>,
    error_code: DFF<Bits<8>>,
    /// The last classify request's sequence number, while a retry of it is recognised.
    classify_sequence: DFF<Bits<8>>,
    classify_seen: DFF<Bit>,
    /// The payload word going out, the byte in it, and the word's remaining bytes.
    word: DFF<Bits<16>>,
    word_byte: DFF<Bits<2>>,
    /// Cycles a read-results request has waited.
    /// (`wait` is a Verilog keyword.)
    waited: DFF<Bits<16>>,
    wait_for_result: DFF<Bit>,
    word_rest: DFF<Bits<32>>,
    word_value: Signal<Local, Bits<32>>,
    word_ready: Signal<Local, Bit>,
    payload_taken: Signal<Local, Bit>,
    /// Load requests: the payload byte to read next, the last read's validity, the header
    /// (six bytes, the first lowest), the word being assembled and where it goes.
    load_offset: DFF<Bits<16>>,
    load_fetched: DFF<Bit>,
    load_header: DFF<Bits<48>>,
    load_word: DFF<Bits<32>>,
    load_byte: DFF<Bits<2>>,
    load_address: DFF<Bits<16>>,
    load_write: DFF<Bit>,
    /// The load's checks, decided a cycle before they are acted on (at 100 MHz the
    /// length -> word count -> depth compare -> refusal path does not fit one cycle).
    load_bad: DFF<Bit>,
    /// The error code of a refused request (0: none).
    refusal: Signal<Local, Bits<8>>,
    /// The words a load request carries (its length is steady while the frame is handled).
    load_words: DFF<Bits<16>>,
    /// The load's start address plus its words (registered: the check compares it a cycle
    /// later, in `LoadCheck`).
    load_end: DFF<Bits<17>>,
    load_lane_ok: Signal<Local, Bit>,
    load_end_ok: Signal<Local, Bit>,
    /// The loaded model's fingerprint, kept XOR the built-in one (registers start at 0).
    hash_low: DFF<Bits<32>>,
    hash_high: DFF<Bits<32>>,
    counters: Vec<DFF<Bits<32>>>,
    counter_pulse: Vec<Signal<Local, Bit>>,
    counters_clear: Signal<Local, Bit>,
    buffer_write_address: Signal<Local, Bits<16>>,
    buffer_read_address: Signal<Local, Bits<16>>,
    decoder_start: Signal<Local, Bit>,
    decoder_pad: Signal<Local, Bit>,
    decoder_base: Signal<Local, Bits<16>>,
    result_take: Signal<Local, Bit>,
    load_write_enable: Signal<Local, Bit>,
    /// A word's write into the accelerator, a cycle after it is decided: the enable reaches
    /// every lane's memories across the chip, so it leaves a flip-flop (with the address and
    /// the data it writes).
    load_strobe: DFF<Bit>,
    load_strobe_address: DFF<Bits<16>>,
    load_strobe_data: DFF<Bits<32>>,
    payload_offered: Signal<Local, Bit>,
    payload_byte: Signal<Local, Bits<8>>,
    sender_start: Signal<Local, Bit>,
    frame_take: Signal<Local, Bit>,
    // Constants of the design.
    identity_words: Vec<Constant<Bits<32>>>,
    identity_word_number: Vec<Constant<Bits<16>>>,
    identity_hash_word: Constant<Bits<16>>,
    identity_length: Constant<Bits<16>>,
    built_hash_low: Constant<Bits<32>>,
    built_hash_high: Constant<Bits<32>>,
    status_length: Constant<Bits<16>>,
    accelerator_counters: Constant<Bits<16>>,
    device_counter_word: Vec<Constant<Bits<16>>>,
    result_length: Constant<Bits<16>>,
    wait_limit: Constant<Bits<16>>,
    last_logit_word: Constant<Bits<16>>,
    half_size: Constant<Bits<16>>,
    layer_number: Vec<Constant<Bits<8>>>,
    layer_lanes: Vec<Constant<Bits<16>>>,
    weight_depth: Vec<Constant<Bits<17>>>,
    state_depth: Vec<Constant<Bits<17>>>,
    error_bad_payload: Constant<Bits<8>>,
    error_busy: Constant<Bits<8>>,
    error_unknown: Constant<Bits<8>>,
    _layers: usize,
    _identity_words: usize,
}

impl Device {
    /// The device for `model` built with `config`; a frame whose bytes stop for `gap_limit`
    /// cycles is abandoned.
    pub fn new(model: &Model, config: &HwConfig, gap_limit: u32) -> Result<Self> {
        let accelerator = Accelerator::new(model, config)?;
        let layers = model.layers.len();
        let identity = identity(model, config)?;
        let mut words = identity.words();
        words.truncate(words.len() - 2); // the model hash comes from its register
        let classes = model.layers.last().map_or(0, |l| l.outputs());
        let counters = Counter::count(layers);
        let constant16 = |v: usize| Constant::new((v as u64).into());
        let depths = |f: &dyn Fn(usize) -> usize| -> Vec<Constant<Bits<17>>> {
            (0..layers)
                .map(|l| Constant::new((f(l) as u64).into()))
                .collect()
        };
        let groups = |l: usize| model.layers[l].outputs().div_ceil(config.lanes[l]);
        Ok(Device {
            clock: Default::default(),
            rx_valid: Default::default(),
            rx_data: Default::default(),
            rx_ready: Default::default(),
            rx_lost: Default::default(),
            tx_valid: Default::default(),
            tx_data: Default::default(),
            tx_ready: Default::default(),
            active: Default::default(),
            feeding: Default::default(),
            computing: Default::default(),
            receiver: FrameReceiver::new(DEVICE_MAX_PAYLOAD, gap_limit),
            sender: Default::default(),
            decoder: ImageDecoder::new(model.input().size()),
            buffer: Bram::new(8, &vec![0; 2 * DEVICE_MAX_PAYLOAD]),
            accelerator,
            state: Default::default(),
            payload: Default::default(),
            rx_half: Default::default(),
            response_command: Default::default(),
            response_length: Default::default(),
            error_code: Default::default(),
            classify_sequence: Default::default(),
            classify_seen: Default::default(),
            word: Default::default(),
            word_byte: Default::default(),
            waited: Default::default(),
            wait_for_result: Default::default(),
            word_rest: Default::default(),
            word_value: Default::default(),
            word_ready: Default::default(),
            payload_taken: Default::default(),
            load_offset: Default::default(),
            load_fetched: Default::default(),
            load_header: Default::default(),
            load_word: Default::default(),
            load_byte: Default::default(),
            load_address: Default::default(),
            load_write: Default::default(),
            load_bad: Default::default(),
            refusal: Default::default(),
            load_words: Default::default(),
            load_end: Default::default(),
            load_lane_ok: Default::default(),
            load_end_ok: Default::default(),
            hash_low: Default::default(),
            hash_high: Default::default(),
            counters: DeviceCounter::ALL
                .iter()
                .map(|_| Default::default())
                .collect(),
            counter_pulse: DeviceCounter::ALL
                .iter()
                .map(|_| Default::default())
                .collect(),
            counters_clear: Default::default(),
            buffer_write_address: Default::default(),
            buffer_read_address: Default::default(),
            decoder_start: Default::default(),
            decoder_pad: Default::default(),
            decoder_base: Default::default(),
            result_take: Default::default(),
            load_write_enable: Default::default(),
            load_strobe: Default::default(),
            load_strobe_address: Default::default(),
            load_strobe_data: Default::default(),
            payload_offered: Default::default(),
            payload_byte: Default::default(),
            sender_start: Default::default(),
            frame_take: Default::default(),
            identity_word_number: (0..words.len()).map(constant16).collect(),
            identity_hash_word: constant16(words.len()),
            identity_length: constant16(4 * (words.len() + 2)),
            _identity_words: words.len(),
            identity_words: words
                .iter()
                .map(|&w| Constant::new((w as u64).into()))
                .collect(),
            built_hash_low: Constant::new((identity.model_hash & 0xffff_ffff).into()),
            built_hash_high: Constant::new((identity.model_hash >> 32).into()),
            status_length: constant16(4 * Status::words(counters)),
            accelerator_counters: constant16(counters),
            device_counter_word: (0..DeviceCounter::ALL.len())
                .map(|k| constant16(counters + k))
                .collect(),
            result_length: constant16(8 + 4 * classes + 1),
            last_logit_word: constant16(classes + 1),
            wait_limit: Constant::new(0xffff.into()),
            half_size: constant16(DEVICE_MAX_PAYLOAD),
            layer_number: (0..layers)
                .map(|l| Constant::new((l as u64).into()))
                .collect(),
            layer_lanes: (0..layers).map(|l| constant16(config.lanes[l])).collect(),
            weight_depth: depths(&|l| model.layers[l].inputs() * groups(l)),
            state_depth: depths(&|l| 3 * groups(l)),
            error_bad_payload: Constant::new((ErrorCode::BadPayload as u64).into()),
            error_busy: Constant::new((ErrorCode::Busy as u64).into()),
            error_unknown: Constant::new((ErrorCode::UnknownCommand as u64).into()),
            _layers: layers,
        })
    }
}

impl Logic for Device {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            payload,
            rx_half,
            response_command,
            response_length,
            error_code,
            classify_sequence,
            classify_seen,
            word,
            word_byte,
            waited,
            wait_for_result,
            word_rest,
            load_offset,
            load_fetched,
            load_header,
            load_word,
            load_byte,
            load_address,
            load_write,
            load_bad,
            load_words,
            load_end,
            load_strobe,
            load_strobe_address,
            load_strobe_data,
            hash_low,
            hash_high
        );
        clock!(self, clock, receiver, sender, decoder, buffer, accelerator);
        // Sub-block inputs set in several places are computed in locals and written once at
        // the end: a sub-block input written twice per evaluation makes iverilog's event loop
        // ping-pong forever with a sub-block that also writes its outputs twice.
        self.counters_clear.next = false;
        // Link -> receiver -> buffer (the receiving half).
        self.receiver.byte_valid.next = self.rx_valid.val();
        self.receiver.byte_data.next = self.rx_data.val();
        self.rx_ready.next = self.receiver.byte_ready.val();
        self.buffer.write_enable.next = self.receiver.payload_write_enable.val();
        self.buffer_write_address.next = self.receiver.payload_write_address.val();
        if self.rx_half.q.val() {
            self.buffer_write_address.next =
                self.receiver.payload_write_address.val() + self.half_size.val();
        }
        self.buffer.write_data.next = self.receiver.payload_write_data.val();
        self.frame_take.next = false;
        // Buffer -> decoder -> accelerator; the load reader has the buffer while the decoder
        // is idle.
        self.decoder.read_data.next = self.buffer.read_data.val();
        self.buffer_read_address.next = self.decoder.read_address.val();
        if !self.decoder.busy.val() {
            self.buffer_read_address.next = self.load_offset.q.val();
            if self.rx_half.q.val() {
                self.buffer_read_address.next = self.load_offset.q.val() + self.half_size.val();
            }
        }
        self.decoder_start.next = false;
        self.decoder_pad.next = false;
        self.decoder_base.next = 0.into();
        if self.rx_half.q.val() {
            self.decoder_base.next = self.half_size.val();
        }
        self.decoder.length.next = self.receiver.frame_length.val();
        // The decoder sends every pixel (the link, not the pixel rate, bounds a device).
        self.accelerator.pixel_valid.next = self.decoder.pixel_valid.val();
        self.accelerator.pixel_zeros.next = 0.into();
        self.accelerator.pixel_value.next = self.decoder.pixel_value.val();
        self.decoder.pixel_ready.next = self.accelerator.pixel_ready.val();
        self.result_take.next = false;
        self.counters_clear.next = false;
        self.accelerator.counter_select.next = self.word.q.val().get_bits::<8>(0);
        self.load_write_enable.next = false;
        self.accelerator.load_state.next = self.load_header.q.val().get_bit(8);
        self.accelerator.load_layer.next = self.load_header.q.val().get_bits::<8>(0);
        self.accelerator.load_lane.next = self.load_header.q.val().get_bits::<16>(16);
        self.load_strobe_address.d.next = self.load_address.q.val();
        self.load_strobe_data.d.next = self.load_word.q.val();
        self.accelerator.load_address.next = self.load_strobe_address.q.val();
        self.accelerator.load_data.next = self.load_strobe_data.q.val();
        self.active.next =
            (self.state.q.val() != UnitState::Wait) | self.receiver.frame_valid.val();
        self.feeding.next = self.decoder.busy.val();
        self.computing.next = (self.counters[3].q.val() != self.counters[4].q.val())
            & !self.accelerator.result_valid.val();

        // Counters (numbered as `DeviceCounter` is).
        self.refusal.next = 0.into();
        self.counter_pulse[0].next = false;
        self.counter_pulse[1].next = false;

        // The response's payload: word `word` of the payload kind, sent LSB first.
        self.word_value.next = 0.into();
        self.word_ready.next = true;
        match self.payload.q.val() {
            Payload::Empty => {}
            Payload::Error => {
                self.word_value.next = bit_cast::<32, 8>(self.error_code.q.val());
            }
            Payload::Identity => {
                for i in 0..self._identity_words {
                    if self.word.q.val() == self.identity_word_number[i].val() {
                        self.word_value.next = self.identity_words[i].val();
                    }
                }
                if self.word.q.val() == self.identity_hash_word.val() {
                    self.word_value.next = self.hash_low.q.val() ^ self.built_hash_low.val();
                }
                if self.word.q.val() == self.identity_hash_word.val() + 1 {
                    self.word_value.next = self.hash_high.q.val() ^ self.built_hash_high.val();
                }
            }
            Payload::Status => {
                self.word_value.next = self.accelerator.counter_value.val();
                for k in 0..6 {
                    if self.word.q.val() == self.device_counter_word[k].val() {
                        self.word_value.next = self.counters[k].q.val();
                    }
                }
            }
            Payload::Result => {
                // The count of results sent before, the flags (bit 0: the decoder is busy), the
                // logits, then the class (with the end-of-image marker).
                self.word_value.next = self.counters[4].q.val();
                if self.word.q.val() == 1 {
                    self.word_value.next = 0.into();
                    if self.decoder.busy.val() {
                        self.word_value.next = 1.into();
                    }
                }
                if self.word.q.val().get_bits::<15>(1) != 0 {
                    self.word_value.next = self.accelerator.result_logit.val();
                    self.word_ready.next = self.accelerator.result_valid.val();
                }
                if self.word.q.val() == self.last_logit_word.val() + 1 {
                    self.word_value.next = bit_cast::<32, 16>(self.accelerator.result_class.val());
                }
            }
        }
        self.payload_offered.next = self.word_ready.val() | (self.word_byte.q.val() != 0);
        self.payload_byte.next = self.word_rest.q.val().get_bits::<8>(0);
        if self.word_byte.q.val() == 0 {
            self.payload_byte.next = self.word_value.val().get_bits::<8>(0);
        }
        self.payload_taken.next = self.payload_offered.val() & self.sender.payload_ready.val();
        if self.payload_taken.val() {
            self.word_byte.d.next = self.word_byte.q.val() + 1;
            self.word_rest.d.next = self.word_rest.q.val() >> 8;
            if self.word_byte.q.val() == 0 {
                self.word_rest.d.next = self.word_value.val() >> 8;
                // A result's logit or end marker leaves the accelerator as its first byte goes.
                if (self.payload.q.val() == Payload::Result)
                    & (self.word.q.val().get_bits::<15>(1) != 0)
                {
                    self.result_take.next = true;
                }
            }
            if self.word_byte.q.val() == 3 {
                self.word.d.next = self.word.q.val() + 1;
            }
        }
        self.sender_start.next = false;
        self.sender.frame_sequence.next = self.receiver.frame_sequence.val();
        self.sender.frame_command.next = self.response_command.q.val();
        self.sender.frame_length.next = self.response_length.q.val();
        self.tx_valid.next = self.sender.byte_valid.val();
        self.tx_data.next = self.sender.byte_data.val();
        self.sender.byte_ready.next = self.tx_ready.val();

        // Load requests: the selected layer's lanes and memory depth.
        self.load_words.d.next = (self.receiver.frame_length.val() - 6) >> 2;
        self.load_end.d.next = bit_cast::<17, 16>(self.load_header.q.val().get_bits::<16>(32))
            + bit_cast::<17, 16>(self.load_words.q.val());
        self.load_lane_ok.next = false;
        self.load_end_ok.next = false;
        for l in 0..self._layers {
            if self.load_header.q.val().get_bits::<8>(0) == self.layer_number[l].val() {
                self.load_lane_ok.next =
                    self.load_header.q.val().get_bits::<16>(16) < self.layer_lanes[l].val();
                self.load_end_ok.next = self.load_end.q.val() <= self.weight_depth[l].val();
                if self.load_header.q.val().get_bit(8) {
                    self.load_end_ok.next = self.load_end.q.val() <= self.state_depth[l].val();
                }
            }
        }

        match self.state.q.val() {
            UnitState::Wait => {
                self.word.d.next = 0.into();
                self.word_byte.d.next = 0.into();
                self.payload.d.next = Payload::Empty;
                self.response_command.d.next = self.receiver.frame_command.val() | 128;
                self.response_length.d.next = 0.into();
                self.load_offset.d.next = 0.into();
                self.load_fetched.d.next = false;
                if self.receiver.frame_valid.val() {
                    self.state.d.next = UnitState::RespondStart;
                    if self.receiver.frame_error.val() != 0 {
                        self.counter_pulse[1].next = true;
                        self.refusal.next = self.receiver.frame_error.val();
                    } else {
                        self.counter_pulse[0].next = true;
                        match self.receiver.frame_command.val().index() {
                            1 => {
                                // A new host session starts with identify: forget the retry.
                                self.classify_seen.d.next = false;
                                self.payload.d.next = Payload::Identity;
                                self.response_length.d.next = self.identity_length.val();
                            }
                            2 => {
                                if self.decoder.busy.val()
                                    | self.decoder.mid_image.val()
                                    | (self.counters[3].q.val() != self.counters[4].q.val())
                                {
                                    self.refusal.next = self.error_busy.val();
                                } else {
                                    self.state.d.next = UnitState::LoadHeader;
                                }
                            }
                            3 => {
                                if self.classify_seen.q.val()
                                    & (self.classify_sequence.q.val()
                                        == self.receiver.frame_sequence.val())
                                {
                                    // A retry: its images are already in.
                                } else if self.decoder.busy.val() {
                                    self.refusal.next = self.error_busy.val();
                                } else {
                                    self.decoder_start.next = true;
                                    self.rx_half.d.next = !self.rx_half.q.val();
                                    self.classify_seen.d.next = true;
                                    self.classify_sequence.d.next =
                                        self.receiver.frame_sequence.val();
                                }
                            }
                            4 => {
                                self.payload.d.next = Payload::Result;
                                self.waited.d.next = 0.into();
                                self.wait_for_result.d.next = self.receiver.frame_length.val() != 0;
                                self.state.d.next = UnitState::ResultWait;
                            }
                            5 => {
                                self.payload.d.next = Payload::Status;
                                self.response_length.d.next = self.status_length.val();
                            }
                            6 => {
                                self.state.d.next = UnitState::Drain;
                            }
                            _ => {
                                self.refusal.next = self.error_unknown.val();
                            }
                        }
                    }
                }
            }
            UnitState::LoadHeader => {
                // One payload byte read per cycle; each arrives a cycle later.
                self.load_offset.d.next = self.load_offset.q.val() + 1;
                self.load_fetched.d.next = true;
                if self.load_fetched.q.val() {
                    self.load_header.d.next = (self.load_header.q.val() >> 8)
                        | (bit_cast::<48, 8>(self.buffer.read_data.val()) << 40);
                }
                if self.load_offset.q.val() == 6 {
                    self.state.d.next = UnitState::LoadSum;
                    self.load_offset.d.next = 6.into();
                    self.load_fetched.d.next = false;
                }
            }
            UnitState::LoadSum => {
                // (`load_end` takes the whole header's address.)
                self.state.d.next = UnitState::LoadCheck;
            }
            UnitState::LoadCheck => {
                self.load_address.d.next = self.load_header.q.val().get_bits::<16>(32);
                self.load_byte.d.next = 0.into();
                self.load_write.d.next = false;
                self.state.d.next = UnitState::LoadVerdict;
                self.load_bad.d.next = (self.receiver.frame_length.val() < 6)
                    | (self.receiver.frame_length.val().get_bits::<2>(0) != 2)
                    | (self.load_header.q.val().get_bits::<8>(8) > 1)
                    | !self.load_lane_ok.val()
                    | !self.load_end_ok.val();
                if self.load_header.q.val().get_bits::<8>(8) == 2 {
                    // The fingerprint: two words at address 0.
                    self.load_bad.d.next = (self.receiver.frame_length.val() != 14)
                        | (self.load_header.q.val().get_bits::<16>(32) != 0);
                }
            }
            UnitState::LoadVerdict => {
                self.state.d.next = UnitState::LoadWords;
                if self.load_bad.q.val() {
                    self.state.d.next = UnitState::RespondStart;
                    self.refusal.next = self.error_bad_payload.val();
                }
            }
            UnitState::LoadWords => {
                self.load_fetched.d.next = false;
                if self.load_offset.q.val() != self.receiver.frame_length.val() {
                    self.load_offset.d.next = self.load_offset.q.val() + 1;
                    self.load_fetched.d.next = true;
                }
                self.load_write.d.next = false;
                if self.load_fetched.q.val() {
                    self.load_word.d.next = (self.load_word.q.val() >> 8)
                        | (bit_cast::<32, 8>(self.buffer.read_data.val()) << 24);
                    self.load_byte.d.next = self.load_byte.q.val() + 1;
                    self.load_write.d.next = self.load_byte.q.val() == 3;
                }
                // A whole word, written the cycle after its last byte arrived.
                if self.load_write.q.val() {
                    self.load_address.d.next = self.load_address.q.val() + 1;
                    if self.load_header.q.val().get_bits::<8>(8) == 2 {
                        if self.load_address.q.val() == 0 {
                            self.hash_low.d.next =
                                self.load_word.q.val() ^ self.built_hash_low.val();
                        } else {
                            self.hash_high.d.next =
                                self.load_word.q.val() ^ self.built_hash_high.val();
                        }
                    } else {
                        self.load_write_enable.next = true;
                    }
                }
                if !self.load_fetched.q.val()
                    & !self.load_write.q.val()
                    & (self.load_offset.q.val() == self.receiver.frame_length.val())
                {
                    self.state.d.next = UnitState::RespondStart;
                }
            }
            UnitState::ResultWait => {
                self.waited.d.next = self.waited.q.val() + 1;
                self.response_length.d.next = 8.into();
                if self.accelerator.result_valid.val() {
                    self.response_length.d.next = self.result_length.val();
                }
                if self.accelerator.result_valid.val()
                    | (self.waited.q.val() == self.wait_limit.val())
                    | (!self.decoder.busy.val()
                        & (!self.wait_for_result.q.val()
                            | (self.counters[3].q.val() == self.counters[4].q.val())))
                {
                    self.state.d.next = UnitState::RespondStart;
                }
            }
            UnitState::Drain => {
                if !self.decoder.busy.val() {
                    if self.decoder.mid_image.val() {
                        self.decoder_pad.next = true;
                    } else if self.counters[3].q.val() != self.counters[4].q.val() {
                        self.result_take.next = true;
                    } else {
                        self.counters_clear.next = true;
                        self.classify_seen.d.next = false;
                        self.state.d.next = UnitState::RespondStart;
                    }
                }
            }
            UnitState::RespondStart => {
                self.sender_start.next = true;
                self.state.d.next = UnitState::Respond;
            }
            UnitState::Respond => {
                if !self.sender.busy.val() {
                    self.frame_take.next = true;
                    self.state.d.next = UnitState::Wait;
                }
            }
        }
        self.buffer.write_address.next = self.buffer_write_address.val();
        self.buffer.read_address.next = self.buffer_read_address.val();
        self.decoder.start.next = self.decoder_start.val();
        self.decoder.pad.next = self.decoder_pad.val();
        self.decoder.base.next = self.decoder_base.val();
        self.accelerator.result_ready.next = self.result_take.val();
        self.accelerator.counter_clear.next = self.counters_clear.val();
        self.load_strobe.d.next = self.load_write_enable.val();
        self.accelerator.load_enable.next = self.load_strobe.q.val();
        self.sender.payload_valid.next = self.payload_offered.val();
        self.sender.payload_data.next = self.payload_byte.val();
        self.sender.start.next = self.sender_start.val();
        self.receiver.frame_taken.next = self.frame_take.val();
        self.counter_pulse[2].next = self.rx_lost.val();
        self.counter_pulse[3].next = self.decoder.image_fed.val();
        self.counter_pulse[4].next = self.accelerator.result_valid.val()
            & self.result_take.val()
            & self.accelerator.result_last.val();
        self.counter_pulse[5].next = self.decoder.code_error.val();
        // A refused request is answered with an error frame carrying the code.
        if self.refusal.val() != 0 {
            self.payload.d.next = Payload::Error;
            self.error_code.d.next = self.refusal.val();
            self.response_command.d.next = 127.into();
            self.response_length.d.next = 1.into();
        }
        for k in 0..6 {
            self.counters[k].clock.next = self.clock.val();
            self.counters[k].d.next = self.counters[k].q.val();
            if self.counter_pulse[k].val() {
                self.counters[k].d.next = self.counters[k].q.val() + 1;
            }
            if self.counters_clear.val() {
                self.counters[k].d.next = 0.into();
            }
        }
    }
}
