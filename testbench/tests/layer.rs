//! Dense layers driven by event streams, against the golden model: every output event in
//! order (spikes in `(t, j)` order, logits in neuron order), images streamed back to back
//! with random back-pressure.

use fs_hdl::core::datapath::Datapath;
use fs_hdl::core::dense_layer::DenseLayer;
use fs_hdl::sim::compare::spike_events;
use fs_hdl::sim::{prepare, settle};
use fs_model::infer::FixedEngine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// An event on a spike bus: `Some((index, step, value))` or the end of an image (`None`).
type Event = Option<(u64, u64, i64)>;

/// Spike masks as bus events in the golden schedule's order, then the end marker.
fn events(masks: &[u32]) -> Vec<Event> {
    spike_events(masks)
        .into_iter()
        .map(|(i, t)| Some((i as u64, t as u64, 0)))
        .chain([None])
        .collect()
}

/// Puts `event` (or nothing) on the layer's input bus.
fn offer(layer: &mut DenseLayer, event: Option<Event>) {
    layer.event_valid.next = event.is_some();
    let (index, step) = event.flatten().map_or((0, 0), |(i, t, _)| (i, t));
    layer.event_index.next = index.into();
    layer.event_step.next = step.into();
    layer.event_last.next = matches!(event, Some(None));
}

fn clock(layer: &mut DenseLayer) {
    layer.clock.next = true.into();
    settle(layer);
    layer.clock.next = false.into();
    settle(layer);
}

fn run(layer: &mut DenseLayer, datapath: Datapath, input: Vec<Event>, seed: u64) -> Vec<Event> {
    prepare(layer);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images = input.iter().filter(|e| e.is_none()).count();
    let mut queue: VecDeque<Event> = input.into();
    let mut out = Vec::new();
    for _ in 0..2_000_000 {
        if out.iter().filter(|e: &&Event| e.is_none()).count() == images {
            return out;
        }
        let event = queue.front().copied();
        offer(layer, event);
        let ready = rng.gen_bool(0.7);
        layer.spike_ready.next = ready;
        settle(layer);
        if layer.spike_valid.val() && ready {
            out.push(if layer.spike_last.val() {
                None
            } else {
                Some((
                    layer.spike_index.val().to_u64(),
                    layer.spike_step.val().to_u64(),
                    datapath.value(layer.spike_value.val()),
                ))
            });
        }
        if event.is_some() && layer.event_ready.val() {
            queue.pop_front();
        }
        clock(layer);
    }
    panic!(
        "the layer did not finish: {} of {images} images out",
        out.iter().filter(|e| e.is_none()).count()
    );
}

#[test]
fn digits_layers_match_the_golden_model_event_for_event() {
    let (model, test) = fs_testkit::shipped::digits();
    let engine = FixedEngine::new(&model);
    let runs: Vec<_> = (0..5).map(|i| engine.run(test.image(i))).collect();
    let m = Datapath::of_model(&model).unwrap();
    let w = model.format.weight_bits as usize;
    let input_values = model.input().spike_values();
    let hidden_values = &model.layers[0].rom.as_ref().unwrap().d;
    for lanes in [1, 3, 8, 32] {
        // Hidden layer: input spikes in, hidden spikes out.
        let mut layer = DenseLayer::new(&model.layers[0], m, w, &input_values, lanes).unwrap();
        let input: Vec<Event> = runs.iter().flat_map(|r| events(&r.spikes[0])).collect();
        let expect: Vec<Event> = runs.iter().flat_map(|r| events(&r.spikes[1])).collect();
        // A hidden layer's `spike_value` is not part of its output (only the output layer's is).
        let got: Vec<Event> = run(&mut layer, m, input, lanes as u64)
            .into_iter()
            .map(|e| e.map(|(i, t, _)| (i, t, 0)))
            .collect();
        assert_eq!(got, expect, "hidden layer, {lanes} lanes");

        // Output layer: hidden spikes in, logits out.
        let out_lanes = lanes.min(10);
        let mut layer = DenseLayer::new(&model.layers[1], m, w, hidden_values, out_lanes).unwrap();
        let input: Vec<Event> = runs.iter().flat_map(|r| events(&r.spikes[1])).collect();
        let expect: Vec<Event> = runs
            .iter()
            .flat_map(|r| {
                r.logits
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| Some((j as u64, 0, v)))
                    .chain([None])
            })
            .collect();
        let got = run(&mut layer, m, input, 100 + lanes as u64);
        assert_eq!(got, expect, "output layer, {out_lanes} lanes");
    }
}

/// The MNIST MLP's hidden layer with a lane per neuron (256): one neuron group, so the lanes
/// share weight memories in pairs, forward sums between consecutive events, and emission
/// finds the lowest spike chunk by chunk (more than `EMISSION_CHAIN_LANES` lanes). Images cut
/// to their first pixels keep the simulation short; one is whole.
#[test]
fn a_layer_with_a_lane_per_neuron_matches_the_golden_model() {
    use fs_hdl::core::dense_layer::EMISSION_CHAIN_LANES;
    let (model, test) = fs_testkit::shipped::mnist();
    let lanes = model.layers[0].outputs();
    assert!(lanes > EMISSION_CHAIN_LANES);
    let engine = FixedEngine::new(&model);
    let cut = fs_testkit::shipped::first_lit_pixels;
    let images = [
        cut(test.image(0), 12),
        cut(test.image(1), 30),
        test.image(2).to_vec(),
    ];
    let runs: Vec<_> = images.iter().map(|i| engine.run(i)).collect();
    let m = Datapath::of_model(&model).unwrap();
    let w = model.format.weight_bits as usize;
    let mut layer =
        DenseLayer::new(&model.layers[0], m, w, &model.input().spike_values(), lanes).unwrap();
    let input: Vec<Event> = runs.iter().flat_map(|r| events(&r.spikes[0])).collect();
    let expect: Vec<Event> = runs.iter().flat_map(|r| events(&r.spikes[1])).collect();
    let got: Vec<Event> = run(&mut layer, m, input, 7)
        .into_iter()
        .map(|e| e.map(|(i, t, _)| (i, t, 0)))
        .collect();
    assert_eq!(got, expect);
}

/// One image through `layer` with the output always ready: the cycles at which input events
/// were taken (the end marker last) and the cycle at which the output's end marker left.
fn timing(layer: &mut DenseLayer, input: &[Event]) -> (Vec<u64>, u64) {
    prepare(layer);
    let mut queue: VecDeque<Event> = input.iter().copied().collect();
    let mut taken = Vec::new();
    for cycle in 0..1_000_000 {
        let event = queue.front().copied();
        offer(layer, event);
        layer.spike_ready.next = true;
        settle(layer);
        if layer.spike_valid.val() && layer.spike_last.val() {
            return (taken, cycle);
        }
        if event.is_some() && layer.event_ready.val() {
            queue.pop_front();
            taken.push(cycle);
        }
        clock(layer);
    }
    panic!("the layer did not finish the image");
}

/// The cycle model's dense-layer constants are the RTL's: input events are taken
/// `event_cycles` apart (with `G` groups `G` apart; with one group, a hidden layer one cycle,
/// it forwards, and the output layer `SINGLE_GROUP_EVENT_CYCLES`), and every
/// fire step of a group that spikes nothing costs `FIRE_STEP_CYCLES` between the end marker
/// going in and the end marker coming out (measured as the difference between 1, 2 and 4
/// groups, so the fixed latencies cancel; thresholds at the membrane's top keep every neuron
/// silent).
#[test]
fn the_cycle_models_layer_constants_are_the_rtls() {
    use fs_hdl::core::dense_layer::{FIRE_STEP_CYCLES, event_cycles};
    let (model, test) = fs_testkit::shipped::digits();
    let run = FixedEngine::new(&model).run(test.image(0));
    let m = Datapath::of_model(&model).unwrap();
    let w = model.format.weight_bits as usize;
    let input = events(&run.spikes[0]);
    let mut silent = model.layers[0].clone();
    let rom = silent.rom.as_mut().unwrap();
    rom.t.fill(model.format.membrane_range().max);
    let k = rom.k() as u64;
    let layer = &silent;
    let mut fire = Vec::new();
    for groups in [1u64, 2, 4] {
        let lanes = layer.outputs().div_ceil(groups as usize);
        let mut dense = DenseLayer::new(layer, m, w, &model.input().spike_values(), lanes).unwrap();
        let (taken, out_end) = timing(&mut dense, &input);
        let gaps: Vec<u64> = taken.windows(2).map(|p| p[1] - p[0]).collect();
        let expected = event_cycles(groups as usize, true) as u64;
        assert_eq!(expected, groups, "a hidden layer takes an event per group");
        // Every gap between spikes (the end marker may follow sooner).
        let spike_gaps = &gaps[..gaps.len() - 1];
        assert!(
            spike_gaps.iter().all(|&g| g == expected),
            "{groups} groups: event gaps {spike_gaps:?}"
        );
        // From the end marker in to the end marker out: the fire phase, less the
        // re-initialisations (one per group), which the model counts apart.
        fire.push(out_end - taken.last().unwrap() - groups);
    }
    assert_eq!(
        fire[1] - fire[0],
        k * FIRE_STEP_CYCLES as u64,
        "1 -> 2 groups"
    );
    assert_eq!(
        fire[2] - fire[1],
        2 * k * FIRE_STEP_CYCLES as u64,
        "2 -> 4 groups"
    );
}
