//! Frames: the envelope of every request and response, its CRC, and a streaming decoder.

use crc::{CRC_16_IBM_3740, Crc};

/// First byte of every frame.
pub const SYNC: u8 = 0xA5;
/// Bytes before the payload: sync, length (2), sequence, command.
pub const HEADER_BYTES: usize = 5;
/// Bytes after the payload: the CRC.
pub const TRAILER_BYTES: usize = 2;
/// Longest payload either side sends or accepts.
pub const MAX_PAYLOAD: usize = 4096;
/// A response's command is the request's with this bit set.
pub const RESPONSE: u8 = 0x80;

const CRC: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// The CRC of a frame's checked bytes.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC.checksum(bytes)
}

/// Requests the host sends; the device answers each with `code | RESPONSE`, or with
/// [`Command::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    /// Design configuration and the hash of the loaded model.
    Identify = 0x01,
    /// Weights or neuron parameters into a layer's memories.
    LoadWeights = 0x02,
    /// A batch of sparse images.
    Classify = 0x03,
    /// Results of classified images: class, logits, cycles, spike counts.
    ReadResults = 0x04,
    /// Counters and state.
    Status = 0x05,
    /// Back to the idle state, queues emptied.
    Reset = 0x06,
    /// The device's answer to a bad frame or request (payload: an [`ErrorCode`]).
    Error = 0x7F,
}

impl Command {
    pub fn from_code(code: u8) -> Option<Self> {
        use Command::*;
        [
            Identify,
            LoadWeights,
            Classify,
            ReadResults,
            Status,
            Reset,
            Error,
        ]
        .into_iter()
        .find(|c| *c as u8 == code)
    }
}

/// Why the device refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    Crc = 1,
    Length = 2,
    UnknownCommand = 3,
    Overflow = 4,
    BadPayload = 5,
    /// The device cannot take the request now (still feeding the previous batch of images, or
    /// images in flight during a weight load): read results, then send it again.
    Busy = 6,
}

impl ErrorCode {
    pub fn from_code(code: u8) -> Option<Self> {
        use ErrorCode::*;
        [Crc, Length, UnknownCommand, Overflow, BadPayload, Busy]
            .into_iter()
            .find(|c| *c as u8 == code)
    }

    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::Crc => "the request failed the device's CRC check",
            ErrorCode::Length => "the request's length exceeds the device's buffer",
            ErrorCode::UnknownCommand => "the device does not know the command",
            ErrorCode::Overflow => "the device's receiver overflowed",
            ErrorCode::BadPayload => "the device refused the request's payload",
            ErrorCode::Busy => "the device is busy",
        }
    }
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub sequence: u8,
    pub command: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(sequence: u8, command: u8, payload: Vec<u8>) -> Self {
        Frame {
            sequence,
            command,
            payload,
        }
    }

    /// The frame's bytes on the wire; fails when the payload is longer than [`MAX_PAYLOAD`].
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(FrameError::TooLong(self.payload.len()));
        }
        let mut bytes = Vec::with_capacity(HEADER_BYTES + self.payload.len() + TRAILER_BYTES);
        bytes.push(SYNC);
        bytes.extend_from_slice(&(self.payload.len() as u16).to_le_bytes());
        bytes.push(self.sequence);
        bytes.push(self.command);
        bytes.extend_from_slice(&self.payload);
        let crc = crc16(&bytes[1..]);
        bytes.extend_from_slice(&crc.to_le_bytes());
        Ok(bytes)
    }
}

/// What a receiver found wrong with a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The CRC did not match (the frame's sequence number, as received, for the report).
    Crc { sequence: u8 },
    /// A length field beyond [`MAX_PAYLOAD`].
    TooLong(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Crc { sequence } => {
                write!(
                    f,
                    "frame {sequence} failed its CRC check (corrupted on the link)"
                )
            }
            FrameError::TooLong(n) => {
                write!(
                    f,
                    "frame length {n} exceeds the maximum of {MAX_PAYLOAD} bytes"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A streaming frame decoder: feed it bytes as they arrive, take frames and errors out.
/// Bytes before a `SYNC` are skipped; after an error it resynchronises one byte after the bad
/// frame's `SYNC`. It never panics, whatever the bytes.
#[derive(Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// Bytes skipped while looking for a frame (noise on the link).
    pub skipped: u64,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held for a frame not yet complete.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame or error, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let Some(start) = self.buffer.iter().position(|&b| b == SYNC) else {
            self.skipped += self.buffer.len() as u64;
            self.buffer.clear();
            return None;
        };
        self.skipped += start as u64;
        self.buffer.drain(..start);
        if self.buffer.len() < 3 {
            return None;
        }
        let length = u16::from_le_bytes([self.buffer[1], self.buffer[2]]) as usize;
        if length > MAX_PAYLOAD {
            self.buffer.drain(..1);
            return Some(Err(FrameError::TooLong(length)));
        }
        let total = HEADER_BYTES + length + TRAILER_BYTES;
        if self.buffer.len() < total {
            return None;
        }
        let crc = u16::from_le_bytes([self.buffer[total - 2], self.buffer[total - 1]]);
        if crc16(&self.buffer[1..total - 2]) != crc {
            let sequence = self.buffer[3];
            self.buffer.drain(..1);
            return Some(Err(FrameError::Crc { sequence }));
        }
        let frame = Frame {
            sequence: self.buffer[3],
            command: self.buffer[4],
            payload: self.buffer[HEADER_BYTES..total - 2].to_vec(),
        };
        self.buffer.drain(..total);
        Some(Ok(frame))
    }
}
