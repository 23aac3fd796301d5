//! # fs-hdl: the RustHDL RTL of fs-accel
//!
//! Blocks compute exactly what `fs_model` defines: the fixed-point widths and saturation of
//! `fs_model::fixed`, the FS-neuron step of `fs_model::neuron`, the event schedule of
//! `fs_model::infer`. Ports are 32 bits wide; values travel on them as patterns of the model's
//! datapath width ([`datapath`]), so synthesis trims the logic to the model.
//!
//! The blocks, bottom up: [`neuron_alu`], [`bram`], [`lane`],
//! [`dense_layer`], [`spike_fifo`], [`input_encoder`], and [`accelerator`], which one model
//! file and a [`accelerator::HwConfig`] turn into a whole design (`docs/accelerator.md`);
//! [`pin_shell`] puts it behind few pins for place-and-route. [`run`] drives
//! RustHDL's simulation of it image by image, [`verilator`] the generated Verilog compiled by
//! Verilator; both record every spike bus for comparison with the golden model.
//!
//! Small blocks have their tests beside them (RustHDL simulation against `fs_model`);
//! `testbench/` tests layers and whole accelerators against the golden model and every block's
//! generated Verilog against its RustHDL simulation.

pub mod accelerator;
pub mod alchitry_cu;
pub mod board;
pub mod bram;
pub mod crc16;
pub mod datapath;
pub mod dense_layer;
pub mod device;
pub mod device_sim;
pub mod frame_receiver;
pub mod frame_sender;
pub mod image_decoder;
pub mod input_encoder;
pub mod lane;
pub mod neuron_alu;
pub mod pin_shell;
pub mod pipe_bridge;
pub mod protocol;
pub mod run;
pub mod sim;
pub mod spike_fifo;
pub mod uart_rx;
pub mod uart_tx;
pub mod verilator;
pub mod verilator_device;
#[cfg(feature = "xem7010")]
pub mod xem7010;
