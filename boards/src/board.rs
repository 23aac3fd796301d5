//! What a board is to the open flows: its part, clock, baud rate, LEDs, the design it is built
//! for and its pin file; and the boards themselves ([`BOARDS`]).

use crate::{alchitry_cu, icebreaker};
use anyhow::{Result, anyhow};
use fs_hdl::fpga::Part;
use serde::Serialize;

/// A board the open flows build a bitstream for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Board {
    pub name: &'static str,
    pub part: Part,
    /// The clock the design runs at (nextpnr's timing target), and the UART's baud rate: the
    /// bridge's; the design's bit is the nearest whole number of clocks, at least 4, within
    /// 1.5% of it ([`Board::baud_error`]).
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
    /// [`UartTop`](crate::uart_top::UartTop) on the oscillator's clock.
    Uart,
    /// [`UartTop`](crate::uart_top::UartTop) behind the iCEBreaker's PLL ([`IcebreakerTop`](crate::icebreaker::IcebreakerTop)).
    Icebreaker,
    /// [`UartTop`](crate::uart_top::UartTop) behind the Alchitry Cu's PLL ([`AlchitryCuTop`](crate::alchitry_cu::AlchitryCuTop)).
    AlchitryCu,
    /// [`UartTop`](crate::uart_top::UartTop) behind the ULX3S's ECP5 PLL ([`Ulx3sTop`](crate::ulx3s::Ulx3sTop)).
    Ulx3s,
}

impl Board {
    /// The clocks of one bit on the serial line: the nearest whole number.
    pub fn clocks_per_bit(&self) -> u16 {
        ((self.clock_hz + self.baud / 2) / self.baud) as u16
    }

    /// How far the design's bit rate is from `baud`, as a fraction (+0.01: 1% faster). An 8N1
    /// frame is sampled in the middle of each bit from its start edge, so the two ends of the
    /// line may differ by about 4% before the stop bit is sampled outside its bit.
    pub fn baud_error(&self) -> f64 {
        self.clock_hz as f64 / (self.clocks_per_bit() as f64 * self.baud as f64) - 1.0
    }
}

/// The boards with an open flow: iCEBreaker (iCE40 UP5K, FT2232H) with the digits network (one
/// lane per layer: the device's logic leaves no room for more, and the first layer's one lane
/// bounds the image interval, so a second output lane gained no cycle) on its PLL's 24 MHz at
/// 3 Mbaud (8 clocks a bit);
/// ULX3S (ECP5-85F, FT231X) with the MNIST MLP on its PLL's 100 MHz at the FT231X's 3 Mbaud
/// (33 clocks a bit, 1.0% fast, see docs/boards.md), or
/// (`ulx3s-cnn`) the MNIST CNN on its PLL's 45 MHz (15 clocks a bit at 3 Mbaud; the CNN
/// closed 66.8 MHz placed for 25); and the
/// Alchitry Cu (iCE40 HX8K, FT2232H) with the digits network, on its PLL's 45 MHz. The link,
/// not the accelerator, bounds their throughput.
pub const BOARDS: [Board; 4] = [
    Board {
        name: "icebreaker",
        part: Part::ICE40_UP5K,
        clock_hz: icebreaker::CLOCK_HZ as u32,
        baud: 3_000_000,
        leds_active_low: true,
        model: "models/digits-mlp.fsnn",
        lanes: &[1, 1],
        constraints: "constraints/icebreaker.pcf",
        top: TopKind::Icebreaker,
    },
    Board {
        name: "ulx3s",
        part: Part::ECP5_85K,
        clock_hz: 100_000_000,
        baud: 3_000_000,
        leds_active_low: false,
        model: "models/mnist-mlp.fsnn",
        lanes: &[128, 10],
        constraints: "constraints/ulx3s.lpf",
        top: TopKind::Ulx3s,
    },
    // The same board with the MNIST CNN: the lanes that fit the 85F (see docs/accelerator.md,
    // "Making the MNIST CNN fit the ECP5-85F").
    Board {
        name: "ulx3s-cnn",
        part: Part::ECP5_85K,
        clock_hz: 45_000_000,
        baud: 3_000_000,
        leds_active_low: false,
        model: "models/mnist-cnn.fsnn",
        lanes: &[64, 64, 16, 10],
        constraints: "constraints/ulx3s.lpf",
        top: TopKind::Ulx3s,
    },
    Board {
        name: "alchitry-cu",
        part: Part::ICE40_HX8K_CB132,
        clock_hz: alchitry_cu::CLOCK_HZ as u32,
        baud: 3_000_000,
        leds_active_low: false,
        model: "models/digits-mlp.fsnn",
        lanes: &[4, 2],
        constraints: "constraints/alchitry-cu.pcf",
        top: TopKind::AlchitryCu,
    },
];

/// The baud rates the boards' UARTs run at, each once, slowest first: what a host tries when it
/// is not told the rate, so its default follows the bitstreams when their rates change.
pub fn baud_rates() -> Vec<u32> {
    let mut rates: Vec<u32> = BOARDS.iter().map(|b| b.baud).collect();
    rates.sort_unstable();
    rates.dedup();
    rates
}

/// The board called `name`, or an error that lists the boards.
pub fn by_name(name: &str) -> Result<&'static Board> {
    BOARDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let names: Vec<_> = BOARDS.iter().map(|b| b.name).collect();
        anyhow!("no board {name}; the boards are {}", names.join(", "))
    })
}
