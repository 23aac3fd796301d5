//! Dense layers driven by event streams, against the golden model: every output event in
//! order (spikes in `(t, j)` order, logits in neuron order), images streamed back to back
//! with random back-pressure.

use fs_hdl::core::datapath::Datapath;
use fs_hdl::core::dense_layer::DenseLayer;
use fs_hdl::sim::golden::spike_events;
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
        layer.event_valid.next = event.is_some();
        let (index, step) = event.flatten().map_or((0, 0), |(i, t, _)| (i, t));
        layer.event_index.next = index.into();
        layer.event_step.next = step.into();
        layer.event_last.next = matches!(event, Some(None));
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
        layer.clock.next = true.into();
        settle(layer);
        layer.clock.next = false.into();
        settle(layer);
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
