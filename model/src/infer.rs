//! Golden inference, three ways: the float ANN, the FS-SNN in float, and the FS-SNN in the
//! integer arithmetic of [`crate::fixed`] — bit for bit what the hardware computes.
//!
//! ## The integer schedule (what the RTL must match)
//! For each layer, the accumulator of output `j` starts at `B_j + IMP`. The sending layer
//! (the input encoding first) fires step `t = 1..=K`; within a step, its neurons spike in
//! ascending index order; every spike `(i, t)` adds `W_ji * D(t)` to every accumulator `j`,
//! saturating to `membrane_bits`. Then each hidden neuron fires its `K` steps from `v(1) = acc`
//! ([`FsRom::fire`]). The output layer's accumulators are the logits; the class is the first
//! index of the largest logit.
//!
//! When a layer's worst case (`|B + IMP| + sum_i |W_ji| * max_i |sum_t D(t) z_i(t)|`) fits the
//! membrane, no partial sum can saturate and the order of additions cannot matter, so the
//! engine adds each sender's whole output value `W_ji * y_i` at once (much faster, and equal
//! by associativity of exact integer addition). Otherwise it follows the schedule above event
//! by event.

use crate::activation::Activation;
use crate::fixed::SignedRange;
use crate::network::{Ann, Model};
use crate::network::{InputEncoding, accumulation_bounds};
use crate::neuron::{FsRom, output_value};
use ndarray::{Array1, Array2};

/// Index of the first largest value: the one tie rule used for every class decision.
pub fn argmax<T: PartialOrd + Copy>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Float forward pass of the ANN on a batch of images (`pixels` holds whole images one after
/// another): returns the logits, one row per image.
pub fn ann_forward_batch(ann: &Ann, pixels: &[u8]) -> Array2<f32> {
    let size = ann.input.size();
    let scale = 1.0 / ann.input.max_value as f32;
    let mut x = Array2::from_shape_fn((pixels.len() / size, size), |(r, c)| {
        pixels[r * size + c] as f32 * scale
    });
    for layer in &ann.layers {
        let mut z = x.dot(&layer.weight.t()) + &layer.bias;
        if layer.activation != Activation::Identity {
            z.mapv_inplace(|v| layer.activation.apply(v as f64) as f32);
        }
        x = z;
    }
    x
}

/// Float forward pass of the ANN on one image: returns the logits.
pub fn ann_logits(ann: &Ann, pixels: &[u8]) -> Vec<f32> {
    let scale = 1.0 / ann.input.max_value as f32;
    let mut x: Array1<f32> = pixels.iter().map(|&p| p as f32 * scale).collect();
    for layer in &ann.layers {
        let mut z = layer.weight.dot(&x) + &layer.bias;
        if layer.activation != Activation::Identity {
            z.mapv_inplace(|v| layer.activation.apply(v as f64) as f32);
        }
        x = z;
    }
    x.to_vec()
}

/// The FS-SNN with float weights and float neuron parameters: the ANN with each activation
/// replaced by its FS-neuron (and the input by its exact binary code). Returns the logits.
pub fn fs_float_logits(model: &Model, pixels: &[u8]) -> Vec<f64> {
    let input = model.input();
    let mut x: Vec<f64> = pixels.iter().map(|&p| input.value(p as u32)).collect();
    for (fs, ann) in model.layers.iter().zip(&model.ann.layers) {
        let mut z: Vec<f64> = ann.bias.iter().map(|&b| b as f64 + fs.imp_float).collect();
        for (j, row) in ann.weight.outer_iter().enumerate() {
            z[j] += row.iter().zip(&x).map(|(&w, &a)| w as f64 * a).sum::<f64>();
        }
        if let Some(neuron) = &fs.neuron {
            z.iter_mut().for_each(|v| *v = neuron.fire(*v).0);
        }
        x = z;
    }
    x
}

/// What one image did in the integer FS-SNN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixedRun {
    /// Spike masks of every spiking stage, input encoding first: `spikes[s][i]` has bit `t - 1`
    /// set when neuron `i` of stage `s` spiked at step `t`.
    pub spikes: Vec<Vec<u32>>,
    /// The output layer's accumulators.
    pub logits: Vec<i64>,
    /// Saturations per layer (accumulation and fire phase).
    pub saturations: Vec<u64>,
}

impl FixedRun {
    pub fn class(&self) -> usize {
        argmax(&self.logits)
    }

    /// Spike count of each stage, input encoding first.
    pub fn spike_counts(&self) -> Vec<u64> {
        self.spikes
            .iter()
            .map(|s| s.iter().map(|m| m.count_ones() as u64).sum())
            .collect()
    }
}

/// One layer prepared for fast integer inference.
struct EngineLayer {
    /// Weights transposed to `[inputs][outputs]` so one sender's fan-out is contiguous.
    weight_t: Vec<i16>,
    outputs: usize,
    /// `B_j + IMP`.
    init: Vec<i64>,
    rom: Option<FsRom>,
    /// True when no partial sum can leave the membrane range (see the module doc).
    exact: bool,
}

/// The integer FS-SNN, ready to run images. Build once per model.
pub struct FixedEngine {
    layers: Vec<EngineLayer>,
    /// `D(t)` of the input encoding.
    input_values: Vec<i64>,
    input: InputEncoding,
    membrane: SignedRange,
    /// The fan-out kernel, chosen for this CPU once.
    axpy: Axpy,
}

/// `acc[j] += row[j] * y`: one sender's contribution to every receiver.
type Axpy = fn(&mut [i32], &[i16], i32);

#[inline(always)]
fn axpy_portable(acc: &mut [i32], row: &[i16], y: i32) {
    for (a, &w) in acc.iter_mut().zip(row) {
        *a += w as i32 * y;
    }
}

/// The same loop compiled for AVX2, where 32-bit multiplies vectorise (baseline x86-64 has
/// no packed 32-bit multiply and the loop runs 2-3x slower).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn axpy_avx2(acc: &mut [i32], row: &[i16], y: i32) {
    axpy_portable(acc, row, y)
}

fn select_axpy() -> Axpy {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: only called when the CPU has AVX2, checked just above.
        return |acc, row, y| unsafe { axpy_avx2(acc, row, y) };
    }
    axpy_portable
}

impl FixedEngine {
    pub fn new(model: &Model) -> Self {
        let membrane = model.format.membrane_range();
        let bounds = accumulation_bounds(model.input(), &model.layers);
        let layers = model
            .layers
            .iter()
            .zip(&bounds)
            .map(|(l, bounds)| {
                let (outputs, inputs) = l.weight.dim();
                let mut weight_t = vec![0i16; inputs * outputs];
                for ((j, i), &w) in l.weight.indexed_iter() {
                    weight_t[i * outputs + j] = w;
                }
                let init: Vec<i64> = l.bias.iter().map(|&b| b as i64 + l.imp as i64).collect();
                // The range is symmetric but for its minimum, so `max` bounds both signs.
                let exact = bounds.iter().all(|&b| b <= membrane.max as u64);
                EngineLayer {
                    weight_t,
                    outputs,
                    init,
                    rom: l.rom.clone(),
                    exact,
                }
            })
            .collect();
        FixedEngine {
            layers,
            input_values: model.input().spike_values(),
            input: *model.input(),
            membrane,
            axpy: select_axpy(),
        }
    }

    /// Runs one image (pixels must already be checked against the input encoding).
    pub fn run(&self, pixels: &[u8]) -> FixedRun {
        let mut run = FixedRun::default();
        let mut masks: Vec<u32> = pixels.iter().map(|&p| self.input.mask(p as u32)).collect();
        let mut values: &[i64] = &self.input_values;
        for layer in &self.layers {
            let mut saturations = 0;
            let acc = if layer.exact {
                self.accumulate_exact(layer, &masks, values)
            } else {
                self.accumulate_events(layer, &masks, values, &mut saturations)
            };
            run.spikes.push(masks);
            match &layer.rom {
                Some(rom) => {
                    masks = acc
                        .iter()
                        .map(|&v| rom.fire(v, self.membrane, &mut saturations))
                        .collect();
                    values = &rom.d;
                }
                None => {
                    run.logits = acc;
                    masks = Vec::new();
                }
            }
            run.saturations.push(saturations);
        }
        run
    }

    /// Adds each sender's whole output value at once: valid when nothing can saturate.
    fn accumulate_exact(&self, layer: &EngineLayer, masks: &[u32], values: &[i64]) -> Vec<i64> {
        // The membrane is at most 32 bits, and `exact` proved every partial sum fits it.
        let mut acc: Vec<i32> = layer.init.iter().map(|&b| b as i32).collect();
        for (i, &mask) in masks.iter().enumerate() {
            if mask == 0 {
                continue;
            }
            let y = output_value(mask, values) as i32;
            let row = &layer.weight_t[i * layer.outputs..(i + 1) * layer.outputs];
            (self.axpy)(&mut acc, row, y);
        }
        acc.into_iter().map(i64::from).collect()
    }

    /// The hardware's event order, saturating after every addition.
    fn accumulate_events(
        &self,
        layer: &EngineLayer,
        masks: &[u32],
        values: &[i64],
        saturations: &mut u64,
    ) -> Vec<i64> {
        let mut acc = layer.init.clone();
        for (step, &d) in values.iter().enumerate() {
            for (i, &mask) in masks.iter().enumerate() {
                if mask >> step & 1 == 0 {
                    continue;
                }
                let row = &layer.weight_t[i * layer.outputs..(i + 1) * layer.outputs];
                for (a, &w) in acc.iter_mut().zip(row) {
                    *a = self.membrane.saturate(*a + w as i64 * d, saturations);
                }
            }
        }
        acc
    }

    /// The event-order path regardless of the saturation bound (for tests of the fast path).
    #[doc(hidden)]
    pub fn run_event_order(&self, pixels: &[u8]) -> FixedRun {
        let forced = FixedEngine {
            layers: self
                .layers
                .iter()
                .map(|l| EngineLayer {
                    weight_t: l.weight_t.clone(),
                    outputs: l.outputs,
                    init: l.init.clone(),
                    rom: l.rom.clone(),
                    exact: false,
                })
                .collect(),
            input_values: self.input_values.clone(),
            input: self.input,
            membrane: self.membrane,
            axpy: self.axpy,
        };
        forced.run(pixels)
    }
}
