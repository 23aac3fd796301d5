//! The report page (`fpga-host report`): what a model does, measured by the golden model, on
//! one self-contained HTML page.
//!
//! - [`gather`] measures: the model on the test images (accuracies, spikes per layer, the
//!   confusion matrix), the same ANN converted at other K (FS coding) with its AMOS view, the
//!   rate-coded baseline at several T, the spikes of one image through every stage, and the
//!   synthesis reports it finds;
//! - [`page`] draws them ([`plots`]: SVG through plotters) into one page that needs no network.

pub mod page;
pub mod plots;

use anyhow::{Context, Result, ensure};
use fs_model::convert::{ConvertConfig, convert};
use fs_model::data::{Dataset, Split};
use fs_model::eval::{EvalReport, evaluate};
use fs_model::infer::FixedEngine;
use fs_model::network::Model;
use fs_model::rate::{CodingResult, RateNetwork, fs_and_amos};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Test images evaluated (the first ones of the test split).
    pub count: usize,
    /// K of the FS sweep (ReLU layers re-converted from the model's ANN).
    pub ks: Vec<usize>,
    /// T of the rate-coded baseline (empty: none).
    pub rate_steps: Vec<usize>,
    /// The test image whose spikes the raster shows.
    pub raster_image: usize,
    /// Folders searched for synthesis reports (`*/report.json`).
    pub synthesis_dirs: Vec<PathBuf>,
}

/// One point of the sweep: the model converted at `k`, evaluated.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    pub k: usize,
    pub fs: CodingResult,
    pub amos: CodingResult,
}

/// The spikes of one stage for one image: `(neuron, 0-based step)` in bus order.
#[derive(Clone, Debug, Serialize)]
pub struct RasterStage {
    pub name: String,
    pub neurons: usize,
    pub steps: usize,
    pub events: Vec<(u32, u32)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Raster {
    pub image: usize,
    pub label: usize,
    pub class: usize,
    pub logits: Vec<i64>,
    pub stages: Vec<RasterStage>,
}

/// A synthesis report as `scripts/synth` or `scripts/build-bitstreams` wrote it.
#[derive(Clone, Debug, Serialize)]
pub struct SynthesisRun {
    pub path: String,
    pub report: serde_json::Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model: String,
    pub source: String,
    pub widths: Vec<usize>,
    pub k: Vec<usize>,
    pub eval: EvalReport,
    pub sweep: Vec<SweepPoint>,
    pub rate: Vec<CodingResult>,
    /// Why the rate-coded baseline could not run this network.
    pub rate_unavailable: Option<String>,
    pub raster: Raster,
    pub synthesis: Vec<SynthesisRun>,
    pub seconds: f64,
}

/// Measures everything the page shows. `progress` hears what is being done.
pub fn gather(
    name: &str,
    model: &Model,
    split: &Split,
    options: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let start = Instant::now();
    ensure!(options.count > 0, "no test images to evaluate (--count 0)");
    let test = split.test.take(options.count);
    progress(&format!(
        "evaluating the model on {} test images",
        test.len()
    ));
    let eval = evaluate(model, &test, &mut |_| {})?;
    // The first hidden layer's K is the model's own (ReLU layers share it).
    let own_k = model.steps().get(1).copied();
    let mut sweep = Vec::new();
    for &k in &options.ks {
        let report = if Some(k) == own_k {
            eval.clone()
        } else {
            progress(&format!("converting the ANN at K = {k} and evaluating it"));
            let converted = reconvert(model, split, k)
                .with_context(|| format!("converting the model's ANN at K = {k}"))?;
            evaluate(&converted, &test, &mut |_| {})?
        };
        let [fs, amos] = fs_and_amos(&report);
        sweep.push(SweepPoint { k, fs, amos });
    }
    // A network the baseline cannot run (max pooling, sigmoid) still gets its page, which
    // says why the baseline is missing.
    let (rate, rate_unavailable) = if options.rate_steps.is_empty() {
        (Vec::new(), None)
    } else {
        progress(&format!(
            "running the rate-coded baseline at T = {:?}",
            options.rate_steps
        ));
        match RateNetwork::calibrated(&model.ann, &split.train) {
            Ok(rate) => (rate.evaluate(&test, &options.rate_steps), None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        }
    };
    let raster = raster(model, &test, options.raster_image, &eval)?;
    let synthesis = find_synthesis(&options.synthesis_dirs);
    Ok(Report {
        model: name.to_string(),
        source: model.conversion.source.clone(),
        widths: model.ann.widths(),
        k: model.steps(),
        eval,
        sweep,
        rate,
        rate_unavailable,
        raster,
        synthesis,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Validation images when the sweep re-converts: the percentile is the model's own, so they
/// choose nothing, but the converter measures its IMP offset on them.
const SWEEP_VALIDATION_IMAGES: usize = 1_000;

/// The model's ANN converted again at `k` steps, with the model's own choices otherwise.
fn reconvert(model: &Model, split: &Split, k: usize) -> Result<Model> {
    let c = &model.conversion;
    let config = ConvertConfig {
        k,
        weight_bits: model.format.weight_bits,
        alpha_percentile: c.alpha_percentile,
        imp: c.imp,
        pow2_scales: c.pow2_scales,
        source: c.source.clone(),
        ..ConvertConfig::default()
    };
    let calibration = split.train.take(c.calibration_images.max(1));
    let validation = split.train.take(SWEEP_VALIDATION_IMAGES);
    Ok(convert(&model.ann, &calibration, &validation, &config)?.model)
}

fn raster(model: &Model, test: &Dataset, image: usize, eval: &EvalReport) -> Result<Raster> {
    ensure!(
        image < test.len(),
        "--image {image}: only {} test images are evaluated",
        test.len()
    );
    let run = FixedEngine::new(model).run(test.image(image));
    let stages = (0..run.spikes.len())
        .map(|s| {
            let stats = &eval.layers[s];
            RasterStage {
                name: stats.name.clone(),
                neurons: stats.neurons,
                steps: stats.steps,
                events: run.bus_events(s),
            }
        })
        .collect();
    Ok(Raster {
        image,
        label: test.label(image),
        class: run.class(),
        logits: run.logits.clone(),
        stages,
    })
}

/// Every `report.json` one level below the folders (a missing folder has none), sorted by path;
/// a file that is not JSON is skipped with a note in its place.
fn find_synthesis(dirs: &[PathBuf]) -> Vec<SynthesisRun> {
    let mut runs = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("report.json"))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            runs.push(read_synthesis(&path));
        }
    }
    runs
}

fn read_synthesis(path: &Path) -> SynthesisRun {
    let report = std::fs::read_to_string(path)
        .map_err(anyhow::Error::from)
        .and_then(|text| Ok(serde_json::from_str(&text)?))
        .unwrap_or_else(|e| serde_json::json!({ "error": format!("unreadable: {e}") }));
    SynthesisRun {
        path: path.display().to_string(),
        report,
    }
}
