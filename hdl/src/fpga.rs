//! The FPGA parts the RTL is built for, and what the open flows need to know of them: a
//! family's yosys synthesis command and block RAM primitive, used by the board tops
//! (`fs-boards`, `scripts/build-bitstreams`) and the synthesis tests (`fs-testbench`).
//! (`scripts/synth`, which places the pin shell on bare parts, still has its own target
//! table.)

use serde::Serialize;

/// An FPGA family with a yosys synthesis script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ice40,
    Ecp5,
    Xilinx7,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Ice40, Family::Ecp5, Family::Xilinx7];

    /// The family's block RAM primitive.
    pub fn block_ram(self) -> &'static str {
        match self {
            Family::Ice40 => "SB_RAM40_4K",
            Family::Ecp5 => "DP16KD",
            Family::Xilinx7 => "RAMB18E1",
        }
    }

    /// A part of the family that synthesis tests use as its representative.
    pub fn representative(self) -> Part {
        match self {
            Family::Ice40 => Part::ICE40_UP5K,
            Family::Ecp5 => Part::ECP5_85K,
            Family::Xilinx7 => Part::XC7A50T,
        }
    }
}

/// One FPGA: its family, and the device and package names that nextpnr takes
/// (`nextpnr-ice40 --up5k --package sg48`, `nextpnr-ecp5 --85k --package CABGA381`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Part {
    pub family: Family,
    pub device: &'static str,
    pub package: &'static str,
    /// Multipliers go into the part's DSP blocks (the HX8K has none).
    pub dsp: bool,
}

impl Part {
    pub const ICE40_UP5K: Part = Part::new(Family::Ice40, "up5k", "sg48", true);
    pub const ICE40_HX8K_CB132: Part = Part::new(Family::Ice40, "hx8k", "cb132", false);
    pub const ECP5_85K: Part = Part::new(Family::Ecp5, "85k", "CABGA381", true);
    pub const XC7A50T: Part = Part::new(Family::Xilinx7, "xc7a50t", "fgg484", true);

    pub const fn new(
        family: Family,
        device: &'static str,
        package: &'static str,
        dsp: bool,
    ) -> Self {
        Part {
            family,
            device,
            package,
            dsp,
        }
    }

    /// The yosys command that synthesises module `top` for this part.
    pub fn synth_command(&self) -> String {
        match self.family {
            // synth_ice40 leaves multipliers in LUTs unless told that the part has DSPs.
            Family::Ice40 if self.dsp => "synth_ice40 -dsp -top top".into(),
            Family::Ice40 => "synth_ice40 -top top".into(),
            Family::Ecp5 => "synth_ecp5 -top top".into(),
            Family::Xilinx7 => "synth_xilinx -family xc7 -top top".into(),
        }
    }
}
