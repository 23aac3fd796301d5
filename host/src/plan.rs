//! Planning a design before synthesis (`fpga-host plan`, and `--lanes auto` of `verilog`,
//! `verify` and `scripts/synth`): the cycle model on the model's own spikes, and the resources
//! of `fs_hdl::resources`, for given lanes or for the lanes that fit a target with the highest
//! throughput.

use anyhow::{Context, Result, bail};
use fs_hdl::core::accelerator::{Accelerator, HwConfig, multipliers, pixel_words};
use fs_hdl::core::cycle_model::{
    Cycles, ImageTraffic, LayerCycles, Traffic, combine, cycle_bounds, encoder_cycles, layer_cycles,
};
use fs_hdl::core::pixel_conv_layer::from_pixels;
use fs_hdl::resources::{Estimate, Memory, Owner, Target, estimate, lut_model, measured, memories};
use fs_model::data::Dataset;
use fs_model::geometry::LayerKind;
use fs_model::infer::FixedEngine;
use fs_model::network::Model;
use rayon::prelude::*;
use serde::Serialize;

/// How far the LUT model may be off (its fit to the measured reports, docs/accelerator.md):
/// `--lanes auto` keeps this margin below a target's LUTs, so what it picks fits.
pub const LUT_MARGIN: f64 = 0.15;

/// Test images whose spikes a plan counts by default.
pub const TRAFFIC_IMAGES: usize = 1_000;

/// Runs the golden model on the first `images` of `data` (at least one) for the traffic a
/// design is planned on.
pub fn traffic(model: &Model, data: &Dataset, images: usize) -> Traffic {
    let n = images.max(1).min(data.len());
    let engine = FixedEngine::new(model);
    Traffic {
        images: (0..n)
            .into_par_iter()
            .map(|i| {
                let image = data.image(i);
                ImageTraffic::new(pixel_words(image).len(), &engine.run(image))
            })
            .collect(),
    }
}

/// A design on a target: its resources and its speed.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub target: &'static str,
    pub lanes: Vec<usize>,
    pub resources: Estimate,
    pub fits: bool,
    /// What does not fit, when something does not.
    pub over: Vec<String>,
    pub stage_cycles: Vec<f64>,
    pub cycles_per_image: f64,
    pub latency_cycles: f64,
    pub clock_mhz: f64,
    pub images_per_second: f64,
    pub latency_us: f64,
}

/// The memories of the accelerator for `config`, as its Verilog declares them on `target`.
pub fn design_memories(model: &Model, config: &HwConfig, target: &Target) -> Result<Vec<Memory>> {
    // The LUT RAM switch and the memory folder are process-wide: one design at a time.
    static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
    fs_hdl::core::bram::set_lut_ram(target.lut_ram());
    // The memories' contents go to a scratch folder: a plan writes nothing the user sees.
    let scratch = std::env::temp_dir().join(format!("fs-accel-plan-{}", std::process::id()));
    fs_hdl::core::bram::set_memory_dir(&scratch).context("a scratch folder for memories")?;
    let mut accel = Accelerator::new(model, config)?;
    fs_hdl::sim::checked(&mut accel)?;
    let verilog = rust_hdl::prelude::generate_verilog(&accel);
    // (The memories' contents are read before the scratch folder goes.)
    let found = memories(&verilog, from_pixels(model), conv_layers(model));
    std::fs::remove_dir_all(&scratch).ok();
    Ok(found)
}

/// The model's convolution layers, which come first: also the index of its first dense layer.
fn conv_layers(model: &Model) -> usize {
    model
        .geometry()
        .iter()
        .take_while(|g| g.kind != LayerKind::Dense)
        .count()
}

/// Plans `config` on `target` from its memories and cycle model, with the target family's
/// LUT model `luts` ([`lut_model`]).
fn plan_of(
    model: &Model,
    config: &HwConfig,
    target: &'static Target,
    memories: &[Memory],
    cycles: Cycles,
    luts: [f64; 4],
) -> Result<Plan> {
    let resources = estimate(
        memories,
        &config.lanes,
        conv_layers(model),
        model.format.membrane_bits as usize,
        multipliers(model, config).iter().sum(),
        target,
        luts,
    );
    let Cycles {
        stages: stage_cycles,
        per_image: cycles,
    } = cycles;
    // An image passes every stage in turn (each double-buffered).
    let latency: f64 = stage_cycles.iter().sum();
    let mut over = Vec::new();
    if resources.block_rams > target.block_rams {
        over.push(format!(
            "{} block RAMs of {}",
            resources.block_rams, target.block_rams
        ));
    }
    let lut_room = target.luts as f64 / (1.0 + LUT_MARGIN);
    if resources.luts as f64 > lut_room {
        over.push(format!(
            "{} LUTs, more than {} ({} less the model's {:.0}% margin)",
            resources.luts,
            lut_room as usize,
            target.luts,
            LUT_MARGIN * 100.0
        ));
    }
    if resources.dsps > target.dsps {
        over.push(format!(
            "{} multipliers, more than its {} DSP blocks",
            resources.dsps, target.dsps
        ));
    }
    let hz = target.clock_mhz * 1e6;
    Ok(Plan {
        target: target.name,
        lanes: config.lanes.clone(),
        fits: over.is_empty(),
        over,
        resources,
        stage_cycles,
        cycles_per_image: cycles,
        latency_cycles: latency,
        clock_mhz: target.clock_mhz,
        images_per_second: hz / cycles,
        latency_us: latency / hz * 1e6,
    })
}

/// Plans `config` on `target`.
pub fn plan(
    model: &Model,
    config: &HwConfig,
    target: &'static Target,
    traffic: &Traffic,
) -> Result<Plan> {
    let memories = design_memories(model, config, target)?;
    let luts = lut_model(target.part.family, &measured())?;
    let cycles = cycle_bounds(model, config, traffic);
    plan_of(model, config, target, &memories, cycles, luts)
}

/// Lanes a layer may have (at most the RTL's 256): a dense layer of `width` neurons powers of
/// two below it and the width; a convolution any multiple of its unit (channels times pooling
/// slots: a bank), up to its neurons.
fn lane_choices(geometry: &fs_model::geometry::Geometry, width: usize) -> Vec<usize> {
    let unit = match geometry.kind {
        LayerKind::Dense => 1,
        LayerKind::Conv2d { .. } => {
            let slots = fs_hdl::core::conv_layout::pool_slots(geometry).unwrap_or(1);
            geometry.neurons.channels * slots
        }
    };
    let neurons = geometry.neurons.size().max(width);
    let most = fs_hdl::core::dense_layer::MAX_LANES;
    let mut choices: Vec<usize> = match geometry.kind {
        LayerKind::Dense => (0..)
            .map(|p| unit << p)
            .take_while(|&n| n < neurons && n <= most)
            .collect(),
        // Banks need not be a power of two: the MNIST CNN's second convolution spreads an
        // event's neurons best over 5 (its map is 7 wide).
        LayerKind::Conv2d { .. } => (1..)
            .map(|k| unit * k)
            .take_while(|&n| n < neurons && n <= most)
            .collect(),
    };
    if (geometry.kind == LayerKind::Dense || choices.is_empty()) && width.max(unit) <= most {
        choices.push(width.max(unit));
    }
    choices
}

/// The lanes per layer that fit `target` with the most images per second (then the lowest
/// latency, then the fewest LUTs), searched over every combination of the layers' choices
/// ([`lane_choices`]); an error says what the smallest design needs when none fits. A layer's memories depend on its own lanes only, so every layer's are
/// read from one design per lane count.
pub fn auto_lanes(
    model: &Model,
    target: &'static Target,
    traffic: &Traffic,
    fifo_depth: usize,
) -> Result<Plan> {
    let layers = model.layers.len();
    let widths: Vec<usize> = model.layers.iter().map(|l| l.outputs()).collect();
    let geometry = model.geometry();
    let choices: Vec<Vec<usize>> = geometry
        .iter()
        .zip(&widths)
        .map(|(g, &w)| lane_choices(g, w))
        .collect();
    // Layer l's memories at each of its choices, from a design with every other layer at its
    // widest (one group: the fewest words per lane); a choice the RTL refuses is dropped.
    let widest: Vec<usize> = choices.iter().map(|c| c[c.len() - 1]).collect();
    let mut by_layer: Vec<Vec<Vec<Memory>>> = vec![Vec::new(); layers];
    // Likewise layer l's cycle model at each choice, per sample image (the combinations only
    // combine them).
    let mut cycles_by_layer: Vec<Vec<LayerCycles>> = vec![Vec::new(); layers];
    let mut valid: Vec<Vec<usize>> = vec![Vec::new(); layers];
    let mut fixed: Option<Vec<Memory>> = None;
    let mut refusal = None;
    for l in 0..layers {
        for &c in &choices[l] {
            let mut lanes = widest.clone();
            lanes[l] = c;
            let mut config = HwConfig::new(lanes);
            config.fifo_depth = fifo_depth;
            let memories = match design_memories(model, &config, target) {
                Ok(m) => m,
                Err(e) => {
                    refusal.get_or_insert(format!("{c} lanes in layer {l}: {e:#}"));
                    continue;
                }
            };
            by_layer[l].push(
                memories
                    .iter()
                    .filter(|m| m.owner == Owner::Layer(l))
                    .copied()
                    .collect(),
            );
            cycles_by_layer[l].push(layer_cycles(model, l, c, traffic));
            valid[l].push(c);
            fixed.get_or_insert_with(|| {
                memories
                    .iter()
                    .filter(|m| m.owner == Owner::Fixed)
                    .copied()
                    .collect()
            });
        }
        if valid[l].is_empty() {
            bail!(
                "no lanes of layer {l} make a design: {}",
                refusal.unwrap_or_default()
            );
        }
    }
    let fixed = fixed.unwrap_or_default();
    // The target family's LUT model, fitted once for every combination below.
    let luts = lut_model(target.part.family, &measured())?;
    let choices = valid;
    let encoder = encoder_cycles(model, traffic);
    let mut best: Option<Plan> = None;
    let mut smallest: Option<Plan> = None;
    let mut index = vec![0usize; layers];
    loop {
        let lanes: Vec<usize> = index.iter().zip(&choices).map(|(&i, c)| c[i]).collect();
        let mut config = HwConfig::new(lanes);
        config.fifo_depth = fifo_depth;
        let mut memories = fixed.clone();
        for (l, &i) in index.iter().enumerate() {
            memories.extend(&by_layer[l][i]);
        }
        let layer_cycles: Vec<&LayerCycles> = index
            .iter()
            .enumerate()
            .map(|(l, &i)| &cycles_by_layer[l][i])
            .collect();
        let cycles = combine(&encoder, &layer_cycles);
        let p = plan_of(model, &config, target, &memories, cycles, luts)?;
        if index.iter().all(|&i| i == 0) {
            smallest = Some(p.clone());
        }
        // The most images per second; then the lowest latency; then the fewest LUTs.
        let better = |b: &Plan| {
            (
                p.images_per_second,
                -p.latency_cycles,
                -(p.resources.luts as f64),
            ) > (
                b.images_per_second,
                -b.latency_cycles,
                -(b.resources.luts as f64),
            )
        };
        if p.fits && best.as_ref().is_none_or(better) {
            best = Some(p);
        }
        // The next combination (odometer over the layers' choices).
        let mut l = 0;
        while l < layers {
            index[l] += 1;
            if index[l] < choices[l].len() {
                break;
            }
            index[l] = 0;
            l += 1;
        }
        if l == layers {
            break;
        }
    }
    match (best, smallest) {
        (Some(b), _) => Ok(b),
        (None, Some(s)) => bail!(
            "no lanes fit the {}: even one lane per layer needs {}",
            target.name,
            s.over.join(" and ")
        ),
        (None, None) => bail!("the model has no layers"),
    }
}
