//! The whole accelerator for one model: input encoder -> dense layers -> logits and class.
//!
//! Layers are chained by their address-event handshakes (valid/ready), so back-pressure
//! reaches from the result port to the pixel port; each layer's double-buffered lanes let it
//! accumulate image n+1 while it fires image n, and consecutive layers work on consecutive
//! images. The class is the first index of the largest logit, like `fs_model::infer::argmax`.

use crate::dense_layer::DenseLayer;
use crate::input_encoder::InputEncoder;
use fs_model::network::Model;
use rust_hdl::prelude::*;

/// How the hardware is built for a model: lanes (processing elements) per layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwConfig {
    pub lanes: Vec<usize>,
}

impl HwConfig {
    /// Up to `max_lanes` lanes per layer, never more than the layer has neurons.
    pub fn uniform(model: &Model, max_lanes: usize) -> Self {
        HwConfig {
            lanes: model
                .layers
                .iter()
                .map(|l| l.outputs().min(max_lanes))
                .collect(),
        }
    }
}

#[derive(LogicBlock)]
pub struct Accelerator {
    pub clock: Signal<In, Clock>,
    pub pixel_valid: Signal<In, Bit>,
    pub pixel_value: Signal<In, Bits<16>>,
    pub pixel_ready: Signal<Out, Bit>,
    /// The output layer's logits in neuron order, then `result_last` with the class.
    pub result_valid: Signal<Out, Bit>,
    pub result_index: Signal<Out, Bits<16>>,
    pub result_logit: Signal<Out, Bits<32>>,
    pub result_last: Signal<Out, Bit>,
    pub result_class: Signal<Out, Bits<16>>,
    pub result_ready: Signal<In, Bit>,
    pub encoder: InputEncoder,
    pub layers: Vec<DenseLayer>,
    best_value: DFF<Bits<32>>,
    best_index: DFF<Bits<16>>,
    have_best: DFF<Bit>,
    sign_flip: Constant<Bits<32>>,
    _layers: usize,
}

impl Accelerator {
    /// Builds the accelerator of `model`; fails with a message naming what this RTL does not
    /// support yet.
    pub fn new(model: &Model, config: &HwConfig) -> Result<Self, String> {
        if config.lanes.len() != model.layers.len() {
            return Err(format!(
                "{} lane counts for {} layers",
                config.lanes.len(),
                model.layers.len()
            ));
        }
        let membrane = model.format.membrane_range();
        let weight_bits = model.format.weight_bits as usize;
        let mut sender_values = model.input().spike_values();
        let mut layers = Vec::new();
        for (l, (layer, &lanes)) in model.layers.iter().zip(&config.lanes).enumerate() {
            layers.push(
                DenseLayer::new(layer, membrane, weight_bits, &sender_values, lanes)
                    .map_err(|e| format!("layer {l}: {e}"))?,
            );
            if let Some(rom) = &layer.rom {
                sender_values = rom.d.clone();
            }
        }
        Ok(Accelerator {
            clock: Default::default(),
            pixel_valid: Default::default(),
            pixel_value: Default::default(),
            pixel_ready: Default::default(),
            result_valid: Default::default(),
            result_index: Default::default(),
            result_logit: Default::default(),
            result_last: Default::default(),
            result_class: Default::default(),
            result_ready: Default::default(),
            encoder: InputEncoder::new(model.input()),
            _layers: layers.len(),
            layers,
            best_value: Default::default(),
            best_index: Default::default(),
            have_best: Default::default(),
            sign_flip: Constant::new(Bits::<32>::from(1u64 << 31)),
        })
    }
}

impl Logic for Accelerator {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, best_value, best_index, have_best);
        self.encoder.clock.next = self.clock.val();
        self.encoder.pixel_valid.next = self.pixel_valid.val();
        self.encoder.pixel_value.next = self.pixel_value.val();
        self.pixel_ready.next = self.encoder.pixel_ready.val();
        for l in 0..self._layers {
            self.layers[l].clock.next = self.clock.val();
        }
        // The spike bus: encoder -> layer 0 -> layer 1 -> ...
        self.layers[0].event_valid.next = self.encoder.event_valid.val();
        self.layers[0].event_index.next = self.encoder.event_index.val();
        self.layers[0].event_step.next = self.encoder.event_step.val();
        self.layers[0].event_last.next = self.encoder.event_last.val();
        self.encoder.event_ready.next = self.layers[0].event_ready.val();
        for l in 1..self._layers {
            self.layers[l].event_valid.next = self.layers[l - 1].spike_valid.val();
            self.layers[l].event_index.next = self.layers[l - 1].spike_index.val();
            self.layers[l].event_step.next = self.layers[l - 1].spike_step.val();
            self.layers[l].event_last.next = self.layers[l - 1].spike_last.val();
            self.layers[l - 1].spike_ready.next = self.layers[l].event_ready.val();
        }
        // The output layer's logits, and the running argmax (first largest wins).
        // (A one-iteration loop names the last layer: the Verilog generator evaluates indices
        // from loop variables only.)
        for l in (self._layers - 1)..self._layers {
            self.result_valid.next = self.layers[l].spike_valid.val();
            self.result_index.next = self.layers[l].spike_index.val();
            self.result_logit.next = self.layers[l].spike_value.val();
            self.result_last.next = self.layers[l].spike_last.val();
            self.layers[l].spike_ready.next = self.result_ready.val();
        }
        self.result_class.next = self.best_index.q.val();
        if self.result_valid.val() & self.result_ready.val() {
            if self.result_last.val() {
                self.have_best.d.next = false;
            } else if !self.have_best.q.val()
                | ((self.result_logit.val() ^ self.sign_flip.val())
                    > (self.best_value.q.val() ^ self.sign_flip.val()))
            {
                self.have_best.d.next = true;
                self.best_value.d.next = self.result_logit.val();
                self.best_index.d.next = self.result_index.val();
            }
        }
    }
}

/// The analytical cycle model (`docs/accelerator.md`): the cycles per image each stage needs
/// (the input encoder, then every layer), from the mean spike count of every spiking stage
/// (`mean_spikes[0]` the input code's, then each hidden layer's). With double buffering the
/// stages overlap, so the pipeline's image interval is bounded by the largest.
pub fn stage_bounds(model: &Model, config: &HwConfig, mean_spikes: &[f64]) -> Vec<f64> {
    let input = model.input();
    // Loading and draining overlap; a drain costs its events, one cycle per plane, priming and
    // the end marker.
    let encoder = (input.size() as f64).max(mean_spikes[0] + input.bits as f64 + 2.0);
    let layers = model
        .layers
        .iter()
        .zip(&config.lanes)
        .enumerate()
        .map(|(l, (layer, &lanes))| {
            let groups = layer.outputs().div_ceil(lanes) as f64;
            // Every input event takes one cycle per group; the end marker one more.
            let accumulate = mean_spikes[l] * groups + 1.0;
            // Per step and group: issue, wait, then one cycle per spike; the end marker.
            let fire = match &layer.rom {
                Some(rom) => {
                    rom.k() as f64 * groups * 2.0
                        + mean_spikes.get(l + 1).copied().unwrap_or(0.0)
                        + 1.0
                }
                None => groups * 2.0 + layer.outputs() as f64 + 1.0,
            };
            accumulate.max(fire)
        });
    std::iter::once(encoder).chain(layers).collect()
}
