//! Driving RustHDL blocks from a plain loop (much faster than `Simulation`, which hands the
//! circuit between threads at every edge; see `shared/notes/rusthdl.md`).

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

/// Two's complement `i64` as a sign-extended 32-bit pattern.
pub fn to_bits32(x: i64) -> Bits<32> {
    Bits::<32>::from(x as u32 as u64)
}

/// A 32-bit pattern read as two's complement.
pub fn from_bits32(b: Bits<32>) -> i64 {
    b.to_u32() as i32 as i64
}
