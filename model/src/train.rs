//! ANN training: dense layers and 2-D convolutions (as im2col and a matrix product), with max
//! or average pooling, softmax cross-entropy, AdamW and a cosine learning rate, on
//! mini-batches (ndarray's threaded GEMM). Reproducible: every random choice comes from one
//! seeded ChaCha stream, and the batch order does not depend on thread timing.
//!
//! The layers are given as `--layers` spells them ([`parse_layers`]): either widths, input
//! first (`784,256,10`, an MLP), or a list of layer specifications (`conv16k5s2,conv32k5s2,
//! dense10`): `conv{C}k{K}[s{S}][p{P}]` is a convolution to `C` channels with a `K x K` kernel,
//! stride `S` (default 1) and zero padding `P` (default `(K - 1) / 2`, which keeps the map's
//! size at stride 1); `maxpool{W}[s{S}]` and `avgpool{W}` pool the layer before (`S` default
//! `W`); `dense{N}` is a dense layer of `N` neurons after the maps are flattened. The last
//! layer is the output (at least 10 neurons).

use crate::activation::Activation;
use crate::data::Dataset;
use crate::network::{Ann, AnnLayer, Geometry, InputEncoding, LayerKind, Pool, PoolKind};
use anyhow::{Context, Result, bail, ensure};
use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One layer to train, as `--layers` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    Dense(usize),
    Conv {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Pools the layer before.
    Pool(Pool),
}

/// Reads `--layers`: widths input first (`784,256,10`), or layer specifications
/// (`conv16k5s2,maxpool2,dense10`; see the module documentation). Errors name the item.
pub fn parse_layers(text: &str, input: &InputEncoding) -> Result<Vec<LayerSpec>> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().all(|i| i.parse::<usize>().is_ok()) {
        let widths: Vec<usize> = items.iter().map(|i| i.parse().unwrap()).collect();
        ensure!(
            widths.len() >= 2,
            "--layers needs at least an input and an output width, got {widths:?}"
        );
        ensure!(
            widths[0] == input.size(),
            "the first width {} must be the data set's input size {}",
            widths[0],
            input.size()
        );
        return Ok(widths[1..].iter().map(|&w| LayerSpec::Dense(w)).collect());
    }
    items
        .iter()
        .map(|item| parse_item(item).with_context(|| format!("layer specification `{item}`")))
        .collect()
}

/// One item of a layer specification: a word, then numbers each behind a letter.
fn parse_item(item: &str) -> Result<LayerSpec> {
    let word_end = item
        .find(|c: char| c.is_ascii_digit())
        .with_context(|| "expected a size after the layer kind, e.g. conv16k5 or dense10")?;
    let (word, rest) = item.split_at(word_end);
    // Numbers, each after its letter (the first after the word itself).
    let mut fields: Vec<(char, usize)> = Vec::new();
    let mut key = '#';
    let mut digits = String::new();
    for c in rest.chars().chain(std::iter::once('$')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        ensure!(!digits.is_empty(), "expected a number before `{c}`");
        fields.push((key, digits.parse().context("number too large")?));
        digits.clear();
        key = c;
    }
    let get = |k: char| fields.iter().find(|(f, _)| *f == k).map(|&(_, v)| v);
    let allowed = |keys: &str| -> Result<()> {
        if let Some((k, _)) = fields.iter().find(|(k, _)| *k != '#' && !keys.contains(*k)) {
            bail!("`{k}` is not a field of {word}");
        }
        Ok(())
    };
    let size = get('#').unwrap_or(0);
    ensure!(size > 0, "sizes must be positive");
    Ok(match word {
        "dense" => {
            allowed("")?;
            LayerSpec::Dense(size)
        }
        "conv" => {
            allowed("ksp")?;
            let kernel = get('k').context("a convolution needs a kernel: conv16k5")?;
            ensure!(kernel > 0, "the kernel must be positive");
            LayerSpec::Conv {
                channels: size,
                kernel,
                stride: get('s').unwrap_or(1),
                padding: get('p').unwrap_or((kernel - 1) / 2),
            }
        }
        "maxpool" | "avgpool" => {
            allowed("s")?;
            let kind = if word == "maxpool" {
                PoolKind::Max
            } else {
                PoolKind::Avg
            };
            LayerSpec::Pool(Pool {
                kind,
                window: size,
                stride: get('s').unwrap_or(size),
            })
        }
        other => bail!("unknown layer kind `{other}` (dense, conv, maxpool, avgpool)"),
    })
}

#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// The layers ([`parse_layers`]); the last is the output layer.
    pub layers: Vec<LayerSpec>,
    /// Activation of the hidden layers (the output layer is the identity).
    pub activation: Activation,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    /// Decoupled (AdamW) weight decay.
    pub weight_decay: f32,
    /// Augmentation: each training image is shifted by up to this many pixels per axis.
    pub max_shift: usize,
    pub seed: u64,
}

impl TrainConfig {
    pub fn validate(&self, input: &InputEncoding) -> Result<()> {
        ensure!(!self.layers.is_empty(), "--layers names no layer");
        ensure!(
            matches!(self.layers.last(), Some(LayerSpec::Dense(n)) if *n >= 10),
            "the last layer must be a dense output layer covering the 10 classes"
        );
        ensure!(
            !matches!(self.layers.first(), Some(LayerSpec::Pool(_))),
            "pooling must follow a layer"
        );
        ensure!(
            self.activation != Activation::Identity,
            "hidden layers need a non-linear activation"
        );
        ensure!(
            self.epochs > 0 && self.batch_size > 0,
            "epochs and batch size must be positive"
        );
        ensure!(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            "learning rate must be positive"
        );
        // The shapes chain (kernels and windows fit their maps).
        self.untrained(input, &mut ChaCha8Rng::seed_from_u64(0))?
            .validate()
            .context("--layers")?;
        Ok(())
    }

    /// The network with freshly initialised weights: He (ReLU) or Glorot (smooth activations)
    /// uniform, drawn layer by layer from `rng`.
    fn untrained(&self, input: &InputEncoding, rng: &mut ChaCha8Rng) -> Result<Ann> {
        let count = self
            .layers
            .iter()
            .filter(|l| !matches!(l, LayerSpec::Pool(_)))
            .count();
        let mut layers: Vec<AnnLayer> = Vec::new();
        // What the next layer receives, and the last layer's neurons (before its pooling).
        let mut shape = input.shape();
        let mut neurons = shape;
        for (n, spec) in self.layers.iter().enumerate() {
            let ctx = || format!("layer specification {n}");
            let (kind, rows, cols) = match *spec {
                LayerSpec::Pool(pool) => {
                    let Some(previous) = layers.last_mut() else {
                        bail!("pooling must follow a layer");
                    };
                    ensure!(previous.pool.is_none(), "a layer is pooled twice");
                    previous.pool = Some(pool);
                    shape = pool.output(neurons).with_context(ctx)?;
                    continue;
                }
                LayerSpec::Dense(n) => (LayerKind::Dense, n, shape.size()),
                LayerSpec::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                } => (
                    LayerKind::Conv2d {
                        kernel,
                        stride,
                        padding,
                    },
                    channels,
                    shape.channels * kernel * kernel,
                ),
            };
            let g = Geometry::new(kind, shape, (rows, cols), None).with_context(ctx)?;
            let act = if layers.len() + 1 == count {
                Activation::Identity
            } else {
                self.activation
            };
            // Fan-in and fan-out of one weight's neuron.
            let fan_out = match kind {
                LayerKind::Dense => rows,
                LayerKind::Conv2d { kernel, .. } => rows * kernel * kernel,
            };
            let limit = if act == Activation::Relu {
                (6.0 / cols as f32).sqrt()
            } else {
                (6.0 / (cols + fan_out) as f32).sqrt()
            };
            layers.push(AnnLayer {
                kind,
                weight: Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-limit..limit)),
                bias: Array1::zeros(rows),
                activation: act,
                pool: None,
            });
            neurons = g.neurons;
            shape = g.output;
        }
        Ok(Ann {
            input: *input,
            layers,
        })
    }
}

/// Reported after every epoch.
#[derive(Clone, Debug)]
pub struct EpochStats {
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f32,
    pub train_accuracy: f32,
}

struct AdamState {
    m: Array2<f32>,
    v: Array2<f32>,
    mb: Array1<f32>,
    vb: Array1<f32>,
}

/// The input encoding a data set's images get: their range, in as few bits as hold it.
pub fn input_encoding(data: &Dataset) -> InputEncoding {
    let max_value = data.max_value;
    InputEncoding {
        width: data.kind.width(),
        height: data.kind.height(),
        channels: 1,
        bits: 32 - max_value.leading_zeros(),
        max_value,
    }
}

/// Trains an MLP on `data`. `progress` is called once per batch with (batches done, total) and
/// once per epoch with its statistics.
pub fn train(
    data: &Dataset,
    config: &TrainConfig,
    on_batch: &mut dyn FnMut(usize, usize),
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<Ann> {
    let input = input_encoding(data);
    config.validate(&input)?;
    ensure!(!data.is_empty(), "the training set is empty");
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let Ann { mut layers, .. } = config.untrained(&input, &mut rng)?;
    let plans: Vec<Plan> = Ann {
        input,
        layers: layers.clone(),
    }
    .geometry()?
    .iter()
    .map(Plan::of)
    .collect();
    let mut adam: Vec<AdamState> = layers
        .iter()
        .map(|l| AdamState {
            m: Array2::zeros(l.weight.dim()),
            v: Array2::zeros(l.weight.dim()),
            mb: Array1::zeros(l.bias.len()),
            vb: Array1::zeros(l.bias.len()),
        })
        .collect();

    let n = data.len();
    let batches_per_epoch = n.div_ceil(config.batch_size);
    let total_batches = batches_per_epoch * config.epochs;
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0usize;
    let scale = 1.0 / input.max_value as f32;
    let pixels = input.size();
    for epoch in 0..config.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        let mut correct = 0usize;
        for batch in order.chunks(config.batch_size) {
            let b = batch.len();
            let mut x = Array2::<f32>::zeros((b, pixels));
            for (r, &idx) in batch.iter().enumerate() {
                let (dx, dy) = if config.max_shift > 0 {
                    let m = config.max_shift as i64;
                    (rng.gen_range(-m..=m), rng.gen_range(-m..=m))
                } else {
                    (0, 0)
                };
                shifted(
                    data.image(idx),
                    input.width,
                    input.height,
                    dx,
                    dy,
                    scale,
                    x.row_mut(r).as_slice_mut().unwrap(),
                );
            }
            let labels: Vec<usize> = batch.iter().map(|&idx| data.label(idx)).collect();
            let (batch_loss, batch_correct, grads) = batch_gradients(&layers, &plans, x, &labels);
            loss_sum += batch_loss;
            correct += batch_correct;
            // AdamW.
            step += 1;
            let progress = step as f32 / total_batches as f32;
            let lr = config.learning_rate * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos());
            let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
            let c1 = 1.0 - b1.powi(step as i32);
            let c2 = 1.0 - b2.powi(step as i32);
            for (l, (gw, gb)) in grads.into_iter().enumerate().rev() {
                let st = &mut adam[l];
                let layer = &mut layers[l];
                ndarray::Zip::from(&mut layer.weight)
                    .and(&mut st.m)
                    .and(&mut st.v)
                    .and(&gw)
                    .for_each(|w, m, v, &g| {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *w -=
                            lr * ((*m / c1) / ((*v / c2).sqrt() + eps) + config.weight_decay * *w);
                    });
                ndarray::Zip::from(&mut layer.bias)
                    .and(&mut st.mb)
                    .and(&mut st.vb)
                    .and(&gb)
                    .for_each(|w, m, v, &g| {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *w -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                    });
            }
            on_batch(step, total_batches);
        }
        on_epoch(&EpochStats {
            epoch: epoch + 1,
            epochs: config.epochs,
            loss: (loss_sum / n as f64) as f32,
            train_accuracy: correct as f32 / n as f32,
        });
    }
    let ann = Ann { input, layers };
    ann.validate()?;
    Ok(ann)
}

/// Weight and bias gradients, layer by layer.
type Gradients = Vec<(Array2<f32>, Array1<f32>)>;

/// One batch forward and backward: the summed cross-entropy loss, the correctly classified
/// count, and every layer's weight and bias gradients (of the batch's mean loss).
fn batch_gradients(
    layers: &[AnnLayer],
    plans: &[Plan],
    x: Array2<f32>,
    labels: &[usize],
) -> (f64, usize, Gradients) {
    let n_layers = layers.len();
    let b = x.nrows();
    // Forward, keeping every layer's input, pre-activations and pooling choices.
    let mut acts = vec![x];
    let mut pre = Vec::with_capacity(n_layers);
    let mut cols = Vec::with_capacity(n_layers);
    let mut chosen = Vec::with_capacity(n_layers);
    for (layer, plan) in layers.iter().zip(plans) {
        let input = acts.last().unwrap();
        let (z, col) = match &plan.conv {
            None => (input.dot(&layer.weight.t()) + &layer.bias, None),
            Some(conv) => {
                let c = conv.im2col(input);
                let z = conv.rows_to_maps(&(c.dot(&layer.weight.t()) + &layer.bias));
                (z, Some(c))
            }
        };
        let a = if layer.activation == Activation::Identity {
            z.clone()
        } else {
            z.mapv(|v| layer.activation.apply(v as f64) as f32)
        };
        let (a, choice) = match &plan.pool {
            None => (a, Vec::new()),
            Some(pool) => pool.forward(&a),
        };
        pre.push(z);
        cols.push(col);
        chosen.push(choice);
        acts.push(a);
    }
    // Softmax cross-entropy.
    let logits = acts.pop().unwrap();
    let mut grad = Array2::<f32>::zeros(logits.dim());
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (r, &label) in labels.iter().enumerate() {
        let row = logits.row(r);
        let max = row.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let exps: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        loss -= ((exps[label] / sum).max(1e-30) as f64).ln();
        if crate::infer::argmax(row.as_slice().unwrap()) == label {
            correct += 1;
        }
        for (c, e) in exps.iter().enumerate() {
            grad[[r, c]] = (e / sum - if c == label { 1.0 } else { 0.0 }) / b as f32;
        }
    }
    // Backward: `grad` is dL/dz of layer l; its weights' gradient, then dL/dz of layer l - 1
    // (through the pooling and the activation of layer l - 1).
    let mut grads = Vec::with_capacity(n_layers);
    for l in (0..n_layers).rev() {
        let (gw, gb, gx) = match (&plans[l].conv, &cols[l]) {
            (Some(conv), Some(c)) => {
                let g = conv.maps_to_rows(&grad);
                let gw = g.t().dot(c);
                let gb = g.sum_axis(Axis(0));
                let gx = (l > 0).then(|| conv.col2im(&g.dot(&layers[l].weight)));
                (gw, gb, gx)
            }
            _ => {
                let gw = grad.t().dot(&acts[l]);
                let gb = grad.sum_axis(Axis(0));
                let gx = (l > 0).then(|| grad.dot(&layers[l].weight));
                (gw, gb, gx)
            }
        };
        if let Some(mut da) = gx {
            if let Some(pool) = &plans[l - 1].pool {
                da = pool.backward(&da, &chosen[l - 1]);
            }
            let act = layers[l - 1].activation;
            da.zip_mut_with(&pre[l - 1], |g, &z| *g *= act.derivative(z as f64) as f32);
            grad = da;
        }
        grads.push((gw, gb));
    }
    grads.reverse();
    (loss, correct, grads)
}

/// The batch's mean loss and gradients for `ann` (finite-difference tests).
#[cfg(test)]
fn loss_and_gradients(ann: &Ann, x: &Array2<f32>, labels: &[usize]) -> (f32, Gradients) {
    let plans: Vec<Plan> = ann.geometry().unwrap().iter().map(Plan::of).collect();
    let (loss, _, grads) = batch_gradients(&ann.layers, &plans, x.clone(), labels);
    ((loss / x.nrows() as f64) as f32, grads)
}

/// What training needs of a layer's geometry, computed once.
struct Plan {
    conv: Option<ConvPlan>,
    pool: Option<PoolPlan>,
}

impl Plan {
    fn of(g: &Geometry) -> Self {
        let conv = match g.kind {
            LayerKind::Dense => None,
            LayerKind::Conv2d { kernel, .. } => {
                // Column `col` of output position `p` reads input `index[p * columns + col]`
                // (none in the padding): the receivers of every input, inverted.
                let positions = g.neurons.height * g.neurons.width;
                let columns = g.input.channels * kernel * kernel;
                let mut index = vec![u32::MAX; positions * columns];
                for i in 0..g.input.size() {
                    for (j, column) in g.receivers(i) {
                        // Receivers of the first output channel give every position.
                        if j < positions {
                            index[j * columns + column] = i as u32;
                        }
                    }
                }
                Some(ConvPlan {
                    index,
                    positions,
                    columns,
                    channels: g.neurons.channels,
                    inputs: g.input.size(),
                })
            }
        };
        let pool = g.pool.map(|p| PoolPlan {
            kind: p.kind,
            windows: p.windows(g.neurons, g.output),
            inputs: g.neurons.size(),
        });
        Plan { conv, pool }
    }
}

/// A convolution as a matrix product: im2col rows are `(image, position)`, columns
/// `(channel, ky, kx)`.
struct ConvPlan {
    index: Vec<u32>,
    positions: usize,
    columns: usize,
    channels: usize,
    inputs: usize,
}

impl ConvPlan {
    fn im2col(&self, x: &Array2<f32>) -> Array2<f32> {
        let b = x.nrows();
        let mut out = Array2::<f32>::zeros((b * self.positions, self.columns));
        for (r, image) in x.outer_iter().enumerate() {
            let image = image.as_slice().expect("rows are contiguous");
            for p in 0..self.positions {
                let row = &self.index[p * self.columns..(p + 1) * self.columns];
                let mut dst = out.row_mut(r * self.positions + p);
                for (d, &i) in dst.iter_mut().zip(row) {
                    if i != u32::MAX {
                        *d = image[i as usize];
                    }
                }
            }
        }
        out
    }

    /// Adds each im2col entry's gradient back to the input it was read from.
    fn col2im(&self, g: &Array2<f32>) -> Array2<f32> {
        let b = g.nrows() / self.positions;
        let mut out = Array2::<f32>::zeros((b, self.inputs));
        for r in 0..b {
            let mut image = out.row_mut(r);
            for p in 0..self.positions {
                let row = &self.index[p * self.columns..(p + 1) * self.columns];
                let src = g.row(r * self.positions + p);
                for (&s, &i) in src.iter().zip(row) {
                    if i != u32::MAX {
                        image[i as usize] += s;
                    }
                }
            }
        }
        out
    }

    /// `(image, position) x channel` to maps: `image x (channel, position)`.
    fn rows_to_maps(&self, z: &Array2<f32>) -> Array2<f32> {
        let b = z.nrows() / self.positions;
        Array2::from_shape_fn((b, self.channels * self.positions), |(r, j)| {
            z[[r * self.positions + j % self.positions, j / self.positions]]
        })
    }

    fn maps_to_rows(&self, g: &Array2<f32>) -> Array2<f32> {
        let b = g.nrows();
        Array2::from_shape_fn((b * self.positions, self.channels), |(row, o)| {
            g[[
                row / self.positions,
                o * self.positions + row % self.positions,
            ]]
        })
    }
}

struct PoolPlan {
    kind: PoolKind,
    windows: Vec<Vec<usize>>,
    inputs: usize,
}

impl PoolPlan {
    /// The pooled activations, and for max pooling the input each output took.
    fn forward(&self, a: &Array2<f32>) -> (Array2<f32>, Vec<u32>) {
        let b = a.nrows();
        let mut chosen = Vec::new();
        let mut out = Array2::<f32>::zeros((b, self.windows.len()));
        for r in 0..b {
            for (w, members) in self.windows.iter().enumerate() {
                out[[r, w]] = match self.kind {
                    PoolKind::Max => {
                        let best = members
                            .iter()
                            .copied()
                            .reduce(|m, i| if a[[r, i]] > a[[r, m]] { i } else { m })
                            .expect("windows are not empty");
                        chosen.push(best as u32);
                        a[[r, best]]
                    }
                    PoolKind::Avg => {
                        members.iter().map(|&i| a[[r, i]]).sum::<f32>() / members.len() as f32
                    }
                };
            }
        }
        (out, chosen)
    }

    fn backward(&self, g: &Array2<f32>, chosen: &[u32]) -> Array2<f32> {
        let b = g.nrows();
        let mut out = Array2::<f32>::zeros((b, self.inputs));
        for r in 0..b {
            for (w, members) in self.windows.iter().enumerate() {
                match self.kind {
                    PoolKind::Max => {
                        out[[r, chosen[r * self.windows.len() + w] as usize]] += g[[r, w]];
                    }
                    PoolKind::Avg => {
                        let share = g[[r, w]] / members.len() as f32;
                        for &i in members {
                            out[[r, i]] += share;
                        }
                    }
                }
            }
        }
        out
    }
}

/// Writes `image` shifted by `(dx, dy)` (zero fill), scaled to floats, into `out`.
fn shifted(image: &[u8], w: usize, h: usize, dx: i64, dy: i64, scale: f32, out: &mut [f32]) {
    if dx == 0 && dy == 0 {
        for (o, &p) in out.iter_mut().zip(image) {
            *o = p as f32 * scale;
        }
        return;
    }
    out.fill(0.0);
    for y in 0..h as i64 {
        let sy = y - dy;
        if sy < 0 || sy >= h as i64 {
            continue;
        }
        for x in 0..w as i64 {
            let sx = x - dx;
            if sx >= 0 && sx < w as i64 {
                out[(y * w as i64 + x) as usize] =
                    image[(sy * w as i64 + sx) as usize] as f32 * scale;
            }
        }
    }
}

/// Float accuracy of an ANN on a data set, batched.
pub fn accuracy(ann: &Ann, data: &Dataset) -> Result<f64> {
    ensure!(
        data.kind.input_size() == ann.input.size(),
        "the {} data set has {} pixels per image, the network takes {}",
        data.kind,
        data.kind.input_size(),
        ann.input.size()
    );
    if data.is_empty() {
        return Ok(0.0);
    }
    let mut correct = 0;
    for start in (0..data.len()).step_by(512) {
        let end = (start + 512).min(data.len());
        let logits = crate::infer::ann_forward_batch(
            ann,
            &data.pixels[start * ann.input.size()..end * ann.input.size()],
        );
        for (r, row) in logits.outer_iter().enumerate() {
            if crate::infer::argmax(row.as_slice().unwrap()) == data.label(start + r) {
                correct += 1;
            }
        }
    }
    Ok(correct as f64 / data.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnist_input() -> InputEncoding {
        InputEncoding {
            width: 28,
            height: 28,
            channels: 1,
            bits: 8,
            max_value: 255,
        }
    }

    #[test]
    fn layer_specifications_read_as_documented() {
        let input = mnist_input();
        assert_eq!(
            parse_layers("784,256,10", &input).unwrap(),
            [LayerSpec::Dense(256), LayerSpec::Dense(10)]
        );
        let layers =
            parse_layers("conv16k5s2,maxpool2,conv32k3p0,avgpool2,dense10", &input).unwrap();
        assert_eq!(
            layers,
            [
                LayerSpec::Conv {
                    channels: 16,
                    kernel: 5,
                    stride: 2,
                    padding: 2
                },
                LayerSpec::Pool(Pool {
                    kind: PoolKind::Max,
                    window: 2,
                    stride: 2
                }),
                LayerSpec::Conv {
                    channels: 32,
                    kernel: 3,
                    stride: 1,
                    padding: 0
                },
                LayerSpec::Pool(Pool {
                    kind: PoolKind::Avg,
                    window: 2,
                    stride: 2
                }),
                LayerSpec::Dense(10),
            ]
        );
        for (bad, says) in [
            ("conv16,dense10", "needs a kernel"),
            ("pool2,dense10", "unknown layer kind `pool`"),
            ("conv16k5x2,dense10", "`x` is not a field of conv"),
            ("dense", "expected a size"),
            ("785,10", "must be the data set's input size 784"),
        ] {
            let e = format!("{:#}", parse_layers(bad, &input).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn layers_that_do_not_chain_are_refused_before_training() {
        let config = |layers: &str| TrainConfig {
            layers: parse_layers(layers, &mnist_input()).unwrap(),
            activation: Activation::Relu,
            epochs: 1,
            batch_size: 8,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            max_shift: 0,
            seed: 1,
        };
        for (layers, says) in [
            ("conv4k29p0,dense10", "does not fit"),
            ("conv4k5,dense5", "covering the 10 classes"),
            ("conv4k5,avgpool3s2,dense10", "overlaps"),
            ("maxpool2,dense10", "pooling must follow a layer"),
        ] {
            let e = format!("{:#}", config(layers).validate(&mnist_input()).unwrap_err());
            assert!(e.contains(says), "{layers}: {e}");
        }
    }

    /// The backward pass of a small conv + max pool + conv + avg pool + dense network against
    /// finite differences of its loss.
    #[test]
    fn convolution_and_pooling_gradients_match_finite_differences() {
        let input = InputEncoding {
            width: 6,
            height: 6,
            channels: 1,
            bits: 4,
            max_value: 15,
        };
        let config = TrainConfig {
            layers: parse_layers("conv3k3,maxpool2,conv2k2p1,avgpool2,dense10", &input).unwrap(),
            activation: Activation::Sigmoid,
            epochs: 1,
            batch_size: 2,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            max_shift: 0,
            seed: 7,
        };
        let ann = config
            .untrained(&input, &mut ChaCha8Rng::seed_from_u64(7))
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let x = Array2::from_shape_fn((2, 36), |_| rng.gen_range(0.0..1.0f32));
        let labels = [3usize, 7];
        let (_, grads) = loss_and_gradients(&ann, &x, &labels);
        for (l, (gw, _)) in grads.iter().enumerate() {
            for &(r, c) in &[(0usize, 0usize), (1, 2), (0, 5)] {
                if r >= gw.nrows() || c >= gw.ncols() {
                    continue;
                }
                let eps = 1e-2f32;
                let mut plus = ann.clone();
                plus.layers[l].weight[[r, c]] += eps;
                let mut minus = ann.clone();
                minus.layers[l].weight[[r, c]] -= eps;
                let numeric = (loss_and_gradients(&plus, &x, &labels).0
                    - loss_and_gradients(&minus, &x, &labels).0)
                    / (2.0 * eps);
                let analytic = gw[[r, c]];
                assert!(
                    (numeric - analytic).abs() <= 1e-3 + 0.05 * analytic.abs(),
                    "layer {l} weight ({r}, {c}): numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }
}
