//! The whole accelerator in RustHDL simulation against the golden model: every spike event of
//! every stage (neuron and step, in bus order), every logit and the class, images streamed
//! back to back.

use fs_hdl::core::accelerator::{Accelerator, Counter, HwConfig};
use fs_hdl::core::pixel_conv_layer::from_pixels;
use fs_hdl::sim::compare::{ImageRun, first_difference};
use fs_hdl::sim::rusthdl::accelerator::{read_counters, run_images, run_images_with_ready};
use fs_model::infer::FixedEngine;
use fs_testkit::random::{ModelSpec, random_images, random_model};
use fs_testkit::shipped::{digits, first_images, mnist};

fn check(
    (model, data): (fs_model::network::Model, fs_model::data::Dataset),
    count: usize,
    lanes: usize,
) {
    let images = first_images(&data, count);
    let runs = compare(&model, &HwConfig::uniform(&model, lanes), &images);
    let hidden_spikes: usize = runs
        .iter()
        .map(|r| r.spikes.iter().skip(1).map(Vec::len).sum::<usize>())
        .sum();
    assert!(
        hidden_spikes > count,
        "only {hidden_spikes} hidden spikes: nothing was compared"
    );
}

/// Runs `images` through the RTL and asserts that every spike event, logit and class equals
/// the golden model's.
fn compare(model: &fs_model::network::Model, config: &HwConfig, images: &[&[u8]]) -> Vec<ImageRun> {
    let mut accel = Accelerator::new(model, config).unwrap();
    let (runs, _) = run_images(&mut accel, images, 50_000_000).unwrap();
    assert_golden(model, images, &runs);
    assert_counters(model, config, images, &runs, &read_counters(&mut accel));
    runs
}

/// The counters agree with the run: images, spikes into every layer and saturations as the
/// golden model counts them, busy cycles no fewer than the operations the spikes need.
fn assert_counters(
    model: &fs_model::network::Model,
    config: &HwConfig,
    images: &[&[u8]],
    runs: &[ImageRun],
    counters: &[u64],
) {
    let layers = model.layers.len();
    let get = |c: Counter| counters[c.select(layers)];
    let n = images.len() as u64;
    assert_eq!((get(Counter::ImagesIn), get(Counter::ImagesOut)), (n, n));
    assert!(get(Counter::Cycles) > runs.last().unwrap().done_cycle);
    let engine = FixedEngine::new(model);
    let golden: Vec<_> = images.iter().map(|image| engine.run(image)).collect();
    for l in 0..layers {
        let spikes: u64 = golden
            .iter()
            .map(|g| {
                g.spikes[l]
                    .iter()
                    .map(|m| m.count_ones() as u64)
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(get(Counter::Spikes(l)), spikes, "spikes into layer {l}");
        // The counter counts cycles with a saturated write in any lane.
        let saturations: u64 = golden.iter().map(|g| g.saturations[l]).sum();
        let cycles = get(Counter::Saturations(l));
        let lanes = config.lanes[l] as u64;
        assert!(
            cycles <= saturations && saturations <= cycles * lanes,
            "layer {l}: {cycles} saturation cycles for {saturations} saturations"
        );
        // Every busy cycle does at most one operation per lane (a layer computed from pixels:
        // one multiply of a whole pixel, however many spikes it codes); a dense layer's every
        // event takes one cycle at least.
        let ops: u64 = if l == 0 && from_pixels(model) {
            let g = &model.geometry()[0];
            images
                .iter()
                .flat_map(|image| image.iter().enumerate())
                .filter(|&(_, &p)| p != 0)
                .map(|(i, _)| g.receivers(i).len() as u64)
                .sum()
        } else {
            golden.iter().map(|g| engine.layer_synaptic_ops(g)[l]).sum()
        };
        assert!(
            get(Counter::Busy(l)) * lanes >= ops,
            "busy cycles of layer {l}"
        );
        if model.ann.layers[l].kind == fs_model::geometry::LayerKind::Dense {
            assert!(get(Counter::Busy(l)) >= spikes, "busy cycles of layer {l}");
        }
    }
}

/// Every spike event of every stage, every logit and every class equal the golden model's.
fn assert_golden(model: &fs_model::network::Model, images: &[&[u8]], runs: &[ImageRun]) {
    assert_eq!(runs.len(), images.len());
    let engine = FixedEngine::new(model);
    for (n, (run, image)) in runs.iter().zip(images).enumerate() {
        if let Some(m) = first_difference(n, run, &engine.run(image)) {
            panic!("{m}");
        }
    }
}

/// `cases` random networks, not shrunk: a seed is a whole network, so shrinking it only
/// tries unrelated networks, each as slow as the failing one; a failure reports its seed.
fn network_cases(cases: u32) -> proptest::prelude::ProptestConfig {
    proptest::prelude::ProptestConfig {
        cases,
        max_shrink_iters: 0,
        ..Default::default()
    }
}

proptest::proptest! {
    #![proptest_config(network_cases(96))]

    /// Random networks (1 or 2 hidden layers, random lanes per layer) at the edges of the
    /// fixed-point range, random images: RTL equals golden, bit for bit.
    #[test]
    fn random_networks_are_bit_exact(seed in proptest::prelude::any::<u64>(), hidden in 1usize..=2) {
        let model = random_model(seed, &ModelSpec::hidden(hidden));
        let lanes = model.layers.iter().enumerate()
            .map(|(l, layer)| 1 + (seed as usize >> (8 * l)) % layer.outputs())
            .collect();
        let images = random_images(&model, 3, seed ^ 0x5eed);
        let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
        compare(&model, &HwConfig::new(lanes), &images);
    }
}

proptest::proptest! {
    #![proptest_config(network_cases(48))]

    /// Random convolutional networks (kernels, strides, padding, channels, max and average
    /// pooling, general spike values, saturating edges of the format) with random banks per
    /// convolution and lanes per dense layer: RTL equals golden, bit for bit.
    #[test]
    fn random_convolutional_networks_are_bit_exact(seed in proptest::prelude::any::<u64>()) {
        let model = random_model(seed, &ModelSpec::rtl_cnn());
        let lanes = random_lanes(&model, seed);
        let images = random_images(&model, 3, seed ^ 0x5eed);
        let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
        compare(&model, &HwConfig::new(lanes), &images);
    }
}

/// A convolution (not from pixels, unpooled) whose groups hold more than two emission chunks
/// (`EMISSION_CHUNK_LANES`) of neurons, at a lane per neuron up to 256: its lowest spike is
/// found per chunk and then the first chunk that has one, bit for bit the golden model's.
#[test]
fn convolution_wider_than_an_emission_chunk_is_bit_exact() {
    use fs_hdl::core::dense_layer::EMISSION_CHUNK_LANES;
    use fs_model::geometry::LayerKind;
    let (model, config) = (0..400)
        .find_map(|seed| {
            let model = random_model(seed, &ModelSpec::rtl_cnn());
            let geometry = model.geometry();
            let config = HwConfig::uniform(&model, 256);
            let first = usize::from(from_pixels(&model));
            let wide = (first..geometry.len()).any(|l| {
                matches!(geometry[l].kind, LayerKind::Conv2d { .. })
                    && geometry[l].pool.is_none()
                    && config.lanes[l] > 2 * EMISSION_CHUNK_LANES
            });
            wide.then_some((model, config))
        })
        .expect("a random network with a wide convolution");
    let images = random_images(&model, 3, 0x5eed);
    let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    compare(&model, &config, &images);
}

/// The first convolution from pixels skips the groups whose field holds no lit pixel: a random
/// such network (a kernel of more taps than `K + 1`) on an image of zeros, one lit corner, a
/// lit patch and a dense image, each on its own. Bit for bit the golden model's; every tap the
/// layer issues is a busy cycle, the fire steps add at most `K` per group, and the image of
/// zeros, every group skipped, takes fewer busy cycles than its groups' taps.
#[test]
fn first_convolution_skips_the_groups_without_a_lit_pixel() {
    use fs_hdl::core::pixel_conv_layer::{PixelConvShape, group_fields};
    let input = fs_model::network::InputEncoding {
        width: 7,
        height: 7,
        channels: 1,
        bits: 8,
        max_value: 255,
    };
    let spec = ModelSpec {
        input: Some(input),
        ..ModelSpec::rtl_cnn()
    };
    let (model, config, shape) = (0..2000)
        .find_map(|seed| {
            let model = random_model(seed, &spec);
            let config = HwConfig::new(random_lanes(&model, seed));
            let steps = model.layers[0].rom.as_ref()?.k();
            let shape = PixelConvShape::new(&model.geometry()[0], steps, config.lanes[0]).ok()?;
            (from_pixels(&model) && shape.skip_period().is_some() && shape.groups > 2)
                .then_some((model, config, shape))
        })
        .unwrap();
    let fields = group_fields(&model.geometry()[0], &shape);
    let mut corner = vec![0u8; 49];
    corner[0] = 200;
    let mut patch = vec![0u8; 49];
    for i in [24, 25, 31, 32] {
        patch[i] = 255;
    }
    let dense: Vec<u8> = (0..49).map(|i| (i * 37 % 255 + 1) as u8).collect();
    let engine = FixedEngine::new(&model);
    let layers = model.layers.len();
    for (name, image) in [
        ("zeros", vec![0u8; 49]),
        ("corner", corner),
        ("patch", patch),
        ("dense", dense),
    ] {
        let images = [&image[..]];
        let mut accel = Accelerator::new(&model, &config).unwrap();
        let (runs, _) = run_images(&mut accel, &images, 1_000_000).unwrap();
        assert_golden(&model, &images, &runs);
        let counters = read_counters(&mut accel);
        assert_counters(&model, &config, &images, &runs, &counters);
        let lit: Vec<bool> = engine.run(&image).spikes[0]
            .iter()
            .map(|&m| m != 0)
            .collect();
        let skipped = shape.skipped_groups(&fields, model.input(), &lit);
        let (g, k) = (shape.groups as u64, shape.steps as u64);
        let issued = (g - skipped as u64) * shape.taps as u64 + skipped as u64;
        let busy = counters[Counter::Busy(0).select(layers)];
        assert!(
            issued <= busy && busy <= issued + k * g,
            "{name}: {busy} busy cycles for {issued} taps of {g} groups, {skipped} skipped"
        );
        if name == "zeros" {
            assert_eq!(skipped as u64, g);
            assert!(busy < g * shape.taps as u64, "{name}: {busy} busy cycles");
        }
        if name == "dense" {
            assert_eq!(skipped, 0);
        }
    }
}

/// Random lanes for every layer: any count for a dense layer, whole banks for a convolution.
fn random_lanes(model: &fs_model::network::Model, seed: u64) -> Vec<usize> {
    let unit = HwConfig::uniform(model, 1);
    let most = HwConfig::uniform(model, 256);
    unit.lanes
        .iter()
        .zip(&most.lanes)
        .enumerate()
        .map(|(l, (&u, &m))| {
            let r = (seed as usize >> (8 * l)) & 0xff;
            u * (1 + r % (m / u))
        })
        .collect()
}

#[test]
fn digits_accelerator_is_bit_exact() {
    check(digits(), 30, 8);
}

#[test]
fn mnist_accelerator_is_bit_exact_on_20_test_images() {
    check(mnist(), 20, 16);
}

/// Designs wider than one emission carry chain (`EMISSION_CHAIN_LANES`): the MNIST MLP with a
/// lane per hidden neuron (one group, 8 full chunks) and with 144 lanes (two groups, the last
/// chunk a half one), whose input encoder tests an image's end against its pixels left. The
/// images: two cut to their first pixels (short runs), one whose last pixel is lit (the image
/// ends on a word with no zero run), one with no lit pixel (a single word of 783 zeros), and
/// a 9: its class is the last logit, right in front of the end marker.
#[test]
fn wide_mnist_accelerators_are_bit_exact() {
    use fs_hdl::core::dense_layer::EMISSION_CHAIN_LANES;
    let (model, test) = mnist();
    let cut = fs_testkit::shipped::first_lit_pixels;
    let mut last_lit = cut(test.image(2), 20);
    *last_lit.last_mut().unwrap() = model.input().max_value as u8;
    let images = [
        cut(test.image(0), 25),
        cut(test.image(1), 40),
        last_lit,
        vec![0; 784],
        test.image(7).to_vec(),
    ];
    let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    for lanes in [256, 144] {
        let config = HwConfig::new(vec![lanes, 10]);
        assert!(lanes > EMISSION_CHAIN_LANES && config.short_paths(&model));
        let runs = compare(&model, &config, &images);
        assert!(runs[..3].iter().all(|r| !r.spikes[1].is_empty()));
        assert_eq!(runs[4].class, 9);
    }
    // A slow result consumer: the logits and the end marker pile up in the result FIFO and
    // leave back to back, so the marker follows the last logit by one cycle (the argmax's
    // stage must hold it until that logit is compared).
    let config = HwConfig::new(vec![256, 10]);
    let mut accel = Accelerator::new(&model, &config).unwrap();
    let (runs, _) =
        run_images_with_ready(&mut accel, &images, 50_000_000, &|c| c % 400 >= 300).unwrap();
    assert_golden(&model, &images, &runs);
}

/// The generated Verilog of the whole accelerator, under iverilog, replaying the exact port
/// values of a RustHDL run: every output agrees on every cycle, so its logits and classes are
/// the golden model's too.
#[test]
fn digits_accelerator_verilog_agrees_cycle_for_cycle() {
    use fs_testbench::{Port, cross_check};
    let (model, test) = fs_testkit::shipped::digits();
    let config = HwConfig::uniform(&model, 4);
    let images: Vec<&[u8]> = (0..6).map(|i| test.image(i)).collect();
    let (runs, vectors) = run_images(
        &mut Accelerator::new(&model, &config).unwrap(),
        &images,
        10_000_000,
    )
    .unwrap();
    let inputs = [
        Port::new("pixel_valid", 1),
        Port::new("pixel_zeros", 16),
        Port::new("pixel_value", 16),
        Port::new("result_ready", 1),
    ];
    let outputs = [
        Port::new("pixel_ready", 1),
        Port::new("result_valid", 1),
        Port::new("result_index", 16),
        Port::new("result_logit", 32),
        Port::new("result_last", 1),
        Port::new("result_class", 16),
    ];
    let trace = cross_check(
        &mut Accelerator::new(&model, &config).unwrap(),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.pixel_valid.next = v[0] == 1;
            u.pixel_zeros.next = v[1].into();
            u.pixel_value.next = v[2].into();
            u.result_ready.next = v[3] == 1;
        },
        |u| {
            vec![
                u.pixel_ready.val() as u64,
                u.result_valid.val() as u64,
                u.result_index.val().into(),
                u.result_logit.val().into(),
                u.result_last.val() as u64,
                u.result_class.val().into(),
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    // The replay is the run: the same classes come out.
    let classes: Vec<usize> = trace
        .cycles
        .iter()
        .filter(|c| c.outputs[1] == 1 && c.outputs[4] == 1)
        .map(|c| c.outputs[5] as usize)
        .collect();
    let engine = FixedEngine::new(&model);
    let golden: Vec<usize> = images.iter().map(|img| engine.run(img).class()).collect();
    assert_eq!(classes, golden);
    assert_eq!(runs.iter().map(|r| r.class).collect::<Vec<_>>(), golden);
}

/// The generated Verilog compiled by Verilator (the engine of long verification runs) is
/// bit-exact too: every spike on every bus, every logit, every class.
#[test]
fn verilator_build_of_the_accelerator_is_bit_exact() {
    let (model, test) = fs_testkit::shipped::digits();
    let images: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
    let mut accel = Accelerator::new(&model, &HwConfig::uniform(&model, 4)).unwrap();
    let cache = std::env::temp_dir().join("fs-accel-verilator-test");
    let sim = fs_hdl::sim::verilator::accelerator::VerilatedAccelerator::build(&mut accel, &cache)
        .unwrap();
    let mut runs = Vec::new();
    let done = sim
        .run(&images, 100_000_000, &mut |n, run| {
            assert_eq!(n, runs.len());
            runs.push(run);
            Ok(())
        })
        .unwrap();
    assert_eq!(done, images.len());
    assert_golden(&model, &images, &runs);
    // And cycle for cycle the same as RustHDL's simulation of the same design.
    let few = &images[..5];
    let (rusthdl, _) = run_images(
        &mut Accelerator::new(&model, &HwConfig::uniform(&model, 4)).unwrap(),
        few,
        1_000_000,
    )
    .unwrap();
    assert_eq!(&runs[..5], &rusthdl[..]);
}

/// A convolutional network's generated Verilog under Verilator (a max-pooled and an
/// average-pooled convolution, then dense layers): bit-exact against the golden model, and
/// cycle for cycle equal to the RustHDL simulation of the same design.
#[test]
fn verilator_build_of_a_convolutional_accelerator_is_bit_exact() {
    use fs_model::geometry::PoolKind;
    // The first random RTL CNN with both kinds of pooling.
    let model = (0..)
        .map(|seed| random_model(seed, &ModelSpec::rtl_cnn()))
        .find(|m| {
            let kinds: Vec<_> = m
                .ann
                .layers
                .iter()
                .filter_map(|l| l.pool.map(|p| p.kind))
                .collect();
            kinds.contains(&PoolKind::Max) && kinds.contains(&PoolKind::Avg)
        })
        .unwrap();
    let config = HwConfig::new(random_lanes(&model, 7));
    let images = random_images(&model, 8, 11);
    let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let mut accel = Accelerator::new(&model, &config).unwrap();
    let cache = std::env::temp_dir().join("fs-accel-verilator-test");
    let sim = fs_hdl::sim::verilator::accelerator::VerilatedAccelerator::build(&mut accel, &cache)
        .unwrap();
    let mut runs = Vec::new();
    sim.run(&images, 10_000_000, &mut |_, run| {
        runs.push(run);
        Ok(())
    })
    .unwrap();
    assert_golden(&model, &images, &runs);
    let (rusthdl, _) = run_images(
        &mut Accelerator::new(&model, &config).unwrap(),
        &images,
        10_000_000,
    )
    .unwrap();
    assert_eq!(runs, rusthdl);
}

/// A CNN imported from ONNX (the PyTorch-style fixture of `scripts/onnx-fixtures.py`: conv,
/// ReLU, max pooling, dense) and converted runs on the RTL bit for bit.
#[test]
fn onnx_imported_cnn_is_bit_exact() {
    use fs_model::convert::{ConvertConfig, convert};
    use fs_model::data::DatasetKind;
    let split = fs_testkit::shipped::split(DatasetKind::Digits);
    let input = fs_model::train::input_encoding(&split.train);
    let file = fs_testkit::root().join("model/tests/fixtures/onnx/cnn-maxpool.onnx");
    let ann = fs_model::import::import_onnx(&file, input).unwrap();
    let config = ConvertConfig {
        alpha_percentile: Some(99.9),
        ..ConvertConfig::default()
    };
    let model = convert(&ann, &split.train, &split.train, &config)
        .unwrap()
        .model;
    check((model, split.test), 12, 8);
}
