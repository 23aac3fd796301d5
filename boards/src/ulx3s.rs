//! The ULX3S's top (ECP5-85F): its 25 MHz oscillator through the ECP5 PLL ([`Ecp5Pll`]) to
//! the clock of its board entry, the device held off the serial line until the PLL has locked
//! ([`HeldUartTop`]), and the common [`UartTop`] inside. LED 0 is the link, LED 1 the feed, LED 7
//! the PLL's lock. The pins are in `constraints/ulx3s.lpf`.

use crate::board::Board;
use crate::ecp5_pll::Ecp5Pll;
use crate::held_uart_top::HeldUartTop;
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
    pub held: HeldUartTop,
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
            held: HeldUartTop::new(top, board.clock_hz as u64),
        })
    }
}

impl Logic for Ulx3sTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.pll.clock_in.next = self.clock.val();
        self.held.clock.next = self.pll.clock_out.val();
        self.held.pll_locked.next = self.pll.locked.val();
        self.held.uart_rx.next = self.uart_rx.val();
        self.uart_tx.next = self.held.uart_tx.val();
        self.led_link.next = self.held.led_link.val();
        self.led_feed.next = self.held.led_feed.val();
        self.led_locked.next = self.pll.locked.val();
    }
}
