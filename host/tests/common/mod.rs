//! What the host's integration tests share: the repository, the digits model and data, and
//! the check of a batch's results against the golden model.

#![allow(dead_code)] // each test file uses a part

use fpga_host::stream::Batch;
use fs_model::data::Dataset;
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use fs_model::network::Model;
use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn digits() -> (Model, Dataset) {
    let model = modelfile::load(&root().join("models/digits-mlp.fsnn")).unwrap();
    let test = fs_model::data::load_digits(&root().join("data"))
        .unwrap()
        .test;
    (model, test)
}

/// Every image is either failed or has the golden result; returns how many have a result.
pub fn assert_accounted_for(model: &Model, images: &[&[u8]], batch: &Batch) -> usize {
    let engine = FixedEngine::new(model);
    let mut reported = 0;
    for (n, result) in batch.results.iter().enumerate() {
        match result {
            Some((logits, class)) => {
                assert!(
                    !batch.failed.contains(&n),
                    "image {n} both reported and failed"
                );
                let golden = engine.run(images[n]);
                assert_eq!(logits, &golden.logits, "image {n}");
                assert_eq!(*class as usize, golden.class(), "image {n}");
                reported += 1;
            }
            None => assert!(
                batch.failed.contains(&n),
                "image {n} neither reported nor failed"
            ),
        }
    }
    reported
}
