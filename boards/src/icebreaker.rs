//! The iCEBreaker's top (iCE40 UP5K, SG48). The device closes well above the 12 MHz
//! oscillator, so the UP5K's PLL, fed from the oscillator's pin ([`Ice40PadPll`]), makes
//! [`CLOCK_HZ`]: 24 MHz is a whole 8 clocks a bit at 3 Mbaud on the FT2232H's UART channel.
//! The common [`UartTop`] runs inside, held off the serial line until the PLL has locked
//! ([`HeldUartTop`]). Its ports are the UART top's, so `constraints/icebreaker.pcf` fits both.

use crate::held_uart_top::HeldUartTop;
use crate::ice40_pad_pll::Ice40PadPll;
use crate::uart_top::UartTop;
use anyhow::Result;
use rust_hdl::prelude::*;

/// The oscillator, and the clock the PLL makes from it for the design.
pub const OSCILLATOR_HZ: u64 = 12_000_000;
pub const CLOCK_HZ: u64 = 24_000_000;

#[derive(LogicBlock)]
pub struct IcebreakerTop {
    /// The 12 MHz oscillator.
    pub clock: Signal<In, Clock>,
    /// The FT2232H's channel B: its TX into the FPGA, and back.
    pub uart_rx: Signal<In, Bit>,
    pub uart_tx: Signal<Out, Bit>,
    /// The red and the green LED (active low): a request is in hand; images are being fed.
    pub led_link: Signal<Out, Bit>,
    pub led_feed: Signal<Out, Bit>,
    pub pll: Ice40PadPll,
    pub held: HeldUartTop,
}

impl IcebreakerTop {
    /// `board` is the top built for the iCEBreaker's board entry (its clock is [`CLOCK_HZ`]).
    pub fn new(board: UartTop) -> Result<Self> {
        Ok(IcebreakerTop {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            led_link: Default::default(),
            led_feed: Default::default(),
            pll: Ice40PadPll::new(OSCILLATOR_HZ, CLOCK_HZ)?,
            held: HeldUartTop::new(board, CLOCK_HZ),
        })
    }
}

impl Logic for IcebreakerTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.pll.clock_pin.next = self.clock.val();
        self.held.clock.next = self.pll.clock_out.val();
        self.held.pll_locked.next = self.pll.locked.val();
        self.held.uart_rx.next = self.uart_rx.val();
        self.uart_tx.next = self.held.uart_tx.val();
        self.led_link.next = self.held.led_link.val();
        self.led_feed.next = self.held.led_feed.val();
    }
}
