//! The device's frame decoder: bytes in (from the UART), a checked frame out.
//!
//! It hunts for `SYNC`, reads the length, sequence and command, writes the payload into the
//! receive buffer (offsets from 0; the parent picks the buffer half) while folding every byte
//! into a [`Crc16`], and checks the CRC. A checked frame, or the error that refused it (length
//! beyond `max_payload`, CRC mismatch), is then held on `frame_*` with `byte_ready` low until
//! the command unit pulses `frame_taken`: the payload stays intact while a command uses it.
//! After any frame, good or bad, it hunts for the next `SYNC`. A frame whose bytes stop
//! arriving (a gap longer than `gap_limit` cycles) is abandoned, so a lost byte never leaves
//! the receiver waiting forever; the host's timeout and retry recover the frame.
//! (`docs/protocol.md` has the frame format; `crate::protocol` is the reference model.)

use crate::link::crc16::Crc16;
use crate::protocol::{ErrorCode, SYNC};
use rust_hdl::prelude::*;

/// Where in a frame the receiver is.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum RxState {
    Hunt,
    LengthLow,
    LengthHigh,
    Sequence,
    Command,
    Payload,
    CrcLow,
    CrcHigh,
}

#[derive(LogicBlock)]
pub struct FrameReceiver {
    pub clock: Signal<In, Clock>,
    /// Bytes from the link, taken when `byte_ready` is high.
    pub byte_valid: Signal<In, Bit>,
    pub byte_data: Signal<In, Bits<8>>,
    pub byte_ready: Signal<Out, Bit>,
    /// Payload byte `payload_write_address` of the frame being received.
    pub payload_write_enable: Signal<Out, Bit>,
    pub payload_write_address: Signal<Out, Bits<16>>,
    pub payload_write_data: Signal<Out, Bits<8>>,
    /// A received frame, held until `frame_taken`: `frame_error` 0 for a good frame, else the
    /// [`ErrorCode`] that refuses it.
    pub frame_valid: Signal<Out, Bit>,
    pub frame_error: Signal<Out, Bits<8>>,
    pub frame_sequence: Signal<Out, Bits<8>>,
    pub frame_command: Signal<Out, Bits<8>>,
    pub frame_length: Signal<Out, Bits<16>>,
    pub frame_taken: Signal<In, Bit>,
    /// High for a cycle when a frame is abandoned for a gap in its bytes.
    pub abandoned: Signal<Out, Bit>,
    crc: Crc16,
    state: DFF<RxState>,
    held: DFF<Bit>,
    error: DFF<Bits<8>>,
    /// (`sequence` is a SystemVerilog keyword.)
    sequence_number: DFF<Bits<8>>,
    command: DFF<Bits<8>>,
    length: DFF<Bits<16>>,
    /// Payload bytes received so far, and the received CRC's low byte.
    offset: DFF<Bits<16>>,
    crc_low: DFF<Bits<8>>,
    gap: DFF<Bits<32>>,
    /// The length just received is over `max_payload`.
    too_long: DFF<Bit>,
    sync: Constant<Bits<8>>,
    max_payload: Constant<Bits<16>>,
    gap_limit: Constant<Bits<32>>,
    error_crc: Constant<Bits<8>>,
    error_length: Constant<Bits<8>>,
    taken: Signal<Local, Bit>,
    gave_up: Signal<Local, Bit>,
    refuse_length: Signal<Local, Bit>,
}

impl FrameReceiver {
    /// A receiver for payloads of up to `max_payload` bytes that abandons a frame after
    /// `gap_limit` cycles without a byte.
    pub fn new(max_payload: usize, gap_limit: u32) -> Self {
        assert!((1..65536).contains(&max_payload));
        FrameReceiver {
            clock: Default::default(),
            byte_valid: Default::default(),
            byte_data: Default::default(),
            byte_ready: Default::default(),
            payload_write_enable: Default::default(),
            payload_write_address: Default::default(),
            payload_write_data: Default::default(),
            frame_valid: Default::default(),
            frame_error: Default::default(),
            frame_sequence: Default::default(),
            frame_command: Default::default(),
            frame_length: Default::default(),
            frame_taken: Default::default(),
            abandoned: Default::default(),
            crc: Default::default(),
            state: Default::default(),
            held: Default::default(),
            error: Default::default(),
            sequence_number: Default::default(),
            command: Default::default(),
            length: Default::default(),
            offset: Default::default(),
            crc_low: Default::default(),
            gap: Default::default(),
            too_long: Default::default(),
            sync: Constant::new((SYNC as u64).into()),
            max_payload: Constant::new((max_payload as u64).into()),
            gap_limit: Constant::new((gap_limit as u64).into()),
            error_crc: Constant::new((ErrorCode::Crc as u64).into()),
            error_length: Constant::new((ErrorCode::Length as u64).into()),
            taken: Default::default(),
            gave_up: Default::default(),
            refuse_length: Default::default(),
        }
    }
}

impl Logic for FrameReceiver {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            held,
            error,
            sequence_number,
            command,
            length,
            offset,
            crc_low,
            gap,
            too_long
        );
        self.crc.clock.next = self.clock.val();
        // A frame too long for the buffer is refused the cycle after its length (the compare
        // is registered), taking no byte of what follows; its sequence is unknown.
        self.refuse_length.next = (self.state.q.val() == RxState::Sequence) & self.too_long.q.val();
        self.byte_ready.next = !self.held.q.val() & !self.refuse_length.val();
        self.frame_valid.next = self.held.q.val();
        self.frame_error.next = self.error.q.val();
        self.frame_sequence.next = self.sequence_number.q.val();
        self.frame_command.next = self.command.q.val();
        self.frame_length.next = self.length.q.val();
        self.payload_write_address.next = self.offset.q.val();
        self.payload_write_data.next = self.byte_data.val();
        self.taken.next = self.byte_valid.val() & self.byte_ready.val();
        self.payload_write_enable.next =
            self.taken.val() & (self.state.q.val() == RxState::Payload);
        self.crc.data.next = self.byte_data.val();
        // The CRC covers length, sequence, command and payload.
        self.crc.data_valid.next = self.taken.val()
            & (self.state.q.val() != RxState::Hunt)
            & (self.state.q.val() != RxState::CrcLow)
            & (self.state.q.val() != RxState::CrcHigh);
        self.crc.clear.next = false;
        self.gave_up.next = false;
        if self.held.q.val() & self.frame_taken.val() {
            self.held.d.next = false;
        }
        // Inside a frame, count the cycles since the last byte.
        self.gap.d.next = 0.into();
        if (self.state.q.val() != RxState::Hunt) & !self.held.q.val() & !self.byte_valid.val() {
            self.gap.d.next = self.gap.q.val() + 1;
            if self.gap.q.val() == self.gap_limit.val() {
                self.state.d.next = RxState::Hunt;
                self.gave_up.next = true;
            }
        }
        self.abandoned.next = self.gave_up.val();
        if self.refuse_length.val() {
            self.sequence_number.d.next = 0.into();
            self.command.d.next = 0.into();
            self.error.d.next = self.error_length.val();
            self.held.d.next = true;
            self.state.d.next = RxState::Hunt;
        }
        if self.taken.val() {
            match self.state.q.val() {
                RxState::Hunt => {
                    if self.byte_data.val() == self.sync.val() {
                        self.state.d.next = RxState::LengthLow;
                        self.crc.clear.next = true;
                    }
                }
                RxState::LengthLow => {
                    self.length.d.next = bit_cast::<16, 8>(self.byte_data.val());
                    self.state.d.next = RxState::LengthHigh;
                }
                RxState::LengthHigh => {
                    self.length.d.next =
                        self.length.q.val() | (bit_cast::<16, 8>(self.byte_data.val()) << 8);
                    self.too_long.d.next = (self.length.q.val()
                        | (bit_cast::<16, 8>(self.byte_data.val()) << 8))
                        > self.max_payload.val();
                    self.state.d.next = RxState::Sequence;
                }
                RxState::Sequence => {
                    self.sequence_number.d.next = self.byte_data.val();
                    self.state.d.next = RxState::Command;
                }
                RxState::Command => {
                    self.command.d.next = self.byte_data.val();
                    self.offset.d.next = 0.into();
                    self.state.d.next = RxState::Payload;
                    if self.length.q.val() == 0 {
                        self.state.d.next = RxState::CrcLow;
                    }
                }
                RxState::Payload => {
                    self.offset.d.next = self.offset.q.val() + 1;
                    if self.offset.q.val() + 1 == self.length.q.val() {
                        self.state.d.next = RxState::CrcLow;
                    }
                }
                RxState::CrcLow => {
                    self.crc_low.d.next = self.byte_data.val();
                    self.state.d.next = RxState::CrcHigh;
                }
                RxState::CrcHigh => {
                    self.error.d.next = 0.into();
                    if (bit_cast::<16, 8>(self.crc_low.q.val())
                        | (bit_cast::<16, 8>(self.byte_data.val()) << 8))
                        != self.crc.crc.val()
                    {
                        self.error.d.next = self.error_crc.val();
                    }
                    self.held.d.next = true;
                    self.state.d.next = RxState::Hunt;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Frame;
    use crate::sim::{prepare, settle};

    /// What the receiver delivered: frames (with their payloads, read from its writes) and
    /// errors.
    #[derive(Debug, PartialEq)]
    enum Got {
        Frame(Frame),
        Error(u8),
    }

    /// Feeds `bytes`, one per cycle as the receiver takes them, then `idle_after` idle cycles,
    /// and takes every frame at once; returns what was delivered and the frames abandoned.
    fn receive(uut: &mut FrameReceiver, bytes: &[u8], idle_after: usize) -> (Vec<Got>, usize) {
        let mut payload = vec![0u8; 65536];
        let mut got = Vec::new();
        let mut abandoned = 0;
        let mut at = 0;
        for _ in 0..(bytes.len() * 2 + idle_after + 10) {
            uut.byte_valid.next = at < bytes.len();
            uut.byte_data.next = (*bytes.get(at).unwrap_or(&0) as u64).into();
            uut.frame_taken.next = false;
            settle(uut);
            if uut.frame_valid.val() {
                let error = uut.frame_error.val().index() as u8;
                got.push(if error == 0 {
                    let n = uut.frame_length.val().index();
                    Got::Frame(Frame::new(
                        uut.frame_sequence.val().index() as u8,
                        uut.frame_command.val().index() as u8,
                        payload[..n].to_vec(),
                    ))
                } else {
                    Got::Error(error)
                });
                uut.frame_taken.next = true;
            }
            if uut.payload_write_enable.val() {
                payload[uut.payload_write_address.val().index()] =
                    uut.payload_write_data.val().index() as u8;
            }
            if uut.abandoned.val() {
                abandoned += 1;
            }
            if uut.byte_valid.val() && uut.byte_ready.val() {
                at += 1;
            }
            uut.clock.next = true.into();
            settle(uut);
            uut.clock.next = false.into();
            settle(uut);
        }
        (got, abandoned)
    }

    #[test]
    fn frames_and_errors_arrive_as_the_reference_decodes_them() {
        let frames = [
            Frame::new(7, 3, (0..200u8).collect()),
            Frame::new(8, 1, vec![]),
            Frame::new(9, 2, vec![SYNC, SYNC, 0]),
        ];
        let mut wire = vec![0x00, 0x13];
        let mut expected = Vec::new();
        for f in &frames {
            wire.extend(f.encode().unwrap());
            expected.push(Got::Frame(f.clone()));
        }
        // A corrupted CRC, then a frame too long for a 256-byte buffer, then a good frame.
        let mut bad = Frame::new(1, 3, vec![1, 2, 3]).encode().unwrap();
        *bad.last_mut().unwrap() ^= 0x40;
        wire.extend(bad);
        expected.push(Got::Error(ErrorCode::Crc as u8));
        wire.extend([SYNC, 0x01, 0x02]);
        expected.push(Got::Error(ErrorCode::Length as u8));
        let last = Frame::new(200, 5, vec![4; 256]);
        wire.extend(last.encode().unwrap());
        expected.push(Got::Frame(last));
        let mut uut = FrameReceiver::new(256, 50);
        prepare(&mut uut);
        let (got, abandoned) = receive(&mut uut, &wire, 0);
        assert_eq!(got, expected);
        assert_eq!(abandoned, 0);
    }

    #[test]
    fn a_frame_cut_short_is_abandoned_and_the_next_one_arrives() {
        let cut = Frame::new(1, 3, vec![9; 40]).encode().unwrap();
        let mut uut = FrameReceiver::new(256, 30);
        prepare(&mut uut);
        let (got, abandoned) = receive(&mut uut, &cut[..20], 40);
        assert_eq!((got, abandoned), (vec![], 1));
        let next = Frame::new(2, 1, vec![1]);
        let (got, _) = receive(&mut uut, &next.encode().unwrap(), 0);
        assert_eq!(got, vec![Got::Frame(next)]);
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = FrameReceiver::new(256, 1000);
        prepare(&mut uut);
        yosys_validate("fs_hdl_frame_receiver", &generate_verilog(&uut)).unwrap();
    }
}
