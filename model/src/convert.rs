//! ANN -> FS-SNN conversion: layer normalisation, quantisation, IMP and the input encoding.
//!
//! Per layer `l`, with `u` the float value of one unit of the sender's output (for the input
//! encoding `u = 1 / max_value`):
//! 1. **Weights.** `weight unit = max|w| / (2^(weight_bits-1) - 1)`, `W = round(w / unit)`:
//!    the largest weight uses the full width.
//! 2. **Accumulator.** One accumulator unit is `s = weight unit * u`, so a spike `(i, t)` adds
//!    `W_ji * D(t)` exactly; `B = round(b / s)`.
//! 3. **Normalisation (ReLU).** The layer's range `alpha` is a percentile of the positive
//!    pre-activations of the calibration images (data-based; the percentile is picked from
//!    candidates by accuracy on a validation split of the training set unless given). The neuron
//!    is the binary-code neuron `T = h = d = alpha 2^-t`. With `pow2_scales`, `alpha` is rounded
//!    up so that `q = alpha 2^-K` is `2^m` accumulator units: thresholds become powers of two
//!    (`T(t) = H(t) = 2^(m+K-t)`) and the neuron is a shift-and-compare.
//!    Non-homogeneous activations (SiLU, sigmoid) keep their fitted range (lambda = 1).
//! 4. **Output values.** A ReLU spike at step `t` is worth `D(t) = 2^(K-t)` units of `q`; other
//!    activations quantise `d` to 15 bits of their largest magnitude.
//! 5. **IMP.** For ReLU the initial membrane offset `q / 2` turns the converter's truncation into
//!    rounding; it is one constant per layer added to every accumulator's initial value.
//! 6. **Widths.** Unless given, `membrane_bits` is the smallest width that no partial sum can
//!    leave (so no saturation can ever occur) and `param_bits` the smallest that holds every `D`.
//!
//! Convolutions are converted as dense layers are (one weight unit per layer, one bias per
//! output channel, the range `alpha` over all the layer's neurons). Max pooling keeps its
//! sender's unit; after an average pool one input unit of the next layer is the pooled
//! layer's spike unit divided by the window's size, which the next layer's accumulator unit
//! carries (the integer engine adds the window's spikes unscaled).

use crate::activation::Activation;
use crate::data::Dataset;
use crate::eval::fixed_accuracy;
use crate::fixed::{FixedFormat, MAX_MEMBRANE_BITS, SignedRange, bits_for_magnitude};
use crate::infer::ann_forward_batch;
use crate::network::{
    Ann, ConversionInfo, FsLayer, LayerKind, Model, PoolKind, Units, accumulation_bounds,
};
use crate::neuron::{FsParams, FsRom};
use anyhow::{Context, Result, bail, ensure};
use ndarray::Array2;
use serde::Serialize;
use std::collections::HashMap;

/// Percentiles tried when none is given.
pub const ALPHA_PERCENTILES: [f64; 5] = [99.0, 99.5, 99.9, 99.99, 100.0];

#[derive(Clone, Debug)]
pub struct ConvertConfig {
    /// Time steps of ReLU hidden neurons.
    pub k: usize,
    pub weight_bits: u32,
    /// `None`: the smallest width that cannot saturate (at most 32).
    pub membrane_bits: Option<u32>,
    /// `None`: the smallest width holding every spike value.
    pub param_bits: Option<u32>,
    /// `None`: pick from [`ALPHA_PERCENTILES`] by validation accuracy.
    pub alpha_percentile: Option<f64>,
    pub imp: bool,
    pub pow2_scales: bool,
    /// FS parameters for non-ReLU activations (defaults: the published sets).
    pub neuron_params: HashMap<Activation, FsParams>,
    /// Recorded in the model file.
    pub source: String,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig {
            k: 8,
            weight_bits: 8,
            membrane_bits: None,
            param_bits: None,
            alpha_percentile: None,
            imp: true,
            pow2_scales: true,
            neuron_params: HashMap::new(),
            source: String::new(),
        }
    }
}

/// One tried percentile and how the converted network did on the validation images.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub alpha_percentile: f64,
    pub validation_accuracy: f64,
    pub spikes_per_neuron: f64,
}

/// The converted model and what the conversion measured.
#[derive(Clone, Debug)]
pub struct Conversion {
    pub model: Model,
    pub candidates: Vec<Candidate>,
    /// Validation accuracy (FS fixed point) with and without the IMP offset.
    pub accuracy_with_imp: f64,
    pub accuracy_without_imp: f64,
    pub validation_images: usize,
}

/// Converts `ann`, normalising on `calibration` and choosing on `validation`.
pub fn convert(
    ann: &Ann,
    calibration: &Dataset,
    validation: &Dataset,
    config: &ConvertConfig,
) -> Result<Conversion> {
    ann.validate()?;
    ensure!(
        (1..=crate::neuron::MAX_K).contains(&config.k),
        "K = {} is outside 1..={}",
        config.k,
        crate::neuron::MAX_K
    );
    ensure!(!calibration.is_empty(), "no calibration images");
    ensure!(!validation.is_empty(), "no validation images");
    for data in [calibration, validation] {
        ensure!(
            data.kind.input_size() == ann.input.size(),
            "the {} images have {} pixels, the network takes {}",
            data.kind,
            data.kind.input_size(),
            ann.input.size()
        );
        ensure!(
            data.max_value == ann.input.max_value,
            "the {} images' pixels run to {}, the network's input to {}: rescale the images \
             (Dataset::rescaled) first",
            data.kind,
            data.max_value,
            ann.input.max_value
        );
    }
    let positives = hidden_positive_preactivations(ann, calibration);
    let normalised = ann.layers.iter().any(|l| l.activation == Activation::Relu);
    let percentiles: Vec<f64> = match config.alpha_percentile {
        Some(p) => {
            ensure!(
                p > 0.0 && p <= 100.0,
                "alpha percentile {p} is outside (0, 100]"
            );
            vec![p]
        }
        None if normalised => ALPHA_PERCENTILES.to_vec(),
        // Without ReLU layers there is no range to choose: one conversion.
        None => vec![100.0],
    };
    let mut best: Option<(Model, f64, f64)> = None;
    let mut candidates = Vec::new();
    for &p in &percentiles {
        let alphas: Vec<f64> = positives.iter().map(|v| percentile(v, p)).collect();
        let model = build(ann, &alphas, config, config.imp, calibration.len(), p)?;
        let (acc, spikes) = fixed_accuracy(&model, validation)?;
        candidates.push(Candidate {
            alpha_percentile: p,
            validation_accuracy: acc,
            spikes_per_neuron: spikes,
        });
        let better = best
            .as_ref()
            .is_none_or(|(_, a, s)| acc > *a || (acc == *a && spikes < *s));
        if better {
            best = Some((model, acc, spikes));
        }
    }
    let (model, accuracy, _) = best.expect("at least one candidate");
    let p = model.conversion.alpha_percentile.unwrap_or(100.0);
    let alphas: Vec<f64> = positives.iter().map(|v| percentile(v, p)).collect();
    let other = build(ann, &alphas, config, !config.imp, calibration.len(), p)?;
    let (other_accuracy, _) = fixed_accuracy(&other, validation)?;
    let (accuracy_with_imp, accuracy_without_imp) = if config.imp {
        (accuracy, other_accuracy)
    } else {
        (other_accuracy, accuracy)
    };
    Ok(Conversion {
        model,
        candidates,
        accuracy_with_imp,
        accuracy_without_imp,
        validation_images: validation.len(),
    })
}

/// Positive pre-activations of every hidden layer over the calibration images, sorted.
pub(crate) fn hidden_positive_preactivations(ann: &Ann, data: &Dataset) -> Vec<Vec<f32>> {
    let hidden = ann.layers.len() - 1;
    let mut values = vec![Vec::new(); hidden];
    let size = ann.input.size();
    let plain = ann
        .layers
        .iter()
        .all(|l| l.kind == LayerKind::Dense && l.pool.is_none());
    if !plain {
        // Convolutions and pooling: image by image, through the float ANN's own layers.
        for i in 0..data.len() {
            let pre = crate::infer::ann_preactivations(ann, data.image(i));
            for (l, z) in pre[..hidden].iter().enumerate() {
                values[l].extend(z.iter().filter(|&&v| v > 0.0).map(|&v| v as f32));
            }
        }
        for v in &mut values {
            v.sort_by(f32::total_cmp);
        }
        return values;
    }
    for start in (0..data.len()).step_by(1024) {
        let end = (start + 1024).min(data.len());
        let truncated = Ann {
            input: ann.input,
            layers: Vec::new(),
        };
        let mut x: Array2<f32> =
            ann_forward_batch(&truncated, &data.pixels[start * size..end * size]);
        for (l, layer) in ann.layers[..hidden].iter().enumerate() {
            let z = x.dot(&layer.weight.t()) + &layer.bias;
            values[l].extend(z.iter().copied().filter(|&v| v > 0.0));
            x = z.mapv(|v| layer.activation.apply(v as f64) as f32);
        }
    }
    for v in &mut values {
        v.sort_by(f32::total_cmp);
    }
    values
}

/// The `p`-th percentile of sorted values (nearest rank); 1.0 when there are none.
pub(crate) fn percentile(sorted: &[f32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 1.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Builds the FS model for given ReLU ranges (`alphas[l]` for hidden layer `l`).
fn build(
    ann: &Ann,
    alphas: &[f64],
    config: &ConvertConfig,
    imp: bool,
    calibration_images: usize,
    alpha_percentile: f64,
) -> Result<Model> {
    let weight_range = SignedRange::of_bits(config.weight_bits);
    let mut in_unit = 1.0 / ann.input.max_value as f64;
    let mut layers = Vec::new();
    let mut lambdas = Vec::new();
    for (l, layer) in ann.layers.iter().enumerate() {
        let ctx = || format!("converting layer {l}");
        let wmax = layer
            .weight
            .iter()
            .fold(0.0f64, |m, &w| m.max((w as f64).abs()));
        let weight_unit = if wmax > 0.0 {
            wmax / weight_range.max as f64
        } else {
            1.0
        };
        let acc = weight_unit * in_unit;
        let weight = layer.weight.mapv(|w| {
            ((w as f64 / weight_unit).round() as i64).clamp(weight_range.min, weight_range.max)
                as i16
        });
        let bias = layer
            .bias
            .iter()
            .map(|&b| {
                let q = (b as f64 / acc).round();
                i32::try_from(q as i64)
                    .ok()
                    .filter(|_| q.abs() < i32::MAX as f64)
                    .with_context(|| {
                        format!("bias {b} is {q} accumulator units, more than 32 bits")
                    })
            })
            .collect::<Result<Vec<i32>>>()
            .with_context(ctx)?;
        let (neuron, rom, imp_float, imp_int, out, lambda) = match layer.activation {
            Activation::Identity => (None, None, 0.0, 0, None, 1.0),
            Activation::Relu => {
                let mut q = alphas[l] / (1u64 << config.k) as f64;
                if config.pow2_scales {
                    q = acc * 2f64.powi((q / acc).log2().ceil() as i32);
                }
                let lambda = q * (1u64 << config.k) as f64;
                let neuron = FsParams::relu(config.k, 1.0).scaled(lambda);
                let imp_float = if imp { q / 2.0 } else { 0.0 };
                let rom = quantise_rom(&neuron, acc, q);
                let imp_int = (imp_float / acc).round() as i32;
                (Some(neuron), Some(rom), imp_float, imp_int, Some(q), lambda)
            }
            act => {
                let neuron = match config.neuron_params.get(&act) {
                    Some(p) => p.clone(),
                    None => act
                        .default_params(None)?
                        .expect("hidden activations have params"),
                };
                neuron.validate().with_context(ctx)?;
                let dmax = neuron.d.iter().fold(0.0f64, |m, d| m.max(d.abs()));
                let out = if dmax > 0.0 { dmax / 16383.0 } else { 1.0 };
                let rom = quantise_rom(&neuron, acc, out);
                (Some(neuron), Some(rom), 0.0, 0, Some(out), 1.0)
            }
        };
        lambdas.push(lambda);
        layers.push(FsLayer {
            neuron,
            imp_float,
            weight,
            bias,
            imp: imp_int,
            rom,
            units: Units {
                weight: weight_unit,
                acc,
                out,
            },
        });
        if let Some(o) = out {
            // An average pool hands the next layer the mean of its window: one unit of the
            // next layer's input is a spike unit over the window's size.
            in_unit = match layer.pool {
                Some(p) if p.kind == PoolKind::Avg => o / (p.window * p.window) as f64,
                _ => o,
            };
        }
    }
    let alphas_used = ann.layers.iter().any(|l| l.activation == Activation::Relu);
    let format = choose_format(ann, &layers, config)?;
    let model = Model {
        ann: ann.clone(),
        format,
        layers,
        conversion: ConversionInfo {
            source: config.source.clone(),
            alpha_percentile: alphas_used.then_some(alpha_percentile),
            lambda: lambdas,
            calibration_images,
            imp,
            pow2_scales: config.pow2_scales,
        },
    };
    model
        .validate()
        .context("the converted model does not fit the requested fixed-point format")?;
    Ok(model)
}

/// The integer ROM of a float neuron: `T`, `H` in accumulator units, `D` in output units, rounded.
pub fn quantise_rom(neuron: &FsParams, acc_unit: f64, out_unit: f64) -> FsRom {
    let q = |v: &Vec<f64>, unit: f64| v.iter().map(|x| (x / unit).round() as i64).collect();
    FsRom {
        t: q(&neuron.t, acc_unit),
        h: q(&neuron.h, acc_unit),
        d: q(&neuron.d, out_unit),
    }
}

/// Picks the widths: given ones are checked, missing ones are the smallest that are safe.
fn choose_format(ann: &Ann, layers: &[FsLayer], config: &ConvertConfig) -> Result<FixedFormat> {
    let mut membrane_need = 0u64;
    let mut d_max = ann.input.spike_values()[0].unsigned_abs();
    for (layer, bounds) in
        layers
            .iter()
            .zip(accumulation_bounds(&ann.input, &ann.geometry()?, layers))
    {
        // The fire phase can grow the membrane by the negative resets.
        let growth: u64 = layer.rom.as_ref().map_or(0, |rom| {
            rom.h
                .iter()
                .filter(|&&h| h < 0)
                .map(|h| h.unsigned_abs())
                .sum()
        });
        membrane_need = membrane_need.max(bounds.iter().max().copied().unwrap_or(0) + growth);
        if let Some(rom) = &layer.rom {
            for v in rom.t.iter().chain(&rom.h) {
                membrane_need = membrane_need.max(v.unsigned_abs());
            }
            d_max = d_max.max(rom.d.iter().map(|d| d.unsigned_abs()).max().unwrap_or(0));
        }
    }
    let membrane_bits = match config.membrane_bits {
        Some(b) => b,
        None => bits_for_magnitude(membrane_need).clamp(8, MAX_MEMBRANE_BITS),
    };
    let param_bits = match config.param_bits {
        Some(b) => b,
        None => bits_for_magnitude(d_max).max(2),
    };
    let format = FixedFormat {
        weight_bits: config.weight_bits,
        membrane_bits,
        param_bits,
    };
    if let Err(e) = format.validate() {
        bail!(
            "{e:#} (the conversion needs param_bits >= {})",
            bits_for_magnitude(d_max)
        );
    }
    Ok(format)
}
