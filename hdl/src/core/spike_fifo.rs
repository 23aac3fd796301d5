//! A FIFO on the spike bus between two stages: address events (index, step, value, last)
//! with valid/ready on both sides.
//!
//! Storage is registers: a ring of `depth - 1` slots behind an output register (the head).
//! Events always enter the ring, so the producer's `valid` only enables a slot; `in_ready`,
//! `out_valid` and the output data come from registers, so no combinational path crosses the
//! FIFO and the consumer's logic starts at a flip-flop, not at a slot multiplexer. An event
//! takes two cycles to cross an empty FIFO. A burst of spikes from
//! a firing layer waits here while the next layer accumulates.

use crate::core::skid_buffer::SkidBuffer;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SpikeFifo {
    pub clock: Signal<In, Clock>,
    pub in_valid: Signal<In, Bit>,
    pub in_index: Signal<In, Bits<16>>,
    pub in_step: Signal<In, Bits<5>>,
    pub in_value: Signal<In, Bits<32>>,
    pub in_last: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub out_valid: Signal<Out, Bit>,
    pub out_index: Signal<Out, Bits<16>>,
    pub out_step: Signal<Out, Bits<5>>,
    pub out_value: Signal<Out, Bits<32>>,
    pub out_last: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    index: Vec<DFF<Bits<16>>>,
    step: Vec<DFF<Bits<5>>>,
    value: Vec<DFF<Bits<32>>>,
    last: Vec<DFF<Bit>>,
    head_valid: DFF<Bit>,
    head_index: DFF<Bits<16>>,
    head_step: DFF<Bits<5>>,
    head_value: DFF<Bits<32>>,
    head_last: DFF<Bit>,
    /// The slot written next and the oldest slot, a flip-flop per slot (slot 0 starts at 1):
    /// the slots' write enables and the head's multiplexer are then AND-ORs behind one
    /// flip-flop each, not compares of a pointer (run 17, seed 1: the first convolution's
    /// queue, read pointer into the head, 11.96 ns).
    write_select: Vec<DFFWithInit<Bit>>,
    read_select: Vec<DFFWithInit<Bit>>,
    /// The ring's occupancy as a thermometer: flip-flop `i` is set while the ring holds more
    /// than `i` events. A push shifts a one in, a pop shifts it out: each flip-flop is one gate
    /// behind the handshake, where a count's adder and compares were (run 17, seed 3: the skid
    /// buffer's valid into the count and its flags, 10.35 ns).
    occupied: Vec<DFF<Bit>>,
    /// The ring holds an event (`occupied[0]`): the pop that the consumer's `out_ready`
    /// enables is one gate from that input.
    nonempty: Signal<Local, Bit>,
    /// Every slot holds one (`occupied[slots - 1]`): `in_ready` comes straight from a
    /// flip-flop.
    full: Signal<Local, Bit>,
    push: Signal<Local, Bit>,
    head_free: Signal<Local, Bit>,
    ring_push: Signal<Local, Bit>,
    ring_pop: Signal<Local, Bit>,
    oldest_index: Signal<Local, Bits<16>>,
    oldest_step: Signal<Local, Bits<5>>,
    oldest_value: Signal<Local, Bits<32>>,
    oldest_last: Signal<Local, Bit>,
    /// With [`SpikeFifo::with_output_skid`] (else empty): the skid buffer the head feeds, and
    /// that drives the output port.
    skid: Vec<SkidBuffer>,
    /// With [`SpikeFifo::with_input_skid`] (else empty): the skid buffer between the input port
    /// and the ring.
    input_skid: Vec<SkidBuffer>,
    /// The event offered to the ring: the input port's, or the input skid buffer's.
    arrival_valid: Signal<Local, Bit>,
    arrival_index: Signal<Local, Bits<16>>,
    arrival_step: Signal<Local, Bits<5>>,
    arrival_value: Signal<Local, Bits<32>>,
    arrival_last: Signal<Local, Bit>,
    _slots: usize,
    _skid: usize,
    _input_skid: usize,
}

impl SpikeFifo {
    /// A FIFO of `depth` events (2..=128): `depth - 1` slots and the head.
    pub fn new(depth: usize) -> Self {
        assert!((2..=128).contains(&depth), "FIFO depth {depth}");
        let slots = depth - 1;
        SpikeFifo {
            clock: Default::default(),
            in_valid: Default::default(),
            in_index: Default::default(),
            in_step: Default::default(),
            in_value: Default::default(),
            in_last: Default::default(),
            in_ready: Default::default(),
            out_valid: Default::default(),
            out_index: Default::default(),
            out_step: Default::default(),
            out_value: Default::default(),
            out_last: Default::default(),
            out_ready: Default::default(),
            index: (0..slots).map(|_| Default::default()).collect(),
            step: (0..slots).map(|_| Default::default()).collect(),
            value: (0..slots).map(|_| Default::default()).collect(),
            last: (0..slots).map(|_| Default::default()).collect(),
            head_valid: Default::default(),
            head_index: Default::default(),
            head_step: Default::default(),
            head_value: Default::default(),
            head_last: Default::default(),
            write_select: (0..slots).map(|i| DFFWithInit::new(i == 0)).collect(),
            read_select: (0..slots).map(|i| DFFWithInit::new(i == 0)).collect(),
            occupied: (0..slots).map(|_| Default::default()).collect(),
            nonempty: Default::default(),
            full: Default::default(),
            push: Default::default(),
            head_free: Default::default(),
            ring_push: Default::default(),
            ring_pop: Default::default(),
            oldest_index: Default::default(),
            oldest_step: Default::default(),
            oldest_value: Default::default(),
            oldest_last: Default::default(),
            skid: Vec::new(),
            input_skid: Vec::new(),
            arrival_valid: Default::default(),
            arrival_index: Default::default(),
            arrival_step: Default::default(),
            arrival_value: Default::default(),
            arrival_last: Default::default(),
            _slots: slots,
            _skid: 0,
            _input_skid: 0,
        }
    }

    /// The FIFO with a [`SkidBuffer`] between its head and its output port: the consumer's
    /// `out_ready` no longer reaches the ring's selects and occupancy (two events more of
    /// storage, one cycle more to cross).
    pub fn with_output_skid(mut self) -> Self {
        self.skid = vec![SkidBuffer::default()];
        self._skid = 1;
        self
    }

    /// The FIFO with a [`SkidBuffer`] between its input port and the ring: the producer's
    /// output logic ends in the buffer's registers, which the placer can keep beside the
    /// producer, and only flip-flops drive the wires to the ring (one cycle more to cross, two
    /// events more of storage).
    pub fn with_input_skid(mut self) -> Self {
        self.input_skid = vec![SkidBuffer::default()];
        self._input_skid = 1;
        self
    }
}

impl Logic for SpikeFifo {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, head_valid, head_index, head_step, head_value, head_last
        );
        self.nonempty.next = self.occupied[0].q.val();
        for last in (self._slots - 1)..self._slots {
            self.full.next = self.occupied[last].q.val();
        }
        self.in_ready.next = !self.full.val();
        self.arrival_valid.next = self.in_valid.val();
        self.arrival_index.next = self.in_index.val();
        self.arrival_step.next = self.in_step.val();
        self.arrival_value.next = self.in_value.val();
        self.arrival_last.next = self.in_last.val();
        for _w in 0..self._input_skid {
            self.input_skid[0].clock.next = self.clock.val();
            self.input_skid[0].in_valid.next = self.in_valid.val();
            self.input_skid[0].in_index.next = self.in_index.val();
            self.input_skid[0].in_step.next = self.in_step.val();
            self.input_skid[0].in_value.next = self.in_value.val();
            self.input_skid[0].in_last.next = self.in_last.val();
            self.in_ready.next = self.input_skid[0].in_ready.val();
            self.input_skid[0].out_ready.next = !self.full.val();
            self.arrival_valid.next = self.input_skid[0].out_valid.val();
            self.arrival_index.next = self.input_skid[0].out_index.val();
            self.arrival_step.next = self.input_skid[0].out_step.val();
            self.arrival_value.next = self.input_skid[0].out_value.val();
            self.arrival_last.next = self.input_skid[0].out_last.val();
        }
        self.out_valid.next = self.head_valid.q.val();
        self.out_index.next = self.head_index.q.val();
        self.out_step.next = self.head_step.q.val();
        self.out_value.next = self.head_value.q.val();
        self.out_last.next = self.head_last.q.val();
        self.push.next = self.arrival_valid.val() & !self.full.val();
        // The head takes the oldest slot, or else the input, whenever it empties.
        self.head_free.next = !self.head_valid.q.val() | self.out_ready.val();
        self.ring_pop.next =
            (!self.head_valid.q.val() | self.out_ready.val()) & self.nonempty.val();
        // With a skid buffer, the head is its producer and the buffer drives the port.
        for _w in 0..self._skid {
            self.skid[0].clock.next = self.clock.val();
            self.skid[0].in_valid.next = self.head_valid.q.val();
            self.skid[0].in_index.next = self.head_index.q.val();
            self.skid[0].in_step.next = self.head_step.q.val();
            self.skid[0].in_value.next = self.head_value.q.val();
            self.skid[0].in_last.next = self.head_last.q.val();
            self.skid[0].out_ready.next = self.out_ready.val();
            self.out_valid.next = self.skid[0].out_valid.val();
            self.out_index.next = self.skid[0].out_index.val();
            self.out_step.next = self.skid[0].out_step.val();
            self.out_value.next = self.skid[0].out_value.val();
            self.out_last.next = self.skid[0].out_last.val();
            self.head_free.next = !self.head_valid.q.val() | self.skid[0].in_ready.val();
            self.ring_pop.next = self.head_free.val() & self.nonempty.val();
        }
        self.ring_push.next = self.push.val();
        if self.head_free.val() {
            self.head_valid.d.next = self.nonempty.val();
        }
        for i in 0..self._slots {
            self.index[i].clock.next = self.clock.val();
            self.step[i].clock.next = self.clock.val();
            self.value[i].clock.next = self.clock.val();
            self.last[i].clock.next = self.clock.val();
            self.index[i].d.next = self.index[i].q.val();
            self.step[i].d.next = self.step[i].q.val();
            self.value[i].d.next = self.value[i].q.val();
            self.last[i].d.next = self.last[i].q.val();
            if self.ring_push.val() & self.write_select[i].q.val() {
                self.index[i].d.next = self.arrival_index.val();
                self.step[i].d.next = self.arrival_step.val();
                self.value[i].d.next = self.arrival_value.val();
                self.last[i].d.next = self.arrival_last.val();
            }
        }
        // The oldest slot, selected from registers alone; the handshake only enables the load.
        self.oldest_index.next = 0.into();
        self.oldest_step.next = 0.into();
        self.oldest_value.next = 0.into();
        self.oldest_last.next = false;
        for i in 0..self._slots {
            if self.read_select[i].q.val() {
                self.oldest_index.next = self.index[i].q.val();
                self.oldest_step.next = self.step[i].q.val();
                self.oldest_value.next = self.value[i].q.val();
                self.oldest_last.next = self.last[i].q.val();
            }
        }
        if self.ring_pop.val() {
            self.head_index.d.next = self.oldest_index.val();
            self.head_step.d.next = self.oldest_step.val();
            self.head_value.d.next = self.oldest_value.val();
            self.head_last.d.next = self.oldest_last.val();
        }
        // A push or a pop moves its select on a slot (a rotation of the one-hot).
        for i in 0..self._slots {
            self.write_select[i].clock.next = self.clock.val();
            self.read_select[i].clock.next = self.clock.val();
            self.write_select[i].d.next = self.write_select[i].q.val();
            self.read_select[i].d.next = self.read_select[i].q.val();
        }
        for i in 1..self._slots {
            if self.ring_push.val() {
                self.write_select[i].d.next = self.write_select[i - 1].q.val();
            }
            if self.ring_pop.val() {
                self.read_select[i].d.next = self.read_select[i - 1].q.val();
            }
        }
        for last in (self._slots - 1)..self._slots {
            if self.ring_push.val() {
                self.write_select[0].d.next = self.write_select[last].q.val();
            }
            if self.ring_pop.val() {
                self.read_select[0].d.next = self.read_select[last].q.val();
            }
        }
        for i in 0..self._slots {
            self.occupied[i].clock.next = self.clock.val();
            self.occupied[i].d.next = self.occupied[i].q.val();
        }
        if self.ring_push.val() & !self.ring_pop.val() {
            self.occupied[0].d.next = true;
            for i in 1..self._slots {
                self.occupied[i].d.next = self.occupied[i - 1].q.val();
            }
        }
        if self.ring_pop.val() & !self.ring_push.val() {
            for i in 1..self._slots {
                self.occupied[i - 1].d.next = self.occupied[i].q.val();
            }
            for last in (self._slots - 1)..self._slots {
                self.occupied[last].d.next = false;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sim::{prepare, settle};
    use proptest::prelude::*;

    /// Event `n` of a test stream: its index, step, value and last flag.
    pub(crate) fn numbered(n: u64) -> (u64, u64, u64, bool) {
        (n & 0xffff, n % 32, (n * 7919) & 0xffff_ffff, n % 3 == 0)
    }

    /// Offers event `n` (if `offer`), sets the consumer's ready, and settles.
    fn drive(uut: &mut SpikeFifo, n: u64, offer: bool, take: bool) {
        let (index, step, value, last) = numbered(n);
        uut.in_valid.next = offer;
        uut.in_index.next = index.into();
        uut.in_step.next = step.into();
        uut.in_value.next = value.into();
        uut.in_last.next = last;
        uut.out_ready.next = take;
        settle(uut);
    }

    fn output(uut: &SpikeFifo) -> (u64, u64, u64, bool) {
        (
            uut.out_index.val().to_u64(),
            uut.out_step.val().to_u64(),
            uut.out_value.val().to_u64(),
            uut.out_last.val(),
        )
    }

    proptest! {
        /// Random valid/ready patterns on both sides against a reference model (a ring of
        /// `depth - 1` events behind a head register): every event comes out, in order, and
        /// the handshakes are the reference's, cycle for cycle.
        #[test]
        fn delivers_every_event_in_order(
            depth in 2usize..=9,
            pattern in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..400),
        ) {
            let mut uut = SpikeFifo::new(depth);
            prepare(&mut uut);
            let mut ring = std::collections::VecDeque::new();
            let mut head: Option<u64> = None;
            let (mut sent, mut received) = (0u64, 0u64);
            for (offer, take) in pattern {
                drive(&mut uut, sent, offer, take);
                prop_assert_eq!(uut.in_ready.val(), ring.len() < depth - 1);
                prop_assert_eq!(uut.out_valid.val(), head.is_some());
                if let (Some(event), true) = (head, take) {
                    prop_assert_eq!(event, received);
                    prop_assert_eq!(output(&uut), numbered(received));
                    received += 1;
                    head = None;
                }
                if head.is_none() {
                    head = ring.pop_front();
                }
                if offer && uut.in_ready.val() {
                    ring.push_back(sent);
                    sent += 1;
                }
                uut.clock.next = true.into();
                settle(&mut uut);
                uut.clock.next = false.into();
                settle(&mut uut);
            }
        }
    }

    proptest! {
        /// With a skid buffer behind the head, in front of the ring, or both: random
        /// valid/ready patterns, every event comes out once and in order, the FIFO holds two
        /// events more per buffer at most, and with the input stopped it drains every event.
        #[test]
        fn with_skid_buffers_delivers_every_event_in_order(
            depth in 2usize..=9,
            (input, output_skid) in prop_oneof![
                Just((true, false)),
                Just((false, true)),
                Just((true, true)),
            ],
            pattern in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..400),
        ) {
            let mut uut = SpikeFifo::new(depth);
            if input {
                uut = uut.with_input_skid();
            }
            if output_skid {
                uut = uut.with_output_skid();
            }
            let capacity = depth as u64 + 2 * (input as u64 + output_skid as u64);
            prepare(&mut uut);
            let (mut sent, mut received) = (0u64, 0u64);
            let drain = std::iter::repeat_n((false, true), depth + 8);
            for (offer, take) in pattern.into_iter().chain(drain) {
                drive(&mut uut, sent, offer, take);
                prop_assert!(sent - received <= capacity);
                if uut.out_valid.val() && take {
                    prop_assert_eq!(output(&uut), numbered(received));
                    received += 1;
                }
                if offer && uut.in_ready.val() {
                    sent += 1;
                }
                uut.clock.next = true.into();
                settle(&mut uut);
                uut.clock.next = false.into();
                settle(&mut uut);
            }
            prop_assert_eq!(received, sent);
        }
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = SpikeFifo::new(4).with_input_skid().with_output_skid();
        prepare(&mut uut);
        yosys_validate("fs_hdl_spike_fifo", &generate_verilog(&uut)).unwrap();
    }
}
