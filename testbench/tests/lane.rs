//! A layer's lanes, driven with the golden model's event schedule, against the golden model:
//! every spike of every neuron and every saturation, two images overlapped (image n+1
//! accumulating in one bank while image n fires from the other, operations interleaved), on
//! the shipped digits network and on random layers at the edges of the fixed-point format.

use fs_hdl::core::datapath::Datapath;
use fs_hdl::core::lane::Lane;
use fs_hdl::core::lane_layout::{lane_contents, weight_address};
use fs_hdl::sim::compare::spike_events;
use fs_hdl::sim::{prepare, settle};
use fs_model::infer::FixedEngine;
use fs_model::network::Model;
use fs_testkit::random::{ModelSpec, random_images, random_model};

/// One lane operation (the same in every lane).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Accumulate { weight: u64, group: u64, shift: u64 },
    Fire { group: u64, step: usize },
    Init { group: u64 },
}

fn clock(lane: &mut Lane) {
    lane.clock.next = true.into();
    settle(lane);
    lane.clock.next = false.into();
    settle(lane);
}

/// The accumulate operations of one image: the golden model's input spikes in bus order, each
/// for every group, at the weight the lane layout puts there.
fn accumulate_ops(model: &Model, image: &[u8], groups: usize) -> Vec<Op> {
    let values = model.input().spike_values();
    let masks = FixedEngine::new(model).run(image).spikes.swap_remove(0);
    spike_events(&masks)
        .into_iter()
        .flat_map(|(i, t)| {
            let shift = values[t as usize].trailing_zeros() as u64;
            (0..groups).map(move |g| Op::Accumulate {
                weight: weight_address(image.len(), g, i as usize) as u64,
                group: g as u64,
                shift,
            })
        })
        .collect()
}

/// Runs the first layer of `model` on `images` with `lanes` lanes; returns each image's spike
/// masks per neuron and the saturations of the layer.
fn run_layer(model: &Model, images: &[Vec<u8>], lanes: usize) -> (Vec<Vec<u32>>, u64) {
    let layer = &model.layers[0];
    let rom = layer.rom.as_ref().expect("a hidden layer");
    let datapath = Datapath::of_model(model).unwrap();
    let outputs = layer.outputs();
    let groups = outputs.div_ceil(lanes);
    let mut units: Vec<Lane> = (0..lanes)
        .map(|p| {
            let (weights, init) = lane_contents(layer, lanes, p);
            Lane::new(
                datapath,
                model.format.weight_bits as usize,
                &weights,
                &init,
                false,
            )
        })
        .collect();
    for lane in &mut units {
        prepare(lane);
    }
    let k = rom.k();
    let fire_ops: Vec<Op> = (0..k)
        .flat_map(|step| {
            (0..groups).map(move |g| Op::Fire {
                group: g as u64,
                step,
            })
        })
        .chain((0..groups).map(|g| Op::Init { group: g as u64 }))
        .collect();
    // Phase n: image n accumulates in bank n % 2 while image n-1 fires from the other. The
    // two streams alternate; a bubble keeps operations on one word two cycles apart.
    let mut schedule: Vec<(Option<Op>, bool, usize)> = Vec::new(); // (op, bank, image fired)
    for phase in 0..=images.len() {
        let bank = phase % 2 == 1;
        let mut acc = images
            .get(phase)
            .map(|img| accumulate_ops(model, img, groups))
            .unwrap_or_default()
            .into_iter();
        let mut fire = if phase > 0 {
            fire_ops.clone()
        } else {
            Vec::new()
        }
        .into_iter();
        let mut turn = false;
        loop {
            let op = if turn {
                fire.next().or_else(|| acc.next())
            } else {
                acc.next().or_else(|| fire.next())
            };
            let Some(op) = op else { break };
            turn = !turn;
            let word = |op: &Op, bank: bool| match *op {
                Op::Accumulate { group, .. } => (bank, group),
                Op::Fire { group, .. } | Op::Init { group } => (!bank, group),
            };
            if let Some((Some(previous), previous_bank, _)) = schedule.last() {
                if word(previous, *previous_bank) == word(&op, bank) {
                    schedule.push((None, bank, 0));
                }
            }
            schedule.push((Some(op), bank, phase.saturating_sub(1)));
        }
    }
    schedule.extend([(None, false, 0); 3]);

    let base = |bank: bool| if bank { groups as u64 } else { 0 };
    let mut masks = vec![vec![0u32; outputs]; images.len()];
    let mut saturations = 0;
    for c in 0..schedule.len() {
        for lane in &mut units {
            // Stage 0.
            if let (Some(Op::Accumulate { weight, .. }), _, _) = schedule[c] {
                lane.weight_address.next = weight.into();
            }
            // Stage 1.
            lane.spike_shift.next = 0.into();
            lane.state_address.next = 0.into();
            if let Some(&(Some(op), bank, _)) = c.checked_sub(1).map(|c| &schedule[c]) {
                let address = match op {
                    Op::Accumulate { group, shift, .. } => {
                        lane.spike_shift.next = shift.into();
                        base(bank) + group
                    }
                    Op::Fire { group, .. } => base(!bank) + group,
                    Op::Init { group } => 2 * groups as u64 + group,
                };
                lane.state_address.next = address.into();
            }
            // Stage 2.
            lane.use_product.next = false;
            lane.write_enable.next = false;
            lane.write_on_spike.next = false;
            lane.addend.next = 0.into();
            lane.threshold.next = 0.into();
            if let Some(&(Some(op), bank, _)) = c.checked_sub(2).map(|c| &schedule[c]) {
                let address = match op {
                    Op::Accumulate { group, .. } => {
                        lane.use_product.next = true;
                        lane.write_enable.next = true;
                        base(bank) + group
                    }
                    Op::Fire { group, step } => {
                        lane.write_on_spike.next = true;
                        lane.addend.next = datapath.pattern(-rom.h[step]);
                        lane.threshold.next = datapath.pattern(rom.t[step]);
                        base(!bank) + group
                    }
                    Op::Init { group } => {
                        lane.write_enable.next = true;
                        base(!bank) + group
                    }
                };
                lane.write_address.next = address.into();
            }
            settle(lane);
        }
        // Stage 2 results. Lanes past the last neuron (when P does not divide N) are padding.
        if let Some(&(Some(Op::Fire { group, step }), _, image)) =
            c.checked_sub(2).map(|c| &schedule[c])
        {
            for (p, lane) in units.iter().enumerate() {
                if (group as usize * lanes + p) < outputs && lane.spike.val() {
                    masks[image][group as usize * lanes + p] |= 1 << step;
                }
            }
        }
        // Saturated write-backs are flagged a cycle later.
        if let Some(&(Some(Op::Accumulate { group, .. } | Op::Fire { group, .. }), _, _)) =
            c.checked_sub(3).map(|c| &schedule[c])
        {
            for (p, lane) in units.iter().enumerate() {
                if (group as usize * lanes + p) < outputs {
                    saturations += lane.saturated.val() as u64;
                }
            }
        }
        for lane in &mut units {
            clock(lane);
        }
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
fn digits_first_layer_lanes_on_a_golden_schedule_spike_as_the_golden_model() {
    let (model, test) = fs_testkit::shipped::digits();
    let images: Vec<Vec<u8>> = (0..4).map(|i| test.image(i).to_vec()).collect();
    for lanes in [1, 4, 32] {
        check(&model, &images, lanes);
    }
}

#[test]
fn random_first_layer_lanes_at_the_edges_spike_as_the_golden_model() {
    let mut saturating = 0;
    for seed in 0..40 {
        let model = random_model(seed, &ModelSpec::hidden(1));
        let images = random_images(&model, 3, 1000 + seed);
        let engine = FixedEngine::new(&model);
        if images.iter().any(|img| engine.run(img).saturations[0] > 0) {
            saturating += 1;
        }
        let lanes = 1 + (seed as usize % model.layers[0].outputs());
        check(&model, &images, lanes);
    }
    assert!(saturating >= 5, "only {saturating} random layers saturated");
}
