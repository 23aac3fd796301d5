//! # fs-hdl: the RustHDL RTL of fs-accel
//!
//! Blocks compute exactly what `fs_model` defines: the fixed-point widths and saturation of
//! `fs_model::fixed`, the FS-neuron step of `fs_model::neuron`, the event schedule of
//! `fs_model::infer`. Datapaths are built at the widest width the format allows (32-bit
//! membrane, 16-bit operands) and carry the model's narrower values sign-extended; the model's
//! widths enter as constants (saturation bounds), so one block serves every model.
//!
//! The blocks, bottom up: [`saturating_adder`], [`fire_step`], [`bram`], [`lane`],
//! [`dense_layer`], [`input_encoder`], and [`accelerator`], which one model file and a
//! [`accelerator::HwConfig`] turn into a whole design (`docs/accelerator.md`). [`run`] drives
//! RustHDL's simulation of it image by image, [`verilator`] the generated Verilog compiled by
//! Verilator; both record every spike bus for comparison with the golden model.
//!
//! Small blocks have their tests beside them (RustHDL simulation against `fs_model`);
//! `testbench/` tests layers and whole accelerators against the golden model and every block's
//! generated Verilog against its RustHDL simulation.

pub mod accelerator;
pub mod bram;
pub mod dense_layer;
pub mod fire_step;
pub mod input_encoder;
pub mod lane;
pub mod run;
pub mod saturating_adder;
pub mod sim;
pub mod verilator;
