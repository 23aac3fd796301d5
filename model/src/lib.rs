//! # fs-model: the golden model of fs-accel
//!
//! Everything the accelerator computes is defined here first, and the RTL, the host and the
//! testbenches are checked against it:
//! - [`fixed`]: the fixed-point format (widths, saturation);
//! - [`neuron`]: the FS-neuron step, float and integer, and the firing rule;
//! - [`activation`]: activations and their published FS parameters;
//! - [`fit`]: the FS-neuron parameter fitter.

pub mod activation;
pub mod convert;
pub mod data;
pub mod eval;
pub mod fit;
pub mod fixed;
pub mod import;
pub mod infer;
pub mod modelfile;
pub mod network;
pub mod neuron;
pub mod train;
