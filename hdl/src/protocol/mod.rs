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
//! Images travel sparse: groups `[zeros, count, value_1 .. value_count]`, "`zeros` zero
//! pixels, then the `count` pixels given" (long runs take several groups); an image ends at
//! its pixel count exactly, so images follow each other in a batch with no separator. A
//! digit's strokes are runs of nonzero pixels, so an MNIST image takes about 0.25 x its raw
//! size.
//!
//! - [`frame`]: the frame, its CRC, commands, error codes and the streaming decoder;
//! - [`image_code`]: the sparse image code;
//! - [`messages`]: the payloads of every request and response, and the fingerprints;
//! - [`requests`]: what a host sends a device of a given design (its expected identity, the
//!   load requests for a model);
//! - [`pipe`]: the word-pipe carrier of the byte stream (FrontPanel, the XEM7010).
//!
//! Everything but [`pipe`] is re-exported here, so users write `protocol::Frame`.

pub mod frame;
pub mod image_code;
pub mod messages;
pub mod pipe;
pub mod requests;

pub use frame::*;
pub use image_code::*;
pub use messages::*;
pub use requests::*;

#[cfg(test)]
mod tests;
