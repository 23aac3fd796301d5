//! The width of a model's arithmetic in hardware, and how values are carried on it.
//!
//! Ports are 32 bits wide (RustHDL types are fixed at compile time), but a model's datapath is
//! only `width` bits: every value travels as a `width`-bit two's complement pattern with the
//! bits above it zero. Sums are masked back to `width` bits, so yosys trims every adder,
//! comparator and register to the model's width. `width` is one more bit than the widest
//! operand, so a sum never wraps before it is saturated to the membrane range.

use anyhow::{Result, bail};
use fs_model::fixed::{MAX_DATAPATH_BITS, SignedRange, product_bits};
use fs_model::network::Model;
use rust_hdl::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datapath {
    /// Range of a stored membrane (and of biases, thresholds and resets), and its width.
    pub membrane: SignedRange,
    pub membrane_bits: usize,
    /// Bits of every value in flight.
    pub width: usize,
}

impl Datapath {
    /// A datapath for membranes of `membrane_bits` and products of `product_bits`.
    pub fn new(membrane_bits: u32, product_bits: u32) -> Result<Self> {
        let width = membrane_bits.max(product_bits) + 1;
        if width > MAX_DATAPATH_BITS {
            bail!(
                "a {membrane_bits}-bit membrane and {product_bits}-bit products need a \
                 {width}-bit datapath; the RTL supports up to {MAX_DATAPATH_BITS}"
            );
        }
        Ok(Datapath {
            membrane: SignedRange::of_bits(membrane_bits),
            membrane_bits: membrane_bits as usize,
            width: width as usize,
        })
    }

    /// The datapath of `model`: products `W * D(t)` of every layer's weights and its sender's
    /// spike values.
    pub fn of_model(model: &Model) -> Result<Self> {
        let mut largest_value = model.input().spike_values().into_iter().max().unwrap_or(1);
        for layer in &model.layers {
            if let Some(rom) = &layer.rom {
                largest_value = largest_value.max(rom.d.iter().map(|d| d.abs()).max().unwrap_or(1));
            }
        }
        Self::new(
            model.format.membrane_bits,
            product_bits(model.format.weight_bits, largest_value.unsigned_abs()),
        )
    }

    /// `x` as a pattern (`x` must fit `width` bits).
    pub fn pattern(&self, x: i64) -> Bits<32> {
        Bits::<32>::from(x as u64 & self.mask())
    }

    /// A pattern read back as two's complement.
    pub fn value(&self, pattern: Bits<32>) -> i64 {
        let shift = 64 - self.width;
        ((pattern.to_u64() << shift) as i64) >> shift
    }

    /// The pattern's sign bit.
    pub fn sign_bit(&self) -> u64 {
        1 << (self.width - 1)
    }

    /// The `width` low bits.
    pub fn mask(&self) -> u64 {
        u64::MAX >> (64 - self.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_round_trip_at_the_edges() {
        let d = Datapath::new(18, 12).unwrap();
        assert_eq!(d.width, 19);
        for x in [
            0,
            1,
            -1,
            d.membrane.min,
            d.membrane.max,
            -(1 << 18),
            (1 << 18) - 1,
        ] {
            assert_eq!(d.value(d.pattern(x)), x);
            assert_eq!(d.pattern(x).to_u64() >> d.width, 0);
        }
    }

    #[test]
    fn too_wide_is_refused_with_the_widths() {
        let e = Datapath::new(32, 16).unwrap_err();
        assert!(e.to_string().contains("33-bit"), "{e}");
        assert!(Datapath::new(31, 16).is_ok());
    }
}
