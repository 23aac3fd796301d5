//! The whole accelerator for one model: input encoder -> FIFO -> dense layer -> FIFO -> ...
//! -> output layer -> FIFO -> logits and class.
//!
//! Stages are chained by address-event handshakes (valid/ready) through [`SpikeFifo`]s, so
//! back-pressure reaches from the result port to the pixel port while no combinational path
//! crosses a FIFO. Each layer's double-buffered state lets it accumulate image n+1 while it
//! fires image n, and consecutive layers work on consecutive images. The class is the first
//! index of the largest logit, like `fs_model::infer::argmax`.
//!
//! Counters, readable through `counter_select` / `counter_value` (see [`Counter`]), count
//! cycles, images, the spikes on every bus and the busy cycles of every layer.

use crate::core::conv_layer::ConvLayer;
use crate::core::conv_layout::pool_slots;
use crate::core::datapath::Datapath;
use crate::core::dense_layer::{DenseLayer, EMISSION_CHAIN_LANES, SpikeProduct};
use crate::core::input_encoder::InputEncoder;
use crate::core::pixel_conv_layer::{PixelConvLayer, from_pixels};
use crate::core::spike_fifo::SpikeFifo;
use crate::core::zero_run_expander::ZeroRunExpander;
use anyhow::{Context, Result, bail};
use fs_model::geometry::{LayerKind, PoolKind};
use fs_model::network::Model;
use rust_hdl::prelude::*;

/// Events a spike-bus FIFO holds unless the configuration says otherwise.
pub const DEFAULT_FIFO_DEPTH: usize = 8;

/// An image as the pixel port takes it: words of `(zeros, value)`, `zeros` zero pixels and
/// then one pixel of `value`, each word ending at a non-zero pixel or at the image's last
/// pixel (so the last word may be all zeros). Zero pixels cost the input encoder nothing:
/// it loads an image in as many cycles as the image has words.
pub fn pixel_words(image: &[u8]) -> Vec<(u16, u8)> {
    let mut words = Vec::new();
    let mut zeros = 0u16;
    for (i, &p) in image.iter().enumerate() {
        if p == 0 && i + 1 < image.len() {
            zeros += 1;
        } else {
            words.push((zeros, p));
            zeros = 0;
        }
    }
    words
}

/// How the hardware is built for a model: lanes (processing elements) per layer, and the
/// depth of the FIFO in front of every layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwConfig {
    pub lanes: Vec<usize>,
    pub fifo_depth: usize,
}

impl HwConfig {
    /// `lanes` per layer, default FIFOs.
    pub fn new(lanes: Vec<usize>) -> Self {
        HwConfig {
            lanes,
            fifo_depth: DEFAULT_FIFO_DEPTH,
        }
    }

    /// Whether the design of `model` gets the registers that shorten its paths outside the
    /// lanes (the input encoder's image-end test, the argmax's compare between registers
    /// and its class a register later, a skid buffer behind every FIFO and in front of those
    /// that a convolution feeds): when a layer has
    /// more than
    /// [`EMISSION_CHAIN_LANES`] lanes, or the network has a convolution (the MNIST CNN at
    /// 128,64,32,4 fills 63% of an ECP5-85F's logic with blocks of four kinds), designs that
    /// placement spreads across the chip. The smaller MLPs keep the flip-flops (the
    /// iCEBreaker's has one logic cell to spare).
    pub fn short_paths(&self, model: &Model) -> bool {
        self.lanes.iter().any(|&l| l > EMISSION_CHAIN_LANES)
            || model
                .geometry()
                .iter()
                .any(|g| matches!(g.kind, LayerKind::Conv2d { .. }))
    }

    /// Up to `max_lanes` lanes per layer, never more than the layer has neurons; a
    /// convolution layer takes whole banks (every output channel, times the pooling window's
    /// neurons), at least one.
    pub fn uniform(model: &Model, max_lanes: usize) -> Self {
        let geometry = model.geometry();
        Self::new(
            model
                .layers
                .iter()
                .zip(&geometry)
                .map(|(l, g)| match g.kind {
                    LayerKind::Dense => l.outputs().min(max_lanes),
                    LayerKind::Conv2d { .. } => {
                        // (A pooling the RTL cannot do is refused when the layer is built.)
                        let slots = pool_slots(g).unwrap_or(1);
                        let unit = g.neurons.channels * slots;
                        let positions = g.neurons.height * g.neurons.width;
                        unit * (max_lanes / unit).clamp(1, positions / slots)
                    }
                })
                .collect(),
        )
    }
}

/// Whether this RTL can run `model`; the error names the first layer it cannot run and why.
pub fn supports(model: &Model) -> Result<()> {
    let geometry = model.geometry();
    let last = geometry.len() - 1;
    for (l, g) in geometry.iter().enumerate() {
        let previous = l.checked_sub(1).map(|p| &geometry[p]);
        let averaged = previous.is_some_and(|p| p.pool.is_some_and(|q| q.kind == PoolKind::Avg));
        match g.kind {
            LayerKind::Conv2d { .. } => {
                if l == last {
                    bail!("layer {l} is a convolution: the RTL's output layer is dense");
                }
                if previous.is_some_and(|p| p.kind == LayerKind::Dense) {
                    bail!(
                        "layer {l} is a convolution after a dense layer: the RTL runs \
                         convolutions first, then dense layers"
                    );
                }
                if let Err(e) = pool_slots(g) {
                    bail!("layer {l} {e}");
                }
            }
            LayerKind::Dense => {
                if g.pool.is_some() {
                    bail!("layer {l} is a pooled dense layer: the RTL pools convolutions only");
                }
                if averaged {
                    bail!(
                        "layer {l} is a dense layer fed by an average-pooled layer: the RTL \
                         feeds average-pooled maps to convolutions only"
                    );
                }
            }
        }
    }
    Ok(())
}

/// The counters of an accelerator with `layers` layers, by `counter_select` number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Clock cycles since the last `counter_clear`.
    Cycles,
    /// Images whose last pixel was taken.
    ImagesIn,
    /// Images whose result (the end-of-image marker with the class) left.
    ImagesOut,
    /// Spikes into layer `l` (`l = 0`: the input code's).
    Spikes(usize),
    /// Cycles in which layer `l`'s lanes started an operation.
    Busy(usize),
    /// Cycles in which layer `l` wrote a saturated sum (in one lane or more): zero exactly
    /// when the golden model counts no saturation in the layer.
    Saturations(usize),
}

impl Counter {
    /// The `counter_select` value of this counter.
    pub fn select(self, layers: usize) -> usize {
        match self {
            Counter::Cycles => 0,
            Counter::ImagesIn => 1,
            Counter::ImagesOut => 2,
            Counter::Spikes(l) => 3 + l,
            Counter::Busy(l) => 3 + layers + l,
            Counter::Saturations(l) => 3 + 2 * layers + l,
        }
    }

    /// How many counters an accelerator with `layers` layers has.
    pub fn count(layers: usize) -> usize {
        3 + 3 * layers
    }
}

#[derive(LogicBlock)]
pub struct Accelerator {
    pub clock: Signal<In, Clock>,
    /// An image's pixels as words ([`pixel_words`]): `pixel_zeros` zero pixels, then one of
    /// `pixel_value`; a word never runs past the image's last pixel. A dense stream is words
    /// of no zeros.
    pub pixel_valid: Signal<In, Bit>,
    pub pixel_zeros: Signal<In, Bits<16>>,
    pub pixel_value: Signal<In, Bits<16>>,
    pub pixel_ready: Signal<Out, Bit>,
    /// The output layer's logits in neuron order (32-bit two's complement), then
    /// `result_last` with the class.
    pub result_valid: Signal<Out, Bit>,
    pub result_index: Signal<Out, Bits<16>>,
    pub result_logit: Signal<Out, Bits<32>>,
    pub result_last: Signal<Out, Bit>,
    pub result_class: Signal<Out, Bits<16>>,
    pub result_ready: Signal<In, Bit>,
    /// The counter `counter_select` ([`Counter::select`]); `counter_clear` zeroes them all.
    pub counter_select: Signal<In, Bits<8>>,
    pub counter_value: Signal<Out, Bits<32>>,
    pub counter_clear: Signal<In, Bit>,
    /// Run-time model loads, only while no image is in flight: `load_data` into lane
    /// `load_lane` of layer `load_layer`, its weight memory or (`load_state`) its state
    /// memory, at `load_address` (`crate::core::lane_layout` gives the layouts).
    /// `load_layer`, `load_lane` and `load_state` are held from two cycles before
    /// `load_enable` (the layers register which memory they name).
    pub load_enable: Signal<In, Bit>,
    pub load_state: Signal<In, Bit>,
    pub load_layer: Signal<In, Bits<8>>,
    pub load_lane: Signal<In, Bits<16>>,
    pub load_address: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,
    /// The input encoder (pixels to bit-plane spikes), unless the first layer is computed
    /// from pixels ([`from_pixels`]): then `pixel_convs` has it, and FIFO 0 carries only the
    /// end of every image's pixels.
    pub encoders: Vec<InputEncoder>,
    pub pixel_convs: Vec<PixelConvLayer>,
    /// In front of a first layer computed from pixels: the words back to every pixel.
    expanders: Vec<ZeroRunExpander>,
    /// FIFO `s` feeds stage `s` (layer `s`; the last one the result port).
    pub fifos: Vec<SpikeFifo>,
    /// The event-driven convolution layers (stages `P..C`, after the `P` = 0 or 1 layers
    /// computed from pixels), then the dense layers (stages `C..`).
    pub convs: Vec<ConvLayer>,
    pub layers: Vec<DenseLayer>,
    cycles: DFF<Bits<32>>,
    images_in: DFF<Bits<32>>,
    images_out: DFF<Bits<32>>,
    spikes: Vec<DFF<Bits<32>>>,
    /// The layers' busy and saturated pulses, registered before they are counted (their
    /// OR over hundreds of lanes is a long path).
    busy_pulse: Vec<DFF<Bit>>,
    /// A stage's spikes of the previous cycle (the counter adds a register, not the
    /// handshake or the pixel's popcount).
    spikes_pulse: Vec<DFF<Bits<32>>>,
    saturated_pulse: Vec<DFF<Bit>>,
    busy: Vec<DFF<Bits<32>>>,
    saturations: Vec<DFF<Bits<32>>>,
    /// The `counter_select` of each layer's counters.
    spikes_select: Vec<Constant<Bits<8>>>,
    busy_select: Vec<Constant<Bits<8>>>,
    saturations_select: Vec<Constant<Bits<8>>>,
    layer_number: Vec<Constant<Bits<8>>>,
    best_flipped: DFF<Bits<32>>,
    best_index: DFF<Bits<16>>,
    /// With [`HwConfig::short_paths`] (else empty): a logit taken at the result port waits
    /// here a cycle, is compared in the next into `argmax_greater` and replaces the best in
    /// the one after (compare and the 48 flip-flops it selects are two paths from
    /// registers). The port takes a logit only while the stage is empty, so every compare
    /// sees the best of all the logits before it: a logit every other cycle, ten per image.
    /// An image's end marker waits until the compare, the update and `class_out` have it,
    /// so the class is complete when the marker leaves.
    argmax_valid: Vec<DFF<Bit>>,
    argmax_flipped: Vec<DFF<Bits<32>>>,
    argmax_index: Vec<DFF<Bits<16>>>,
    argmax_greater: Vec<DFF<Bit>>,
    /// The end marker left a cycle ago: the best is cleared now (the port's handshake does
    /// not also route to the best's 48 flip-flops; the next image's first logit is compared
    /// a cycle later still), and `images_out` counts it.
    argmax_clear: Vec<DFF<Bit>>,
    /// The class a cycle after the argmax has it (`result_class` then starts at a register
    /// placed by its consumers, and the compare's 48 flip-flops by the compare), and a flag
    /// that the logit in the stage a cycle ago is still on its way there.
    class_out: Vec<DFF<Bits<16>>>,
    argmax_settling: Vec<DFF<Bit>>,
    sign_bit: Constant<Bits<32>>,
    sign_extension: Constant<Bits<32>>,
    logit: Signal<Local, Bits<32>>,
    /// Per stage: the layer's busy and saturated pulses and its event handshake.
    stage_busy: Vec<Signal<Local, Bit>>,
    stage_saturated: Vec<Signal<Local, Bit>>,
    stage_ready: Vec<Signal<Local, Bit>>,
    /// Per stage, the spikes that entered it this cycle.
    stage_spikes: Vec<Signal<Local, Bits<32>>>,
    image_loaded: Signal<Local, Bit>,
    _layers: usize,
    _convs: usize,
    _direct_argmax: usize,
    _staged_argmax: usize,
    _pixel: usize,
    _encoders: usize,
}

/// Multipliers per layer, which synthesis maps to DSP blocks: every lane of a first
/// convolution from pixels multiplies a pixel by a weight; another layer's lanes multiply
/// only when their senders' spike values are not all powers of two (else they shift), as
/// [`Accelerator::new`] builds them.
pub fn multipliers(model: &Model, config: &HwConfig) -> Vec<usize> {
    let pixel = from_pixels(model);
    sender_values(model)
        .iter()
        .zip(&config.lanes)
        .enumerate()
        .map(|(l, (values, &lanes))| {
            let multiplies =
                (l == 0 && pixel) || SpikeProduct::of(values).is_ok_and(|p| p.multiplies());
            if multiplies { lanes } else { 0 }
        })
        .collect()
}

/// Per layer, the spike values `D(t)` of its senders: the input code's, then the layer
/// before's (a layer without a ROM, the output layer, sends none).
fn sender_values(model: &Model) -> Vec<Vec<i64>> {
    let mut values = model.input().spike_values();
    model
        .layers
        .iter()
        .map(|layer| {
            let sent = values.clone();
            if let Some(rom) = &layer.rom {
                values = rom.d.clone();
            }
            sent
        })
        .collect()
}

impl Accelerator {
    /// Builds the accelerator of `model`; fails with a message naming what this RTL does not
    /// support yet.
    pub fn new(model: &Model, config: &HwConfig) -> Result<Self> {
        supports(model)?;
        if config.lanes.len() != model.layers.len() {
            bail!(
                "{} lane counts for {} layers",
                config.lanes.len(),
                model.layers.len()
            );
        }
        if !(2..=128).contains(&config.fifo_depth) {
            bail!("FIFO depth {} is outside 2..=128", config.fifo_depth);
        }
        let datapath = Datapath::of_model(model)?;
        let weight_bits = model.format.weight_bits as usize;
        let senders = sender_values(model);
        let geometry = model.geometry();
        let (mut convs, mut layers, mut pixel_convs) = (Vec::new(), Vec::new(), Vec::new());
        let pixel = from_pixels(model);
        for (l, (layer, &lanes)) in model.layers.iter().zip(&config.lanes).enumerate() {
            let g = &geometry[l];
            let previous = l.checked_sub(1).map(|p| &geometry[p]);
            if l == 0 && pixel {
                pixel_convs.push(
                    PixelConvLayer::new(layer, g, model.input(), datapath, weight_bits, lanes)
                        .context("layer 0")?,
                );
            } else if matches!(g.kind, LayerKind::Conv2d { .. }) {
                convs.push(
                    ConvLayer::new(
                        layer,
                        g,
                        previous,
                        datapath,
                        weight_bits,
                        &senders[l],
                        lanes,
                    )
                    .with_context(|| format!("layer {l}"))?,
                );
            } else {
                layers.push(
                    DenseLayer::new(layer, datapath, weight_bits, &senders[l], lanes)
                        .with_context(|| format!("layer {l}"))?,
                );
            }
        }
        let sign_bit = datapath.sign_bit();
        let short = config.short_paths(model) as usize;
        let stages = pixel_convs.len() + convs.len() + layers.len();
        let count = stages;
        let select = |counter: fn(usize) -> Counter| {
            (0..count)
                .map(|l| Constant::new((counter(l).select(count) as u64).into()))
                .collect()
        };
        Ok(Accelerator {
            clock: Default::default(),
            pixel_valid: Default::default(),
            pixel_zeros: Default::default(),
            pixel_value: Default::default(),
            pixel_ready: Default::default(),
            result_valid: Default::default(),
            result_index: Default::default(),
            result_logit: Default::default(),
            result_last: Default::default(),
            result_class: Default::default(),
            result_ready: Default::default(),
            counter_select: Default::default(),
            counter_value: Default::default(),
            counter_clear: Default::default(),
            load_enable: Default::default(),
            load_state: Default::default(),
            load_layer: Default::default(),
            load_lane: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            layer_number: (0..stages)
                .map(|l| Constant::new((l as u64).into()))
                .collect(),
            expanders: pixel_convs.iter().map(|_| Default::default()).collect(),
            encoders: if pixel {
                Vec::new()
            } else {
                let encoder = InputEncoder::new(model.input());
                vec![if short == 1 {
                    encoder.with_pixels_left()
                } else {
                    encoder
                }]
            },
            // One in front of every layer, and one between the output layer and the port.
            // With short paths, a skid buffer behind each; and in front of each that a
            // convolution feeds, as its output port computes the event's index (an encoder and
            // an adder after its registers), which must not be followed by a wire across the
            // chip (run 18, seed 2: the first convolution's output into the next FIFO's slots,
            // 11.71 ns, 6.5 of them on one route).
            fifos: (0..=stages)
                .map(|f| {
                    let fifo = SpikeFifo::new(config.fifo_depth);
                    let after_convolution = (1..=pixel_convs.len() + convs.len()).contains(&f);
                    match (short == 1, after_convolution) {
                        (true, true) => fifo.with_input_skid().with_output_skid(),
                        (true, false) => fifo.with_output_skid(),
                        (false, _) => fifo,
                    }
                })
                .collect(),
            cycles: Default::default(),
            images_in: Default::default(),
            images_out: Default::default(),
            spikes: (0..stages).map(|_| Default::default()).collect(),
            busy_pulse: (0..stages).map(|_| Default::default()).collect(),
            spikes_pulse: (0..stages).map(|_| Default::default()).collect(),
            saturated_pulse: (0..stages).map(|_| Default::default()).collect(),
            busy: (0..stages).map(|_| Default::default()).collect(),
            saturations: (0..stages).map(|_| Default::default()).collect(),
            spikes_select: select(Counter::Spikes),
            busy_select: select(Counter::Busy),
            saturations_select: select(Counter::Saturations),
            _layers: stages,
            _convs: pixel_convs.len() + convs.len(),
            _pixel: pixel_convs.len(),
            _encoders: (!pixel) as usize,
            stage_spikes: (0..stages).map(|_| Default::default()).collect(),
            image_loaded: Default::default(),
            pixel_convs,
            stage_busy: (0..stages).map(|_| Default::default()).collect(),
            stage_saturated: (0..stages).map(|_| Default::default()).collect(),
            stage_ready: (0..stages).map(|_| Default::default()).collect(),
            convs,
            layers,
            best_flipped: Default::default(),
            best_index: Default::default(),
            argmax_valid: (0..short).map(|_| Default::default()).collect(),
            argmax_flipped: (0..short).map(|_| Default::default()).collect(),
            argmax_index: (0..short).map(|_| Default::default()).collect(),
            class_out: (0..short).map(|_| Default::default()).collect(),
            argmax_settling: (0..short).map(|_| Default::default()).collect(),
            argmax_greater: (0..short).map(|_| Default::default()).collect(),
            argmax_clear: (0..short).map(|_| Default::default()).collect(),
            _direct_argmax: 1 - short,
            _staged_argmax: short,
            sign_bit: Constant::new(sign_bit.into()),
            sign_extension: Constant::new((!(sign_bit * 2 - 1) & 0xffff_ffff).into()),
            logit: Default::default(),
        })
    }
}

impl Logic for Accelerator {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            best_flipped,
            best_index,
            cycles,
            images_in,
            images_out
        );
        // The pixels go to the encoder, or to the first layer if it takes them itself.
        self.pixel_ready.next = false;
        self.image_loaded.next = false;
        self.fifos[0].clock.next = self.clock.val();
        for e in 0..self._encoders {
            self.encoders[e].clock.next = self.clock.val();
            self.encoders[e].pixel_valid.next = self.pixel_valid.val();
            self.encoders[e].pixel_zeros.next = self.pixel_zeros.val();
            self.encoders[e].pixel_value.next = self.pixel_value.val();
            self.pixel_ready.next = self.encoders[e].pixel_ready.val();
            self.image_loaded.next = self.encoders[e].image_loaded.val();
            self.fifos[e].in_valid.next = self.encoders[e].event_valid.val();
            self.fifos[e].in_index.next = self.encoders[e].event_index.val();
            self.fifos[e].in_step.next = self.encoders[e].event_step.val();
            self.fifos[e].in_value.next = 0.into();
            self.fifos[e].in_last.next = self.encoders[e].event_last.val();
            self.encoders[e].event_ready.next = self.fifos[e].in_ready.val();
        }
        for p in 0..self._pixel {
            self.pixel_convs[p].clock.next = self.clock.val();
            self.expanders[p].clock.next = self.clock.val();
            self.expanders[p].run_valid.next = self.pixel_valid.val();
            self.expanders[p].run_zeros.next = self.pixel_zeros.val();
            self.expanders[p].run_value.next = self.pixel_value.val();
            self.pixel_ready.next = self.expanders[p].run_ready.val();
            self.pixel_convs[p].pixel_valid.next = self.expanders[p].pixel_valid.val();
            self.pixel_convs[p].pixel_value.next = self.expanders[p].pixel_value.val();
            self.expanders[p].pixel_ready.next = self.pixel_convs[p].pixel_ready.val();
            self.image_loaded.next = self.pixel_convs[p].image_loaded.val();
            // FIFO 0 marks the end of each image's pixels (the stage's "input done").
            self.fifos[p].in_valid.next = self.pixel_convs[p].image_loaded.val();
            self.fifos[p].in_index.next = 0.into();
            self.fifos[p].in_step.next = 0.into();
            self.fifos[p].in_value.next = 0.into();
            self.fifos[p].in_last.next = true;
            self.fifos[p].out_ready.next = true;
            self.stage_ready[p].next = true;
            self.stage_busy[p].next = self.pixel_convs[p].busy.val();
            self.stage_saturated[p].next = self.pixel_convs[p].saturated.val();
            self.pixel_convs[p].load_enable.next = self.load_enable.val();
            self.pixel_convs[p].load_target.next =
                self.load_layer.val() == self.layer_number[p].val();
            self.pixel_convs[p].load_state.next = self.load_state.val();
            self.pixel_convs[p].load_lane.next = self.load_lane.val();
            self.pixel_convs[p].load_address.next = self.load_address.val();
            self.pixel_convs[p].load_data.next = self.load_data.val();
            self.fifos[p + 1].in_valid.next = self.pixel_convs[p].spike_valid.val();
            self.fifos[p + 1].in_index.next = self.pixel_convs[p].spike_index.val();
            self.fifos[p + 1].in_step.next = self.pixel_convs[p].spike_step.val();
            self.fifos[p + 1].in_value.next = 0.into();
            self.fifos[p + 1].in_last.next = self.pixel_convs[p].spike_last.val();
            self.pixel_convs[p].spike_ready.next = self.fifos[p + 1].in_ready.val();
        }
        // FIFO s feeds stage s; stage s - 1 fills FIFO s. (`p` is the number of layers
        // computed from pixels: the Verilog generator evaluates indices from loop variables
        // only.)
        for p in self._pixel..(self._pixel + 1) {
            for c in self._pixel..self._convs {
                self.convs[c - p].clock.next = self.clock.val();
                self.fifos[c].clock.next = self.clock.val();
                self.convs[c - p].event_valid.next = self.fifos[c].out_valid.val();
                self.convs[c - p].event_index.next = self.fifos[c].out_index.val();
                self.convs[c - p].event_step.next = self.fifos[c].out_step.val();
                self.convs[c - p].event_last.next = self.fifos[c].out_last.val();
                self.fifos[c].out_ready.next = self.convs[c - p].event_ready.val();
                self.stage_ready[c].next = self.convs[c - p].event_ready.val();
                self.stage_busy[c].next = self.convs[c - p].busy.val();
                self.stage_saturated[c].next = self.convs[c - p].saturated.val();
                self.convs[c - p].load_enable.next = self.load_enable.val();
                self.convs[c - p].load_target.next =
                    self.load_layer.val() == self.layer_number[c].val();
                self.convs[c - p].load_state.next = self.load_state.val();
                self.convs[c - p].load_lane.next = self.load_lane.val();
                self.convs[c - p].load_address.next = self.load_address.val();
                self.convs[c - p].load_data.next = self.load_data.val();
                self.fifos[c + 1].in_valid.next = self.convs[c - p].spike_valid.val();
                self.fifos[c + 1].in_index.next = self.convs[c - p].spike_index.val();
                self.fifos[c + 1].in_step.next = self.convs[c - p].spike_step.val();
                self.fifos[c + 1].in_value.next = 0.into();
                self.fifos[c + 1].in_last.next = self.convs[c - p].spike_last.val();
                self.convs[c - p].spike_ready.next = self.fifos[c + 1].in_ready.val();
            }
        }
        // (`k` is the number of convolution layers: the Verilog generator evaluates indices
        // from loop variables only.)
        for k in self._convs..(self._convs + 1) {
            for l in self._convs..self._layers {
                self.layers[l - k].clock.next = self.clock.val();
                self.fifos[l].clock.next = self.clock.val();
                self.layers[l - k].event_valid.next = self.fifos[l].out_valid.val();
                self.layers[l - k].event_index.next = self.fifos[l].out_index.val();
                self.layers[l - k].event_step.next = self.fifos[l].out_step.val();
                self.layers[l - k].event_last.next = self.fifos[l].out_last.val();
                self.fifos[l].out_ready.next = self.layers[l - k].event_ready.val();
                self.stage_ready[l].next = self.layers[l - k].event_ready.val();
                self.stage_busy[l].next = self.layers[l - k].busy.val();
                self.stage_saturated[l].next = self.layers[l - k].saturated.val();
                self.layers[l - k].load_enable.next = self.load_enable.val();
                self.layers[l - k].load_target.next =
                    self.load_layer.val() == self.layer_number[l].val();
                self.layers[l - k].load_state.next = self.load_state.val();
                self.layers[l - k].load_lane.next = self.load_lane.val();
                self.layers[l - k].load_address.next = self.load_address.val();
                self.layers[l - k].load_data.next = self.load_data.val();
            }
            for l in (self._convs + 1)..self._layers {
                self.fifos[l].in_valid.next = self.layers[l - 1 - k].spike_valid.val();
                self.fifos[l].in_index.next = self.layers[l - 1 - k].spike_index.val();
                self.fifos[l].in_step.next = self.layers[l - 1 - k].spike_step.val();
                self.fifos[l].in_value.next = 0.into();
                self.fifos[l].in_last.next = self.layers[l - 1 - k].spike_last.val();
                self.layers[l - 1 - k].spike_ready.next = self.fifos[l].in_ready.val();
            }
        }
        // The output layer's logits go through the last FIFO to the result port, sign-extended,
        // and into the running argmax (first largest wins). (A one-iteration loop names the
        // last layer: the Verilog generator evaluates indices from loop variables only.)
        for k in self._convs..(self._convs + 1) {
            for l in (self._layers - 1)..self._layers {
                self.fifos[l + 1].clock.next = self.clock.val();
                self.fifos[l + 1].in_valid.next = self.layers[l - k].spike_valid.val();
                self.fifos[l + 1].in_index.next = self.layers[l - k].spike_index.val();
                self.fifos[l + 1].in_step.next = 0.into();
                self.fifos[l + 1].in_value.next = self.layers[l - k].spike_value.val();
                self.fifos[l + 1].in_last.next = self.layers[l - k].spike_last.val();
                self.layers[l - k].spike_ready.next = self.fifos[l + 1].in_ready.val();
            }
        }
        for l in (self._layers - 1)..self._layers {
            self.result_valid.next = self.fifos[l + 1].out_valid.val();
            self.result_index.next = self.fifos[l + 1].out_index.val();
            self.logit.next = self.fifos[l + 1].out_value.val();
            self.result_last.next = self.fifos[l + 1].out_last.val();
            self.fifos[l + 1].out_ready.next = self.result_ready.val();
            for _w in 0..self._staged_argmax {
                if self.argmax_valid[0].q.val()
                    | (self.fifos[l + 1].out_last.val()
                        & (self.argmax_greater[0].q.val() | self.argmax_settling[0].q.val()))
                {
                    self.result_valid.next = false;
                    self.fifos[l + 1].out_ready.next = false;
                }
            }
        }
        self.result_logit.next = self.logit.val();
        if (self.logit.val() & self.sign_bit.val()).any() {
            self.result_logit.next = self.logit.val() | self.sign_extension.val();
        }
        self.result_class.next = self.best_index.q.val();
        // The best logit so far is kept with its sign bit flipped (an unsigned compare is then
        // a signed one), starting at 0: the membrane minimum, which logit 0 always reaches.
        for _w in 0..self._direct_argmax {
            if self.result_valid.val() & self.result_ready.val() {
                if self.result_last.val() {
                    self.best_flipped.d.next = 0.into();
                    self.best_index.d.next = 0.into();
                } else if (self.logit.val() ^ self.sign_bit.val()) > self.best_flipped.q.val() {
                    self.best_flipped.d.next = self.logit.val() ^ self.sign_bit.val();
                    self.best_index.d.next = self.result_index.val();
                }
            }
        }
        for _w in 0..self._staged_argmax {
            self.argmax_valid[0].clock.next = self.clock.val();
            self.argmax_flipped[0].clock.next = self.clock.val();
            self.argmax_index[0].clock.next = self.clock.val();
            self.argmax_valid[0].d.next =
                self.result_valid.val() & self.result_ready.val() & !self.result_last.val();
            self.argmax_flipped[0].d.next = self.argmax_flipped[0].q.val();
            self.argmax_index[0].d.next = self.argmax_index[0].q.val();
            if self.result_valid.val() & self.result_ready.val() {
                self.argmax_flipped[0].d.next = self.logit.val() ^ self.sign_bit.val();
                self.argmax_index[0].d.next = self.result_index.val();
            }
            self.class_out[0].clock.next = self.clock.val();
            self.argmax_settling[0].clock.next = self.clock.val();
            self.class_out[0].d.next = self.best_index.q.val();
            self.argmax_greater[0].clock.next = self.clock.val();
            self.argmax_greater[0].d.next = self.argmax_valid[0].q.val()
                & (self.argmax_flipped[0].q.val() > self.best_flipped.q.val());
            self.argmax_settling[0].d.next = self.argmax_greater[0].q.val();
            self.result_class.next = self.class_out[0].q.val();
            // (The stage's registers hold the logit until the port takes the next one, which
            // it does no earlier than this update.)
            if self.argmax_greater[0].q.val() {
                self.best_flipped.d.next = self.argmax_flipped[0].q.val();
                self.best_index.d.next = self.argmax_index[0].q.val();
            }
            // (The stage is empty when a marker is taken, and the compare a cycle later.)
            self.argmax_clear[0].clock.next = self.clock.val();
            self.argmax_clear[0].d.next =
                self.result_valid.val() & self.result_ready.val() & self.result_last.val();
            if self.argmax_clear[0].q.val() {
                self.best_flipped.d.next = 0.into();
                self.best_index.d.next = 0.into();
            }
        }

        // Counters (numbered as `Counter::select` says). A layer computed from pixels counts
        // the input code's spikes in every pixel it takes.
        for p in 0..self._pixel {
            self.stage_spikes[p].next = self.pixel_convs[p].pixel_spikes.val();
        }
        for l in self._pixel..self._layers {
            self.stage_spikes[l].next = 0.into();
            if self.fifos[l].out_valid.val()
                & self.stage_ready[l].val()
                & !self.fifos[l].out_last.val()
            {
                self.stage_spikes[l].next = 1.into();
            }
        }
        self.cycles.d.next = self.cycles.q.val() + 1;
        if self.image_loaded.val() {
            self.images_in.d.next = self.images_in.q.val() + 1;
        }
        for _w in 0..self._direct_argmax {
            if self.result_valid.val() & self.result_ready.val() & self.result_last.val() {
                self.images_out.d.next = self.images_out.q.val() + 1;
            }
        }
        // (A cycle late, from the argmax's register of the marker's take: the port's handshake
        // then ends at one flip-flop, not at the counter's 32.)
        for _w in 0..self._staged_argmax {
            if self.argmax_clear[0].q.val() {
                self.images_out.d.next = self.images_out.q.val() + 1;
            }
        }
        for l in 0..self._layers {
            self.spikes[l].clock.next = self.clock.val();
            self.busy[l].clock.next = self.clock.val();
            self.saturations[l].clock.next = self.clock.val();
            self.spikes[l].d.next = self.spikes[l].q.val();
            self.busy[l].d.next = self.busy[l].q.val();
            self.saturations[l].d.next = self.saturations[l].q.val();
            self.busy_pulse[l].clock.next = self.clock.val();
            self.saturated_pulse[l].clock.next = self.clock.val();
            self.busy_pulse[l].d.next = self.stage_busy[l].val();
            self.saturated_pulse[l].d.next = self.stage_saturated[l].val();
            self.spikes_pulse[l].clock.next = self.clock.val();
            self.spikes_pulse[l].d.next = self.stage_spikes[l].val();
            self.spikes[l].d.next = self.spikes[l].q.val() + self.spikes_pulse[l].q.val();
            if self.busy_pulse[l].q.val() {
                self.busy[l].d.next = self.busy[l].q.val() + 1;
            }
            if self.saturated_pulse[l].q.val() {
                self.saturations[l].d.next = self.saturations[l].q.val() + 1;
            }
            if self.counter_clear.val() {
                self.spikes[l].d.next = 0.into();
                self.busy[l].d.next = 0.into();
                self.saturations[l].d.next = 0.into();
            }
        }
        if self.counter_clear.val() {
            self.cycles.d.next = 0.into();
            self.images_in.d.next = 0.into();
            self.images_out.d.next = 0.into();
        }
        self.counter_value.next = 0.into();
        if self.counter_select.val() == 0 {
            self.counter_value.next = self.cycles.q.val();
        }
        if self.counter_select.val() == 1 {
            self.counter_value.next = self.images_in.q.val();
        }
        if self.counter_select.val() == 2 {
            self.counter_value.next = self.images_out.q.val();
        }
        for l in 0..self._layers {
            if self.counter_select.val() == self.spikes_select[l].val() {
                self.counter_value.next = self.spikes[l].q.val();
            }
            if self.counter_select.val() == self.busy_select[l].val() {
                self.counter_value.next = self.busy[l].q.val();
            }
            if self.counter_select.val() == self.saturations_select[l].val() {
                self.counter_value.next = self.saturations[l].q.val();
            }
        }
    }
}
