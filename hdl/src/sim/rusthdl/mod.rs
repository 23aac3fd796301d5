//! RustHDL's own simulation of the RTL, driven from a plain loop: [`accelerator`] runs images
//! through a whole accelerator and records every spike bus; [`device`] drives the device at
//! its byte ports, as the simulated device of `fpga-host` and the device tests do.

pub mod accelerator;
pub mod device;
