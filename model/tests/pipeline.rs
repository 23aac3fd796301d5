//! Train -> convert -> evaluate on real data, and the accuracy and spike targets on the
//! shipped models (computed here, on the full MNIST test set).

use fs_model::activation::Activation;
use fs_model::convert::{ConvertConfig, convert};
use fs_model::data::{Dataset, DatasetKind};
use fs_model::eval::evaluate;
use fs_model::network::Ann;
use fs_model::train::{LayerSpec, TrainConfig, accuracy, train};
use fs_testkit::shipped;

#[test]
fn shipped_mnist_model_meets_the_targets_on_all_10000_test_images() {
    let (model, test) = shipped::mnist();
    assert_eq!(model.ann.widths(), vec![784, 256, 10]);
    let r = evaluate(&model, &test, &mut |_| {}).unwrap();
    assert_eq!(r.images, 10_000);
    assert!(r.ann_accuracy >= 0.980, "ANN {}", r.ann_accuracy);
    assert!(r.fs_fixed_accuracy >= r.ann_accuracy - 0.003, "{r:?}");
    assert!(r.fs_float_accuracy >= r.ann_accuracy - 0.003, "{r:?}");
    assert!(r.spikes_per_neuron <= 2.0, "{}", r.spikes_per_neuron);
    assert_eq!(r.saturations_total, 0);
    assert_eq!(r.confusion.iter().flatten().sum::<u64>(), 10_000);
    let diagonal: u64 = (0..10).map(|c| r.confusion[c][c]).sum();
    assert_eq!(diagonal as f64 / 10_000.0, r.fs_fixed_accuracy);
    // The input code spikes once per set pixel bit; hidden spikes reach 10 outputs each.
    let input = &r.layers[0];
    let hidden = &r.layers[1];
    // (One step per input bit plane: the shipped model takes 3-bit pixels.)
    let planes = model.input().bits as usize;
    assert_eq!(
        (input.neurons, input.steps, input.fan_out),
        (784, planes, 256)
    );
    let ops = input.spikes_per_image * 256.0 + hidden.spikes_per_image * 10.0;
    assert!((r.synaptic_ops_per_image - ops).abs() < 1e-6);
    assert_eq!(r.ann_macs_per_image, 784 * 256 + 256 * 10);
}

#[test]
fn shipped_digits_model_meets_its_target_on_the_held_out_split() {
    let (model, test) = shipped::digits();
    assert_eq!(model.ann.widths(), vec![64, 32, 10]);
    let r = evaluate(&model, &test, &mut |_| {}).unwrap();
    assert_eq!(r.images, 360);
    assert!(r.fs_fixed_accuracy >= 0.95, "{}", r.fs_fixed_accuracy);
}

fn digits_config(seed: u64, epochs: usize) -> TrainConfig {
    TrainConfig {
        layers: vec![LayerSpec::Dense(32), LayerSpec::Dense(10)],
        activation: Activation::Relu,
        epochs,
        batch_size: 64,
        learning_rate: 2e-3,
        weight_decay: 1e-4,
        max_shift: 0,
        seed,
    }
}

/// Trains silently on the digits training split.
fn train_digits(train_set: &Dataset, config: &TrainConfig) -> Ann {
    train(train_set, config, &mut |_, _| {}, &mut |_| {}).unwrap()
}

#[test]
fn training_is_reproducible_and_learns() {
    let split = shipped::split(DatasetKind::Digits);
    let a = train_digits(&split.train, &digits_config(7, 40));
    let b = train_digits(&split.train, &digits_config(7, 40));
    let c = train_digits(&split.train, &digits_config(8, 40));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let acc = accuracy(&a, &split.test).unwrap();
    assert!(acc > 0.93, "digits test accuracy {acc}");
}

#[test]
fn conversion_makes_power_of_two_relu_neurons_and_reports_imp() {
    let split = shipped::split(DatasetKind::Digits);
    let ann = train_digits(&split.train, &digits_config(3, 40));
    let config = ConvertConfig {
        k: 6,
        ..ConvertConfig::default()
    };
    let conv = convert(&ann, &split.train, &split.train, &config).unwrap();
    assert_eq!(conv.candidates.len(), 5);
    assert!(conv.accuracy_with_imp > 0.9 && conv.accuracy_without_imp > 0.9);
    let model = &conv.model;
    let hidden = &model.layers[0];
    let rom = hidden.rom.as_ref().unwrap();
    // T(t) = H(t) = 2^(m+K-t), D(t) = 2^(K-t), IMP = q/2 = 2^(m-1).
    let m = rom.t[5].trailing_zeros();
    for t in 1..=6 {
        assert_eq!(rom.t[t - 1], 1 << (m as usize + 6 - t));
        assert_eq!(rom.h[t - 1], rom.t[t - 1]);
        assert_eq!(rom.d[t - 1], 1 << (6 - t));
    }
    assert_eq!(hidden.imp, 1 << (m - 1));
    let q = hidden.units.out.unwrap();
    assert!((q / hidden.units.acc - (1u64 << m) as f64).abs() < 1e-9);
    // The chosen widths are the smallest safe ones: nothing saturates on the test set.
    let r = evaluate(model, &split.test, &mut |_| {}).unwrap();
    assert_eq!(r.saturations_total, 0);
    assert!(r.fs_fixed_accuracy > 0.9);
    // A too-narrow format is refused with a clear error.
    let narrow = ConvertConfig {
        membrane_bits: Some(10),
        ..config
    };
    let e = format!(
        "{:#}",
        convert(&ann, &split.train, &split.train, &narrow).unwrap_err()
    );
    assert!(e.contains("does not fit") && e.contains("membrane"), "{e}");
}

#[test]
fn smooth_activations_convert_with_their_fitted_ranges() {
    let split = shipped::split(DatasetKind::Digits);
    for act in [Activation::Silu, Activation::Sigmoid] {
        let config = TrainConfig {
            activation: act,
            ..digits_config(5, 60)
        };
        let ann = train_digits(&split.train, &config);
        let conv = convert(&ann, &split.train, &split.train, &ConvertConfig::default()).unwrap();
        // No ReLU layer: nothing to normalise, one conversion, no percentile recorded.
        assert_eq!(conv.candidates.len(), 1, "{act}");
        assert_eq!(conv.model.conversion.alpha_percentile, None);
        assert_eq!(
            conv.model.layers[0].neuron.as_ref().unwrap().k(),
            act.default_params(None).unwrap().unwrap().k()
        );
        let r = evaluate(&conv.model, &split.test, &mut |_| {}).unwrap();
        assert!(
            r.fs_fixed_accuracy >= r.ann_accuracy - 0.03,
            "{act}: ANN {} FS fixed {}",
            r.ann_accuracy,
            r.fs_fixed_accuracy
        );
        assert_eq!(r.saturations_total, 0);
    }
}

/// A CNN with both poolings trains (reproducibly), converts, and its FS fixed-point network
/// follows the ANN.
#[test]
fn a_convolutional_network_trains_and_converts() {
    let split = shipped::split(DatasetKind::Digits);
    let input = fs_model::train::input_encoding(&split.train);
    let config = TrainConfig {
        layers: fs_model::train::parse_layers("conv8k3,maxpool2,conv16k3,avgpool2,dense10", &input)
            .unwrap(),
        ..digits_config(3, 30)
    };
    let a = train_digits(&split.train, &config);
    assert_eq!(a, train_digits(&split.train, &config), "reproducible");
    let kinds: Vec<&str> = a.layers.iter().map(|l| l.kind_name()).collect();
    assert_eq!(kinds, ["conv2d", "conv2d", "dense"]);
    let ann_accuracy = accuracy(&a, &split.test).unwrap();
    assert!(
        ann_accuracy > 0.85,
        "digits CNN test accuracy {ann_accuracy}"
    );
    let convert_config = ConvertConfig {
        k: 6,
        ..ConvertConfig::default()
    };
    let conv = convert(&a, &split.train, &split.train, &convert_config).unwrap();
    let r = evaluate(&conv.model, &split.test, &mut |_| {}).unwrap();
    assert_eq!(r.saturations_total, 0);
    assert!(r.fixed_agrees_with_ann > 0.95, "{r:?}");
    assert!(r.fs_fixed_accuracy > ann_accuracy - 0.03, "{r:?}");
}

/// The shipped CNN meets the CNN issue's targets on all 10,000 MNIST test images.
#[test]
fn shipped_mnist_cnn_meets_the_targets_on_all_10000_test_images() {
    let (model, test) = shipped::mnist_cnn();
    let r = evaluate(&model, &test, &mut |_| {}).unwrap();
    assert_eq!(r.images, 10_000);
    assert!(r.ann_accuracy >= 0.994, "ANN {}", r.ann_accuracy);
    assert!(r.fs_fixed_accuracy >= 0.993, "{r:?}");
    assert!(
        (r.fs_fixed_accuracy - r.ann_accuracy).abs() <= 0.001,
        "{r:?}"
    );
    assert!(r.spikes_per_neuron <= 1.0, "{}", r.spikes_per_neuron);
    assert_eq!(r.saturations_total, 0);
    let kinds: Vec<&str> = model.ann.layers.iter().map(|l| l.kind_name()).collect();
    assert_eq!(kinds, ["conv2d", "conv2d", "dense", "dense"]);
}
