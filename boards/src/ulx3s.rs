//! The ULX3S's top (ECP5-85F): its 25 MHz oscillator through the ECP5 PLL ([`Ecp5Pll`]) to
//! the clock of its board entry, the device held off the serial line until the PLL has locked
//! ([`LockHold`]), and the common [`UartTop`] inside. LED 0 is the link, LED 1 the feed, LED 7
//! the PLL's lock. The pins are in `constraints/ulx3s.lpf`.

use crate::board::Board;
use crate::ecp5_pll::Ecp5Pll;
use crate::lock_hold::LockHold;
use crate::uart_top::UartTop;
use anyhow::Result;
use rust_hdl::prelude::*;

/// The oscillator.
pub const OSCILLATOR_HZ: u64 = 25_000_000;

#[derive(LogicBlock)]
pub struct Ulx3sTop {
    /// The 25 MHz oscillator.
    pub clock: Signal<In, Clock>,
    /// The FT231X: its TX into the FPGA, and back.
    pub uart_rx: Signal<In, Bit>,
    pub uart_tx: Signal<Out, Bit>,
    /// LEDs 0, 1 and 7 (active high).
    pub led_link: Signal<Out, Bit>,
    pub led_feed: Signal<Out, Bit>,
    pub led_locked: Signal<Out, Bit>,
    pub pll: Ecp5Pll,
    pub hold: LockHold,
    pub board: UartTop,
}

impl Ulx3sTop {
    /// `top` is the UART top built for `board`, whose clock the PLL makes.
    pub fn new(board: &Board, top: UartTop) -> Result<Self> {
        Ok(Ulx3sTop {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            led_link: Default::default(),
            led_feed: Default::default(),
            led_locked: Default::default(),
            pll: Ecp5Pll::new(OSCILLATOR_HZ, board.clock_hz as u64)?,
            hold: LockHold::for_clock(board.clock_hz as u64),
            board: top,
        })
    }
}

impl Logic for Ulx3sTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.pll.clock_in.next = self.clock.val();
        self.board.clock.next = self.pll.clock_out.val();
        self.hold.clock.next = self.pll.clock_out.val();
        self.hold.pll_locked.next = self.pll.locked.val();
        self.hold.rx_pin.next = self.uart_rx.val();
        self.board.uart_rx.next = self.hold.rx_device.val();
        self.hold.tx_device.next = self.board.uart_tx.val();
        self.uart_tx.next = self.hold.tx_pin.val();
        self.led_link.next = self.board.led_link.val();
        self.led_feed.next = self.board.led_feed.val();
        self.led_locked.next = self.pll.locked.val();
    }
}
