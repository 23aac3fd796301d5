//! Golden inference, three ways: the float ANN, the FS-SNN in float, and the FS-SNN in the
//! integer arithmetic of [`crate::fixed`] — bit for bit what the hardware computes.
//!
//! ## The integer schedule (what the RTL must match)
//! For each layer, the accumulator of neuron `j` starts at `B_j + IMP` (`B` of its channel for
//! a convolution). The sending stage (the input encoding first) fires step `t = 1..=K`; within
//! a step, its senders spike in ascending index order; every spike `(i, t)` adds
//! `W * D(t)` to every accumulator `j` that sender `i` feeds, with the weight that connects
//! them ([`crate::geometry::fan_out`]: every neuron of a dense layer, the receptive fields of a
//! convolution), in ascending `j`, saturating to `membrane_bits`. Then each hidden neuron
//! fires its `K` steps from `v(1) = acc` ([`FsRom::fire`]). A max-pooled layer then sends, for
//! each window, the spike train of its largest value; an average-pooled layer sends its
//! neurons' spikes and the next layer takes each through its window's weight. The output
//! layer's accumulators are the logits; the class is the first index of the largest logit.
//!
//! When a layer's worst case (`|B + IMP| + sum_i |W_ji| * max_i |sum_t D(t) z_i(t)|`) fits the
//! membrane, no partial sum can saturate and the order of additions cannot matter, so the
//! engine adds each sender's whole output value `W_ji * y_i` at once (much faster, and equal
//! by associativity of exact integer addition). Otherwise it follows the schedule above event
//! by event.

use crate::activation::Activation;
use crate::fixed::SignedRange;
use crate::geometry::{FanOut, Geometry, LayerKind, PoolKind, Shape, fan_out, send_order};
use crate::network::accumulation_bounds;
use crate::network::{Ann, Model};
use crate::neuron::{FsRom, binary_code, code_mask, output_value};
use ndarray::{Array1, Array2};
use std::sync::Arc;

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
    if !is_plain(ann) {
        // Convolutions and pooling: image by image.
        let rows: Vec<Vec<f32>> = pixels.chunks(size).map(|p| ann_logits(ann, p)).collect();
        let classes = rows.first().map_or(0, Vec::len);
        return Array2::from_shape_fn((rows.len(), classes), |(r, c)| rows[r][c]);
    }
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

/// Whether every layer is dense and unpooled (the matrix-product paths).
fn is_plain(ann: &Ann) -> bool {
    ann.layers
        .iter()
        .all(|l| l.kind == LayerKind::Dense && l.pool.is_none())
}

/// Float forward pass of the ANN on one image: returns the logits.
pub fn ann_logits(ann: &Ann, pixels: &[u8]) -> Vec<f32> {
    if !is_plain(ann) {
        // The output layer is the identity and unpooled: its pre-activations are the logits.
        let logits = ann_preactivations(ann, pixels).pop().unwrap_or_default();
        return logits.into_iter().map(|v| v as f32).collect();
    }
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

/// Every layer's pre-activations (`W * x + b`, before the activation and the pooling) for one
/// image of the float ANN: what the converter normalises on.
pub fn ann_preactivations(ann: &Ann, pixels: &[u8]) -> Vec<Vec<f64>> {
    let geometry = ann.geometry().expect("a validated network");
    let mut x: Vec<f64> = pixels.iter().map(|&p| ann.input.value(p as u32)).collect();
    let mut out = Vec::with_capacity(ann.layers.len());
    for (layer, g) in ann.layers.iter().zip(&geometry) {
        let z = linear(g, &layer.weight, |j| layer.bias[g.row(j)] as f64, &x);
        let a: Vec<f64> = if layer.activation == Activation::Identity {
            z.clone()
        } else {
            z.iter().map(|&v| layer.activation.apply(v)).collect()
        };
        out.push(z);
        x = pool_values(g, a);
    }
    out
}

/// The FS-SNN with float weights and float neuron parameters: the ANN with each activation
/// replaced by its FS-neuron (and the input by its exact binary code). Returns the logits.
pub fn fs_float_logits(model: &Model, pixels: &[u8]) -> Vec<f64> {
    let input = model.input();
    let mut x: Vec<f64> = pixels.iter().map(|&p| input.value(p as u32)).collect();
    for ((fs, ann), g) in model
        .layers
        .iter()
        .zip(&model.ann.layers)
        .zip(model.geometry())
    {
        let mut z = linear(&g, &ann.weight, |j| ann.bias[g.row(j)] as f64, &x);
        for v in z.iter_mut() {
            *v += fs.imp_float;
        }
        if let Some(neuron) = &fs.neuron {
            z.iter_mut().for_each(|v| *v = neuron.fire(*v).0);
        }
        x = pool_values(&g, z);
    }
    x
}

/// A layer's pre-activations in float: `bias(j) + sum W x` over the layer's connections
/// (the ones [`Geometry::receivers`] lists, here read from each neuron's side).
pub(crate) fn linear(
    g: &Geometry,
    weight: &Array2<f32>,
    bias: impl Fn(usize) -> f64,
    x: &[f64],
) -> Vec<f64> {
    let mut z: Vec<f64> = (0..g.neurons.size()).map(bias).collect();
    match g.kind {
        LayerKind::Dense => {
            for (j, row) in weight.outer_iter().enumerate() {
                z[j] += row.iter().zip(x).map(|(&w, &a)| w as f64 * a).sum::<f64>();
            }
        }
        LayerKind::Conv2d {
            kernel,
            stride,
            padding,
        } => {
            // The forward definition (the connections of `Geometry::receivers`, read from the
            // neuron's side): z(o, oy, ox) += W[o][c][ky][kx] x(c, oy s + ky - p, ox s + kx - p).
            let (input, n) = (g.input, g.neurons);
            for o in 0..n.channels {
                let w = weight.row(o);
                for oy in 0..n.height {
                    for ox in 0..n.width {
                        let mut sum = 0.0;
                        for c in 0..input.channels {
                            for ky in 0..kernel {
                                let Some(y) = (oy * stride + ky).checked_sub(padding) else {
                                    continue;
                                };
                                if y >= input.height {
                                    continue;
                                }
                                for kx in 0..kernel {
                                    let Some(x_) = (ox * stride + kx).checked_sub(padding) else {
                                        continue;
                                    };
                                    if x_ >= input.width {
                                        continue;
                                    }
                                    sum += w[(c * kernel + ky) * kernel + kx] as f64
                                        * x[input.index(c, y, x_)];
                                }
                            }
                        }
                        z[n.index(o, oy, ox)] += sum;
                    }
                }
            }
        }
    }
    z
}

/// A layer's outputs pooled as its geometry says (the largest or the mean of each window).
pub(crate) fn pool_values(g: &Geometry, values: Vec<f64>) -> Vec<f64> {
    let Some(pool) = g.pool else {
        return values;
    };
    pool.windows(g.neurons, g.output)
        .iter()
        .map(|w| match pool.kind {
            PoolKind::Max => w
                .iter()
                .map(|&i| values[i])
                .fold(f64::NEG_INFINITY, f64::max),
            PoolKind::Avg => w.iter().map(|&i| values[i]).sum::<f64>() / w.len() as f64,
        })
        .collect()
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
    /// The bus order of every stage's spikes within a step ([`crate::geometry::send_order`];
    /// `None`: ascending), shared by every run of one engine.
    pub orders: Arc<Vec<Option<Vec<usize>>>>,
    /// The shape of every stage's map (the input's, then each hidden layer's sent map), so a
    /// neuron can be named by channel and position.
    pub shapes: Arc<Vec<Shape>>,
}

impl FixedRun {
    pub fn class(&self) -> usize {
        argmax(&self.logits)
    }

    /// Stage `s`'s spikes as bus events `(neuron, 0-based step)`, in bus order.
    pub fn bus_events(&self, s: usize) -> Vec<(u32, u32)> {
        let order = self.orders.get(s).and_then(Option::as_deref);
        bus_events(&self.spikes[s], order)
    }

    /// Neuron `i` of stage `s`, named by channel and position when the stage is a map.
    pub fn neuron_name(&self, s: usize, i: usize) -> String {
        match self.shapes.get(s) {
            Some(m) if m.height * m.width > 1 && i < m.size() => {
                let plane = m.height * m.width;
                format!(
                    "neuron {i} (channel {}, y {}, x {})",
                    i / plane,
                    i % plane / m.width,
                    i % m.width
                )
            }
            _ => format!("neuron {i}"),
        }
    }

    /// Spike count of each stage, input encoding first.
    pub fn spike_counts(&self) -> Vec<u64> {
        self.spikes
            .iter()
            .map(|s| s.iter().map(|m| m.count_ones() as u64).sum())
            .collect()
    }
}

/// Spike masks as bus events `(neuron, 0-based step)`: step-major, and within a step in
/// `order` (ascending index when `None`): the order in which every engine adds them.
pub fn bus_events(masks: &[u32], order: Option<&[usize]>) -> Vec<(u32, u32)> {
    let steps = masks
        .iter()
        .map(|m| 32 - m.leading_zeros())
        .max()
        .unwrap_or(0);
    let mut events = Vec::new();
    for t in 0..steps {
        let mut push = |i: usize| {
            if masks[i] >> t & 1 == 1 {
                events.push((i as u32, t));
            }
        };
        match order {
            Some(order) => order.iter().for_each(|&i| push(i)),
            None => (0..masks.len()).for_each(push),
        }
    }
    events
}

/// How a layer's senders reach its accumulators.
#[derive(Clone)]
enum Connection {
    /// Weights transposed to `[inputs][outputs]` so one sender's fan-out is contiguous (a
    /// dense layer fed by unpooled senders), and as they are, `[outputs][inputs]`, so one
    /// receiver's fan-in is.
    Dense {
        weight_t: Vec<i16>,
        weight: Vec<i16>,
    },
    /// Each sender's receivers and weights ([`fan_out`]): convolutions, and any layer fed by
    /// an average-pooled stage.
    Sparse(FanOut),
}

/// One layer prepared for fast integer inference.
#[derive(Clone)]
struct EngineLayer {
    connection: Connection,
    outputs: usize,
    /// The windows of the max pooling of this layer's spikes, if any.
    max_pool: Option<Vec<Vec<usize>>>,
    /// `B_j + IMP`.
    init: Vec<i64>,
    rom: Option<FsRom>,
    /// `output_value(mask, D)` of every mask of this layer's senders, when they have at most
    /// [`VALUE_TABLE_STEPS`] steps: one load per sender instead of a loop over its spikes.
    sender_values: Option<Vec<i64>>,
    /// The ROM's [`FsRom::binary_quantum`] and, up to [`VALUE_TABLE_STEPS`] steps, the mask
    /// of each code: its fire steps then take [`crate::neuron::fire_binary`], the mask from
    /// the table where there is one.
    binary: Option<(i64, Vec<u32>)>,
    /// True when no partial sum can leave the membrane range (see the module doc).
    exact: bool,
}

/// Senders of at most this many steps get a table of their output values (4,096 entries).
const VALUE_TABLE_STEPS: usize = 12;

/// `output_value` of every mask of `values.len()` steps.
fn value_table(values: &[i64]) -> Option<Vec<i64>> {
    (values.len() <= VALUE_TABLE_STEPS).then(|| {
        (0..1u32 << values.len())
            .map(|m| output_value(m, values))
            .collect()
    })
}

/// The integer FS-SNN, ready to run images. Build once per model.
pub struct FixedEngine {
    layers: Vec<EngineLayer>,
    /// `D(t)` of the input encoding.
    input_values: Vec<i64>,
    /// The input encoding's spike mask of every byte ([`crate::network::InputEncoding::mask`]).
    pixel_masks: Arc<[u32; 256]>,
    membrane: SignedRange,
    kernels: Kernels,
    /// Every stage's bus order (see [`FixedRun::orders`]).
    orders: Arc<Vec<Option<Vec<usize>>>>,
    shapes: Arc<Vec<Shape>>,
}

/// The integer kernels of the exact path, compiled for the CPU's widest vectors (chosen once
/// per engine): the fan-out of one sender, and the dot product of one receiver's weights with
/// every sender's value.
#[derive(Clone, Copy)]
struct Kernels {
    /// `acc[j] += row[j] * y`: one sender's contribution to every receiver.
    axpy: fn(&mut [i32], &[i16], i32),
    /// `sum_i row[i] * y[i]`: every sender's contribution to one receiver.
    dot: fn(&[i16], &[i32]) -> i32,
}

#[inline(always)]
fn axpy_portable(acc: &mut [i32], row: &[i16], y: i32) {
    for (a, &w) in acc.iter_mut().zip(row) {
        *a += w as i32 * y;
    }
}

#[inline(always)]
fn dot_portable(row: &[i16], y: &[i32]) -> i32 {
    row.iter().zip(y).map(|(&w, &y)| w as i32 * y).sum()
}

/// The same loops compiled for an x86-64 vector extension: baseline x86-64 has no packed
/// 32-bit multiply (the loops run 2-3x slower); AVX-512 takes sixteen words per instruction.
macro_rules! x86_kernels {
    ($module:ident, $feature:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            #[target_feature(enable = $feature)]
            pub fn axpy(acc: &mut [i32], row: &[i16], y: i32) {
                super::axpy_portable(acc, row, y)
            }
            #[target_feature(enable = $feature)]
            pub fn dot(row: &[i16], y: &[i32]) -> i32 {
                super::dot_portable(row, y)
            }
        }
    };
}
x86_kernels!(avx2, "avx2");
x86_kernels!(avx512, "avx512f");

fn select_kernels() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: only called when the CPU has AVX-512F, checked just above.
            return Kernels {
                axpy: |acc, row, y| unsafe { avx512::axpy(acc, row, y) },
                dot: |row, y| unsafe { avx512::dot(row, y) },
            };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: only called when the CPU has AVX2, checked just above.
            return Kernels {
                axpy: |acc, row, y| unsafe { avx2::axpy(acc, row, y) },
                dot: |row, y| unsafe { avx2::dot(row, y) },
            };
        }
    }
    Kernels {
        axpy: axpy_portable,
        dot: dot_portable,
    }
}

/// Whether a dense layer takes these senders' spikes as dot products (see [`AXPY_OVERHEAD`]).
fn dot_products_are_cheaper(masks: &[u32], receivers: usize) -> bool {
    let spiking = masks.iter().filter(|&&m| m != 0).count();
    spiking * (receivers + AXPY_OVERHEAD) > masks.len() * receivers
}

/// The cost of one sender's fan-out call beyond its receivers, in multiply-adds: a dense layer
/// whose spiking senders would cost more than all its weights takes dot products instead (the
/// output layer: hundreds of senders, ten receivers).
const AXPY_OVERHEAD: usize = 32;

impl FixedEngine {
    pub fn new(model: &Model) -> Self {
        let membrane = model.format.membrane_range();
        let geometry = model.geometry();
        let bounds = accumulation_bounds(model.input(), &geometry, &model.layers);
        let layers = model
            .layers
            .iter()
            .zip(&bounds)
            .enumerate()
            .map(|(n, (l, bounds))| {
                let g = &geometry[n];
                let previous = n.checked_sub(1).map(|p| &geometry[p]);
                let averaged =
                    previous.is_some_and(|p| p.pool.is_some_and(|q| q.kind == PoolKind::Avg));
                let connection = if g.kind == LayerKind::Dense && !averaged {
                    let (outputs, inputs) = l.weight.dim();
                    let mut weight_t = vec![0i16; inputs * outputs];
                    for ((j, i), &w) in l.weight.indexed_iter() {
                        weight_t[i * outputs + j] = w;
                    }
                    Connection::Dense {
                        weight_t,
                        weight: l.weight.iter().copied().collect(),
                    }
                } else {
                    Connection::Sparse(fan_out(g, &l.weight, previous))
                };
                let init: Vec<i64> = (0..g.neurons.size())
                    .map(|j| l.bias[g.row(j)] as i64 + l.imp as i64)
                    .collect();
                // The range is symmetric but for its minimum, so `max` bounds both signs.
                let exact = bounds.iter().all(|&b| b <= membrane.max as u64);
                let max_pool = g
                    .pool
                    .filter(|p| p.kind == PoolKind::Max)
                    .map(|p| p.windows(g.neurons, g.output));
                EngineLayer {
                    connection,
                    outputs: g.neurons.size(),
                    max_pool,
                    init,
                    sender_values: value_table(&match n {
                        0 => model.input().spike_values(),
                        n => model.layers[n - 1]
                            .rom
                            .as_ref()
                            .map_or(Vec::new(), |r| r.d.clone()),
                    }),
                    binary: l.rom.as_ref().and_then(|rom| {
                        let k = rom.k();
                        let q = rom.binary_quantum()?;
                        let table = k <= VALUE_TABLE_STEPS;
                        let codes = if table { 0..1 << k } else { 0..0 };
                        Some((q, codes.map(|c| code_mask(c, k)).collect()))
                    }),
                    rom: l.rom.clone(),
                    exact,
                }
            })
            .collect();
        // The input encoder sends ascending; each hidden layer its sent map position-major.
        let input = model.input();
        let shapes: Vec<Shape> = std::iter::once(Shape {
            channels: input.channels,
            height: input.height,
            width: input.width,
        })
        .chain(geometry.iter().map(|g| match g.pool {
            Some(p) if p.kind == PoolKind::Max => g.output,
            _ => g.neurons,
        }))
        .collect();
        let orders = std::iter::once(None)
            .chain(shapes[1..].iter().map(|&s| send_order(s)))
            .collect();
        FixedEngine {
            layers,
            input_values: model.input().spike_values(),
            pixel_masks: Arc::new(std::array::from_fn(|p| input.mask(p as u32))),
            membrane,
            kernels: select_kernels(),
            orders: Arc::new(orders),
            shapes: Arc::new(shapes),
        }
    }

    /// Runs images on every core (rayon), results in image order; the same runs as
    /// [`Self::run`] one by one (images are independent, so the order of work cannot change
    /// a bit).
    pub fn run_batch(&self, images: &[&[u8]]) -> Vec<FixedRun> {
        use rayon::prelude::*;
        images.par_iter().map(|pixels| self.run(pixels)).collect()
    }

    /// Runs one image (pixels must already be checked against the input encoding).
    pub fn run(&self, pixels: &[u8]) -> FixedRun {
        let mut run = FixedRun {
            orders: self.orders.clone(),
            shapes: self.shapes.clone(),
            ..FixedRun::default()
        };
        let mut masks: Vec<u32> = pixels
            .iter()
            .map(|&p| self.pixel_masks[p as usize])
            .collect();
        let mut values: &[i64] = &self.input_values;
        for (l, layer) in self.layers.iter().enumerate() {
            let mut saturations = 0;
            let acc = if layer.exact {
                self.accumulate_exact(layer, &masks, values)
            } else {
                let order = self.orders[l].as_deref();
                self.accumulate_events(layer, &masks, order, values, &mut saturations)
            };
            run.spikes.push(masks);
            match &layer.rom {
                Some(rom) => {
                    masks = match &layer.binary {
                        Some((q, code_masks)) => acc
                            .iter()
                            .map(|&v| {
                                let code = binary_code(v, *q, rom.k());
                                code_masks
                                    .get(code as usize)
                                    .map_or_else(|| code_mask(code, rom.k()), |&m| m)
                            })
                            .collect(),
                        None => acc
                            .iter()
                            .map(|&v| rom.fire(v, self.membrane, &mut saturations))
                            .collect(),
                    };
                    values = &rom.d;
                    if let Some(windows) = &layer.max_pool {
                        // The train of the largest value: `D` orders trains (validated).
                        masks = windows
                            .iter()
                            .map(|w| {
                                w.iter()
                                    .map(|&i| masks[i])
                                    .max_by_key(|&m| output_value(m, values))
                                    .unwrap_or(0)
                            })
                            .collect();
                    }
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
        let value = |mask: u32| match &layer.sender_values {
            Some(table) => table[mask as usize] as i32,
            None => output_value(mask, values) as i32,
        };
        let spiking = || masks.iter().enumerate().filter(|&(_, &m)| m != 0);
        match &layer.connection {
            Connection::Dense { weight_t, weight } => {
                let senders = masks.len();
                if dot_products_are_cheaper(masks, layer.outputs) {
                    let y: Vec<i32> = masks.iter().map(|&m| value(m)).collect();
                    for (a, row) in acc.iter_mut().zip(weight.chunks_exact(senders)) {
                        *a += (self.kernels.dot)(row, &y);
                    }
                } else {
                    for (i, &mask) in spiking() {
                        let row = &weight_t[i * layer.outputs..(i + 1) * layer.outputs];
                        (self.kernels.axpy)(&mut acc, row, value(mask));
                    }
                }
            }
            Connection::Sparse(fan) => {
                for (i, &mask) in spiking() {
                    let y = value(mask);
                    let (targets, weights) = fan.of(i);
                    for (&j, &w) in targets.iter().zip(weights) {
                        acc[j as usize] += w as i32 * y;
                    }
                }
            }
        }
        acc.into_iter().map(i64::from).collect()
    }

    /// The hardware's event order, saturating after every addition.
    fn accumulate_events(
        &self,
        layer: &EngineLayer,
        masks: &[u32],
        order: Option<&[usize]>,
        values: &[i64],
        saturations: &mut u64,
    ) -> Vec<i64> {
        let mut acc = layer.init.clone();
        for (i, step) in bus_events(masks, order) {
            let (i, d) = (i as usize, values[step as usize]);
            match &layer.connection {
                Connection::Dense { weight_t, .. } => {
                    let row = &weight_t[i * layer.outputs..(i + 1) * layer.outputs];
                    for (a, &w) in acc.iter_mut().zip(row) {
                        *a = self.membrane.saturate(*a + w as i64 * d, saturations);
                    }
                }
                Connection::Sparse(fan) => {
                    let (targets, weights) = fan.of(i);
                    for (&j, &w) in targets.iter().zip(weights) {
                        let a = &mut acc[j as usize];
                        *a = self.membrane.saturate(*a + w as i64 * d, saturations);
                    }
                }
            }
        }
        acc
    }

    /// The receivers of each sender of layer `l` (the stage that feeds it).
    fn receivers(&self, l: usize, i: usize) -> usize {
        match &self.layers[l].connection {
            Connection::Dense { .. } => self.layers[l].outputs,
            Connection::Sparse(fan) => fan.offset[i + 1] - fan.offset[i],
        }
    }

    /// The most receivers of one sender of layer `l` (every neuron, for a dense layer).
    pub fn max_fan_out(&self, l: usize) -> usize {
        match &self.layers[l].connection {
            Connection::Dense { .. } => self.layers[l].outputs,
            Connection::Sparse(fan) => (0..fan.senders())
                .map(|i| self.receivers(l, i))
                .max()
                .unwrap_or(0),
        }
    }

    /// Synaptic operations of a run: every spike times the receivers of its sender.
    pub fn synaptic_ops(&self, run: &FixedRun) -> u64 {
        self.layer_synaptic_ops(run).iter().sum()
    }

    /// [`FixedEngine::synaptic_ops`] of each layer.
    pub fn layer_synaptic_ops(&self, run: &FixedRun) -> Vec<u64> {
        run.spikes
            .iter()
            .enumerate()
            .take(self.layers.len())
            .map(|(l, masks)| {
                masks
                    .iter()
                    .enumerate()
                    .map(|(i, m)| m.count_ones() as u64 * self.receivers(l, i) as u64)
                    .sum::<u64>()
            })
            .collect()
    }

    /// How layer `l` adds these spikes of its senders: `Some(true)` as dot products,
    /// `Some(false)` sender by sender, `None` not by either dense kernel (for tests that must
    /// see both).
    #[doc(hidden)]
    pub fn dense_kernel(&self, l: usize, masks: &[u32]) -> Option<bool> {
        let layer = &self.layers[l];
        let dense = matches!(layer.connection, Connection::Dense { .. });
        (dense && layer.exact).then(|| dot_products_are_cheaper(masks, layer.outputs))
    }

    /// The event-order path regardless of the saturation bound (for tests of the fast path).
    #[doc(hidden)]
    pub fn run_event_order(&self, pixels: &[u8]) -> FixedRun {
        let forced = FixedEngine {
            layers: self
                .layers
                .iter()
                .map(|l| EngineLayer {
                    exact: false,
                    ..l.clone()
                })
                .collect(),
            input_values: self.input_values.clone(),
            pixel_masks: self.pixel_masks.clone(),
            membrane: self.membrane,
            kernels: self.kernels,
            orders: self.orders.clone(),
            shapes: self.shapes.clone(),
        };
        forced.run(pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Pool;
    use crate::network::{AnnLayer, InputEncoding};
    use ndarray::{Array1, array};

    /// A 3x3 image through a 2x2 convolution (bias 0.5, ReLU), pooled, then a dense layer that
    /// outputs the pooled value and its negative.
    fn tiny(pool: PoolKind) -> Ann {
        Ann {
            input: InputEncoding {
                width: 3,
                height: 3,
                channels: 1,
                bits: 4,
                max_value: 8,
            },
            layers: vec![
                AnnLayer {
                    kind: LayerKind::Conv2d {
                        kernel: 2,
                        stride: 1,
                        padding: 0,
                    },
                    weight: array![[1.0, 2.0, -3.0, 0.5]],
                    bias: Array1::from(vec![0.5]),
                    activation: Activation::Relu,
                    pool: Some(Pool {
                        kind: pool,
                        window: 2,
                        stride: 2,
                    }),
                },
                AnnLayer::dense(
                    array![[1.0], [-1.0]],
                    Array1::zeros(2),
                    Activation::Identity,
                ),
            ],
        }
    }

    #[test]
    fn a_convolution_and_its_pooling_compute_what_pytorch_would() {
        let pixels = [8u8, 4, 0, 2, 6, 8, 0, 1, 3];
        let x: Vec<f64> = pixels.iter().map(|&p| p as f64 / 8.0).collect();
        let at = |y: usize, x_: usize| x[y * 3 + x_];
        let conv = |oy: usize, ox: usize| {
            let z = 0.5 + at(oy, ox) + 2.0 * at(oy, ox + 1) - 3.0 * at(oy + 1, ox)
                + 0.5 * at(oy + 1, ox + 1);
            z.max(0.0)
        };
        let maps = [conv(0, 0), conv(0, 1), conv(1, 0), conv(1, 1)];
        assert!(maps.contains(&0.0) && maps.iter().any(|&v| v > 0.0));
        for (kind, pooled) in [
            (PoolKind::Max, maps.iter().copied().fold(f64::MIN, f64::max)),
            (PoolKind::Avg, maps.iter().sum::<f64>() / 4.0),
        ] {
            let ann = tiny(kind);
            ann.validate().unwrap();
            let logits = ann_logits(&ann, &pixels);
            assert!(
                (logits[0] as f64 - pooled).abs() < 1e-6,
                "{kind:?}: {logits:?}"
            );
            assert!(
                (logits[1] as f64 + pooled).abs() < 1e-6,
                "{kind:?}: {logits:?}"
            );
            let batch = ann_forward_batch(&ann, &[pixels, pixels].concat());
            assert_eq!(batch.row(1).to_vec(), logits);
        }
    }
}
