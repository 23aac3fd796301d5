//! The analytical cycle model (`docs/accelerator.md`): how many cycles per image each stage of
//! an [`Accelerator`](crate::core::accelerator::Accelerator) needs. `fpga-host verify` prints
//! it next to the measured cycles; `scripts/synth` turns it into images per second. The
//! pipeline depths it counts are the blocks' own constants, so the model follows the RTL.
//!
//! Every sample image is counted on its own: a stage's work varies with the image's spikes,
//! and a double-buffered stage that finishes early waits for its neighbours, so the pipeline
//! passes an image per its slowest stage *for that image*. The mean of that over the images
//! is the model's interval (the MNIST CNN at 128,64,32,4 measured 2,794 cycles per image:
//! 2,816 this way, 2,641 from the stages' means).

use crate::core::accelerator::HwConfig;
use crate::core::conv_layout::ConvLayout;
use crate::core::dense_layer::{FIRE_STEP_CYCLES, event_cycles};
use crate::core::pixel_conv_layer::{PixelConvShape, PixelRect, from_pixels, group_fields};
use fs_model::geometry::LayerKind;
use fs_model::infer::FixedRun;
use fs_model::network::Model;

/// One sample image's load on the stages, from the golden model's run of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageTraffic {
    /// Pixel words (what the pixel port takes, [`crate::core::accelerator::pixel_words`]).
    pub pixel_words: u32,
    /// Per spiking stage (the input code, then every hidden layer's sent map) and neuron, its
    /// spikes (at most one per step).
    pub neuron_spikes: Vec<Vec<u8>>,
}

impl ImageTraffic {
    pub fn new(pixel_words: usize, run: &FixedRun) -> Self {
        ImageTraffic {
            pixel_words: pixel_words as u32,
            neuron_spikes: run
                .spikes
                .iter()
                .map(|stage| stage.iter().map(|m| m.count_ones() as u8).collect())
                .collect(),
        }
    }

    fn spikes(&self, stage: usize) -> f64 {
        self.neuron_spikes
            .get(stage)
            .map_or(0, |s| s.iter().map(|&n| n as u64).sum::<u64>()) as f64
    }
}

/// The sample images a design is timed on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub images: Vec<ImageTraffic>,
}

/// The cycle model of a design under some traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct Cycles {
    /// Per stage (the input encoder or pixel load, then every layer): its cycles per image on
    /// its own, the mean over the images.
    pub stages: Vec<f64>,
    /// The image interval: per image its slowest stage, the mean over the images.
    pub per_image: f64,
}

/// The cycles per image of `model` on `config` under `traffic` (an image without spikes
/// when it has none).
pub fn cycle_bounds(model: &Model, config: &HwConfig, traffic: &Traffic) -> Cycles {
    let layers: Vec<LayerCycles> = config
        .lanes
        .iter()
        .enumerate()
        .map(|(l, &lanes)| layer_cycles(model, l, lanes, traffic))
        .collect();
    let layers: Vec<&LayerCycles> = layers.iter().collect();
    combine(&encoder_cycles(model, traffic), &layers)
}

/// One layer's share of the cycle model at some lanes, per sample image: what a search over
/// lanes (`fpga-host plan --lanes auto`) computes once per layer and lane count, not once per
/// combination (a convolution's layout alone takes milliseconds).
#[derive(Clone, Debug)]
pub struct LayerCycles {
    images: Vec<Stage>,
}

/// Layer `l` of `model` at `lanes` under `traffic`.
pub fn layer_cycles(model: &Model, l: usize, lanes: usize, traffic: &Traffic) -> LayerCycles {
    let shape = stage_shape(model, l, lanes);
    LayerCycles {
        images: sample(traffic)
            .iter()
            .map(|image| layer_stage(model, l, &shape, image))
            .collect(),
    }
}

/// The input encoder's (or pixel load's) cycles per sample image.
pub fn encoder_cycles(model: &Model, traffic: &Traffic) -> Vec<f64> {
    let input = model.input();
    sample(traffic)
        .iter()
        .map(|image| {
            if from_pixels(model) {
                // The first layer takes the pixels itself, one per cycle.
                input.size() as f64
            } else {
                // Loading (a word per cycle) and draining overlap; a drain costs its events,
                // one cycle per plane, priming and the end marker.
                (image.pixel_words as f64).max(image.spikes(0) + input.bits as f64 + 2.0)
            }
        })
        .collect()
}

/// The whole pipeline's cycles from its stages' (`encoder` and `layers` per sample image, of
/// the same traffic).
pub fn combine(encoder: &[f64], layers: &[&LayerCycles]) -> Cycles {
    let mut stages = vec![0.0; layers.len() + 1];
    let mut per_image = 0.0;
    for (i, &encoder) in encoder.iter().enumerate() {
        let image: Vec<&Stage> = layers.iter().map(|c| &c.images[i]).collect();
        // A layer's fire phase (where its spikes leave) and the next layer's tail follow
        // each other in every image: digits at 16,10 measured 159 cycles per image, the
        // hidden layer's fire phase 145 and the output layer's tail 13.
        let mut bounds: Vec<f64> = std::iter::once(encoder)
            .chain(image.iter().map(|s| s.bound))
            .collect();
        for l in 1..image.len() {
            if let (Some(fire), Some(tail)) = (image[l - 1].fire_phase, image[l].tail) {
                bounds[l + 1] = bounds[l + 1].max(fire + tail);
            }
        }
        per_image += bounds.iter().copied().fold(0.0, f64::max);
        for (sum, b) in stages.iter_mut().zip(bounds) {
            *sum += b;
        }
    }
    let n = encoder.len() as f64;
    Cycles {
        stages: stages.into_iter().map(|s| s / n).collect(),
        per_image: per_image / n,
    }
}

/// The sample images (one without spikes when there are none).
fn sample(traffic: &Traffic) -> &[ImageTraffic] {
    static EMPTY: [ImageTraffic; 1] = [ImageTraffic {
        pixel_words: 0,
        neuron_spikes: Vec::new(),
    }];
    if traffic.images.is_empty() {
        &EMPTY
    } else {
        &traffic.images
    }
}

/// What a layer's cycles depend on besides the image.
enum Shape {
    /// A first convolution from pixels: its shape and its groups' fields.
    Pixel {
        shape: PixelConvShape,
        fields: Vec<PixelRect>,
    },
    Conv {
        layout: ConvLayout,
        steps: f64,
    },
    Dense {
        groups: f64,
        steps: f64,
        spiking: bool,
        outputs: f64,
    },
    /// Lanes the layer cannot have.
    Impossible,
}

fn stage_shape(model: &Model, l: usize, lanes: usize) -> Shape {
    let geometry = model.geometry();
    let layer = &model.layers[l];
    let steps = layer.rom.as_ref().map_or(1, |rom| rom.k());
    if l == 0 && from_pixels(model) {
        return match PixelConvShape::new(&geometry[0], steps, lanes) {
            Ok(shape) => Shape::Pixel {
                fields: group_fields(&geometry[0], &shape),
                shape,
            },
            Err(_) => Shape::Impossible,
        };
    }
    if geometry[l].kind != LayerKind::Dense {
        let previous = l.checked_sub(1).map(|p| &geometry[p]);
        return match ConvLayout::new(&geometry[l], previous, lanes) {
            Ok(layout) => Shape::Conv {
                layout,
                steps: steps as f64,
            },
            Err(_) => Shape::Impossible,
        };
    }
    Shape::Dense {
        groups: layer.outputs().div_ceil(lanes) as f64,
        steps: steps as f64,
        spiking: layer.rom.is_some(),
        outputs: layer.outputs() as f64,
    }
}

/// Layer `l`'s cycles (at `shape`) for one image.
fn layer_stage(model: &Model, l: usize, shape: &Shape, image: &ImageTraffic) -> Stage {
    let spikes = |s: usize| image.spikes(s);
    match *shape {
        Shape::Impossible => Stage::alone(f64::INFINITY),
        // Computing (a tap per cycle in every lane, groups of `P` cycles, shorter for those
        // whose field misses the image's non-zero pixels) overlaps the previous image's
        // emission: a mask per step and unit, a cycle per spike.
        Shape::Pixel {
            ref shape,
            ref fields,
        } => {
            let pixels = image.neuron_spikes.first().map_or(&[][..], |p| &p[..]);
            let nonzero: Vec<bool> = pixels.iter().map(|&n| n > 0).collect();
            let skipped = shape.skipped_groups(fields, model.input(), &nonzero);
            let compute = shape.compute_cycles(skipped) as f64;
            Stage::alone(compute.max(shape.mask_cycles() as f64).max(spikes(1) + 2.0))
        }
        Shape::Conv { ref layout, steps } => {
            // Every bank works through its entries in parallel: E per event, one slot
            // each; the K G fire steps and G re-initialisations take a slot each too.
            // The (pooled) spikes leave one per cycle, overlapped.
            let entries = sender_entries(layout, image.neuron_spikes.get(l));
            let operations = entries + (steps + 1.0) * layout.groups as f64 + 1.0;
            Stage::alone(operations.max(spikes(l + 1) + 1.0))
        }
        Shape::Dense {
            groups,
            steps,
            spiking,
            outputs,
        } => {
            let spikes_out = if spiking { spikes(l + 1) } else { outputs };
            // The lanes do one operation per cycle: G per input event (the output
            // layer's two cycles apart when G = 1), and the end marker; then the K G fire
            // steps (the output layer's read-out) and G re-initialisations take the
            // lanes' slots too, before the next image's events (measured: digits at 4 and 2 lanes 572.2 and 1,142.5 cycles per
            // image, MNIST at 128 lanes 1,552, against 571.9, 1,142.9 and 1,552 here).
            let per_event = event_cycles(groups as usize, spiking) as f64;
            // (The output layer's one step reads its logits; they leave one a cycle in
            // the fire phase, while the next image accumulates: digits at 32,10 measured
            // 119.8 cycles per image, 116 of them two per hidden spike.)
            let fire_slots = (steps + 1.0) * groups;
            let operations = spikes(l) * per_event + fire_slots + 1.0;
            // Firing: a fire step per step and group, one cycle per spike; then the
            // re-initialisations and the end marker.
            let fire = steps * groups * FIRE_STEP_CYCLES as f64 + spikes_out + groups + 1.0;
            Stage {
                bound: operations.max(fire),
                fire_phase: spiking.then_some(fire),
                // After its sender's last spike a dense layer still takes that event,
                // its read-out (the output layer) and its end marker.
                tail: Some(per_event + if spiking { 0.0 } else { outputs } + 1.0),
            }
        }
    }
}

/// A convolution's entries (cycles) for one image's input events: each sender's spikes times
/// its entry count (a digit's spikes come from the middle of the map, where senders feed the
/// most neurons). Without the senders' spikes, their mean entry count per spike.
fn sender_entries(layout: &ConvLayout, sender_spikes: Option<&Vec<u8>>) -> f64 {
    match sender_spikes {
        Some(spikes) if spikes.len() == layout.senders.len() => spikes
            .iter()
            .zip(&layout.senders)
            .map(|(&s, row)| s as f64 * row.count as f64)
            .sum(),
        Some(spikes) => {
            let mean = layout.senders.iter().map(|r| r.count).sum::<usize>() as f64
                / layout.senders.len().max(1) as f64;
            spikes.iter().map(|&s| s as f64).sum::<f64>() * mean
        }
        None => 0.0,
    }
}

/// One layer's share of the cycle model.
#[derive(Clone, Debug)]
struct Stage {
    /// Its cycles per image on its own.
    bound: f64,
    /// A hidden dense layer's fire phase (fire steps, spikes, re-initialisation).
    fire_phase: Option<f64>,
    /// What a dense layer does after its sender's last spike.
    tail: Option<f64>,
}

impl Stage {
    fn alone(bound: f64) -> Self {
        Stage {
            bound,
            fire_phase: None,
            tail: None,
        }
    }
}
