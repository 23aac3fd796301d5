//! Running the RTL, by simulator and then by block:
//! - [`rusthdl`]: RustHDL's simulation of the accelerator, image by image, and of the device,
//!   byte by byte (the simulated device of `fpga-host` and the device tests run on it);
//! - [`verilator`]: the same two compiled from their generated Verilog by Verilator;
//! - [`compare`]: what a run records of an image, and its one comparison with the golden
//!   model.
//!
//! Here: driving a RustHDL block from a plain loop, much faster than rust-hdl's `Simulation`,
//! which hands the circuit between threads at every clock edge.

pub mod compare;
pub mod rusthdl;
pub mod verilator;

use rust_hdl::prelude::*;

/// Settles combinational logic; panics on a design that does not converge (a logic loop is a
/// bug in the block, not a run-time condition).
pub fn settle<B: Block>(uut: &mut B) {
    assert!(
        simulate(uut, 1000),
        "the design did not settle (logic loop?)"
    );
}

/// A block ready to be driven: connected, checked (a failed check is a bug in the block).
pub fn prepare<B: Block>(uut: &mut B) {
    checked(uut).expect("the block is fully connected");
}

/// Connects a block and runs RustHDL's design checks, returning their complaint as an error.
pub fn checked<B: Block>(uut: &mut B) -> anyhow::Result<()> {
    uut.connect_all();
    check_all(uut).map_err(|e| anyhow::anyhow!("the design does not pass RustHDL's checks: {e:?}"))
}

/// A 32-bit pattern read as two's complement.
pub fn from_bits32(b: Bits<32>) -> i64 {
    b.to_u32() as i32 as i64
}
