//! # fs-boards: fs-accel on FPGA boards
//!
//! The tops that put the device of `fs-hdl` on a board, kept apart from the RTL crate as
//! rust-hdl keeps its board support packages apart from its widgets (the RTL and its tests
//! never compile a board support crate):
//! - [`uart_top`]: the device behind a UART with status LEDs (iCEBreaker, ULX3S, and inside
//!   the Alchitry Cu's top);
//! - [`alchitry_cu`]: the Alchitry Cu's top, its PLL around the UART top;
//! - [`pipe_bridge`] and [`xem7010`] (feature `xem7010`): the device behind FrontPanel's word
//!   pipes on the Opal Kelly XEM7010;
//! - [`pin_shell`]: the accelerator alone behind registered pins, the top that `scripts/synth`
//!   places and routes on a bare part.
//!
//! [`BOARDS`] is the one table of the boards' facts (part, clock, baud rate, model, lanes, pin
//! file); `scripts/build-bitstreams` reads it through `fpga-host verilog --board B --json`.

pub mod alchitry_cu;
pub mod board;
pub mod pin_shell;
pub mod pipe_bridge;
pub mod uart_top;
#[cfg(feature = "xem7010")]
pub mod xem7010;

use alchitry_cu::AlchitryCuTop;
use anyhow::{Result, anyhow};
pub use board::{Board, TopKind};
use fs_hdl::fpga::Part;
use fs_model::network::Model;
use rust_hdl::prelude::*;
use uart_top::BoardTop;

/// The boards with an open flow: iCEBreaker (iCE40 UP5K, FT2232H) with the digits network (one
/// lane in its first layer: the device's logic leaves no room for more), ULX3S (ECP5-85F,
/// FT231X) with the MNIST MLP, both on their oscillator; and the Alchitry Cu (iCE40 HX8K,
/// FT2232H) with the digits network, on its PLL's 45 MHz. The link, not the accelerator,
/// bounds their throughput.
pub const BOARDS: [Board; 3] = [
    Board {
        name: "icebreaker",
        part: Part::ICE40_UP5K,
        clock_hz: 12_000_000,
        baud: 1_000_000,
        leds_active_low: true,
        model: "models/digits-mlp.fsnn",
        lanes: &[1, 2],
        constraints: "constraints/icebreaker.pcf",
        top: TopKind::Direct,
    },
    Board {
        name: "ulx3s",
        part: Part::ECP5_85K,
        clock_hz: 25_000_000,
        baud: 1_000_000,
        leds_active_low: false,
        model: "models/mnist-mlp.fsnn",
        lanes: &[128, 10],
        constraints: "constraints/ulx3s.lpf",
        top: TopKind::Direct,
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

/// The board called `name`, or an error that lists the boards.
pub fn board(name: &str) -> Result<&'static Board> {
    BOARDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let names: Vec<_> = BOARDS.iter().map(|b| b.name).collect();
        anyhow!("no board {name}; the boards are {}", names.join(", "))
    })
}

/// The Verilog of `board`'s top running `model` (module `top`), checked by RustHDL first.
pub fn top_verilog(board: &Board, model: &Model) -> Result<String> {
    let mut top = BoardTop::new(board, model)?;
    Ok(match board.top {
        TopKind::Direct => {
            fs_hdl::sim::checked(&mut top)?;
            generate_verilog(&top)
        }
        TopKind::AlchitryCu => {
            let mut cu = AlchitryCuTop::new(top);
            fs_hdl::sim::checked(&mut cu)?;
            generate_verilog(&cu)
        }
    })
}
