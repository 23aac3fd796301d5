//! The integer golden model against an independent, naive reading of its specification
//! (model/src/infer.rs module doc), on random networks at the edges of the format.

use fs_model::infer::FixedEngine;
use fs_model::network::{LayerKind, Model, PoolKind};
use fs_testkit::random::{ModelSpec, random_image, random_model};
use proptest::prelude::*;

/// A map shape, computed here by PyTorch's formulas (not by `fs_model::geometry`).
#[derive(Clone, Copy)]
struct Maps {
    c: usize,
    h: usize,
    w: usize,
}

/// The weight through which sender `i` (a flat index of `from`, the previous stage's senders)
/// reaches neuron `j` of `layer`, if it does: read off the layer's definition.
fn weight_of(
    model: &Model,
    l: usize,
    input: Maps,
    neurons: Maps,
    averaged_from: Option<(Maps, usize)>,
    j: usize,
    i: usize,
) -> Option<i64> {
    let fs = &model.layers[l];
    // An average-pooled sender reaches the pooled input of its window.
    let i = match averaged_from {
        Some((pre, window)) => {
            let (c, y, x) = (i / (pre.h * pre.w), i / pre.w % pre.h, i % pre.w);
            let (py, px) = (y / window, x / window);
            if py >= input.h || px >= input.w {
                return None;
            }
            (c * input.h + py) * input.w + px
        }
        None => i,
    };
    match model.ann.layers[l].kind {
        LayerKind::Dense => Some(fs.weight[[j, i]] as i64),
        LayerKind::Conv2d {
            kernel,
            stride,
            padding,
        } => {
            let (o, oy, ox) = (
                j / (neurons.h * neurons.w),
                j / neurons.w % neurons.h,
                j % neurons.w,
            );
            let (c, y, x) = (i / (input.h * input.w), i / input.w % input.h, i % input.w);
            let ky = (y + padding).checked_sub(oy * stride)?;
            let kx = (x + padding).checked_sub(ox * stride)?;
            (ky < kernel && kx < kernel)
                .then(|| fs.weight[[o, (c * kernel + ky) * kernel + kx]] as i64)
        }
    }
}

/// The schedule written out as plainly as possible, in i128 so nothing can overflow.
fn reference(model: &Model, pixels: &[u8]) -> (Vec<Vec<u32>>, Vec<i64>, Vec<u64>) {
    let m = model.format.membrane_range();
    let clamp = |x: i128, sat: &mut u64| -> i128 {
        if x > m.max as i128 {
            *sat += 1;
            m.max as i128
        } else if x < m.min as i128 {
            *sat += 1;
            m.min as i128
        } else {
            x
        }
    };
    let bits = model.input().bits as usize;
    // Input: at step t the pixel spikes when bit (bits - t) is set; worth 2^(bits - t).
    let mut masks: Vec<u32> = pixels
        .iter()
        .map(|&p| {
            (1..=bits)
                .filter(|t| (p as u32 >> (bits - t)) & 1 == 1)
                .map(|t| 1u32 << (t - 1))
                .sum()
        })
        .collect();
    let mut values: Vec<i128> = (1..=bits).map(|t| 1i128 << (bits - t)).collect();
    let i = model.input();
    let mut input = Maps {
        c: i.channels,
        h: i.height,
        w: i.width,
    };
    let mut averaged_from = None;
    // The map the previous layer sent, if it was a convolution.
    let mut sent_map: Option<Maps> = None;
    let mut spikes = Vec::new();
    let mut logits = Vec::new();
    let mut sats = Vec::new();
    for (l, layer) in model.layers.iter().enumerate() {
        let ann = &model.ann.layers[l];
        let neurons = match ann.kind {
            LayerKind::Dense => Maps {
                c: layer.weight.nrows(),
                h: 1,
                w: 1,
            },
            LayerKind::Conv2d {
                kernel,
                stride,
                padding,
            } => Maps {
                c: layer.weight.nrows(),
                h: (input.h + 2 * padding - kernel) / stride + 1,
                w: (input.w + 2 * padding - kernel) / stride + 1,
            },
        };
        let count = neurons.c * neurons.h * neurons.w;
        let mut sat = 0;
        let mut acc: Vec<i128> = (0..count)
            .map(|j| {
                let row = if ann.kind == LayerKind::Dense {
                    j
                } else {
                    j / (neurons.h * neurons.w)
                };
                layer.bias[row] as i128 + layer.imp as i128
            })
            .collect();
        // Bus order within a step: pixels and dense neurons ascending, a convolution's map
        // position by position, every channel of a position in turn.
        let order: Vec<usize> = match sent_map {
            Some(map) => (0..map.h * map.w)
                .flat_map(|pos| (0..map.c).map(move |c| c * map.h * map.w + pos))
                .collect(),
            None => (0..masks.len()).collect(),
        };
        for (step, &d) in values.iter().enumerate() {
            for &i in &order {
                let mask = masks[i];
                if mask & (1 << step) != 0 {
                    for (j, a) in acc.iter_mut().enumerate() {
                        if let Some(w) = weight_of(model, l, input, neurons, averaged_from, j, i) {
                            *a = clamp(*a + w as i128 * d, &mut sat);
                        }
                    }
                }
            }
        }
        spikes.push(masks.clone());
        match &layer.rom {
            Some(rom) => {
                masks = acc
                    .iter()
                    .map(|&a| {
                        let mut v = a;
                        let mut mask = 0;
                        for t in 0..rom.k() {
                            if v >= rom.t[t] as i128 {
                                v = clamp(v - rom.h[t] as i128, &mut sat);
                                mask |= 1 << t;
                            }
                        }
                        mask
                    })
                    .collect();
                values = rom.d.iter().map(|&d| d as i128).collect();
            }
            None => logits = acc.iter().map(|&a| a as i64).collect(),
        }
        averaged_from = None;
        input = neurons;
        sent_map = (ann.kind != LayerKind::Dense).then_some(neurons);
        if let Some(pool) = ann.pool {
            let pooled = Maps {
                c: neurons.c,
                h: (neurons.h - pool.window) / pool.stride + 1,
                w: (neurons.w - pool.window) / pool.stride + 1,
            };
            if pool.kind == PoolKind::Max {
                // The notes' rule: follow the candidates tied for the maximum, step by step.
                let mut out = Vec::new();
                for c in 0..pooled.c {
                    for py in 0..pooled.h {
                        for px in 0..pooled.w {
                            let window: Vec<u32> = (0..pool.window * pool.window)
                                .map(|k| {
                                    let (y, x) = (
                                        py * pool.stride + k / pool.window,
                                        px * pool.stride + k % pool.window,
                                    );
                                    masks[(c * neurons.h + y) * neurons.w + x]
                                })
                                .collect();
                            let mut tied: Vec<u32> = window;
                            let mut mask = 0;
                            for t in 0..32 {
                                let spiking: Vec<u32> =
                                    tied.iter().copied().filter(|m| m >> t & 1 == 1).collect();
                                if !spiking.is_empty() {
                                    mask |= 1 << t;
                                    tied = spiking;
                                }
                            }
                            out.push(mask);
                        }
                    }
                }
                masks = out;
                sent_map = Some(pooled);
            } else {
                averaged_from = Some((neurons, pool.window));
            }
            input = pooled;
        }
        sats.push(sat);
    }
    (spikes, logits, sats)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn engine_matches_the_reference(seed in any::<u64>(), image in any::<u64>()) {
        matches_the_reference(&random_model(seed, &ModelSpec::default()), image)?;
    }

    /// Convolutional networks (convolutions of every kernel, stride and padding drawn, max
    /// and average pooling) against the same reference.
    #[test]
    fn cnn_engine_matches_the_reference(seed in any::<u64>(), image in any::<u64>()) {
        matches_the_reference(&random_model(seed, &ModelSpec::cnn()), image)?;
    }

    #[test]
    fn cnn_fast_path_equals_event_order(seed in any::<u64>(), image in any::<u64>()) {
        fast_path_is_event_order(&ModelSpec::cnn(), seed, image)?;
    }

    /// With a wide membrane the engine takes its fast path; it must equal the event order.
    #[test]
    fn fast_path_equals_event_order(seed in any::<u64>(), image in any::<u64>()) {
        fast_path_is_event_order(&ModelSpec::default(), seed, image)?;
    }
}

fn matches_the_reference(model: &Model, image: u64) -> Result<(), TestCaseError> {
    let pixels = random_image(model, image);
    let run = FixedEngine::new(model).run(&pixels);
    let (spikes, logits, sats) = reference(model, &pixels);
    prop_assert_eq!(&run.spikes, &spikes);
    prop_assert_eq!(&run.logits, &logits);
    prop_assert_eq!(&run.saturations, &sats);
    Ok(())
}

/// With the widest membrane the engine takes its fast path where no sum can saturate; it
/// must equal the event order.
fn fast_path_is_event_order(spec: &ModelSpec, seed: u64, image: u64) -> Result<(), TestCaseError> {
    let spec = ModelSpec {
        membrane_bits: Some(fs_model::fixed::MAX_MEMBRANE_BITS),
        ..*spec
    };
    let model = random_model(seed, &spec);
    let pixels = random_image(&model, image);
    let engine = FixedEngine::new(&model);
    prop_assert_eq!(engine.run(&pixels), engine.run_event_order(&pixels));
    Ok(())
}

/// The shipped MNIST MLP takes both dense kernels of the fast path (its input's few spiking
/// pixels sender by sender, its hidden layer's spikes mostly as dot products), and both equal
/// the event order.
#[test]
fn the_mnist_mlp_takes_both_dense_kernels_as_the_event_order() {
    let (model, test) = fs_testkit::shipped::mnist();
    let engine = FixedEngine::new(&model);
    let mut kernels = Vec::new();
    for i in 0..50 {
        let run = engine.run(test.image(i));
        for l in 0..2 {
            kernels.push(
                engine
                    .dense_kernel(l, &run.spikes[l])
                    .expect("an exact dense layer"),
            );
        }
        assert_eq!(run, engine.run_event_order(test.image(i)), "image {i}");
    }
    assert!(kernels.contains(&true) && kernels.contains(&false));
}

/// The property tests above must see saturating and non-saturating networks alike.
#[test]
fn random_models_cover_saturation_and_the_fast_path() {
    let mut saturated = 0;
    let mut clean = 0;
    for seed in 0..300 {
        let model = random_model(seed, &ModelSpec::default());
        let run = FixedEngine::new(&model).run(&random_image(&model, seed));
        if run.saturations.iter().sum::<u64>() > 0 {
            saturated += 1;
        } else {
            clean += 1;
        }
    }
    assert!(
        saturated > 30 && clean > 30,
        "{saturated} saturated, {clean} clean"
    );
}

/// The CNN property tests see every layer kind, both poolings, spikes through the pooling,
/// and saturating and clean networks.
#[test]
fn random_cnns_cover_pooling_spikes_and_saturation() {
    let (mut max, mut avg, mut saturated, mut clean, mut pooled_spikes) = (0, 0, 0, 0, 0);
    for seed in 0..300 {
        let model = random_model(seed, &ModelSpec::cnn());
        let run = FixedEngine::new(&model).run(&random_image(&model, seed));
        for (l, layer) in model.ann.layers.iter().enumerate() {
            match layer.pool.map(|p| p.kind) {
                Some(PoolKind::Max) => {
                    max += 1;
                    pooled_spikes += run.spikes[l + 1].iter().any(|&m| m != 0) as usize;
                }
                Some(PoolKind::Avg) => avg += 1,
                None => {}
            }
        }
        if run.saturations.iter().sum::<u64>() > 0 {
            saturated += 1;
        } else {
            clean += 1;
        }
    }
    assert!(
        max > 50 && avg > 50 && pooled_spikes > 20 && saturated > 30 && clean > 8,
        "max {max}, avg {avg}, pooled spikes {pooled_spikes}, {saturated} saturated, {clean} clean"
    );
}

/// `evaluate` runs a convolutional network all three ways (ANN, FS float, FS fixed) and counts
/// its spikes and operations from the same connections as the engine.
#[test]
fn a_convolutional_network_evaluates() {
    use fs_model::data::{Dataset, DatasetKind};
    use fs_model::network::InputEncoding;
    let digits = InputEncoding {
        width: 8,
        height: 8,
        channels: 1,
        bits: 5,
        max_value: 16,
    };
    let model = random_model(
        5,
        &ModelSpec {
            input: Some(digits),
            membrane_bits: Some(24),
            ..ModelSpec::cnn()
        },
    );
    let images: Vec<Vec<u8>> = (0..20).map(|n| random_image(&model, n)).collect();
    let data = Dataset {
        kind: DatasetKind::Digits,
        max_value: model.input().max_value,
        pixels: images.concat(),
        labels: (0..20).map(|n| (n % 10) as u8).collect(),
    };
    let r = fs_model::eval::evaluate(&model, &data, &mut |_| {}).unwrap();
    assert_eq!(r.images, 20);
    let engine = FixedEngine::new(&model);
    let ops: u64 = images
        .iter()
        .map(|i| engine.synaptic_ops(&engine.run(i)))
        .sum();
    assert!((r.synaptic_ops_per_image - ops as f64 / 20.0).abs() < 1e-9);
    assert_eq!(r.layers.len(), model.steps().len());
    assert_eq!(r.layers[0].neurons, 64);
    assert_eq!(r.ann_macs_per_image, model.ann.macs());
    assert!(r.ann_macs_per_image > 0);
}
