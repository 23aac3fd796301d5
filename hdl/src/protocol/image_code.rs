//! The sparse image code that classify requests carry.

use anyhow::{Result, bail};

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
pub fn decode_image(bytes: &[u8], count: usize) -> Result<(Vec<u8>, usize)> {
    let mut pixels = Vec::with_capacity(count);
    let mut used = 0;
    while pixels.len() < count {
        let Some(pair) = bytes.get(used..used + 2) else {
            bail!(
                "the image's code ends after {} of {count} pixels",
                pixels.len()
            );
        };
        used += 2;
        let zeros = pair[0] as usize;
        if pixels.len() + zeros + 1 > count {
            bail!(
                "a pair of {} pixels passes the image's {count} (at pixel {})",
                zeros + 1,
                pixels.len()
            );
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
