//! What a board is to the open flows: its part, clock, baud rate, LEDs, the design it is built
//! for and its pin file. The boards themselves are [`crate::BOARDS`].

use fs_hdl::fpga::Part;
use serde::Serialize;

/// A board the open flows build a bitstream for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Board {
    pub name: &'static str,
    pub part: Part,
    /// The clock the design runs at (nextpnr's timing target), and the UART's baud rate (a
    /// whole number of clocks per bit, at least 4).
    pub clock_hz: u32,
    pub baud: u32,
    /// LEDs light on a low pin.
    pub leds_active_low: bool,
    /// The model file (from the repository root) and lanes per layer it is built for.
    pub model: &'static str,
    pub lanes: &'static [usize],
    /// Pin file, from the repository root.
    pub constraints: &'static str,
    /// What wraps the common top.
    pub top: TopKind,
}

/// The top a board's bitstream is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TopKind {
    /// [`BoardTop`](crate::uart_top::BoardTop) on the oscillator's clock.
    Direct,
    /// [`BoardTop`](crate::uart_top::BoardTop) behind the Alchitry Cu's PLL ([`AlchitryCuTop`](crate::alchitry_cu::AlchitryCuTop)).
    AlchitryCu,
}

impl Board {
    pub fn clocks_per_bit(&self) -> u16 {
        (self.clock_hz / self.baud) as u16
    }
}
