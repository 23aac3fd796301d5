//! `fpga-host eval`: the golden model on a test set.

use super::{DataArgs, print_json};
use crate::images::{self, ImageResult};
use crate::progress;
use anyhow::{Context, Result};
use clap::Args;
use fs_model::eval::{EvalReport, evaluate};
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use fs_model::network::Model;
use fs_model::rate::{CodingResult, RateNetwork, fs_and_amos};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct EvalArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate only the first N test images.
    #[arg(long)]
    pub count: Option<usize>,
    /// Classify these files instead of a test set (no labels: the FS fixed-point class and
    /// logits of each): PNG, JPEG, PGM/PPM pictures, folders of them, or .npy arrays, made
    /// into the model's input by the rule in the README.
    #[arg(long, num_args = 1.., conflicts_with_all = ["count", "dataset"])]
    pub images: Vec<PathBuf>,
    /// With --images: the results as CSV (one line per file) instead of a table.
    #[arg(long, requires = "images", conflicts_with = "json")]
    pub csv: bool,
    /// Also run the rate-coded integrate-and-fire baseline of the same ANN for these numbers
    /// of time steps (e.g. 32,64,128,256), normalised on training images (Rueckauer et al.).
    #[arg(long, value_delimiter = ',')]
    pub rate_steps: Vec<usize>,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct FilesOutput {
    model: String,
    images: usize,
    files: Vec<ImageResult>,
}

/// The golden model (FS fixed point) on the user's files: one result per file.
fn run_files(args: &EvalArgs, model: &Model) -> Result<()> {
    let files = images::load(&args.images, model.input())?;
    let engine = FixedEngine::new(model);
    let results: Vec<ImageResult> = files
        .par_iter()
        .map(|f| {
            let run = engine.run(&f.pixels);
            ImageResult {
                file: f.name.clone(),
                class: Some(run.class()),
                logits: run.logits,
                golden_class: None,
                golden_logits: None,
            }
        })
        .collect();
    if args.json {
        return print_json(&FilesOutput {
            model: args.model.display().to_string(),
            images: results.len(),
            files: results,
        });
    }
    images::print_results(&results, args.csv);
    Ok(())
}

#[derive(Serialize)]
struct Output<'a> {
    model: String,
    #[serde(flatten)]
    report: &'a EvalReport,
    /// FS coding, its AMOS view and (with --rate-steps) rate coding: accuracy, spikes per
    /// neuron, latency in time steps.
    codings: Vec<CodingResult>,
    seconds: f64,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    if !args.images.is_empty() {
        return run_files(&args, &model);
    }
    let split = args.data.load_for(model.input())?;
    let test = match args.count {
        Some(n) => split.test.take(n),
        None => split.test,
    };
    let bar = progress::bar(test.len() as u64, "evaluating", args.json);
    let start = Instant::now();
    let report = evaluate(&model, &test, &mut |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let mut codings = fs_and_amos(&report).to_vec();
    if !args.rate_steps.is_empty() {
        let rate = RateNetwork::calibrated(&model.ann, &split.train).context("rate coding")?;
        codings.extend(rate.evaluate(&test, &args.rate_steps));
    }
    let out = Output {
        model: args.model.display().to_string(),
        report: &report,
        codings,
        seconds: start.elapsed().as_secs_f64(),
    };
    if args.json {
        return print_json(&out);
    }
    print_table(&out);
    Ok(())
}

fn print_table(out: &Output) {
    let r = out.report;
    println!(
        "model {} on {} ({} test images, {:.1} s)",
        out.model, r.dataset, r.images, out.seconds
    );
    println!("  ANN float accuracy       {:.4}", r.ann_accuracy);
    println!("  FS float accuracy        {:.4}", r.fs_float_accuracy);
    println!("  FS fixed-point accuracy  {:.4}", r.fs_fixed_accuracy);
    println!("  FS fixed agrees with ANN {:.4}", r.fixed_agrees_with_ann);
    println!("  spikes per hidden neuron {:.3}", r.spikes_per_neuron);
    println!(
        "  synaptic ops per image   {:.0} (ANN MACs {})",
        r.synaptic_ops_per_image, r.ann_macs_per_image
    );
    println!(
        "  saturations              {} {:?}",
        r.saturations_total, r.saturations
    );
    println!("  stage      neurons  K  spikes/image  spikes/neuron  fan-out");
    for l in &r.layers {
        println!(
            "  {:<9} {:>8} {:>2} {:>13.1} {:>14.3} {:>8}",
            l.name, l.neurons, l.steps, l.spikes_per_image, l.spikes_per_neuron, l.fan_out
        );
    }
    println!("  coding  steps  accuracy  spikes/neuron  latency (steps)");
    for c in &out.codings {
        println!(
            "  {:<6} {:>6} {:>9.4} {:>14.3} {:>16}",
            c.coding, c.steps, c.accuracy, c.spikes_per_neuron, c.latency_steps
        );
    }
    println!("  confusion (rows: label, columns: FS fixed-point class)");
    for (label, row) in r.confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>5}")).collect();
        println!("  {label}: {}", cells.join(""));
    }
}
