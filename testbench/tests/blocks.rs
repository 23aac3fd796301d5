//! Each RTL block's generated Verilog against its RustHDL simulation, on vectors at the edges
//! of the fixed-point format (the blocks' own tests check RustHDL against the golden model).

use fs_hdl::fire_step::FireStep;
use fs_hdl::saturating_adder::SaturatingAdder;
use fs_hdl::sim::from_bits32;
use fs_model::fixed::SignedRange;
use fs_testbench::{Port, cross_check};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 32-bit patterns, mostly at and around the edges of `range`.
fn edgy_vectors(range: SignedRange, ports: usize, cycles: usize, seed: u64) -> Vec<Vec<u64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut value = move || -> u64 {
        let v: i64 = match rng.gen_range(0..8) {
            0 => range.min,
            1 => range.max,
            2 => rng.gen_range(-2..=2),
            3 => range.max - rng.gen_range(0..4),
            4 => range.min + rng.gen_range(0..4),
            5 => rng.gen_range(i32::MIN..=i32::MAX) as i64,
            _ => rng.gen_range(range.min..=range.max),
        };
        v as u32 as u64
    };
    (0..cycles)
        .map(|_| (0..ports).map(|_| value()).collect())
        .collect()
}

#[test]
fn saturating_adder_verilog_agrees() {
    for bits in [8, 17, 23, 32] {
        let range = SignedRange::of_bits(bits);
        let inputs = [
            Port::new("a", 32),
            Port::new("b", 32),
            Port::new("subtract", 1),
        ];
        let outputs = [Port::new("sum", 32), Port::new("saturated", 1)];
        let mut vectors = edgy_vectors(range, 3, 300, bits as u64);
        // `a` is a membrane value: in range.
        for v in &mut vectors {
            v[0] = (from_bits32((v[0]).into()).clamp(range.min, range.max)) as u32 as u64;
        }
        let trace = cross_check(
            &mut SaturatingAdder::new(range),
            &inputs,
            &outputs,
            &vectors,
            |u, v| {
                u.a.next = v[0].into();
                u.b.next = v[1].into();
                u.subtract.next = v[2] & 1 == 1;
            },
            |u| vec![u.sum.val().into(), u.saturated.val() as u64],
            |_, _| {},
        )
        .unwrap_or_else(|e| panic!("membrane {bits} bits: {e:#}"));
        let saturated = trace.cycles.iter().filter(|c| c.outputs[1] == 1).count();
        assert!(
            saturated > 10 && saturated < 290,
            "{bits} bits: {saturated} saturated"
        );
    }
}

#[test]
fn fire_step_verilog_agrees() {
    for bits in [8, 23, 32] {
        let range = SignedRange::of_bits(bits);
        let inputs = [
            Port::new("membrane", 32),
            Port::new("threshold", 32),
            Port::new("reset", 32),
        ];
        let outputs = [
            Port::new("spike", 1),
            Port::new("next_membrane", 32),
            Port::new("saturated", 1),
        ];
        let mut vectors = edgy_vectors(range, 3, 300, 100 + bits as u64);
        for v in &mut vectors {
            for x in v.iter_mut() {
                *x = (from_bits32((*x).into()).clamp(range.min, range.max)) as u32 as u64;
            }
        }
        let trace = cross_check(
            &mut FireStep::new(range),
            &inputs,
            &outputs,
            &vectors,
            |u, v| {
                u.membrane.next = v[0].into();
                u.threshold.next = v[1].into();
                u.reset.next = v[2].into();
            },
            |u| {
                vec![
                    u.spike.val() as u64,
                    u.next_membrane.val().into(),
                    u.saturated.val() as u64,
                ]
            },
            |_, _| {},
        )
        .unwrap_or_else(|e| panic!("membrane {bits} bits: {e:#}"));
        let spikes = trace.cycles.iter().filter(|c| c.outputs[0] == 1).count();
        assert!(spikes > 30 && spikes < 270, "{bits} bits: {spikes} spikes");
    }
}

#[test]
fn bram_verilog_agrees() {
    use fs_hdl::bram::Bram;
    let init: Vec<i64> = (0..300).map(|v| (v * 37 % 511) - 255).collect();
    let inputs = [
        Port::new("read_address", 16),
        Port::new("write_enable", 1),
        Port::new("write_address", 16),
        Port::new("write_data", 16),
    ];
    let outputs = [Port::new("read_data", 16)];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let vectors: Vec<Vec<u64>> = (0..600)
        .map(|_| {
            // Mostly in range, sometimes past the end; same-address read and write often.
            let read = rng.gen_range(0..320u64);
            let write = if rng.gen_bool(0.3) {
                read
            } else {
                rng.gen_range(0..320)
            };
            vec![
                read,
                rng.gen_bool(0.4) as u64,
                write,
                rng.r#gen::<u16>() as u64,
            ]
        })
        .collect();
    let trace = cross_check(
        &mut Bram::<16>::new(9, &init),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.read_address.next = v[0].into();
            u.write_enable.next = v[1] == 1;
            u.write_address.next = v[2].into();
            u.write_data.next = v[3].into();
        },
        |u| vec![u.read_data.val().into()],
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    // A plain model of the same RAM: 9-bit words, old word on read-during-write.
    let mut mem: Vec<i64> = init.clone();
    let mut word = 0i64;
    for c in &trace.cycles {
        assert_eq!(c.outputs[0], word as u16 as u64);
        let (read, we, write, data) = (
            c.inputs[0] as usize,
            c.inputs[1],
            c.inputs[2] as usize,
            c.inputs[3],
        );
        word = mem.get(read).copied().unwrap_or(0);
        if we == 1 && write < mem.len() {
            mem[write] = ((data as i64) << 55) >> 55;
        }
    }
}

#[test]
fn lane_verilog_agrees() {
    use fs_hdl::lane::Lane;
    let range = SignedRange::of_bits(14);
    let groups = 3u64;
    let weights: Vec<i64> = (0..40).map(|i| (i * 53 % 255) - 127).collect();
    let init: Vec<i64> = vec![range.max - 3, range.min + 2, 100];
    let inputs = [
        Port::new("accumulate_bank", 1),
        Port::new("acc_enable", 1),
        Port::new("weight_address", 16),
        Port::new("acc_group", 16),
        Port::new("spike_shift", 5),
        Port::new("fire_enable", 1),
        Port::new("fire_group", 16),
        Port::new("threshold", 32),
        Port::new("reset", 32),
        Port::new("fire_last", 1),
        Port::new("weight_write_enable", 1),
        Port::new("weight_write_address", 16),
        Port::new("weight_write_data", 16),
    ];
    let outputs = [
        Port::new("spike_valid", 1),
        Port::new("spike", 1),
        Port::new("membrane", 32),
        Port::new("acc_saturated", 1),
        Port::new("fire_saturated", 1),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let edges = edgy_vectors(range, 2, 2000, 12);
    let vectors: Vec<Vec<u64>> = edges
        .iter()
        .enumerate()
        .map(|(c, e)| {
            vec![
                ((c / 97) % 2) as u64,
                rng.gen_bool(0.7) as u64,
                rng.gen_range(0..40),
                rng.gen_range(0..groups),
                rng.gen_range(0..12),
                rng.gen_bool(0.7) as u64,
                rng.gen_range(0..groups),
                e[0],
                e[1],
                rng.gen_bool(0.2) as u64,
                rng.gen_bool(0.05) as u64,
                rng.gen_range(0..40),
                rng.r#gen::<u8>() as u64,
            ]
        })
        .collect();
    let trace = cross_check(
        &mut Lane::new(range, 8, &weights, &init),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.accumulate_bank.next = v[0] == 1;
            u.acc_enable.next = v[1] == 1;
            u.weight_address.next = v[2].into();
            u.acc_group.next = v[3].into();
            u.spike_shift.next = v[4].into();
            u.fire_enable.next = v[5] == 1;
            u.fire_group.next = v[6].into();
            u.threshold.next = v[7].into();
            u.reset.next = v[8].into();
            u.fire_last.next = v[9] == 1;
            u.weight_write_enable.next = v[10] == 1;
            u.weight_write_address.next = v[11].into();
            u.weight_write_data.next = v[12].into();
        },
        |u| {
            vec![
                u.spike_valid.val() as u64,
                u.spike.val() as u64,
                u.membrane.val().into(),
                u.acc_saturated.val() as u64,
                u.fire_saturated.val() as u64,
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let count = |port: usize| trace.cycles.iter().filter(|c| c.outputs[port] == 1).count();
    assert!(
        count(1) > 100 && count(3) > 20 && count(4) > 20,
        "{} spikes, {} + {} saturations",
        count(1),
        count(3),
        count(4)
    );
}

#[test]
fn dense_layer_verilog_agrees() {
    use fs_hdl::dense_layer::DenseLayer;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = fs_model::modelfile::load(&root.join("models/digits-mlp.fsnn")).unwrap();
    let inputs = [
        Port::new("event_valid", 1),
        Port::new("event_index", 16),
        Port::new("event_step", 5),
        Port::new("event_last", 1),
        Port::new("spike_ready", 1),
    ];
    let outputs = [
        Port::new("event_ready", 1),
        Port::new("spike_valid", 1),
        Port::new("spike_index", 16),
        Port::new("spike_step", 5),
        Port::new("spike_value", 32),
        Port::new("spike_last", 1),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let vectors: Vec<Vec<u64>> = (0..3000)
        .map(|_| {
            vec![
                rng.gen_bool(0.8) as u64,
                rng.gen_range(0..64),
                rng.gen_range(0..5),
                rng.gen_bool(0.03) as u64,
                rng.gen_bool(0.7) as u64,
            ]
        })
        .collect();
    let m = model.format.membrane_range();
    let w = model.format.weight_bits as usize;
    let apply = |u: &mut DenseLayer, v: &[u64]| {
        u.event_valid.next = v[0] == 1;
        u.event_index.next = v[1].into();
        u.event_step.next = v[2].into();
        u.event_last.next = v[3] == 1;
        u.spike_ready.next = v[4] == 1;
    };
    let sample = |u: &DenseLayer| {
        vec![
            u.event_ready.val() as u64,
            u.spike_valid.val() as u64,
            u.spike_index.val().into(),
            u.spike_step.val().into(),
            u.spike_value.val().into(),
            u.spike_last.val() as u64,
        ]
    };
    let hidden_values = model.layers[0].rom.as_ref().unwrap().d.clone();
    let layers = [
        (
            DenseLayer::new(&model.layers[0], m, w, &model.input().spike_values(), 4).unwrap(),
            "hidden",
        ),
        (
            DenseLayer::new(&model.layers[1], m, w, &hidden_values, 3).unwrap(),
            "output",
        ),
    ];
    for (mut layer, name) in layers {
        let trace = cross_check(
            &mut layer,
            &inputs,
            &outputs,
            &vectors,
            apply,
            sample,
            |u, level| u.clock.next = level.into(),
        )
        .unwrap_or_else(|e| panic!("{name} layer: {e:#}"));
        let emitted = trace
            .cycles
            .iter()
            .filter(|c| c.outputs[1] == 1 && c.inputs[4] == 1)
            .count();
        let images = trace
            .cycles
            .iter()
            .filter(|c| c.outputs[5] == 1 && c.inputs[4] == 1)
            .count();
        assert!(
            emitted > 100 && images > 5,
            "{name}: {emitted} events, {images} images"
        );
    }
}
