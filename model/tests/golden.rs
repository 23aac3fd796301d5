//! The integer golden model against an independent, naive reading of its specification
//! (model/src/infer.rs module doc), on random networks at the edges of the format.

use fs_model::infer::FixedEngine;
use fs_model::network::Model;
use fs_testkit::random::{ModelSpec, random_image, random_model};
use proptest::prelude::*;

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
    let mut spikes = Vec::new();
    let mut logits = Vec::new();
    let mut sats = Vec::new();
    for layer in &model.layers {
        let mut sat = 0;
        let mut acc: Vec<i128> = layer
            .bias
            .iter()
            .map(|&b| b as i128 + layer.imp as i128)
            .collect();
        for (step, &d) in values.iter().enumerate() {
            for (i, &mask) in masks.iter().enumerate() {
                if mask & (1 << step) != 0 {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = clamp(*a + layer.weight[[j, i]] as i128 * d, &mut sat);
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
        sats.push(sat);
    }
    (spikes, logits, sats)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn engine_matches_the_reference(seed in any::<u64>(), image in any::<u64>()) {
        let model = random_model(seed, &ModelSpec::default());
        let pixels = random_image(&model, image);
        let run = FixedEngine::new(&model).run(&pixels);
        let (spikes, logits, sats) = reference(&model, &pixels);
        prop_assert_eq!(&run.spikes, &spikes);
        prop_assert_eq!(&run.logits, &logits);
        prop_assert_eq!(&run.saturations, &sats);
    }

    /// With a wide membrane the engine takes its fast path; it must equal the event order.
    #[test]
    fn fast_path_equals_event_order(seed in any::<u64>(), image in any::<u64>()) {
        let model = random_model(
            seed,
            &ModelSpec {
                membrane_bits: Some(fs_model::fixed::MAX_MEMBRANE_BITS),
                ..Default::default()
            },
        );
        let pixels = random_image(&model, image);
        let engine = FixedEngine::new(&model);
        prop_assert_eq!(engine.run(&pixels), engine.run_event_order(&pixels));
    }
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
