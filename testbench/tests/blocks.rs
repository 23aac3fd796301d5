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
