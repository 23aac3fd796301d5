//! The top of the UART boards: the [`Device`] behind a UART (8N1, [`UartRx`] and [`UartTx`]) on
//! a board's USB-serial bridge, with two status LEDs. One block serves every UART board;
//! [`Board`] says what differs (clock, baud rate, LED polarity, the model and lanes it is built
//! for).

use crate::board::Board;
use anyhow::Result;
use fs_hdl::core::accelerator::HwConfig;
use fs_hdl::link::device::Device;
use fs_hdl::link::uart_rx::UartRx;
use fs_hdl::link::uart_tx::UartTx;
use fs_model::network::Model;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartTop {
    pub clock: Signal<In, Clock>,
    /// From the USB-serial bridge, and to it.
    pub uart_rx: Signal<In, Bit>,
    pub uart_tx: Signal<Out, Bit>,
    /// A request is in hand; images are being fed.
    pub led_link: Signal<Out, Bit>,
    pub led_feed: Signal<Out, Bit>,
    pub receiver: UartRx,
    pub transmitter: UartTx,
    pub device: Device,
    invert: Constant<Bit>,
}

impl UartTop {
    /// The top of `board` running `model` (of the design the board is built for).
    pub fn new(board: &Board, model: &Model) -> Result<Self> {
        let config = HwConfig::new(board.lanes.to_vec());
        // A frame is abandoned after about a tenth of a second without bytes.
        let gap = board.clock_hz / 10;
        Ok(UartTop {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            led_link: Default::default(),
            led_feed: Default::default(),
            receiver: UartRx::new(board.clocks_per_bit()),
            transmitter: UartTx::new(board.clocks_per_bit()),
            device: Device::new(model, &config, gap)?,
            invert: Constant::new(board.leds_active_low),
        })
    }
}

impl Logic for UartTop {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, receiver, transmitter, device);
        self.receiver.rx.next = self.uart_rx.val();
        self.device.rx_valid.next = self.receiver.valid.val();
        self.device.rx_data.next = self.receiver.data.val();
        // A byte the device was not listening for, or a broken one, is counted.
        self.device.rx_lost.next = (self.receiver.valid.val() & !self.device.rx_ready.val())
            | self.receiver.framing_error.val();
        self.transmitter.valid.next = self.device.tx_valid.val();
        self.transmitter.data.next = self.device.tx_data.val();
        self.device.tx_ready.next = self.transmitter.ready.val();
        self.uart_tx.next = self.transmitter.tx.val();
        self.led_link.next = self.device.active.val() ^ self.invert.val();
        self.led_feed.next = self.device.feeding.val() ^ self.invert.val();
    }
}
