//! Import of networks trained elsewhere.
//!
//! - [`npz`]: weight arrays in a NumPy archive, with the topology given on the command line;
//! - [`onnx`]: an ONNX graph as PyTorch's `torch.onnx.export` or tf2onnx write it, which
//!   carries its own topology, layouts and activations.
//!
//! Both give the float [`crate::network::Ann`] that conversion starts from, and refuse what
//! they cannot represent by name rather than dropping it.

pub mod npz;
pub mod onnx;

pub use npz::{Layout, import_npz, read_npz};
pub use onnx::{import_onnx, read_onnx};
