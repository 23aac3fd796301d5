//! What every lane of a layer does in one cycle, as one value: the layers carry it down their
//! pipelines a register per stage (`DFF<LaneOperation>`), so a stage is one line and the
//! weight read's depth one constant, [`WEIGHT_READ_CYCLES`].

use rust_hdl::prelude::*;

/// Registers between a layer's stage-0 register (the weight address) and its lanes' stage 1
/// (the shift or multiply and the state read): the weight memory's address register and the
/// weight word registered twice. A block RAM's output is slow on ECP5 (5.6 ns), and with one
/// register behind it the placer put that register beside the lanes, far from the block RAM
/// (runs 17 to 20); the first of two has nothing to stay near but the block RAM.
pub const WEIGHT_READ_CYCLES: usize = 3;

/// One operation's fields that every lane of a layer shares (its addresses are the layer's own:
/// one for all lanes in a dense layer, one per bank in a convolution).
#[derive(Default, PartialEq, LogicStruct, Copy, Clone, Debug)]
pub struct LaneOperation {
    /// Accumulate `W D(t)` (an input event).
    pub acc: Bit,
    /// A fire step: the sum is written back only on a spike.
    pub fire: Bit,
    /// Copy a neuron's initial value into a bank.
    pub init: Bit,
    /// The input spike's `log2 D(t)` (the shifter's) and `D(t)` (the multiplier's).
    pub shift: Bits<5>,
    pub value: Bits<16>,
    /// The fire step's `t`: its threshold and reset.
    pub step: Bits<5>,
    /// The operation is on the layer's last neuron group (its lanes past the layer's width
    /// hold no neuron).
    pub last_group: Bit,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{prepare, settle};

    /// A chain of [`WEIGHT_READ_CYCLES`] registers, as the layers build it.
    #[derive(LogicBlock)]
    struct WeightReadDelay {
        clock: Signal<In, Clock>,
        step: Signal<In, Bits<5>>,
        acc: Signal<In, Bit>,
        delayed: Signal<Out, LaneOperation>,
        stages: Vec<DFF<LaneOperation>>,
        _depth: usize,
    }

    impl Logic for WeightReadDelay {
        #[hdl_gen]
        fn update(&mut self) {
            for i in 0..self._depth {
                self.stages[i].clock.next = self.clock.val();
                self.stages[i].d.next = self.stages[i].q.val();
            }
            self.stages[0].d.next.step = self.step.val();
            self.stages[0].d.next.acc = self.acc.val();
            for i in 1..self._depth {
                self.stages[i].d.next = self.stages[i - 1].q.val();
            }
            for last in (self._depth - 1)..self._depth {
                self.delayed.next = self.stages[last].q.val();
            }
        }
    }

    fn delay() -> WeightReadDelay {
        let mut uut = WeightReadDelay {
            clock: Default::default(),
            step: Default::default(),
            acc: Default::default(),
            delayed: Default::default(),
            stages: (0..WEIGHT_READ_CYCLES)
                .map(|_| Default::default())
                .collect(),
            _depth: WEIGHT_READ_CYCLES,
        };
        prepare(&mut uut);
        uut
    }

    /// Fields written one by one come out together, `WEIGHT_READ_CYCLES` cycles later, and
    /// the fields not written stay zero.
    #[test]
    fn fields_travel_together() {
        let mut uut = delay();
        let mut out = Vec::new();
        for cycle in 0..8u64 {
            uut.step.next = (cycle + 1).into();
            uut.acc.next = cycle % 2 == 1;
            settle(&mut uut);
            let op = uut.delayed.val();
            assert_eq!((op.fire, op.init, op.value.to_u64()), (false, false, 0));
            out.push((op.step.to_u64(), op.acc));
            uut.clock.next = true.into();
            settle(&mut uut);
            uut.clock.next = false.into();
            settle(&mut uut);
        }
        let expected: Vec<_> = (0..8u64)
            .map(|c| match c.checked_sub(WEIGHT_READ_CYCLES as u64) {
                Some(sent) => (sent + 1, sent % 2 == 1),
                None => (0, false),
            })
            .collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let uut = delay();
        yosys_validate("fs_hdl_lane_operation", &generate_verilog(&uut)).unwrap();
    }
}
