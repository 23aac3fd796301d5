//! The network description: input encoding, the trained ANN, and its FS conversion.
//!
//! A [`Model`] is what a model file holds (see [`crate::modelfile`]): the float ANN it came from
//! (kept so that accuracy loss can always be measured against it), the fixed-point format and,
//! per layer, the float FS-neuron parameters and the integer weights, biases and parameter ROM
//! that the hardware runs.

use crate::activation::Activation;
use crate::fixed::FixedFormat;
use crate::geometry::fan_out;
pub use crate::geometry::{Geometry, LayerKind, Pool, PoolKind, Shape};
use crate::neuron::{FsParams, FsRom};
use anyhow::{Context, Result, anyhow, bail, ensure};
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

    /// The image as maps.
    pub fn shape(&self) -> Shape {
        Shape {
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
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

    /// The same input in `bits` bits: pixels of `0..=2^bits - 1` (the data are rescaled to it,
    /// [`crate::data::Dataset::rescaled`]), so the input code has `bits` steps and a pixel
    /// sends at most `bits` spikes. `bits` equal to the current width changes nothing; more
    /// bits than the images have are refused.
    pub fn with_bits(&self, bits: u32) -> Result<InputEncoding> {
        ensure!(
            (1..=self.bits).contains(&bits),
            "input bits {bits}: the images have {} bits (pixels 0..={}), so 1 to {} can be chosen",
            self.bits,
            self.max_value,
            self.bits
        );
        if bits == self.bits {
            return Ok(*self);
        }
        Ok(InputEncoding {
            bits,
            max_value: (1 << bits) - 1,
            ..*self
        })
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

/// A float layer: `y = pool(act(W * x + b))`, `*` the layer's connection ([`LayerKind`]: a
/// matrix product, `W` laid out `[outputs, inputs]` as PyTorch's `nn.Linear`, or a
/// convolution, `W` laid out `[out_channels, in_channels * k * k]`).
#[derive(Clone, Debug, PartialEq)]
pub struct AnnLayer {
    pub kind: LayerKind,
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
    pub activation: Activation,
    /// Pooling of the activations (hidden layers only).
    pub pool: Option<Pool>,
}

impl AnnLayer {
    /// A dense layer without pooling.
    pub fn dense(weight: Array2<f32>, bias: Array1<f32>, activation: Activation) -> Self {
        AnnLayer {
            kind: LayerKind::Dense,
            weight,
            bias,
            activation,
            pool: None,
        }
    }

    /// Columns of the weight matrix: inputs of a dense layer, `in_channels * k * k` of a
    /// convolution.
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }
    /// Rows of the weight matrix: neurons of a dense layer, output channels of a convolution.
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }
}

/// The float network a model was trained or imported as.
#[derive(Clone, Debug, PartialEq)]
pub struct Ann {
    pub input: InputEncoding,
    pub layers: Vec<AnnLayer>,
}

impl Ann {
    /// The shape of the input maps.
    pub fn input_shape(&self) -> Shape {
        self.input.shape()
    }

    /// Every layer's geometry, input to output; an error names the first layer whose weights
    /// or pooling do not fit what it receives.
    pub fn geometry(&self) -> Result<Vec<Geometry>> {
        let mut input = self.input_shape();
        self.layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                // One message, so the layer and the problem stay on one line in any report.
                let g = Geometry::new(layer.kind, input, layer.weight.dim(), layer.pool)
                    .map_err(|e| anyhow!("layer {l} ({}): {e:#}", layer.kind_name()))?;
                input = g.output;
                Ok(g)
            })
            .collect()
    }

    /// Checks that layers chain, the last one is the identity output and all numbers are finite.
    pub fn validate(&self) -> Result<()> {
        self.input.validate().context("input encoding")?;
        ensure!(!self.layers.is_empty(), "the network has no layers");
        self.geometry()?;
        for (l, layer) in self.layers.iter().enumerate() {
            let ctx = || format!("layer {l}");
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
            ensure!(
                !(last && layer.pool.is_some()),
                "layer {l}: the output layer cannot be pooled (its potentials are the logits)"
            );
        }
        Ok(())
    }

    /// Neurons from input to output, e.g. `[784, 256, 10]` (a valid network).
    pub fn widths(&self) -> Vec<usize> {
        let geometry = self.geometry().unwrap_or_default();
        std::iter::once(self.input.size())
            .chain(geometry.iter().map(|g| g.neurons.size()))
            .collect()
    }

    /// Multiply-accumulates of one forward pass (a valid network).
    pub fn macs(&self) -> usize {
        let geometry = self.geometry().unwrap_or_default();
        geometry.iter().map(Geometry::macs).sum()
    }
}

impl AnnLayer {
    /// The layer's kind as the model file names it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            LayerKind::Dense => "dense",
            LayerKind::Conv2d { .. } => "conv2d",
        }
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
/// `|W|`, over every connection ([`fan_out`]). No partial sum of the accumulation, in any
/// order, can exceed it. `geometry` is [`Ann::geometry`]'s.
pub fn accumulation_bounds(
    input: &InputEncoding,
    geometry: &[Geometry],
    layers: &[FsLayer],
) -> Vec<Vec<u64>> {
    let mut sender_max: u64 = input.spike_values().iter().map(|d| d.unsigned_abs()).sum();
    layers
        .iter()
        .zip(geometry)
        .enumerate()
        .map(|(l, (layer, g))| {
            let mut bounds: Vec<u64> = (0..g.neurons.size())
                .map(|j| (layer.bias[g.row(j)] as i64 + layer.imp as i64).unsigned_abs())
                .collect();
            let fan = fan_out(g, &layer.weight, l.checked_sub(1).map(|p| &geometry[p]));
            for i in 0..fan.senders() {
                let (targets, weights) = fan.of(i);
                for (&j, &w) in targets.iter().zip(weights) {
                    bounds[j as usize] += (w as i64).unsigned_abs() * sender_max;
                }
            }
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

    fn validate_layer(&self, fs: &FsLayer, ann: &AnnLayer) -> Result<()> {
        if let (Some(pool), Some(rom)) = (ann.pool, &fs.rom) {
            ensure!(
                pool.kind != PoolKind::Max || outweighs_later(&rom.d),
                "max pooling of spikes needs a code in which every spike outweighs all later \
                 ones (ReLU's binary code); this layer's D(t) = {:?} is not one",
                rom.d
            );
        }
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

    /// Every layer's geometry (see [`Ann::geometry`]).
    ///
    /// Panics on a model whose layers do not chain: every model from a file, the converter or
    /// the trainer has passed [`Model::validate`], which checks that they do.
    pub fn geometry(&self) -> Vec<Geometry> {
        self.ann
            .geometry()
            .unwrap_or_else(|e| panic!("a model's layers must be validated: {e:#}"))
    }

    /// Senders of each spiking stage, input encoding first: a hidden layer's neurons, or its
    /// pooled neurons when it is max-pooled (an average-pooled layer sends its neurons).
    pub fn stage_sizes(&self) -> Vec<usize> {
        let geometry = self.geometry();
        std::iter::once(self.input().size())
            .chain(
                geometry[..geometry.len().saturating_sub(1)]
                    .iter()
                    .map(|g| match g.pool {
                        Some(p) if p.kind == PoolKind::Max => g.output.size(),
                        _ => g.neurons.size(),
                    }),
            )
            .collect()
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

/// Whether every spike value is positive and larger than all later ones together: then a
/// spike train's value orders as its mask read first step first, and the largest of several
/// trains is found step by step (exact max pooling).
pub fn outweighs_later(d: &[i64]) -> bool {
    let mut later = 0i64;
    for &v in d.iter().rev() {
        if v <= later {
            return false;
        }
        later = later.saturating_add(v);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::InputEncoding;

    #[test]
    fn fewer_input_bits_narrow_the_range_and_the_code() {
        let mnist = InputEncoding {
            width: 28,
            height: 28,
            channels: 1,
            bits: 8,
            max_value: 255,
        };
        let three = mnist.with_bits(3).unwrap();
        assert_eq!((three.bits, three.max_value, three.size()), (3, 7, 784));
        assert_eq!(three.spike_values(), vec![4, 2, 1]);
        three.validate().unwrap();
        assert_eq!(mnist.with_bits(8).unwrap(), mnist);
        let digits = InputEncoding {
            bits: 5,
            max_value: 16,
            ..mnist
        };
        // Five bits hold 0..=16 as they are; four take 0..=15.
        assert_eq!(digits.with_bits(5).unwrap(), digits);
        assert_eq!(digits.with_bits(4).unwrap().max_value, 15);
        for bad in [0, 6] {
            let e = digits.with_bits(bad).unwrap_err().to_string();
            assert!(e.contains("1 to 5"), "{e}");
        }
    }
}
