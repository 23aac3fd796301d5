//! # fs-boards: fs-accel on FPGA boards
//!
//! The tops that put the device of `fs-hdl` on a board, kept apart from the RTL crate as
//! rust-hdl keeps its board support packages apart from its widgets (the RTL and its tests
//! never compile a board support crate):
//! - [`uart_top`]: the device behind a UART with status LEDs (the ULX3S's CNN build, and
//!   inside every PLL board's top);
//! - [`icebreaker`], [`alchitry_cu`] and [`ulx3s`]: the PLL boards' tops, a PLL
//!   ([`ecp5_pll`] on the ULX3S) around [`held_uart_top`]: the UART top, which
//!   [`lock_hold`] keeps off the serial line until the PLL has locked;
//! - [`pipe_bridge`] and `xem7010` (feature `xem7010`): the device behind FrontPanel's word
//!   pipes on the Opal Kelly XEM7010;
//! - [`netlist`]: a board's bitstream read back as a netlist and simulated behind its UART
//!   pins (iCE40);
//! - [`pin_shell`]: the accelerator alone behind registered pins, the top that `scripts/synth`
//!   places and routes on a bare part.
//!
//! [`BOARDS`] is the one table of the open-flow boards' facts (part, clock, baud rate, model,
//! lanes, pin file); `scripts/build-bitstreams` reads it through `fpga-host boards` and
//! `fpga-host verilog --board B --json`.

pub mod alchitry_cu;
pub mod board;
pub mod ecp5_pll;
pub mod held_uart_top;
pub mod ice40_pad_pll;
pub mod icebreaker;
pub mod lock_hold;
pub mod netlist;
pub mod pin_shell;
pub mod pipe_bridge;
pub mod uart_top;
pub mod ulx3s;
#[cfg(feature = "xem7010")]
pub mod xem7010;

use alchitry_cu::AlchitryCuTop;
use anyhow::Result;
pub use board::{BOARDS, Board, TopKind, baud_rates, by_name};
use fs_model::network::Model;
use icebreaker::IcebreakerTop;
use rust_hdl::prelude::*;
use uart_top::UartTop;
use ulx3s::Ulx3sTop;

/// The Verilog of `board`'s top running `model` (module `top`), checked by RustHDL first.
pub fn top_verilog(board: &Board, model: &Model) -> Result<String> {
    let mut top = UartTop::new(board, model)?;
    Ok(match board.top {
        TopKind::Uart => {
            fs_hdl::sim::checked(&mut top)?;
            generate_verilog(&top)
        }
        TopKind::Icebreaker => {
            let mut icebreaker = IcebreakerTop::new(top)?;
            fs_hdl::sim::checked(&mut icebreaker)?;
            generate_verilog(&icebreaker)
        }
        TopKind::AlchitryCu => {
            let mut cu = AlchitryCuTop::new(top);
            fs_hdl::sim::checked(&mut cu)?;
            generate_verilog(&cu)
        }
        TopKind::Ulx3s => {
            let mut ulx3s = Ulx3sTop::new(board, top)?;
            fs_hdl::sim::checked(&mut ulx3s)?;
            generate_verilog(&ulx3s)
        }
    })
}
