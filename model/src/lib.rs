//! # fs-model: the golden model of fs-accel
//!
//! Everything the accelerator computes is defined here first, and the RTL, the host and the
//! testbenches are checked against it. The crate has two halves.
//!
//! **The hardware contract**: what a model is and what the hardware must compute from it, bit
//! for bit. The RTL (`fs-hdl`) reads these and nothing else of this crate:
//! - [`fixed`]: the fixed-point format (widths, saturation, the RTL's width limits);
//! - [`neuron`]: the FS-neuron step, float and integer, and the firing rule;
//! - [`activation`]: activations and their published FS parameters;
//! - [`geometry`]: dense and convolution layers, pooling, map shapes and who feeds whom;
//! - [`network`]: the network description (input encoding, ANN, FS layers and ROMs);
//! - [`modelfile`]: the `.fsnn` model file;
//! - [`infer`]: golden inference, the integer schedule the RTL follows.
//!
//! **The toolchain**: how a model is made and measured, which the hardware never sees:
//! - [`data`]: MNIST and the 8x8 digits;
//! - [`train`]: ANN training;
//! - [`import`]: networks trained elsewhere (npz weight archives, ONNX graphs);
//! - [`convert`]: ANN to FS conversion (normalisation, quantisation, widths);
//! - [`fit`]: the FS-neuron parameter fitter;
//! - [`eval`]: accuracies, spike and operation counts, saturations;
//! - [`rate`]: the baselines: a rate-coded integrate-and-fire network, and the AMOS view.

// The hardware contract.
pub mod activation;
pub mod fixed;
pub mod geometry;
pub mod infer;
pub mod modelfile;
pub mod network;
pub mod neuron;

// The toolchain.
pub mod convert;
pub mod data;
pub mod eval;
pub mod fit;
pub mod import;
pub mod rate;
pub mod train;
