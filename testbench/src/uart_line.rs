//! A bit-level model of an 8N1 serial line, one level per clock: what the UART tests drive
//! into the receiver and read back from the transmitter.

/// The line: idle high, then each byte as start, 8 data bits LSB first and a stop bit (low
/// when `bad_stop`), each `cpb` clocks, followed by `gap` idle clocks.
pub fn line(bytes: &[(u8, usize, bool)], cpb: usize) -> Vec<bool> {
    let mut levels = vec![true; 3 * cpb];
    for &(byte, gap, bad_stop) in bytes {
        let bits = std::iter::once(false)
            .chain((0..8).map(|i| byte >> i & 1 == 1))
            .chain(std::iter::once(!bad_stop));
        for bit in bits {
            levels.extend(std::iter::repeat_n(bit, cpb));
        }
        if bad_stop {
            // The line stays low a little, then recovers.
            levels.extend(std::iter::repeat_n(false, cpb));
        }
        levels.extend(std::iter::repeat_n(true, gap + cpb));
    }
    levels
}

/// Reads 8N1 bytes off a line sampled once per clock (bits of `cpb` clocks, sampled in their
/// middle); a frame whose stop bit is low is skipped.
pub fn decode(levels: &[bool], cpb: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut t = 1;
    while t < levels.len() {
        if levels[t - 1] && !levels[t] {
            let sample = |bit: usize| levels.get(t + bit * cpb + cpb / 2).copied();
            let Some(stop) = sample(9) else { break };
            if sample(0) == Some(false) && stop {
                bytes.push((0..8).fold(0u8, |b, i| b | (sample(1 + i).unwrap() as u8) << i));
            }
            t += 10 * cpb - cpb / 2;
        } else {
            t += 1;
        }
    }
    bytes
}
