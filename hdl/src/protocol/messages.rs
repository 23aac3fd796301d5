//! Payloads of the device's requests and responses. All multi-byte fields are little-endian.

use anyhow::{Context, Result, anyhow, bail};
use crc::Crc;

/// Most payload bytes the device takes in one request: its receive buffer holds two such
/// payloads (one receiving while the other feeds images).
pub const DEVICE_MAX_PAYLOAD: usize = 256;
/// The first word of an identify response: "FSA1".
pub const MAGIC: u32 = u32::from_le_bytes(*b"FSA1");
/// 2: the image code's groups of literal pixels (1: `(zeros, value)` pairs).
pub const PROTOCOL_VERSION: u8 = 2;

const FINGERPRINT: Crc<u64> = Crc::<u64>::new(&crc::CRC_64_XZ);

/// Fingerprint of the design a device was built for: the model with its weights and initial
/// values left out (they can be loaded at run time), and the lanes per layer. Two models with
/// the same design fingerprint run on the same bitstream.
pub fn design_hash(model: &fs_model::network::Model, lanes: &[usize]) -> Result<u64> {
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
    digest.update(&fs_model::modelfile::to_bytes(&skeleton).context("fingerprinting the design")?);
    for &l in lanes {
        digest.update(&(l as u32).to_le_bytes());
    }
    Ok(digest.finalize())
}

/// Fingerprint of a whole model: what the device reports as loaded.
pub fn model_hash(model: &fs_model::network::Model) -> Result<u64> {
    let bytes = fs_model::modelfile::to_bytes(model).context("fingerprinting the model")?;
    Ok(FINGERPRINT.checksum(&bytes))
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

    pub fn decode(payload: &[u8]) -> Result<Self> {
        let word = |i: usize| {
            payload
                .get(4 * i..4 * i + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(|| anyhow!("identify response of {} bytes is too short", payload.len()))
        };
        if word(0)? != MAGIC {
            bail!("the device is not an fs-accel accelerator (bad magic)");
        }
        let w1 = word(1)?;
        let layers = (w1 >> 8 & 0xff) as usize;
        if payload.len() != 4 * (3 + layers + 4) {
            bail!(
                "identify response of {} bytes for {layers} layers",
                payload.len()
            );
        }
        let hash = |i: usize| -> Result<u64> { Ok(word(i)? as u64 | (word(i + 1)? as u64) << 32) };
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
    /// A lane's weight memory (the layout of `crate::core::lane_layout::lane_contents`).
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

/// Counters the device keeps besides the accelerator's (`fs_hdl::core::accelerator::Counter`); the
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

    pub fn decode(payload: &[u8], accelerator_counters: usize) -> Result<Self> {
        if payload.len() != 4 * Self::words(accelerator_counters) {
            bail!("status response of {} bytes", payload.len());
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

    pub fn decode(payload: &[u8], classes: usize) -> Result<Self> {
        if payload.len() < 8 {
            bail!("read-results response of {} bytes", payload.len());
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
                bail!(
                    "read-results response with {n} result bytes (expected 0 or {})",
                    4 * classes + 1
                );
            }
        };
        Ok(ResultResponse {
            index: word(0),
            decoder_busy: word(1) & 1 == 1,
            result,
        })
    }
}
