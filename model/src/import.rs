//! Import of dense networks trained elsewhere, from a NumPy `.npz` archive.
//!
//! Expected arrays, for dense layers `l = 0, 1, ...` in order: `w{l}` (2-D) and `b{l}` (1-D),
//! float32 or float64. `w{l}` is `[outputs, inputs]` as PyTorch's `nn.Linear.weight` stores it
//! ([`Layout::Torch`]), or `[inputs, outputs]` as a Keras `Dense` kernel ([`Layout::Keras`]).
//! Hidden layers get one activation; the last layer is the identity (its outputs are the
//! logits, before any softmax). Both `numpy.savez` and `numpy.savez_compressed` work.

use crate::activation::Activation;
use crate::network::{Ann, AnnLayer, InputEncoding};
use anyhow::{Context, Result, bail, ensure};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use ndarray_npy::NpzReader;
use std::io::{Read, Seek};
use std::path::Path;
use std::str::FromStr;

/// How a weight matrix is laid out in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[outputs, inputs]` (PyTorch `nn.Linear.weight`).
    Torch,
    /// `[inputs, outputs]` (Keras `Dense` kernel).
    Keras,
}

impl FromStr for Layout {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "torch" | "pytorch" => Ok(Layout::Torch),
            "keras" | "tensorflow" => Ok(Layout::Keras),
            _ => bail!("unknown weight layout {s:?} (torch or keras)"),
        }
    }
}

/// Reads an `.npz` file into an ANN for `input`.
pub fn import_npz(
    path: &Path,
    input: InputEncoding,
    activation: Activation,
    layout: Layout,
) -> Result<Ann> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_npz(file, input, activation, layout)
        .with_context(|| format!("importing {}", path.display()))
}

/// Reads an `.npz` archive from any seekable reader.
pub fn read_npz(
    reader: impl Read + Seek,
    input: InputEncoding,
    activation: Activation,
    layout: Layout,
) -> Result<Ann> {
    ensure!(
        activation != Activation::Identity,
        "hidden layers need a non-linear activation"
    );
    let mut npz = NpzReader::new(reader).context("not a valid .npz (zip) archive")?;
    let names = npz
        .names()
        .context("reading the archive's table of contents")?;
    let count = (0..)
        .take_while(|l| names.contains(&format!("w{l}")))
        .count();
    ensure!(
        count > 0,
        "no array `w0` in the archive (found: {}); expected w0, b0, w1, b1, ...",
        names.join(", ")
    );
    let mut layers = Vec::with_capacity(count);
    for l in 0..count {
        let weight = read_matrix(&mut npz, &format!("w{l}"))?;
        let weight = match layout {
            Layout::Torch => weight,
            Layout::Keras => weight.reversed_axes().as_standard_layout().into_owned(),
        };
        let bias_name = format!("b{l}");
        ensure!(
            names.contains(&bias_name),
            "array `{bias_name}` (bias of layer {l}) is missing"
        );
        let bias = read_vector(&mut npz, &bias_name)?;
        let activation = if l + 1 == count {
            Activation::Identity
        } else {
            activation
        };
        layers.push(AnnLayer::dense(weight, bias, activation));
    }
    let unused: Vec<&String> = names
        .iter()
        .filter(|n| !(0..count).any(|l| **n == format!("w{l}") || **n == format!("b{l}")))
        .collect();
    ensure!(
        unused.is_empty(),
        "unexpected arrays {unused:?}: layers must be numbered w0, b0, w1, b1, ... without gaps"
    );
    let ann = Ann { input, layers };
    ann.validate().with_context(|| {
        format!(
            "the arrays do not form a network for {} inputs (weights are read as {layout:?} \
             layout: [outputs, inputs] for torch, [inputs, outputs] for keras)",
            input.size()
        )
    })?;
    Ok(ann)
}

fn read_any(npz: &mut NpzReader<impl Read + Seek>, name: &str) -> Result<ArrayD<f32>> {
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(name) {
        return Ok(a);
    }
    let a: ArrayD<f64> = npz
        .by_name(name)
        .with_context(|| format!("array `{name}` must be float32 or float64"))?;
    Ok(a.mapv(|v| v as f32))
}

fn read_matrix(npz: &mut NpzReader<impl Read + Seek>, name: &str) -> Result<Array2<f32>> {
    let a = read_any(npz, name)?;
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| anyhow::anyhow!("array `{name}` has shape {shape:?}, a weight matrix is 2-D"))
}

fn read_vector(npz: &mut NpzReader<impl Read + Seek>, name: &str) -> Result<Array1<f32>> {
    let a = read_any(npz, name)?;
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix1>()
        .map_err(|_| anyhow::anyhow!("array `{name}` has shape {shape:?}, a bias is 1-D"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::NpzWriter;
    use std::io::Cursor;

    fn input() -> InputEncoding {
        InputEncoding {
            width: 2,
            height: 2,
            channels: 1,
            bits: 8,
            max_value: 255,
        }
    }

    fn archive(arrays: Vec<(&str, ArrayD<f32>)>, compressed: bool) -> Vec<u8> {
        let mut w = if compressed {
            NpzWriter::new_compressed(Cursor::new(Vec::new()))
        } else {
            NpzWriter::new(Cursor::new(Vec::new()))
        };
        for (name, a) in arrays {
            w.add_array(name, &a).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn mat(r: usize, c: usize) -> ArrayD<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| (i * 10 + j) as f32).into_dyn()
    }

    fn vec1(n: usize) -> ArrayD<f32> {
        Array1::from_shape_fn(n, |i| i as f32).into_dyn()
    }

    #[test]
    fn torch_and_keras_layouts_give_the_same_network() {
        let torch = archive(
            vec![
                ("w0", mat(3, 4)),
                ("b0", vec1(3)),
                ("w1", mat(10, 3)),
                ("b1", vec1(10)),
            ],
            false,
        );
        let keras = archive(
            vec![
                ("w0", mat(3, 4).reversed_axes()),
                ("b0", vec1(3)),
                ("w1", mat(10, 3).reversed_axes()),
                ("b1", vec1(10)),
            ],
            true,
        );
        let a = read_npz(Cursor::new(torch), input(), Activation::Relu, Layout::Torch).unwrap();
        let b = read_npz(Cursor::new(keras), input(), Activation::Relu, Layout::Keras).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.widths(), vec![4, 3, 10]);
        assert_eq!(a.layers[0].weight[[2, 1]], 21.0);
        assert_eq!(a.layers[1].activation, Activation::Identity);
    }

    #[test]
    fn wrong_shapes_are_named() {
        let bad = archive(
            vec![
                ("w0", mat(3, 5)),
                ("b0", vec1(3)),
                ("w1", mat(10, 3)),
                ("b1", vec1(10)),
            ],
            false,
        );
        let e = format!(
            "{:#}",
            read_npz(Cursor::new(bad), input(), Activation::Relu, Layout::Torch).unwrap_err()
        );
        assert!(
            e.contains("layer 0 (dense): takes 5 inputs but receives 4"),
            "{e}"
        );

        let bad = archive(vec![("w0", mat(10, 4)), ("b0", vec1(9))], false);
        let e = format!(
            "{:#}",
            read_npz(Cursor::new(bad), input(), Activation::Relu, Layout::Torch).unwrap_err()
        );
        assert!(e.contains("10 outputs but 9 biases"), "{e}");

        let bad = archive(vec![("w0", vec1(40)), ("b0", vec1(10))], false);
        let e = format!(
            "{:#}",
            read_npz(Cursor::new(bad), input(), Activation::Relu, Layout::Torch).unwrap_err()
        );
        assert!(e.contains("`w0` has shape [40]"), "{e}");
    }

    #[test]
    fn missing_and_stray_arrays_are_named() {
        let e = format!(
            "{:#}",
            read_npz(
                Cursor::new(archive(vec![("weight", mat(10, 4))], false)),
                input(),
                Activation::Relu,
                Layout::Torch
            )
            .unwrap_err()
        );
        assert!(e.contains("no array `w0`") && e.contains("weight"), "{e}");
        let e = format!(
            "{:#}",
            read_npz(
                Cursor::new(archive(vec![("w0", mat(10, 4))], false)),
                input(),
                Activation::Relu,
                Layout::Torch
            )
            .unwrap_err()
        );
        assert!(e.contains("`b0`"), "{e}");
        let e = format!(
            "{:#}",
            read_npz(
                Cursor::new(archive(
                    vec![("w0", mat(10, 4)), ("b0", vec1(10)), ("w2", mat(1, 1))],
                    false
                )),
                input(),
                Activation::Relu,
                Layout::Torch
            )
            .unwrap_err()
        );
        assert!(e.contains("unexpected arrays") && e.contains("w2"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [Vec::new(), b"PK\x03\x04garbage".to_vec(), vec![0u8; 100]] {
            assert!(
                read_npz(Cursor::new(bytes), input(), Activation::Relu, Layout::Torch).is_err()
            );
        }
        let good = archive(vec![("w0", mat(10, 4)), ("b0", vec1(10))], false);
        for cut in [10, good.len() / 2, good.len() - 5] {
            assert!(
                read_npz(
                    Cursor::new(good[..cut].to_vec()),
                    input(),
                    Activation::Relu,
                    Layout::Torch
                )
                .is_err()
            );
        }
    }
}
