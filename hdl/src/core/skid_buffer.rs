//! A skid buffer on the spike bus: two registers of address events (index, step, value,
//! last) between a producer and a consumer, so that neither handshake crosses it. `in_ready`
//! is a flip-flop (the skid register is empty), and `out_valid` and the output data are
//! flip-flops (the output register): the consumer's `out_ready` only enables loads inside the
//! buffer. An event that arrives while the consumer stalls waits in the skid register, so the
//! buffer still passes one event per cycle; it takes one cycle to cross.
//!
//! [`crate::core::spike_fifo::SpikeFifo::with_output_skid`] puts one behind a FIFO, so that a
//! layer spread over much of the chip and its input FIFO are two blocks that the placer can put
//! apart without a handshake running between them and back.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SkidBuffer {
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
    /// The output register.
    held_valid: DFF<Bit>,
    held_index: DFF<Bits<16>>,
    held_step: DFF<Bits<5>>,
    held_value: DFF<Bits<32>>,
    held_last: DFF<Bit>,
    /// The skid register: an event taken while the output register could not move.
    skid_valid: DFF<Bit>,
    skid_index: DFF<Bits<16>>,
    skid_step: DFF<Bits<5>>,
    skid_value: DFF<Bits<32>>,
    skid_last: DFF<Bit>,
    taken: Signal<Local, Bit>,
    output_free: Signal<Local, Bit>,
}

impl Logic for SkidBuffer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, held_valid, held_index, held_step, held_value, held_last, skid_valid,
            skid_index, skid_step, skid_value, skid_last
        );
        self.in_ready.next = !self.skid_valid.q.val();
        self.out_valid.next = self.held_valid.q.val();
        self.out_index.next = self.held_index.q.val();
        self.out_step.next = self.held_step.q.val();
        self.out_value.next = self.held_value.q.val();
        self.out_last.next = self.held_last.q.val();
        self.taken.next = self.in_valid.val() & !self.skid_valid.q.val();
        self.output_free.next = !self.held_valid.q.val() | self.out_ready.val();
        if self.output_free.val() {
            // The skid register's event first (none is taken while it holds one).
            if self.skid_valid.q.val() {
                self.held_valid.d.next = true;
                self.held_index.d.next = self.skid_index.q.val();
                self.held_step.d.next = self.skid_step.q.val();
                self.held_value.d.next = self.skid_value.q.val();
                self.held_last.d.next = self.skid_last.q.val();
                self.skid_valid.d.next = false;
            } else {
                self.held_valid.d.next = self.taken.val();
                self.held_index.d.next = self.in_index.val();
                self.held_step.d.next = self.in_step.val();
                self.held_value.d.next = self.in_value.val();
                self.held_last.d.next = self.in_last.val();
            }
        } else if self.taken.val() {
            self.skid_valid.d.next = true;
            self.skid_index.d.next = self.in_index.val();
            self.skid_step.d.next = self.in_step.val();
            self.skid_value.d.next = self.in_value.val();
            self.skid_last.d.next = self.in_last.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spike_fifo::tests::numbered;
    use crate::sim::{prepare, settle};
    use proptest::prelude::*;

    proptest! {
        /// Random valid/ready patterns on both sides: every event comes out once, in order,
        /// `in_ready` is low only while the skid register holds an event, and an event offered
        /// to an empty buffer with the consumer ready comes out the next cycle.
        #[test]
        fn delivers_every_event_in_order(
            pattern in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..400),
        ) {
            let mut uut = SkidBuffer::default();
            prepare(&mut uut);
            let mut inside = std::collections::VecDeque::new();
            let (mut sent, mut received) = (0u64, 0u64);
            for (offer, take) in pattern {
                let (index, step, value, last) = numbered(sent);
                uut.in_valid.next = offer;
                uut.in_index.next = index.into();
                uut.in_step.next = step.into();
                uut.in_value.next = value.into();
                uut.in_last.next = last;
                uut.out_ready.next = take;
                settle(&mut uut);
                prop_assert!(inside.len() <= 2);
                prop_assert_eq!(uut.in_ready.val(), inside.len() < 2);
                prop_assert_eq!(uut.out_valid.val(), !inside.is_empty());
                if uut.out_valid.val() && take {
                    prop_assert_eq!(inside.pop_front(), Some(received));
                    let out = (
                        uut.out_index.val().to_u64(),
                        uut.out_step.val().to_u64(),
                        uut.out_value.val().to_u64(),
                        uut.out_last.val(),
                    );
                    prop_assert_eq!(out, numbered(received));
                    received += 1;
                }
                if offer && uut.in_ready.val() {
                    inside.push_back(sent);
                    sent += 1;
                }
                uut.clock.next = true.into();
                settle(&mut uut);
                uut.clock.next = false.into();
                settle(&mut uut);
            }
        }
    }

    /// With the consumer always ready, events offered every cycle pass one per cycle.
    #[test]
    fn passes_an_event_per_cycle() {
        let mut uut = SkidBuffer::default();
        prepare(&mut uut);
        let mut out = Vec::new();
        for cycle in 0..20u64 {
            uut.in_valid.next = cycle < 10;
            uut.in_index.next = cycle.into();
            uut.out_ready.next = true;
            settle(&mut uut);
            assert!(uut.in_ready.val());
            if uut.out_valid.val() {
                out.push((cycle, uut.out_index.val().to_u64()));
            }
            uut.clock.next = true.into();
            settle(&mut uut);
            uut.clock.next = false.into();
            settle(&mut uut);
        }
        assert_eq!(out, (0..10).map(|i| (i + 1, i)).collect::<Vec<_>>());
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = SkidBuffer::default();
        prepare(&mut uut);
        yosys_validate("fs_hdl_skid_buffer", &generate_verilog(&uut)).unwrap();
    }
}
