//! The Alchitry Cu's top (iCE40 HX8K, CB132). Its 100 MHz oscillator is faster than the
//! device closes on the HX8K, so the iCE40 PLL (rust-hdl's `ICE40PLLBlock`) makes
//! [`CLOCK_HZ`]: 45 MHz is within reach and a whole 15 clocks per bit at 3 Mbaud, the fastest
//! rate the FT2232H's UART channel carries. Inside runs the common [`UartTop`], held off the
//! serial line until the PLL has locked ([`HeldUartTop`]).
//!
//! The oscillator and LED pins come from `rust-hdl-bsp-alchitry-cu`, the UART's from
//! Alchitry's own pin list; `constraints/alchitry-cu.pcf` is generated from these ports and a
//! test keeps the two equal.

use crate::held_uart_top::HeldUartTop;
use crate::uart_top::UartTop;
use rust_hdl::fpga::lattice::ice40::ice_pll::ICE40PLLBlock;
use rust_hdl::prelude::*;
use rust_hdl_bsp_alchitry_cu::pins;

/// The oscillator, and the clock the PLL makes from it for the design.
pub const OSCILLATOR_HZ: u64 = 100_000_000;
pub const CLOCK_HZ: u64 = 45_000_000;

#[derive(LogicBlock)]
pub struct AlchitryCuTop {
    pub clock: Signal<In, Clock>,
    /// The FT2232H's channel B: its TX into the FPGA, and back.
    pub uart_rx: Signal<In, Bit>,
    pub uart_tx: Signal<Out, Bit>,
    /// LED 0: a request is in hand; 1: images are being fed; 7: the PLL is locked.
    pub leds: Signal<Out, Bits<8>>,
    pub pll: ICE40PLLBlock<OSCILLATOR_HZ, CLOCK_HZ>,
    pub held: HeldUartTop,
    dark: Constant<Bits<8>>,
}

impl AlchitryCuTop {
    /// `board` is the top built for the Cu's board entry (its clock is [`CLOCK_HZ`]).
    pub fn new(board: UartTop) -> Self {
        let mut uart_rx = Signal::default();
        uart_rx.add_location(0, "P14");
        let mut uart_tx = Signal::default();
        uart_tx.add_location(0, "M9");
        AlchitryCuTop {
            clock: pins::clock(),
            uart_rx,
            uart_tx,
            leds: pins::leds(),
            pll: ICE40PLLBlock::default(),
            held: HeldUartTop::new(board, CLOCK_HZ),
            dark: Constant::new(0.into()),
        }
    }
}

impl Logic for AlchitryCuTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.pll.clock_in.next = self.clock.val();
        self.held.clock.next = self.pll.clock_out.val();
        self.held.pll_locked.next = self.pll.locked.val();
        self.held.uart_rx.next = self.uart_rx.val();
        self.uart_tx.next = self.held.uart_tx.val();
        self.leds.next = self
            .dark
            .val()
            .replace_bit(0, self.held.led_link.val())
            .replace_bit(1, self.held.led_feed.val())
            .replace_bit(7, self.pll.locked.val());
    }
}
