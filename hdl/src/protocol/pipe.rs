//! The byte stream over Opal Kelly FrontPanel pipes (`fs_boards::pipe_bridge`, the XEM7010):
//! every byte travels as a 16-bit word with bit 8 set; a word with bit 8 clear is padding.
//! FrontPanel moves words as little-endian byte pairs.

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
