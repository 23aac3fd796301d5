//! The iCE40 PLL fed straight from its package pin (`SB_PLL40_PAD`), for a board whose
//! oscillator is wired to the PLL's own pad: on the iCEBreaker's UP5K, pin 35 is that pad, and
//! nextpnr refuses rust-hdl's `ICE40PLLBlock` (an `SB_PLL40_CORE` fed from the fabric) because
//! the PLL's site and the pin's input buffer cannot both be used. The same shape as
//! [`Ecp5Pll`](crate::ecp5_pll::Ecp5Pll): the primitive in custom Verilog over a blackbox, its
//! dividers found here.
//!
//! In SIMPLE feedback the output is `f_in / (DIVR + 1) * (DIVF + 1) / 2^DIVQ`; the iCE40
//! sysCLOCK PLL usage guide bounds the phase detector's input (`f_in / (DIVR + 1)`, 10 to
//! 133 MHz), the VCO (533 to 1,066 MHz) and the output (16 to 275 MHz). Only an exact output is
//! accepted, as for the ECP5.

use anyhow::{Result, bail};
use rust_hdl::prelude::*;

/// The dividers of one `SB_PLL40_PAD` setting (SIMPLE feedback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ice40Dividers {
    pub divr: u32,
    pub divf: u32,
    pub divq: u32,
}

impl Ice40Dividers {
    /// The dividers that make exactly `out_hz` from `in_hz`: the highest phase-detector
    /// frequency, then the VCO nearest the middle of its range. An error when none is exact.
    pub fn exact(in_hz: u64, out_hz: u64) -> Result<Self> {
        const PFD_HZ: (u64, u64) = (10_000_000, 133_000_000);
        const VCO_HZ: (u64, u64) = (533_000_000, 1_066_000_000);
        if !(16_000_000..=275_000_000).contains(&out_hz) {
            bail!("the iCE40 PLL makes 16 to 275 MHz, not {out_hz} Hz");
        }
        let middle = (VCO_HZ.0 + VCO_HZ.1) / 2;
        for divr in 0..=15u64 {
            if in_hz % (divr + 1) != 0 {
                continue;
            }
            let pfd = in_hz / (divr + 1);
            if !(PFD_HZ.0..=PFD_HZ.1).contains(&pfd) {
                continue;
            }
            let best = (1..=6u32)
                .filter_map(|divq| {
                    let vco = out_hz << divq;
                    (vco % pfd == 0 && (VCO_HZ.0..=VCO_HZ.1).contains(&vco)).then_some((
                        divq,
                        vco / pfd,
                        vco,
                    ))
                })
                .filter(|&(_, multiple, _)| (1..=128).contains(&multiple))
                .min_by_key(|&(_, _, vco)| vco.abs_diff(middle));
            if let Some((divq, multiple, _)) = best {
                return Ok(Ice40Dividers {
                    divr: divr as u32,
                    divf: multiple as u32 - 1,
                    divq,
                });
            }
        }
        bail!("no iCE40 PLL setting makes exactly {out_hz} Hz from {in_hz} Hz")
    }

    /// The loop filter's range for the phase detector's frequency (as icestorm's `icepll`).
    fn filter_range(&self, in_hz: u64) -> u32 {
        let pfd = in_hz / (self.divr as u64 + 1);
        [17, 26, 44, 66, 101]
            .iter()
            .position(|&mhz| pfd < mhz * 1_000_000)
            .unwrap_or(5) as u32
            + 1
    }
}

#[derive(LogicBlock)]
pub struct Ice40PadPll {
    /// The oscillator's pin (the PLL's pad: nothing else may use it).
    pub clock_pin: Signal<In, Clock>,
    /// The clock made from it (on a global buffer), and whether the PLL has locked to it.
    pub clock_out: Signal<Out, Clock>,
    pub locked: Signal<Out, Bit>,
    core: SbPll40Pad,
    _in_hz: u64,
    _dividers: Ice40Dividers,
}

impl Ice40PadPll {
    pub fn new(in_hz: u64, out_hz: u64) -> Result<Self> {
        Ok(Ice40PadPll {
            clock_pin: Default::default(),
            clock_out: Signal::new_with_default(Clock::default()),
            locked: Signal::new_with_default(false),
            core: SbPll40Pad,
            _in_hz: in_hz,
            _dividers: Ice40Dividers::exact(in_hz, out_hz)?,
        })
    }
}

impl Logic for Ice40PadPll {
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.clock_out.connect();
        self.locked.connect();
    }

    fn hdl(&self) -> Verilog {
        let d = self._dividers;
        Verilog::Custom(format!(
            "\
SB_PLL40_PAD #(
    .FEEDBACK_PATH(\"SIMPLE\"),
    .DIVR({divr}),
    .DIVF({divf}),
    .DIVQ({divq}),
    .FILTER_RANGE({filter})
) pll (
    .PACKAGEPIN(clock_pin),
    .PLLOUTGLOBAL(clock_out),
    .LOCK(locked),
    .RESETB(1'b1),
    .BYPASS(1'b0));
",
            divr = d.divr,
            divf = d.divf,
            divq = d.divq,
            filter = d.filter_range(self._in_hz),
        ))
    }
}

/// The primitive itself: a blackbox that yosys passes to nextpnr (ports as yosys's
/// `ice40/cells_sim.v` declares them).
#[derive(LogicBlock)]
struct SbPll40Pad;

impl Logic for SbPll40Pad {
    fn update(&mut self) {}

    fn hdl(&self) -> Verilog {
        Verilog::Blackbox(BlackBox {
            code: "
(* blackbox *)
module SB_PLL40_PAD (
    input PACKAGEPIN, output PLLOUTCORE, output PLLOUTGLOBAL, input EXTFEEDBACK,
    input [7:0] DYNAMICDELAY, output LOCK, input BYPASS, input RESETB,
    input LATCHINPUTVALUE, output SDO, input SDI, input SCLK
);
parameter FEEDBACK_PATH = \"SIMPLE\";
parameter DIVR = 4'b0000;
parameter DIVF = 7'b0000000;
parameter DIVQ = 3'b000;
parameter FILTER_RANGE = 3'b000;
endmodule
"
            .into(),
            name: "SB_PLL40_PAD".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dividers_are_exact_and_within_the_guides_ranges() {
        // The iCEBreaker: 12 MHz to 24 MHz, VCO 768 MHz (64 x 12 / 32).
        let d = Ice40Dividers::exact(12_000_000, 24_000_000).unwrap();
        assert_eq!((d.divr, d.divf, d.divq), (0, 63, 5));
        assert_eq!(d.filter_range(12_000_000), 1);
        for out in [18_000_000u64, 30_000_000, 36_000_000, 48_000_000] {
            let d = Ice40Dividers::exact(12_000_000, out).unwrap();
            let pfd = 12_000_000 / (d.divr as u64 + 1);
            let vco = pfd * (d.divf as u64 + 1);
            assert_eq!(vco >> d.divq, out);
            assert!((533_000_000..=1_066_000_000).contains(&vco), "{out}: {vco}");
        }
    }

    #[test]
    fn an_inexact_or_out_of_range_clock_is_refused() {
        let e = Ice40Dividers::exact(12_000_000, 25_000_000).unwrap_err();
        assert!(e.to_string().contains("exactly 25000000 Hz"), "{e}");
        assert!(Ice40Dividers::exact(12_000_000, 12_000_000).is_err());
    }
}
