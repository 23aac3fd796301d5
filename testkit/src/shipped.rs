//! The shipped models (`models/`) and the data sets they were trained on (`data/`).

use crate::root;
use fs_model::data::{self, Dataset, DatasetKind, Split};
use fs_model::modelfile;
use fs_model::network::Model;
use std::path::PathBuf;

/// Where a shipped model file is, by file name (`"digits-mlp.fsnn"`).
pub fn path(name: &str) -> PathBuf {
    root().join("models").join(name)
}

/// A shipped model, by file name (`"digits-mlp.fsnn"`).
pub fn model(name: &str) -> Model {
    let path = path(name);
    modelfile::load(&path).unwrap_or_else(|e| panic!("loading {}: {e:#}", path.display()))
}

/// A data set's train and test splits, from the repository's `data/` (whatever
/// `FS_ACCEL_DATA` says).
pub fn split(kind: DatasetKind) -> Split {
    data::load(kind, &root().join("data")).expect("the repository's data")
}

/// The 8x8 digits network and the digits test split (360 images).
pub fn digits() -> (Model, Dataset) {
    let test = data::load_digits(&root().join("data"))
        .expect("the repository's digits data")
        .test;
    (model("digits-mlp.fsnn"), test)
}

/// The MNIST MLP and the MNIST test split (10,000 images), its pixels taken to the model's
/// input range as `eval`, `verify` and `infer` take them (the shipped MLP reads 3-bit
/// pixels).
pub fn mnist() -> (Model, Dataset) {
    with_mnist_test("mnist-mlp.fsnn")
}

/// The MNIST CNN and the MNIST test split (8-bit pixels, the CNN's input).
pub fn mnist_cnn() -> (Model, Dataset) {
    with_mnist_test("mnist-cnn.fsnn")
}

/// A shipped MNIST model and the test split at its input range.
fn with_mnist_test(name: &str) -> (Model, Dataset) {
    let model = model(name);
    let test = data::load_mnist(&root().join("data"))
        .expect("the repository's MNIST data")
        .test
        .rescaled(model.input().max_value)
        .expect("the model's input range");
    (model, test)
}

/// The first `count` images of a data set, as the slices the simulators take.
pub fn first_images(set: &Dataset, count: usize) -> Vec<&[u8]> {
    (0..count.min(set.len())).map(|n| set.image(n)).collect()
}

/// `image` with only its first `lit` nonzero pixels kept: a short run through a simulator that
/// still has a real image's spikes.
pub fn first_lit_pixels(image: &[u8], lit: usize) -> Vec<u8> {
    let mut kept = 0;
    image
        .iter()
        .map(|&p| {
            kept += (p != 0) as usize;
            if kept <= lit { p } else { 0 }
        })
        .collect()
}
