//! The common [`UartTop`] behind a [`LockHold`]: what every PLL board runs on its PLL's clock.
//! A PLL board's top wires only its PLL, its oscillator and its LEDs around this block.

use crate::lock_hold::LockHold;
use crate::uart_top::UartTop;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct HeldUartTop {
    /// The PLL's output clock, and its lock.
    pub clock: Signal<In, Clock>,
    pub pll_locked: Signal<In, Bit>,
    /// The serial pins (held idle towards the device until the clock has settled).
    pub uart_rx: Signal<In, Bit>,
    pub uart_tx: Signal<Out, Bit>,
    /// A request is in hand; images are being fed.
    pub led_link: Signal<Out, Bit>,
    pub led_feed: Signal<Out, Bit>,
    pub hold: LockHold,
    pub board: UartTop,
}

impl HeldUartTop {
    /// `board` is the UART top built for a board entry clocked at `clock_hz`.
    pub fn new(board: UartTop, clock_hz: u64) -> Self {
        HeldUartTop {
            clock: Default::default(),
            pll_locked: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            led_link: Default::default(),
            led_feed: Default::default(),
            hold: LockHold::for_clock(clock_hz),
            board,
        }
    }
}

impl Logic for HeldUartTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.board.clock.next = self.clock.val();
        self.hold.clock.next = self.clock.val();
        self.hold.pll_locked.next = self.pll_locked.val();
        self.hold.rx_pin.next = self.uart_rx.val();
        self.board.uart_rx.next = self.hold.rx_device.val();
        self.hold.tx_device.next = self.board.uart_tx.val();
        self.uart_tx.next = self.hold.tx_pin.val();
        self.led_link.next = self.board.led_link.val();
        self.led_feed.next = self.board.led_feed.val();
    }
}
