//! Simulation harnesses for the fs-accel RTL: Verilog against RustHDL cycle for cycle under
//! iverilog ([`crosscheck`]), yosys cell counts ([`synth`]), and a bit-level serial line
//! ([`uart_line`]). The tests are one binary, `tests/rtl.rs`; the board tops' tests, which use
//! these harnesses too, are in `fs-boards`.

pub mod crosscheck;
pub mod synth;
pub mod uart_line;

pub use crosscheck::{
    Cycle, Mismatch, Port, Trace, cross_check, simulate_rusthdl, simulate_verilog,
};
