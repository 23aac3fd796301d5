//! The FS-neuron (Few-Spikes neuron), defined once for float and fixed point.
//!
//! For K steps `t = 1..=K` the neuron starts at `v(1) = x` and does, in this order:
//! ```text
//! z(t) = v(t) >= T(t)          // `fires`, the one place that decides >= versus >
//! y   += d(t) * z(t)
//! v(t+1) = v(t) - h(t) * z(t)  // so h(K) is never used
//! ```
//! The output is `y = sum_t d(t) z(t)`. Spikes are returned as a mask: bit `t - 1` is `z(t)`.
//!
//! `>=` is chosen because it makes the ReLU neuron an exact K-bit successive-approximation
//! converter: with `T = h = d = alpha 2^-t` it outputs `q * min(floor(max(x,0) / q), 2^K - 1)`,
//! `q = alpha 2^-K`; strict `>` would be off by one `q` at every exact multiple.

use crate::fixed::{FixedFormat, SignedRange};
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

/// Most time steps a neuron may have (spike masks are `u32`).
pub const MAX_K: usize = 24;

/// The firing rule: a spike needs the membrane at or above the threshold.
#[inline(always)]
pub fn fires<V: PartialOrd>(v: V, threshold: V) -> bool {
    v >= threshold
}

/// Checks that the three tables have one entry per step and that K is supported.
fn check_steps(lengths: [usize; 3], names: [&str; 3]) -> Result<()> {
    let k = lengths[0];
    ensure!(
        (1..=MAX_K).contains(&k),
        "K = {k} time steps is outside 1..={MAX_K}"
    );
    ensure!(
        lengths.iter().all(|&n| n == k),
        "{}, {} and {} must have the same length ({}: {}, {}: {}, {}: {})",
        names[0],
        names[1],
        names[2],
        names[0],
        lengths[0],
        names[1],
        lengths[1],
        names[2],
        lengths[2]
    );
    Ok(())
}

/// Float parameters of an FS-neuron: `t[k]`, `h[k]`, `d[k]` are T, h, d of step `k + 1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsParams {
    #[serde(rename = "T")]
    pub t: Vec<f64>,
    pub h: Vec<f64>,
    pub d: Vec<f64>,
}

impl FsParams {
    pub fn k(&self) -> usize {
        self.t.len()
    }

    pub fn validate(&self) -> Result<()> {
        check_steps([self.t.len(), self.h.len(), self.d.len()], ["T", "h", "d"])?;
        for (name, values) in [("T", &self.t), ("h", &self.h), ("d", &self.d)] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                bail!("{name}[{i}] = {} is not a finite number", values[i]);
            }
        }
        Ok(())
    }

    /// The closed-form ReLU neuron: `T(t) = h(t) = d(t) = alpha 2^-t`.
    pub fn relu(k: usize, alpha: f64) -> Self {
        let v: Vec<f64> = (1..=k).map(|t| alpha * 0.5f64.powi(t as i32)).collect();
        FsParams {
            t: v.clone(),
            h: v.clone(),
            d: v,
        }
    }

    /// The same neuron for inputs and outputs scaled by `lambda` (exact for ReLU, which is
    /// positively homogeneous).
    pub fn scaled(&self, lambda: f64) -> Self {
        let s = |v: &Vec<f64>| v.iter().map(|x| x * lambda).collect();
        FsParams {
            t: s(&self.t),
            h: s(&self.h),
            d: s(&self.d),
        }
    }

    /// Runs the neuron on input `x`: returns the output `y` and the spike mask.
    #[inline]
    pub fn fire(&self, x: f64) -> (f64, u32) {
        let mut v = x;
        let mut y = 0.0;
        let mut mask = 0u32;
        for step in 0..self.t.len() {
            if fires(v, self.t[step]) {
                y += self.d[step];
                v -= self.h[step];
                mask |= 1 << step;
            }
        }
        (y, mask)
    }

    /// The output of a spike mask: `sum_t d(t) z(t)`.
    pub fn output_of(&self, mask: u32) -> f64 {
        (0..self.d.len())
            .filter(|s| mask >> s & 1 == 1)
            .map(|s| self.d[s])
            .sum()
    }
}

/// Integer parameter ROM of one layer's FS-neurons, in the layer's accumulator units.
///
/// `t` and `h` are membrane-width values compared with and subtracted from the membrane;
/// `d` (param width) is what a spike at that step is worth to the receiving layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsRom {
    #[serde(rename = "T")]
    pub t: Vec<i64>,
    #[serde(rename = "H")]
    pub h: Vec<i64>,
    #[serde(rename = "D")]
    pub d: Vec<i64>,
}

impl FsRom {
    pub fn k(&self) -> usize {
        self.t.len()
    }

    /// Checks lengths and that every entry fits its ROM width.
    pub fn validate(&self, format: &FixedFormat) -> Result<()> {
        check_steps([self.t.len(), self.h.len(), self.d.len()], ["T", "H", "D"])?;
        let membrane = format.membrane_range();
        for (i, (&t, &h)) in self.t.iter().zip(&self.h).enumerate() {
            membrane.check(t, || format!("T[{i}]"))?;
            membrane.check(h, || format!("H[{i}]"))?;
        }
        let param = format.param_range();
        for (i, &d) in self.d.iter().enumerate() {
            param
                .check(d, || format!("D[{i}]"))
                .context("a spike's output value must fit param_bits")?;
        }
        Ok(())
    }

    /// Runs the integer neuron from membrane `v` (already saturated to the membrane width);
    /// returns the spike mask. Subtractions saturate and are counted in `saturations`.
    #[inline]
    pub fn fire(&self, mut v: i64, membrane: SignedRange, saturations: &mut u64) -> u32 {
        let mut mask = 0u32;
        for step in 0..self.t.len() {
            if fires(v, self.t[step]) {
                v = membrane.saturate(v - self.h[step], saturations);
                mask |= 1 << step;
            }
        }
        mask
    }

    /// `q` when this ROM is a `K`-bit successive-approximation converter (ReLU's binary code:
    /// `H = T`, `T(t) = q 2^(K-t)`, `q > 0`): then [`Self::fire`] sends the bits of
    /// `min(floor(max(v, 0) / q), 2^K - 1)`, most significant first, and never saturates
    /// (each subtraction leaves `v >= 0`), which [`fire_binary`] computes without a loop.
    pub fn binary_quantum(&self) -> Option<i64> {
        let k = self.t.len();
        let q = *self.t.last()?;
        let binary = q > 0
            && k < 32
            && self.h == self.t
            // (Shifting back checks that the shift lost no bits.)
            && self.t.iter().enumerate().all(|(i, &t)| {
                let shift = k - 1 - i;
                t >> shift == q && q << shift == t
            });
        binary.then_some(q)
    }

    /// The integer output value of a spike mask, `sum_t D(t) z(t)`.
    #[inline]
    pub fn output_of(&self, mask: u32) -> i64 {
        output_value(mask, &self.d)
    }
}

/// [`FsRom::fire`] of a ROM whose [`FsRom::binary_quantum`] is `q`, with `k` steps: the same
/// mask, by division instead of `k` compares.
#[inline]
pub fn fire_binary(v: i64, q: i64, k: usize) -> u32 {
    code_mask(binary_code(v, q, k), k)
}

/// The `k`-bit code a binary ROM of quantum `q` sends for membrane `v`: `v / q`, clamped.
#[inline]
pub fn binary_code(v: i64, q: i64, k: usize) -> u32 {
    (v.max(0) / q).min((1 << k) - 1) as u32
}

/// The spike mask of a `k`-bit code: step 1 (bit 0 of the mask) sends its most significant bit.
#[inline]
pub fn code_mask(code: u32, k: usize) -> u32 {
    code.reverse_bits() >> (32 - k)
}

/// `sum_t values[t-1] z(t)` for a spike mask: what a neuron's spikes are worth to its receivers.
#[inline]
pub fn output_value(mask: u32, values: &[i64]) -> i64 {
    let mut y = 0;
    let mut m = mask;
    while m != 0 {
        y += values[m.trailing_zeros() as usize];
        m &= m - 1;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::SignedRange;
    use proptest::prelude::*;

    fn binary_rom(q: i64, k: usize) -> FsRom {
        let t: Vec<i64> = (0..k).map(|i| q << (k - 1 - i)).collect();
        FsRom {
            h: t.clone(),
            d: t.clone(),
            t,
        }
    }

    proptest! {
        #[test]
        fn the_binary_shortcut_fires_as_the_neuron_does(
            q in 1i64..5000, k in 1usize..=12, v in -(1i64 << 40)..(1i64 << 40), near in -3i64..3
        ) {
            let rom = binary_rom(q, k);
            prop_assert_eq!(rom.binary_quantum(), Some(q));
            let membrane = SignedRange { min: -(1 << 45), max: (1 << 45) - 1 };
            // Any membrane, and the ones next to every threshold.
            for v in [v, q * (v.rem_euclid(1 << k)) + near, (q << k) + near] {
                let mut saturations = 0;
                prop_assert_eq!(fire_binary(v, q, k), rom.fire(v, membrane, &mut saturations), "v = {}", v);
                prop_assert_eq!(saturations, 0);
            }
        }
    }

    #[test]
    fn only_successive_approximation_roms_take_the_shortcut() {
        let mut rom = binary_rom(4, 6);
        assert_eq!(rom.binary_quantum(), Some(4));
        rom.h[2] += 1;
        assert_eq!(rom.binary_quantum(), None);
        let mut rom = binary_rom(4, 6);
        rom.t[5] = 3;
        rom.h[5] = 3;
        assert_eq!(rom.binary_quantum(), None);
        assert_eq!(binary_rom(-2, 3).binary_quantum(), None);
    }

    #[test]
    fn relu_neuron_is_a_successive_approximation_adc() {
        let k = 8;
        let p = FsParams::relu(k, 1.0);
        let q = 1.0 / 256.0;
        for n in 0..300 {
            // Exact multiples of q are the cases where >= and > differ.
            let x = n as f64 * q;
            let (y, mask) = p.fire(x);
            let expect = (n.min(255)) as f64 * q;
            assert_eq!(y, expect, "x = {x}");
            assert_eq!(p.output_of(mask), y);
        }
        assert_eq!(p.fire(-0.5), (0.0, 0));
    }

    #[test]
    fn integer_relu_rom_extracts_bits_msb_first() {
        let rom = FsRom {
            t: vec![8, 4, 2, 1],
            h: vec![8, 4, 2, 1],
            d: vec![8, 4, 2, 1],
        };
        let m = SignedRange::of_bits(16);
        let mut sat = 0;
        for v in -5..40 {
            let mask = rom.fire(v, m, &mut sat);
            assert_eq!(rom.output_of(mask), v.clamp(0, 15), "v = {v}");
            // Bit t-1 of the mask is step t, which carries bit K-t of the code.
            assert_eq!(mask.reverse_bits() >> 28, v.clamp(0, 15) as u32);
        }
        assert_eq!(sat, 0);
    }

    #[test]
    fn negative_reset_saturates_and_is_counted() {
        let rom = FsRom {
            t: vec![0, 0],
            h: vec![-100, 0],
            d: vec![1, 1],
        };
        let m = SignedRange::of_bits(8);
        let mut sat = 0;
        assert_eq!(rom.fire(100, m, &mut sat), 0b11);
        assert_eq!(sat, 1);
    }

    #[test]
    fn params_validation_names_the_problem() {
        let mut p = FsParams::relu(4, 1.0);
        p.h.pop();
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("same length"), "{e}");
        let mut p = FsParams::relu(4, 1.0);
        p.d[2] = f64::NAN;
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("d[2]"), "{e}");
    }
}
