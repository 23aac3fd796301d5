//! The first convolution of a network computed from its pixels, output-stationary: pixels
//! in, spikes out in the bus order of [`fs_model::geometry::send_order`], max pooling in
//! hardware. The accelerator builds it in place of the input encoder and an event-driven
//! [`crate::core::conv_layer::ConvLayer`] when [`from_pixels`] says the result is the same.
//!
//! Why: an event-driven first convolution reads and writes a membrane for every input spike
//! times every receiver (a pixel's eight bit-plane spikes each touch its whole receptive
//! field), so its lanes need a block-RAM port each and a state memory far larger than the
//! map. Here a lane holds one neuron's membrane in a register while it multiplies the
//! neuron's `Ci k k` pixels by their weights, one tap per cycle, then fires it; a neuron's
//! value is `B + IMP + sum_i W_i x_i` exactly when no partial sum can saturate
//! ([`fs_model::network::accumulation_bounds`]), whatever the order of the additions.
//!
//! - **Load.** Pixels arrive one per cycle into every bank's copy of the image (two sets:
//!   image n+1 loads while image n is computed).
//! - **Compute.** Lanes are `B` banks times `C` output channels; bank `b = r S + s` computes
//!   slot `s` of the pooling window (`S = w^2` slots, 1 unpooled) of unit `g m + r` in group
//!   `g` (`m = B / S` units per group, units in raster order of the sent map). A group takes
//!   `P = max(Ci k k, K + 1)` cycles: a tap per cycle in every lane (the bank's pixel, from
//!   address arithmetic, zero in the padding, times the channel's weight), accumulated on
//!   `B + IMP`. Pipeline: address, block-RAM word, registered operands, the
//!   multiplier's fabric and DSP operand registers, product, sum.
//! - **Fire.** The group's sums move to the fire registers, and `K` fire steps follow, one per
//!   cycle, while the next group accumulates. Each window's pooled spike is found step by step
//!   (a candidate bit per lane, as in the event-driven layer) a cycle behind the step, from
//!   the lanes' registered spikes (the compare and the window's OR across lanes placed apart
//!   are then two paths), and each step's pooled spikes of a unit are written as a `C`-bit
//!   mask into the unit's spike memory (two sets).
//! - **Emit.** Step by step, unit by unit, the masks are read; non-zero ones wait in a small
//!   queue, and leave one spike per cycle, lowest channel first; then the end-of-image marker.
//! - **Skip.** A group whose field ([`group_fields`]) holds no non-zero pixel of the image
//!   ([`GroupOccupancy`] flags them as the pixels load) issues one tap, which reads a zero, at
//!   the end of `K + 1` cycles: its sums are `B + IMP`, as its `P` taps would give.

use crate::core::bram::Bram;
use crate::core::conv_layout::pool_slots;
use crate::core::datapath::Datapath;
use crate::core::group_occupancy::GroupOccupancy;
use crate::core::neuron_alu::NeuronAlu;
use crate::core::signed_product::SignedProduct;
use crate::core::spike_fifo::SpikeFifo;
use anyhow::{Result, bail, ensure};
use fs_model::geometry::{Geometry, LayerKind, PoolKind};
use fs_model::network::{FsLayer, InputEncoding, Model, accumulation_bounds};
use rust_hdl::prelude::*;

/// Masks of `C` channels travel in the queue's 32-bit value field.
pub const MAX_CHANNELS: usize = 32;
/// Entries of the mask queue between the spike memories and the emitter.
const QUEUE_DEPTH: usize = 8;

/// Whether the accelerator computes `model`'s first layer from pixels: a convolution whose
/// accumulation cannot saturate (so its order does not matter), with at most
/// [`MAX_CHANNELS`] output channels and an image that fits the pixel memories.
pub fn from_pixels(model: &Model) -> bool {
    let geometry = model.geometry();
    let Some(g) = geometry.first() else {
        return false;
    };
    let Some(rom) = &model.layers[0].rom else {
        return false;
    };
    let membrane = model.format.membrane_range();
    matches!(g.kind, LayerKind::Conv2d { .. })
        && g.neurons.channels <= MAX_CHANNELS
        && model.input().size() <= 1 << 15
        && rom.k() < 32
        && pool_slots(g).is_ok()
        && accumulation_bounds(model.input(), &geometry[..1], &model.layers[..1])[0]
            .iter()
            .all(|&b| b <= membrane.max as u64)
}

/// The shape of a [`PixelConvLayer`] with some number of lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelConvShape {
    /// Output channels `C`.
    pub channels: usize,
    /// Banks `B` (lanes `B C`).
    pub banks: usize,
    /// Pooling slots `S` (1 when not max-pooled).
    pub slots: usize,
    /// Units of the sent map (pooled positions, or positions), and per group `m = B / S`.
    pub units: usize,
    pub units_per_group: usize,
    pub groups: usize,
    /// Units whose masks one read of the spike memories brings (their `C`-bit masks fill
    /// at most 32 bits), and reads per group.
    pub units_per_read: usize,
    pub chunks: usize,
    /// Taps per neuron `Ci k k`, and cycles per group.
    pub taps: usize,
    pub period: usize,
    pub steps: usize,
}

impl PixelConvShape {
    pub fn new(geometry: &Geometry, steps: usize, lanes: usize) -> Result<Self> {
        let LayerKind::Conv2d { kernel, .. } = geometry.kind else {
            bail!("not a convolution layer");
        };
        let slots = pool_slots(geometry)?;
        let channels = geometry.neurons.channels;
        let unit = channels * slots;
        ensure!(
            lanes >= unit && lanes % unit == 0,
            "{lanes} lanes: a first convolution takes lanes in multiples of its {channels} \
             channels times {slots} pooling slots ({unit})"
        );
        let sent = if slots > 1 {
            geometry.output
        } else {
            geometry.neurons
        };
        let units = sent.height * sent.width;
        let banks = lanes / channels;
        let units_per_group = banks / slots;
        ensure!(
            units_per_group <= units,
            "{lanes} lanes for {units} positions of {unit} neurons each"
        );
        let taps = geometry.input.channels * kernel * kernel;
        let units_per_read = units_per_group.min((MAX_CHANNELS / channels).max(1));
        Ok(PixelConvShape {
            units_per_read,
            chunks: units_per_group.div_ceil(units_per_read),
            channels,
            banks,
            slots,
            units,
            units_per_group,
            groups: units.div_ceil(units_per_group),
            taps,
            period: taps.max(steps + 1),
            steps,
        })
    }

    /// Cycles of a group whose field holds none of the image's non-zero pixels (every tap
    /// would read zero, so its sums are `B + IMP`): one tap, at the end of `K + 1` cycles (the
    /// previous group's fire steps). `None` when that is no shorter than a group.
    pub fn skip_period(&self) -> Option<usize> {
        let short = self.steps + 1;
        (short < self.period).then_some(short)
    }

    /// Cycles the compute takes per image with `skipped` groups skipped: the groups, the
    /// pipeline, the last fire and its pooling.
    pub fn compute_cycles(&self, skipped: usize) -> usize {
        let short = self.skip_period().unwrap_or(self.period);
        (self.groups - skipped) * self.period + skipped * short + self.steps + 11
    }

    /// The groups an image of `input` skips: those whose field holds none of its non-zero
    /// pixels (`nonzero`, per pixel in the order the layer takes them). None when the layer
    /// does not skip.
    pub fn skipped_groups(
        &self,
        fields: &[PixelRect],
        input: &InputEncoding,
        nonzero: &[bool],
    ) -> usize {
        if self.skip_period().is_none() {
            return 0;
        }
        let (h, w) = (input.height, input.width);
        let mut occupied = vec![false; h * w];
        for (i, _) in nonzero.iter().enumerate().filter(|&(_, &nz)| nz) {
            occupied[i % (h * w)] = true;
        }
        fields
            .iter()
            .filter(|f| {
                !(f.rows.0..=f.rows.1)
                    .any(|y| (f.columns.0..=f.columns.1).any(|x| occupied[y * w + x]))
            })
            .count()
    }

    /// Cycles the emission takes per image at least: a read per step and chunk.
    pub fn mask_cycles(&self) -> usize {
        self.steps * self.groups * self.chunks + 4
    }
}

/// Rows and columns of the input (`low..=high` each, over every channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelRect {
    pub rows: (usize, usize),
    pub columns: (usize, usize),
}

impl PixelRect {
    pub fn holds(&self, y: usize, x: usize) -> bool {
        (self.rows.0..=self.rows.1).contains(&y) && (self.columns.0..=self.columns.1).contains(&x)
    }
}

/// Per group of a [`PixelConvLayer`] at `shape`: the pixels its taps read, the union of its
/// neurons' receptive fields (every channel) cut to the image. A group whose neurons see only
/// padding gets the whole image (it is then never skipped, which is only slower).
pub fn group_fields(geometry: &Geometry, shape: &PixelConvShape) -> Vec<PixelRect> {
    let LayerKind::Conv2d {
        kernel,
        stride,
        padding,
    } = geometry.kind
    else {
        return Vec::new();
    };
    let (h, w) = (geometry.input.height as i64, geometry.input.width as i64);
    let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
    let (unit_width, window) = if shape.slots > 1 {
        (geometry.output.width, geometry.pool.map_or(1, |q| q.window))
    } else {
        (geometry.neurons.width, 1)
    };
    // A neuron's first and last input row (or column), cut to `0..n`.
    let span = |o: i64, n: i64| ((o * s - p).max(0), (o * s - p + k - 1).min(n - 1));
    (0..shape.groups)
        .map(|g| {
            let units =
                g * shape.units_per_group..((g + 1) * shape.units_per_group).min(shape.units);
            let mut field: Option<(i64, i64, i64, i64)> = None;
            for u in units {
                let (uy, ux) = ((u / unit_width) as i64, (u % unit_width) as i64);
                for slot in 0..(window * window) as i64 {
                    let win = window as i64;
                    let (rows, columns) = (
                        span(uy * win + slot / win, h),
                        span(ux * win + slot % win, w),
                    );
                    if rows.0 > rows.1 || columns.0 > columns.1 {
                        continue;
                    }
                    field = Some(match field {
                        None => (rows.0, rows.1, columns.0, columns.1),
                        Some(f) => (
                            f.0.min(rows.0),
                            f.1.max(rows.1),
                            f.2.min(columns.0),
                            f.3.max(columns.1),
                        ),
                    });
                }
            }
            let (r0, r1, c0, c1) = field.unwrap_or((0, h - 1, 0, w - 1));
            PixelRect {
                rows: (r0 as usize, r1 as usize),
                columns: (c0 as usize, c1 as usize),
            }
        })
        .collect()
}

/// The run-time contents of channel `c`'s memories: its weights in tap order and `B + IMP`.
pub fn channel_contents(layer: &FsLayer, c: usize) -> (Vec<i64>, Vec<i64>) {
    let weights = layer.weight.row(c).iter().map(|&w| w as i64).collect();
    (weights, vec![layer.bias[c] as i64 + layer.imp as i64])
}

#[derive(LogicBlock)]
pub struct PixelConvLayer {
    pub clock: Signal<In, Clock>,
    /// An image's pixels in order; taken when `pixel_ready` is high.
    pub pixel_valid: Signal<In, Bit>,
    pub pixel_value: Signal<In, Bits<16>>,
    pub pixel_ready: Signal<Out, Bit>,
    /// High in the cycle after an image's last pixel is taken.
    pub image_loaded: Signal<Out, Bit>,
    /// The input code's spikes in the pixel taken this cycle (its set bits), for the counters.
    pub pixel_spikes: Signal<Out, Bits<32>>,
    /// Spikes `(spike_index, spike_step)` of the sent map, or with `spike_last` the end of
    /// the image.
    pub spike_valid: Signal<Out, Bit>,
    pub spike_index: Signal<Out, Bits<16>>,
    pub spike_step: Signal<Out, Bits<5>>,
    pub spike_last: Signal<Out, Bit>,
    pub spike_ready: Signal<In, Bit>,
    /// The lanes work (a tap or a fire step) in this cycle.
    pub busy: Signal<Out, Bit>,
    /// A fire step wrote a saturated membrane (registered).
    pub saturated: Signal<Out, Bit>,
    /// Run-time loads while idle: channel `load_lane`'s weight at tap `load_address`, or with
    /// `load_state` its `B + IMP` (any address of 0..3); the memory is named two cycles ahead, as
    /// the dense layer's.
    pub load_enable: Signal<In, Bit>,
    pub load_target: Signal<In, Bit>,
    pub load_state: Signal<In, Bit>,
    pub load_lane: Signal<In, Bits<16>>,
    pub load_address: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,
    /// Per bank, the two images; per channel, the weights and `B + IMP`; per unit of a group,
    /// the masks of both sets.
    pixels: Vec<Bram<32>>,
    weights: Vec<Bram<16>>,
    inits: Vec<Bram<32>>,
    masks: Vec<Bram<32>>,
    channel_number: Vec<Constant<Bits<16>>>,
    weight_load_select: Vec<DFF<Bit>>,
    state_load_select: Vec<DFF<Bit>>,
    /// The layer is loaded, its weights or its state memory (registered, so the lanes' selects
    /// start from two flip-flops, not from the layer and state compares).
    weight_load_target: DFF<Bit>,
    state_load_target: DFF<Bit>,
    // Loading.
    taking: Signal<Local, Bit>,
    /// Per bank, the taken pixel's write, a cycle later from registers (the port's zero-run
    /// expander and handshake do not also route to every bank's block RAM). The compute
    /// reads the set no earlier than two cycles after it is full.
    pixel_write_enable: Vec<DFF<Bit>>,
    pixel_write_address: Vec<DFF<Bits<16>>>,
    pixel_write_data: Vec<DFF<Bits<32>>>,
    load_index: DFF<Bits<16>>,
    load_set: DFF<Bit>,
    full_a: DFF<Bit>,
    full_b: DFF<Bit>,
    /// `load_index` is the image's last pixel, kept in a flip-flop (set as the pixel before
    /// it is taken): the take of an image's last pixel is then an AND, not a 16-bit compare
    /// that routes to the FIFO and back to the counter's reset.
    at_last_pixel: DFFWithInit<Bit>,
    before_last_pixel: Constant<Bits<16>>,
    single_pixel: Constant<Bit>,
    /// The image's last pixel was taken (the `image_loaded` port, a cycle later).
    loaded: DFF<Bit>,
    pixel_set: Constant<Bits<16>>,
    pixel_mask: Constant<Bits<16>>,
    /// The taken pixel's spikes, counted by halves (two short chains) into registers.
    count_low: Signal<Local, Bits<32>>,
    count_high: Signal<Local, Bits<32>>,
    taken_pixel: DFF<Bits<16>>,
    pixel_count_low: DFF<Bits<32>>,
    pixel_count_high: DFF<Bits<32>>,
    /// The loading pixel's row and column; the taken pixel's, and whether it was its image's
    /// first or last, and its set, a cycle later for the groups' occupancy flags.
    load_row: DFF<Bits<16>>,
    load_column: DFF<Bits<16>>,
    row_last: Constant<Bits<16>>,
    column_last: Constant<Bits<16>>,
    taken_valid: DFF<Bit>,
    taken_first: DFF<Bit>,
    taken_last: DFF<Bit>,
    taken_set: DFF<Bit>,
    taken_row: DFF<Bits<16>>,
    taken_column: DFF<Bits<16>>,
    occupancy: GroupOccupancy,
    // Compute.
    computing: DFF<Bit>,
    image_open: DFF<Bit>,
    compute_set: DFF<Bit>,
    out_set: DFF<Bit>,
    start: Signal<Local, Bit>,
    start_ready: DFF<Bit>,
    /// `start_ready`, computed once and loaded into a copy per bank beside it: the copies
    /// drive the banks' position registers, `start_ready` the sequencer alone (run 16, seed
    /// 2: start_ready -> group at 10.19 ns, through its fan-out to every bank).
    start_ready_next: Signal<Local, Bit>,
    start_replica: Vec<DFF<Bit>>,
    issue: Signal<Local, Bit>,
    /// `issue` and "the tap is the period's last" for the current cycle, decided a cycle ahead (both
    /// fan out to every bank's address registers).
    issuing: DFF<Bit>,
    tap_at_end: DFF<Bit>,
    period_before_last: Constant<Bits<16>>,
    group: DFF<Bits<16>>,
    tap: DFF<Bits<16>>,
    /// Skipping: the current group's field holds no non-zero pixel of the image, so it takes
    /// one tap (which reads zero) at the end of a short period. The next group's flag is
    /// read as the current one ends.
    group_skip: DFF<Bit>,
    skips: Constant<Bit>,
    skip_before_last: Constant<Bits<16>>,
    before_last: Signal<Local, Bits<16>>,
    kx: DFF<Bits<16>>,
    ky: DFF<Bits<16>>,
    tap_index: DFF<Bits<16>>,
    tap_offset: DFF<Bits<16>>,
    taps_last: Constant<Bits<16>>,
    group_last: Constant<Bits<16>>,
    kernel_last: Constant<Bits<16>>,
    row_step: Constant<Bits<16>>,
    channel_step: Constant<Bits<16>>,
    padding: Constant<Bits<16>>,
    height_end: Constant<Bits<16>>,
    width_end: Constant<Bits<16>>,
    unit_columns: Constant<Bits<16>>,
    column_step: Constant<Bits<16>>,
    by_step: Constant<Bits<16>>,
    by_wrap: Constant<Bits<16>>,
    bx_step: Constant<Bits<16>>,
    bx_wrap: Constant<Bits<16>>,
    base_step: Constant<Bits<16>>,
    base_wrap: Constant<Bits<16>>,
    /// Per bank: the padded input coordinates of tap (0, 0) of its neuron, the address of
    /// that pixel (mod 2^16), and its unit's column; their values at the image's start.
    by: Vec<DFF<Bits<16>>>,
    bx: Vec<DFF<Bits<16>>>,
    base: Vec<DFF<Bits<16>>>,
    px: Vec<DFF<Bits<16>>>,
    by0: Vec<Constant<Bits<16>>>,
    bx0: Vec<Constant<Bits<16>>>,
    base0: Vec<Constant<Bits<16>>>,
    px0: Vec<Constant<Bits<16>>>,
    next_px: Vec<Signal<Local, Bits<16>>>,
    /// Per bank, the next group's `by`, `bx`, `base` and `px` without and with a row wrap,
    /// and whether it wraps: computed a cycle after each move (a period, at least two
    /// cycles, passes between moves), so that a move only selects registers.
    wraps: Vec<DFF<Bit>>,
    by_stepped: Vec<DFF<Bits<16>>>,
    by_wrapped: Vec<DFF<Bits<16>>>,
    bx_stepped: Vec<DFF<Bits<16>>>,
    bx_wrapped: Vec<DFF<Bits<16>>>,
    base_stepped: Vec<DFF<Bits<16>>>,
    base_wrapped: Vec<DFF<Bits<16>>>,
    px_stepped: Vec<DFF<Bits<16>>>,
    px_wrapped: Vec<DFF<Bits<16>>>,
    // The tap pipeline: B (block RAM words), C (operands), D (products).
    b_valid: DFF<Bit>,
    b_first: DFF<Bit>,
    b_last: DFF<Bit>,
    b_last_group: DFF<Bit>,
    b_group: DFF<Bits<16>>,
    /// The tap's padded coordinates (stage B), and whether they are inside the image
    /// (stage C, beside the pixel read: a pixel of the padding is zeroed there).
    b_iy: Vec<DFF<Bits<16>>>,
    b_ix: Vec<DFF<Bits<16>>>,
    c_inside: Vec<DFF<Bit>>,
    c_valid: DFF<Bit>,
    c_first: DFF<Bit>,
    c_last: DFF<Bit>,
    c_last_group: DFF<Bit>,
    c_group: DFF<Bits<16>>,
    c_pixel: Vec<DFF<Bits<32>>>,
    pixel16: Vec<Signal<Local, Bits<16>>>,
    c_weight: Vec<DFF<Bits<16>>>,
    /// Stage o: each lane's multiplier takes its operands into fabric registers of its own
    /// (the lanes' DSP blocks sit in columns across the chip: a bank's pixel reached some of
    /// its channels' blocks after 8.5 ns of routing); stage r: into the DSP block's input
    /// registers; stage p: its product register; stage d: the product in a fabric register
    /// (the placer may put a DSP block far from its lane's adder: the route alone then takes
    /// most of a cycle).
    o_valid: DFF<Bit>,
    o_first: DFF<Bit>,
    o_last: DFF<Bit>,
    o_last_group: DFF<Bit>,
    o_group: DFF<Bits<16>>,
    r_valid: DFF<Bit>,
    r_first: DFF<Bit>,
    r_last: DFF<Bit>,
    r_last_group: DFF<Bit>,
    r_group: DFF<Bits<16>>,
    p_valid: DFF<Bit>,
    p_first: DFF<Bit>,
    p_last: DFF<Bit>,
    p_last_group: DFF<Bit>,
    p_group: DFF<Bits<16>>,
    d_product: Vec<DFF<Bits<32>>>,
    d_valid: DFF<Bit>,
    d_last: DFF<Bit>,
    d_last_group: DFF<Bit>,
    d_group: DFF<Bits<16>>,
    /// Stage d's flags, one copy per bank for its lanes' multiplexers: the first product
    /// (operand from the initial values), a valid product (accumulate) and the last product
    /// (`d_valid & d_last`: capture into `fire_v`) (run 17, seed 2: a single first-product
    /// flag into every lane's `fire_v`, 9.93 ns).
    first_replica: Vec<DFF<Bit>>,
    accumulate_replica: Vec<DFF<Bit>>,
    capture_replica: Vec<DFF<Bit>>,
    /// Each lane's multiplier with its operand and product registers (in the DSP block on
    /// ECP5; named `*replica*` so that synthesis keeps every lane's operand registers where
    /// they stay in the fabric).
    product_replica: Vec<SignedProduct>,
    /// The running sum's other operand: `B + IMP` on a group's first tap.
    operand: Vec<Signal<Local, Bits<32>>>,
    acc: Vec<DFF<Bits<32>>>,
    sum: Vec<Signal<Local, Bits<32>>>,
    mask: Constant<Bits<32>>,
    // Fire.
    fire_active: DFF<Bit>,
    fire_step: DFF<Bits<5>>,
    fire_group: DFF<Bits<16>>,
    fire_last_group: DFF<Bit>,
    fire_v: Vec<DFF<Bits<32>>>,
    candidate: Vec<DFF<Bit>>,
    candidate_now: Vec<Signal<Local, Bit>>,
    alus: Vec<NeuronAlu>,
    /// Per lane: the fire step's spike, for the pooling a cycle later.
    spike_reg: Vec<DFF<Bit>>,
    /// The pooling stage's step is a group's first (its candidates all start).
    pool_first: DFF<Bit>,
    hit: Vec<Signal<Local, Bit>>,
    mask_word: Vec<Signal<Local, Bits<32>>>,
    channel_bit: Vec<Constant<Bits<32>>>,
    threshold: Vec<Constant<Bits<32>>>,
    reset_addend: Vec<Constant<Bits<32>>>,
    step_number: Vec<Constant<Bits<5>>>,
    steps_last: Constant<Bits<5>>,
    /// The fire step's `T(t)` and `-h(t)` and whether it is step 0, in registers (every lane
    /// reads them); the next step's values.
    /// (`*replica*` so that synthesis keeps the copies apart: `-h(t)` one per bank, driving a
    /// bank's lanes; `T(t)` one per lane, as its compare feeds the lane's membrane multiplexer
    /// in the same cycle: run 17, seed 1, a bank's copy -> its lanes' `fire_v`, 10.83 ns.)
    threshold_replica: Vec<DFF<Bits<32>>>,
    addend_replica: Vec<DFF<Bits<32>>>,
    /// What the `T(t)` copies load, and when: step 0's at a capture, the next step's at each
    /// fire step (one multiplexer, shared by every copy).
    threshold_load: Signal<Local, Bits<32>>,
    threshold_load_enable: Signal<Local, Bit>,
    /// Stage d holds a group's last product: its values are captured and its fire steps start.
    capture: Signal<Local, Bit>,
    fire_first: DFF<Bit>,
    /// The next step's `T(t)` and `-h(t)`, in a register: the replicas load it, not the step
    /// multiplexer (`*_after`, the step after next, feeds only this register).
    threshold_next: DFF<Bits<32>>,
    addend_next: DFF<Bits<32>>,
    threshold_after: Signal<Local, Bits<32>>,
    addend_after: Signal<Local, Bits<32>>,
    /// Per lane: a saturated fire step, registered before the OR over the lanes.
    lane_saturated: Vec<DFF<Bit>>,
    saturating: Signal<Local, Bit>,
    /// Per bank: its unit exists in the last group (a partial group's other banks compute
    /// positions off the map, whose saturations must not count).
    bank_in_last: Vec<Constant<Bit>>,
    saturated_reg: DFF<Bit>,
    /// The mask write of a fire step, a cycle ahead of its pooling.
    pending_write_enable: DFF<Bit>,
    pending_write_address: DFF<Bits<16>>,
    write_enable: DFF<Bit>,
    write_address: DFF<Bits<16>>,
    write_data: Vec<DFF<Bits<32>>>,
    fire_done: DFF<Bit>,
    /// `fire_done` as the image's last mask write lands.
    pool_done: DFF<Bit>,
    masks_full_a: DFF<Bit>,
    masks_full_b: DFF<Bit>,
    /// Mask address `(set, step, group)`: the step's shift and the set's bit.
    step_shift: Constant<Bits<16>>,
    mask_set: Constant<Bits<16>>,
    // Emission: the mask reader, the queue, the emitter.
    reading: DFF<Bit>,
    read_end: DFF<Bit>,
    emit_set: DFF<Bit>,
    read_step: DFF<Bits<5>>,
    read_unit: DFF<Bits<16>>,
    read_row: DFF<Bits<16>>,
    read_chunk: DFF<Bits<16>>,
    /// The reader's counters are at their last value: flip-flops beside them, set from the
    /// value before the last, not compares in front of the next counter's enable (run 17,
    /// seed 1: read_chunk through the three nested compares into read_step, 11.74 ns).
    read_chunk_last: DFF<Bit>,
    read_row_last: DFF<Bit>,
    read_step_last: DFF<Bit>,
    chunk_penultimate: Constant<Bits<16>>,
    group_penultimate: Constant<Bits<16>>,
    steps_penultimate: Constant<Bits<5>>,
    single_chunk: Constant<Bit>,
    single_group: Constant<Bit>,
    single_step: Constant<Bit>,
    units_last: Constant<Bits<16>>,
    row_unit_step: Constant<Bits<16>>,
    units_per_read: Constant<Bits<16>>,
    /// Per unit of a group (spike memory `r`): its chunk, its place in the chunk (as a unit
    /// offset and as a shift of its mask), and whether the unit exists (the last row may be
    /// partial).
    mask_chunk: Vec<Constant<Bits<16>>>,
    unit_offset: Vec<Constant<Bits<16>>>,
    mask_shift: Vec<Constant<Bits<32>>>,
    unit_ok: Vec<Signal<Local, Bit>>,
    room: Signal<Local, Bit>,
    read_issue: Signal<Local, Bit>,
    outstanding: DFF<Bits<8>>,
    counted_read: Signal<Local, Bit>,
    outstanding_change: Signal<Local, Bits<8>>,
    minus_one: Constant<Bits<8>>,
    minus_two: Constant<Bits<8>>,
    queue_depth: Constant<Bits<8>>,
    e1_valid: DFF<Bit>,
    e1_last: DFF<Bit>,
    e1_unit: DFF<Bits<16>>,
    e1_step: DFF<Bits<5>>,
    e1_chunk: DFF<Bits<16>>,
    /// The masks' words in registers first (a block RAM's clock-to-output is 5.6 ns on
    /// ECP5), each with whether it belongs to the read's chunk and units.
    m_valid: DFF<Bit>,
    m_last: DFF<Bit>,
    m_unit: DFF<Bits<16>>,
    m_step: DFF<Bits<5>>,
    m_take: Vec<DFF<Bit>>,
    m_word: Vec<DFF<Bits<32>>>,
    e2_valid: DFF<Bit>,
    e2_last: DFF<Bit>,
    e2_unit: DFF<Bits<16>>,
    e2_step: DFF<Bits<5>>,
    e2_mask: DFF<Bits<32>>,
    e2_mask_next: Signal<Local, Bits<32>>,
    /// A cycle more, with whether the mask has a spike in a register (the OR over the
    /// mask then ends at a flip-flop, not at the queue's pointers and the read count).
    e3_valid: DFF<Bit>,
    e3_last: DFF<Bit>,
    e3_unit: DFF<Bits<16>>,
    e3_step: DFF<Bits<5>>,
    e3_mask: DFF<Bits<32>>,
    e3_spiked: DFF<Bit>,
    push: Signal<Local, Bit>,
    dropped: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
    queue: SpikeFifo,
    current_valid: DFF<Bit>,
    current_last: DFF<Bit>,
    current_unit: DFF<Bits<16>>,
    current_step: DFF<Bits<5>>,
    current_mask: DFF<Bits<32>>,
    lowest: Signal<Local, Bits<32>>,
    remaining: Signal<Local, Bits<32>>,
    /// Whether the current mask has more than one spike (a spike leaves after this one), by
    /// a tree of LUTs over its 32 bits: any and more than one per 4 bits, then per 16, not
    /// after the lowest spike's carry chain.
    mask_any4: Vec<Signal<Local, Bit>>,
    mask_many4: Vec<Signal<Local, Bit>>,
    mask_any16: Vec<Signal<Local, Bit>>,
    mask_many16: Vec<Signal<Local, Bit>>,
    mask_many: Signal<Local, Bit>,
    lowest_offset: Signal<Local, Bits<16>>,
    /// Per bit of a chunk's masks (`i C + c`): `i + c U`, its neuron's index less the
    /// chunk's first unit.
    bit_offset: Vec<Constant<Bits<16>>>,
    emit_free: Signal<Local, Bit>,
    current_free: Signal<Local, Bit>,
    out_valid: DFF<Bit>,
    out_last: DFF<Bit>,
    /// The spike's unit and its bit in the mask (one-hot), encoded and added at the output
    /// port: the lowest-spike carry chain is then the only logic on its path (run 16, seed
    /// 3: current_mask -> out_offset, chain and encoder, 10.10 ns).
    out_unit: DFF<Bits<16>>,
    out_lowest: DFF<Bits<32>>,
    out_step: DFF<Bits<5>>,
    _banks: usize,
    _channels: usize,
    _lanes: usize,
    _slots: usize,
    _units_per_group: usize,
    _chunk_bits: usize,
    _steps: usize,
    /// `min(K, 2)`: whether there is a step 1 whose parameters wait in `*_next`.
    _second_step: usize,
    _bits: usize,
    _half_bits: usize,
}

fn word16(x: i64) -> Constant<Bits<16>> {
    Constant::new((x.rem_euclid(1 << 16) as u64).into())
}

impl PixelConvLayer {
    /// The layer for `layer` at `geometry` (the network's first), on images of `input`, with
    /// `lanes` lanes. The caller checks [`from_pixels`].
    pub fn new(
        layer: &FsLayer,
        geometry: &Geometry,
        input: &InputEncoding,
        datapath: Datapath,
        weight_bits: usize,
        lanes: usize,
    ) -> Result<Self> {
        let LayerKind::Conv2d {
            kernel,
            stride,
            padding,
        } = geometry.kind
        else {
            bail!("not a convolution layer");
        };
        let Some(rom) = &layer.rom else {
            bail!("a convolution layer cannot be the output layer");
        };
        let steps = rom.k();
        let shape = PixelConvShape::new(geometry, steps, lanes)?;
        let PixelConvShape {
            channels,
            banks,
            slots,
            units,
            units_per_group: m,
            groups,
            taps,
            period,
            units_per_read: per_read,
            chunks,
            ..
        } = shape;
        let (h, w) = (input.height as i64, input.width as i64);
        let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
        // The unit map's width, and the pooling window (1 unpooled).
        let (unit_width, window) = if slots > 1 {
            let pool = geometry.pool.filter(|q| q.kind == PoolKind::Max);
            (geometry.output.width, pool.map_or(1, |q| q.window))
        } else {
            (geometry.neurons.width, 1)
        };
        let (uw, win) = (unit_width as i64, window as i64);
        // A unit moves m places on per group: dys rows and dxs columns, plus a row on a wrap.
        let (dys, dxs) = ((m as i64) / uw, (m as i64) % uw);
        let unit_stride = win * s;
        let (by_step, by_wrap) = (dys * unit_stride, unit_stride);
        let (bx_step, bx_wrap) = (dxs * unit_stride, -uw * unit_stride);
        let pixel_set = (input.size()).next_power_of_two();
        let position = |b: usize| {
            let (r, slot) = ((b / slots) as i64, (b % slots) as i64);
            let (py, px) = (r / uw, r % uw);
            let (oy, ox) = (py * win + slot / win, px * win + slot % win);
            (oy * s, ox * s, px)
        };
        let bank_constants = |f: &dyn Fn(i64, i64, i64) -> i64| {
            (0..banks)
                .map(|b| {
                    let (by, bx, px) = position(b);
                    word16(f(by, bx, px))
                })
                .collect::<Vec<_>>()
        };
        let group_bits = (usize::BITS - (groups - 1).leading_zeros()) as usize;
        let step_bits = (usize::BITS - (steps - 1).leading_zeros()) as usize;
        let mask_depth = 1usize << (1 + step_bits + group_bits);
        ensure!(
            mask_depth <= 1 << 16 && 2 * pixel_set <= 1 << 16,
            "the first convolution's memories exceed 65,536 words"
        );
        // Each channel's weights and `B + IMP`, as the run-time loader lays them out.
        let (weights, inits): (Vec<_>, Vec<_>) = (0..channels)
            .map(|c| {
                let (weights, init) = channel_contents(layer, c);
                (
                    Bram::new(weight_bits, &weights),
                    Bram::new(datapath.membrane_bits, &[init[0]; 4])
                        .sign_extended_to(datapath.width),
                )
            })
            .unzip();
        let bits = input.bits as usize;
        let lane_count = banks * channels;
        let skip_period = shape.skip_period();
        let sent_plane = units as i64;
        Ok(PixelConvLayer {
            clock: Default::default(),
            pixel_valid: Default::default(),
            pixel_value: Default::default(),
            pixel_ready: Default::default(),
            image_loaded: Default::default(),
            pixel_spikes: Default::default(),
            spike_valid: Default::default(),
            spike_index: Default::default(),
            spike_step: Default::default(),
            spike_last: Default::default(),
            spike_ready: Default::default(),
            busy: Default::default(),
            saturated: Default::default(),
            load_enable: Default::default(),
            load_target: Default::default(),
            load_state: Default::default(),
            load_lane: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            pixels: (0..banks)
                .map(|_| Bram::new(bits, &vec![0; 2 * pixel_set]).sign_extended_to(bits))
                .collect(),
            weights,
            inits,
            masks: (0..m)
                .map(|_| Bram::new(channels, &vec![0; mask_depth]).sign_extended_to(channels))
                .collect(),
            channel_number: (0..channels).map(|c| word16(c as i64)).collect(),
            weight_load_target: Default::default(),
            state_load_target: Default::default(),
            weight_load_select: (0..channels).map(|_| Default::default()).collect(),
            state_load_select: (0..channels).map(|_| Default::default()).collect(),
            taking: Default::default(),
            pixel_write_enable: (0..banks).map(|_| Default::default()).collect(),
            pixel_write_address: (0..banks).map(|_| Default::default()).collect(),
            pixel_write_data: (0..banks).map(|_| Default::default()).collect(),
            load_index: Default::default(),
            load_set: Default::default(),
            full_a: Default::default(),
            full_b: Default::default(),
            at_last_pixel: DFFWithInit::new(input.size() == 1),
            before_last_pixel: word16(input.size() as i64 - 2),
            single_pixel: Constant::new(input.size() == 1),
            loaded: Default::default(),
            pixel_set: word16(pixel_set as i64),
            pixel_mask: word16(pixel_set as i64 - 1),
            count_low: Default::default(),
            count_high: Default::default(),
            taken_pixel: Default::default(),
            pixel_count_low: Default::default(),
            pixel_count_high: Default::default(),
            load_row: Default::default(),
            load_column: Default::default(),
            row_last: word16(h - 1),
            column_last: word16(w - 1),
            taken_valid: Default::default(),
            taken_first: Default::default(),
            taken_last: Default::default(),
            taken_set: Default::default(),
            taken_row: Default::default(),
            taken_column: Default::default(),
            occupancy: GroupOccupancy::new(&group_fields(geometry, &shape)),
            computing: Default::default(),
            image_open: Default::default(),
            compute_set: Default::default(),
            out_set: Default::default(),
            start: Default::default(),
            start_ready: Default::default(),
            start_ready_next: Default::default(),
            start_replica: (0..banks).map(|_| Default::default()).collect(),
            issue: Default::default(),
            issuing: Default::default(),
            tap_at_end: Default::default(),
            period_before_last: word16(period as i64 - 2),
            group: Default::default(),
            tap: Default::default(),
            group_skip: Default::default(),
            skips: Constant::new(skip_period.is_some()),
            skip_before_last: word16(skip_period.unwrap_or(period) as i64 - 2),
            before_last: Default::default(),
            kx: Default::default(),
            ky: Default::default(),
            tap_index: Default::default(),
            tap_offset: Default::default(),
            taps_last: word16(taps as i64 - 1),
            group_last: word16(groups as i64 - 1),
            kernel_last: word16(k - 1),
            row_step: word16(w - (k - 1)),
            channel_step: word16(h * w - (k - 1) * w - (k - 1)),
            padding: word16(p),
            height_end: word16(h + p),
            width_end: word16(w + p),
            unit_columns: word16(uw),
            column_step: word16(dxs),
            by_step: word16(by_step),
            by_wrap: word16(by_wrap),
            bx_step: word16(bx_step),
            bx_wrap: word16(bx_wrap),
            base_step: word16(by_step * w + bx_step),
            base_wrap: word16(by_wrap * w + bx_wrap),
            by: (0..banks).map(|_| Default::default()).collect(),
            bx: (0..banks).map(|_| Default::default()).collect(),
            base: (0..banks).map(|_| Default::default()).collect(),
            px: (0..banks).map(|_| Default::default()).collect(),
            by0: bank_constants(&|by, _, _| by),
            bx0: bank_constants(&|_, bx, _| bx),
            base0: bank_constants(&|by, bx, _| (by - p) * w + (bx - p)),
            px0: bank_constants(&|_, _, px| px),
            next_px: (0..banks).map(|_| Default::default()).collect(),
            wraps: (0..banks).map(|_| Default::default()).collect(),
            by_stepped: (0..banks).map(|_| Default::default()).collect(),
            by_wrapped: (0..banks).map(|_| Default::default()).collect(),
            bx_stepped: (0..banks).map(|_| Default::default()).collect(),
            bx_wrapped: (0..banks).map(|_| Default::default()).collect(),
            base_stepped: (0..banks).map(|_| Default::default()).collect(),
            base_wrapped: (0..banks).map(|_| Default::default()).collect(),
            px_stepped: (0..banks).map(|_| Default::default()).collect(),
            px_wrapped: (0..banks).map(|_| Default::default()).collect(),
            b_valid: Default::default(),
            b_first: Default::default(),
            b_last: Default::default(),
            b_last_group: Default::default(),
            b_group: Default::default(),
            b_iy: (0..banks).map(|_| Default::default()).collect(),
            b_ix: (0..banks).map(|_| Default::default()).collect(),
            c_inside: (0..banks).map(|_| Default::default()).collect(),
            c_valid: Default::default(),
            c_first: Default::default(),
            c_last: Default::default(),
            c_last_group: Default::default(),
            c_group: Default::default(),
            c_pixel: (0..banks).map(|_| Default::default()).collect(),
            pixel16: (0..banks).map(|_| Default::default()).collect(),
            o_valid: Default::default(),
            o_first: Default::default(),
            o_last: Default::default(),
            o_last_group: Default::default(),
            o_group: Default::default(),
            r_valid: Default::default(),
            r_first: Default::default(),
            r_last: Default::default(),
            r_last_group: Default::default(),
            r_group: Default::default(),
            p_valid: Default::default(),
            p_first: Default::default(),
            p_last: Default::default(),
            p_last_group: Default::default(),
            p_group: Default::default(),
            d_product: (0..lane_count).map(|_| Default::default()).collect(),
            c_weight: (0..channels).map(|_| Default::default()).collect(),
            d_valid: Default::default(),
            d_last: Default::default(),
            first_replica: (0..banks).map(|_| Default::default()).collect(),
            accumulate_replica: (0..banks).map(|_| Default::default()).collect(),
            capture_replica: (0..banks).map(|_| Default::default()).collect(),
            d_last_group: Default::default(),
            d_group: Default::default(),
            product_replica: (0..lane_count).map(|_| Default::default()).collect(),
            operand: (0..lane_count).map(|_| Default::default()).collect(),
            acc: (0..lane_count).map(|_| Default::default()).collect(),
            sum: (0..lane_count).map(|_| Default::default()).collect(),
            mask: Constant::new(datapath.mask().into()),
            fire_active: Default::default(),
            fire_step: Default::default(),
            fire_group: Default::default(),
            fire_last_group: Default::default(),
            fire_v: (0..lane_count).map(|_| Default::default()).collect(),
            candidate: (0..lane_count).map(|_| Default::default()).collect(),
            candidate_now: (0..lane_count).map(|_| Default::default()).collect(),
            spike_reg: (0..lane_count).map(|_| Default::default()).collect(),
            pool_first: Default::default(),
            alus: (0..lane_count).map(|_| NeuronAlu::new(datapath)).collect(),
            hit: (0..m * channels).map(|_| Default::default()).collect(),
            mask_word: (0..m).map(|_| Default::default()).collect(),
            channel_bit: (0..channels)
                .map(|c| Constant::new((1u64 << c).into()))
                .collect(),
            threshold: rom
                .t
                .iter()
                .map(|&t| Constant::new(datapath.pattern(t)))
                .collect(),
            reset_addend: rom
                .h
                .iter()
                .map(|&h| Constant::new(datapath.pattern(-h)))
                .collect(),
            step_number: (0..steps)
                .map(|t| Constant::new((t as u64).into()))
                .collect(),
            steps_last: Constant::new(((steps - 1) as u64).into()),
            threshold_replica: (0..lane_count).map(|_| Default::default()).collect(),
            addend_replica: (0..banks).map(|_| Default::default()).collect(),
            threshold_load: Default::default(),
            threshold_load_enable: Default::default(),
            capture: Default::default(),
            fire_first: Default::default(),
            threshold_next: Default::default(),
            addend_next: Default::default(),
            threshold_after: Default::default(),
            addend_after: Default::default(),
            lane_saturated: (0..lane_count).map(|_| Default::default()).collect(),
            saturating: Default::default(),
            bank_in_last: (0..banks)
                .map(|b| Constant::new((groups - 1) * m + b / slots < units))
                .collect(),
            saturated_reg: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: (0..m).map(|_| Default::default()).collect(),
            fire_done: Default::default(),
            pool_done: Default::default(),
            pending_write_enable: Default::default(),
            pending_write_address: Default::default(),
            masks_full_a: Default::default(),
            masks_full_b: Default::default(),
            step_shift: word16(group_bits as i64),
            mask_set: word16(1 << (step_bits + group_bits)),
            reading: Default::default(),
            read_end: Default::default(),
            emit_set: Default::default(),
            read_step: Default::default(),
            read_unit: Default::default(),
            read_row: Default::default(),
            read_chunk: Default::default(),
            read_chunk_last: Default::default(),
            read_row_last: Default::default(),
            read_step_last: Default::default(),
            chunk_penultimate: word16(chunks as i64 - 2),
            group_penultimate: word16(groups as i64 - 2),
            steps_penultimate: Constant::new((steps.saturating_sub(2) as u64).into()),
            single_chunk: Constant::new(chunks == 1),
            single_group: Constant::new(groups == 1),
            single_step: Constant::new(steps == 1),
            units_last: word16(units as i64 - 1),
            row_unit_step: word16((m - (chunks - 1) * per_read) as i64),
            units_per_read: word16(per_read as i64),
            mask_chunk: (0..m).map(|r| word16((r / per_read) as i64)).collect(),
            unit_offset: (0..m).map(|r| word16((r % per_read) as i64)).collect(),
            mask_shift: (0..m)
                .map(|r| Constant::new((((r % per_read) * channels) as u64).into()))
                .collect(),
            unit_ok: (0..m).map(|_| Default::default()).collect(),
            room: Default::default(),
            read_issue: Default::default(),
            outstanding: Default::default(),
            counted_read: Default::default(),
            outstanding_change: Default::default(),
            minus_one: Constant::new(0xff.into()),
            minus_two: Constant::new(0xfe.into()),
            queue_depth: Constant::new((QUEUE_DEPTH as u64).into()),
            e1_valid: Default::default(),
            e1_last: Default::default(),
            e1_unit: Default::default(),
            e1_step: Default::default(),
            e1_chunk: Default::default(),
            m_valid: Default::default(),
            m_last: Default::default(),
            m_unit: Default::default(),
            m_step: Default::default(),
            m_take: (0..m).map(|_| Default::default()).collect(),
            m_word: (0..m).map(|_| Default::default()).collect(),
            e2_valid: Default::default(),
            e2_last: Default::default(),
            e2_unit: Default::default(),
            e2_step: Default::default(),
            e2_mask: Default::default(),
            e2_mask_next: Default::default(),
            e3_valid: Default::default(),
            e3_last: Default::default(),
            e3_unit: Default::default(),
            e3_step: Default::default(),
            e3_mask: Default::default(),
            e3_spiked: Default::default(),
            push: Default::default(),
            dropped: Default::default(),
            pop: Default::default(),
            queue: SpikeFifo::new(QUEUE_DEPTH),
            current_valid: Default::default(),
            current_last: Default::default(),
            current_unit: Default::default(),
            current_step: Default::default(),
            current_mask: Default::default(),
            lowest: Default::default(),
            remaining: Default::default(),
            mask_any4: (0..8).map(|_| Default::default()).collect(),
            mask_many4: (0..8).map(|_| Default::default()).collect(),
            mask_any16: (0..2).map(|_| Default::default()).collect(),
            mask_many16: (0..2).map(|_| Default::default()).collect(),
            mask_many: Default::default(),
            lowest_offset: Default::default(),
            bit_offset: (0..per_read * channels)
                .map(|p| word16((p / channels) as i64 + (p % channels) as i64 * sent_plane))
                .collect(),
            emit_free: Default::default(),
            current_free: Default::default(),
            out_valid: Default::default(),
            out_last: Default::default(),
            out_unit: Default::default(),
            out_lowest: Default::default(),
            out_step: Default::default(),
            _lanes: lane_count,
            _banks: banks,
            _channels: channels,
            _slots: slots,
            _units_per_group: m,
            _chunk_bits: per_read * channels,
            _steps: steps,
            _second_step: steps.min(2),
            _bits: bits,
            _half_bits: bits / 2,
        })
    }
}

impl Logic for PixelConvLayer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            weight_load_target,
            state_load_target,
            load_index,
            at_last_pixel,
            loaded,
            load_set,
            full_a,
            full_b,
            computing,
            image_open,
            compute_set,
            out_set,
            group,
            tap,
            group_skip,
            load_row,
            load_column,
            taken_valid,
            taken_first,
            taken_last,
            taken_set,
            taken_row,
            taken_column,
            kx,
            ky,
            tap_index,
            tap_offset,
            b_valid,
            b_first,
            b_last,
            b_last_group,
            b_group,
            c_valid,
            c_first,
            c_last,
            c_last_group,
            c_group,
            o_valid,
            o_first,
            o_last,
            o_last_group,
            o_group,
            r_valid,
            r_first,
            r_last,
            r_last_group,
            r_group,
            p_valid,
            p_first,
            p_last,
            p_last_group,
            p_group,
            d_valid,
            d_last,
            d_last_group,
            d_group,
            fire_active,
            fire_step,
            fire_group,
            fire_last_group,
            saturated_reg,
            taken_pixel,
            pixel_count_low,
            pixel_count_high,
            issuing,
            start_ready,
            tap_at_end,
            fire_first,
            threshold_next,
            addend_next,
            pool_first,
            pending_write_enable,
            pending_write_address,
            write_enable,
            write_address,
            fire_done,
            pool_done,
            masks_full_a,
            masks_full_b,
            reading,
            read_end,
            emit_set,
            read_step,
            read_unit,
            read_row,
            read_chunk,
            read_chunk_last,
            read_row_last,
            read_step_last,
            outstanding,
            e1_valid,
            e1_last,
            e1_unit,
            e1_step,
            e1_chunk,
            m_valid,
            m_last,
            m_unit,
            m_step,
            e2_valid,
            e2_last,
            e2_unit,
            e2_step,
            e2_mask,
            e3_valid,
            e3_last,
            e3_unit,
            e3_step,
            e3_mask,
            e3_spiked,
            current_valid,
            current_last,
            current_unit,
            current_step,
            current_mask,
            out_valid,
            out_last,
            out_unit,
            out_lowest,
            out_step
        );
        // (The device holds a load's layer, lane and state from long before its first word.)
        self.weight_load_target.d.next = self.load_target.val() & !self.load_state.val();
        self.state_load_target.d.next = self.load_target.val() & self.load_state.val();
        self.queue.clock.next = self.clock.val();

        // Load: every bank's copy of the image takes the pixel, in the free set.
        self.pixel_ready.next = !self.full_a.q.val();
        if self.load_set.q.val() {
            self.pixel_ready.next = !self.full_b.q.val();
        }
        self.taking.next = self.pixel_valid.val() & self.pixel_ready.val();
        for b in 0..self._banks {
            self.pixel_write_enable[b].clock.next = self.clock.val();
            self.pixel_write_address[b].clock.next = self.clock.val();
            self.pixel_write_data[b].clock.next = self.clock.val();
            self.pixel_write_enable[b].d.next = self.taking.val();
            self.pixel_write_address[b].d.next = self.load_index.q.val();
            if self.load_set.q.val() {
                self.pixel_write_address[b].d.next = self.load_index.q.val() | self.pixel_set.val();
            }
            self.pixel_write_data[b].d.next = bit_cast::<32, 16>(self.pixel_value.val());
            self.pixels[b].clock.next = self.clock.val();
            self.pixels[b].write_enable.next = self.pixel_write_enable[b].q.val();
            self.pixels[b].write_address.next = self.pixel_write_address[b].q.val();
            self.pixels[b].write_data.next = self.pixel_write_data[b].q.val();
        }
        self.loaded.d.next = self.taking.val() & self.at_last_pixel.q.val();
        self.image_loaded.next = self.loaded.q.val();
        if self.taking.val() {
            self.at_last_pixel.d.next =
                (self.load_index.q.val() == self.before_last_pixel.val()) | self.single_pixel.val();
            self.load_index.d.next = self.load_index.q.val() + 1;
            self.load_column.d.next = self.load_column.q.val() + 1;
            if self.load_column.q.val() == self.column_last.val() {
                self.load_column.d.next = 0.into();
                self.load_row.d.next = self.load_row.q.val() + 1;
                if self.load_row.q.val() == self.row_last.val() {
                    self.load_row.d.next = 0.into();
                }
            }
            if self.at_last_pixel.q.val() {
                self.load_index.d.next = 0.into();
                self.load_set.d.next = !self.load_set.q.val();
                if self.load_set.q.val() {
                    self.full_b.d.next = true;
                } else {
                    self.full_a.d.next = true;
                }
            }
        }
        // (Counted two cycles late, from the pixel taken in a register: the counters only
        // sum these, and the pixel comes from the port's handshake.)
        self.taken_pixel.d.next = 0.into();
        if self.taking.val() {
            self.taken_pixel.d.next = self.pixel_value.val();
        }
        // The groups' occupancy flags, from the taken pixel's registers.
        self.taken_valid.d.next = self.taking.val();
        self.taken_first.d.next = self.load_index.q.val() == 0;
        self.taken_last.d.next = self.at_last_pixel.q.val();
        self.taken_set.d.next = self.load_set.q.val();
        self.taken_row.d.next = self.load_row.q.val();
        self.taken_column.d.next = self.load_column.q.val();
        self.occupancy.clock.next = self.clock.val();
        self.occupancy.pixel_valid.next = self.taken_valid.q.val();
        self.occupancy.pixel_nonzero.next = self.taken_pixel.q.val().any();
        self.occupancy.pixel_row.next = self.taken_row.q.val();
        self.occupancy.pixel_column.next = self.taken_column.q.val();
        self.occupancy.pixel_first.next = self.taken_first.q.val();
        self.occupancy.pixel_last.next = self.taken_last.q.val();
        self.occupancy.pixel_set.next = self.taken_set.q.val();
        self.occupancy.read_set.next = self.compute_set.q.val();
        self.occupancy.advance.next = self.tap_at_end.q.val();
        self.count_low.next = 0.into();
        self.count_high.next = 0.into();
        for i in 0..self._half_bits {
            if self.taken_pixel.q.val().get_bit(i) {
                self.count_low.next = self.count_low.val() + 1;
            }
        }
        for i in self._half_bits..self._bits {
            if self.taken_pixel.q.val().get_bit(i) {
                self.count_high.next = self.count_high.val() + 1;
            }
        }
        self.pixel_count_low.d.next = self.count_low.val();
        self.pixel_count_high.d.next = self.count_high.val();
        self.pixel_spikes.next = self.pixel_count_low.q.val() + self.pixel_count_high.q.val();

        // Run-time loads.
        for c in 0..self._channels {
            self.weights[c].clock.next = self.clock.val();
            self.inits[c].clock.next = self.clock.val();
            self.weight_load_select[c].clock.next = self.clock.val();
            self.state_load_select[c].clock.next = self.clock.val();
            self.weight_load_select[c].d.next = self.weight_load_target.q.val()
                & (self.load_lane.val() == self.channel_number[c].val());
            self.state_load_select[c].d.next = self.state_load_target.q.val()
                & (self.load_lane.val() == self.channel_number[c].val());
            self.weights[c].write_enable.next =
                self.load_enable.val() & self.weight_load_select[c].q.val();
            self.inits[c].write_enable.next =
                self.load_enable.val() & self.state_load_select[c].q.val();
            self.weights[c].write_address.next = self.load_address.val();
            self.inits[c].write_address.next = self.load_address.val();
            self.weights[c].write_data.next = self.load_data.val().get_bits::<16>(0);
            self.inits[c].write_data.next = self.load_data.val();
            self.weights[c].read_address.next = self.tap_index.q.val();
            self.inits[c].read_address.next = 0.into();
        }

        // Compute: an image starts when its pixels are in, its mask set is free and the
        // previous image has fired.
        // (Decided a cycle ahead, in a register: `start` fans out to every bank's address
        // registers. Nothing can take the condition back in between: the sets change only
        // while an image is computing or open.)
        // (The set's occupancy flags are complete a few cycles after its last pixel: `busy`.)
        self.start_ready_next.next = !self.computing.q.val()
            & !self.image_open.q.val()
            & !self.start_ready.q.val()
            & !(self.occupancy.busy.val() & self.skips.val())
            & ((!self.compute_set.q.val() & self.full_a.q.val())
                | (self.compute_set.q.val() & self.full_b.q.val()))
            & ((!self.out_set.q.val() & !self.masks_full_a.q.val())
                | (self.out_set.q.val() & !self.masks_full_b.q.val()));
        self.start_ready.d.next = self.start_ready_next.val();
        for b in 0..self._banks {
            self.start_replica[b].clock.next = self.clock.val();
            self.start_replica[b].d.next = self.start_ready_next.val();
        }
        self.start.next = self.start_ready.q.val();
        if self.start.val() {
            self.computing.d.next = true;
            self.image_open.d.next = true;
            self.group_skip.d.next = !self.occupancy.current_occupied.val() & self.skips.val();
            self.group.d.next = 0.into();
            self.tap.d.next = 0.into();
            self.kx.d.next = 0.into();
            self.ky.d.next = 0.into();
            self.tap_index.d.next = 0.into();
            self.tap_offset.d.next = 0.into();
        }
        self.issue.next = self.issuing.q.val();
        // For the next cycle: `computing & tap <= taps_last` (a skipped group: only its
        // period's last tap), and the period's last tap.
        self.issuing.d.next = false;
        if self.computing.q.val() {
            self.issuing.d.next = self.tap.q.val() < self.taps_last.val();
            if self.group_skip.q.val() {
                self.issuing.d.next = self.tap.q.val() == self.skip_before_last.val();
            }
            if self.tap_at_end.q.val() {
                self.issuing.d.next = (self.group.q.val() != self.group_last.val())
                    & (self.occupancy.next_occupied.val() | !self.skips.val());
            }
        }
        if self.start.val() {
            self.issuing.d.next = self.occupancy.current_occupied.val() | !self.skips.val();
        }
        self.before_last.next = self.period_before_last.val();
        if self.group_skip.q.val() {
            self.before_last.next = self.skip_before_last.val();
        }
        self.tap_at_end.d.next = self.computing.q.val()
            & !self.tap_at_end.q.val()
            & (self.tap.q.val() == self.before_last.val());
        for b in 0..self._banks {
            self.by[b].clock.next = self.clock.val();
            self.bx[b].clock.next = self.clock.val();
            self.base[b].clock.next = self.clock.val();
            self.px[b].clock.next = self.clock.val();
            self.b_iy[b].clock.next = self.clock.val();
            self.b_ix[b].clock.next = self.clock.val();
            self.c_inside[b].clock.next = self.clock.val();
            self.wraps[b].clock.next = self.clock.val();
            self.by_stepped[b].clock.next = self.clock.val();
            self.by_wrapped[b].clock.next = self.clock.val();
            self.bx_stepped[b].clock.next = self.clock.val();
            self.bx_wrapped[b].clock.next = self.clock.val();
            self.base_stepped[b].clock.next = self.clock.val();
            self.base_wrapped[b].clock.next = self.clock.val();
            self.px_stepped[b].clock.next = self.clock.val();
            self.px_wrapped[b].clock.next = self.clock.val();
            self.c_pixel[b].clock.next = self.clock.val();
            self.addend_replica[b].clock.next = self.clock.val();
            self.addend_replica[b].d.next = self.addend_replica[b].q.val();
            self.by[b].d.next = self.by[b].q.val();
            self.bx[b].d.next = self.bx[b].q.val();
            self.base[b].d.next = self.base[b].q.val();
            self.px[b].d.next = self.px[b].q.val();
            // The tap's padded coordinates, and its pixel in the set being computed.
            self.b_iy[b].d.next = self.by[b].q.val() + self.ky.q.val();
            self.b_ix[b].d.next = self.bx[b].q.val() + self.kx.q.val();
            self.c_inside[b].d.next = (self.b_iy[b].q.val() >= self.padding.val())
                & (self.b_iy[b].q.val() < self.height_end.val())
                & (self.b_ix[b].q.val() >= self.padding.val())
                & (self.b_ix[b].q.val() < self.width_end.val());
            self.pixels[b].read_address.next =
                (self.base[b].q.val() + self.tap_offset.q.val()) & self.pixel_mask.val();
            if self.compute_set.q.val() {
                self.pixels[b].read_address.next =
                    ((self.base[b].q.val() + self.tap_offset.q.val()) & self.pixel_mask.val())
                        | self.pixel_set.val();
            }
            // The next group: the unit moves on by m places (a row more on a wrap).
            self.next_px[b].next = self.px[b].q.val() + self.column_step.val();
            self.wraps[b].d.next = self.next_px[b].val() >= self.unit_columns.val();
            self.by_stepped[b].d.next = self.by[b].q.val() + self.by_step.val();
            self.by_wrapped[b].d.next =
                self.by[b].q.val() + self.by_step.val() + self.by_wrap.val();
            self.bx_stepped[b].d.next = self.bx[b].q.val() + self.bx_step.val();
            self.bx_wrapped[b].d.next =
                self.bx[b].q.val() + self.bx_step.val() + self.bx_wrap.val();
            self.base_stepped[b].d.next = self.base[b].q.val() + self.base_step.val();
            self.base_wrapped[b].d.next =
                self.base[b].q.val() + self.base_step.val() + self.base_wrap.val();
            self.px_stepped[b].d.next = self.next_px[b].val();
            self.px_wrapped[b].d.next = self.next_px[b].val() - self.unit_columns.val();
            if self.start_replica[b].q.val() {
                self.by[b].d.next = self.by0[b].val();
                self.bx[b].d.next = self.bx0[b].val();
                self.base[b].d.next = self.base0[b].val();
                self.px[b].d.next = self.px0[b].val();
            }
            if self.tap_at_end.q.val() {
                self.by[b].d.next = self.by_stepped[b].q.val();
                self.bx[b].d.next = self.bx_stepped[b].q.val();
                self.base[b].d.next = self.base_stepped[b].q.val();
                self.px[b].d.next = self.px_stepped[b].q.val();
                if self.wraps[b].q.val() {
                    self.by[b].d.next = self.by_wrapped[b].q.val();
                    self.bx[b].d.next = self.bx_wrapped[b].q.val();
                    self.base[b].d.next = self.base_wrapped[b].q.val();
                    self.px[b].d.next = self.px_wrapped[b].q.val();
                }
            }
        }
        if self.issue.val() {
            self.tap_index.d.next = self.tap_index.q.val() + 1;
            self.kx.d.next = self.kx.q.val() + 1;
            self.tap_offset.d.next = self.tap_offset.q.val() + 1;
            if self.kx.q.val() == self.kernel_last.val() {
                self.kx.d.next = 0.into();
                self.ky.d.next = self.ky.q.val() + 1;
                self.tap_offset.d.next = self.tap_offset.q.val() + self.row_step.val();
                if self.ky.q.val() == self.kernel_last.val() {
                    self.ky.d.next = 0.into();
                    self.tap_offset.d.next = self.tap_offset.q.val() + self.channel_step.val();
                }
            }
        }
        if self.computing.q.val() {
            self.tap.d.next = self.tap.q.val() + 1;
        }
        // (`tap_at_end` is high only while computing, so the group moves on that flip-flop
        // alone: it fans out to every bank's position registers.)
        if self.tap_at_end.q.val() {
            self.tap.d.next = 0.into();
            self.kx.d.next = 0.into();
            self.ky.d.next = 0.into();
            self.tap_index.d.next = 0.into();
            self.tap_offset.d.next = 0.into();
            self.group.d.next = self.group.q.val() + 1;
            self.group_skip.d.next = !self.occupancy.next_occupied.val() & self.skips.val();
            if self.group.q.val() == self.group_last.val() {
                // Every pixel read: the set is free for the next image.
                self.computing.d.next = false;
                self.group_skip.d.next = false;
                self.compute_set.d.next = !self.compute_set.q.val();
                if self.compute_set.q.val() {
                    self.full_b.d.next = false;
                } else {
                    self.full_a.d.next = false;
                }
            }
        }
        self.b_valid.d.next = self.issue.val();
        // (A skipped group's one tap is its first and last.)
        self.b_first.d.next = (self.tap.q.val() == 0) | self.group_skip.q.val();
        self.b_last.d.next = (self.tap.q.val() == self.taps_last.val()) | self.group_skip.q.val();
        self.b_last_group.d.next = self.group.q.val() == self.group_last.val();
        self.b_group.d.next = self.group.q.val();
        self.c_valid.d.next = self.b_valid.q.val();
        self.c_first.d.next = self.b_first.q.val();
        self.c_last.d.next = self.b_last.q.val();
        self.c_last_group.d.next = self.b_last_group.q.val();
        self.c_group.d.next = self.b_group.q.val();
        self.o_valid.d.next = self.c_valid.q.val();
        self.o_first.d.next = self.c_first.q.val();
        self.o_last.d.next = self.c_last.q.val();
        self.o_last_group.d.next = self.c_last_group.q.val();
        self.o_group.d.next = self.c_group.q.val();
        self.r_valid.d.next = self.o_valid.q.val();
        self.r_first.d.next = self.o_first.q.val();
        self.r_last.d.next = self.o_last.q.val();
        self.r_last_group.d.next = self.o_last_group.q.val();
        self.r_group.d.next = self.o_group.q.val();
        self.p_valid.d.next = self.r_valid.q.val();
        self.p_first.d.next = self.r_first.q.val();
        self.p_last.d.next = self.r_last.q.val();
        self.p_last_group.d.next = self.r_last_group.q.val();
        self.p_group.d.next = self.r_group.q.val();
        self.d_valid.d.next = self.p_valid.q.val();
        self.d_last.d.next = self.p_last.q.val();
        self.d_last_group.d.next = self.p_last_group.q.val();
        self.d_group.d.next = self.p_group.q.val();
        for b in 0..self._banks {
            self.first_replica[b].clock.next = self.clock.val();
            self.accumulate_replica[b].clock.next = self.clock.val();
            self.capture_replica[b].clock.next = self.clock.val();
            self.first_replica[b].d.next = self.p_first.q.val();
            self.accumulate_replica[b].d.next = self.p_valid.q.val();
            self.capture_replica[b].d.next = self.p_valid.q.val() & self.p_last.q.val();
            // (Registered straight from the block RAM; zero in the padding.)
            self.c_pixel[b].d.next = self.pixels[b].read_data.val();
            self.pixel16[b].next = 0.into();
            if self.c_inside[b].q.val() {
                self.pixel16[b].next = self.c_pixel[b].q.val().get_bits::<16>(0);
            }
        }
        for c in 0..self._channels {
            self.c_weight[c].clock.next = self.clock.val();
            self.c_weight[c].d.next = self.weights[c].read_data.val();
        }

        // Per lane: the product (signed weight times unsigned pixel), the sum on `B + IMP`
        // or the running sum, and the fire steps.
        self.threshold_after.next = 0.into();
        self.addend_after.next = 0.into();
        for t in 2..self._steps {
            if self.fire_step.q.val() == self.step_number[t - 2].val() {
                self.threshold_after.next = self.threshold[t].val();
                self.addend_after.next = self.reset_addend[t].val();
            }
        }
        self.saturating.next = false;
        for nc in self._channels..(self._channels + 1) {
            for b in 0..self._banks {
                for c in 0..self._channels {
                    self.product_replica[b * nc + c].clock.next = self.clock.val();
                    self.d_product[b * nc + c].clock.next = self.clock.val();
                    self.d_product[b * nc + c].d.next =
                        self.product_replica[b * nc + c].product.val();
                    self.acc[b * nc + c].clock.next = self.clock.val();
                    self.fire_v[b * nc + c].clock.next = self.clock.val();
                    self.candidate[b * nc + c].clock.next = self.clock.val();
                    self.product_replica[b * nc + c].a.next = self.c_weight[c].q.val();
                    self.product_replica[b * nc + c].b.next = self.pixel16[b].val();
                    self.operand[b * nc + c].next = self.acc[b * nc + c].q.val();
                    if self.first_replica[b].q.val() {
                        self.operand[b * nc + c].next = self.inits[c].read_data.val();
                    }
                    self.sum[b * nc + c].next = (self.operand[b * nc + c].val()
                        + self.d_product[b * nc + c].q.val())
                        & self.mask.val();
                    self.acc[b * nc + c].d.next = self.acc[b * nc + c].q.val();
                    if self.accumulate_replica[b].q.val() {
                        self.acc[b * nc + c].d.next = self.sum[b * nc + c].val();
                    }
                    self.alus[b * nc + c].membrane.next = self.fire_v[b * nc + c].q.val();
                    self.alus[b * nc + c].addend.next = self.addend_replica[b].q.val();
                    self.alus[b * nc + c].threshold.next =
                        self.threshold_replica[b * nc + c].q.val();
                    self.lane_saturated[b * nc + c].clock.next = self.clock.val();
                    self.lane_saturated[b * nc + c].d.next = false;
                    self.fire_v[b * nc + c].d.next = self.fire_v[b * nc + c].q.val();
                    if self.fire_active.q.val() & self.alus[b * nc + c].spike.val() {
                        self.fire_v[b * nc + c].d.next = self.alus[b * nc + c].sum.val();
                        self.lane_saturated[b * nc + c].d.next =
                            self.alus[b * nc + c].saturated.val()
                                & (!self.fire_last_group.q.val() | self.bank_in_last[b].val());
                    }
                    if self.capture_replica[b].q.val() {
                        self.fire_v[b * nc + c].d.next = self.sum[b * nc + c].val();
                    }
                    self.spike_reg[b * nc + c].clock.next = self.clock.val();
                    self.spike_reg[b * nc + c].d.next = self.alus[b * nc + c].spike.val();
                    self.candidate_now[b * nc + c].next =
                        self.candidate[b * nc + c].q.val() | self.pool_first.q.val();
                }
            }
        }
        // Pooling, a cycle behind the fire step: the window (r, c) spikes when a candidate
        // spikes; then the candidates that did not spike drop out.
        self.pool_first.d.next = self.fire_first.q.val();
        for nc in self._channels..(self._channels + 1) {
            for ns in self._slots..(self._slots + 1) {
                for r in 0..self._units_per_group {
                    self.mask_word[r].next = 0.into();
                    for c in 0..self._channels {
                        self.hit[r * nc + c].next = false;
                        for s in 0..self._slots {
                            if self.candidate_now[(r * ns + s) * nc + c].val()
                                & self.spike_reg[(r * ns + s) * nc + c].q.val()
                            {
                                self.hit[r * nc + c].next = true;
                            }
                        }
                        for s in 0..self._slots {
                            self.candidate[(r * ns + s) * nc + c].d.next =
                                self.candidate_now[(r * ns + s) * nc + c].val()
                                    & (self.spike_reg[(r * ns + s) * nc + c].q.val()
                                        | !self.hit[r * nc + c].val());
                        }
                        if self.hit[r * nc + c].val() {
                            self.mask_word[r].next =
                                self.mask_word[r].val() | self.channel_bit[c].val();
                        }
                    }
                }
            }
        }
        for p in 0..self._lanes {
            if self.lane_saturated[p].q.val() {
                self.saturating.next = true;
            }
        }
        self.saturated_reg.d.next = self.saturating.val();
        self.saturated.next = self.saturated_reg.q.val();
        self.busy.next = self.issue.val() | self.fire_active.q.val();
        // A capture starts the group's fire steps; each step's masks are written a cycle
        // later, from registers.
        self.capture.next = self.d_valid.q.val() & self.d_last.q.val();
        if self.capture.val() {
            self.fire_active.d.next = true;
            self.fire_step.d.next = 0.into();
            self.fire_group.d.next = self.d_group.q.val();
            self.fire_last_group.d.next = self.d_last_group.q.val();
            for b in 0..self._banks {
                self.addend_replica[b].d.next = self.reset_addend[0].val();
            }
            for t in 1..self._second_step {
                self.threshold_next.d.next = self.threshold[t].val();
                self.addend_next.d.next = self.reset_addend[t].val();
            }
            self.fire_first.d.next = true;
        }
        // Every lane's `T(t)` copy: step 0's at a capture, the next step's at each fire step.
        self.threshold_load_enable.next = self.capture.val() | self.fire_active.q.val();
        self.threshold_load.next = self.threshold[0].val();
        if self.fire_active.q.val() {
            self.threshold_load.next = self.threshold_next.q.val();
        }
        for p in 0..self._lanes {
            self.threshold_replica[p].clock.next = self.clock.val();
            self.threshold_replica[p].d.next = self.threshold_replica[p].q.val();
            if self.threshold_load_enable.val() {
                self.threshold_replica[p].d.next = self.threshold_load.val();
            }
        }
        self.pending_write_enable.d.next = self.fire_active.q.val();
        self.pending_write_address.d.next = (bit_cast::<16, 5>(self.fire_step.q.val())
            << self.step_shift.val())
            | self.fire_group.q.val();
        if self.out_set.q.val() {
            self.pending_write_address.d.next = (bit_cast::<16, 5>(self.fire_step.q.val())
                << self.step_shift.val())
                | self.fire_group.q.val()
                | self.mask_set.val();
        }
        self.write_enable.d.next = self.pending_write_enable.q.val();
        self.write_address.d.next = self.pending_write_address.q.val();
        self.fire_done.d.next = false;
        if self.fire_active.q.val() {
            self.fire_step.d.next = self.fire_step.q.val() + 1;
            for b in 0..self._banks {
                self.addend_replica[b].d.next = self.addend_next.q.val();
            }
            self.threshold_next.d.next = self.threshold_after.val();
            self.addend_next.d.next = self.addend_after.val();
            self.fire_first.d.next = false;
            if self.fire_step.q.val() == self.steps_last.val() {
                self.fire_active.d.next = false;
                self.fire_done.d.next = self.fire_last_group.q.val();
            }
        }
        // The image's last masks land as `pool_done` is high: the set is then full.
        self.pool_done.d.next = self.fire_done.q.val();
        if self.pool_done.q.val() {
            self.image_open.d.next = false;
            self.out_set.d.next = !self.out_set.q.val();
            if self.out_set.q.val() {
                self.masks_full_b.d.next = true;
            } else {
                self.masks_full_a.d.next = true;
            }
        }
        for r in 0..self._units_per_group {
            self.write_data[r].clock.next = self.clock.val();
            self.write_data[r].d.next = self.mask_word[r].val();
            self.masks[r].clock.next = self.clock.val();
            self.masks[r].write_enable.next = self.write_enable.q.val();
            self.masks[r].write_address.next = self.write_address.q.val();
            self.masks[r].write_data.next = self.write_data[r].q.val();
        }

        // Emission: read the masks step by step, row by row (a group's units), a chunk of
        // units per read, while the queue has room for every read in flight.
        self.room.next = self.outstanding.q.val() < self.queue_depth.val();
        self.read_issue.next = self.reading.q.val() & self.room.val();
        if !self.reading.q.val()
            & !self.read_end.q.val()
            & ((!self.emit_set.q.val() & self.masks_full_a.q.val())
                | (self.emit_set.q.val() & self.masks_full_b.q.val()))
        {
            self.reading.d.next = true;
            self.read_step.d.next = 0.into();
            self.read_unit.d.next = 0.into();
            self.read_row.d.next = 0.into();
            self.read_chunk.d.next = 0.into();
            self.read_chunk_last.d.next = self.single_chunk.val();
            self.read_row_last.d.next = self.single_group.val();
            self.read_step_last.d.next = self.single_step.val();
        }
        for r in 0..self._units_per_group {
            self.masks[r].read_address.next = (bit_cast::<16, 5>(self.read_step.q.val())
                << self.step_shift.val())
                | self.read_row.q.val();
            if self.emit_set.q.val() {
                self.masks[r].read_address.next = (bit_cast::<16, 5>(self.read_step.q.val())
                    << self.step_shift.val())
                    | self.read_row.q.val()
                    | self.mask_set.val();
            }
        }
        self.e1_valid.d.next = false;
        self.e1_last.d.next = false;
        self.e1_unit.d.next = self.read_unit.q.val();
        self.e1_step.d.next = self.read_step.q.val();
        self.e1_chunk.d.next = self.read_chunk.q.val();
        if self.read_issue.val() {
            self.e1_valid.d.next = true;
            self.read_unit.d.next = self.read_unit.q.val() + self.units_per_read.val();
            self.read_chunk.d.next = self.read_chunk.q.val() + 1;
            self.read_chunk_last.d.next = self.read_chunk.q.val() == self.chunk_penultimate.val();
            if self.read_chunk_last.q.val() {
                self.read_chunk.d.next = 0.into();
                self.read_chunk_last.d.next = self.single_chunk.val();
                self.read_unit.d.next = self.read_unit.q.val() + self.row_unit_step.val();
                self.read_row.d.next = self.read_row.q.val() + 1;
                self.read_row_last.d.next = self.read_row.q.val() == self.group_penultimate.val();
                if self.read_row_last.q.val() {
                    self.read_unit.d.next = 0.into();
                    self.read_row.d.next = 0.into();
                    self.read_row_last.d.next = self.single_group.val();
                    self.read_step.d.next = self.read_step.q.val() + 1;
                    self.read_step_last.d.next =
                        self.read_step.q.val() == self.steps_penultimate.val();
                    if self.read_step_last.q.val() {
                        self.reading.d.next = false;
                        self.read_end.d.next = true;
                    }
                }
            }
        }
        // The end marker takes a slot of its own; the set is then free (its reads are done).
        if self.read_end.q.val() & self.room.val() {
            self.e1_valid.d.next = true;
            self.e1_last.d.next = true;
            self.read_end.d.next = false;
            self.emit_set.d.next = !self.emit_set.q.val();
            if self.emit_set.q.val() {
                self.masks_full_b.d.next = false;
            } else {
                self.masks_full_a.d.next = false;
            }
        }
        self.m_valid.d.next = self.e1_valid.q.val();
        self.m_last.d.next = self.e1_last.q.val();
        self.m_unit.d.next = self.e1_unit.q.val();
        self.m_step.d.next = self.e1_step.q.val();
        for r in 0..self._units_per_group {
            self.unit_ok[r].next =
                (self.e1_unit.q.val() + self.unit_offset[r].val()) <= self.units_last.val();
            self.m_take[r].clock.next = self.clock.val();
            self.m_word[r].clock.next = self.clock.val();
            self.m_take[r].d.next =
                (self.e1_chunk.q.val() == self.mask_chunk[r].val()) & self.unit_ok[r].val();
            self.m_word[r].d.next = self.masks[r].read_data.val();
        }
        self.e2_valid.d.next = self.m_valid.q.val();
        self.e2_last.d.next = self.m_last.q.val();
        self.e2_unit.d.next = self.m_unit.q.val();
        self.e2_step.d.next = self.m_step.q.val();
        self.e2_mask_next.next = 0.into();
        for r in 0..self._units_per_group {
            if self.m_take[r].q.val() {
                self.e2_mask_next.next =
                    self.e2_mask_next.val() | (self.m_word[r].q.val() << self.mask_shift[r].val());
            }
        }
        self.e2_mask.d.next = self.e2_mask_next.val();
        self.e3_valid.d.next = self.e2_valid.q.val();
        self.e3_last.d.next = self.e2_last.q.val();
        self.e3_unit.d.next = self.e2_unit.q.val();
        self.e3_step.d.next = self.e2_step.q.val();
        self.e3_mask.d.next = self.e2_mask.q.val();
        self.e3_spiked.d.next = self.e2_mask.q.val().any();
        // Masks without a spike are dropped here.
        self.push.next = self.e3_valid.q.val() & (self.e3_last.q.val() | self.e3_spiked.q.val());
        self.dropped.next = self.e3_valid.q.val() & !self.push.val();
        self.queue.in_valid.next = self.push.val();
        self.queue.in_index.next = self.e3_unit.q.val();
        self.queue.in_step.next = self.e3_step.q.val();
        self.queue.in_value.next = self.e3_mask.q.val();
        self.queue.in_last.next = self.e3_last.q.val();

        // The emitter: the current mask's lowest channel leaves each cycle.
        self.lowest.next = self.current_mask.q.val() & (!self.current_mask.q.val() + 1);
        self.remaining.next = self.current_mask.q.val() & !self.lowest.val();
        for k in 0..8 {
            self.mask_any4[k].next = self.current_mask.q.val().get_bits::<4>(4 * k).any();
            self.mask_many4[k].next = (self.current_mask.q.val().get_bit(4 * k)
                & (self.current_mask.q.val().get_bit(4 * k + 1)
                    | self.current_mask.q.val().get_bit(4 * k + 2)
                    | self.current_mask.q.val().get_bit(4 * k + 3)))
                | (self.current_mask.q.val().get_bit(4 * k + 1)
                    & (self.current_mask.q.val().get_bit(4 * k + 2)
                        | self.current_mask.q.val().get_bit(4 * k + 3)))
                | (self.current_mask.q.val().get_bit(4 * k + 2)
                    & self.current_mask.q.val().get_bit(4 * k + 3));
        }
        for j in 0..2 {
            self.mask_any16[j].next = self.mask_any4[4 * j].val()
                | self.mask_any4[4 * j + 1].val()
                | self.mask_any4[4 * j + 2].val()
                | self.mask_any4[4 * j + 3].val();
            self.mask_many16[j].next = self.mask_many4[4 * j].val()
                | self.mask_many4[4 * j + 1].val()
                | self.mask_many4[4 * j + 2].val()
                | self.mask_many4[4 * j + 3].val()
                | (self.mask_any4[4 * j].val()
                    & (self.mask_any4[4 * j + 1].val()
                        | self.mask_any4[4 * j + 2].val()
                        | self.mask_any4[4 * j + 3].val()))
                | (self.mask_any4[4 * j + 1].val()
                    & (self.mask_any4[4 * j + 2].val() | self.mask_any4[4 * j + 3].val()))
                | (self.mask_any4[4 * j + 2].val() & self.mask_any4[4 * j + 3].val());
        }
        self.mask_many.next = self.mask_many16[0].val()
            | self.mask_many16[1].val()
            | (self.mask_any16[0].val() & self.mask_any16[1].val());
        self.lowest_offset.next = 0.into();
        for p in 0..self._chunk_bits {
            // (An OR of the one-hot's offsets, not a priority chain.)
            if self.out_lowest.q.val().get_bit(p) {
                self.lowest_offset.next = self.lowest_offset.val() | self.bit_offset[p].val();
            }
        }
        self.emit_free.next = !self.out_valid.q.val() | self.spike_ready.val();
        if self.emit_free.val() {
            self.out_valid.d.next = false;
        }
        self.current_free.next = !self.current_valid.q.val();
        if self.current_valid.q.val() & self.emit_free.val() {
            self.out_valid.d.next = true;
            self.out_last.d.next = self.current_last.q.val();
            self.out_unit.d.next = self.current_unit.q.val();
            self.out_lowest.d.next = self.lowest.val();
            self.out_step.d.next = self.current_step.q.val();
            self.current_mask.d.next = self.remaining.val();
            // The next mask comes in the cycle after (a pop decided from registers only).
            if self.current_last.q.val() | !self.mask_many.val() {
                self.current_valid.d.next = false;
            }
        }
        self.pop.next = self.current_free.val() & self.queue.out_valid.val();
        self.queue.out_ready.next = self.pop.val();
        if self.pop.val() {
            self.current_valid.d.next = true;
            self.current_last.d.next = self.queue.out_last.val();
            self.current_unit.d.next = self.queue.out_index.val();
            self.current_step.d.next = self.queue.out_step.val();
            self.current_mask.d.next = self.queue.out_value.val();
        }
        self.spike_valid.next = self.out_valid.q.val();
        self.spike_index.next = self.out_unit.q.val() + self.lowest_offset.val();
        self.spike_step.next = self.out_step.q.val();
        self.spike_last.next = self.out_last.q.val();
        // Reads in flight or queued: one more per read, one less per drop and per pop.
        // (One adder: the change, -2 to +1, is chosen first.)
        self.counted_read.next = self.read_issue.val() | (self.read_end.q.val() & self.room.val());
        self.outstanding_change.next = 0.into();
        if self.counted_read.val() {
            self.outstanding_change.next = 1.into();
        }
        if self.dropped.val() ^ self.pop.val() {
            self.outstanding_change.next = self.minus_one.val();
            if self.counted_read.val() {
                self.outstanding_change.next = 0.into();
            }
        }
        if self.dropped.val() & self.pop.val() {
            self.outstanding_change.next = self.minus_two.val();
            if self.counted_read.val() {
                self.outstanding_change.next = self.minus_one.val();
            }
        }
        self.outstanding.d.next = self.outstanding.q.val() + self.outstanding_change.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_model::geometry::{Pool, Shape};

    /// A convolution of `out` channels, `k x k` kernels, on `(channels, height, width)` pixels.
    fn conv(
        (channels, height, width): (usize, usize, usize),
        out: usize,
        (k, stride, padding): (usize, usize, usize),
        pool: Option<Pool>,
    ) -> Geometry {
        let kind = LayerKind::Conv2d {
            kernel: k,
            stride,
            padding,
        };
        let input = Shape {
            channels,
            height,
            width,
        };
        Geometry::new(kind, input, (out, channels * k * k), pool).unwrap()
    }

    fn mnist_first_layer() -> Geometry {
        let pool = Pool {
            kind: PoolKind::Max,
            window: 2,
            stride: 2,
        };
        conv((1, 28, 28), 16, (5, 1, 2), Some(pool))
    }

    /// The MNIST CNN's first layer: 196 pooled positions, 2 per group at 128 lanes (4 slots
    /// x 2 units x 16 channels), both units' masks in one read.
    #[test]
    fn shape_of_the_mnist_first_convolution() {
        let shape = PixelConvShape::new(&mnist_first_layer(), 8, 128).unwrap();
        assert_eq!(
            (shape.banks, shape.slots, shape.units, shape.units_per_group),
            (8, 4, 196, 2)
        );
        assert_eq!((shape.groups, shape.taps, shape.period), (98, 25, 25));
        assert_eq!((shape.units_per_read, shape.chunks), (2, 1));
        assert_eq!(shape.compute_cycles(0), 98 * 25 + 8 + 11);
        assert_eq!(shape.mask_cycles(), 8 * 98 + 4);
        // A skipped group waits out the fire steps of the one before (K + 1 = 9 cycles).
        assert_eq!(shape.skip_period(), Some(9));
        assert_eq!(shape.compute_cycles(10), 88 * 25 + 10 * 9 + 8 + 11);
        let k4 = PixelConvShape::new(&mnist_first_layer(), 4, 128).unwrap();
        assert_eq!(k4.skip_period(), Some(5));
        // Taps no more than the short period: nothing to skip.
        assert_eq!(short_kernel(3).skip_period(), None);
    }

    /// A 2x2 kernel of stride 2 on 8x8 pixels: 4 taps.
    fn short_kernel_geometry() -> Geometry {
        conv((1, 8, 8), 4, (2, 2, 0), None)
    }

    fn short_kernel(steps: usize) -> PixelConvShape {
        PixelConvShape::new(&short_kernel_geometry(), steps, 16).unwrap()
    }

    /// Every pixel a neuron reads (the golden model's receivers) lies in its group's field,
    /// and each field is no larger than its neurons' fields: for the MNIST layer, strided and
    /// unpadded kernels, pooled and not, groups that wrap rows.
    #[test]
    fn group_fields_hold_their_neurons_inputs() {
        let unpooled = |kernel, stride, padding, channels| {
            conv((channels, 11, 9), 3, (kernel, stride, padding), None)
        };
        for (geometry, lanes) in [
            (mnist_first_layer(), 128),
            (mnist_first_layer(), 64),
            (mnist_first_layer(), 320),
            (unpooled(3, 2, 1, 2), 15),
            (unpooled(4, 1, 0, 1), 21),
            (unpooled(5, 3, 2, 1), 3),
        ] {
            let shape = PixelConvShape::new(&geometry, 4, lanes).unwrap();
            let fields = group_fields(&geometry, &shape);
            assert_eq!(fields.len(), shape.groups);
            let (plane, width) = (
                geometry.input.height * geometry.input.width,
                geometry.input.width,
            );
            let neuron_plane = geometry.neurons.height * geometry.neurons.width;
            let mut seen = vec![None::<PixelRect>; shape.groups];
            for i in 0..geometry.input.size() {
                let (y, x) = ((i % plane) / width, i % width);
                for (j, _) in geometry.receivers(i) {
                    let (oy, ox) = (
                        (j % neuron_plane) / geometry.neurons.width,
                        j % geometry.neurons.width,
                    );
                    let unit = if shape.slots > 1 {
                        let window = geometry.pool.unwrap().window;
                        (oy / window) * geometry.output.width + ox / window
                    } else {
                        oy * geometry.neurons.width + ox
                    };
                    let g = unit / shape.units_per_group;
                    let pixel = PixelRect {
                        rows: (y, y),
                        columns: (x, x),
                    };
                    assert!(
                        fields[g].holds(y, x),
                        "{geometry:?} group {g} pixel {y},{x}"
                    );
                    seen[g] = Some(seen[g].map_or(pixel, |s| PixelRect {
                        rows: (s.rows.0.min(y), s.rows.1.max(y)),
                        columns: (s.columns.0.min(x), s.columns.1.max(x)),
                    }));
                }
            }
            for (g, field) in fields.iter().enumerate() {
                assert_eq!(Some(*field), seen[g], "{geometry:?} group {g}");
            }
        }
    }

    #[test]
    fn skipped_groups_hold_no_nonzero_pixel() {
        let shape = PixelConvShape::new(&mnist_first_layer(), 4, 128).unwrap();
        let fields = group_fields(&mnist_first_layer(), &shape);
        let input = InputEncoding {
            width: 28,
            height: 28,
            channels: 1,
            bits: 8,
            max_value: 255,
        };
        let mut image = vec![false; 784];
        assert_eq!(shape.skipped_groups(&fields, &input, &image), 98);
        // Seven groups per row of pooled units. Group 0 (outputs 0..=1 x 0..=3) reads rows
        // 0..=3 and columns 0..=5, group 1 columns 2..=9, group 7 rows 0..=5: only groups 0
        // and 7 read the top-left pixel.
        assert_eq!((fields[0].rows, fields[0].columns), ((0, 3), (0, 5)));
        assert_eq!((fields[1].rows, fields[1].columns), ((0, 3), (2, 9)));
        assert_eq!((fields[7].rows, fields[7].columns), ((0, 5), (0, 5)));
        image[0] = true;
        assert_eq!(shape.skipped_groups(&fields, &input, &image), 96);
        // Two pixels far apart: no box around them, only their own groups.
        image[27 * 28 + 27] = true;
        let reading = (0..98).filter(|&g| fields[g].holds(27, 27) || fields[g].holds(0, 0));
        assert_eq!(reading.count(), 4);
        assert_eq!(shape.skipped_groups(&fields, &input, &image), 94);
        // A layer whose groups take no longer than K + 1 skips none, even on zeros.
        let short = short_kernel(3);
        let small = InputEncoding {
            width: 8,
            height: 8,
            ..input
        };
        let short_fields = group_fields(&short_kernel_geometry(), &short);
        assert_eq!(short.skipped_groups(&short_fields, &small, &[false; 64]), 0);
    }

    #[test]
    fn lanes_come_in_whole_windows_of_channels() {
        let e = PixelConvShape::new(&mnist_first_layer(), 8, 96).unwrap_err();
        assert!(
            e.to_string()
                .contains("multiples of its 16 channels times 4"),
            "{e}"
        );
        // A fire takes K + 1 cycles at least, whatever the taps.
        let short = PixelConvShape::new(&mnist_first_layer(), 30, 64).unwrap();
        assert_eq!(short.skip_period(), None);
        assert_eq!(short.period, 31);
    }
}
