//! The board tops, simulated: one test binary (each links RustHDL).

mod alchitry_cu;
mod icebreaker;
mod lock_hold;
mod pipe_bridge;
mod uart_top;
mod ulx3s;
