//! ONNX import against the fixtures of `scripts/onnx-fixtures.py`: the imported networks
//! compute what ONNX's reference evaluator computes, the MLP imports as from `.npz`, each
//! refused graph is refused by name, and no byte string makes the importer panic.

use fs_model::activation::Activation;
use fs_model::convert::{ConvertConfig, convert};
use fs_model::data::DatasetKind;
use fs_model::eval::fixed_accuracy;
use fs_model::import::{Layout, read_npz, read_onnx};
use fs_model::infer::ann_logits;
use fs_model::network::{InputEncoding, LayerKind, PoolKind};
use fs_model::train::input_encoding;
use fs_testkit::{root, shipped};
use ndarray::{Array1, Array2};
use ndarray_npy::NpzReader;
use proptest::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    root().join("model/tests/fixtures/onnx").join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("the fixture is in the repository")
}

fn digits_input() -> InputEncoding {
    input_encoding(&shipped::split(DatasetKind::Digits).train)
}

const IMPORTABLE: [&str; 6] = [
    "mlp-torch",
    "mlp-tf2onnx",
    "mlp-silu",
    "cnn-maxpool",
    "cnn-batchnorm",
    "cnn-tf2onnx",
];

#[test]
fn imported_networks_compute_what_the_onnx_reference_evaluator_computes() {
    let mut reference = NpzReader::new(std::fs::File::open(fixture("reference.npz")).unwrap())
        .expect("reference.npz");
    let pixels: Array2<u8> = reference.by_name("pixels").unwrap();
    for name in IMPORTABLE {
        let ann = read_onnx(&bytes(&format!("{name}.onnx")), digits_input())
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let expected: Array2<f32> = reference.by_name(name).unwrap();
        for (n, image) in pixels.rows().into_iter().enumerate() {
            let got = ann_logits(&ann, image.as_slice().unwrap());
            for (c, (&g, &e)) in got.iter().zip(expected.row(n)).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "{name}: image {n}, logit {c}: imported {g}, ONNX {e}"
                );
            }
        }
    }
}

#[test]
fn fixtures_import_to_the_layers_their_graphs_spell() {
    let input = digits_input();
    let import = |name: &str| read_onnx(&bytes(&format!("{name}.onnx")), input).unwrap();
    let silu = import("mlp-silu");
    assert_eq!(silu.widths(), vec![64, 32, 10]);
    assert_eq!(silu.layers[0].activation, Activation::Silu);
    for (name, pool) in [
        ("cnn-maxpool", PoolKind::Max),
        ("cnn-batchnorm", PoolKind::Avg),
    ] {
        let cnn = import(name);
        assert_eq!(
            cnn.layers[0].kind,
            LayerKind::Conv2d {
                kernel: 3,
                stride: 1,
                padding: 1
            },
            "{name}"
        );
        assert_eq!(
            cnn.layers[0].pool.map(|p| (p.kind, p.window)),
            Some((pool, 2))
        );
        assert_eq!(cnn.widths(), vec![64, 6 * 64, 10], "{name}");
        assert_eq!(cnn.layers[1].activation, Activation::Identity);
    }
    // tf2onnx's channel-last image and flatten, around the same weights, give the same network.
    assert_eq!(import("cnn-tf2onnx"), import("cnn-maxpool"));
}

/// The same weights through `.npz` and through both exporters' graphs give one network, so
/// one FS conversion and one FS fixed-point accuracy.
#[test]
fn the_mlp_imports_from_onnx_as_from_npz() {
    let split = shipped::split(DatasetKind::Digits);
    let input = input_encoding(&split.train);
    let npz = read_npz(
        std::fs::File::open(fixture("mlp-weights.npz")).unwrap(),
        input,
        Activation::Relu,
        Layout::Torch,
        None,
    )
    .unwrap();
    let torch = read_onnx(&bytes("mlp-torch.onnx"), input).unwrap();
    let tf2onnx = read_onnx(&bytes("mlp-tf2onnx.onnx"), input).unwrap();
    assert_eq!(torch, npz);
    // tf2onnx stores the transposed kernels, so equality is up to nothing: the same floats.
    assert_eq!(tf2onnx, npz);
    let config = ConvertConfig {
        alpha_percentile: Some(99.9),
        ..ConvertConfig::default()
    };
    let accuracy = |ann| {
        let model = convert(ann, &split.train, &split.train, &config)
            .unwrap()
            .model;
        fixed_accuracy(&model, &split.test).unwrap().0
    };
    let (from_npz, from_onnx) = (accuracy(&npz), accuracy(&torch));
    assert_eq!(from_npz, from_onnx);
    assert!(from_onnx >= 0.95, "FS fixed accuracy {from_onnx}");
}

/// Each refused fixture's error names the node (position, name, operator) and the reason.
#[test]
fn refused_graphs_are_refused_by_name() {
    let cases: [(&str, &[&str]); 5] = [
        (
            "refused-op",
            &[
                "node 2 of 4",
                "\"/act/LeakyRelu\" (LeakyRelu)",
                "not supported",
            ],
        ),
        (
            "refused-attribute",
            &[
                "node 0 of 5",
                "\"/conv1/Conv\" (Conv)",
                "dilations = [2, 2]",
            ],
        ),
        (
            "refused-residual",
            &["\"/res/Add\" (Add)", "residual connection", "\"/act/Relu\""],
        ),
        (
            "refused-dangling",
            &["\"/fc1/Gemm\" (Gemm)", "\"fc1.bias_missing\"", "dangling"],
        ),
        (
            "refused-shape",
            &["\"/fc1/Gemm\" (Gemm)", "take 63 inputs", "gives 64"],
        ),
    ];
    for (name, needles) in cases {
        let e = read_onnx(&bytes(&format!("{name}.onnx")), digits_input())
            .map(|ann| format!("imported {:?}", ann.widths()))
            .unwrap_err();
        let text = format!("{e:#}");
        for needle in needles {
            assert!(text.contains(needle), "{name}: {needle:?} not in: {text}");
        }
    }
    // A graph for other images is refused naming both shapes.
    let mnist = input_encoding(&shipped::split(DatasetKind::Digits).train);
    let wide = InputEncoding {
        width: 28,
        height: 28,
        ..mnist
    };
    let e = format!(
        "{:#}",
        read_onnx(&bytes("mlp-torch.onnx"), wide).unwrap_err()
    );
    assert!(e.contains("[1, 1, 8, 8]") && e.contains("1x28x28"), "{e}");
}

/// Message nesting deep enough to overflow a recursive decoder's stack is an error.
#[test]
fn deeply_nested_messages_are_an_error() {
    fn delimited(field: u8, body: Vec<u8>) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2];
        let mut n = body.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                v.push(b);
                break;
            }
            v.push(b | 0x80);
        }
        v.extend(body);
        v
    }
    // Graph.node -> Node.attribute -> Attribute.g -> Graph ..., 20,000 deep.
    let mut graph = Vec::new();
    for _ in 0..20_000 {
        graph = delimited(1, delimited(5, delimited(6, graph)));
    }
    let model = delimited(7, graph);
    let e = read_onnx(&model, digits_input()).unwrap_err();
    assert!(format!("{e:#}").contains("not a valid ONNX file"), "{e:#}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_onnx(&data, digits_input());
    }

    /// Valid files truncated anywhere, or with bytes overwritten: an error or a network,
    /// never a panic (shapes, counts and names all come from the damaged bytes).
    #[test]
    fn damaged_fixtures_never_panic(
        which in 0..IMPORTABLE.len(),
        cut in 0.0..1.0f64,
        edits in proptest::collection::vec((0.0..1.0f64, any::<u8>()), 0..8),
    ) {
        let mut data = bytes(&format!("{}.onnx", IMPORTABLE[which]));
        let last = data.len() - 1;
        for (at, value) in edits {
            data[((at * last as f64) as usize).min(last)] = value;
        }
        let keep = if cut < 0.5 { data.len() } else { (cut * data.len() as f64) as usize };
        if let Ok(ann) = read_onnx(&data[..keep], digits_input()) {
            // Whatever imports is a valid network.
            prop_assert!(ann.validate().is_ok());
            let _: Array1<f32> = Array1::from(ann_logits(&ann, &[0u8; 64]));
        }
    }
}
