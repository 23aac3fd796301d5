//! `a * b` for a signed 16-bit `a` (two's complement) and an unsigned 16-bit `b`, as a
//! 32-bit two's complement pattern: a weight times a pixel.
//!
//! Why a block of its own: RustHDL's `*` is unsigned, and correcting an unsigned product for
//! a negative operand costs an adder per lane; written as `$signed(a) * $signed({1'b0, b})`,
//! yosys hands the signs to the DSP block (an ECP5 MULT18X18D multiplies 18 x 18 signed).

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SignedProduct {
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    pub product: Signal<Out, Bits<32>>,
}

impl Logic for SignedProduct {
    fn update(&mut self) {
        let a = self.a.val().to_u64() as u16 as i16 as i64;
        let b = self.b.val().to_u64() as i64;
        self.product.next = ((a * b) as u64 & 0xffff_ffff).into();
    }

    fn connect(&mut self) {
        self.product.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom("always @(*) product = $signed(a) * $signed({1'b0, b});\n".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{prepare, settle};

    #[test]
    fn signed_times_unsigned_at_the_edges() {
        let mut uut = SignedProduct::default();
        prepare(&mut uut);
        for (a, b) in [
            (-1i64, 65535i64),
            (-32768, 65535),
            (32767, 65535),
            (-5, 3),
            (0, 9),
        ] {
            uut.a.next = ((a as u64) & 0xffff).into();
            uut.b.next = (b as u64).into();
            settle(&mut uut);
            assert_eq!(uut.product.val().to_u64() as u32 as i32 as i64, a * b);
        }
    }

    #[test]
    fn verilog_passes_yosys() {
        let mut uut = SignedProduct::default();
        prepare(&mut uut);
        yosys_validate("fs_hdl_signed_product", &generate_verilog(&uut)).unwrap();
    }
}
