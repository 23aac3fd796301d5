//! The wire protocol between `fpga-host` and the device, defined once: the host encodes and
//! decodes frames with this module, and the device's RTL is tested against it
//! (`docs/protocol.md`).
//!
//! A frame is `SYNC, length (u16 LE), sequence (u8), command (u8), payload, CRC (u16 LE)`; the
//! CRC is CRC-16/IBM-3740 (CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF) over every byte
//! from `length` to the payload's last. A receiver that meets a bad frame (CRC, length) reports
//! it and resynchronises on the next `SYNC` byte after the bad frame's first, so one corrupt
//! byte never loses more than the frame it hit.
//!
//! Images travel sparse: `(zeros, value)` byte pairs, "`zeros` zero pixels, then one pixel of
//! `value`" (`value` may be 0: a pair always stands for `zeros + 1` pixels). Long zero runs are
//! `(255, 0)` pairs; an image ends at its pixel count exactly, so images follow each other in
//! a batch with no separator. About 80 % of MNIST pixels are zero, so an image takes about
//! 0.4 x its raw size.

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

/// The sparse code of an image (pixels of up to 8 bits).
pub fn encode_image(pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0usize;
    for &p in pixels {
        if p == 0 {
            zeros += 1;
            continue;
        }
        while zeros > 255 {
            out.extend_from_slice(&[255, 0]);
            zeros -= 256;
        }
        out.extend_from_slice(&[zeros as u8, p]);
        zeros = 0;
    }
    while zeros > 0 {
        let run = zeros.min(256);
        out.extend_from_slice(&[(run - 1) as u8, 0]);
        zeros -= run;
    }
    out
}

/// Decodes one image of `count` pixels from the front of `bytes`; returns the pixels and the
/// bytes used (`bytes` may hold more images after this one).
pub fn decode_image(bytes: &[u8], count: usize) -> Result<(Vec<u8>, usize), String> {
    let mut pixels = Vec::with_capacity(count);
    let mut used = 0;
    while pixels.len() < count {
        let Some(pair) = bytes.get(used..used + 2) else {
            return Err(format!(
                "the image's code ends after {} of {count} pixels",
                pixels.len()
            ));
        };
        used += 2;
        let zeros = pair[0] as usize;
        if pixels.len() + zeros + 1 > count {
            return Err(format!(
                "a pair of {} pixels passes the image's {count} (at pixel {})",
                zeros + 1,
                pixels.len()
            ));
        }
        pixels.extend(std::iter::repeat_n(0, zeros));
        pixels.push(pair[1]);
    }
    Ok((pixels, used))
}

/// Splits the sparse codes of a batch of images into classify payloads of at most `max` bytes,
/// cut between pairs (an image may span payloads: the device keeps its place in the image).
pub fn classify_payloads(codes: &[Vec<u8>], max: usize) -> Vec<Vec<u8>> {
    let max = max & !1;
    let stream: Vec<u8> = codes.concat();
    stream.chunks(max.max(2)).map(<[u8]>::to_vec).collect()
}

// ---------------------------------------------------------------------------------------------
// Payloads of the device's requests and responses. All multi-byte fields are little-endian.

/// Most payload bytes the device takes in one request: its receive buffer holds two such
/// payloads (one receiving while the other feeds images).
pub const DEVICE_MAX_PAYLOAD: usize = 256;
/// The first word of an identify response: "FSA1".
pub const MAGIC: u32 = u32::from_le_bytes(*b"FSA1");
pub const PROTOCOL_VERSION: u8 = 1;

const FINGERPRINT: Crc<u64> = Crc::<u64>::new(&crc::CRC_64_XZ);

/// Fingerprint of the design a device was built for: the model with its weights and initial
/// values left out (they can be loaded at run time), and the lanes per layer. Two models with
/// the same design fingerprint run on the same bitstream.
pub fn design_hash(model: &fs_model::network::Model, lanes: &[usize]) -> u64 {
    let mut skeleton = model.clone();
    for layer in &mut skeleton.layers {
        layer.weight.fill(0);
        layer.bias.fill(0);
        layer.imp = 0;
    }
    for layer in &mut skeleton.ann.layers {
        layer.weight.fill(0.0);
        layer.bias.fill(0.0);
    }
    let mut digest = FINGERPRINT.digest();
    // A model that passed validation serialises; an invalid one gets a fingerprint of nothing.
    digest.update(&fs_model::modelfile::to_bytes(&skeleton).unwrap_or_default());
    for &l in lanes {
        digest.update(&(l as u32).to_le_bytes());
    }
    digest.finalize()
}

/// Fingerprint of a whole model: what the device reports as loaded.
pub fn model_hash(model: &fs_model::network::Model) -> u64 {
    FINGERPRINT.checksum(&fs_model::modelfile::to_bytes(model).unwrap_or_default())
}

/// The identify response: what the device was built for and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub version: u8,
    /// Largest request payload the device takes.
    pub max_payload: u16,
    /// Pixels per image, and classes (logits per result).
    pub inputs: u16,
    pub classes: u16,
    /// Lanes per layer.
    pub lanes: Vec<u16>,
    /// [`design_hash`] of the built-in design, and [`model_hash`] of the model loaded now.
    pub design_hash: u64,
    pub model_hash: u64,
}

impl Identity {
    /// The response as 32-bit words (the device sends them LSB first): magic, version and layer
    /// count and maximum payload, inputs and classes, lanes per layer, the two hashes.
    pub fn words(&self) -> Vec<u32> {
        let mut w = vec![
            MAGIC,
            self.version as u32 | (self.lanes.len() as u32) << 8 | (self.max_payload as u32) << 16,
            self.inputs as u32 | (self.classes as u32) << 16,
        ];
        w.extend(self.lanes.iter().map(|&l| l as u32));
        for h in [self.design_hash, self.model_hash] {
            w.extend([h as u32, (h >> 32) as u32]);
        }
        w
    }

    pub fn encode(&self) -> Vec<u8> {
        words_to_bytes(&self.words())
    }

    pub fn decode(payload: &[u8]) -> Result<Self, String> {
        let word = |i: usize| {
            payload
                .get(4 * i..4 * i + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(|| format!("identify response of {} bytes is too short", payload.len()))
        };
        if word(0)? != MAGIC {
            return Err("the device is not an fs-accel accelerator (bad magic)".into());
        }
        let w1 = word(1)?;
        let layers = (w1 >> 8 & 0xff) as usize;
        if payload.len() != 4 * (3 + layers + 4) {
            return Err(format!(
                "identify response of {} bytes for {layers} layers",
                payload.len()
            ));
        }
        let hash =
            |i: usize| -> Result<u64, String> { Ok(word(i)? as u64 | (word(i + 1)? as u64) << 32) };
        Ok(Identity {
            version: w1 as u8,
            max_payload: (w1 >> 16) as u16,
            inputs: word(2)? as u16,
            classes: (word(2)? >> 16) as u16,
            lanes: (0..layers)
                .map(|l| word(3 + l).map(|w| w as u16))
                .collect::<Result<_, _>>()?,
            design_hash: hash(3 + layers)?,
            model_hash: hash(5 + layers)?,
        })
    }
}

/// Little-endian bytes of 32-bit words.
pub fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// What a load request writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LoadTarget {
    /// A lane's weight memory (the layout of `fs_hdl::dense_layer::lane_contents`).
    Weights = 0,
    /// A lane's initial values `B + IMP`, one per neuron group.
    InitialValues = 1,
    /// The model fingerprint the device reports (8 bytes at address 0): set to 0 before a load
    /// and to the new model's [`model_hash`] after it, so a half-loaded model never matches.
    ModelHash = 2,
}

/// Bytes of a load request before its words: layer, target, lane (u16), address (u16).
pub const LOAD_HEADER_BYTES: usize = 6;

/// A load request's payload: `words` (two's complement, 32-bit) from `address` on.
pub fn load_payload(
    layer: u8,
    target: LoadTarget,
    lane: u16,
    address: u16,
    words: &[u32],
) -> Vec<u8> {
    let mut p = vec![layer, target as u8];
    p.extend(lane.to_le_bytes());
    p.extend(address.to_le_bytes());
    p.extend(words_to_bytes(words));
    p
}

/// Counters the device keeps besides the accelerator's (`fs_hdl::accelerator::Counter`); the
/// status response is every accelerator counter, then these, each a u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceCounter {
    /// Frames received intact, and frames refused (CRC, length).
    FramesOk,
    FrameErrors,
    /// Bytes the UART received while the device was not listening (a host that did not wait
    /// for a response), and UART framing errors.
    RxDropped,
    /// Images whose last pixel went into the accelerator, and results that left it.
    ImagesFed,
    ResultsOut,
    /// Image codes whose pairs ran past an image's end (the host never sends such).
    CodeErrors,
}

impl DeviceCounter {
    pub const ALL: [DeviceCounter; 6] = [
        DeviceCounter::FramesOk,
        DeviceCounter::FrameErrors,
        DeviceCounter::RxDropped,
        DeviceCounter::ImagesFed,
        DeviceCounter::ResultsOut,
        DeviceCounter::CodeErrors,
    ];
}

/// A status response: the accelerator's counters (by `Counter::select`), then the device's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub accelerator: Vec<u32>,
    pub device: Vec<u32>,
}

impl Status {
    /// Words in the response of a device with `accelerator_counters` accelerator counters.
    pub fn words(accelerator_counters: usize) -> usize {
        accelerator_counters + DeviceCounter::ALL.len()
    }

    pub fn decode(payload: &[u8], accelerator_counters: usize) -> Result<Self, String> {
        if payload.len() != 4 * Self::words(accelerator_counters) {
            return Err(format!("status response of {} bytes", payload.len()));
        }
        let words: Vec<u32> = payload
            .chunks(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        Ok(Status {
            accelerator: words[..accelerator_counters].to_vec(),
            device: words[accelerator_counters..].to_vec(),
        })
    }

    pub fn device(&self, c: DeviceCounter) -> u32 {
        self.device[c as usize]
    }
}

/// A read-results response: the number of results the device sent before this one (so a lost
/// response shows as a gap), whether its image decoder is still busy (a classify now would be
/// answered `Busy`), then, if an image's result was ready, its logits (i32 each) and its class
/// (one byte). The device answers when a result is ready or its decoder is idle; a request
/// with a payload ([`WAIT_FOR_RESULT`]) waits instead until a result is ready or no image is
/// left in the accelerator. Either waits at most 65,535 device cycles.
pub const WAIT_FOR_RESULT: [u8; 1] = [1];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultResponse {
    pub index: u32,
    pub decoder_busy: bool,
    pub result: Option<(Vec<i64>, u8)>,
}

impl ResultResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut p = self.index.to_le_bytes().to_vec();
        p.extend((self.decoder_busy as u32).to_le_bytes());
        if let Some((logits, class)) = &self.result {
            for &l in logits {
                p.extend((l as i32).to_le_bytes());
            }
            p.push(*class);
        }
        p
    }

    pub fn decode(payload: &[u8], classes: usize) -> Result<Self, String> {
        if payload.len() < 8 {
            return Err(format!("read-results response of {} bytes", payload.len()));
        }
        let word = |i: usize| u32::from_le_bytes(payload[4 * i..4 * i + 4].try_into().unwrap());
        let result = match payload.len() - 8 {
            0 => None,
            n if n == 4 * classes + 1 => Some((
                payload[8..8 + 4 * classes]
                    .chunks(4)
                    .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64)
                    .collect(),
                payload[8 + 4 * classes],
            )),
            n => {
                return Err(format!(
                    "read-results response with {n} result bytes (expected 0 or {})",
                    4 * classes + 1
                ));
            }
        };
        Ok(ResultResponse {
            index: word(0),
            decoder_busy: word(1) & 1 == 1,
            result,
        })
    }
}

/// The byte stream over Opal Kelly FrontPanel pipes (`crate::pipe_bridge`, the XEM7010):
/// every byte travels as a 16-bit word with bit 8 set; a word with bit 8 clear is padding.
/// FrontPanel moves words as little-endian byte pairs.
pub mod pipe {
    /// The endpoints: bytes to the device, bytes from it, and how many wait to be read.
    pub const PIPE_IN: u8 = 0x80;
    pub const PIPE_OUT: u8 = 0xA0;
    pub const WIRE_WAITING: u8 = 0x20;
    /// Marks a word that carries a byte.
    pub const BYTE_FLAG: u16 = 0x100;

    /// The words (as FrontPanel's byte pairs) that carry `bytes`.
    pub fn to_words(bytes: &[u8]) -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|&b| (BYTE_FLAG | b as u16).to_le_bytes())
            .collect()
    }

    /// The bytes that words read from the device carry; padding words are skipped.
    pub fn from_words(words: &[u8]) -> Vec<u8> {
        words
            .chunks_exact(2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]))
            .filter(|w| w & BYTE_FLAG != 0)
            .map(|w| w as u8)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_is_the_catalogued_one() {
        // The CRC catalogue's check value for CRC-16/IBM-3740.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    fn frames() -> impl Strategy<Value = Frame> {
        (
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(s, c, p)| Frame::new(s, c, p))
    }

    proptest! {
        #[test]
        fn frames_round_trip_through_noise(
            frames in proptest::collection::vec(frames(), 1..6),
            noise in proptest::collection::vec(any::<u8>(), 0..20),
            chunk in 1usize..64,
        ) {
            // Noise without a SYNC byte before the frames is skipped.
            let noise: Vec<u8> = noise.into_iter().filter(|&b| b != SYNC).collect();
            let mut wire = noise.clone();
            for f in &frames {
                wire.extend(f.encode().unwrap());
            }
            let mut decoder = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                decoder.push(piece);
                while let Some(frame) = decoder.next_frame() {
                    got.push(frame.unwrap());
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(decoder.skipped, noise.len() as u64);
        }

        /// Every single-bit error in a frame is detected: the corrupted frame is never
        /// delivered, nor anything but the next frame. (A corrupted length, or a SYNC byte in
        /// the payload, can leave the decoder waiting for a frame that never completes; the
        /// host's timeout and retry recover from that.)
        #[test]
        fn every_single_bit_error_is_detected(frame in frames(), next in frames(), bit in any::<usize>()) {
            let mut wire = frame.encode().unwrap();
            let bit = bit % (wire.len() * 8);
            wire[bit / 8] ^= 1 << (bit % 8);
            wire.extend(next.encode().unwrap());
            let mut decoder = FrameDecoder::new();
            decoder.push(&wire);
            let mut got = Vec::new();
            while let Some(result) = decoder.next_frame() {
                got.push(result);
            }
            // Noticed: an error, bytes skipped as noise (a corrupted SYNC), or a frame pending.
            prop_assert!(
                got.iter().any(|r| r.is_err()) || decoder.skipped > 0 || decoder.pending() > 0,
                "the error went unnoticed"
            );
            for f in got.iter().flatten() {
                prop_assert_eq!(f, &next);
            }
        }

        #[test]
        fn pipe_words_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..600), pad in 0usize..4) {
            let mut words = pipe::to_words(&bytes);
            prop_assert_eq!(words.len(), 2 * bytes.len());
            // Padding words anywhere are skipped.
            let at = words.len() / 4 * 2;
            words.splice(at..at, std::iter::repeat_n(0u8, 2 * pad));
            prop_assert_eq!(pipe::from_words(&words), bytes);
        }

        /// Any byte stream: no panic, and the decoder ends waiting for bytes.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut decoder = FrameDecoder::new();
            decoder.push(&bytes);
            let mut n = 0;
            while decoder.next_frame().is_some() {
                n += 1;
                prop_assert!(n <= bytes.len());
            }
        }

        #[test]
        fn images_round_trip_back_to_back(
            images in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 1..900),
                1..4,
            ),
        ) {
            let mut wire = Vec::new();
            for image in &images {
                wire.extend(encode_image(image));
            }
            let mut at = 0;
            for image in &images {
                let (pixels, used) = decode_image(&wire[at..], image.len()).unwrap();
                prop_assert_eq!(&pixels, image);
                at += used;
            }
            prop_assert_eq!(at, wire.len());
        }

        #[test]
        fn bad_image_codes_are_errors(bytes in proptest::collection::vec(any::<u8>(), 0..50), count in 1usize..300) {
            if let Ok((pixels, used)) = decode_image(&bytes, count) {
                prop_assert_eq!(pixels.len(), count);
                prop_assert!(used <= bytes.len());
            }
        }
    }

    #[test]
    fn mnist_images_take_under_0_6_of_their_raw_size() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let test = fs_model::data::load_mnist(&root.join("data")).unwrap().test;
        let (mut raw, mut coded) = (0, 0);
        for i in 0..1000 {
            raw += test.image(i).len();
            coded += encode_image(test.image(i)).len();
        }
        let ratio = coded as f64 / raw as f64;
        assert!(ratio <= 0.6, "sparse code is {ratio:.3} of the raw size");
    }
}
