//! `a * b` for a signed 16-bit `a` (two's complement) and an unsigned 16-bit `b`, as a
//! 32-bit two's complement pattern, with the operands in two registers each and the product in
//! one (the product of operands taken at one rising edge leaves two edges later): a weight
//! times a pixel.
//!
//! Why a block of its own: RustHDL's `*` is unsigned, and correcting an unsigned product for
//! a negative operand costs an adder per lane; written as `$signed(a) * $signed({1'b0, b})`,
//! yosys hands the signs to the DSP block (an ECP5 MULT18X18D multiplies 18 x 18 signed).
//! And yosys 0.23 maps no register into an ECP5 DSP block: the registers around it stay in
//! the fabric, and the routes into and out of the block then take most of a 10 ns cycle.
//! With [`set_ecp5_dsp`] the Verilog instantiates the MULT18X18D itself, with its input and
//! output registers on, for synthesis (`ifdef SYNTHESIS`, which yosys defines), and keeps the
//! registers in plain Verilog for simulators. The first operand registers stay in the fabric,
//! one pair per block, so the placer can put them by the DSP block: operands shared by many
//! blocks (a pixel by a bank's channels) then cross the chip in a cycle of their own, not
//! behind the logic that selects them.

use rust_hdl::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

static ECP5_DSP: AtomicBool = AtomicBool::new(false);

/// Makes generated Verilog instantiate ECP5 MULT18X18D blocks with their own registers for
/// synthesis (`true`), or leave the multiplier and its registers to the synthesis tool
/// (`false`, the default; every family).
pub fn set_ecp5_dsp(on: bool) {
    ECP5_DSP.store(on, Ordering::Relaxed);
}

#[derive(LogicBlock, Default)]
pub struct SignedProduct {
    pub clock: Signal<In, Clock>,
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    /// `a * b` of the operands taken two rising edges before the last (two registers each for
    /// the operands, one for the product).
    pub product: Signal<Out, Bits<32>>,
    /// The operands' registers: in the fabric, then at the multiplier.
    _a_fabric: u64,
    _b_fabric: u64,
    _a: u64,
    _b: u64,
    /// The ECP5 instance in this block's Verilog, whatever [`set_ecp5_dsp`] says.
    _ecp5: bool,
}

impl SignedProduct {
    /// With the ECP5 MULT18X18D instance in its Verilog (for synthesis) even while
    /// [`set_ecp5_dsp`] is off, as a test that checks the instance needs.
    pub fn with_ecp5_dsp(mut self) -> Self {
        self._ecp5 = true;
        self
    }
}

/// The MULT18X18D's ports from `a` (sign-extended to 18 bits), `b` (zero-extended) and to
/// its 36-bit product; the C, cascade and spare clock ports stay unconnected, as in yosys's
/// own `ecp5/dsp_map.v` (nextpnr cannot tie the cascade inputs to a constant).
fn mult18x18d_ports() -> String {
    let a = (0..18).map(|i| format!(".A{i}(a_fabric[{}])", i.min(15)));
    let b = (0..18).map(|i| {
        if i < 16 {
            format!(".B{i}(b_fabric[{i}])")
        } else {
            format!(".B{i}(1'b0)")
        }
    });
    let p = (0..36).map(|i| format!(".P{i}(p[{i}])"));
    let control = [
        ".SIGNEDA(1'b1)",
        ".SIGNEDB(1'b1)",
        ".SOURCEA(1'b0)",
        ".SOURCEB(1'b0)",
        ".CLK0(clock)",
        ".CE0(1'b1)",
        ".RST0(1'b0)",
    ]
    .map(String::from);
    a.chain(b)
        .chain(control)
        .chain(p)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Logic for SignedProduct {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let a = self._a as u16 as i16 as i64;
            self.product.next = ((a * self._b as i64) as u64 & 0xffff_ffff).into();
            self._a = self._a_fabric;
            self._b = self._b_fabric;
            self._a_fabric = self.a.val().to_u64();
            self._b_fabric = self.b.val().to_u64();
        }
    }

    fn connect(&mut self) {
        self.product.connect();
    }

    fn hdl(&self) -> Verilog {
        let fabric = "reg [15:0] a_fabric = 0;\n\
                      reg [15:0] b_fabric = 0;\n\
                      always @(posedge clock) begin\n\
                      \ta_fabric <= a;\n\
                      \tb_fabric <= b;\n\
                      end\n";
        let registers = "reg [15:0] a_register = 0;\n\
                         reg [15:0] b_register = 0;\n\
                         initial product = 0;\n\
                         always @(posedge clock) begin\n\
                         \ta_register <= a_fabric;\n\
                         \tb_register <= b_fabric;\n\
                         \tproduct <= $signed(a_register) * $signed({1'b0, b_register});\n\
                         end\n";
        if !(self._ecp5 || ECP5_DSP.load(Ordering::Relaxed)) {
            return Verilog::Custom(format!("{fabric}{registers}"));
        }
        Verilog::Custom(format!(
            "{fabric}\
             `ifdef SYNTHESIS\n\
             wire [35:0] p;\n\
             MULT18X18D #(.REG_INPUTA_CLK(\"CLK0\"), .REG_INPUTB_CLK(\"CLK0\"), \
             .REG_OUTPUT_CLK(\"CLK0\")) dsp ({});\n\
             always @(*) product = p[31:0];\n\
             `else\n\
             {registers}\
             `endif\n",
            mult18x18d_ports()
        ))
    }
}

/// A simulation model of the ECP5 MULT18X18D, which yosys ships only as a blackbox, as a
/// Verilog module named `name`: the modes this block's instance uses, as Lattice documents
/// them (operand and product registers on `CLK0` when `REG_INPUTA_CLK`, `REG_INPUTB_CLK` or
/// `REG_OUTPUT_CLK` say "CLK0", held by `CE0`, cleared by `RST0`; 18 x 18 bits, each operand
/// signed when `SIGNEDA` or `SIGNEDB` says so) and the ports it connects. For the
/// testbench's check of the instance and the netlist simulation of a synthesised top.
pub fn mult18x18d_model(name: &str) -> String {
    let bus = |port: &str, n: usize| {
        (0..n)
            .rev()
            .map(|i| format!("{port}{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "module {name} #(parameter REG_INPUTA_CLK = \"NONE\", \
         parameter REG_INPUTB_CLK = \"NONE\", parameter REG_OUTPUT_CLK = \"NONE\") (\n\
         input {a}, input {b}, input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, RST0,\n\
         output {p});\n\
         wire [17:0] a = {{{a}}};\n\
         wire [17:0] b = {{{b}}};\n\
         reg [17:0] a_register, b_register;\n\
         reg [35:0] p_register;\n\
         // Zero as the chip's global reset leaves them; for iverilog after time 0's processes\n\
         // have started, so that an `always @(*)` reading the product sees the change\n\
         // (Verilator runs no delays).\n\
         initial begin\n\
         `ifndef VERILATOR\n\
         #0;\n\
         `endif\n\
         a_register = 0; b_register = 0; p_register = 0;\n\
         end\n\
         wire [17:0] a_in = REG_INPUTA_CLK == \"CLK0\" ? a_register : a;\n\
         wire [17:0] b_in = REG_INPUTB_CLK == \"CLK0\" ? b_register : b;\n\
         wire [35:0] a_wide = SIGNEDA ? {{{{18{{a_in[17]}}}}, a_in}} : {{18'b0, a_in}};\n\
         wire [35:0] b_wide = SIGNEDB ? {{{{18{{b_in[17]}}}}, b_in}} : {{18'b0, b_in}};\n\
         wire [35:0] m = a_wide * b_wide;\n\
         always @(posedge CLK0) if (RST0) begin\n\
         a_register <= 0; b_register <= 0; p_register <= 0;\n\
         end else if (CE0) begin\n\
         a_register <= a; b_register <= b; p_register <= m;\n\
         end\n\
         assign {{{p}}} = REG_OUTPUT_CLK == \"CLK0\" ? p_register : m;\n\
         endmodule\n",
        a = bus("A", 18),
        b = bus("B", 18),
        p = bus("P", 36),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{prepare, settle};

    #[test]
    fn signed_times_unsigned_three_edges_later_at_the_edges() {
        let mut uut = SignedProduct::default();
        prepare(&mut uut);
        let operands = [
            (-1i64, 65535i64),
            (-32768, 65535),
            (32767, 65535),
            (-5, 3),
            (0, 9),
            (7, 0),
        ];
        let mut seen = vec![];
        for k in 0..operands.len() + 2 {
            let (a, b) = operands.get(k).copied().unwrap_or((0, 0));
            uut.a.next = ((a as u64) & 0xffff).into();
            uut.b.next = (b as u64).into();
            uut.clock.next = true.into();
            settle(&mut uut);
            uut.clock.next = false.into();
            settle(&mut uut);
            seen.push(uut.product.val().to_u64() as u32 as i32 as i64);
        }
        // After each edge: the product of the operands taken two edges before (the first two
        // edges give the initial zero).
        let expected: Vec<i64> = [0, 0]
            .into_iter()
            .chain(operands.iter().map(|(a, b)| a * b))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn verilog_passes_yosys() {
        let mut uut = SignedProduct::default();
        prepare(&mut uut);
        yosys_validate("fs_hdl_signed_product", &generate_verilog(&uut)).unwrap();
    }

    #[test]
    fn the_ecp5_instance_connects_every_operand_bit_once() {
        let ports = mult18x18d_ports();
        for i in 0..18 {
            assert_eq!(ports.matches(&format!(".A{i}(")).count(), 1);
            assert_eq!(ports.matches(&format!(".B{i}(")).count(), 1);
        }
        for i in 0..36 {
            assert!(ports.contains(&format!(".P{i}(p[{i}])")));
        }
        assert!(ports.contains(".A17(a_fabric[15])") && ports.contains(".B16(1'b0)"));
    }
}
