//! # fs-hdl: the RustHDL RTL of fs-accel
//!
//! Blocks compute exactly what `fs_model` defines: the fixed-point widths and saturation of
//! `fs_model::fixed`, the FS-neuron step of `fs_model::neuron`, the event schedule of
//! `fs_model::infer`. Datapaths are built at the widest width the format allows (32-bit
//! membrane, 16-bit operands) and carry the model's narrower values sign-extended; the model's
//! widths enter as constants (saturation bounds), so one block serves every model.
//!
//! Each block has its tests beside it (RustHDL simulation against `fs_model`); `testbench/`
//! simulates their generated Verilog on the same vectors.

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
