//! The ECP5 PLL (`EHXPLLL`) making one clock from a board's oscillator, for tops that run the
//! design faster than the oscillator (the ULX3S: 25 MHz in, 100 MHz out). rust-hdl 0.46 has
//! the iCE40's PLL only; this is the same shape: the primitive instantiated in custom Verilog
//! over a blackbox, its dividers found here.
//!
//! The output is `f_in / CLKI_DIV * CLKFB_DIV` with the feedback taken from `CLKOP`; the
//! datasheet's limits (ECP5 family data sheet, sysCLOCK PLL timing) bound the phase detector's
//! input (3.125 to 400 MHz) and the VCO (`f_out * CLKOP_DIV`, 400 to 800 MHz). Only an exact
//! output is accepted: the UART's clocks per bit and nextpnr's derived timing target are
//! computed from the nominal clock.

use anyhow::{Result, bail};
use rust_hdl::prelude::*;

/// The dividers of one `EHXPLLL` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PllDividers {
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
}

impl PllDividers {
    /// The dividers that make exactly `out_hz` from `in_hz`: the smallest input divider (the
    /// highest phase-detector frequency, the least jitter), the VCO nearest the middle of its
    /// range. An error when no setting is exact.
    pub fn exact(in_hz: u64, out_hz: u64) -> Result<Self> {
        const PFD_HZ: (u64, u64) = (3_125_000, 400_000_000);
        const VCO_HZ: (u64, u64) = (400_000_000, 800_000_000);
        if !(3_125_000..=400_000_000).contains(&out_hz) {
            bail!("the ECP5 PLL makes 3.125 to 400 MHz, not {out_hz} Hz");
        }
        for clki_div in 1..=128u64 {
            if in_hz % clki_div != 0 {
                continue;
            }
            let pfd = in_hz / clki_div;
            if !(PFD_HZ.0..=PFD_HZ.1).contains(&pfd) || out_hz % pfd != 0 {
                continue;
            }
            let clkfb_div = out_hz / pfd;
            if !(1..=128).contains(&clkfb_div) {
                continue;
            }
            let middle = (VCO_HZ.0 + VCO_HZ.1) / 2;
            let best = (1..=128u64)
                .filter(|d| (VCO_HZ.0..=VCO_HZ.1).contains(&(out_hz * d)))
                .min_by_key(|d| (out_hz * d).abs_diff(middle));
            if let Some(clkop_div) = best {
                return Ok(PllDividers {
                    clki_div: clki_div as u32,
                    clkfb_div: clkfb_div as u32,
                    clkop_div: clkop_div as u32,
                });
            }
        }
        bail!("no ECP5 PLL setting makes exactly {out_hz} Hz from {in_hz} Hz")
    }
}

#[derive(LogicBlock)]
pub struct Ecp5Pll {
    /// The oscillator.
    pub clock_in: Signal<In, Clock>,
    /// The clock made from it, and whether the PLL has locked to it.
    pub clock_out: Signal<Out, Clock>,
    pub locked: Signal<Out, Bit>,
    core: Ehxplll,
    // (Fields whose names start with `_` are not circuit: the derive skips them.)
    _in_hz: u64,
    _out_hz: u64,
    _dividers: PllDividers,
}

impl Ecp5Pll {
    pub fn new(in_hz: u64, out_hz: u64) -> Result<Self> {
        Ok(Ecp5Pll {
            clock_in: Default::default(),
            clock_out: Signal::new_with_default(Clock::default()),
            locked: Signal::new_with_default(false),
            core: Ehxplll,
            _in_hz: in_hz,
            _out_hz: out_hz,
            _dividers: PllDividers::exact(in_hz, out_hz)?,
        })
    }

    pub fn dividers(&self) -> PllDividers {
        self._dividers
    }
}

impl Logic for Ecp5Pll {
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.clock_out.connect();
        self.locked.connect();
    }

    fn hdl(&self) -> Verilog {
        let d = self._dividers;
        // The frequency attributes let nextpnr derive the output clock's timing target; the
        // loop-filter attributes and the phase (half the output divider) are what Trellis's
        // `ecppll` writes.
        Verilog::Custom(format!(
            "\
(* FREQUENCY_PIN_CLKI=\"{fin}\" *)
(* FREQUENCY_PIN_CLKOP=\"{fout}\" *)
(* ICP_CURRENT=\"12\" *) (* LPF_RESISTOR=\"8\" *) (* MFG_ENABLE_FILTEROPAMP=\"1\" *) (* MFG_GMCREF_SEL=\"2\" *)
EHXPLLL #(
    .PLLRST_ENA(\"DISABLED\"),
    .INTFB_WAKE(\"DISABLED\"),
    .STDBY_ENABLE(\"DISABLED\"),
    .DPHASE_SOURCE(\"DISABLED\"),
    .OUTDIVIDER_MUXA(\"DIVA\"),
    .OUTDIVIDER_MUXB(\"DIVB\"),
    .OUTDIVIDER_MUXC(\"DIVC\"),
    .OUTDIVIDER_MUXD(\"DIVD\"),
    .CLKI_DIV({clki}),
    .CLKOP_ENABLE(\"ENABLED\"),
    .CLKOP_DIV({clkop}),
    .CLKOP_CPHASE({cphase}),
    .CLKOP_FPHASE(0),
    .FEEDBK_PATH(\"CLKOP\"),
    .CLKFB_DIV({clkfb})
) pll (
    .RST(1'b0),
    .STDBY(1'b0),
    .CLKI(clock_in),
    .CLKOP(clock_out),
    .CLKFB(clock_out),
    .PHASESEL0(1'b0),
    .PHASESEL1(1'b0),
    .PHASEDIR(1'b1),
    .PHASESTEP(1'b1),
    .PHASELOADREG(1'b1),
    .PLLWAKESYNC(1'b0),
    .ENCLKOP(1'b0),
    .LOCK(locked));
",
            fin = mhz(self._in_hz),
            fout = mhz(self._out_hz),
            clki = d.clki_div,
            clkop = d.clkop_div,
            cphase = d.clkop_div / 2,
            clkfb = d.clkfb_div,
        ))
    }
}

/// A frequency in MHz as the attributes take it ("25", "12.5").
fn mhz(hz: u64) -> String {
    format!("{}", hz as f64 / 1e6)
}

/// The EHXPLLL's ports, as yosys's `ecp5/cells_bb.v` declares them: the blackbox here and
/// the netlist simulation's stand-in take them from this one list.
pub const EHXPLLL_PORTS: &str = "    input CLKI, CLKFB,
    input PHASESEL1, PHASESEL0, PHASEDIR, PHASESTEP, PHASELOADREG,
    input STDBY, PLLWAKESYNC,
    input RST, ENCLKOP, ENCLKOS, ENCLKOS2, ENCLKOS3,
    output CLKOP, CLKOS, CLKOS2, CLKOS3,
    output LOCK, INTLOCK,
    output REFCLK, CLKINTFB
";

/// The primitive itself: a blackbox that yosys maps to the ECP5's PLL site.
#[derive(LogicBlock)]
struct Ehxplll;

impl Logic for Ehxplll {
    fn update(&mut self) {}

    fn hdl(&self) -> Verilog {
        Verilog::Blackbox(BlackBox {
            code: format!("\n(* blackbox *)\nmodule EHXPLLL (\n{EHXPLLL_PORTS});\nendmodule\n"),
            name: "EHXPLLL".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dividers_are_exact_and_within_the_datasheets_ranges() {
        // The ULX3S: 25 MHz to 100 MHz, VCO 600 MHz.
        let d = PllDividers::exact(25_000_000, 100_000_000).unwrap();
        assert_eq!((d.clki_div, d.clkfb_div, d.clkop_div), (1, 4, 6));
        for out in [60_000_000u64, 105_000_000, 75_000_000] {
            let d = PllDividers::exact(25_000_000, out).unwrap();
            let pfd = 25_000_000 / d.clki_div as u64;
            assert_eq!(pfd * d.clkfb_div as u64, out);
            assert!((3_125_000..=400_000_000).contains(&pfd));
            assert!((400_000_000..=800_000_000).contains(&(out * d.clkop_div as u64)));
        }
    }

    #[test]
    fn an_inexact_or_out_of_range_clock_is_refused() {
        // 99 MHz needs a 1 MHz phase detector input, below its 3.125 MHz.
        let e = PllDividers::exact(25_000_000, 99_000_000).unwrap_err();
        assert!(e.to_string().contains("exactly 99000000 Hz"), "{e}");
        assert!(PllDividers::exact(25_000_000, 500_000_000).is_err());
    }

    #[test]
    fn the_verilog_sets_the_dividers() {
        let pll = Ecp5Pll::new(25_000_000, 100_000_000).unwrap();
        let Verilog::Custom(v) = pll.hdl() else {
            panic!("custom Verilog expected")
        };
        for setting in [
            ".CLKI_DIV(1)",
            ".CLKFB_DIV(4)",
            ".CLKOP_DIV(6)",
            "CLKOP=\"100\"",
        ] {
            assert!(v.contains(setting), "{setting} in {v}");
        }
    }
}
