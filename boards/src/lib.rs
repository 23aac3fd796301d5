//! Board tops: the [`Device`] behind a UART (8N1, [`UartRx`] and [`UartTx`]) on a board's
//! USB-serial bridge, with two status LEDs. One block serves every board; [`Board`] says what
//! differs (clock, baud rate, LED polarity, the model and lanes it is built for, its pin file in
//! `constraints/`).

use crate::accelerator::HwConfig;
use crate::alchitry_cu::{self, AlchitryCuTop};
use crate::device::Device;
use crate::uart_rx::UartRx;
use crate::uart_tx::UartTx;
use fs_model::network::Model;
use rust_hdl::prelude::*;

/// FPGA families the open flows build for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Ice40Up5k,
    Ice40Hx8k,
    Ecp5_85k,
}

/// A board the open flows build a bitstream for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    pub family: Family,
    /// The oscillator the design runs from, and the UART's baud rate (a whole number of
    /// clocks per bit, at least 4).
    pub clock_hz: u32,
    pub baud: u32,
    /// LEDs light on a low pin.
    pub leds_active_low: bool,
    /// The model file (from the repository root) and lanes per layer it is built for.
    pub model: &'static str,
    pub lanes: &'static [usize],
    /// Pin file, from the repository root.
    pub constraints: &'static str,
    /// What wraps the common top.
    pub top: TopKind,
}

/// The top a board's bitstream is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopKind {
    /// [`BoardTop`] on the oscillator's clock.
    Direct,
    /// [`BoardTop`] behind the Alchitry Cu's PLL ([`AlchitryCuTop`]).
    AlchitryCu,
}

impl Board {
    pub fn clocks_per_bit(&self) -> u16 {
        (self.clock_hz / self.baud) as u16
    }
}

/// The boards with an open flow: iCEBreaker (iCE40 UP5K, FT2232H) with the digits network (one
/// lane in its first layer: the device's logic leaves no room for more), ULX3S (ECP5-85F,
/// FT231X) with the MNIST MLP, both on their oscillator; and the Alchitry Cu (iCE40 HX8K,
/// FT2232H) with the digits network, on its PLL's 45 MHz. The link, not the accelerator,
/// bounds their throughput.
pub const BOARDS: [Board; 3] = [
    Board {
        name: "icebreaker",
        family: Family::Ice40Up5k,
        clock_hz: 12_000_000,
        baud: 1_000_000,
        leds_active_low: true,
        model: "models/digits-mlp.fsnn",
        lanes: &[1, 2],
        constraints: "constraints/icebreaker.pcf",
        top: TopKind::Direct,
    },
    Board {
        name: "ulx3s",
        family: Family::Ecp5_85k,
        clock_hz: 25_000_000,
        baud: 1_000_000,
        leds_active_low: false,
        model: "models/mnist-mlp.fsnn",
        lanes: &[128, 10],
        constraints: "constraints/ulx3s.lpf",
        top: TopKind::Direct,
    },
    Board {
        name: "alchitry-cu",
        family: Family::Ice40Hx8k,
        clock_hz: alchitry_cu::CLOCK_HZ as u32,
        baud: 3_000_000,
        leds_active_low: false,
        model: "models/digits-mlp.fsnn",
        lanes: &[4, 2],
        constraints: "constraints/alchitry-cu.pcf",
        top: TopKind::AlchitryCu,
    },
];

pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// The Verilog of `board`'s top running `model` (module `top`), checked by RustHDL first.
pub fn top_verilog(board: &Board, model: &Model) -> anyhow::Result<String> {
    let mut top = BoardTop::new(board, model).map_err(anyhow::Error::msg)?;
    Ok(match board.top {
        TopKind::Direct => {
            crate::sim::checked(&mut top)?;
            generate_verilog(&top)
        }
        TopKind::AlchitryCu => {
            let mut cu = AlchitryCuTop::new(top);
            crate::sim::checked(&mut cu)?;
            generate_verilog(&cu)
        }
    })
}

#[derive(LogicBlock)]
pub struct BoardTop {
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

impl BoardTop {
    /// The top of `board` running `model` (of the design the board is built for).
    pub fn new(board: &Board, model: &Model) -> Result<Self, String> {
        let config = HwConfig::new(board.lanes.to_vec());
        // A frame is abandoned after about a tenth of a second without bytes.
        let gap = board.clock_hz / 10;
        Ok(BoardTop {
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

impl Logic for BoardTop {
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
