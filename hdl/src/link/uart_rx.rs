//! UART receiver, 8N1, oversampled: the line is synchronised (two flip-flops), a falling edge
//! starts a frame, and every bit is the majority of three samples at its middle (a glitch of
//! one clock cannot flip it). A start bit that is high at its middle is a glitch and is
//! ignored; a stop bit that is low is a framing error, reported instead of the byte, and the
//! receiver waits for the line to go high before it looks for the next start bit.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    /// The serial line.
    pub rx: Signal<In, Bit>,
    /// A received byte, for one cycle.
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    /// A frame whose stop bit was low, for one cycle.
    pub framing_error: Signal<Out, Bit>,
    sync1: DFF<Bit>,
    sync2: DFF<Bit>,
    /// The last three synchronised samples.
    samples: DFF<Bits<3>>,
    /// 0 idle, 1 receiving, 2 waiting for the line to go high after a framing error.
    state: DFF<Bits<2>>,
    /// Bit 0 is the start bit, 1..=8 data, 9 the stop bit.
    bit_index: DFF<Bits<4>>,
    count: DFF<Bits<16>>,
    shift: DFF<Bits<8>>,
    data_out: DFF<Bits<8>>,
    valid_out: DFF<Bit>,
    error_out: DFF<Bit>,
    last_count: Constant<Bits<16>>,
    middle: Constant<Bits<16>>,
    majority: Signal<Local, Bit>,
}

impl UartRx {
    /// A receiver for bits of `clocks_per_bit` cycles (at least 4).
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(
            clocks_per_bit >= 4,
            "the receiver needs at least 4 clocks per bit"
        );
        UartRx {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            framing_error: Default::default(),
            sync1: Default::default(),
            sync2: Default::default(),
            samples: Default::default(),
            state: Default::default(),
            bit_index: Default::default(),
            count: Default::default(),
            shift: Default::default(),
            data_out: Default::default(),
            valid_out: Default::default(),
            error_out: Default::default(),
            last_count: Constant::new((clocks_per_bit as u64 - 1).into()),
            middle: Constant::new((clocks_per_bit as u64 / 2).into()),
            majority: Default::default(),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sync1, sync2, samples, state, bit_index, count, shift, data_out,
            valid_out, error_out
        );
        self.sync1.d.next = self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.samples.d.next =
            (self.samples.q.val() << 1) | bit_cast::<3, 1>(self.sync2.q.val().into());
        self.majority.next = (self.samples.q.val().get_bit(0) & self.samples.q.val().get_bit(1))
            | (self.samples.q.val().get_bit(1) & self.samples.q.val().get_bit(2))
            | (self.samples.q.val().get_bit(0) & self.samples.q.val().get_bit(2));
        self.data.next = self.data_out.q.val();
        self.valid.next = self.valid_out.q.val();
        self.framing_error.next = self.error_out.q.val();
        self.valid_out.d.next = false;
        self.error_out.d.next = false;
        match self.state.q.val().index() {
            0 => {
                // A falling edge: the start bit begins.
                if self.samples.q.val().get_bit(0) & !self.sync2.q.val() {
                    self.state.d.next = 1.into();
                    self.bit_index.d.next = 0.into();
                    self.count.d.next = 0.into();
                }
            }
            1 => {
                self.count.d.next = self.count.q.val() + 1;
                if self.count.q.val() == self.last_count.val() {
                    self.count.d.next = 0.into();
                    self.bit_index.d.next = self.bit_index.q.val() + 1;
                }
                // The samples of the bit's middle are in: decide it.
                if self.count.q.val() == self.middle.val() {
                    if self.bit_index.q.val() == 0 {
                        if self.majority.val() {
                            self.state.d.next = 0.into();
                        }
                    } else if self.bit_index.q.val() == 9 {
                        if self.majority.val() {
                            self.valid_out.d.next = true;
                            self.data_out.d.next = self.shift.q.val();
                            self.state.d.next = 0.into();
                        } else {
                            self.error_out.d.next = true;
                            self.state.d.next = 2.into();
                        }
                    } else {
                        self.shift.d.next = (self.shift.q.val() >> 1)
                            | (bit_cast::<8, 1>(self.majority.val().into()) << 7);
                    }
                }
            }
            _ => {
                if self.majority.val() {
                    self.state.d.next = 0.into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::prepare;

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = UartRx::new(16);
        prepare(&mut uut);
        yosys_validate("fs_hdl_uart_rx", &generate_verilog(&uut)).unwrap();
    }
}
