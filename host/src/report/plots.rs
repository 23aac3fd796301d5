//! The report's plots, each an SVG document in a string (plotters' SVG backend).

use super::{Raster, SweepPoint};
use anyhow::{Result, anyhow};
use fs_model::eval::StageStats;
use fs_model::rate::CodingResult;
use plotters::coord::Shift;
use plotters::prelude::*;

const FS: RGBColor = RGBColor(31, 119, 180);
const AMOS: RGBColor = RGBColor(44, 160, 44);
const RATE: RGBColor = RGBColor(214, 39, 40);
const FONT: &str = "sans-serif";

/// plotters' drawing errors carry the backend's error type; the page only needs the text.
fn drawing<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot: {e}")
}

/// Runs `draw` on a `width` x `height` SVG and returns the document.
fn svg(
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        draw(&root)?;
        root.present().map_err(drawing)?;
    }
    Ok(out)
}

/// A plotted point: spikes per neuron, accuracy, and its label.
type Point = (f64, f64, String);

/// Accuracy against spikes per neuron (log scale): FS coding at each K, its AMOS view, and
/// rate coding at each T, each point labelled with its K or T.
pub fn accuracy_vs_spikes(sweep: &[SweepPoint], rate: &[CodingResult]) -> Result<String> {
    let series: [(&str, RGBColor, Vec<Point>); 3] = [
        (
            "FS coding (K)",
            FS,
            sweep
                .iter()
                .map(|p| (p.fs.spikes_per_neuron, p.fs.accuracy, format!("K={}", p.k)))
                .collect(),
        ),
        (
            "AMOS view of FS (K neurons per gate)",
            AMOS,
            sweep
                .iter()
                .map(|p| {
                    (
                        p.amos.spikes_per_neuron,
                        p.amos.accuracy,
                        format!("K={}", p.k),
                    )
                })
                .collect(),
        ),
        (
            "rate coding (T)",
            RATE,
            rate.iter()
                .map(|r| (r.spikes_per_neuron, r.accuracy, format!("T={}", r.steps)))
                .collect(),
        ),
    ];
    let points = || series.iter().flat_map(|(_, _, p)| p.iter());
    let positive = |x: f64| x.max(1e-3);
    let x_min = points()
        .map(|p| positive(p.0))
        .fold(f64::INFINITY, f64::min);
    let x_max = points().map(|p| positive(p.0)).fold(0.0, f64::max);
    let y_min = points().map(|p| p.1).fold(1.0, f64::min);
    let (x_min, x_max) = if x_min.is_finite() {
        (x_min / 1.6, x_max * 1.6)
    } else {
        (0.1, 10.0)
    };
    let y_min = ((y_min - 0.02) * 50.0).floor() / 50.0;
    svg((760, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((x_min..x_max).log_scale(), y_min.max(0.0)..1.0)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc("spikes per hidden neuron per image (log scale)")
            .y_desc("test accuracy")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()
            .map_err(drawing)?;
        for (name, color, pts) in &series {
            if pts.is_empty() {
                continue;
            }
            let color = *color;
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (positive(p.0), p.1)),
                    color.stroke_width(2),
                ))
                .map_err(drawing)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((positive(p.0), p.1), 4, color.filled())),
                )
                .map_err(drawing)?;
            chart
                .draw_series(pts.iter().map(|p| {
                    Text::new(
                        p.2.clone(),
                        (positive(p.0), p.1),
                        (FONT, 11).into_font().color(&color),
                    )
                }))
                .map_err(drawing)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(drawing)?;
        Ok(())
    })
}

/// A tick value in at most three significant decimals, without trailing zeros (a log axis
/// places ticks at sums such as 0.1 + 0.2).
fn short(x: f64) -> String {
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Spikes per neuron of every spiking stage, as bars.
pub fn spikes_per_stage(layers: &[StageStats]) -> Result<String> {
    let top = layers
        .iter()
        .map(|l| l.spikes_per_neuron)
        .fold(0.0, f64::max)
        .max(0.1)
        * 1.3;
    let names: Vec<String> = layers
        .iter()
        .map(|l| format!("{} ({} x K={})", l.name, l.neurons, l.steps))
        .collect();
    let count = layers.len().max(1) as f64;
    svg((760, 320), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..count, 0.0..top)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("spikes per neuron per image")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(layers.iter().enumerate().map(|(i, l)| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, l.spikes_per_neuron)],
                    FS.filled(),
                )
            }))
            .map_err(drawing)?;
        for (i, l) in layers.iter().enumerate() {
            let lines = [
                (names[i].clone(), 0.13),
                (format!("{:.3}", l.spikes_per_neuron), 0.06),
            ];
            chart
                .draw_series(lines.into_iter().map(|(text, above)| {
                    Text::new(
                        text,
                        (i as f64 + 0.2, l.spikes_per_neuron + top * above),
                        (FONT, 12),
                    )
                }))
                .map_err(drawing)?;
        }
        Ok(())
    })
}

/// The spikes of one image: one panel per stage, time step across, neuron down.
pub fn raster(raster: &Raster) -> Result<String> {
    let stages = &raster.stages;
    let width = 760u32;
    svg((width, 360), |root| {
        let columns: Vec<u32> = stages.iter().map(|s| s.steps.max(4) as u32).collect();
        let total: u32 = columns.iter().sum::<u32>().max(1);
        let mut rest = root.clone();
        for (s, stage) in stages.iter().enumerate() {
            let panel_width = if s + 1 == stages.len() {
                rest.dim_in_pixel().0
            } else {
                width * columns[s] / total
            };
            let (panel, right) = rest.split_horizontally(panel_width);
            rest = right;
            let mut chart = ChartBuilder::on(&panel)
                .caption(
                    format!("{}: {} spikes", stage.name, stage.events.len()),
                    (FONT, 13),
                )
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(if s == 0 { 50 } else { 40 })
                .build_cartesian_2d(
                    0.5..stage.steps as f64 + 0.5,
                    (stage.neurons as f64 - 0.5)..-0.5,
                )
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("step")
                .y_desc(if s == 0 { "neuron" } else { "" })
                .x_labels(stage.steps.min(8))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style((FONT, 11))
                .axis_desc_style((FONT, 12))
                .draw()
                .map_err(drawing)?;
            chart
                .draw_series(
                    stage
                        .events
                        .iter()
                        .map(|&(n, t)| Circle::new((t as f64 + 1.0, n as f64), 2, FS.filled())),
                )
                .map_err(drawing)?;
        }
        Ok(())
    })
}
