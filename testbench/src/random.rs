//! Random networks at the edges of the fixed-point format: extreme weights, narrow membranes
//! that saturate, thresholds and resets anywhere in the membrane range, including negative
//! ones, and spike values that are powers of two (shift lanes) or anything in the parameter
//! range, negative included (multiplier lanes).

use fs_model::activation::Activation;
use fs_model::fixed::FixedFormat;
use fs_model::network::{Ann, ConversionInfo, DenseAnn, FsLayer, InputEncoding, Model, Units};
use fs_model::neuron::{FsParams, FsRom};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A valid random model with `hidden` hidden layers and a small output layer.
pub fn random_model(seed: u64, hidden: usize) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bits = rng.gen_range(1..=8u32);
    let input = InputEncoding {
        width: rng.gen_range(1..=6),
        height: rng.gen_range(1..=3),
        channels: 1,
        bits,
        max_value: (1 << bits) - 1,
    };
    let format = FixedFormat {
        weight_bits: rng.gen_range(2..=16),
        membrane_bits: rng.gen_range(8..=31),
        param_bits: 16,
    };
    let (m, w) = (format.membrane_range(), format.weight_range());
    let edgy = |rng: &mut ChaCha8Rng, lo: i64, hi: i64| match rng.gen_range(0..5) {
        0 => lo,
        1 => hi,
        2 => 0,
        _ => rng.gen_range(lo..=hi),
    };
    // Half the models have general spike values.
    let general_values = rng.gen_bool(0.5);
    let p = format.param_range();
    let mut width = input.size();
    let (mut ann_layers, mut fs_layers) = (Vec::new(), Vec::new());
    for l in 0..=hidden {
        let last = l == hidden;
        let outputs = rng.gen_range(1..=9);
        let weight =
            Array2::from_shape_fn((outputs, width), |_| edgy(&mut rng, w.min, w.max) as i16);
        let imp = if last { 0 } else { edgy(&mut rng, -64, 64) };
        let bias: Vec<i32> = (0..outputs)
            .map(|_| {
                (edgy(&mut rng, m.min, m.max) - imp).clamp(m.min - imp.min(0), m.max - imp.max(0))
                    as i32
            })
            .collect();
        let rom = (!last).then(|| {
            let k = rng.gen_range(1..=8);
            FsRom {
                t: (0..k).map(|_| edgy(&mut rng, m.min, m.max)).collect(),
                h: (0..k).map(|_| edgy(&mut rng, m.min, m.max)).collect(),
                d: (0..k)
                    .map(|_| {
                        if general_values {
                            edgy(&mut rng, p.min, p.max)
                        } else {
                            1 << rng.gen_range(0..15)
                        }
                    })
                    .collect(),
            }
        });
        let float = |v: &Vec<i64>| v.iter().map(|&x| x as f64).collect();
        ann_layers.push(DenseAnn {
            weight: weight.mapv(|x| x as f32),
            bias: Array1::from_iter(bias.iter().map(|&b| b as f32)),
            activation: if last {
                Activation::Identity
            } else {
                Activation::Relu
            },
        });
        fs_layers.push(FsLayer {
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

/// Random images for a model, often at 0 and at the largest pixel value.
pub fn random_images(model: &Model, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let max = model.input().max_value;
    (0..count)
        .map(|_| {
            (0..model.input().size())
                .map(|_| match rng.gen_range(0..4) {
                    0 => 0,
                    1 => max as u8,
                    _ => rng.gen_range(0..=max) as u8,
                })
                .collect()
        })
        .collect()
}
