//! # fs-hdl: the RustHDL RTL of fs-accel
//!
//! Blocks compute exactly what `fs_model` defines: the fixed-point widths and saturation of
//! `fs_model::fixed`, the FS-neuron step of `fs_model::neuron`, the event schedule of
//! `fs_model::infer`. Ports are 32 bits wide; values travel on them as patterns of the model's
//! datapath width ([`core::datapath`]), so synthesis trims the logic to the model.
//!
//! The crate by concern (one folder each):
//! - [`core`]: the accelerator. Bottom up: neuron ALU, block RAM, lane (with the lane memory
//!   layout), dense layer, spike FIFO, input encoder, and [`core::accelerator`], which one
//!   model file and a [`core::accelerator::HwConfig`] turn into a whole design
//!   (`docs/accelerator.md`); [`core::cycle_model`] says how many cycles it takes.
//! - [`link`]: the device around it: UART, CRC, frame receiver and sender, sparse image
//!   decoder, and the command unit ([`link::device`]) that speaks the wire protocol.
//! - [`protocol`]: the wire protocol itself, in software, defined once: the host speaks it and
//!   the device's RTL is tested against it (`docs/protocol.md`).
//! - [`sim`]: running the RTL: RustHDL's simulation of the accelerator image by image and of
//!   the device byte by byte, the same under Verilator, and the spike records that are
//!   compared with the golden model.
//! - [`fpga`]: the FPGA parts and families the open flows build for; [`resources`]: what a
//!   design takes of a target, before synthesis (`fpga-host plan`).
//!
//! Board tops (a UART and LEDs around the device, PLLs, the XEM7010's FrontPanel pipes) and
//! the place-and-route pin shell are in the `fs-boards` crate, as rust-hdl keeps its board
//! support apart from its widgets.
//!
//! Small blocks have their tests beside them (RustHDL simulation against `fs_model`);
//! `testbench/` tests layers and whole accelerators against the golden model and every block's
//! generated Verilog against its RustHDL simulation.

pub mod core;
pub mod fpga;
pub mod link;
pub mod protocol;
pub mod resources;
pub mod sim;
