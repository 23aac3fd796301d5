//! A dense layer: address-event spikes in, P [`Lane`]s, spikes (or, for the output layer,
//! logits) out, in the golden model's order.
//!
//! - **Accumulate.** Each input event `(i, t)` takes `G = ceil(N / P)` cycles, one per neuron
//!   group, in every lane at once (`W_ji << shift(t)`); an end-of-image marker swaps the banks
//!   as soon as the previous image has finished firing.
//! - **Fire.** For `t = 1..K`, for each group `g`: one fire step in every lane, then the
//!   group's spikes leave one per cycle, lowest neuron first, so the layer's output is in
//!   `(t, j)` order, followed by an end-of-image marker. The output layer instead reads each
//!   accumulator once (its logit) and leaves the logits in neuron order.
//!
//! Lane `p` holds the neurons `j = g P + (P - 1 - p)`: the highest pending lane is the lowest
//! neuron, which is what an ascending "last one wins" priority loop finds in both RustHDL
//! simulation and Verilog.

use crate::lane::Lane;
use fs_model::network::FsLayer;
use rust_hdl::prelude::*;

/// The step values of a layer's sender, as shifts (`D(t) = 2^shift`).
pub fn sender_shifts(values: &[i64]) -> Result<Vec<u64>, String> {
    values
        .iter()
        .map(|&d| {
            if d > 0 && (d as u64).is_power_of_two() && d < 1 << 16 {
                Ok(d.trailing_zeros() as u64)
            } else {
                Err(format!(
                    "spike value {d} is not a power of two: this RTL supports ReLU layers only"
                ))
            }
        })
        .collect()
}

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
    /// neuron `spike_index` (output layer); `spike_last` ends an image. Taken when `spike_ready`.
    pub spike_valid: Signal<Out, Bit>,
    pub spike_index: Signal<Out, Bits<16>>,
    pub spike_step: Signal<Out, Bits<5>>,
    pub spike_value: Signal<Out, Bits<32>>,
    pub spike_last: Signal<Out, Bit>,
    pub spike_ready: Signal<In, Bit>,
    lanes: Vec<Lane>,
    pending: Vec<DFF<Bit>>,
    pending_value: Vec<DFF<Bits<32>>>,
    lane_index: Vec<Constant<Bits<16>>>,
    /// Neuron offset within a group of each lane, `P - 1 - p`.
    lane_offset: Vec<Constant<Bits<16>>>,
    /// Groups in which the lane holds a real neuron.
    lane_groups: Vec<Constant<Bits<16>>>,
    sender_shift: Vec<Constant<Bits<5>>>,
    threshold: Vec<Constant<Bits<32>>>,
    reset: Vec<Constant<Bits<32>>>,
    groups: Constant<Bits<16>>,
    lane_count: Constant<Bits<16>>,
    last_step: Constant<Bits<5>>,
    is_output: Constant<Bit>,
    bank: DFF<Bit>,
    acc_group: DFF<Bits<16>>,
    fire_active: DFF<Bit>,
    fire_state: DFF<Bits<2>>,
    fire_step: DFF<Bits<5>>,
    fire_group: DFF<Bits<16>>,
    fire_done: DFF<Bit>,
    out_group: DFF<Bits<16>>,
    out_step: DFF<Bits<5>>,
    shift: Signal<Local, Bits<5>>,
    any_pending: Signal<Local, Bit>,
    winner: Signal<Local, Bits<16>>,
    winner_offset: Signal<Local, Bits<16>>,
    winner_value: Signal<Local, Bits<32>>,
    _lanes: usize,
    _sender_steps: usize,
    _steps: usize,
}

impl DenseLayer {
    /// Layer `layer` of a model with `lanes` lanes, fed by a sender whose spike values are
    /// `sender_values` (the previous layer's ROM `D`, or the input code's).
    pub fn new(
        layer: &FsLayer,
        membrane: fs_model::fixed::SignedRange,
        weight_bits: usize,
        sender_values: &[i64],
        lanes: usize,
    ) -> Result<Self, String> {
        let (outputs, inputs) = layer.weight.dim();
        if lanes == 0 || lanes > outputs {
            return Err(format!("{lanes} lanes for {outputs} neurons"));
        }
        let groups = outputs.div_ceil(lanes);
        if inputs * groups > 1 << 16 || outputs >= 1 << 16 {
            return Err(format!(
                "{inputs} x {groups} weights per lane exceed 65,536"
            ));
        }
        let shifts = sender_shifts(sender_values)?;
        let neuron = |g: usize, p: usize| g * lanes + (lanes - 1 - p);
        let lane_blocks = (0..lanes)
            .map(|p| {
                let weights: Vec<i64> = (0..inputs * groups)
                    .map(|a| {
                        let j = neuron(a % groups, p);
                        if j < outputs {
                            layer.weight[[j, a / groups]] as i64
                        } else {
                            0
                        }
                    })
                    .collect();
                let init: Vec<i64> = (0..groups)
                    .map(|g| {
                        let j = neuron(g, p);
                        if j < outputs {
                            layer.bias[j] as i64 + layer.imp as i64
                        } else {
                            0
                        }
                    })
                    .collect();
                Lane::new(membrane, weight_bits, &weights, &init)
            })
            .collect();
        let word = |x: i64| Constant::new(crate::sim::to_bits32(x));
        let (thresholds, resets, steps) = match &layer.rom {
            Some(rom) => (
                rom.t.iter().map(|&t| word(t)).collect(),
                rom.h.iter().map(|&h| word(h)).collect(),
                rom.k(),
            ),
            // The output layer reads each accumulator once; the step's spike is ignored.
            None => (vec![word(membrane.max)], vec![word(0)], 1),
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
            lanes: lane_blocks,
            pending: (0..lanes).map(|_| Default::default()).collect(),
            pending_value: (0..lanes).map(|_| Default::default()).collect(),
            lane_index: (0..lanes)
                .map(|p| Constant::new((p as u64).into()))
                .collect(),
            lane_offset: (0..lanes)
                .map(|p| Constant::new(((lanes - 1 - p) as u64).into()))
                .collect(),
            lane_groups: (0..lanes)
                .map(|p| {
                    let valid = (0..groups).filter(|&g| neuron(g, p) < outputs).count();
                    Constant::new((valid as u64).into())
                })
                .collect(),
            sender_shift: shifts.iter().map(|&s| Constant::new(s.into())).collect(),
            threshold: thresholds,
            reset: resets,
            groups: Constant::new((groups as u64).into()),
            lane_count: Constant::new((lanes as u64).into()),
            last_step: Constant::new(((steps - 1) as u64).into()),
            is_output: Constant::new(layer.rom.is_none()),
            bank: Default::default(),
            acc_group: Default::default(),
            fire_active: Default::default(),
            fire_state: Default::default(),
            fire_step: Default::default(),
            fire_group: Default::default(),
            fire_done: Default::default(),
            out_group: Default::default(),
            out_step: Default::default(),
            shift: Default::default(),
            any_pending: Default::default(),
            winner: Default::default(),
            winner_offset: Default::default(),
            winner_value: Default::default(),
            _lanes: lanes,
            _sender_steps: shifts.len(),
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
            bank,
            acc_group,
            fire_active,
            fire_state,
            fire_step,
            fire_group,
            fire_done,
            out_group,
            out_step
        );
        for p in 0..self._lanes {
            self.lanes[p].clock.next = self.clock.val();
            self.pending[p].clock.next = self.clock.val();
            self.pending[p].d.next = self.pending[p].q.val();
            self.pending_value[p].clock.next = self.clock.val();
            self.pending_value[p].d.next = self.pending_value[p].q.val();
        }

        // Accumulate: one group of the current event per cycle.
        self.shift.next = 0.into();
        for s in 0..self._sender_steps {
            if self.event_step.val().index() == s {
                self.shift.next = self.sender_shift[s].val();
            }
        }
        self.event_ready.next = false;
        for p in 0..self._lanes {
            self.lanes[p].accumulate_bank.next = self.bank.q.val();
            self.lanes[p].acc_enable.next = self.event_valid.val() & !self.event_last.val();
            self.lanes[p].weight_address.next =
                bit_cast::<16, 32>(self.event_index.val() * self.groups.val())
                    + self.acc_group.q.val();
            self.lanes[p].acc_group.next = self.acc_group.q.val();
            self.lanes[p].spike_shift.next = self.shift.val();
            self.lanes[p].weight_write_enable.next = false;
            self.lanes[p].weight_write_address.next = 0.into();
            self.lanes[p].weight_write_data.next = 0.into();
        }
        if self.event_valid.val() & !self.event_last.val() {
            self.acc_group.d.next = self.acc_group.q.val() + 1;
            if self.acc_group.q.val() + 1 == self.groups.val() {
                self.acc_group.d.next = 0.into();
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
            self.fire_done.d.next = false;
        }

        // Fire: issue a step of one group (state 0), wait for the lanes' stage 1 (state 1), emit
        // the group's spikes (state 2), repeat; then the end-of-image marker (state 3).
        for p in 0..self._lanes {
            self.lanes[p].fire_enable.next = false;
            self.lanes[p].fire_group.next = self.fire_group.q.val();
            self.lanes[p].fire_last.next = self.fire_step.q.val() == self.last_step.val();
            self.lanes[p].threshold.next = 0.into();
            self.lanes[p].reset.next = 0.into();
        }
        for s in 0..self._steps {
            if self.fire_step.q.val().index() == s {
                for p in 0..self._lanes {
                    self.lanes[p].threshold.next = self.threshold[s].val();
                    self.lanes[p].reset.next = self.reset[s].val();
                }
            }
        }
        self.any_pending.next = false;
        self.winner.next = 0.into();
        self.winner_offset.next = 0.into();
        self.winner_value.next = 0.into();
        for p in 0..self._lanes {
            if self.pending[p].q.val() {
                self.any_pending.next = true;
                self.winner.next = self.lane_index[p].val();
                self.winner_offset.next = self.lane_offset[p].val();
                self.winner_value.next = self.pending_value[p].q.val();
            }
        }
        self.spike_valid.next = false;
        self.spike_last.next = false;
        self.spike_index.next = bit_cast::<16, 32>(self.out_group.q.val() * self.lane_count.val())
            + self.winner_offset.val();
        self.spike_step.next = self.out_step.q.val();
        self.spike_value.next = self.winner_value.val();
        if self.fire_active.q.val() {
            match self.fire_state.q.val().index() {
                0 => {
                    for p in 0..self._lanes {
                        self.lanes[p].fire_enable.next = true;
                    }
                    self.out_group.d.next = self.fire_group.q.val();
                    self.out_step.d.next = self.fire_step.q.val();
                    self.fire_state.d.next = 1.into();
                }
                1 => {
                    // Stage 1 of the lanes: capture this group's spikes (or logits).
                    for p in 0..self._lanes {
                        self.pending[p].d.next = (self.lanes[p].spike.val() | self.is_output.val())
                            & (self.out_group.q.val() < self.lane_groups[p].val());
                        self.pending_value[p].d.next = self.lanes[p].membrane.val();
                    }
                    self.fire_group.d.next = self.fire_group.q.val() + 1;
                    if self.fire_group.q.val() + 1 == self.groups.val() {
                        self.fire_group.d.next = 0.into();
                        self.fire_step.d.next = self.fire_step.q.val() + 1;
                        if self.fire_step.q.val() == self.last_step.val() {
                            self.fire_done.d.next = true;
                        }
                    }
                    self.fire_state.d.next = 2.into();
                }
                2 => {
                    if self.any_pending.val() {
                        self.spike_valid.next = true;
                        if self.spike_ready.val() {
                            for p in 0..self._lanes {
                                if self.winner.val() == self.lane_index[p].val() {
                                    self.pending[p].d.next = false;
                                }
                            }
                        }
                    } else {
                        self.fire_state.d.next = 0.into();
                        if self.fire_done.q.val() {
                            self.fire_state.d.next = 3.into();
                        }
                    }
                }
                _ => {
                    self.spike_valid.next = true;
                    self.spike_last.next = true;
                    if self.spike_ready.val() {
                        self.fire_active.d.next = false;
                        self.fire_state.d.next = 0.into();
                    }
                }
            }
        }
    }
}
