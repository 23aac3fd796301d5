//! Random networks at the edges of the fixed-point format, for property tests of the golden
//! model and of the RTL: extreme weights, narrow membranes that saturate, thresholds and
//! resets anywhere in the membrane range (negative ones included), initial offsets, and spike
//! values that are powers of two (the RTL's shift lanes) or anything in the parameter range,
//! negative included (its multiplier lanes).

use fs_model::activation::Activation;
use fs_model::fixed::{FixedFormat, SignedRange};
use fs_model::network::{
    Ann, AnnLayer, ConversionInfo, FsLayer, InputEncoding, LayerKind, Model, Pool, PoolKind, Shape,
    Units,
};
use fs_model::neuron::{FsParams, FsRom};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The spike values `D(t)` of the hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpikeValues {
    /// Positive powers of two (ReLU's binary code).
    PowersOfTwo,
    /// Anything in the parameter range.
    General,
    /// One or the other, at random per model.
    Either,
}

/// What kind of random model to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// Hidden layers; `None`: 0 to 2 at random.
    pub hidden: Option<usize>,
    /// Membrane width; `None`: anything from 8 to 31 bits.
    pub membrane_bits: Option<u32>,
    pub spike_values: SpikeValues,
    /// Convolutional front-ends (conv2d layers, max and average pooling) before the dense
    /// layers; `hidden` then counts the dense hidden layers (at most 1).
    pub convolutions: bool,
    /// The input (for a CNN: its maps); `None`: a small one at random.
    pub input: Option<InputEncoding>,
    /// Only what the RTL runs (`fs_hdl::core::accelerator::supports`): max pooling of windows
    /// that tile the map, average pooling only in front of another convolution.
    pub rtl: bool,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            hidden: None,
            membrane_bits: None,
            spike_values: SpikeValues::Either,
            convolutions: false,
            input: None,
            rtl: false,
        }
    }
}

impl ModelSpec {
    /// `hidden` hidden layers, everything else at random.
    pub fn hidden(hidden: usize) -> Self {
        ModelSpec {
            hidden: Some(hidden),
            ..Default::default()
        }
    }

    /// Convolutional networks, everything else at random.
    pub fn cnn() -> Self {
        ModelSpec {
            convolutions: true,
            ..Default::default()
        }
    }

    /// A random convolutional network that the RTL runs.
    pub fn rtl_cnn() -> Self {
        ModelSpec {
            rtl: true,
            ..Self::cnn()
        }
    }
}

/// A value of a signed range, often one of its edges.
fn edgy(rng: &mut ChaCha8Rng, r: SignedRange) -> i64 {
    match rng.gen_range(0..6) {
        0 => r.min,
        1 => r.max,
        2 => 0,
        3 => rng.gen_range(-1..=1),
        _ => rng.gen_range(r.min..=r.max),
    }
}

/// The spike values of one hidden layer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Values {
    /// Positive powers of two, anywhere.
    PowersOfTwo,
    /// Anything in the parameter range.
    General,
    /// `2^(K - t)`: every spike outweighs all later ones (what max pooling needs).
    BinaryCode,
}

/// One random layer with `weight_dim` weights; hidden unless `last`.
fn layer(
    rng: &mut ChaCha8Rng,
    format: &FixedFormat,
    kind: LayerKind,
    (rows, cols): (usize, usize),
    last: bool,
    values: Values,
) -> (AnnLayer, FsLayer) {
    let (m, p) = (format.membrane_range(), format.param_range());
    let weight = Array2::from_shape_fn((rows, cols), |_| edgy(rng, format.weight_range()) as i16);
    let imp = if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(-100..=100)
    };
    // Bias and offset together stay in the membrane range (a converted model's do).
    let bias: Vec<i32> = (0..rows)
        .map(|_| ((edgy(rng, m) + imp).clamp(m.min, m.max) - imp) as i32)
        .collect();
    let rom = (!last).then(|| {
        let mut k = rng.gen_range(1..=10);
        if values == Values::BinaryCode {
            k = k.min(format.param_bits as usize - 1);
        }
        FsRom {
            t: (0..k).map(|_| edgy(rng, m)).collect(),
            h: (0..k).map(|_| edgy(rng, m)).collect(),
            d: (0..k)
                .map(|t| match values {
                    Values::PowersOfTwo => 1 << rng.gen_range(0..=format.param_bits - 2),
                    Values::General => edgy(rng, p),
                    Values::BinaryCode => 1 << (k - 1 - t),
                })
                .collect(),
        }
    });
    let float = |v: &Vec<i64>| v.iter().map(|&x| x as f64).collect();
    let ann = AnnLayer {
        kind,
        weight: weight.mapv(|w| w as f32),
        bias: Array1::from_iter(bias.iter().map(|&b| b as f32)),
        activation: if last {
            Activation::Identity
        } else {
            Activation::Relu
        },
        pool: None,
    };
    let fs = FsLayer {
        neuron: rom.as_ref().map(|r| FsParams {
            t: float(&r.t),
            h: float(&r.h),
            d: float(&r.d),
        }),
        imp_float: imp as f64,
        weight,
        bias,
        imp: imp as i32,
        units: Units {
            weight: 1.0,
            acc: 1.0,
            out: rom.as_ref().map(|_| 1.0),
        },
        rom,
    };
    (ann, fs)
}

/// A valid random model from a seed (the same seed and spec, the same model).
pub fn random_model(seed: u64, spec: &ModelSpec) -> Model {
    if spec.convolutions {
        return random_cnn(seed, spec);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bits = rng.gen_range(1..=8u32);
    let input = InputEncoding {
        width: rng.gen_range(1..=6),
        height: rng.gen_range(1..=3),
        channels: 1,
        bits,
        max_value: rng.gen_range(1..(1u32 << bits)),
    };
    let format = FixedFormat {
        weight_bits: rng.gen_range(2..=16),
        membrane_bits: spec.membrane_bits.unwrap_or_else(|| rng.gen_range(8..=31)),
        param_bits: rng.gen_range(2..=16),
    };
    let hidden = spec.hidden.unwrap_or_else(|| rng.gen_range(0..=2));
    let powers_of_two = match spec.spike_values {
        SpikeValues::PowersOfTwo => true,
        SpikeValues::General => false,
        SpikeValues::Either => rng.gen_bool(0.5),
    };
    let values = if powers_of_two {
        Values::PowersOfTwo
    } else {
        Values::General
    };
    let mut layers = Vec::new();
    dense_layers(
        &mut rng,
        &format,
        input.size(),
        hidden,
        8,
        values,
        &mut layers,
    );
    finish(seed, input, format, layers)
}

/// `hidden` dense hidden layers of 1 to `most` neurons and a dense output layer, after
/// `width` inputs, appended to `layers`.
fn dense_layers(
    rng: &mut ChaCha8Rng,
    format: &FixedFormat,
    mut width: usize,
    hidden: usize,
    most: usize,
    values: Values,
    layers: &mut Vec<(AnnLayer, FsLayer)>,
) {
    for l in 0..=hidden {
        let outputs = rng.gen_range(1..=most);
        let dim = (outputs, width);
        layers.push(layer(
            rng,
            format,
            LayerKind::Dense,
            dim,
            l == hidden,
            values,
        ));
        width = outputs;
    }
}

/// The model of `layers`, checked.
fn finish(
    seed: u64,
    input: InputEncoding,
    format: FixedFormat,
    layers: Vec<(AnnLayer, FsLayer)>,
) -> Model {
    let (ann_layers, fs_layers) = layers.into_iter().unzip();
    let model = Model {
        ann: Ann {
            input,
            layers: ann_layers,
        },
        format,
        layers: fs_layers,
        conversion: ConversionInfo::default(),
    };
    model
        .validate()
        .unwrap_or_else(|e| panic!("random model {seed} is invalid: {e:#}"));
    model
}

/// A random convolutional network: one or two conv2d layers (kernel 1 to 3, stride 1 or 2,
/// any padding below the kernel, 1 to 3 channels), each unpooled, max-pooled or
/// average-pooled, then up to `spec.hidden` (at most 1) dense hidden layers and a dense output
/// layer, on maps of 1 or 2 channels of 3 to 7 pixels a side.
fn random_cnn(seed: u64, spec: &ModelSpec) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bits = rng.gen_range(1..=8u32);
    let drawn = InputEncoding {
        width: rng.gen_range(3..=7),
        height: rng.gen_range(3..=7),
        channels: rng.gen_range(1..=2),
        bits,
        max_value: rng.gen_range(1..(1u32 << bits)),
    };
    let input = spec.input.unwrap_or(drawn);
    let format = FixedFormat {
        weight_bits: rng.gen_range(2..=16),
        membrane_bits: spec.membrane_bits.unwrap_or_else(|| rng.gen_range(8..=31)),
        param_bits: rng.gen_range(2..=16),
    };
    let general = match spec.spike_values {
        SpikeValues::PowersOfTwo => false,
        SpikeValues::General => true,
        SpikeValues::Either => rng.gen_bool(0.5),
    };
    let mut layers = Vec::new();
    let mut shape = Shape {
        channels: input.channels,
        height: input.height,
        width: input.width,
    };
    let convolutions = rng.gen_range(1..=2);
    for c in 0..convolutions {
        let padding = rng.gen_range(0..=1);
        let largest = (shape.height.min(shape.width) + 2 * padding).min(3);
        let kernel = rng.gen_range((padding + 1).max(1)..=largest.max(padding + 1));
        let stride = rng.gen_range(1..=2);
        let kind = LayerKind::Conv2d {
            kernel,
            stride,
            padding,
        };
        let channels = rng.gen_range(1..=3);
        let neurons = Shape {
            channels,
            height: (shape.height + 2 * padding - kernel) / stride + 1,
            width: (shape.width + 2 * padding - kernel) / stride + 1,
        };
        let fits = |w: usize| w <= neurons.height && w <= neurons.width;
        let tiles = |w: usize| neurons.height % w == 0 && neurons.width % w == 0;
        let pool = match rng.gen_range(0..3) {
            1 if fits(2) && (!spec.rtl || tiles(2)) => Some(Pool {
                kind: PoolKind::Max,
                window: 2,
                stride: if spec.rtl { 2 } else { rng.gen_range(1..=2) },
            }),
            2 if fits(2) && (!spec.rtl || c + 1 < convolutions) => Some(Pool {
                kind: PoolKind::Avg,
                window: 2,
                stride: 2,
            }),
            _ => None,
        };
        let values = match pool {
            Some(p) if p.kind == PoolKind::Max => Values::BinaryCode,
            _ if general => Values::General,
            _ => Values::PowersOfTwo,
        };
        let dim = (channels, shape.channels * kernel * kernel);
        let (mut ann, fs) = layer(&mut rng, &format, kind, dim, false, values);
        ann.pool = pool;
        shape = match pool {
            Some(p) => p.output(neurons).expect("the window fits"),
            None => neurons,
        };
        layers.push((ann, fs));
    }
    let hidden = spec.hidden.unwrap_or_else(|| rng.gen_range(0..=1)).min(1);
    let values = if general {
        Values::General
    } else {
        Values::PowersOfTwo
    };
    dense_layers(
        &mut rng,
        &format,
        shape.size(),
        hidden,
        6,
        values,
        &mut layers,
    );
    finish(seed, input, format, layers)
}

/// One random image for a model's input (the first of [`random_images`]).
pub fn random_image(model: &Model, seed: u64) -> Vec<u8> {
    random_images(model, 1, seed).remove(0)
}

/// `count` random images for a model's input, often at 0 and at the largest pixel value. Half
/// of them are dense; a quarter light only a random rectangle (of every channel), like a digit
/// on its background; a quarter light 0 to 3 pixels (an image of zeros among them), so that
/// whole receptive fields are zero.
pub fn random_images(model: &Model, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let input = model.input();
    let max = input.max_value;
    let (h, w) = (input.height, input.width);
    (0..count)
        .map(|_| {
            let pixel = |rng: &mut ChaCha8Rng| match rng.gen_range(0..4) {
                0 => 0,
                1 => max as u8,
                _ => rng.gen_range(0..=max) as u8,
            };
            let mut image: Vec<u8> = (0..input.size()).map(|_| pixel(&mut rng)).collect();
            match rng.gen_range(0..4) {
                2 => {
                    let rows = (rng.gen_range(0..h), rng.gen_range(0..h));
                    let columns = (rng.gen_range(0..w), rng.gen_range(0..w));
                    for (i, p) in image.iter_mut().enumerate() {
                        let (y, x) = ((i / w) % h, i % w);
                        let inside = (rows.0.min(rows.1)..=rows.0.max(rows.1)).contains(&y)
                            && (columns.0.min(columns.1)..=columns.0.max(columns.1)).contains(&x);
                        if !inside {
                            *p = 0;
                        }
                    }
                }
                3 => {
                    let lit: Vec<(usize, u8)> = (0..rng.gen_range(0..=3))
                        .map(|_| (rng.gen_range(0..input.size()), rng.gen_range(1..=max) as u8))
                        .collect();
                    image.fill(0);
                    for (i, v) in lit {
                        image[i] = v;
                    }
                }
                _ => {}
            }
            image
        })
        .collect()
}

/// A model of the same design as `model` (same widths, layers, parameters) with other weights
/// and biases: what a run-time load over the link replaces. Deterministic for a seed.
pub fn retrained(model: &Model, seed: u64) -> Model {
    let mut other = model.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = model.format.weight_range();
    let m = model.format.membrane_range();
    for layer in &mut other.layers {
        layer.weight.mapv_inplace(|x| {
            if rng.gen_bool(0.3) {
                rng.gen_range(w.min..=w.max) as i16
            } else {
                x
            }
        });
        // Bias and offset together stay in the membrane range, as the model's own do.
        let imp = layer.imp as i64;
        for b in &mut layer.bias {
            let moved = *b as i64 + imp + rng.gen_range(-50..50);
            *b = (moved.clamp(m.min, m.max) - imp) as i32;
        }
    }
    other
        .validate()
        .unwrap_or_else(|e| panic!("retrained model {seed} is invalid: {e:#}"));
    other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_followed() {
        for seed in 0..64 {
            let spec = ModelSpec {
                hidden: Some(2),
                membrane_bits: Some(12),
                spike_values: SpikeValues::PowersOfTwo,
                convolutions: false,
                input: None,
                rtl: false,
            };
            let model = random_model(seed, &spec);
            assert_eq!(model.layers.len(), 3);
            assert_eq!(model.format.membrane_bits, 12);
            for layer in &model.layers[..2] {
                let rom = layer.rom.as_ref().unwrap();
                assert!(rom.d.iter().all(|&d| d > 0 && (d as u64).is_power_of_two()));
            }
            assert_eq!(random_model(seed, &spec), model, "deterministic");
        }
    }
}
