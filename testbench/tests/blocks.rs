//! Each RTL block's generated Verilog against its RustHDL simulation, on vectors at the edges
//! of the fixed-point format (the blocks' own tests check RustHDL against the golden model).

use fs_hdl::core::datapath::Datapath;
use fs_hdl::core::neuron_alu::NeuronAlu;
use fs_model::fixed::SignedRange;
use fs_testbench::{Port, cross_check};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Datapath patterns of values mostly at and around the edges of `range`.
fn edgy_vectors(
    datapath: Datapath,
    range: SignedRange,
    ports: usize,
    cycles: usize,
    seed: u64,
) -> Vec<Vec<u64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut value = move || -> u64 {
        let v: i64 = match rng.gen_range(0..7) {
            0 => range.min,
            1 => range.max,
            2 => rng.gen_range(-2..=2),
            3 => range.max - rng.gen_range(0..4),
            4 => range.min + rng.gen_range(0..4),
            _ => rng.gen_range(range.min..=range.max),
        };
        datapath.pattern(v).to_u64()
    };
    (0..cycles)
        .map(|_| (0..ports).map(|_| value()).collect())
        .collect()
}

#[test]
fn neuron_alu_verilog_agrees() {
    for (bits, product_bits) in [(8, 12), (17, 16), (23, 16), (31, 24)] {
        let datapath = Datapath::new(bits, product_bits).unwrap();
        let m = datapath.membrane;
        let inputs = [
            Port::new("membrane", 32),
            Port::new("addend", 32),
            Port::new("threshold", 32),
        ];
        let outputs = [
            Port::new("sum", 32),
            Port::new("saturated", 1),
            Port::new("spike", 1),
        ];
        let membranes = edgy_vectors(datapath, m, 2, 400, bits as u64);
        let addends = edgy_vectors(
            datapath,
            SignedRange::of_bits(bits.max(product_bits)),
            1,
            400,
            100 + bits as u64,
        );
        let vectors: Vec<Vec<u64>> = membranes
            .iter()
            .zip(&addends)
            .map(|(m, a)| vec![m[0], a[0], m[1]])
            .collect();
        let trace = cross_check(
            &mut NeuronAlu::new(datapath),
            &inputs,
            &outputs,
            &vectors,
            |u, v| {
                u.membrane.next = v[0].into();
                u.addend.next = v[1].into();
                u.threshold.next = v[2].into();
            },
            |u| {
                vec![
                    u.sum.val().into(),
                    u.saturated.val() as u64,
                    u.spike.val() as u64,
                ]
            },
            |_, _| {},
        )
        .unwrap_or_else(|e| panic!("membrane {bits} bits: {e:#}"));
        let count = |port: usize| trace.cycles.iter().filter(|c| c.outputs[port] == 1).count();
        assert!(
            (20..380).contains(&count(1)) && (40..360).contains(&count(2)),
            "{bits} bits: {} saturated, {} spikes",
            count(1),
            count(2)
        );
    }
}

#[test]
fn spike_fifo_verilog_agrees() {
    use fs_hdl::core::spike_fifo::SpikeFifo;
    let inputs = [
        Port::new("in_valid", 1),
        Port::new("in_index", 16),
        Port::new("in_step", 5),
        Port::new("in_value", 32),
        Port::new("in_last", 1),
        Port::new("out_ready", 1),
    ];
    let outputs = [
        Port::new("in_ready", 1),
        Port::new("out_valid", 1),
        Port::new("out_index", 16),
        Port::new("out_step", 5),
        Port::new("out_value", 32),
        Port::new("out_last", 1),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let vectors: Vec<Vec<u64>> = (0..1500)
        .map(|c| {
            // Phases of filling and of draining, so the FIFO is full and empty at times.
            let fill = (c / 100) % 2 == 0;
            vec![
                rng.gen_bool(if fill { 0.9 } else { 0.3 }) as u64,
                rng.r#gen::<u16>() as u64,
                rng.gen_range(0..32),
                rng.r#gen::<u32>() as u64,
                rng.gen_bool(0.1) as u64,
                rng.gen_bool(if fill { 0.3 } else { 0.9 }) as u64,
            ]
        })
        .collect();
    let trace = cross_check(
        &mut SpikeFifo::new(5),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.in_valid.next = v[0] == 1;
            u.in_index.next = v[1].into();
            u.in_step.next = v[2].into();
            u.in_value.next = v[3].into();
            u.in_last.next = v[4] == 1;
            u.out_ready.next = v[5] == 1;
        },
        |u| {
            vec![
                u.in_ready.val() as u64,
                u.out_valid.val() as u64,
                u.out_index.val().into(),
                u.out_step.val().into(),
                u.out_value.val().into(),
                u.out_last.val() as u64,
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let full = trace.cycles.iter().filter(|c| c.outputs[0] == 0).count();
    let empty = trace.cycles.iter().filter(|c| c.outputs[1] == 0).count();
    assert!(full > 50 && empty > 50, "full {full} cycles, empty {empty}");
}

#[test]
fn bram_verilog_agrees() {
    use fs_hdl::core::bram::Bram;
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
    // A plain model of the same RAM: 9-bit words, 512 of them (the depth rounded up to a
    // power of two), old word on read-during-write.
    let mut mem: Vec<i64> = init.clone();
    mem.resize(512, 0);
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
    for multiply in [false, true] {
        lane_agrees(multiply);
    }
}

/// A shift lane or a multiplier lane, on random operations with edgy values.
fn lane_agrees(multiply: bool) {
    use fs_hdl::core::lane::Lane;
    let datapath = Datapath::new(14, 24).unwrap();
    let range = datapath.membrane;
    let weights: Vec<i64> = (0..40).map(|i| (i * 53 % 255) - 127).collect();
    let init: Vec<i64> = vec![range.max - 3, range.min + 2, 100];
    let inputs = [
        Port::new("weight_address", 16),
        Port::new("spike_shift", 5),
        Port::new("spike_value", 16),
        Port::new("state_address", 16),
        Port::new("use_product", 1),
        Port::new("addend", 32),
        Port::new("threshold", 32),
        Port::new("write_enable", 1),
        Port::new("write_on_spike", 1),
        Port::new("write_address", 16),
        Port::new("weight_write_enable", 1),
        Port::new("weight_write_address", 16),
        Port::new("weight_write_data", 32),
        Port::new("state_write_enable", 1),
    ];
    let outputs = [
        Port::new("spike", 1),
        Port::new("membrane", 32),
        Port::new("saturated", 1),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let edges = edgy_vectors(datapath, range, 2, 2000, 12);
    let vectors: Vec<Vec<u64>> = edges
        .iter()
        .map(|e| {
            vec![
                rng.gen_range(0..40),
                rng.gen_range(0..8),
                match rng.gen_range(0..4) {
                    0 => 0x8000,
                    1 => 0x7fff,
                    _ => rng.r#gen::<u16>() as u64,
                },
                rng.gen_range(0..9),
                rng.gen_bool(0.6) as u64,
                e[0],
                e[1],
                rng.gen_bool(0.5) as u64,
                rng.gen_bool(0.5) as u64,
                rng.gen_range(0..9),
                rng.gen_bool(0.05) as u64,
                rng.gen_range(0..40),
                rng.r#gen::<u8>() as u64,
                rng.gen_bool(0.05) as u64,
            ]
        })
        .collect();
    let trace = cross_check(
        &mut Lane::new(datapath, 8, &weights, &init, multiply),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.weight_address.next = v[0].into();
            u.spike_shift.next = v[1].into();
            u.spike_value.next = v[2].into();
            u.state_address.next = v[3].into();
            u.use_product.next = v[4] == 1;
            u.addend.next = v[5].into();
            u.threshold.next = v[6].into();
            u.write_enable.next = v[7] == 1;
            u.write_on_spike.next = v[8] == 1;
            u.write_address.next = v[9].into();
            u.weight_write_enable.next = v[10] == 1;
            u.weight_write_address.next = v[11].into();
            u.weight_write_data.next = v[12].into();
            u.state_write_enable.next = v[13] == 1;
        },
        |u| {
            vec![
                u.spike.val() as u64,
                u.membrane.val().into(),
                u.saturated.val() as u64,
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("multiply {multiply}: {e:#}"));
    let count = |port: usize| trace.cycles.iter().filter(|c| c.outputs[port] == 1).count();
    assert!(
        count(0) > 100 && count(2) > 20,
        "multiply {multiply}: {} spikes, {} saturations",
        count(0),
        count(2)
    );
}

#[test]
fn dense_layer_verilog_agrees() {
    use fs_hdl::core::dense_layer::DenseLayer;
    let model = fs_testkit::shipped::model("digits-mlp.fsnn");
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
    let m = Datapath::of_model(&model).unwrap();
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
        (
            DenseLayer::new(&model.layers[1], m, w, &hidden_values, 10).unwrap(),
            "output, one group",
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

/// The multiplier with its registers: the plain Verilog that simulators get, and the ECP5
/// DSP instance that synthesis gets (`SYNTHESIS` defined, the DSP block modelled), both
/// against RustHDL on operands at the edges; and yosys puts the instance's registers nowhere
/// but in the DSP block, the fabric operand registers (32 flip-flops) in front of it.
#[test]
fn signed_product_verilog_agrees_with_and_without_the_dsp_instance() {
    use fs_hdl::core::signed_product::SignedProduct;
    let inputs = [Port::new("a", 16), Port::new("b", 16)];
    let outputs = [Port::new("product", 32)];
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let edges = [0u64, 1, 0x7fff, 0x8000, 0xffff, 0xfffe, 0x8001];
    let vectors: Vec<Vec<u64>> = (0..600)
        .map(|_| {
            let mut operand = || match rng.gen_range(0..3) {
                0 => edges[rng.gen_range(0..edges.len())],
                _ => rng.r#gen::<u16>() as u64,
            };
            vec![operand(), operand()]
        })
        .collect();
    let apply = |u: &mut SignedProduct, v: &[u64]| {
        u.a.next = v[0].into();
        u.b.next = v[1].into();
    };
    let sample = |u: &SignedProduct| vec![u.product.val().to_u64()];
    let clock = |u: &mut SignedProduct, level: bool| u.clock.next = level.into();
    let trace = cross_check(
        &mut SignedProduct::default(),
        &inputs,
        &outputs,
        &vectors,
        apply,
        sample,
        clock,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    // Products three cycles after their operands, signed times unsigned.
    for (k, cycle) in trace.cycles.iter().enumerate().skip(3) {
        let (a, b) = (
            vectors[k - 3][0] as u16 as i16 as i64,
            vectors[k - 3][1] as i64,
        );
        assert_eq!(cycle.outputs[0], (a * b) as u64 & 0xffff_ffff, "cycle {k}");
    }

    let mut dsp = SignedProduct::default().with_ecp5_dsp();
    fs_hdl::sim::checked(&mut dsp).unwrap();
    let verilog = rust_hdl::prelude::generate_verilog(&dsp);
    assert!(verilog.contains("MULT18X18D"), "no DSP instance");
    let synthesised = format!(
        "`define SYNTHESIS\n{verilog}\n{}",
        fs_hdl::core::signed_product::mult18x18d_model("MULT18X18D")
    );
    let seen = fs_testbench::simulate_verilog(&synthesised, &inputs, &outputs, &vectors)
        .unwrap_or_else(|e| panic!("{e:#}"));
    for (k, (cycle, seen)) in trace.cycles.iter().zip(&seen).enumerate() {
        assert_eq!(
            &cycle.outputs, seen,
            "cycle {k}: RustHDL against the DSP instance"
        );
    }

    let cells = fs_testbench::synth::cell_counts(&verilog, fs_hdl::fpga::Part::ECP5_85K).unwrap();
    assert_eq!(cells.get("MULT18X18D"), Some(&1), "{cells:?}");
    assert_eq!(fs_testbench::synth::flip_flops(&cells), 32, "{cells:?}");
}
