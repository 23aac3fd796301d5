//! ANN training: a dense MLP with softmax cross-entropy, AdamW and a cosine learning rate,
//! on mini-batches (ndarray's threaded GEMM). Reproducible: every random choice comes from one
//! seeded ChaCha stream, and the batch order does not depend on thread timing.

use crate::activation::Activation;
use crate::data::Dataset;
use crate::network::{Ann, AnnLayer, InputEncoding};
use anyhow::{Result, ensure};
use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Layer widths, input first: `[784, 256, 10]`.
    pub widths: Vec<usize>,
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
        ensure!(
            self.widths.len() >= 2,
            "--layers needs at least an input and an output width, got {:?}",
            self.widths
        );
        ensure!(
            self.widths[0] == input.size(),
            "the first width {} must be the data set's input size {}",
            self.widths[0],
            input.size()
        );
        ensure!(
            self.widths.iter().all(|&w| w > 0),
            "widths must be positive: {:?}",
            self.widths
        );
        ensure!(
            *self.widths.last().unwrap() >= 10,
            "the output width must cover the 10 classes"
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
        Ok(())
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

/// The input encoding a data set's images get.
pub fn input_encoding(data: &Dataset) -> InputEncoding {
    let max_value = data.kind.max_value() as u32;
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
    let n_layers = config.widths.len() - 1;
    let mut layers: Vec<AnnLayer> = (0..n_layers)
        .map(|l| {
            let (fan_in, fan_out) = (config.widths[l], config.widths[l + 1]);
            // He (ReLU) or Glorot (smooth activations) uniform initialisation.
            let act = if l + 1 == n_layers {
                Activation::Identity
            } else {
                config.activation
            };
            let limit = if act == Activation::Relu {
                (6.0 / fan_in as f32).sqrt()
            } else {
                (6.0 / (fan_in + fan_out) as f32).sqrt()
            };
            AnnLayer::dense(
                Array2::from_shape_fn((fan_out, fan_in), |_| rng.gen_range(-limit..limit)),
                Array1::zeros(fan_out),
                act,
            )
        })
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
            // Forward, keeping pre-activations for the backward pass.
            let mut acts = vec![x];
            let mut pre = Vec::with_capacity(n_layers);
            for layer in &layers {
                let z = acts.last().unwrap().dot(&layer.weight.t()) + &layer.bias;
                let a = if layer.activation == Activation::Identity {
                    z.clone()
                } else {
                    z.mapv(|v| layer.activation.apply(v as f64) as f32)
                };
                pre.push(z);
                acts.push(a);
            }
            // Softmax cross-entropy.
            let logits = acts.pop().unwrap();
            let mut grad = Array2::<f32>::zeros(logits.dim());
            for (r, &idx) in batch.iter().enumerate() {
                let row = logits.row(r);
                let max = row.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                let exps: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                let label = data.label(idx);
                loss_sum -= ((exps[label] / sum).max(1e-30) as f64).ln();
                if crate::infer::argmax(row.as_slice().unwrap()) == label {
                    correct += 1;
                }
                for (c, e) in exps.iter().enumerate() {
                    grad[[r, c]] = (e / sum - if c == label { 1.0 } else { 0.0 }) / b as f32;
                }
            }
            // Backward and AdamW.
            step += 1;
            let progress = step as f32 / total_batches as f32;
            let lr = config.learning_rate * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos());
            let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
            let c1 = 1.0 - b1.powi(step as i32);
            let c2 = 1.0 - b2.powi(step as i32);
            for l in (0..n_layers).rev() {
                let gw = grad.t().dot(&acts[l]);
                let gb = grad.sum_axis(Axis(0));
                if l > 0 {
                    let mut da = grad.dot(&layers[l].weight);
                    let act = layers[l - 1].activation;
                    da.zip_mut_with(&pre[l - 1], |g, &z| *g *= act.derivative(z as f64) as f32);
                    grad = da;
                }
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
