//! The [`Device`] behind 16-bit word pipes, as Opal Kelly's FrontPanel moves data over USB
//! (the XEM7010's `PipeIn`, `PipeOut` and `WireOut` endpoints; `crate::xem7010`). The wire
//! protocol is the UART boards' byte stream; only its carrier changes.
//!
//! - Host to device: one word per byte, bit 8 set and the byte in bits 7..0. A word with bit 8
//!   clear is padding (FrontPanel moves whole words; a host may pad a transfer). The bytes
//!   wait in a FIFO, since a pipe delivers a word every clock while the device takes a byte
//!   only when it listens; a byte that finds the FIFO full is counted as lost by the device.
//! - Device to host: the device's bytes wait in a FIFO; `out_waiting` (a `WireOut`) tells the
//!   host how many it may read. A pipe read strobe (`out_read`) takes one: as with FrontPanel's
//!   `okPipeOut`, the word is sampled the clock after the strobe, so the FIFO pops then. A
//!   word read from an empty FIFO is zero (padding).
//!
//! The endpoints have no simulation model in rust-hdl; this block is what is simulated and
//! tested (`boards/tests/pipe_bridge.rs`).

use fs_hdl::link::device::Device;
use rust_hdl::prelude::*;

declare_sync_fifo!(ByteFifo, Bits<8>, 1024, 1);

#[derive(LogicBlock)]
pub struct PipeBridge {
    pub clock: Signal<In, Clock>,
    /// From a `PipeIn`: a word, with its write strobe.
    pub in_write: Signal<In, Bit>,
    pub in_word: Signal<In, Bits<16>>,
    /// To a `PipeOut`: its read strobe, and the word it samples a clock later.
    pub out_read: Signal<In, Bit>,
    pub out_word: Signal<Out, Bits<16>>,
    /// To a `WireOut`: bytes the host may read.
    pub out_waiting: Signal<Out, Bits<16>>,
    /// The device's: a request is in hand; images are being fed (for LEDs).
    pub active: Signal<Out, Bit>,
    pub feeding: Signal<Out, Bit>,
    pub device: Device,
    rx_fifo: ByteFifo,
    tx_fifo: ByteFifo,
    read_delayed: DFF<Bit>,
    waiting: DFF<Bits<16>>,
    in_byte: Signal<Local, Bit>,
    push: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
}

impl PipeBridge {
    pub fn new(device: Device) -> Self {
        PipeBridge {
            clock: Default::default(),
            in_write: Default::default(),
            in_word: Default::default(),
            out_read: Default::default(),
            out_word: Default::default(),
            out_waiting: Default::default(),
            active: Default::default(),
            feeding: Default::default(),
            device,
            rx_fifo: Default::default(),
            tx_fifo: Default::default(),
            read_delayed: Default::default(),
            waiting: Default::default(),
            in_byte: Default::default(),
            push: Default::default(),
            pop: Default::default(),
        }
    }
}

impl Logic for PipeBridge {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, device, rx_fifo, tx_fifo, read_delayed, waiting);
        // Host to device.
        self.in_byte.next = self.in_write.val() & self.in_word.val().get_bit(8);
        self.rx_fifo.data_in.next = self.in_word.val().get_bits::<8>(0);
        self.rx_fifo.write.next = self.in_byte.val() & !self.rx_fifo.full.val();
        self.device.rx_lost.next = self.in_byte.val() & self.rx_fifo.full.val();
        self.device.rx_valid.next = !self.rx_fifo.empty.val();
        self.device.rx_data.next = self.rx_fifo.data_out.val();
        self.rx_fifo.read.next = !self.rx_fifo.empty.val() & self.device.rx_ready.val();
        // Device to host.
        self.push.next = self.device.tx_valid.val() & !self.tx_fifo.full.val();
        self.tx_fifo.write.next = self.push.val();
        self.tx_fifo.data_in.next = self.device.tx_data.val();
        self.device.tx_ready.next = !self.tx_fifo.full.val();
        self.read_delayed.d.next = self.out_read.val();
        self.pop.next = self.read_delayed.q.val() & !self.tx_fifo.empty.val();
        self.tx_fifo.read.next = self.pop.val();
        // A padding word is all zeros (the FIFO's memory output is undefined while empty).
        self.out_word.next = 0.into();
        if !self.tx_fifo.empty.val() {
            self.out_word.next =
                bit_cast::<16, 8>(self.tx_fifo.data_out.val()).replace_bit(8, true);
        }
        self.waiting.d.next = self.waiting.q.val();
        if self.push.val() & !self.pop.val() {
            self.waiting.d.next = self.waiting.q.val() + 1;
        }
        if !self.push.val() & self.pop.val() {
            self.waiting.d.next = self.waiting.q.val() - 1;
        }
        self.out_waiting.next = self.waiting.q.val();
        self.active.next = self.device.active.val();
        self.feeding.next = self.device.feeding.val();
    }
}
