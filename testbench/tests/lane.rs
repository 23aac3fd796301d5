//! A layer's lanes, driven with the golden model's event schedule, against the golden model:
//! every spike of every neuron and every saturation, two images overlapped (image n+1
//! accumulating while image n fires), on the shipped digits network and on random layers at
//! the edges of the fixed-point format.

use fs_hdl::lane::Lane;
use fs_hdl::sim::{prepare, settle, to_bits32};
use fs_model::infer::FixedEngine;
use fs_model::network::Model;

/// One cycle's stage-0 inputs of a lane.
#[derive(Clone, Copy, Default)]
struct Op {
    acc: Option<(u64, u64, u64)>,     // (weight address, group, shift)
    fire: Option<(u64, usize, bool)>, // (group, step index, last)
}

fn clock(lane: &mut Lane) {
    lane.clock.next = true.into();
    settle(lane);
    lane.clock.next = false.into();
    settle(lane);
}

/// The accumulate operations of one image for lane geometry `groups`: the input spikes in the
/// golden order (step-major, ascending pixel), each for every group.
fn accumulate_ops(model: &Model, pixels: &[u8], groups: usize) -> Vec<(u64, u64, u64)> {
    let bits = model.input().bits as usize;
    let mut ops = Vec::new();
    for t in 1..=bits {
        for (i, &p) in pixels.iter().enumerate() {
            if (p as usize >> (bits - t)) & 1 == 1 {
                for g in 0..groups {
                    ops.push(((i * groups + g) as u64, g as u64, (bits - t) as u64));
                }
            }
        }
    }
    ops
}

/// Runs the first layer of `model` on `images` with `lanes` lanes; returns each image's spike
/// masks per neuron and the saturations of the layer.
fn run_layer(model: &Model, images: &[Vec<u8>], lanes: usize) -> (Vec<Vec<u32>>, u64) {
    let layer = &model.layers[0];
    let rom = layer.rom.as_ref().expect("a hidden layer");
    let (outputs, inputs) = layer.weight.dim();
    let groups = outputs.div_ceil(lanes);
    let mut units: Vec<Lane> = (0..lanes)
        .map(|p| {
            let weights: Vec<i64> = (0..inputs * groups)
                .map(|a| {
                    let (i, g) = (a / groups, a % groups);
                    let j = g * lanes + p;
                    if j < outputs {
                        layer.weight[[j, i]] as i64
                    } else {
                        0
                    }
                })
                .collect();
            let init: Vec<i64> = (0..groups)
                .map(|g| {
                    let j = g * lanes + p;
                    if j < outputs {
                        layer.bias[j] as i64 + layer.imp as i64
                    } else {
                        0
                    }
                })
                .collect();
            Lane::new(
                model.format.membrane_range(),
                model.format.weight_bits as usize,
                &weights,
                &init,
            )
        })
        .collect();
    for lane in &mut units {
        prepare(lane);
    }
    let k = rom.k();
    let fire_ops: Vec<(u64, usize, bool)> = (0..k)
        .flat_map(|t| (0..groups).map(move |g| (g as u64, t, t + 1 == k)))
        .collect();
    // Phase n: image n accumulates while image n-1 fires; one idle cycle drains the pipeline
    // before the banks swap.
    let mut masks = vec![vec![0u32; outputs]; images.len()];
    let mut saturations = 0;
    let mut bank = false;
    for phase in 0..=images.len() {
        let acc = images
            .get(phase)
            .map(|img| accumulate_ops(model, img, groups))
            .unwrap_or_default();
        let fire = if phase > 0 {
            fire_ops.clone()
        } else {
            Vec::new()
        };
        let cycles = acc.len().max(fire.len()) + 1;
        let mut pending: Option<(u64, usize)> = None;
        let mut pending_acc: Option<u64> = None;
        for c in 0..cycles {
            let op = Op {
                acc: acc.get(c).copied(),
                fire: fire.get(c).copied(),
            };
            for lane in &mut units {
                lane.accumulate_bank.next = bank;
                lane.acc_enable.next = op.acc.is_some();
                let (address, group, shift) = op.acc.unwrap_or_default();
                lane.weight_address.next = address.into();
                lane.acc_group.next = group.into();
                lane.spike_shift.next = shift.into();
                lane.fire_enable.next = op.fire.is_some();
                let (group, step, last) = op.fire.unwrap_or((0, 0, false));
                lane.fire_group.next = group.into();
                lane.threshold.next = to_bits32(rom.t[step]);
                lane.reset.next = to_bits32(rom.h[step]);
                lane.fire_last.next = last;
                settle(lane);
            }
            // Stage 1 outputs of the previous cycle's operations.
            // Lanes past the last neuron (when P does not divide N) are padding: ignored.
            for (p, lane) in units.iter().enumerate() {
                if let Some(group) = pending_acc {
                    if (group as usize * lanes + p) < outputs {
                        saturations += lane.acc_saturated.val() as u64;
                    }
                }
                if let Some((group, step)) = pending {
                    assert!(lane.spike_valid.val());
                    let j = group as usize * lanes + p;
                    if j < outputs {
                        saturations += lane.fire_saturated.val() as u64;
                        if lane.spike.val() {
                            masks[phase - 1][j] |= 1 << step;
                        }
                    }
                }
            }
            pending = op.fire.map(|(g, t, _)| (g, t));
            pending_acc = op.acc.map(|(_, g, _)| g);
            for lane in &mut units {
                clock(lane);
            }
        }
        bank = !bank;
    }
    (masks, saturations)
}

fn check(model: &Model, images: &[Vec<u8>], lanes: usize) {
    let engine = FixedEngine::new(model);
    let (masks, saturations) = run_layer(model, images, lanes);
    let mut golden_saturations = 0;
    for (n, image) in images.iter().enumerate() {
        let run = engine.run(image);
        golden_saturations += run.saturations[0];
        for (j, (&rtl, &golden)) in masks[n].iter().zip(&run.spikes[1]).enumerate() {
            assert_eq!(
                rtl, golden,
                "image {n}, neuron {j}: RTL spikes {rtl:#b}, golden {golden:#b}"
            );
        }
    }
    assert_eq!(saturations, golden_saturations, "saturations");
}

#[test]
fn digits_layer_matches_the_golden_model() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = fs_model::modelfile::load(&root.join("models/digits-mlp.fsnn")).unwrap();
    let test = fs_model::data::load_digits(&root.join("data"))
        .unwrap()
        .test;
    let images: Vec<Vec<u8>> = (0..4).map(|i| test.image(i).to_vec()).collect();
    for lanes in [4, 32] {
        check(&model, &images, lanes);
    }
}

#[test]
fn random_layers_at_the_edges_match_the_golden_model() {
    let mut saturating = 0;
    for seed in 0..40 {
        let model = fs_testbench::random::random_model(seed, 1);
        let images = fs_testbench::random::random_images(&model, 3, 1000 + seed);
        let engine = FixedEngine::new(&model);
        if images.iter().any(|img| engine.run(img).saturations[0] > 0) {
            saturating += 1;
        }
        let lanes = 1 + (seed as usize % model.layers[0].outputs());
        check(&model, &images, lanes);
    }
    assert!(saturating >= 5, "only {saturating} random layers saturated");
}
