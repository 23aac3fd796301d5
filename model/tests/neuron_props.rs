//! The fixed-point FS-neuron against its float definition, with the error bounds stated here.
//!
//! - ReLU (binary code, power-of-two thresholds `q = 2^m s`): for an input quantised by
//!   truncation, `v = floor(x / s)`, the integer neuron's output equals the float neuron's
//!   exactly (`floor(floor(x/s) / 2^m) = floor(x / q)`); quantised by rounding it is within one `q`.
//! - Any activation: the integer neuron equals the float neuron whose parameters are the ROM's
//!   values times their units, spike for spike, on inputs that are whole accumulator units; and
//!   against the original float parameters it spikes identically whenever the float membrane
//!   stays more than `(t + 1) s` away from each threshold it meets (the worst drift of the
//!   rounded `T` and `h`), with the output then within `K u / 2` (rounded `d`).

use fs_model::activation::{Activation, published_sigmoid_k12, published_silu_k16};
use fs_model::convert::quantise_rom;
use fs_model::fixed::SignedRange;
use fs_model::neuron::{FsParams, FsRom, fires};
use proptest::prelude::*;

const MEMBRANE: u32 = 32;

fn relu_rom(k: usize, m: i32, s: f64) -> (FsParams, FsRom, f64) {
    let q = s * 2f64.powi(m);
    let float = FsParams::relu(k, 1.0).scaled(q * (1u64 << k) as f64);
    let rom = quantise_rom(&float, s, q);
    (float, rom, q)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn relu_fixed_equals_float_on_truncated_inputs(
        k in 1usize..=16, m in 0i32..=8, s in 1e-6f64..1e-1, x in -0.5f64..1.5,
    ) {
        let (float, rom, q) = relu_rom(k, m, s);
        let alpha = q * (1u64 << k) as f64;
        let x = x * alpha;
        let v = (x / s).floor() as i64;
        let mut sat = 0;
        let mask = rom.fire(v, SignedRange::of_bits(MEMBRANE), &mut sat);
        let code = rom.output_of(mask);
        // The closed form: the K-bit code of floor(x / q), saturated.
        prop_assert_eq!(code, (v >> m).clamp(0, (1 << k) - 1));
        let (y, _) = float.fire(x);
        prop_assert!((code as f64 * q - y).abs() <= 1e-9 * alpha.max(1.0), "y = {y}, code = {code}");
        prop_assert_eq!(sat, 0);
        // Rounded input: within one q.
        let v_round = (x / s).round() as i64;
        let code_round = rom.output_of(rom.fire(v_round, SignedRange::of_bits(MEMBRANE), &mut sat));
        prop_assert!((code_round - code).abs() <= 1);
    }

    #[test]
    fn imp_offset_turns_truncation_into_rounding(k in 1usize..=12, m in 1i32..=8, v in -100i64..5000) {
        let (_, rom, _) = relu_rom(k, m, 1.0);
        let mut sat = 0;
        let imp = 1i64 << (m - 1);
        let code = rom.output_of(rom.fire(v + imp, SignedRange::of_bits(MEMBRANE), &mut sat));
        let rounded = ((v as f64) / (1i64 << m) as f64).round() as i64;
        prop_assert_eq!(code, rounded.clamp(0, (1 << k) - 1));
    }

    #[test]
    fn integer_neuron_equals_its_dequantised_float_neuron(
        which in 0usize..2, s in 1e-4f64..0.05, x in -12.0f64..14.0,
    ) {
        let params = if which == 0 { published_silu_k16() } else { published_sigmoid_k12() };
        let u = params.d.iter().fold(0.0f64, |a, d| a.max(d.abs())) / 16383.0;
        let rom = quantise_rom(&params, s, u);
        let dequantised = FsParams {
            t: rom.t.iter().map(|&t| t as f64).collect(),
            h: rom.h.iter().map(|&h| h as f64).collect(),
            d: rom.d.iter().map(|&d| d as f64).collect(),
        };
        let v = (x / s).round() as i64;
        let mut sat = 0;
        let mask = rom.fire(v, SignedRange::of_bits(MEMBRANE), &mut sat);
        // In whole units the float neuron computes exactly (integers below 2^53).
        let (y, float_mask) = dequantised.fire(v as f64);
        prop_assert_eq!(mask, float_mask);
        prop_assert_eq!(rom.output_of(mask) as f64, y);
    }

    #[test]
    fn integer_neuron_tracks_the_original_float_neuron(
        which in 0usize..2, s in 1e-4f64..0.01, x in -12.0f64..14.0,
    ) {
        let (params, act) = if which == 0 {
            (published_silu_k16(), Activation::Silu)
        } else {
            (published_sigmoid_k12(), Activation::Sigmoid)
        };
        let u = params.d.iter().fold(0.0f64, |a, d| a.max(d.abs())) / 16383.0;
        let rom = quantise_rom(&params, s, u);
        // The float membrane's distance to each threshold it meets.
        let mut v = x;
        let mut clear = true;
        for t in 0..params.k() {
            clear &= (v - params.t[t]).abs() > (t as f64 + 2.0) * s;
            if fires(v, params.t[t]) {
                v -= params.h[t];
            }
        }
        prop_assume!(clear);
        let mut sat = 0;
        let vi = (x / s).round() as i64;
        let mask = rom.fire(vi, SignedRange::of_bits(MEMBRANE), &mut sat);
        let (y, float_mask) = params.fire(x);
        prop_assert_eq!(mask, float_mask, "{} at x = {}", act, x);
        let y_fixed = rom.output_of(mask) as f64 * u;
        prop_assert!((y_fixed - y).abs() <= params.k() as f64 * u / 2.0 + 1e-12);
    }
}
