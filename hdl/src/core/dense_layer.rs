//! A dense layer: address-event spikes in, P [`Lane`]s, spikes (or, for the output layer,
//! logits) out, in the golden model's order.
//!
//! Every lane does one operation per cycle, the same in all lanes (see [`crate::core::lane`]); lane
//! `p` holds the neurons `j = g P + p` of the `G = ceil(N / P)` groups.
//! - **Accumulate.** Each input event `(i, t)` takes `G` operations, one per neuron group
//!   (`W_ji << shift(t)`); an end-of-image marker swaps the banks as soon as the previous
//!   image has finished firing. With `G = 1` every accumulation is of the same word: a hidden
//!   layer then forwards each sum straight into the next cycle's operation (its lanes'
//!   adjacent forwarding) and takes an event every cycle, and two lanes share a weight memory
//!   ([`WeightPair`]: the layer has a lane per neuron, 256 in the MNIST MLP, more than the
//!   chip's block RAMs); the output layer takes an event every two cycles.
//! - **Fire**, on the other bank, taking an operation slot only when it issues: for
//!   `t = 1..K`, for each group `g`, one fire step in every lane; five cycles later (stage 2;
//!   the weight address is registered and the weight read twice, so the lanes' stage 1 is
//!   four cycles after the layer's stage 0) the group's values are captured, a cycle after
//!   that its spikes (registered in every lane), and they leave one per cycle, lowest neuron
//!   first, so the layer's output is in `(t, j)` order. Then the bank is re-initialised (one
//!   copy per group) and an end-of-image marker closes the image. The output layer reads
//!   each accumulator once (its logit) and leaves the logits in neuron order.
//!
//! The lowest pending spike is `pending & -pending`, an adder on the FPGA's carry chain (with
//! more than [`EMISSION_CHAIN_LANES`] lanes, per chunk of [`EMISSION_CHUNK_LANES`], then the
//! lowest chunk that has one), and its lane number an OR tree.

use crate::core::datapath::Datapath;
use crate::core::lane::Lane;
use crate::core::lane_layout::lane_contents;
use crate::core::operation::{LaneOperation, WEIGHT_READ_CYCLES};
use crate::core::weight_pair::{PAIR_FIELD_BITS, WeightPair};
use anyhow::{Result, bail};
use fs_model::network::FsLayer;
use rust_hdl::prelude::*;

/// How a layer multiplies a weight by its sender's spike value `D(t)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpikeProduct {
    /// Every `D(t)` is a power of two (ReLU layers, the input code): `W << shift(t)`.
    Shift(Vec<u64>),
    /// Anything else (SiLU, sigmoid): a 16 x 16 multiply per lane, `W * D(t)`.
    Multiply(Vec<i64>),
}

impl SpikeProduct {
    /// The product for a sender whose spike values are `values`.
    pub fn of(values: &[i64]) -> Result<Self> {
        if let Some(&d) = values
            .iter()
            .find(|&&d| !(-(1 << 15)..1 << 15).contains(&d))
        {
            bail!("spike value {d} does not fit 16 bits");
        }
        let power_of_two = |d: i64| d > 0 && (d as u64).is_power_of_two();
        Ok(if values.iter().all(|&d| power_of_two(d)) {
            SpikeProduct::Shift(values.iter().map(|&d| d.trailing_zeros() as u64).collect())
        } else {
            SpikeProduct::Multiply(values.to_vec())
        })
    }

    /// The largest shift (0 when the lanes multiply).
    pub fn max_shift(&self) -> u32 {
        match self {
            SpikeProduct::Shift(shifts) => shifts.iter().copied().max().unwrap_or(0) as u32,
            SpikeProduct::Multiply(_) => 0,
        }
    }

    /// Whether the lanes multiply (else they shift).
    pub fn multiplies(&self) -> bool {
        matches!(self, SpikeProduct::Multiply(_))
    }

    /// The lanes' operands for each sender step: its shift and its 16-bit value (one of them
    /// unused, zero).
    pub fn step_operands(&self) -> (Vec<Constant<Bits<5>>>, Vec<Constant<Bits<16>>>) {
        let (shifts, values) = match self {
            SpikeProduct::Shift(shifts) => (shifts.clone(), vec![0; shifts.len()]),
            SpikeProduct::Multiply(values) => (vec![0; values.len()], values.clone()),
        };
        (
            shifts.iter().map(|&s| Constant::new(s.into())).collect(),
            values
                .iter()
                .map(|&d| Constant::new((d as u64 & 0xffff).into()))
                .collect(),
        )
    }
}

/// Cycles one fire step of one neuron group takes, its spikes aside: the fire state machine's
/// issue (state 0), four cycles until the lanes' stage 1 (1, 6, 8, 9; the weight address is
/// registered and the weight read twice), stage 2's value capture (2), the capture of the
/// spikes the lanes registered (7), and the emission's one cycle that finds no spike left (3;
/// each spike adds one there). `crate::core::cycle_model` counts with it.
pub const FIRE_STEP_CYCLES: u32 = 8;

/// With one neuron group every accumulation is of the same word. Without adjacent forwarding
/// the layer never issues two operations on one word less than two cycles apart
/// (`acc_previous`; see [`crate::core::lane`] on the write-back), so input events are this
/// many cycles apart; only the output layer is built so (few events reach it, and small
/// boards have no room for the forwarding).
pub const SINGLE_GROUP_EVENT_CYCLES: u32 = 2;

/// Cycles between the input events a dense layer takes: one per neuron group, with one
/// group one for a hidden layer (it forwards) and [`SINGLE_GROUP_EVENT_CYCLES`] for the
/// output layer.
pub fn event_cycles(groups: usize, hidden: bool) -> u32 {
    match (groups, hidden) {
        (1, true) => 1,
        (1, false) => SINGLE_GROUP_EVENT_CYCLES,
        (g, _) => g as u32,
    }
}

/// Most lanes a layer can have (the width of its pending-spike vector).
pub const MAX_LANES: usize = 256;

/// Lanes whose lowest pending spike one carry chain finds: a wider layer finds it per
/// [`EMISSION_CHUNK_LANES`] lanes and then the lowest chunk that has one (the ECP5's carry
/// takes 71 ps per two bits: 4.5 ns for 128 lanes, measured, twice that for 256).
pub const EMISSION_CHAIN_LANES: usize = 128;

/// Lanes per chunk of a wider layer's emission.
pub const EMISSION_CHUNK_LANES: usize = 32;

/// Lanes that share one copy of a stage-2 operand (threshold, reset addend, product select)
/// before it reaches their own; a layer with more lanes fans each operand out in two register
/// levels.
pub const OPERAND_GROUP_LANES: usize = 16;
/// Lanes that share a copy of the weight read address.
pub const WEIGHT_ADDRESS_GROUP_LANES: usize = 8;

#[derive(LogicBlock)]
pub struct DenseLayer {
    pub clock: Signal<In, Clock>,
    /// Input events: a spike of sender `event_index` at step `event_step` (0-based), or, with
    /// `event_last`, the end of an image. Consumed when `event_ready` is high.
    pub event_valid: Signal<In, Bit>,
    pub event_index: Signal<In, Bits<16>>,
    pub event_step: Signal<In, Bits<5>>,
    pub event_last: Signal<In, Bit>,
    pub event_ready: Signal<Out, Bit>,
    /// Output events: spike `(spike_index, spike_step)` (hidden layer) or logit `spike_value` of
    /// neuron `spike_index` (output layer, a datapath pattern); `spike_last` ends an image.
    /// Taken when `spike_ready`.
    pub spike_valid: Signal<Out, Bit>,
    pub spike_index: Signal<Out, Bits<16>>,
    pub spike_step: Signal<Out, Bits<5>>,
    pub spike_value: Signal<Out, Bits<32>>,
    pub spike_last: Signal<Out, Bit>,
    pub spike_ready: Signal<In, Bit>,
    /// High in every cycle in which the lanes start an operation.
    pub busy: Signal<Out, Bit>,
    /// High in every cycle in which a lane wrote a saturated sum (one cycle after stage 2).
    pub saturated: Signal<Out, Bit>,
    /// Run-time loads of an idle layer: `load_data` into lane `load_lane`'s weight memory, or
    /// with `load_state` its state memory, at `load_address`. `load_target` (this layer is
    /// the one loaded), `load_lane` and `load_state` name the memory from two cycles before
    /// `load_enable` on: the layer registers the target, each lane whether it is named, so its
    /// write enables are one gate after a flip-flop, not compares across the chip.
    pub load_enable: Signal<In, Bit>,
    pub load_target: Signal<In, Bit>,
    pub load_state: Signal<In, Bit>,
    pub load_lane: Signal<In, Bits<16>>,
    pub load_address: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,
    lanes: Vec<Lane>,
    lane_number: Vec<Constant<Bits<16>>>,
    /// A hidden layer with one group: its lanes' weights, two lanes a memory (else empty,
    /// the lanes keeping their own).
    weight_pairs: Vec<WeightPair>,
    /// A hidden layer with one group: whether the operation entering the lanes' stage 1 is
    /// of the word that stage 2 writes, one register per lane (each drives only its lane),
    /// loaded from one copy per [`OPERAND_GROUP_LANES`] lanes when there are more, computed
    /// a cycle earlier. Empty in other layers (no adjacent forwarding).
    address_match_replica: Vec<DFF<Bit>>,
    address_match_group_replica: Vec<DFF<Bit>>,
    /// Whether the load names this lane's weight memory, or its state memory.
    weight_load_select: Vec<DFF<Bit>>,
    state_load_select: Vec<DFF<Bit>>,
    /// The layer is loaded, its weights or its state memory (registered, so the lanes' selects
    /// start from two flip-flops, not from the layer and state compares).
    weight_load_target: DFF<Bit>,
    state_load_target: DFF<Bit>,
    pending_value: Vec<DFF<Bits<32>>>,
    sender_shift: Vec<Constant<Bits<5>>>,
    sender_value: Vec<Constant<Bits<16>>>,
    threshold: Vec<Constant<Bits<32>>>,
    /// `-H(t)`, as datapath patterns.
    reset_addend: Vec<Constant<Bits<32>>>,
    /// The lanes' spikes gathered into a vector, and the number and value of the selected
    /// lane, lane by lane: step `p + 1` adds lane `p` to step `p`. (One local per step: a
    /// signal that reads itself does not simulate as its Verilog runs, and a chain of blocks
    /// takes RustHDL one settle pass per lane.)
    collected_vector: Vec<Signal<Local, Bits<MAX_LANES>>>,
    collected_number: Vec<Signal<Local, Bits<16>>>,
    collected_value: Vec<Signal<Local, Bits<32>>>,
    lane_bit: Vec<Constant<Bits<MAX_LANES>>>,
    /// The lanes holding a neuron in every group but the last, and in the last.
    full_group: Constant<Bits<MAX_LANES>>,
    last_group: Constant<Bits<MAX_LANES>>,
    groups: Constant<Bits<16>>,
    last_group_index: Constant<Bits<16>>,
    init_base: Constant<Bits<16>>,
    inputs: Constant<Bits<16>>,
    lane_count: Constant<Bits<16>>,
    single_group: Constant<Bit>,
    last_step: Constant<Bits<5>>,
    is_output: Constant<Bit>,
    /// The datapath's bits: the output value is masked to them, so synthesis sees the bits
    /// above as constant all the way to the consumer (the argmax's compare).
    value_mask: Constant<Bits<32>>,
    // Accumulation.
    bank: DFF<Bit>,
    acc_group: DFF<Bits<16>>,
    acc_weight_base: DFF<Bits<16>>,
    acc_previous: DFF<Bit>,
    // Firing.
    fire_active: DFF<Bit>,
    fire_state: DFF<Bits<4>>,
    fire_step: DFF<Bits<5>>,
    fire_group: DFF<Bits<16>>,
    fire_neuron_base: DFF<Bits<16>>,
    fire_done: DFF<Bit>,
    out_group: DFF<Bits<16>>,
    out_step: DFF<Bits<5>>,
    out_neuron_base: DFF<Bits<16>>,
    pending: DFF<Bits<MAX_LANES>>,
    emit_valid: DFF<Bit>,
    emit_index: DFF<Bits<16>>,
    emit_step: DFF<Bits<5>>,
    emit_value: DFF<Bits<32>>,
    emit_last: DFF<Bit>,
    emit_free: Signal<Local, Bit>,
    selected_valid: DFF<Bit>,
    selected: DFF<Bits<MAX_LANES>>,
    selected_step: DFF<Bits<5>>,
    selected_base: DFF<Bits<16>>,
    selected_free: Signal<Local, Bit>,
    lowest_index: Signal<Local, Bits<16>>,
    weight_address: Signal<Local, Bits<16>>,
    lowest_value: Signal<Local, Bits<32>>,
    // The operation in stage 1 and stage 2.
    s1: DFF<LaneOperation>,
    s1_read_address: DFF<Bits<16>>,
    s1_write_address: DFF<Bits<16>>,
    /// Stage 0's weight address is registered before it fans out to every lane's memory, and
    /// the lanes register the weight read twice: the lanes' stage 1 comes four cycles after
    /// the layer's stage 0, so the operation's stage-1 fields wait three cycles here. One
    /// register per [`WEIGHT_ADDRESS_GROUP_LANES`] lanes, each near its block RAMs (run 17,
    /// seed 2: one register into 65 block-RAM address pins, 10.58 ns).
    weight_address_replica: Vec<DFF<Bits<16>>>,
    weight_read: Vec<DFF<LaneOperation>>,
    read_address_delay: Vec<DFF<Bits<16>>>,
    write_address_delay: Vec<DFF<Bits<16>>>,
    /// The operation in the lanes' stage 1 (`lane_op_early`: the one a cycle behind, for the
    /// group copies) and its addresses.
    lane_op: Signal<Local, LaneOperation>,
    lane_op_early: Signal<Local, LaneOperation>,
    lane_read_address: Signal<Local, Bits<16>>,
    lane_write_address: Signal<Local, Bits<16>>,
    /// Adjacent forwarding: next cycle's lanes' read and stage-2 write are of one word
    /// (`lane_address_match`); the group copies compare the same a cycle earlier.
    lane_address_match: Signal<Local, Bit>,
    group_address_match: Signal<Local, Bit>,
    s2_last_group: DFF<Bit>,
    s3_last_group: DFF<Bit>,
    s2_acc: DFF<Bit>,
    s2_fire: DFF<Bit>,
    s2_init: DFF<Bit>,
    s2_write_address: DFF<Bits<16>>,
    /// Stage 2's operands, one copy per lane: each drives only its lane's adder and
    /// comparator, not a net across the whole layer. (Synthesis would merge identical
    /// registers; `scripts/synth` marks registers named `*replica*` to be kept.)
    use_product_replica: Vec<DFF<Bit>>,
    threshold_replica: Vec<DFF<Bits<32>>>,
    addend_replica: Vec<DFF<Bits<32>>>,
    threshold_next: Signal<Local, Bits<32>>,
    addend_next: Signal<Local, Bits<32>>,
    /// With more than [`OPERAND_GROUP_LANES`] lanes, the replicas load from one copy per
    /// group of that many lanes, computed a cycle earlier: no net drives hundreds of lanes.
    threshold_early: Signal<Local, Bits<32>>,
    addend_early: Signal<Local, Bits<32>>,
    use_product_group_replica: Vec<DFF<Bit>>,
    threshold_group_replica: Vec<DFF<Bits<32>>>,
    addend_group_replica: Vec<DFF<Bits<32>>>,
    /// A power-of-two lane count makes every neuron base a multiple of it: the emitted
    /// neuron number is the base ORed with the lane number, no adder.
    power_of_two_lanes: Constant<Bit>,
    fire_issue: Signal<Local, Bit>,
    /// Whether a fire operation takes the next slot, and whether the next accumulation is of
    /// the last group, registered (from the registers' next values), so `event_ready` is
    /// shallow logic on the input event.
    fire_issue_next: DFF<Bit>,
    acc_last_next: DFF<Bit>,
    acc_last: Signal<Local, Bit>,
    acc_issue: Signal<Local, Bit>,
    acc_bank_base: Signal<Local, Bits<16>>,
    fire_bank_base: Signal<Local, Bits<16>>,
    captured: Signal<Local, Bits<MAX_LANES>>,
    pending_lanes: Signal<Local, Bits<MAX_LANES>>,
    lowest: Signal<Local, Bits<MAX_LANES>>,
    /// With more than [`EMISSION_CHAIN_LANES`] lanes (else empty): per chunk its pending
    /// lanes and their lowest; which chunks have a pending lane (`chunk_flags`, a register
    /// kept beside `pending`, so the first chunk is chosen from flip-flops, not from ORs of
    /// `pending`), gathered chunk by chunk when `pending` is loaded (`chunk_loaded`) and
    /// whether a chunk keeps a lane once its lowest leaves (`chunk_kept`); the first of them,
    /// and the lowest pending lane gathered lane by lane.
    chunk_pending: Vec<Signal<Local, Bits<32>>>,
    chunk_lowest: Vec<Signal<Local, Bits<32>>>,
    chunk_bit: Vec<Constant<Bits<16>>>,
    chunk_flags: Vec<DFF<Bits<16>>>,
    chunk_loaded: Vec<Signal<Local, Bits<16>>>,
    /// What the capture loads into `pending` (the flags are gathered from it, not from
    /// `pending`'s next value, which the emission's carry chains feed).
    loading: Vec<Signal<Local, Bits<MAX_LANES>>>,
    chunk_kept: Vec<Signal<Local, Bits<16>>>,
    first_chunk: Vec<Signal<Local, Bits<16>>>,
    lowest_collected: Vec<Signal<Local, Bits<MAX_LANES>>>,
    /// Per lane, its chunk's bit and its own bit in the chunk.
    lane_chunk: Vec<Constant<Bits<16>>>,
    lane_in_chunk: Vec<Constant<Bits<32>>>,
    _lanes: usize,
    _weight_read_cycles: usize,
    _chunks: usize,
    _chunked: usize,
    _unchunked: usize,
    _chunked_lanes: usize,
    _chunk_lanes: usize,
    _pairs: usize,
    _forwarding: usize,
    _forwarding_lanes: usize,
    _forwarding_groups: usize,
    _forwarding_grouped_lanes: usize,
    _operand_groups: usize,
    _group_lanes: usize,
    _address_group_lanes: usize,
    _address_groups: usize,
    _grouped_lanes: usize,
    _sender_steps: usize,
    _steps: usize,
}

impl DenseLayer {
    /// Layer `layer` of a model with `lanes` lanes, fed by a sender whose spike values are
    /// `sender_values` (the previous layer's ROM `D`, or the input code's).
    pub fn new(
        layer: &FsLayer,
        datapath: Datapath,
        weight_bits: usize,
        sender_values: &[i64],
        lanes: usize,
    ) -> Result<Self> {
        let (outputs, inputs) = layer.weight.dim();
        if lanes == 0 || lanes > outputs || lanes > MAX_LANES {
            bail!("{lanes} lanes for {outputs} neurons (at most {MAX_LANES} lanes)");
        }
        let groups = outputs.div_ceil(lanes);
        if inputs * groups > 1 << 16 || 3 * groups > 1 << 16 || outputs >= 1 << 16 {
            bail!("{inputs} x {groups} weights per lane exceed 65,536");
        }
        let product = SpikeProduct::of(sender_values)?;
        let steps_in = sender_values.len();
        let (sender_shift, sender_value) = product.step_operands();
        let multiply = product.multiplies();
        // One group in a hidden layer: adjacent forwarding, and the weights in pairs when
        // they fit a pair's fields.
        let forwarding = groups == 1 && layer.rom.is_some();
        let paired = forwarding && lanes % 2 == 0 && weight_bits <= PAIR_FIELD_BITS;
        let contents: Vec<(Vec<i64>, Vec<i64>)> =
            (0..lanes).map(|p| lane_contents(layer, lanes, p)).collect();
        let lane_blocks = contents
            .iter()
            .map(|(weights, init)| {
                let lane = if paired {
                    Lane::new(datapath, weight_bits, &[0], init, multiply).with_external_weights()
                } else {
                    Lane::new(datapath, weight_bits, weights, init, multiply)
                };
                let lane = lane
                    .with_max_shift(product.max_shift())
                    .with_registered_weights();
                if forwarding {
                    lane.with_adjacent_forwarding()
                } else {
                    lane
                }
            })
            .collect();
        let weight_pairs = if paired {
            contents
                .chunks(2)
                .map(|pair| WeightPair::new(&pair[0].0, &pair[1].0))
                .collect()
        } else {
            Vec::new()
        };
        let word = |x: i64| Constant::new(datapath.pattern(x));
        let (thresholds, resets, steps) = match &layer.rom {
            Some(rom) => (
                rom.t.iter().map(|&t| word(t)).collect(),
                rom.h.iter().map(|&h| word(-h)).collect(),
                rom.k(),
            ),
            // The output layer reads each accumulator once and writes nothing back.
            None => (vec![word(0)], vec![word(0)], 1),
        };
        let grouped_lanes = if lanes > OPERAND_GROUP_LANES {
            lanes
        } else {
            0
        };
        let operand_groups = grouped_lanes.div_ceil(OPERAND_GROUP_LANES);
        let chunked = (lanes > EMISSION_CHAIN_LANES) as usize;
        let chunks = lanes.div_ceil(EMISSION_CHUNK_LANES) * chunked;
        let (forwarding_lanes, forwarding_groups) = if forwarding {
            (lanes, operand_groups)
        } else {
            (0, 0)
        };
        let lane_mask = |n: usize| {
            Constant::new((0..n).fold(Bits::<MAX_LANES>::default(), |m, p| m.replace_bit(p, true)))
        };
        Ok(DenseLayer {
            clock: Default::default(),
            event_valid: Default::default(),
            event_index: Default::default(),
            event_step: Default::default(),
            event_last: Default::default(),
            event_ready: Default::default(),
            spike_valid: Default::default(),
            spike_index: Default::default(),
            spike_step: Default::default(),
            spike_value: Default::default(),
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
            lane_number: (0..lanes)
                .map(|p| Constant::new((p as u64).into()))
                .collect(),
            lanes: lane_blocks,
            weight_pairs,
            address_match_replica: (0..forwarding_lanes).map(|_| Default::default()).collect(),
            address_match_group_replica: (0..forwarding_groups)
                .map(|_| Default::default())
                .collect(),
            weight_load_target: Default::default(),
            state_load_target: Default::default(),
            weight_load_select: (0..lanes).map(|_| Default::default()).collect(),
            state_load_select: (0..lanes).map(|_| Default::default()).collect(),
            pending_value: (0..lanes).map(|_| Default::default()).collect(),
            sender_shift,
            sender_value,
            threshold: thresholds,
            reset_addend: resets,
            collected_vector: (0..=lanes).map(|_| Default::default()).collect(),
            collected_number: (0..=lanes).map(|_| Default::default()).collect(),
            collected_value: (0..=lanes).map(|_| Default::default()).collect(),
            lane_bit: (0..lanes)
                .map(|p| Constant::new(Bits::<MAX_LANES>::default().replace_bit(p, true)))
                .collect(),
            full_group: lane_mask(lanes),
            last_group: lane_mask(outputs - (groups - 1) * lanes),
            groups: Constant::new((groups as u64).into()),
            last_group_index: Constant::new(((groups - 1) as u64).into()),
            init_base: Constant::new(((2 * groups) as u64).into()),
            inputs: Constant::new((inputs as u64).into()),
            lane_count: Constant::new((lanes as u64).into()),
            single_group: Constant::new(groups == 1),
            last_step: Constant::new(((steps - 1) as u64).into()),
            is_output: Constant::new(layer.rom.is_none()),
            value_mask: Constant::new(datapath.mask().into()),
            bank: Default::default(),
            acc_group: Default::default(),
            acc_weight_base: Default::default(),
            acc_previous: Default::default(),
            fire_active: Default::default(),
            fire_state: Default::default(),
            fire_step: Default::default(),
            fire_group: Default::default(),
            fire_neuron_base: Default::default(),
            fire_done: Default::default(),
            out_group: Default::default(),
            out_step: Default::default(),
            out_neuron_base: Default::default(),
            pending: Default::default(),
            emit_valid: Default::default(),
            emit_index: Default::default(),
            emit_step: Default::default(),
            emit_value: Default::default(),
            emit_last: Default::default(),
            emit_free: Default::default(),
            selected_valid: Default::default(),
            selected: Default::default(),
            selected_step: Default::default(),
            selected_base: Default::default(),
            selected_free: Default::default(),
            lowest_index: Default::default(),
            weight_address: Default::default(),
            lowest_value: Default::default(),
            s1: Default::default(),
            s1_read_address: Default::default(),
            weight_read: (0..WEIGHT_READ_CYCLES)
                .map(|_| Default::default())
                .collect(),
            read_address_delay: (0..WEIGHT_READ_CYCLES)
                .map(|_| Default::default())
                .collect(),
            write_address_delay: (0..WEIGHT_READ_CYCLES)
                .map(|_| Default::default())
                .collect(),
            lane_op: Default::default(),
            lane_op_early: Default::default(),
            lane_read_address: Default::default(),
            lane_write_address: Default::default(),
            lane_address_match: Default::default(),
            group_address_match: Default::default(),
            s1_write_address: Default::default(),
            weight_address_replica: (0..lanes.div_ceil(WEIGHT_ADDRESS_GROUP_LANES))
                .map(|_| Default::default())
                .collect(),
            s2_last_group: Default::default(),
            s3_last_group: Default::default(),
            s2_acc: Default::default(),
            s2_fire: Default::default(),
            s2_init: Default::default(),
            s2_write_address: Default::default(),
            use_product_replica: (0..lanes).map(|_| Default::default()).collect(),
            threshold_replica: (0..lanes).map(|_| Default::default()).collect(),
            addend_replica: (0..lanes).map(|_| Default::default()).collect(),
            threshold_next: Default::default(),
            addend_next: Default::default(),
            threshold_early: Default::default(),
            addend_early: Default::default(),
            use_product_group_replica: (0..operand_groups).map(|_| Default::default()).collect(),
            threshold_group_replica: (0..operand_groups).map(|_| Default::default()).collect(),
            addend_group_replica: (0..operand_groups).map(|_| Default::default()).collect(),
            power_of_two_lanes: Constant::new(lanes.is_power_of_two()),
            fire_issue: Default::default(),
            fire_issue_next: Default::default(),
            acc_last_next: Default::default(),
            acc_last: Default::default(),
            acc_issue: Default::default(),
            acc_bank_base: Default::default(),
            fire_bank_base: Default::default(),
            captured: Default::default(),
            pending_lanes: Default::default(),
            lowest: Default::default(),
            chunk_pending: (0..chunks).map(|_| Default::default()).collect(),
            chunk_lowest: (0..chunks).map(|_| Default::default()).collect(),
            chunk_bit: (0..chunks)
                .map(|c| Constant::new(Bits::<16>::default().replace_bit(c, true)))
                .collect(),
            chunk_flags: (0..chunked).map(|_| Default::default()).collect(),
            chunk_loaded: (0..chunks + chunked).map(|_| Default::default()).collect(),
            loading: (0..chunked).map(|_| Default::default()).collect(),
            chunk_kept: (0..chunks + chunked).map(|_| Default::default()).collect(),
            first_chunk: (0..chunked).map(|_| Default::default()).collect(),
            lowest_collected: (0..(lanes + 1) * chunked)
                .map(|_| Default::default())
                .collect(),
            lane_chunk: (0..lanes * chunked)
                .map(|p| {
                    Constant::new(Bits::<16>::default().replace_bit(p / EMISSION_CHUNK_LANES, true))
                })
                .collect(),
            lane_in_chunk: (0..lanes * chunked)
                .map(|p| {
                    Constant::new(Bits::<32>::default().replace_bit(p % EMISSION_CHUNK_LANES, true))
                })
                .collect(),
            _lanes: lanes,
            _weight_read_cycles: WEIGHT_READ_CYCLES,
            _chunks: chunks,
            _chunked: chunked,
            _unchunked: 1 - chunked,
            _chunked_lanes: lanes * chunked,
            _chunk_lanes: EMISSION_CHUNK_LANES,
            _pairs: if paired { lanes / 2 } else { 0 },
            _forwarding: forwarding as usize,
            _forwarding_lanes: forwarding_lanes,
            _forwarding_groups: forwarding_groups,
            _forwarding_grouped_lanes: forwarding_lanes.min(grouped_lanes),
            _operand_groups: operand_groups,
            _group_lanes: OPERAND_GROUP_LANES,
            _address_group_lanes: WEIGHT_ADDRESS_GROUP_LANES,
            _address_groups: lanes.div_ceil(WEIGHT_ADDRESS_GROUP_LANES),
            _grouped_lanes: grouped_lanes,
            _sender_steps: steps_in,
            _steps: steps,
        })
    }
}

impl Logic for DenseLayer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            weight_load_target,
            state_load_target,
            bank,
            acc_group,
            acc_weight_base,
            acc_previous,
            fire_active,
            fire_state,
            fire_step,
            fire_group,
            fire_neuron_base,
            fire_done,
            out_group,
            out_step,
            out_neuron_base,
            pending,
            emit_valid,
            emit_index,
            emit_step,
            emit_value,
            emit_last,
            selected_valid,
            selected,
            selected_step,
            selected_base,
            s1,
            s1_read_address,
            s1_write_address,
            s2_last_group,
            s3_last_group,
            s2_acc,
            s2_fire,
            s2_init,
            s2_write_address,
            fire_issue_next,
            acc_last_next
        );
        // (The device holds a load's layer, lane and state from long before its first word.)
        self.weight_load_target.d.next = self.load_target.val() & !self.load_state.val();
        self.state_load_target.d.next = self.load_target.val() & self.load_state.val();
        for p in 0..self._lanes {
            self.lanes[p].clock.next = self.clock.val();
            self.pending_value[p].clock.next = self.clock.val();
            self.pending_value[p].d.next = self.pending_value[p].q.val();
            self.weight_load_select[p].clock.next = self.clock.val();
            self.state_load_select[p].clock.next = self.clock.val();
        }
        for g in 0..self._operand_groups {
            self.use_product_group_replica[g].clock.next = self.clock.val();
            self.threshold_group_replica[g].clock.next = self.clock.val();
            self.addend_group_replica[g].clock.next = self.clock.val();
        }
        self.acc_bank_base.next = 0.into();
        self.fire_bank_base.next = self.groups.val();
        if self.bank.q.val() {
            self.acc_bank_base.next = self.groups.val();
            self.fire_bank_base.next = 0.into();
        }

        // Stage 0: a fire or initialisation operation has the slot, else an accumulation.
        self.fire_issue.next = self.fire_issue_next.q.val();
        // (With one group every accumulation is of the last; else the flag starts false with
        // the group counter at 0.)
        self.acc_last.next = self.single_group.val() | self.acc_last_next.q.val();
        self.acc_issue.next = self.event_valid.val()
            & !self.event_last.val()
            & !self.fire_issue.val()
            & !(self.single_group.val() & self.acc_previous.q.val());
        self.acc_previous.d.next = self.acc_issue.val();
        // (With adjacent forwarding, accumulations of one word may follow each other.)
        for _f in 0..self._forwarding {
            self.acc_previous.d.next = false;
        }
        self.busy.next = self.fire_issue.val() | self.acc_issue.val();
        self.event_ready.next = false;
        self.s1.d.next.acc = self.acc_issue.val();
        self.s1.d.next.fire = false;
        self.s1.d.next.init = false;
        self.s1.d.next.shift = 0.into();
        self.s1.d.next.value = 0.into();
        for s in 0..self._sender_steps {
            if self.event_step.val().index() == s {
                self.s1.d.next.shift = self.sender_shift[s].val();
                self.s1.d.next.value = self.sender_value[s].val();
            }
        }
        self.s1.d.next.step = self.fire_step.q.val();
        self.s1_read_address.d.next = self.acc_bank_base.val() + self.acc_group.q.val();
        self.s1_write_address.d.next = self.acc_bank_base.val() + self.acc_group.q.val();
        self.s1.d.next.last_group = self.acc_group.q.val() == self.last_group_index.val();
        if self.acc_issue.val() {
            self.acc_group.d.next = self.acc_group.q.val() + 1;
            self.acc_weight_base.d.next = self.acc_weight_base.q.val() + self.inputs.val();
            if self.acc_last.val() {
                self.acc_group.d.next = 0.into();
                self.acc_weight_base.d.next = 0.into();
                self.event_ready.next = true;
            }
        }
        // End of image: swap the banks once the previous image has fired.
        if self.event_valid.val() & self.event_last.val() & !self.fire_active.q.val() {
            self.event_ready.next = true;
            self.bank.d.next = !self.bank.q.val();
            self.fire_active.d.next = true;
            self.fire_state.d.next = 0.into();
            self.fire_step.d.next = 0.into();
            self.fire_group.d.next = 0.into();
            self.fire_neuron_base.d.next = 0.into();
            self.fire_done.d.next = false;
        }

        // The weight read's cycles between stage 0 and the lanes' stage 1.
        for i in 0..self._weight_read_cycles {
            self.weight_read[i].clock.next = self.clock.val();
            self.read_address_delay[i].clock.next = self.clock.val();
            self.write_address_delay[i].clock.next = self.clock.val();
        }
        self.weight_read[0].d.next = self.s1.q.val();
        self.read_address_delay[0].d.next = self.s1_read_address.q.val();
        self.write_address_delay[0].d.next = self.s1_write_address.q.val();
        for i in 1..self._weight_read_cycles {
            self.weight_read[i].d.next = self.weight_read[i - 1].q.val();
            self.read_address_delay[i].d.next = self.read_address_delay[i - 1].q.val();
            self.write_address_delay[i].d.next = self.write_address_delay[i - 1].q.val();
        }
        for last in (self._weight_read_cycles - 1)..self._weight_read_cycles {
            self.lane_op.next = self.weight_read[last].q.val();
            self.lane_op_early.next = self.weight_read[last - 1].q.val();
            self.lane_read_address.next = self.read_address_delay[last].q.val();
            self.lane_write_address.next = self.write_address_delay[last].q.val();
            self.lane_address_match.next =
                self.read_address_delay[last - 1].q.val() == self.write_address_delay[last].q.val();
            self.group_address_match.next = self.read_address_delay[last - 2].q.val()
                == self.write_address_delay[last - 1].q.val();
        }

        // Stage 1 -> 2: the step's threshold and reset.
        self.s2_acc.d.next = self.lane_op.val().acc;
        self.s2_fire.d.next = self.lane_op.val().fire;
        self.s2_init.d.next = self.lane_op.val().init;
        self.s2_write_address.d.next = self.lane_write_address.val();
        self.s2_last_group.d.next = self.lane_op.val().last_group;
        self.s3_last_group.d.next = self.s2_last_group.q.val();
        self.threshold_next.next = 0.into();
        self.addend_next.next = 0.into();
        for s in 0..self._steps {
            if self.lane_op.val().step.index() == s {
                self.threshold_next.next = self.threshold[s].val();
                self.addend_next.next = self.reset_addend[s].val();
            }
        }
        if self.lane_op.val().init {
            self.addend_next.next = 0.into();
        }
        // The same, a cycle earlier, for the group copies.
        self.threshold_early.next = 0.into();
        self.addend_early.next = 0.into();
        for s in 0..self._steps {
            if self.lane_op_early.val().step.index() == s {
                self.threshold_early.next = self.threshold[s].val();
                self.addend_early.next = self.reset_addend[s].val();
            }
        }
        if self.lane_op_early.val().init {
            self.addend_early.next = 0.into();
        }
        for g in 0..self._operand_groups {
            self.use_product_group_replica[g].d.next = self.lane_op_early.val().acc;
            self.threshold_group_replica[g].d.next = self.threshold_early.val();
            self.addend_group_replica[g].d.next = self.addend_early.val();
        }

        // The lanes: stage 0, 1 and 2 of the operations in flight. Their spikes, and the
        // lowest pending lane for emission, are gathered lane by lane.
        self.saturated.next = false;
        // Masked to the lanes, so synthesis drops the vector's unused bits.
        self.pending_lanes.next = self.pending.q.val() & self.full_group.val();
        self.lowest.next = self.pending_lanes.val() & (!self.pending_lanes.val() + 1);
        // A wide layer: the same, chunk by chunk (no carry chain longer than a chunk).
        for cl in self._chunk_lanes..(self._chunk_lanes + 1) {
            for c in 0..self._chunks {
                self.chunk_pending[c].next = self.pending_lanes.val().get_bits::<32>(c * cl);
                self.chunk_lowest[c].next =
                    self.chunk_pending[c].val() & (!self.chunk_pending[c].val() + 1);
            }
        }
        for _w in 0..self._chunked {
            self.chunk_flags[0].clock.next = self.clock.val();
            self.chunk_flags[0].d.next = self.chunk_flags[0].q.val();
            self.first_chunk[0].next =
                self.chunk_flags[0].q.val() & (!self.chunk_flags[0].q.val() + 1);
            self.chunk_kept[0].next = 0.into();
            self.lowest_collected[0].next = 0.into();
        }
        for c in 0..self._chunks {
            self.chunk_kept[c + 1].next = self.chunk_kept[c].val();
            if (self.chunk_pending[c].val() & !self.chunk_lowest[c].val()).any() {
                self.chunk_kept[c + 1].next = self.chunk_kept[c].val() | self.chunk_bit[c].val();
            }
        }
        for cl in self._chunk_lanes..(self._chunk_lanes + 1) {
            for p in 0..self._chunked_lanes {
                self.lowest_collected[p + 1].next = self.lowest_collected[p].val();
                if (self.first_chunk[0].val() & self.lane_chunk[p].val()).any()
                    & (self.chunk_lowest[p / cl].val() & self.lane_in_chunk[p].val()).any()
                {
                    self.lowest_collected[p + 1].next =
                        self.lowest_collected[p].val() | self.lane_bit[p].val();
                }
            }
        }
        for _w in 0..self._chunked {
            for p in self._lanes..(self._lanes + 1) {
                self.lowest.next = self.lowest_collected[p].val();
            }
        }
        // With one group, the weight base and the neuron base are always 0: no adders.
        self.weight_address.next = self.acc_weight_base.q.val() + self.event_index.val();
        if self.single_group.val() {
            self.weight_address.next = self.event_index.val();
        }
        for g in 0..self._address_groups {
            self.weight_address_replica[g].clock.next = self.clock.val();
            self.weight_address_replica[g].d.next = self.weight_address.val();
        }
        for al in self._address_group_lanes..(self._address_group_lanes + 1) {
            for p in 0..self._lanes {
                self.lanes[p].weight_address.next = self.weight_address_replica[p / al].q.val();
            }
            for k in 0..self._pairs {
                self.weight_pairs[k].read_address.next =
                    self.weight_address_replica[2 * k / al].q.val();
            }
        }
        for p in 0..self._lanes {
            self.lanes[p].weight_in.next = 0.into();
            self.lanes[p].spike_shift.next = self.lane_op.val().shift;
            self.lanes[p].spike_value.next = self.lane_op.val().value;
            self.lanes[p].state_address.next = self.lane_read_address.val();
            self.use_product_replica[p].clock.next = self.clock.val();
            self.threshold_replica[p].clock.next = self.clock.val();
            self.addend_replica[p].clock.next = self.clock.val();
            self.use_product_replica[p].d.next = self.lane_op.val().acc;
            self.threshold_replica[p].d.next = self.threshold_next.val();
            self.addend_replica[p].d.next = self.addend_next.val();
            self.lanes[p].use_product.next = self.use_product_replica[p].q.val();
            self.lanes[p].addend.next = self.addend_replica[p].q.val();
            self.lanes[p].threshold.next = self.threshold_replica[p].q.val();
            self.lanes[p].write_enable.next = self.s2_acc.q.val() | self.s2_init.q.val();
            self.lanes[p].write_on_spike.next = self.s2_fire.q.val() & !self.is_output.val();
            self.lanes[p].write_address.next = self.s2_write_address.q.val();
            // (Without adjacent forwarding, operations on one word are two cycles apart.)
            self.lanes[p].address_match.next = false;
            // (The lanes compare their write-back address themselves.)
            self.lanes[p].write_back_match.next = false;
            self.weight_load_select[p].d.next = self.weight_load_target.q.val()
                & (self.load_lane.val() == self.lane_number[p].val());
            self.state_load_select[p].d.next = self.state_load_target.q.val()
                & (self.load_lane.val() == self.lane_number[p].val());
            self.lanes[p].weight_write_enable.next =
                self.load_enable.val() & self.weight_load_select[p].q.val();
            self.lanes[p].state_write_enable.next =
                self.load_enable.val() & self.state_load_select[p].q.val();
            self.lanes[p].weight_write_address.next = self.load_address.val();
            self.lanes[p].weight_write_data.next = self.load_data.val();
            // Lanes past the last neuron (in the last group) are padding: their writes do
            // not count.
            if self.lanes[p].saturated.val()
                & (!self.s3_last_group.q.val() | self.last_group.val().get_bit(p))
            {
                self.saturated.next = true;
            }
        }
        // (Lanes with group copies only; a one-pass loop binds the group size for the index
        // arithmetic.)
        for gl in self._group_lanes..(self._group_lanes + 1) {
            for p in 0..self._grouped_lanes {
                self.use_product_replica[p].d.next = self.use_product_group_replica[p / gl].q.val();
                self.threshold_replica[p].d.next = self.threshold_group_replica[p / gl].q.val();
                self.addend_replica[p].d.next = self.addend_group_replica[p / gl].q.val();
            }
        }
        // Adjacent forwarding.
        for g in 0..self._forwarding_groups {
            self.address_match_group_replica[g].clock.next = self.clock.val();
            self.address_match_group_replica[g].d.next = self.group_address_match.val();
        }
        for p in 0..self._forwarding_lanes {
            self.address_match_replica[p].clock.next = self.clock.val();
            self.address_match_replica[p].d.next = self.lane_address_match.val();
            self.lanes[p].address_match.next = self.address_match_replica[p].q.val();
        }
        for gl in self._group_lanes..(self._group_lanes + 1) {
            for p in 0..self._forwarding_grouped_lanes {
                self.address_match_replica[p].d.next =
                    self.address_match_group_replica[p / gl].q.val();
            }
        }
        // Paired weights: lanes 2k and 2k + 1 read pair k, and a load of either writes its
        // field there.
        for k in 0..self._pairs {
            self.weight_pairs[k].clock.next = self.clock.val();
            self.lanes[2 * k].weight_in.next = self.weight_pairs[k].low_weight.val();
            self.lanes[2 * k + 1].weight_in.next = self.weight_pairs[k].high_weight.val();
            self.weight_pairs[k].write_enable.next = self.load_enable.val()
                & (self.weight_load_select[2 * k].q.val()
                    | self.weight_load_select[2 * k + 1].q.val());
            self.weight_pairs[k].write_high.next = self.weight_load_select[2 * k + 1].q.val();
            self.weight_pairs[k].write_address.next = self.load_address.val();
            self.weight_pairs[k].write_data.next = self.load_data.val();
        }
        self.collected_vector[0].next = 0.into();
        self.collected_number[0].next = 0.into();
        self.collected_value[0].next = 0.into();
        for p in 0..self._lanes {
            self.collected_vector[p + 1].next = self.collected_vector[p].val();
            if self.lanes[p].spike_registered.val() | self.is_output.val() {
                self.collected_vector[p + 1].next =
                    self.collected_vector[p].val() | self.lane_bit[p].val();
            }
            self.collected_number[p + 1].next = self.collected_number[p].val();
            self.collected_value[p + 1].next = self.collected_value[p].val();
            if self.selected.q.val().get_bit(p) {
                self.collected_number[p + 1].next =
                    self.collected_number[p].val() | self.lane_number[p].val();
                self.collected_value[p + 1].next =
                    self.collected_value[p].val() | self.pending_value[p].q.val();
            }
        }
        // Output events leave from a register, loaded whenever it is empty or being taken.
        self.spike_valid.next = self.emit_valid.q.val();
        self.spike_index.next = self.emit_index.q.val();
        self.spike_step.next = self.emit_step.q.val();
        self.spike_value.next = self.emit_value.q.val() & self.value_mask.val();
        self.spike_last.next = self.emit_last.q.val();
        self.emit_free.next = !self.emit_valid.q.val() | self.spike_ready.val();
        if self.emit_free.val() {
            self.emit_valid.d.next = false;
        }
        self.captured.next = 0.into();
        self.lowest_index.next = 0.into();
        self.lowest_value.next = 0.into();
        for p in (self._lanes - 1)..self._lanes {
            self.captured.next = self.collected_vector[p + 1].val();
            self.lowest_index.next =
                self.selected_base.q.val() + self.collected_number[p + 1].val();
            if self.power_of_two_lanes.val() {
                self.lowest_index.next =
                    self.selected_base.q.val() | self.collected_number[p + 1].val();
            }
            if self.single_group.val() {
                self.lowest_index.next = self.collected_number[p + 1].val();
            }
            self.lowest_value.next = self.collected_value[p + 1].val();
        }
        // Emission is two stages: the lowest pending lane moves to `selected` (a carry chain
        // as long as the layer is wide), then its neuron number and value to the output
        // register (an OR tree and an adder); each stage ends at registers.
        self.selected_free.next = !self.selected_valid.q.val() | self.emit_free.val();
        if self.emit_free.val() & self.selected_valid.q.val() {
            self.emit_valid.d.next = true;
            self.emit_index.d.next = self.lowest_index.val();
            self.emit_step.d.next = self.selected_step.q.val();
            self.emit_value.d.next = self.lowest_value.val();
            self.emit_last.d.next = false;
            self.selected_valid.d.next = false;
        }

        // Fire: issue a step of one group (state 0), wait for stage 1 (1, 6, 8, 9) and 2 (2:
        // capture the values), capture the spikes the lanes registered (7), emit the group's
        // spikes (3); after the last step, re-initialise every group (4); then the end-of-image
        // marker (5).
        if self.fire_active.q.val() {
            match self.fire_state.q.val().index() {
                0 => {
                    self.s1.d.next.acc = false;
                    self.s1.d.next.fire = true;
                    self.s1_read_address.d.next =
                        self.fire_bank_base.val() + self.fire_group.q.val();
                    self.s1_write_address.d.next =
                        self.fire_bank_base.val() + self.fire_group.q.val();
                    self.s1.d.next.last_group =
                        self.fire_group.q.val() == self.last_group_index.val();
                    self.out_group.d.next = self.fire_group.q.val();
                    self.out_step.d.next = self.fire_step.q.val();
                    self.out_neuron_base.d.next = self.fire_neuron_base.q.val();
                    self.fire_group.d.next = self.fire_group.q.val() + 1;
                    self.fire_neuron_base.d.next =
                        self.fire_neuron_base.q.val() + self.lane_count.val();
                    if self.fire_group.q.val() == self.last_group_index.val() {
                        self.fire_group.d.next = 0.into();
                        self.fire_neuron_base.d.next = 0.into();
                        self.fire_step.d.next = self.fire_step.q.val() + 1;
                        if self.fire_step.q.val() == self.last_step.val() {
                            self.fire_done.d.next = true;
                        }
                    }
                    self.fire_state.d.next = 1.into();
                }
                1 => {
                    self.fire_state.d.next = 6.into();
                }
                6 => {
                    self.fire_state.d.next = 8.into();
                }
                8 => {
                    self.fire_state.d.next = 9.into();
                }
                9 => {
                    self.fire_state.d.next = 2.into();
                }
                2 => {
                    // Stage 2 of the fire step: capture the group's values (logits).
                    for p in 0..self._lanes {
                        self.pending_value[p].d.next = self.lanes[p].membrane.val();
                    }
                    self.fire_state.d.next = 7.into();
                }
                7 => {
                    // The group's spikes, registered in the lanes a cycle after stage 2.
                    self.pending.d.next = self.captured.val() & self.full_group.val();
                    if self.out_group.q.val() == self.last_group_index.val() {
                        self.pending.d.next = self.captured.val() & self.last_group.val();
                    }
                    self.fire_state.d.next = 3.into();
                }
                3 => {
                    for _w in 0..self._unchunked {
                        if self.pending_lanes.val().any() {
                            if self.selected_free.val() {
                                self.selected_valid.d.next = true;
                                self.selected.d.next = self.lowest.val();
                                self.selected_step.d.next = self.out_step.q.val();
                                self.selected_base.d.next = self.out_neuron_base.q.val();
                                self.pending.d.next = self.pending_lanes.val() & !self.lowest.val();
                            }
                        } else if !self.selected_valid.q.val() {
                            // (The group's last spike has left `selected`: the next capture
                            // may overwrite the logits it reads.)
                            self.fire_state.d.next = 0.into();
                            if self.fire_done.q.val() {
                                self.fire_state.d.next = 4.into();
                            }
                        }
                    }
                    // The same with chunks: whether a lane is pending is in their flags, and
                    // the first chunk's flag falls when it keeps no lane.
                    for _w in 0..self._chunked {
                        if self.chunk_flags[0].q.val().any() {
                            if self.selected_free.val() {
                                self.selected_valid.d.next = true;
                                self.selected.d.next = self.lowest.val();
                                self.selected_step.d.next = self.out_step.q.val();
                                self.selected_base.d.next = self.out_neuron_base.q.val();
                                self.pending.d.next = self.pending_lanes.val() & !self.lowest.val();
                                for c in self._chunks..(self._chunks + 1) {
                                    self.chunk_flags[0].d.next = self.chunk_flags[0].q.val()
                                        & !(self.first_chunk[0].val() & !self.chunk_kept[c].val());
                                }
                            }
                        } else if !self.selected_valid.q.val() {
                            self.fire_state.d.next = 0.into();
                            if self.fire_done.q.val() {
                                self.fire_state.d.next = 4.into();
                            }
                        }
                    }
                }
                4 => {
                    // Copy the initial values into the bank that fired.
                    self.s1.d.next.acc = false;
                    self.s1.d.next.init = true;
                    self.s1_read_address.d.next = self.init_base.val() + self.fire_group.q.val();
                    self.s1_write_address.d.next =
                        self.fire_bank_base.val() + self.fire_group.q.val();
                    self.s1.d.next.last_group =
                        self.fire_group.q.val() == self.last_group_index.val();
                    self.fire_group.d.next = self.fire_group.q.val() + 1;
                    if self.fire_group.q.val() == self.last_group_index.val() {
                        self.fire_group.d.next = 0.into();
                        self.fire_state.d.next = 5.into();
                    }
                }
                _ => {
                    if self.emit_free.val() {
                        self.emit_valid.d.next = true;
                        self.emit_index.d.next = 0.into();
                        self.emit_step.d.next = 0.into();
                        self.emit_value.d.next = 0.into();
                        self.emit_last.d.next = true;
                        self.fire_active.d.next = false;
                        self.fire_state.d.next = 0.into();
                    }
                }
            }
        }
        // A chunk's flag is loaded with `pending` (its capture from the lanes' spikes, as
        // state 7 loads it).
        for _w in 0..self._chunked {
            self.chunk_loaded[0].next = 0.into();
            self.loading[0].next = self.captured.val() & self.full_group.val();
            if self.out_group.q.val() == self.last_group_index.val() {
                self.loading[0].next = self.captured.val() & self.last_group.val();
            }
        }
        for cl in self._chunk_lanes..(self._chunk_lanes + 1) {
            for c in 0..self._chunks {
                self.chunk_loaded[c + 1].next = self.chunk_loaded[c].val();
                if self.loading[0].val().get_bits::<32>(c * cl).any() {
                    self.chunk_loaded[c + 1].next =
                        self.chunk_loaded[c].val() | self.chunk_bit[c].val();
                }
            }
        }
        for _w in 0..self._chunked {
            for c in self._chunks..(self._chunks + 1) {
                if self.fire_active.q.val() & (self.fire_state.q.val() == 7) {
                    self.chunk_flags[0].d.next = self.chunk_loaded[c].val();
                }
            }
        }
        self.fire_issue_next.d.next = self.fire_active.d.val()
            & ((self.fire_state.d.val() == 0) | (self.fire_state.d.val() == 4));
        self.acc_last_next.d.next = self.acc_group.d.val() == self.last_group_index.val();
    }
}
