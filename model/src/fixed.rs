//! The fixed-point format: the one definition of what the hardware computes.
//!
//! Every integer quantity of an FS network lives in one of three signed widths:
//!
//! | quantity | width | where |
//! | --- | --- | --- |
//! | weight `W` | `weight_bits` | BRAM weight banks |
//! | output value `D(t)` of a spike at step `t` | `param_bits` | parameter ROM of the sending layer |
//! | membrane / accumulator, bias `B`, offset `IMP`, threshold `T(t)`, reset `H(t)` | `membrane_bits` | neuron state, parameter ROMs |
//!
//! Arithmetic rules, identical in the golden model and the RTL:
//! - a synaptic event multiplies exactly (`W * D(t)` fits in `weight_bits + param_bits` bits, at most
//!   32) and adds the product to the accumulator with **saturation** to `membrane_bits`;
//! - the fire phase subtracts `H(t)` with the same saturation;
//! - every saturation is counted, so a report can show that none happened.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Widest value in flight in the RTL: its ports are 32 bits wide (rust-hdl types are fixed at
/// compile time) and a model's datapath is one bit wider than its widest operand.
pub const MAX_DATAPATH_BITS: u32 = 32;
/// Widest membrane the RTL supports: its datapath is one bit wider than the membrane (so a
/// sum is exact before it saturates).
pub const MAX_MEMBRANE_BITS: u32 = MAX_DATAPATH_BITS - 1;
/// Widest weight or parameter: the hardware multiplier is 16 x 16.
pub const MAX_OPERAND_BITS: u32 = 16;

/// Bit widths of the integer datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedFormat {
    /// Signed width of a weight.
    pub weight_bits: u32,
    /// Signed width of the membrane potential, accumulator, bias, T(t) and h(t).
    pub membrane_bits: u32,
    /// Signed width of a spike's output value D(t).
    pub param_bits: u32,
}

impl FixedFormat {
    /// Checks that the widths are ones the hardware can build.
    pub fn validate(&self) -> Result<()> {
        if !(2..=MAX_OPERAND_BITS).contains(&self.weight_bits) {
            bail!(
                "weight_bits = {} is outside 2..={MAX_OPERAND_BITS}",
                self.weight_bits
            );
        }
        if !(2..=MAX_OPERAND_BITS).contains(&self.param_bits) {
            bail!(
                "param_bits = {} is outside 2..={MAX_OPERAND_BITS}",
                self.param_bits
            );
        }
        if !(8..=MAX_MEMBRANE_BITS).contains(&self.membrane_bits) {
            bail!(
                "membrane_bits = {} is outside 8..={MAX_MEMBRANE_BITS}",
                self.membrane_bits
            );
        }
        Ok(())
    }

    pub fn weight_range(&self) -> SignedRange {
        SignedRange::of_bits(self.weight_bits)
    }

    pub fn param_range(&self) -> SignedRange {
        SignedRange::of_bits(self.param_bits)
    }

    pub fn membrane_range(&self) -> SignedRange {
        SignedRange::of_bits(self.membrane_bits)
    }
}

/// The closed range of a two's complement integer of some width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedRange {
    pub min: i64,
    pub max: i64,
}

impl SignedRange {
    pub fn of_bits(bits: u32) -> Self {
        debug_assert!((1..=63).contains(&bits));
        let max = (1i64 << (bits - 1)) - 1;
        SignedRange { min: -max - 1, max }
    }

    pub fn contains(&self, x: i64) -> bool {
        (self.min..=self.max).contains(&x)
    }

    /// Clamps `x` into the range, counting a saturation when it had to.
    #[inline]
    pub fn saturate(&self, x: i64, saturations: &mut u64) -> i64 {
        if x > self.max {
            *saturations += 1;
            self.max
        } else if x < self.min {
            *saturations += 1;
            self.min
        } else {
            x
        }
    }

    /// Fails with a message naming `what` when `x` does not fit.
    pub fn check(&self, x: i64, what: impl FnOnce() -> String) -> Result<()> {
        if !self.contains(x) {
            bail!(
                "{} = {x} does not fit the fixed-point range {}..={}",
                what(),
                self.min,
                self.max
            );
        }
        Ok(())
    }
}

/// Smallest signed width that holds every value in `-bound..=bound`.
pub fn bits_for_magnitude(bound: u64) -> u32 {
    // bound fits in `b` signed bits when bound <= 2^(b-1) - 1.
    64 - bound.leading_zeros() + 1
}

/// The bound on every product `W * D` of a `weight_bits` weight and a spike value of magnitude
/// at most `largest_value`: `|W D| <= 2^(weight_bits - 1) 2^ceil(log2 |D|) = 2^(b - 1)` for
/// the returned `b`. (The RTL's datapath is a bit wider than `b`, so even `2^(b - 1)` fits.)
pub fn product_bits(weight_bits: u32, largest_value: u64) -> u32 {
    weight_bits + (64 - (largest_value.max(1) - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_twos_complement() {
        assert_eq!(
            SignedRange::of_bits(8),
            SignedRange {
                min: -128,
                max: 127
            }
        );
        assert_eq!(
            SignedRange::of_bits(32),
            SignedRange {
                min: i32::MIN as i64,
                max: i32::MAX as i64
            }
        );
    }

    #[test]
    fn saturation_clamps_and_counts() {
        let r = SignedRange::of_bits(8);
        let mut n = 0;
        assert_eq!(r.saturate(100, &mut n), 100);
        assert_eq!(n, 0);
        assert_eq!(r.saturate(128, &mut n), 127);
        assert_eq!(r.saturate(-129, &mut n), -128);
        assert_eq!(n, 2);
    }

    #[test]
    fn product_bits_bound_every_product_tightly() {
        for weight_bits in [2, 8, 16] {
            for largest in [1u64, 2, 3, 128, 129, 1 << 14] {
                let b = product_bits(weight_bits, largest);
                // The largest |W D|: the most negative weight times the largest |D|.
                let most = (1u64 << (weight_bits - 1)) * largest;
                assert!(most <= 1 << (b - 1), "{weight_bits} {largest}");
                if largest.is_power_of_two() {
                    assert_eq!(most, 1 << (b - 1), "{weight_bits} {largest}");
                }
            }
        }
    }

    #[test]
    fn bits_for_magnitude_is_tight() {
        for bound in [0u64, 1, 2, 127, 128, 255, 256, 1 << 20, (1 << 31) - 1] {
            let b = bits_for_magnitude(bound);
            assert!(SignedRange::of_bits(b).contains(bound as i64), "{bound}");
            assert!(SignedRange::of_bits(b).contains(-(bound as i64)));
            if b > 2 {
                assert!(
                    !SignedRange::of_bits(b - 1).contains(bound as i64),
                    "{bound}"
                );
            }
        }
    }

    #[test]
    fn formats_outside_the_hardware_are_rejected() {
        let ok = FixedFormat {
            weight_bits: 8,
            membrane_bits: 24,
            param_bits: 12,
        };
        assert!(ok.validate().is_ok());
        assert!(
            FixedFormat {
                weight_bits: 17,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            FixedFormat {
                membrane_bits: 33,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            FixedFormat {
                param_bits: 1,
                ..ok
            }
            .validate()
            .is_err()
        );
    }
}
