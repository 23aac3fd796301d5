//! The baselines FS coding is measured against: a rate-coded integrate-and-fire network of the
//! same ANN, and the AMOS view of the FS network.
//!
//! **Rate coding** (Rueckauer et al. 2017, "Conversion of continuous-valued deep networks to
//! efficient event-driven networks for image classification"): the input is an analog current
//! (the pixel's value, every step); every hidden ReLU neuron integrates `W s(t) + b` with
//! weights and biases normalised by the data (`lambda_l`, the 99.9th percentile of layer `l`'s
//! positive activations on calibration images: `W_l lambda_{l-1} / lambda_l`, `b_l / lambda_l`),
//! fires when its membrane reaches 1 and is reset by subtraction, so its rate approximates its
//! ReLU activation over `lambda_l`; the output layer integrates without firing and its largest
//! membrane after `T` steps is the class. Dense and convolution layers and average pooling run;
//! max pooling has no rate-coded equivalent here and is refused.
//!
//! **AMOS** (Stöckl and Maass, arXiv 2001.01682) unrolls each FS neuron in space: `K` neurons,
//! one per step, each firing at most once. Its spikes are the FS network's, so its accuracy is
//! the FS fixed-point accuracy; counted per AMOS neuron there are `K` times as many neurons.

use crate::activation::Activation;
use crate::convert::{hidden_positive_preactivations, percentile};
use crate::data::Dataset;
use crate::eval::EvalReport;
use crate::geometry::PoolKind;
use crate::infer::{argmax, linear, pool_values};
use crate::network::Ann;
use anyhow::{Result, bail, ensure};
use rayon::prelude::*;
use serde::Serialize;

/// Rueckauer et al.'s robust normalisation percentile.
pub const NORMALISATION_PERCENTILE: f64 = 99.9;

/// The rate-coded network: the ANN and each hidden layer's normalisation `lambda_l`.
#[derive(Clone, Debug)]
pub struct RateNetwork<'a> {
    ann: &'a Ann,
    lambdas: Vec<f64>,
}

/// What one image did in `T` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct RateRun {
    /// The output layer's membranes after the last step.
    pub logits: Vec<f64>,
    /// Spikes of every hidden layer.
    pub spikes: Vec<u64>,
}

impl RateRun {
    pub fn class(&self) -> usize {
        argmax(&self.logits)
    }
}

/// Accuracy, spikes and latency of one coding on a data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodingResult {
    /// `rate`, `fs` or `amos`.
    pub coding: String,
    /// Time steps: `T` for rate coding, `K` of the hidden neurons for FS and AMOS.
    pub steps: usize,
    pub accuracy: f64,
    /// Spikes per image over every hidden neuron (for AMOS, over its `K` neurons per FS neuron).
    pub spikes_per_neuron: f64,
    /// Time steps from the first input to the class, one image alone: `T` for rate coding
    /// (every step counts), `K` per spiking stage (the input code's `bits`, then each hidden
    /// layer's `K`) for FS and AMOS.
    pub latency_steps: usize,
}

/// Training images the baseline is normalised on (as many as the conversion's calibration).
pub const CALIBRATION_IMAGES: usize = 10_000;

impl<'a> RateNetwork<'a> {
    /// Normalises `ann` on the first [`CALIBRATION_IMAGES`] of the `training` images.
    pub fn calibrated(ann: &'a Ann, training: &Dataset) -> Result<Self> {
        Self::new(ann, &training.take(CALIBRATION_IMAGES))
    }

    /// Normalises `ann` on the `calibration` images. Refuses what integrate-and-fire neurons
    /// cannot stand for (a hidden activation other than ReLU, max pooling).
    pub fn new(ann: &'a Ann, calibration: &Dataset) -> Result<Self> {
        let hidden = ann.layers.len() - 1;
        for (l, layer) in ann.layers[..hidden].iter().enumerate() {
            if layer.activation != Activation::Relu {
                bail!(
                    "layer {l}: rate coding stands for ReLU neurons only, not {}",
                    layer.activation
                );
            }
            if matches!(layer.pool, Some(p) if p.kind == PoolKind::Max) {
                bail!("layer {l}: rate coding has no max pooling (average pooling runs)");
            }
        }
        ensure!(!calibration.is_empty(), "no calibration images");
        let lambdas = hidden_positive_preactivations(ann, calibration)
            .iter()
            .map(|values| percentile(values, NORMALISATION_PERCENTILE).max(f64::MIN_POSITIVE))
            .collect();
        Ok(RateNetwork { ann, lambdas })
    }

    /// Runs one image for `steps` time steps.
    pub fn run(&self, pixels: &[u8], steps: usize) -> RateRun {
        let ann = self.ann;
        let geometry = ann.geometry().expect("a validated network");
        let layers = ann.layers.len();
        // What one spike of layer l's input stands for (the input's analog value: 1), and the
        // normalisation of layer l's own output (the output layer's: none).
        let in_scale = |l: usize| if l == 0 { 1.0 } else { self.lambdas[l - 1] };
        let out_scale = |l: usize| {
            if l + 1 == layers {
                1.0
            } else {
                self.lambdas[l]
            }
        };
        let current = |l: usize, input: &[f64]| -> Vec<f64> {
            let (g, layer) = (&geometry[l], &ann.layers[l]);
            let scaled: Vec<f64> = input.iter().map(|v| v * in_scale(l)).collect();
            linear(g, &layer.weight, |j| layer.bias[g.row(j)] as f64, &scaled)
                .into_iter()
                .map(|z| z / out_scale(l))
                .collect()
        };
        // The first layer's input is the same analog current every step.
        let x: Vec<f64> = pixels.iter().map(|&p| ann.input.value(p as u32)).collect();
        let constant = current(0, &x);
        let mut membranes: Vec<Vec<f64>> = geometry
            .iter()
            .map(|g| vec![0.0; g.neurons.size()])
            .collect();
        let mut spikes = vec![0u64; layers - 1];
        for _ in 0..steps {
            let mut input: Vec<f64> = Vec::new();
            for l in 0..layers {
                let added = match l {
                    0 => constant.clone(),
                    l => current(l, &input),
                };
                let v = &mut membranes[l];
                for (v, c) in v.iter_mut().zip(&added) {
                    *v += c;
                }
                if l + 1 == layers {
                    break;
                }
                // Fire at 1, reset by subtraction; the spikes (averaged by an average pool)
                // are the next layer's input this step.
                let fired: Vec<f64> = v
                    .iter_mut()
                    .map(|v| {
                        if *v >= 1.0 {
                            *v -= 1.0;
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect();
                spikes[l] += fired.iter().filter(|&&f| f > 0.0).count() as u64;
                input = pool_values(&geometry[l], fired);
            }
        }
        RateRun {
            logits: membranes.pop().unwrap_or_default(),
            spikes,
        }
    }

    /// Accuracy and spikes over `data` at each of `steps`.
    pub fn evaluate(&self, data: &Dataset, steps: &[usize]) -> Vec<CodingResult> {
        let neurons: usize = self.ann.geometry().expect("a validated network")
            [..self.ann.layers.len() - 1]
            .iter()
            .map(|g| g.neurons.size())
            .sum();
        steps
            .iter()
            .map(|&t| {
                let (correct, spikes) = (0..data.len())
                    .into_par_iter()
                    .map(|i| {
                        let run = self.run(data.image(i), t);
                        (
                            (run.class() == data.label(i)) as usize,
                            run.spikes.iter().sum::<u64>(),
                        )
                    })
                    .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                let n = data.len().max(1) as f64;
                CodingResult {
                    coding: "rate".into(),
                    steps: t,
                    accuracy: correct as f64 / n,
                    spikes_per_neuron: spikes as f64 / n / neurons.max(1) as f64,
                    latency_steps: t,
                }
            })
            .collect()
    }
}

/// The FS network and its AMOS view, from an evaluation: the same spikes and accuracy; AMOS
/// counts them over `K` neurons per FS neuron. Both take `K` steps per spiking stage.
pub fn fs_and_amos(report: &EvalReport) -> [CodingResult; 2] {
    let hidden = &report.layers[1.min(report.layers.len())..];
    let spikes: f64 = hidden.iter().map(|s| s.spikes_per_image).sum();
    let neurons: usize = hidden.iter().map(|s| s.neurons).sum();
    let unrolled: usize = hidden.iter().map(|s| s.neurons * s.steps).sum();
    let steps = hidden.iter().map(|s| s.steps).max().unwrap_or(0);
    let latency = report.layers.iter().map(|s| s.steps).sum();
    let coding = |name: &str, per: usize| CodingResult {
        coding: name.into(),
        steps,
        accuracy: report.fs_fixed_accuracy,
        spikes_per_neuron: spikes / per.max(1) as f64,
        latency_steps: latency,
    };
    [coding("fs", neurons), coding("amos", unrolled)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::data::DatasetKind;
    use crate::network::{AnnLayer, InputEncoding};
    use ndarray::{Array1, Array2, array};

    fn tiny() -> Ann {
        // An 8x8 input of which two pixels count, two hidden ReLU neurons (x0 + x1 and
        // x0 - x1), two outputs that copy them.
        let mut w = Array2::zeros((2, 64));
        w.slice_mut(ndarray::s![.., ..2])
            .assign(&array![[1.0, 1.0], [1.0, -1.0]]);
        Ann {
            input: InputEncoding {
                width: 8,
                height: 8,
                channels: 1,
                bits: 8,
                max_value: 255,
            },
            layers: vec![
                AnnLayer::dense(w, Array1::zeros(2), Activation::Relu),
                AnnLayer::dense(Array2::eye(2), Array1::zeros(2), Activation::Identity),
            ],
        }
    }

    /// Images whose first two pixels are `pairs`, the rest 0.
    fn data(pairs: &[[u8; 2]], labels: Vec<u8>) -> Dataset {
        Dataset {
            kind: DatasetKind::Digits,
            max_value: 255,
            pixels: pairs.iter().flat_map(|&p| image(p)).collect(),
            labels,
        }
    }

    fn image(pair: [u8; 2]) -> Vec<u8> {
        let mut pixels = vec![0; 64];
        pixels[..2].copy_from_slice(&pair);
        pixels
    }

    #[test]
    fn rates_approximate_the_relu_over_its_normalisation() {
        let ann = tiny();
        // Calibration: the largest activation of either hidden neuron is 2 (255 + 255).
        let calibration = data(&[[255, 255], [255, 0], [0, 0]], vec![0, 0, 0]);
        let net = RateNetwork::new(&ann, &calibration).unwrap();
        assert_eq!(net.lambdas, vec![2.0]);
        // x = (1, 0.5): hidden activations 1.5 and 0.5, rates 0.75 and 0.25 of lambda = 2.
        let run = net.run(&image([255, 128]), 400);
        let x1 = 128.0 / 255.0;
        assert!(
            (run.spikes[0] as f64 - 400.0 * (1.0 + x1) / 2.0 - 400.0 * (1.0 - x1) / 2.0).abs()
                <= 2.0,
            "{run:?}"
        );
        // The output membranes are the decoded rates times T: the ANN's logits, to a spike.
        assert!(
            (run.logits[0] / 400.0 - (1.0 + x1)).abs() <= 2.0 * 2.0 / 400.0,
            "{run:?}"
        );
        assert!(
            (run.logits[1] / 400.0 - (1.0 - x1)).abs() <= 2.0 * 2.0 / 400.0,
            "{run:?}"
        );
        assert_eq!(run.class(), 0);
        // Negative activations never fire: x = (0, 1) gives x0 - x1 = -1.
        assert_eq!(net.run(&image([0, 255]), 100).spikes[0], 100 / 2);
        let test = data(&[[255, 128], [0, 255]], vec![0, 0]);
        let r = net.evaluate(&test, &[50]);
        assert_eq!(
            (r[0].steps, r[0].latency_steps, r[0].accuracy),
            (50, 50, 1.0)
        );
    }

    #[test]
    fn other_activations_and_max_pooling_are_refused() {
        let mut ann = tiny();
        ann.layers[0].activation = Activation::Sigmoid;
        let calibration = data(&[[255, 255]], vec![0]);
        let e = RateNetwork::new(&ann, &calibration)
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 0") && e.contains("ReLU"), "{e}");
    }
}
