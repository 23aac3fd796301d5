//! Golden FS fixed-point inference (image by image, and batched on every core) against the
//! plain ANN forward pass (image by image, and as one batched GEMM), on the same network (the
//! shipped MNIST 784-256-10 model) and the same 1,000 test images.
//!
//! `cargo bench -p fs-model --bench inference`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fs_model::infer::{FixedEngine, ann_forward_batch, ann_logits, fs_float_logits};
use std::hint::black_box;

const IMAGES: usize = 1000;

fn inference(c: &mut Criterion) {
    let (model, test) = fs_testkit::shipped::mnist();
    let test = test.take(IMAGES);
    let engine = FixedEngine::new(&model);
    let mut group = c.benchmark_group("mnist-784-256-10");
    group.throughput(Throughput::Elements(IMAGES as u64));
    group.sample_size(20);
    group.bench_function("fs_fixed_golden", |b| {
        b.iter(|| {
            (0..IMAGES)
                .map(|i| engine.run(black_box(test.image(i))).class())
                .sum::<usize>()
        })
    });
    let images: Vec<&[u8]> = (0..IMAGES).map(|i| test.image(i)).collect();
    group.bench_function("fs_fixed_golden_batch_1000", |b| {
        b.iter(|| {
            engine
                .run_batch(black_box(&images))
                .iter()
                .map(|r| r.class())
                .sum::<usize>()
        })
    });
    group.bench_function("ann_forward_per_image", |b| {
        b.iter(|| {
            (0..IMAGES)
                .map(|i| ann_logits(&model.ann, black_box(test.image(i)))[0])
                .sum::<f32>()
        })
    });
    group.bench_function("ann_forward_batch_1000", |b| {
        b.iter(|| ann_forward_batch(&model.ann, black_box(&test.pixels)).sum())
    });
    group.bench_function("fs_float", |b| {
        b.iter(|| {
            (0..IMAGES)
                .map(|i| fs_float_logits(&model, black_box(test.image(i)))[0])
                .sum::<f64>()
        })
    });
    group.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);
