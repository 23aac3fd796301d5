//! `fpga-host verify`: the RTL against the golden model, image by image, spike for spike.

use super::{DataArgs, Engine, HwArgs, print_json};
use crate::progress;
use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Args;
use fs_hdl::core::accelerator::{Accelerator, pixel_words};
use fs_hdl::core::cycle_model::{ImageTraffic, Traffic, cycle_bounds};
use fs_hdl::core::pixel_conv_layer::from_pixels;
use fs_hdl::sim::compare::{ImageRun, Mismatch, first_difference};
use fs_hdl::sim::rusthdl::accelerator::run_images;
use fs_hdl::sim::verilator::accelerator::VerilatedAccelerator;
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
    #[arg(long, value_enum, default_value_t = Engine::Verilator)]
    pub engine: Engine,
    /// Where Verilator builds are cached.
    #[arg(long, default_value = "build/verilator")]
    pub build_dir: PathBuf,
    #[command(flatten)]
    pub hw: HwArgs,
    /// Also write one test image's simulation, every signal of the design cycle by cycle, to
    /// this VCD file (GTKWave, Surfer). The image runs alone through the Verilator build with
    /// tracing (needs verilator with either engine). On a mismatch, verify writes the first
    /// differing image's by itself (BUILD_DIR/mismatch-image-N.vcd) and says where.
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// The test image (0-based) --vcd writes (default: the first that differs, else 0).
    #[arg(long, requires = "vcd")]
    pub image: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A waveform written for one image.
#[derive(Serialize)]
struct Waveform {
    image: usize,
    path: PathBuf,
    /// Cycles simulated: from its first pixel to its class, alone in the pipeline.
    cycles: u64,
    /// Whether the image, run alone, differs from the golden model too.
    differs: bool,
}

/// Simulates test image `n` alone with tracing and writes the VCD to `path`.
fn write_waveform(
    accel: &mut Accelerator,
    engine: &FixedEngine,
    image: &[u8],
    n: usize,
    path: &Path,
    build_dir: &Path,
) -> Result<Waveform> {
    eprintln!(
        "building the traced Verilator simulation in {} ...",
        build_dir.display()
    );
    let sim = VerilatedAccelerator::build_traced(accel, build_dir)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let golden = engine.run(image);
    let mut result = None;
    sim.run_traced(&[image], 4_000_000, path, &mut |_, run| {
        result = Some(run);
        Ok(())
    })?;
    let run = result.context("the traced simulation returned no result")?;
    Ok(Waveform {
        image: n,
        path: path.to_path_buf(),
        cycles: run.done_cycle + 1,
        differs: first_difference(n, &run, &golden).is_some(),
    })
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
    /// The cycle model's interval: per image its slowest stage, the mean over the images.
    bound_cycles_per_image: f64,
    /// Per stage (input encoder, then each layer): analytical and measured cycles per image.
    stages: Vec<StageCycles>,
    /// The VCD written (`--vcd`, or the first mismatch's).
    #[serde(skip_serializing_if = "Option::is_none")]
    waveform: Option<Waveform>,
}

#[derive(Serialize)]
struct StageCycles {
    name: String,
    lanes: Option<usize>,
    bound_cycles_per_image: f64,
    /// Interval between the stage's end-of-image markers: in steady state every stage runs at
    /// the pipeline's interval, set by the slowest one.
    measured_cycles_per_image: f64,
}

/// Mean steady-state interval of a series of cycle stamps.
fn interval(stamps: &[u64]) -> f64 {
    match stamps {
        [] => 0.0,
        [one] => *one as f64,
        [first, .., last] => (last - first) as f64 / (stamps.len() - 1) as f64,
    }
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    fs_hdl::core::accelerator::supports(&model)?;
    let all = args.data.load_for(model.input())?.test;
    let test = all.take(args.count);
    if let Some(n) = args.image {
        ensure!(
            n < all.len(),
            "--image {n}: the test set has {} images (0 to {})",
            all.len(),
            all.len() - 1
        );
    }
    let config = args.hw.config(&model)?;
    let mut accel = Accelerator::new(&model, &config)?;
    let images: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
    for image in &images {
        model.input().check_image(image)?;
    }
    let engine = FixedEngine::new(&model);
    let mut mismatches = 0;
    let mut first = None;
    let (mut rtl_correct, mut golden_correct) = (0, 0);
    let mut done_cycles = Vec::with_capacity(images.len());
    let stages = model.layers.len() + 1;
    let mut stage_stamps = vec![Vec::with_capacity(images.len()); stages];
    let mut traffic = Traffic::default();
    let mut check = |n: usize, run: ImageRun| -> Result<()> {
        let golden = engine.run(images[n]);
        traffic
            .images
            .push(ImageTraffic::new(pixel_words(images[n]).len(), &golden));
        for (s, &stamp) in run.stage_done.iter().enumerate() {
            stage_stamps[s].push(stamp);
        }
        stage_stamps[stages - 1].push(run.done_cycle);
        let label = test.label(n);
        rtl_correct += (run.class == label) as usize;
        golden_correct += (golden.class() == label) as usize;
        if let Some(m) = first_difference(n, &run, &golden) {
            mismatches += 1;
            first.get_or_insert(m);
        }
        done_cycles.push(run.done_cycle);
        Ok(())
    };
    let max_cycles = 4_000_000 * images.len() as u64 + 1_000_000;
    match args.engine {
        Engine::Netlist => bail!(
            "verify compares every spike on the RTL's buses, which a netlist has no names for: \
             check a board's netlist by its results with `fpga-host infer --device sim --engine \
             netlist --board BOARD --check`"
        ),
        Engine::Rusthdl => {
            let bar = progress::bar(images.len() as u64, "simulating (RustHDL)", args.json);
            // One run streams every image through the pipeline.
            let (runs, _) = run_images(&mut accel, &images, max_cycles)?;
            bar.finish_and_clear();
            for (n, run) in runs.into_iter().enumerate() {
                check(n, run)?;
            }
        }
        Engine::Verilator => {
            eprintln!(
                "building the Verilator simulation in {} ...",
                args.build_dir.display()
            );
            let sim = VerilatedAccelerator::build(&mut accel, &args.build_dir)?;
            let bar = progress::bar(images.len() as u64, "simulating (Verilator)", args.json);
            sim.run(&images, max_cycles, &mut |n, run| {
                bar.set_position(n as u64 + 1);
                check(n, run)
            })?;
            bar.finish_and_clear();
        }
    }
    let n = done_cycles.len();
    let bounds = cycle_bounds(&model, &config, &traffic);
    let stage_report: Vec<StageCycles> = bounds
        .stages
        .iter()
        .zip(&stage_stamps)
        .enumerate()
        .map(|(s, (&bound, stamps))| StageCycles {
            name: match s {
                0 if from_pixels(&model) => "pixel load".to_string(),
                0 => "input encoder".to_string(),
                s if s == stages - 1 => "output layer".to_string(),
                s => format!("hidden layer {s}"),
            },
            lanes: s.checked_sub(1).map(|l| config.lanes[l]),
            bound_cycles_per_image: bound,
            measured_cycles_per_image: interval(stamps),
        })
        .collect();
    // The waveform asked for, or the first mismatch's.
    let trace = match (&args.vcd, &first) {
        (Some(path), _) => Some((
            path.clone(),
            args.image
                .unwrap_or_else(|| first.as_ref().map_or(0, |m| m.image)),
        )),
        (None, Some(m)) => Some((
            args.build_dir
                .join(format!("mismatch-image-{}.vcd", m.image)),
            m.image,
        )),
        (None, None) => None,
    };
    let waveform = match trace {
        Some((path, n)) => {
            let written =
                write_waveform(&mut accel, &engine, all.image(n), n, &path, &args.build_dir);
            match (written, &args.vcd) {
                (Ok(w), _) => Some(w),
                (Err(e), Some(_)) => return Err(e.context("writing the waveform")),
                // The mismatch is the news; a waveform that could not be written is a note.
                (Err(e), None) => {
                    eprintln!("note: no waveform of the first mismatch: {e:#}");
                    None
                }
            }
        }
        None => None,
    };
    let report = Report {
        engine: args.engine,
        images: n,
        lanes: config.lanes.clone(),
        mismatches,
        first_mismatch: first,
        rtl_accuracy: rtl_correct as f64 / n.max(1) as f64,
        fs_fixed_accuracy: golden_correct as f64 / n.max(1) as f64,
        latency_cycles: done_cycles.first().copied().unwrap_or(0),
        cycles_per_image: interval(&done_cycles),
        bound_cycles_per_image: bounds.per_image,
        stages: stage_report,
        waveform,
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
        println!(
            "  cycles per image    {:.0} (cycle-model bound {:.0})",
            report.cycles_per_image, report.bound_cycles_per_image
        );
        for st in &report.stages {
            println!(
                "    {:<15} bound {:>8.0}  measured {:>8.0}",
                st.name, st.bound_cycles_per_image, st.measured_cycles_per_image
            );
        }
        if let Some(w) = &report.waveform {
            println!(
                "  waveform            image {} alone, {} cycles: {}{}",
                w.image,
                w.cycles,
                w.path.display(),
                match (report.mismatches > 0, w.differs) {
                    (true, false) => " (alone, it agrees with the golden model)",
                    (false, true) => " (alone, it differs from the golden model)",
                    _ => "",
                }
            );
        }
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
