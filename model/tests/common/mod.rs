//! Random small networks at the edges of the fixed-point format, for property tests.

#![allow(dead_code)]

use fs_model::activation::Activation;
use fs_model::fixed::{FixedFormat, SignedRange};
use fs_model::network::{Ann, ConversionInfo, DenseAnn, FsLayer, InputEncoding, Model, Units};
use fs_model::neuron::{FsParams, FsRom};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// Builds a random valid model from a seed. `membrane_bits` None picks one at random.
pub fn random_model(seed: u64, membrane_bits: Option<u32>) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bits = rng.gen_range(1..=8u32);
    let input = InputEncoding {
        width: rng.gen_range(1..=4),
        height: rng.gen_range(1..=3),
        channels: 1,
        bits,
        max_value: rng.gen_range(1..(1u32 << bits)),
    };
    let format = FixedFormat {
        weight_bits: rng.gen_range(2..=16),
        membrane_bits: membrane_bits.unwrap_or_else(|| rng.gen_range(8..=31)),
        param_bits: rng.gen_range(2..=16),
    };
    let n_layers = rng.gen_range(1..=3);
    let mut width = input.size();
    let mut ann_layers = Vec::new();
    let mut fs_layers = Vec::new();
    for l in 0..n_layers {
        let last = l + 1 == n_layers;
        let outputs = rng.gen_range(1..=6);
        let weight = Array2::from_shape_fn((outputs, width), |_| {
            edgy(&mut rng, format.weight_range()) as i16
        });
        let m = format.membrane_range();
        let imp = if rng.gen_bool(0.5) {
            0
        } else {
            rng.gen_range(-100..=100)
        };
        let bias: Vec<i32> = (0..outputs)
            .map(|_| (edgy(&mut rng, m) - imp).clamp(m.min, m.max) as i32)
            .map(|b| {
                let sum = b as i64 + imp;
                (sum.clamp(m.min, m.max) - imp) as i32
            })
            .collect();
        let (rom, neuron) = if last {
            (None, None)
        } else {
            let k = rng.gen_range(1..=12);
            let rom = FsRom {
                t: (0..k).map(|_| edgy(&mut rng, m)).collect(),
                h: (0..k).map(|_| edgy(&mut rng, m)).collect(),
                d: (0..k)
                    .map(|_| edgy(&mut rng, format.param_range()))
                    .collect(),
            };
            let f = |v: &Vec<i64>| v.iter().map(|&x| x as f64).collect();
            let neuron = FsParams {
                t: f(&rom.t),
                h: f(&rom.h),
                d: f(&rom.d),
            };
            (Some(rom), Some(neuron))
        };
        ann_layers.push(DenseAnn {
            weight: weight.mapv(|w| w as f32),
            bias: Array1::from_iter(bias.iter().map(|&b| b as f32)),
            activation: if last {
                Activation::Identity
            } else {
                Activation::Relu
            },
        });
        fs_layers.push(FsLayer {
            neuron,
            imp_float: imp as f64,
            weight,
            bias,
            imp: imp as i32,
            rom,
            units: Units {
                weight: 1.0,
                acc: 1.0,
                out: if last { None } else { Some(1.0) },
            },
        });
        width = outputs;
    }
    let model = Model {
        ann: Ann {
            input,
            layers: ann_layers,
        },
        format,
        layers: fs_layers,
        conversion: ConversionInfo::default(),
    };
    model.validate().expect("random models are valid");
    model
}

/// A random image for a model's input.
pub fn random_image(model: &Model, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let max = model.input().max_value;
    (0..model.input().size())
        .map(|_| match rng.gen_range(0..4) {
            0 => 0,
            1 => max as u8,
            _ => rng.gen_range(0..=max) as u8,
        })
        .collect()
}
