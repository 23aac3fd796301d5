//! The cross-check harness on small blocks: agreement on a sequential design, detection of a
//! known RustHDL simulation/Verilog disagreement, and a clear error for broken Verilog.

use fs_testbench::{Mismatch, Port, cross_check, simulate_verilog};
use rust_hdl::prelude::*;

/// Accumulates `data` when `enable` is high and counts cycles; the counter starts near 2^32 so
/// that it wraps within the test. `next_sum` is combinational, to check sampling before the edge.
#[derive(LogicBlock)]
struct Accumulator {
    pub clock: Signal<In, Clock>,
    pub enable: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub sum: Signal<Out, Bits<8>>,
    pub next_sum: Signal<Out, Bits<8>>,
    pub count: Signal<Out, Bits<32>>,
    acc: DFF<Bits<8>>,
    counter: DFFWithInit<Bits<32>>,
}

const COUNTER_START: u64 = 0xFFFF_FF00;

impl Accumulator {
    fn new() -> Self {
        Self {
            clock: Default::default(),
            enable: Default::default(),
            data: Default::default(),
            sum: Default::default(),
            next_sum: Default::default(),
            count: Default::default(),
            acc: Default::default(),
            counter: DFFWithInit::new(COUNTER_START.into()),
        }
    }
}

impl Logic for Accumulator {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc, counter);
        self.next_sum.next = self.acc.q.val();
        if self.enable.val() {
            self.next_sum.next = self.acc.q.val() + self.data.val();
        }
        self.acc.d.next = self.next_sum.val();
        self.counter.d.next = self.counter.q.val() + 1;
        self.sum.next = self.acc.q.val();
        self.count.next = self.counter.q.val();
    }
}

/// `(a + b + 1) >> 1`: RustHDL drops the carry of the 8-bit sum, Verilog keeps it.
#[derive(LogicBlock, Default)]
struct RoundedMean {
    pub clock: Signal<In, Clock>,
    pub a: Signal<In, Bits<8>>,
    pub b: Signal<In, Bits<8>>,
    pub mean: Signal<Out, Bits<8>>,
}

impl Logic for RoundedMean {
    #[hdl_gen]
    fn update(&mut self) {
        self.mean.next = (self.a.val() + self.b.val() + 1) >> 1;
    }
}

/// Reproducible pseudo-random vectors (splitmix64), full 64-bit values so that masking is tested.
fn random_vectors(inputs: &[Port], cycles: usize, seed: u64) -> Vec<Vec<u64>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..cycles)
        .map(|_| inputs.iter().map(|_| next()).collect())
        .collect()
}

#[test]
fn sequential_block_agrees_with_its_verilog() {
    let inputs = [Port::new("enable", 1), Port::new("data", 8)];
    let outputs = [
        Port::new("sum", 8),
        Port::new("next_sum", 8),
        Port::new("count", 32),
    ];
    let vectors = random_vectors(&inputs, 400, 1);
    let trace = cross_check(
        &mut Accumulator::new(),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.enable.next = v[0] != 0;
            u.data.next = v[1].into();
        },
        |u| {
            vec![
                u.sum.val().into(),
                u.next_sum.val().into(),
                u.count.val().into(),
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap();

    // Both sides agreeing is not enough: check the trace against a plain model too, so that a
    // sampling error shared by both sides cannot pass.
    let (mut sum, mut count) = (0u8, COUNTER_START as u32);
    for cycle in &trace.cycles {
        let (enable, data) = (cycle.inputs[0], cycle.inputs[1]);
        assert!(enable <= 1 && data <= 0xff, "inputs not masked: {cycle:?}");
        let next = if enable == 1 {
            sum.wrapping_add(data as u8)
        } else {
            sum
        };
        assert_eq!(cycle.outputs, [sum as u64, next as u64, count as u64]);
        (sum, count) = (next, count.wrapping_add(1));
    }
    assert!(count < COUNTER_START as u32, "the counter never wrapped");
}

#[test]
fn known_carry_disagreement_is_reported() {
    let inputs = [Port::new("a", 8), Port::new("b", 8)];
    let outputs = [Port::new("mean", 8)];
    let vectors = random_vectors(&inputs, 200, 2);
    let err = cross_check(
        &mut RoundedMean::default(),
        &inputs,
        &outputs,
        &vectors,
        |u, v| {
            u.a.next = v[0].into();
            u.b.next = v[1].into();
        },
        |u| vec![u.mean.val().into()],
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_err();

    // The first cycle whose sum carries out of 8 bits is the first that differs.
    let masked = |v: &Vec<u64>| (v[0] & 0xff, v[1] & 0xff);
    let cycle = vectors
        .iter()
        .position(|v| masked(v).0 + masked(v).1 + 1 > 0xff)
        .unwrap();
    let (a, b) = masked(&vectors[cycle]);
    let mismatch = err.downcast_ref::<Mismatch>().expect("a Mismatch error");
    assert_eq!(
        mismatch,
        &Mismatch {
            cycle,
            port: "mean".into(),
            rusthdl: ((a + b + 1) & 0xff) >> 1,
            verilog: (a + b + 1) >> 1,
            inputs: vec![("a".into(), a), ("b".into(), b)],
        }
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cycle {cycle}: output `mean`")),
        "{message}"
    );
}

#[test]
fn verilog_that_does_not_compile_is_a_clear_error() {
    let broken = "module top(input clock, output [7:0] y);\n  assign y = ;\nendmodule\n";
    let err = simulate_verilog(broken, &[], &[Port::new("y", 8)], &[vec![]]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("compiling the Verilog failed"),
        "{message}"
    );
    assert!(message.contains("syntax error"), "{message}");
}

#[test]
fn undefined_verilog_output_is_an_error_with_the_compiler_warnings() {
    // A combinational block that reads no signal never runs in iverilog: its output stays x.
    let constant =
        "module top(input clock, output reg [7:0] y);\n  always @(*) y = 8'h5;\nendmodule\n";
    let err = simulate_verilog(constant, &[], &[Port::new("y", 8)], &[vec![]]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cycle 0: Verilog output `y` is undefined (xx)"),
        "{message}"
    );
    assert!(message.contains("never trigger"), "{message}");
}
