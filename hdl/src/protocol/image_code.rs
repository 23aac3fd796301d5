//! The sparse image code that classify requests carry: groups of a zero run and a run of
//! literal pixels, `[zeros, count, value_1 .. value_count]`, each standing for `zeros` zero
//! pixels then the `count` pixels given. Strokes of a digit are runs of nonzero pixels, so a
//! group costs two bytes per stroke row instead of one per pixel.

use anyhow::{Result, bail};

/// Longest zero run and literal run of one group.
const MAX_RUN: usize = 255;

/// The sparse code of an image (pixels of up to 8 bits): the fewest groups, each taking as
/// many zeros and then as many nonzero pixels as it can.
pub fn encode_image(pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < pixels.len() {
        let zeros = pixels[at..]
            .iter()
            .take(MAX_RUN)
            .take_while(|&&p| p == 0)
            .count();
        at += zeros;
        let count = pixels[at..]
            .iter()
            .take(MAX_RUN)
            .take_while(|&&p| p != 0)
            .count();
        out.push(zeros as u8);
        out.push(count as u8);
        out.extend_from_slice(&pixels[at..at + count]);
        at += count;
    }
    out
}

/// Decodes one image of `count` pixels from the front of `bytes`; returns the pixels and the
/// bytes used (`bytes` may hold more images after this one).
pub fn decode_image(bytes: &[u8], count: usize) -> Result<(Vec<u8>, usize)> {
    let mut pixels = Vec::with_capacity(count);
    let mut used = 0;
    while pixels.len() < count {
        let Some(&[zeros, literals]) = bytes.get(used..used + 2) else {
            bail!(
                "the image's code ends after {} of {count} pixels",
                pixels.len()
            );
        };
        let (zeros, literals) = (zeros as usize, literals as usize);
        used += 2;
        if pixels.len() + zeros + literals > count {
            bail!(
                "a group of {} pixels passes the image's {count} (at pixel {})",
                zeros + literals,
                pixels.len()
            );
        }
        let Some(values) = bytes.get(used..used + literals) else {
            bail!(
                "the image's code ends inside a group of {literals} pixels (at pixel {})",
                pixels.len() + zeros
            );
        };
        used += literals;
        pixels.extend(std::iter::repeat_n(0, zeros));
        pixels.extend_from_slice(values);
    }
    Ok((pixels, used))
}

/// Splits the sparse codes of a batch of images into classify payloads of at most `max` bytes
/// each. A payload may end anywhere, inside an image or a group: the device keeps its place in
/// the code from one payload to the next.
pub fn classify_payloads(codes: &[Vec<u8>], max: usize) -> Vec<Vec<u8>> {
    let stream: Vec<u8> = codes.concat();
    stream.chunks(max.max(1)).map(<[u8]>::to_vec).collect()
}
