//! The RTL against the golden model, one test binary (each binary links RustHDL): blocks,
//! lanes, layers, whole accelerators, the device and its UART, their Verilog under iverilog
//! and Verilator, and yosys's view of them.

mod accelerator;
mod blocks;
mod crosscheck;
mod device;
mod lane;
mod layer;
mod synthesis;
mod uart;
