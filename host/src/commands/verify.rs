//! `fpga-host verify`: the RTL against the golden model, image by image, spike for spike.

use super::{DataArgs, HwArgs, print_json};
use crate::progress;
use anyhow::{Result, anyhow};
use clap::{Args, ValueEnum};
use fs_hdl::accelerator::Accelerator;
use fs_hdl::run::{Spike, golden_spikes, run_images};
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// RustHDL's own simulation of the accelerator (slow: seconds per MNIST image).
    Rusthdl,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Test images to run.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// Simulator of the RTL.
    #[arg(long, value_enum, default_value_t = Engine::Rusthdl)]
    pub engine: Engine,
    #[command(flatten)]
    pub hw: HwArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where the RTL first left the golden model.
#[derive(Serialize)]
struct Mismatch {
    image: usize,
    /// "input" for the input encoder, "hidden1".. for hidden layers, "output" for logits.
    stage: String,
    /// The event's position in the stage's bus order.
    event: usize,
    rtl: Option<Spike>,
    golden: Option<Spike>,
    detail: String,
}

#[derive(Serialize)]
struct Report {
    engine: Engine,
    images: usize,
    lanes: Vec<usize>,
    mismatches: usize,
    first_mismatch: Option<Mismatch>,
    rtl_accuracy: f64,
    fs_fixed_accuracy: f64,
    /// Cycles from the first pixel to the first image's class.
    latency_cycles: u64,
    /// Steady-state cycles between consecutive classes (the pipeline's image interval).
    cycles_per_image: f64,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let test = args.data.load()?.test.take(args.count);
    let config = args.hw.config(&model)?;
    let mut accel = Accelerator::new(&model, &config).map_err(|e| anyhow!("{e}"))?;
    let images: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
    for image in &images {
        model.input().check_image(image)?;
    }
    let bar = progress::bar(images.len() as u64, "simulating");
    // One run streams every image through the pipeline; the bar shows the run as a whole.
    let (runs, _) = run_images(
        &mut accel,
        &images,
        4_000_000 * images.len() as u64 + 1_000_000,
    )?;
    bar.finish_and_clear();
    let engine = FixedEngine::new(&model);
    let mut mismatches = 0;
    let mut first = None;
    let (mut rtl_correct, mut golden_correct) = (0, 0);
    for (n, run) in runs.iter().enumerate() {
        let golden = engine.run(images[n]);
        let label = test.label(n);
        rtl_correct += (run.class == label) as usize;
        golden_correct += (golden.class() == label) as usize;
        let found = first_difference(n, run, &golden);
        if let Some(m) = found {
            mismatches += 1;
            first.get_or_insert(m);
        }
    }
    let n = runs.len();
    let report = Report {
        engine: args.engine,
        images: n,
        lanes: config.lanes.clone(),
        mismatches,
        first_mismatch: first,
        rtl_accuracy: rtl_correct as f64 / n.max(1) as f64,
        fs_fixed_accuracy: golden_correct as f64 / n.max(1) as f64,
        latency_cycles: runs.first().map_or(0, |r| r.done_cycle),
        cycles_per_image: if n > 1 {
            (runs[n - 1].done_cycle - runs[0].done_cycle) as f64 / (n - 1) as f64
        } else {
            runs.first().map_or(0.0, |r| r.done_cycle as f64)
        },
    };
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{} images through the RTL ({:?} simulation, lanes {:?})",
            report.images, report.engine, report.lanes
        );
        println!("  mismatches          {}", report.mismatches);
        if let Some(m) = &report.first_mismatch {
            println!(
                "  first mismatch      image {}, {}: {}",
                m.image, m.stage, m.detail
            );
        }
        println!("  RTL accuracy        {:.4}", report.rtl_accuracy);
        println!("  golden FS fixed     {:.4}", report.fs_fixed_accuracy);
        println!("  latency             {} cycles", report.latency_cycles);
        println!("  cycles per image    {:.0}", report.cycles_per_image);
    }
    if report.mismatches > 0 {
        return Err(anyhow!(
            "{} of {} images differ from the golden model",
            report.mismatches,
            n
        ));
    }
    Ok(())
}

fn first_difference(
    image: usize,
    run: &fs_hdl::run::ImageRun,
    golden: &fs_model::infer::FixedRun,
) -> Option<Mismatch> {
    for (s, (rtl, gold)) in run.spikes.iter().zip(golden_spikes(golden)).enumerate() {
        if let Some(k) = (0..rtl.len().max(gold.len())).find(|&k| rtl.get(k) != gold.get(k)) {
            let stage = if s == 0 {
                "input".to_string()
            } else {
                format!("hidden{s}")
            };
            let show = |e: Option<&Spike>| match e {
                Some((i, t)) => format!("neuron {i} at step {}", t + 1),
                None => "nothing".to_string(),
            };
            return Some(Mismatch {
                image,
                detail: format!(
                    "spike event {k}: RTL has {}, golden has {}",
                    show(rtl.get(k)),
                    show(gold.get(k))
                ),
                stage,
                event: k,
                rtl: rtl.get(k).copied(),
                golden: gold.get(k).copied(),
            });
        }
    }
    if let Some(j) = (0..run.logits.len().max(golden.logits.len()))
        .find(|&j| run.logits.get(j) != golden.logits.get(j))
    {
        return Some(Mismatch {
            image,
            stage: "output".into(),
            event: j,
            rtl: None,
            golden: None,
            detail: format!(
                "logit {j}: RTL {:?}, golden {:?}",
                run.logits.get(j),
                golden.logits.get(j)
            ),
        });
    }
    None
}
