//! The whole device's generated Verilog compiled by Verilator, speaking the wire protocol on
//! its stdin and stdout (`device_tb.cpp`, the same per-clock loop as
//! [`crate::sim::rusthdl::device::DeviceDriver`]). `fpga-host infer --device sim --engine verilator` puts
//! it behind the pseudo-terminal instead of the RustHDL simulation, for long runs.

use super::verilate;
use crate::link::device::Device;
use anyhow::Result;
use rust_hdl::prelude::generate_verilog;
use std::path::{Path, PathBuf};

const TESTBENCH: &str = include_str!("device_tb.cpp");

/// A compiled Verilator simulation of one device: a program that speaks the wire protocol on
/// its stdin and stdout.
pub struct VerilatedDevice {
    pub binary: PathBuf,
}

impl VerilatedDevice {
    /// Compiles `device` under `cache` (reused when the design is the same).
    pub fn build(device: &mut Device, cache: &Path) -> Result<Self> {
        crate::sim::checked(device)?;
        let verilog = generate_verilog(device);
        let binary = verilate(
            cache,
            &[("fs_accel.v", &verilog), ("device_tb.cpp", TESTBENCH)],
            "top",
            &[],
            false,
        )?;
        Ok(VerilatedDevice { binary })
    }
}
