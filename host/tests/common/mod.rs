//! What the host's integration tests share: the repository, the digits model and data, and
//! the check of a batch's results against the golden model.

#![allow(dead_code)] // each test file uses a part

use fpga_host::stream::Batch;
use fs_hdl::sim::compare::result_difference;
use fs_model::infer::FixedEngine;
use fs_model::network::Model;

pub use fs_testkit::shipped::digits;

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
                if let Some(m) = result_difference(n, logits, *class as usize, &golden) {
                    panic!("{m}");
                }
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
