//! The device's frame encoder: a response's header, its payload bytes as a producer hands
//! them over, and the CRC computed on the way (so no response is ever buffered whole).
//!
//! `start` latches the sequence, command and payload length; the sender then emits `SYNC`,
//! the header, `length` payload bytes pulled through `payload_valid`/`payload_ready`, and the
//! CRC, and drops `busy` when the last byte is taken. Payload bytes pass through a one-byte
//! register (taken from the start of the frame, at most `length` of them, one per cycle), so
//! the producer's logic ends there and not at the CRC or the link. (`crate::protocol::Frame::encode` is
//! the reference it is tested against.)

use crate::link::crc16::Crc16;
use crate::protocol::SYNC;
use rust_hdl::prelude::*;

/// Which byte of the frame goes out next.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum TxState {
    Idle,
    Sync,
    LengthLow,
    LengthHigh,
    Sequence,
    Command,
    Payload,
    CrcLow,
    CrcHigh,
}

#[derive(LogicBlock)]
pub struct FrameSender {
    pub clock: Signal<In, Clock>,
    /// Starts a frame (when not `busy`).
    pub start: Signal<In, Bit>,
    pub frame_sequence: Signal<In, Bits<8>>,
    pub frame_command: Signal<In, Bits<8>>,
    pub frame_length: Signal<In, Bits<16>>,
    pub busy: Signal<Out, Bit>,
    /// The payload, one byte at a time.
    pub payload_valid: Signal<In, Bit>,
    pub payload_data: Signal<In, Bits<8>>,
    pub payload_ready: Signal<Out, Bit>,
    /// Bytes to the link.
    pub byte_valid: Signal<Out, Bit>,
    pub byte_data: Signal<Out, Bits<8>>,
    pub byte_ready: Signal<In, Bit>,
    crc: Crc16,
    state: DFF<TxState>,
    held_sequence: DFF<Bits<8>>,
    held_command: DFF<Bits<8>>,
    held_length: DFF<Bits<16>>,
    remaining: DFF<Bits<16>>,
    /// Payload bytes still to take from the producer, and the one taken and not yet sent.
    to_fetch: DFF<Bits<16>>,
    hold_valid: DFF<Bit>,
    hold_data: DFF<Bits<8>>,
    sync: Constant<Bits<8>>,
    sent: Signal<Local, Bit>,
    /// The outputs, computed here and written once (see `crate::link::device` on iverilog).
    out_valid: Signal<Local, Bit>,
    out_data: Signal<Local, Bits<8>>,
    hold_sent: Signal<Local, Bit>,
    fetch: Signal<Local, Bit>,
}

impl Default for FrameSender {
    fn default() -> Self {
        FrameSender {
            clock: Default::default(),
            start: Default::default(),
            frame_sequence: Default::default(),
            frame_command: Default::default(),
            frame_length: Default::default(),
            busy: Default::default(),
            payload_valid: Default::default(),
            payload_data: Default::default(),
            payload_ready: Default::default(),
            byte_valid: Default::default(),
            byte_data: Default::default(),
            byte_ready: Default::default(),
            crc: Default::default(),
            state: Default::default(),
            held_sequence: Default::default(),
            held_command: Default::default(),
            held_length: Default::default(),
            remaining: Default::default(),
            to_fetch: Default::default(),
            hold_valid: Default::default(),
            hold_data: Default::default(),
            sync: Constant::new((SYNC as u64).into()),
            sent: Default::default(),
            out_valid: Default::default(),
            out_data: Default::default(),
            hold_sent: Default::default(),
            fetch: Default::default(),
        }
    }
}

impl Logic for FrameSender {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            held_sequence,
            held_command,
            held_length,
            remaining,
            to_fetch,
            hold_valid,
            hold_data
        );
        self.crc.clock.next = self.clock.val();
        self.busy.next = self.state.q.val() != TxState::Idle;
        self.out_valid.next = self.state.q.val() != TxState::Idle;
        self.out_data.next = 0.into();
        match self.state.q.val() {
            TxState::Idle => {}
            TxState::Sync => {
                self.out_data.next = self.sync.val();
            }
            TxState::LengthLow => {
                self.out_data.next = self.held_length.q.val().get_bits::<8>(0);
            }
            TxState::LengthHigh => {
                self.out_data.next = self.held_length.q.val().get_bits::<8>(8);
            }
            TxState::Sequence => {
                self.out_data.next = self.held_sequence.q.val();
            }
            TxState::Command => {
                self.out_data.next = self.held_command.q.val();
            }
            TxState::Payload => {
                self.out_valid.next = self.hold_valid.q.val();
                self.out_data.next = self.hold_data.q.val();
            }
            TxState::CrcLow => {
                self.out_data.next = self.crc.crc.val().get_bits::<8>(0);
            }
            TxState::CrcHigh => {
                self.out_data.next = self.crc.crc.val().get_bits::<8>(8);
            }
        }
        self.sent.next = self.out_valid.val() & self.byte_ready.val();
        self.crc.data.next = self.out_data.val();
        self.crc.data_valid.next = self.sent.val()
            & (self.state.q.val() != TxState::Sync)
            & (self.state.q.val() != TxState::CrcLow)
            & (self.state.q.val() != TxState::CrcHigh);
        self.crc.clear.next = false;
        self.byte_valid.next = self.out_valid.val();
        self.byte_data.next = self.out_data.val();
        // The held byte leaves as the next is taken.
        self.hold_sent.next = self.sent.val() & (self.state.q.val() == TxState::Payload);
        self.payload_ready.next =
            self.to_fetch.q.val().any() & (!self.hold_valid.q.val() | self.hold_sent.val());
        self.fetch.next = self.payload_valid.val() & self.payload_ready.val();
        if self.hold_sent.val() {
            self.hold_valid.d.next = false;
        }
        if self.fetch.val() {
            self.hold_valid.d.next = true;
            self.hold_data.d.next = self.payload_data.val();
            self.to_fetch.d.next = self.to_fetch.q.val() - 1;
        }
        if self.sent.val() {
            match self.state.q.val() {
                TxState::Idle => {}
                TxState::Sync => {
                    self.state.d.next = TxState::LengthLow;
                }
                TxState::LengthLow => {
                    self.state.d.next = TxState::LengthHigh;
                }
                TxState::LengthHigh => {
                    self.state.d.next = TxState::Sequence;
                }
                TxState::Sequence => {
                    self.state.d.next = TxState::Command;
                }
                TxState::Command => {
                    self.state.d.next = TxState::Payload;
                    if self.remaining.q.val() == 0 {
                        self.state.d.next = TxState::CrcLow;
                    }
                }
                TxState::Payload => {
                    self.remaining.d.next = self.remaining.q.val() - 1;
                    if self.remaining.q.val() == 1 {
                        self.state.d.next = TxState::CrcLow;
                    }
                }
                TxState::CrcLow => {
                    self.state.d.next = TxState::CrcHigh;
                }
                TxState::CrcHigh => {
                    self.state.d.next = TxState::Idle;
                }
            }
        }
        if (self.state.q.val() == TxState::Idle) & self.start.val() {
            self.held_sequence.d.next = self.frame_sequence.val();
            self.held_command.d.next = self.frame_command.val();
            self.held_length.d.next = self.frame_length.val();
            self.remaining.d.next = self.frame_length.val();
            self.to_fetch.d.next = self.frame_length.val();
            self.crc.clear.next = true;
            self.state.d.next = TxState::Sync;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Frame;
    use crate::sim::{prepare, settle};

    /// Sends `frame`, with the payload producer and the link each ready on the cycles their
    /// patterns say; returns the bytes on the link.
    fn send(uut: &mut FrameSender, frame: &Frame, producer_gaps: u64, link_gaps: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut next_payload = 0;
        for cycle in 0..(frame.payload.len() as u64 + 20) * 4 {
            uut.start.next = cycle == 0;
            uut.frame_sequence.next = (frame.sequence as u64).into();
            uut.frame_command.next = (frame.command as u64).into();
            uut.frame_length.next = (frame.payload.len() as u64).into();
            uut.payload_valid.next =
                next_payload < frame.payload.len() && (cycle * 7 + 3) % 4 >= producer_gaps;
            uut.payload_data.next = (*frame.payload.get(next_payload).unwrap_or(&0) as u64).into();
            uut.byte_ready.next = (cycle * 5 + 1) % 4 >= link_gaps;
            settle(uut);
            if uut.payload_valid.val() && uut.payload_ready.val() {
                next_payload += 1;
            }
            if uut.byte_valid.val() && uut.byte_ready.val() {
                out.push(uut.byte_data.val().index() as u8);
            }
            uut.clock.next = true.into();
            settle(uut);
            uut.clock.next = false.into();
            settle(uut);
        }
        assert!(!uut.busy.val(), "the sender finished");
        out
    }

    #[test]
    fn frames_are_the_reference_encoding_under_any_pacing() {
        let mut uut = FrameSender::default();
        prepare(&mut uut);
        for (i, len) in [0usize, 1, 5, 256].into_iter().enumerate() {
            let frame = Frame::new(
                i as u8 * 51,
                0x80 | i as u8,
                (0..len).map(|b| (b * 13) as u8).collect(),
            );
            for (producer_gaps, link_gaps) in [(0, 0), (2, 0), (0, 3), (1, 2)] {
                assert_eq!(
                    send(&mut uut, &frame, producer_gaps, link_gaps),
                    frame.encode().unwrap(),
                    "length {len}, gaps {producer_gaps} {link_gaps}"
                );
            }
        }
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = FrameSender::default();
        prepare(&mut uut);
        yosys_validate("fs_hdl_frame_sender", &generate_verilog(&uut)).unwrap();
    }
}
