//! Networks from a NumPy `.npz` archive of weight arrays.
//!
//! Expected arrays, for dense layers `l = 0, 1, ...` in order: `w{l}` (2-D) and `b{l}` (1-D),
//! float32 or float64. `w{l}` is `[outputs, inputs]` as PyTorch's `nn.Linear.weight` stores it
//! ([`Layout::Torch`]), or `[inputs, outputs]` as a Keras `Dense` kernel ([`Layout::Keras`]).
//! Hidden layers get one activation; the last layer is the identity (its outputs are the
//! logits, before any softmax). Both `numpy.savez` and `numpy.savez_compressed` work.
//!
//! A convolutional network needs its topology, in the notation of `fpga-host train --layers`
//! ([`crate::train::parse_layers`]): its weight layers are `w{l}`, `b{l}` in order, a
//! convolution's weights 4-D, `[out, in, k, k]` ([`Layout::Torch`]) or `[k, k, in, out]`
//! ([`Layout::Keras`]); pooling has no arrays. Keras flattens maps channel-last, so the rows
//! of the first dense layer after maps are reordered to the channel-major order of the model.

use crate::activation::Activation;
use crate::network::{Ann, AnnLayer, Geometry, InputEncoding, LayerKind, Pool, Shape};
use crate::train::LayerSpec;
use anyhow::{Context, Result, bail, ensure};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2, Ix4};
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

/// Reads an `.npz` file into an ANN for `input`; `topology` (the layers, as `train --layers`
/// spells them) is needed for convolutions and pooling, and checked against the arrays.
pub fn import_npz(
    path: &Path,
    input: InputEncoding,
    activation: Activation,
    layout: Layout,
    topology: Option<&[LayerSpec]>,
) -> Result<Ann> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let ann = read_npz(file, input, activation, layout, topology)
        .with_context(|| format!("importing {}", path.display()))?;
    Ok(ann)
}

/// Reads an `.npz` archive from any seekable reader.
pub fn read_npz(
    reader: impl Read + Seek,
    input: InputEncoding,
    activation: Activation,
    layout: Layout,
    topology: Option<&[LayerSpec]>,
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
    // The weight layers' kinds and the pooling after each, from the topology.
    let mut kinds = Vec::new();
    let mut pools: Vec<Option<Pool>> = Vec::new();
    for spec in topology.unwrap_or(&[]) {
        match *spec {
            LayerSpec::Pool(p) => match pools.last_mut() {
                Some(slot @ None) => *slot = Some(p),
                _ => bail!("--layers: pooling must follow a layer, once"),
            },
            LayerSpec::Dense(n) => {
                kinds.push((LayerKind::Dense, n));
                pools.push(None);
            }
            LayerSpec::Conv {
                channels,
                kernel,
                stride,
                padding,
            } => {
                kinds.push((
                    LayerKind::Conv2d {
                        kernel,
                        stride,
                        padding,
                    },
                    channels,
                ));
                pools.push(None);
            }
        }
    }
    if topology.is_some() {
        ensure!(
            kinds.len() == count,
            "--layers names {} layers with weights, the archive holds {count} (w0 to w{})",
            kinds.len(),
            count - 1
        );
    }
    let mut layers: Vec<AnnLayer> = Vec::with_capacity(count);
    // What the next layer receives, and whether it is maps (Keras flattens them channel-last).
    let mut shape = input.shape();
    let mut maps: Option<Shape> = None;
    for l in 0..count {
        let name = format!("w{l}");
        let (kind, rows) = kinds.get(l).copied().unwrap_or((LayerKind::Dense, 0));
        let weight = match kind {
            LayerKind::Dense => {
                let w = read_matrix(&mut npz, &name)?;
                match layout {
                    Layout::Torch => w,
                    Layout::Keras => {
                        let w = w.reversed_axes().as_standard_layout().into_owned();
                        match maps {
                            Some(shape) => keras_columns(&w, shape, &name)?,
                            None => w,
                        }
                    }
                }
            }
            LayerKind::Conv2d { kernel, .. } => {
                conv_weights(read_any(&mut npz, &name)?, kernel, layout, &name)?
            }
        };
        if topology.is_some() {
            ensure!(
                weight.nrows() == rows,
                "`{name}` has {} outputs, --layers says {rows}",
                weight.nrows()
            );
        }
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
        layers.push(AnnLayer {
            kind,
            weight,
            bias,
            activation,
            pool: pools.get(l).copied().flatten(),
        });
        // The shape this layer hands on, for the next dense layer's Keras column order (a
        // layer that does not fit is named by the validation below).
        let last = layers.last().expect("just pushed");
        maps = Geometry::new(kind, shape, last.weight.dim(), last.pool)
            .ok()
            .map(|g| g.output)
            .filter(|out| out.height * out.width > 1);
        shape = maps.unwrap_or_else(|| Shape::flat(last.outputs()));
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

/// A convolution's 4-D weights as the model's `[out, in * k * k]` rows (`(c, ky, kx)` order).
fn conv_weights(a: ArrayD<f32>, kernel: usize, layout: Layout, name: &str) -> Result<Array2<f32>> {
    let shape = a.shape().to_vec();
    let a = a.into_dimensionality::<Ix4>().map_err(|_| {
        anyhow::anyhow!("array `{name}` has shape {shape:?}, a convolution's weights are 4-D")
    })?;
    // To [out, in, ky, kx].
    let a = match layout {
        Layout::Torch => a,
        Layout::Keras => a.permuted_axes([3, 2, 0, 1]),
    };
    let (out, inputs, kh, kw) = a.dim();
    ensure!(
        kh == kernel && kw == kernel,
        "`{name}` has a {kh}x{kw} kernel, --layers says {kernel}x{kernel}"
    );
    let a = a.as_standard_layout().into_owned();
    Ok(a.into_shape_with_order((out, inputs * kh * kw))?)
}

/// A Keras dense kernel (already `[outputs, inputs]`) whose inputs are maps flattened
/// channel-last (`(y, x, c)`), with its columns put in the model's `(c, y, x)` order.
fn keras_columns(w: &Array2<f32>, shape: Shape, name: &str) -> Result<Array2<f32>> {
    ensure!(
        w.ncols() == shape.size(),
        "`{name}` takes {} inputs, the maps before it hold {}",
        w.ncols(),
        shape.size()
    );
    Ok(super::channel_major_columns(w, shape))
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
        let a = read_npz(
            Cursor::new(torch),
            input(),
            Activation::Relu,
            Layout::Torch,
            None,
        )
        .unwrap();
        let b = read_npz(
            Cursor::new(keras),
            input(),
            Activation::Relu,
            Layout::Keras,
            None,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.widths(), vec![4, 3, 10]);
        assert_eq!(a.layers[0].weight[[2, 1]], 21.0);
        assert_eq!(a.layers[1].activation, Activation::Identity);
    }

    /// The full error of reading `bytes` as a PyTorch-layout ReLU network on `input()`.
    fn torch_error(bytes: Vec<u8>) -> String {
        let e = read_npz(
            Cursor::new(bytes),
            input(),
            Activation::Relu,
            Layout::Torch,
            None,
        )
        .unwrap_err();
        format!("{e:#}")
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
        let e = torch_error(bad);
        assert!(
            e.contains("layer 0 (dense): takes 5 inputs but receives 4"),
            "{e}"
        );

        let bad = archive(vec![("w0", mat(10, 4)), ("b0", vec1(9))], false);
        let e = torch_error(bad);
        assert!(e.contains("10 outputs but 9 biases"), "{e}");

        let bad = archive(vec![("w0", vec1(40)), ("b0", vec1(10))], false);
        let e = torch_error(bad);
        assert!(e.contains("`w0` has shape [40]"), "{e}");
    }

    #[test]
    fn missing_and_stray_arrays_are_named() {
        let e = torch_error(archive(vec![("weight", mat(10, 4))], false));
        assert!(e.contains("no array `w0`") && e.contains("weight"), "{e}");
        let e = torch_error(archive(vec![("w0", mat(10, 4))], false));
        assert!(e.contains("`b0`"), "{e}");
        let e = torch_error(archive(
            vec![("w0", mat(10, 4)), ("b0", vec1(10)), ("w2", mat(1, 1))],
            false,
        ));
        assert!(e.contains("unexpected arrays") && e.contains("w2"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [Vec::new(), b"PK\x03\x04garbage".to_vec(), vec![0u8; 100]] {
            assert!(
                read_npz(
                    Cursor::new(bytes),
                    input(),
                    Activation::Relu,
                    Layout::Torch,
                    None
                )
                .is_err()
            );
        }
        let good = archive(vec![("w0", mat(10, 4)), ("b0", vec1(10))], false);
        for cut in [10, good.len() / 2, good.len() - 5] {
            assert!(
                read_npz(
                    Cursor::new(good[..cut].to_vec()),
                    input(),
                    Activation::Relu,
                    Layout::Torch,
                    None
                )
                .is_err()
            );
        }
    }

    /// A CNN exported as PyTorch and as Keras store it imports to the same network, pooling
    /// and the channel-last flatten of Keras included.
    #[test]
    fn convolutional_networks_import_from_both_layouts() {
        use crate::network::{LayerKind, PoolKind};
        let input = InputEncoding {
            width: 6,
            height: 5,
            channels: 2,
            bits: 8,
            max_value: 255,
        };
        let mut rng_state = 1u32;
        let mut next = || {
            rng_state = rng_state
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            (rng_state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        // conv 2 -> 3 channels, 3x3, padding 1 (5x6 maps), max pool 2 (2x3), dense 4, dense 10.
        let conv = Array2::from_shape_fn((3, 2 * 9), |_| next());
        let dense = Array2::from_shape_fn((4, 3 * 2 * 3), |_| next());
        let out = Array2::from_shape_fn((10, 4), |_| next());
        let topology =
            crate::train::parse_layers("conv3k3p1,maxpool2,dense4,dense10", &input).unwrap();
        let bias =
            |n: usize| ArrayD::from_shape_vec(vec![n], (0..n).map(|i| i as f32).collect()).unwrap();
        let torch = archive(
            vec![
                (
                    "w0",
                    conv.clone()
                        .into_shape_with_order((3, 2, 3, 3))
                        .unwrap()
                        .into_dyn(),
                ),
                ("b0", bias(3)),
                ("w1", dense.clone().into_dyn()),
                ("b1", bias(4)),
                ("w2", out.clone().into_dyn()),
                ("b2", bias(10)),
            ],
            false,
        );
        // Keras: kernels [k, k, in, out]; the dense layer's inputs in (y, x, c) order.
        let keras_conv = conv
            .clone()
            .into_shape_with_order((3, 2, 3, 3))
            .unwrap()
            .permuted_axes([2, 3, 1, 0])
            .as_standard_layout()
            .into_owned();
        let keras_dense = Array2::from_shape_fn((18, 4), |(k, j)| {
            // Keras row k = (y * 3 + x) * 3 + c over the 3-channel, 2x3 pooled maps.
            let (y, x, c) = (k / 9, k / 3 % 3, k % 3);
            dense[[j, (c * 2 + y) * 3 + x]]
        });
        let keras = archive(
            vec![
                ("w0", keras_conv.into_dyn()),
                ("b0", bias(3)),
                ("w1", keras_dense.into_dyn()),
                ("b1", bias(4)),
                (
                    "w2",
                    out.clone()
                        .reversed_axes()
                        .as_standard_layout()
                        .into_owned()
                        .into_dyn(),
                ),
                ("b2", bias(10)),
            ],
            false,
        );
        let a = read_npz(
            Cursor::new(torch),
            input,
            Activation::Relu,
            Layout::Torch,
            Some(&topology),
        )
        .unwrap();
        let b = read_npz(
            Cursor::new(keras),
            input,
            Activation::Relu,
            Layout::Keras,
            Some(&topology),
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(matches!(
            a.layers[0].kind,
            LayerKind::Conv2d {
                kernel: 3,
                stride: 1,
                padding: 1
            }
        ));
        assert_eq!(a.layers[0].pool.map(|p| p.kind), Some(PoolKind::Max));
        assert_eq!(a.layers[0].weight, conv);
        assert_eq!(a.layers[1].weight, dense);
        // Without the topology the 4-D array is refused, naming it.
        let e = format!(
            "{:#}",
            read_npz(
                Cursor::new(archive(
                    vec![
                        (
                            "w0",
                            conv.into_shape_with_order((3, 2, 3, 3)).unwrap().into_dyn()
                        ),
                        ("b0", bias(3))
                    ],
                    false
                )),
                input,
                Activation::Relu,
                Layout::Torch,
                None
            )
            .unwrap_err()
        );
        assert!(e.contains("`w0` has shape [3, 2, 3, 3]"), "{e}");
    }
}
