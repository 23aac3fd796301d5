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

use crate::network::Shape;
use ndarray::Array2;

/// A dense layer's weights (`[outputs, inputs]`) over maps flattened channel-last
/// (`(y, x, c)`, as Keras flattens), with its columns put in the model's channel-major order
/// (`(c, y, x)`, as PyTorch and the model file do).
fn channel_major_columns(w: &Array2<f32>, maps: Shape) -> Array2<f32> {
    let (c, h, wd) = (maps.channels, maps.height, maps.width);
    Array2::from_shape_fn(w.dim(), |(j, i)| {
        // Model column i = (ch, y, x); channel-last column (y, x, ch).
        let (ch, y, x) = (i / (h * wd), i / wd % h, i % wd);
        w[[j, (y * wd + x) * c + ch]]
    })
}
