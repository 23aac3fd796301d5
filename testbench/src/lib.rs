//! Simulation harnesses for the fs-accel RTL.

pub mod crosscheck;

pub use crosscheck::{
    Cycle, Mismatch, Port, Trace, cross_check, simulate_rusthdl, simulate_verilog,
};
pub mod random;
pub mod synth;
pub mod uart_line;
