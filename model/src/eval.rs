//! Evaluation of a model on a data set: the three accuracies, spike statistics, operation
//! counts, saturations and the confusion matrix.

use crate::data::Dataset;
use crate::infer::{FixedEngine, argmax, fs_float_logits};
use crate::network::Model;
use anyhow::{Result, ensure};
use rayon::prelude::*;
use serde::Serialize;

/// Spikes of one stage (the input encoding or a hidden layer).
#[derive(Clone, Debug, Serialize)]
pub struct StageStats {
    pub name: String,
    pub neurons: usize,
    pub steps: usize,
    pub spikes_per_image: f64,
    pub spikes_per_neuron: f64,
    /// The most receivers of one spike (every neuron of a dense layer; a convolution's
    /// senders at the map's edges have fewer).
    pub fan_out: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub images: usize,
    pub ann_accuracy: f64,
    pub fs_float_accuracy: f64,
    pub fs_fixed_accuracy: f64,
    /// Fraction of images where FS fixed point and the ANN pick the same class.
    pub fixed_agrees_with_ann: f64,
    /// Mean spikes per hidden neuron per image.
    pub spikes_per_neuron: f64,
    pub layers: Vec<StageStats>,
    /// Spike events times the receivers of their sender, per image (all stages).
    pub synaptic_ops_per_image: f64,
    pub ann_macs_per_image: usize,
    /// Saturations per layer over all images (accumulation and fire phase).
    pub saturations: Vec<u64>,
    pub saturations_total: u64,
    /// `confusion[label][predicted]`, FS fixed point.
    pub confusion: Vec<Vec<u64>>,
}

fn check_data(model: &Model, data: &Dataset) -> Result<()> {
    ensure!(
        data.kind.input_size() == model.input().size() && data.max_value == model.input().max_value,
        "the {} images ({} pixels of 0..={}) do not match the model's input ({} pixels of 0..={})",
        data.kind,
        data.kind.input_size(),
        data.max_value,
        model.input().size(),
        model.input().max_value
    );
    ensure!(!data.is_empty(), "no images to evaluate");
    Ok(())
}

/// FS fixed-point accuracy and mean spikes per hidden neuron (for the converter's choices).
pub fn fixed_accuracy(model: &Model, data: &Dataset) -> Result<(f64, f64)> {
    check_data(model, data)?;
    let engine = FixedEngine::new(model);
    let hidden: usize = model.stage_sizes()[1..].iter().sum();
    let (correct, spikes) = (0..data.len())
        .into_par_iter()
        .map(|i| {
            let run = engine.run(data.image(i));
            let spikes = run.spike_counts()[1..].iter().sum::<u64>();
            ((run.class() == data.label(i)) as usize, spikes)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    Ok((
        correct as f64 / data.len() as f64,
        spikes as f64 / (hidden.max(1) * data.len()) as f64,
    ))
}

/// Runs every image three ways. `progress(done)` is called every few images.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    progress: &mut dyn FnMut(usize),
) -> Result<EvalReport> {
    check_data(model, data)?;
    let engine = FixedEngine::new(model);
    let classes = model.layers.last().map_or(0, |l| l.outputs());
    let mut synaptic_ops = 0u64;
    let n = data.len();
    let ann_correct = ann_correct(model, data);
    let mut float_correct = 0;
    let mut fixed_correct = 0;
    let mut agree = 0;
    let stages = model.steps().len();
    let mut spikes = vec![0u64; stages];
    let mut saturations = vec![0u64; model.layers.len()];
    let mut confusion = vec![vec![0u64; classes]; classes.max(10)];
    // Blocks of images run on every core; the sums are taken in image order.
    const BLOCK: usize = 256;
    for start in (0..n).step_by(BLOCK) {
        let images: Vec<&[u8]> = (start..n.min(start + BLOCK))
            .map(|i| data.image(i))
            .collect();
        let runs = engine.run_batch(&images);
        let floats: Vec<usize> = images
            .par_iter()
            .map(|image| argmax(&fs_float_logits(model, image)))
            .collect();
        for (k, (run, float)) in runs.iter().zip(floats).enumerate() {
            let i = start + k;
            let label = data.label(i);
            let fixed = run.class();
            fixed_correct += (fixed == label) as usize;
            agree += (fixed == ann_correct.1[i]) as usize;
            float_correct += (float == label) as usize;
            synaptic_ops += engine.synaptic_ops(run);
            for (s, c) in run.spike_counts().into_iter().enumerate() {
                spikes[s] += c;
            }
            for (l, c) in run.saturations.iter().enumerate() {
                saturations[l] += c;
            }
            if label < confusion.len() && fixed < classes {
                confusion[label][fixed] += 1;
            }
        }
        progress(n.min(start + BLOCK));
    }
    let widths = model.stage_sizes();
    let steps = model.steps();
    let layers: Vec<StageStats> = (0..stages)
        .map(|s| StageStats {
            name: if s == 0 {
                "input".into()
            } else {
                format!("hidden{s}")
            },
            neurons: widths[s],
            steps: steps[s],
            spikes_per_image: spikes[s] as f64 / n as f64,
            spikes_per_neuron: spikes[s] as f64 / (n * widths[s]) as f64,
            fan_out: engine.max_fan_out(s),
        })
        .collect();
    let hidden_neurons: usize = layers[1..].iter().map(|l| l.neurons).sum();
    let hidden_spikes: u64 = spikes[1..].iter().sum();
    Ok(EvalReport {
        dataset: data.kind.to_string(),
        images: n,
        ann_accuracy: ann_correct.0 as f64 / n as f64,
        fs_float_accuracy: float_correct as f64 / n as f64,
        fs_fixed_accuracy: fixed_correct as f64 / n as f64,
        fixed_agrees_with_ann: agree as f64 / n as f64,
        spikes_per_neuron: hidden_spikes as f64 / (hidden_neurons.max(1) * n) as f64,
        synaptic_ops_per_image: synaptic_ops as f64 / n as f64,
        layers,
        ann_macs_per_image: model.ann.macs(),
        saturations_total: saturations.iter().sum(),
        saturations,
        confusion,
    })
}

/// ANN correct count and per-image classes, batched.
fn ann_correct(model: &Model, data: &Dataset) -> (usize, Vec<usize>) {
    let size = model.input().size();
    let mut classes = Vec::with_capacity(data.len());
    for start in (0..data.len()).step_by(512) {
        let end = (start + 512).min(data.len());
        let logits =
            crate::infer::ann_forward_batch(&model.ann, &data.pixels[start * size..end * size]);
        classes.extend(logits.outer_iter().map(|r| argmax(r.as_slice().unwrap())));
    }
    let correct = classes
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == data.label(i))
        .count();
    (correct, classes)
}
