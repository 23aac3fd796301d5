//! The whole accelerator in RustHDL simulation against the golden model: every spike event of
//! every stage (neuron and step, in bus order), every logit and the class, images streamed
//! back to back.

use fs_hdl::accelerator::{Accelerator, HwConfig};
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use fs_testbench::accelerator_sim::{golden_spikes, run_images};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check(model_file: &str, data: fs_model::data::Dataset, count: usize, lanes: usize) {
    let model = modelfile::load(&root().join(model_file)).unwrap();
    let mut accel = Accelerator::new(&model, &HwConfig::uniform(&model, lanes)).unwrap();
    let images: Vec<&[u8]> = (0..count).map(|i| data.image(i)).collect();
    let runs = run_images(&mut accel, &images, 50_000_000).unwrap();
    assert_eq!(runs.len(), count);
    let engine = FixedEngine::new(&model);
    let hidden_spikes: usize = runs
        .iter()
        .map(|r| r.spikes.iter().skip(1).map(Vec::len).sum::<usize>())
        .sum();
    assert!(
        hidden_spikes > count,
        "only {hidden_spikes} hidden spikes: nothing was compared"
    );
    for (n, (run, image)) in runs.iter().zip(&images).enumerate() {
        let golden = engine.run(image);
        let spikes = golden_spikes(&golden);
        for (s, (rtl, gold)) in run.spikes.iter().zip(&spikes).enumerate() {
            if let Some(k) = (0..rtl.len().max(gold.len())).find(|&k| rtl.get(k) != gold.get(k)) {
                panic!(
                    "image {n}, stage {s}: spike event {k} is {:?} in the RTL, {:?} in the golden model",
                    rtl.get(k),
                    gold.get(k)
                );
            }
        }
        assert_eq!(run.logits, golden.logits, "image {n}: logits");
        assert_eq!(run.class, golden.class(), "image {n}: class");
    }
}

#[test]
fn digits_accelerator_is_bit_exact() {
    let test = fs_model::data::load_digits(&root().join("data"))
        .unwrap()
        .test;
    check("models/digits-mlp.fsnn", test, 30, 8);
}

#[test]
fn mnist_accelerator_is_bit_exact_on_20_test_images() {
    let test = fs_model::data::load_mnist(&root().join("data"))
        .unwrap()
        .test;
    check("models/mnist-mlp.fsnn", test, 20, 16);
}
