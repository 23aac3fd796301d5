//! The analytical cycle model (`docs/accelerator.md`): how many cycles per image each stage of
//! an [`Accelerator`](crate::core::accelerator::Accelerator) needs. `fpga-host verify` prints
//! it next to the measured cycles; `scripts/synth` turns it into images per second. The
//! pipeline depths it counts are the blocks' own constants, so the model follows the RTL.

use crate::core::accelerator::HwConfig;
use crate::core::conv_layout::ConvLayout;
use crate::core::dense_layer::{FIRE_STEP_CYCLES, SINGLE_GROUP_EVENT_CYCLES};
use crate::core::pixel_conv_layer::{PixelConvShape, from_pixels};
use fs_model::geometry::LayerKind;
use fs_model::network::Model;

/// The cycles per image of every stage (the input encoder, then every layer), from the mean
/// number of pixel words per image (what the pixel port takes,
/// [`crate::core::accelerator::pixel_words`]) and the mean spike count of every spiking stage
/// (`mean_spikes[0]` the input code's, then each hidden layer's). With double buffering the
/// stages overlap, so the pipeline's image interval is bounded by the largest.
pub fn stage_bounds(
    model: &Model,
    config: &HwConfig,
    mean_pixel_words: f64,
    mean_spikes: &[f64],
) -> Vec<f64> {
    let input = model.input();
    // Loading (a word per cycle) and draining overlap; a drain costs its events, one cycle per
    // plane, priming and the end marker.
    let pixel = from_pixels(model);
    let encoder = if pixel {
        // The first layer takes the pixels itself, one per cycle.
        input.size() as f64
    } else {
        mean_pixel_words.max(mean_spikes[0] + input.bits as f64 + 2.0)
    };
    let geometry = model.geometry();
    let layers = model
        .layers
        .iter()
        .zip(&config.lanes)
        .enumerate()
        .map(|(l, (layer, &lanes))| {
            let spikes_in = mean_spikes[l];
            if l == 0 && pixel {
                // Computing (a tap per cycle in every lane, groups of `P` cycles) overlaps
                // the previous image's emission: a mask per step and unit, a cycle per spike.
                let steps = layer.rom.as_ref().map_or(1, |rom| rom.k());
                let Ok(shape) = PixelConvShape::new(&geometry[0], steps, lanes) else {
                    return Stage::alone(f64::INFINITY);
                };
                let spikes_out = mean_spikes.get(1).copied().unwrap_or(0.0);
                return Stage::alone(
                    (shape.compute_cycles() as f64)
                        .max(shape.mask_cycles() as f64)
                        .max(spikes_out + 2.0),
                );
            }
            if geometry[l].kind != LayerKind::Dense {
                let previous = l.checked_sub(1).map(|p| &geometry[p]);
                let Ok(layout) = ConvLayout::new(&geometry[l], previous, lanes) else {
                    return Stage::alone(f64::INFINITY);
                };
                // Every bank works through its entries in parallel: E per event (the mean over
                // senders), one slot each; the K G fire steps and G re-initialisations take a
                // slot each too. The (pooled) spikes leave one per cycle, overlapped.
                let entries = layout.senders.iter().map(|r| r.count).sum::<usize>() as f64
                    / layout.senders.len() as f64;
                let groups = layout.groups as f64;
                let steps = layer.rom.as_ref().map_or(1, |rom| rom.k()) as f64;
                let spikes_out = mean_spikes.get(l + 1).copied().unwrap_or(0.0);
                let operations = spikes_in * entries + (steps + 1.0) * groups + 1.0;
                let fire = spikes_out + 1.0;
                return Stage::alone(operations.max(fire));
            }
            let groups = layer.outputs().div_ceil(lanes) as f64;
            let steps = layer.rom.as_ref().map_or(1, |rom| rom.k()) as f64;
            let spikes_out = match &layer.rom {
                Some(_) => mean_spikes.get(l + 1).copied().unwrap_or(0.0),
                None => layer.outputs() as f64,
            };
            // The lanes do one operation per cycle: G per input event (further apart when
            // G = 1), and the end marker; then a hidden layer's K G fire steps and G
            // re-initialisations take the lanes' slots too, before the next image's events
            // (measured: digits at 4 and 2 lanes 572.2 and 1,142.5 cycles per image, MNIST
            // at 128 lanes 1,552, against 571.9, 1,142.9 and 1,552 here).
            let per_event = if groups == 1.0 {
                SINGLE_GROUP_EVENT_CYCLES as f64
            } else {
                groups
            };
            // The output layer instead reads its logits out, one a cycle.
            let fire_slots = match &layer.rom {
                Some(_) => (steps + 1.0) * groups,
                None => layer.outputs() as f64,
            };
            let operations = mean_spikes[l] * per_event + fire_slots + 1.0;
            // Firing: a fire step per step and group, one cycle per spike; then the
            // re-initialisations and the end marker.
            let fire = steps * groups * FIRE_STEP_CYCLES as f64 + spikes_out + groups + 1.0;
            Stage {
                bound: operations.max(fire),
                fire_phase: layer.rom.as_ref().map(|_| fire),
                // After its sender's last spike a dense layer still takes that event, its
                // read-out (the output layer) and its end marker.
                tail: Some(per_event + if layer.rom.is_some() { 0.0 } else { fire_slots } + 1.0),
            }
        })
        .collect::<Vec<Stage>>();
    // A layer's fire phase (where its spikes leave) and the next layer's tail follow each
    // other in every image: digits at 16,10 measured 159 cycles per image, the hidden layer's
    // fire phase 145 and the output layer's tail 13.
    let mut bounds: Vec<f64> = layers.iter().map(|s| s.bound).collect();
    for l in 1..layers.len() {
        if let (Some(fire), Some(tail)) = (layers[l - 1].fire_phase, layers[l].tail) {
            bounds[l] = bounds[l].max(fire + tail);
        }
    }
    std::iter::once(encoder).chain(bounds).collect()
}

/// One layer's share of the cycle model.
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
