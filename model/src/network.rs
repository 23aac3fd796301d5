//! The network description: input encoding, the trained ANN, and its FS conversion.
//!
//! A [`Model`] is what a model file holds (see [`crate::modelfile`]): the float ANN it came from
//! (kept so that accuracy loss can always be measured against it), the fixed-point format and,
//! per layer, the float FS-neuron parameters and the integer weights, biases and parameter ROM
//! that the hardware runs.

use crate::activation::Activation;
use crate::fixed::FixedFormat;
use crate::neuron::{FsParams, FsRom};
use anyhow::{Context, Result, bail, ensure};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// How 8-bit (or narrower) pixels become spikes: pixel `p` is worth `p / max_value`, and over
/// `bits` steps its FS-neuron emits the binary code of `p`, most significant bit first: at step
/// `t` it spikes when bit `bits - t` of `p` is set, and that spike is worth `D(t) = 2^(bits - t)`
/// in units of `1 / max_value`. The first layer is therefore event-driven and exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputEncoding {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    /// Time steps of the input code, the pixel width.
    pub bits: u32,
    /// The largest pixel value, which stands for 1.0.
    pub max_value: u32,
}

impl InputEncoding {
    pub fn size(&self) -> usize {
        self.width * self.height * self.channels
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(self.size() > 0, "input has no pixels ({self:?})");
        ensure!(
            (1..=16).contains(&self.bits),
            "input bits = {} is outside 1..=16",
            self.bits
        );
        ensure!(
            self.max_value >= 1 && self.max_value < (1 << self.bits),
            "input max_value = {} does not fit {} bits",
            self.max_value,
            self.bits
        );
        Ok(())
    }

    /// The spike mask of a pixel: bit `t - 1` set when the pixel spikes at step `t`.
    #[inline]
    pub fn mask(&self, pixel: u32) -> u32 {
        pixel.reverse_bits() >> (32 - self.bits)
    }

    /// The value of a spike at each step, in units of `1 / max_value`.
    pub fn spike_values(&self) -> Vec<i64> {
        (1..=self.bits).map(|t| 1i64 << (self.bits - t)).collect()
    }

    /// The float value a pixel stands for.
    pub fn value(&self, pixel: u32) -> f64 {
        pixel as f64 / self.max_value as f64
    }

    /// Checks that every pixel of an image is in range, naming the first bad one.
    pub fn check_image(&self, pixels: &[u8]) -> Result<()> {
        ensure!(
            pixels.len() == self.size(),
            "image has {} pixels, the network takes {}",
            pixels.len(),
            self.size()
        );
        if let Some(i) = pixels.iter().position(|&p| p as u32 > self.max_value) {
            bail!(
                "pixel {i} = {} exceeds the input's max_value {}",
                pixels[i],
                self.max_value
            );
        }
        Ok(())
    }
}

/// A dense float layer: `y = act(W x + b)`, `W` laid out `[outputs, inputs]` (PyTorch order).
#[derive(Clone, Debug, PartialEq)]
pub struct DenseAnn {
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
    pub activation: Activation,
}

impl DenseAnn {
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }
}

/// The float network a model was trained or imported as.
#[derive(Clone, Debug, PartialEq)]
pub struct Ann {
    pub input: InputEncoding,
    pub layers: Vec<DenseAnn>,
}

impl Ann {
    /// Checks that layers chain, the last one is the identity output and all numbers are finite.
    pub fn validate(&self) -> Result<()> {
        self.input.validate().context("input encoding")?;
        ensure!(!self.layers.is_empty(), "the network has no layers");
        let mut width = self.input.size();
        for (l, layer) in self.layers.iter().enumerate() {
            let ctx = || format!("layer {l}");
            ensure!(
                layer.inputs() == width,
                "layer {l} takes {} inputs but receives {width}",
                layer.inputs()
            );
            ensure!(
                layer.bias.len() == layer.outputs(),
                "layer {l} has {} outputs but {} biases",
                layer.outputs(),
                layer.bias.len()
            );
            ensure!(layer.outputs() > 0, "layer {l} has no outputs");
            finite(layer.weight.iter(), "weight").with_context(ctx)?;
            finite(layer.bias.iter(), "bias").with_context(ctx)?;
            let last = l + 1 == self.layers.len();
            ensure!(
                last == (layer.activation == Activation::Identity),
                "layer {l}: the output layer, and only it, must have the identity activation \
                 (its potentials are the logits); found {}",
                layer.activation
            );
            width = layer.outputs();
        }
        Ok(())
    }

    /// Widths from input to output, e.g. `[784, 256, 10]`.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.input.size())
            .chain(self.layers.iter().map(|l| l.outputs()))
            .collect()
    }

    /// Multiply-accumulates of one forward pass.
    pub fn macs(&self) -> usize {
        self.layers.iter().map(|l| l.inputs() * l.outputs()).sum()
    }
}

fn finite<'a>(values: impl Iterator<Item = &'a f32>, what: &str) -> Result<()> {
    for (i, v) in values.enumerate() {
        ensure!(v.is_finite(), "{what} element {i} = {v} is not finite");
    }
    Ok(())
}

/// Physical meaning of one integer unit, per layer (informational, and used by FS float).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Units {
    /// Float value of weight integer 1.
    pub weight: f64,
    /// Float value of accumulator (membrane) integer 1: `weight * input unit`.
    pub acc: f64,
    /// Float value of output `D` integer 1 (none for the output layer).
    pub out: Option<f64>,
}

/// One converted layer: the float FS neuron and the integer datapath.
#[derive(Clone, Debug, PartialEq)]
pub struct FsLayer {
    /// Float FS-neuron parameters of this layer's neurons (scaled by the layer normalisation);
    /// `None` for the output layer.
    pub neuron: Option<FsParams>,
    /// Float initial membrane offset added to every neuron's input (IMP).
    pub imp_float: f64,
    /// Integer weights `[outputs, inputs]`, within `weight_bits`.
    pub weight: Array2<i16>,
    /// Integer biases, the accumulators' initial values (before IMP), within `membrane_bits`.
    pub bias: Vec<i32>,
    /// Integer initial membrane offset, added to every accumulator's initial value.
    pub imp: i32,
    /// Integer parameter ROM; `None` for the output layer.
    pub rom: Option<FsRom>,
    pub units: Units,
}

impl FsLayer {
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }
}

/// The worst-case magnitude of each layer's accumulators, per neuron: `|B + IMP|` plus every
/// sender at its largest output (`max |sum_t D(t) z(t)|`, bounded by `sum_t |D(t)|`) times
/// `|W|`. No partial sum of the accumulation, in any order, can exceed it.
pub fn accumulation_bounds(input: &InputEncoding, layers: &[FsLayer]) -> Vec<Vec<u64>> {
    let mut sender_max: u64 = input.spike_values().iter().map(|d| d.unsigned_abs()).sum();
    layers
        .iter()
        .map(|layer| {
            let bounds = layer
                .weight
                .outer_iter()
                .zip(&layer.bias)
                .map(|(row, &b)| {
                    let weights: u64 = row.iter().map(|&w| (w as i64).unsigned_abs()).sum();
                    (b as i64 + layer.imp as i64).unsigned_abs() + weights * sender_max
                })
                .collect();
            if let Some(rom) = &layer.rom {
                sender_max = rom.d.iter().map(|d| d.unsigned_abs()).sum();
            }
            bounds
        })
        .collect()
}

/// How a model was converted (recorded for reproducibility; not needed to run it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConversionInfo {
    /// Where the ANN came from, e.g. the train command line.
    pub source: String,
    /// Percentile of the calibration pre-activations taken as each ReLU layer's range.
    pub alpha_percentile: Option<f64>,
    /// Per-layer normalisation factor lambda (ReLU layers' alpha; 1 elsewhere).
    pub lambda: Vec<f64>,
    /// Calibration images used.
    pub calibration_images: usize,
    /// Whether the rounding offset (IMP) is on.
    pub imp: bool,
    /// Whether ReLU layer ranges were rounded so thresholds are powers of two.
    pub pow2_scales: bool,
}

/// A converted network: what a model file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub ann: Ann,
    pub format: FixedFormat,
    pub layers: Vec<FsLayer>,
    pub conversion: ConversionInfo,
}

impl Model {
    pub fn input(&self) -> &InputEncoding {
        &self.ann.input
    }

    /// Validates everything the golden model and the hardware rely on; errors name the layer
    /// and the field.
    pub fn validate(&self) -> Result<()> {
        self.ann.validate()?;
        self.format.validate().context("fixed-point format")?;
        ensure!(
            self.layers.len() == self.ann.layers.len(),
            "{} FS layers for {} ANN layers",
            self.layers.len(),
            self.ann.layers.len()
        );
        for (l, (fs, ann)) in self.layers.iter().zip(&self.ann.layers).enumerate() {
            self.validate_layer(fs, ann)
                .with_context(|| format!("layer {l} ({})", ann.activation))?;
        }
        Ok(())
    }

    fn validate_layer(&self, fs: &FsLayer, ann: &DenseAnn) -> Result<()> {
        ensure!(
            fs.weight.dim() == ann.weight.dim(),
            "integer weights are {:?}, float weights {:?}",
            fs.weight.dim(),
            ann.weight.dim()
        );
        ensure!(
            fs.bias.len() == fs.outputs(),
            "{} integer biases for {} outputs",
            fs.bias.len(),
            fs.outputs()
        );
        let wr = self.format.weight_range();
        for ((j, i), &w) in fs.weight.indexed_iter() {
            wr.check(w as i64, || format!("weight[{j}][{i}]"))
                .context("increase weight_bits or re-convert the model")?;
        }
        let mr = self.format.membrane_range();
        mr.check(fs.imp as i64, || "imp".to_string())?;
        for (j, &b) in fs.bias.iter().enumerate() {
            mr.check(b as i64 + fs.imp as i64, || format!("bias[{j}] + imp"))
                .context("increase membrane_bits or re-convert the model")?;
        }
        for (name, u) in [
            ("weight", Some(fs.units.weight)),
            ("acc", Some(fs.units.acc)),
            ("out", fs.units.out),
        ] {
            if let Some(u) = u {
                ensure!(
                    u.is_finite() && u > 0.0,
                    "unit {name} = {u} must be positive"
                );
            }
        }
        ensure!(fs.imp_float.is_finite(), "imp_float is not finite");
        let hidden = ann.activation != Activation::Identity;
        match (&fs.neuron, &fs.rom, hidden) {
            (Some(neuron), Some(rom), true) => {
                neuron.validate().context("neuron parameters")?;
                rom.validate(&self.format).context("parameter ROM")?;
                ensure!(
                    neuron.k() == rom.k(),
                    "float neuron has K = {}, ROM has K = {}",
                    neuron.k(),
                    rom.k()
                );
                ensure!(
                    fs.units.out.is_some(),
                    "a hidden layer needs an output unit"
                );
            }
            (None, None, false) => {}
            _ => {
                bail!("a hidden layer needs neuron parameters and a ROM, the output layer neither")
            }
        }
        Ok(())
    }

    /// Time steps of each layer's spikes, input encoding first (the output layer has none).
    pub fn steps(&self) -> Vec<usize> {
        std::iter::once(self.input().bits as usize)
            .chain(
                self.layers
                    .iter()
                    .filter_map(|l| l.rom.as_ref().map(|r| r.k())),
            )
            .collect()
    }
}
