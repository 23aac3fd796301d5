//! UART transmitter, 8N1: a start bit (0), eight data bits LSB first, a stop bit (1), each
//! `clocks_per_bit` clock cycles long; the line idles high.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    /// A byte to send, taken when `ready` is high.
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    /// The serial line.
    pub tx: Signal<Out, Bit>,
    busy: DFF<Bit>,
    /// Start, data and stop bits still to send, the current one lowest.
    frame: DFF<Bits<10>>,
    bit_index: DFF<Bits<4>>,
    count: DFF<Bits<16>>,
    last_count: Constant<Bits<16>>,
}

impl UartTx {
    /// A transmitter whose bits last `clocks_per_bit` cycles (the clock over the baud rate,
    /// at least 2).
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(clocks_per_bit >= 2, "a UART bit needs at least 2 clocks");
        UartTx {
            clock: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            busy: Default::default(),
            frame: Default::default(),
            bit_index: Default::default(),
            count: Default::default(),
            last_count: Constant::new((clocks_per_bit as u64 - 1).into()),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, frame, bit_index, count);
        self.ready.next = !self.busy.q.val();
        self.tx.next = true;
        if self.busy.q.val() {
            self.tx.next = self.frame.q.val().get_bit(0);
            self.count.d.next = self.count.q.val() + 1;
            if self.count.q.val() == self.last_count.val() {
                self.count.d.next = 0.into();
                self.frame.d.next = self.frame.q.val() >> 1;
                self.bit_index.d.next = self.bit_index.q.val() + 1;
                if self.bit_index.q.val() == 9 {
                    self.busy.d.next = false;
                }
            }
        } else if self.valid.val() {
            // Stop bit, data, start bit (sent first).
            self.frame.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | 0x200;
            self.busy.d.next = true;
            self.bit_index.d.next = 0.into();
            self.count.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::prepare;

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = UartTx::new(5);
        prepare(&mut uut);
        yosys_validate("fs_hdl_uart_tx", &generate_verilog(&uut)).unwrap();
    }
}
