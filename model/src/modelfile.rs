//! The model file (`.fsnn`): one file holds a converted network. Version 1 holds dense layers;
//! version 2 adds convolution, pooling and flatten entries. A network of dense layers without
//! pooling is written as version 1, byte for byte as before (its fingerprints, which the
//! device reports, do not change), and both versions load.
//!
//! The container is [safetensors](https://huggingface.co/docs/safetensors): an 8-byte
//! little-endian header length, a JSON header, then raw little-endian tensors. It is
//! bounds-checked by a maintained library and readable from Python
//! (`safetensors.numpy.load_file`). The network description is a JSON document stored in the
//! header metadata under the key `fsnn`; the arrays are tensors. `docs/model-format.md` is the
//! full specification.
//!
//! | tensor | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `layers.{l}.weight` | F32 | `[out, in]` (conv2d: `[out, in, k, k]`) | float ANN weights |
//! | `layers.{l}.bias` | F32 | `[out]` | float ANN biases |
//! | `layers.{l}.weight_q` | I8 or I16 | as `weight` | integer weights (`weight_bits`) |
//! | `layers.{l}.bias_q` | I32 | `[out]` | integer biases (`membrane_bits`) |
//!
//! `l` counts the layers with weights (dense and conv2d), as `Model::layers` does.

use crate::activation::Activation;
use crate::fixed::FixedFormat;
use crate::network::{
    Ann, AnnLayer, ConversionInfo, FsLayer, InputEncoding, LayerKind, Model, Pool, PoolKind, Units,
};
use crate::neuron::{FsParams, FsRom};
use anyhow::{Context, Result, bail, ensure};
use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Identifies the JSON document inside the metadata.
pub const FORMAT_NAME: &str = "fs-accel model";
/// The newest version this code reads and writes (it reads every older one).
pub const FORMAT_VERSION: u32 = 2;
/// Metadata key holding the network description.
pub const METADATA_KEY: &str = "fsnn";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    input: InputEncoding,
    fixed: FixedFormat,
    conversion: ConversionInfo,
    layers: Vec<LayerHeader>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
enum LayerHeader {
    Dense(DenseHeader),
    Conv2d(ConvHeader),
    Maxpool(PoolHeader),
    Avgpool(PoolHeader),
    Flatten,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvHeader {
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    activation: Activation,
    neuron: Option<FsParams>,
    imp_float: f64,
    rom: Option<FsRom>,
    imp: i32,
    units: Units,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolHeader {
    window: usize,
    stride: usize,
}

/// The neuron fields shared by dense and conv2d entries.
struct NeuronFields {
    activation: Activation,
    neuron: Option<FsParams>,
    imp_float: f64,
    rom: Option<FsRom>,
    imp: i32,
    units: Units,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseHeader {
    inputs: usize,
    outputs: usize,
    activation: Activation,
    neuron: Option<FsParams>,
    imp_float: f64,
    rom: Option<FsRom>,
    imp: i32,
    units: Units,
}

/// Serialises a model to the bytes of a model file.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    model
        .validate()
        .context("refusing to write an invalid model")?;
    let plain = model
        .ann
        .layers
        .iter()
        .all(|l| l.kind == LayerKind::Dense && l.pool.is_none());
    let header = Header {
        format: FORMAT_NAME.into(),
        // Dense networks stay version 1, byte for byte.
        version: if plain { 1 } else { FORMAT_VERSION },
        input: model.ann.input,
        fixed: model.format,
        conversion: model.conversion.clone(),
        layers: entries(model),
    };
    let json = serde_json::to_string(&header)?;
    let narrow = model.format.weight_bits <= 8;
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (l, (fs, ann)) in model.layers.iter().zip(&model.ann.layers).enumerate() {
        let (out, _) = ann.weight.dim();
        let shape = weight_shape(ann.kind, ann.weight.dim());
        buffers.push((
            format!("layers.{l}.weight"),
            Dtype::F32,
            shape.clone(),
            le_bytes(ann.weight.iter(), |v| v.to_le_bytes()),
        ));
        buffers.push((
            format!("layers.{l}.bias"),
            Dtype::F32,
            vec![out],
            le_bytes(ann.bias.iter(), |v| v.to_le_bytes()),
        ));
        let (dtype, bytes) = if narrow {
            (
                Dtype::I8,
                fs.weight.iter().map(|&w| w as i8 as u8).collect(),
            )
        } else {
            (Dtype::I16, le_bytes(fs.weight.iter(), |v| v.to_le_bytes()))
        };
        buffers.push((format!("layers.{l}.weight_q"), dtype, shape, bytes));
        buffers.push((
            format!("layers.{l}.bias_q"),
            Dtype::I32,
            vec![out],
            le_bytes(fs.bias.iter(), |v| v.to_le_bytes()),
        ));
    }
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, data)| {
            Ok((name.clone(), TensorView::new(*dtype, shape.clone(), data)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([(METADATA_KEY.to_string(), json)]);
    Ok(safetensors::serialize(views, &Some(metadata))?)
}

/// The header entries of a model's layers: a flatten entry where maps meet a dense layer,
/// each weight layer, then its pooling.
fn entries(model: &Model) -> Vec<LayerHeader> {
    let mut out = Vec::new();
    let mut maps = false;
    for (fs, ann) in model.layers.iter().zip(&model.ann.layers) {
        let (activation, neuron, imp_float, rom, imp, units) = (
            ann.activation,
            fs.neuron.clone(),
            fs.imp_float,
            fs.rom.clone(),
            fs.imp,
            fs.units,
        );
        match ann.kind {
            LayerKind::Dense => {
                if maps {
                    out.push(LayerHeader::Flatten);
                }
                out.push(LayerHeader::Dense(DenseHeader {
                    inputs: ann.inputs(),
                    outputs: ann.outputs(),
                    activation,
                    neuron,
                    imp_float,
                    rom,
                    imp,
                    units,
                }));
            }
            LayerKind::Conv2d {
                kernel,
                stride,
                padding,
            } => out.push(LayerHeader::Conv2d(ConvHeader {
                in_channels: ann.inputs() / (kernel * kernel),
                out_channels: ann.outputs(),
                kernel,
                stride,
                padding,
                activation,
                neuron,
                imp_float,
                rom,
                imp,
                units,
            })),
        }
        maps = ann.kind != LayerKind::Dense || ann.pool.is_some();
        if let Some(pool) = ann.pool {
            let header = PoolHeader {
                window: pool.window,
                stride: pool.stride,
            };
            out.push(match pool.kind {
                PoolKind::Max => LayerHeader::Maxpool(header),
                PoolKind::Avg => LayerHeader::Avgpool(header),
            });
        }
    }
    out
}

/// A weight tensor's shape in the file: `[out, in]`, or `[out, in, k, k]` for a convolution.
fn weight_shape(kind: LayerKind, (rows, cols): (usize, usize)) -> Vec<usize> {
    match kind {
        LayerKind::Dense => vec![rows, cols],
        LayerKind::Conv2d { kernel, .. } => {
            vec![rows, cols / (kernel * kernel), kernel, kernel]
        }
    }
}

fn le_bytes<'a, T: 'a + Copy, const N: usize>(
    values: impl Iterator<Item = &'a T>,
    f: impl Fn(T) -> [u8; N],
) -> Vec<u8> {
    values.flat_map(|v| f(*v)).collect()
}

/// Parses and validates the bytes of a model file.
pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("not a valid model file container (safetensors): truncated or corrupt")?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .with_context(|| format!("the file has no `{METADATA_KEY}` network description"))?;
    let header: Header = serde_json::from_str(json).context("network description")?;
    ensure!(
        header.format == FORMAT_NAME,
        "format is {:?}, expected {FORMAT_NAME:?}",
        header.format
    );
    ensure!(
        (1..=FORMAT_VERSION).contains(&header.version),
        "model file version {} is not supported (this build reads versions 1 to \
         {FORMAT_VERSION})",
        header.version
    );
    let mut ann_layers: Vec<AnnLayer> = Vec::new();
    let mut fs_layers = Vec::new();
    let mut flatten_pending = false;
    for (e, entry) in header.layers.into_iter().enumerate() {
        let l = ann_layers.len();
        let entry_kind = entry_name(&entry);
        let (kind, rows, cols, fields) = match entry {
            LayerHeader::Dense(h) => (
                LayerKind::Dense,
                h.outputs,
                h.inputs,
                NeuronFields {
                    activation: h.activation,
                    neuron: h.neuron,
                    imp_float: h.imp_float,
                    rom: h.rom,
                    imp: h.imp,
                    units: h.units,
                },
            ),
            _ if header.version == 1 => bail!(
                "entry {e}: a version-1 model file holds dense layers only, found {entry_kind}"
            ),
            LayerHeader::Conv2d(h) => {
                ensure!(
                    !flatten_pending,
                    "entry {e}: a conv2d layer cannot follow a flatten"
                );
                (
                    LayerKind::Conv2d {
                        kernel: h.kernel,
                        stride: h.stride,
                        padding: h.padding,
                    },
                    h.out_channels,
                    h.in_channels
                        .saturating_mul(h.kernel)
                        .saturating_mul(h.kernel),
                    NeuronFields {
                        activation: h.activation,
                        neuron: h.neuron,
                        imp_float: h.imp_float,
                        rom: h.rom,
                        imp: h.imp,
                        units: h.units,
                    },
                )
            }
            LayerHeader::Maxpool(p) | LayerHeader::Avgpool(p) => {
                let kind = if matches!(entry_kind, "maxpool") {
                    PoolKind::Max
                } else {
                    PoolKind::Avg
                };
                let Some(previous) = ann_layers.last_mut() else {
                    bail!("entry {e}: pooling before any layer (pooling follows a layer)");
                };
                ensure!(
                    previous.pool.is_none(),
                    "entry {e}: layer {} is pooled twice",
                    l - 1
                );
                previous.pool = Some(Pool {
                    kind,
                    window: p.window,
                    stride: p.stride,
                });
                continue;
            }
            LayerHeader::Flatten => {
                flatten_pending = true;
                continue;
            }
        };
        flatten_pending = false;
        let shape = weight_shape(kind, (rows, cols));
        let bias_shape = [rows];
        let ctx = || format!("layer {l}");
        let weight =
            tensor_f32(&tensors, &format!("layers.{l}.weight"), &shape).with_context(ctx)?;
        let bias =
            tensor_f32(&tensors, &format!("layers.{l}.bias"), &bias_shape).with_context(ctx)?;
        let weight_q =
            tensor_int(&tensors, &format!("layers.{l}.weight_q"), &shape).with_context(ctx)?;
        let bias_q =
            tensor_int(&tensors, &format!("layers.{l}.bias_q"), &bias_shape).with_context(ctx)?;
        ann_layers.push(AnnLayer {
            kind,
            weight: Array2::from_shape_vec((rows, cols), weight)?,
            bias: Array1::from(bias),
            activation: fields.activation,
            pool: None,
        });
        let weight_q = weight_q
            .into_iter()
            .map(|w| {
                i16::try_from(w).with_context(|| format!("layer {l}: weight {w} exceeds 16 bits"))
            })
            .collect::<Result<Vec<_>>>()?;
        let bias_q = bias_q
            .into_iter()
            .map(|b| {
                i32::try_from(b).with_context(|| format!("layer {l}: bias {b} exceeds 32 bits"))
            })
            .collect::<Result<Vec<_>>>()?;
        fs_layers.push(FsLayer {
            neuron: fields.neuron,
            imp_float: fields.imp_float,
            weight: Array2::from_shape_vec((rows, cols), weight_q)?,
            bias: bias_q,
            imp: fields.imp,
            rom: fields.rom,
            units: fields.units,
        });
    }
    ensure!(
        !flatten_pending,
        "the last entry is a flatten: a flatten must be followed by a dense layer"
    );
    let model = Model {
        ann: Ann {
            input: header.input,
            layers: ann_layers,
        },
        format: header.fixed,
        layers: fs_layers,
        conversion: header.conversion,
    };
    model.validate()?;
    Ok(model)
}

/// An entry's kind as the file names it.
fn entry_name(entry: &LayerHeader) -> &'static str {
    match entry {
        LayerHeader::Dense(_) => "dense",
        LayerHeader::Conv2d(_) => "conv2d",
        LayerHeader::Maxpool(_) => "maxpool",
        LayerHeader::Avgpool(_) => "avgpool",
        LayerHeader::Flatten => "flatten",
    }
}

fn tensor<'a>(tensors: &'a SafeTensors, name: &str, shape: &[usize]) -> Result<TensorView<'a>> {
    let view = tensors
        .tensor(name)
        .map_err(|_| anyhow::anyhow!("tensor `{name}` is missing"))?;
    ensure!(
        view.shape() == shape,
        "tensor `{name}` has shape {:?}, the description says {shape:?}",
        view.shape()
    );
    Ok(view)
}

fn tensor_f32(tensors: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let view = tensor(tensors, name, shape)?;
    ensure!(
        view.dtype() == Dtype::F32,
        "tensor `{name}` is {:?}, expected F32",
        view.dtype()
    );
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

fn tensor_int(tensors: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<i64>> {
    let view = tensor(tensors, name, shape)?;
    let data = view.data();
    Ok(match view.dtype() {
        Dtype::I8 => data.iter().map(|&b| b as i8 as i64).collect(),
        Dtype::I16 => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
            .collect(),
        Dtype::I32 => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
            .collect(),
        other => bail!("tensor `{name}` is {other:?}, expected I8, I16 or I32"),
    })
}

/// Writes a model file.
pub fn save(model: &Model, path: &Path) -> Result<()> {
    let bytes = to_bytes(model)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing model file {}", path.display()))
}

/// Reads and validates a model file; errors name the file and the problem.
pub fn load(path: &Path) -> Result<Model> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading model file {}", path.display()))?;
    from_bytes(&bytes).with_context(|| format!("model file {} is invalid", path.display()))
}
