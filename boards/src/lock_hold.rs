//! Holds a board's device off its serial line until the PLL that clocks it has locked.
//!
//! RustHDL 0.46 designs have no reset: every register starts at its configuration value. What
//! a PLL makes before it locks is not the clock the design was timed for (its frequency moves
//! while the loop settles), and a register whose input changes on such an edge may take any
//! value. The device's registers only change when bytes arrive (idle, every state machine
//! waits on its input), so the line is held idle (high) until the lock, brought into the
//! design's clock by two flip-flops, has stayed high for `settle_cycles` cycles in a row: the
//! first byte finds the device in its configuration state, on a settled clock. The transmit
//! line is held idle over the same time. Once running, it stays so (a lock lost later is shown
//! on the lock LED; reconfiguring is the remedy).

use rust_hdl::prelude::*;
use rust_hdl::widgets::synchronizer::BitSynchronizer;

#[derive(LogicBlock)]
pub struct LockHold {
    /// The clock the PLL makes (the design's).
    pub clock: Signal<In, Clock>,
    /// The PLL's lock output, asynchronous to `clock`.
    pub pll_locked: Signal<In, Bit>,
    /// Low until the lock has held for the settling time, then high for good.
    pub running: Signal<Out, Bit>,
    /// The serial lines between the board's pins and the device, idle while held.
    pub rx_pin: Signal<In, Bit>,
    pub rx_device: Signal<Out, Bit>,
    pub tx_device: Signal<In, Bit>,
    pub tx_pin: Signal<Out, Bit>,
    lock_sync: BitSynchronizer,
    settled: DFF<Bits<16>>,
    started: DFF<Bit>,
    settle_cycles: Constant<Bits<16>>,
}

impl LockHold {
    /// Held for 100 us of steady lock at `clock_hz` (the ECP5's and iCE40's PLLs lock within
    /// tens of microseconds; a host opens the port milliseconds after configuration).
    pub fn for_clock(clock_hz: u64) -> Self {
        Self::new(Self::settle_cycles(clock_hz))
    }

    /// The settling time [`Self::for_clock`] waits, in cycles of `clock_hz`.
    pub fn settle_cycles(clock_hz: u64) -> u16 {
        (clock_hz / 10_000).clamp(1, u16::MAX as u64) as u16
    }

    /// Held until the lock has been seen for `settle_cycles` (1 to 65,535) cycles in a row.
    pub fn new(settle_cycles: u16) -> Self {
        LockHold {
            clock: Default::default(),
            pll_locked: Default::default(),
            running: Default::default(),
            rx_pin: Default::default(),
            rx_device: Default::default(),
            tx_device: Default::default(),
            tx_pin: Default::default(),
            lock_sync: Default::default(),
            settled: Default::default(),
            started: Default::default(),
            settle_cycles: Constant::new((settle_cycles.max(1) as u64).into()),
        }
    }
}

impl Logic for LockHold {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, lock_sync, settled, started);
        self.lock_sync.sig_in.next = self.pll_locked.val();
        // Cycles the lock has held, counted up to the settling time; any drop starts again.
        self.settled.d.next = self.settled.q.val();
        if !self.lock_sync.sig_out.val() {
            self.settled.d.next = 0.into();
        } else if self.settled.q.val() != self.settle_cycles.val() {
            self.settled.d.next = self.settled.q.val() + 1;
        }
        self.started.d.next =
            self.started.q.val() | (self.settled.q.val() == self.settle_cycles.val());
        self.running.next = self.started.q.val();
        self.rx_device.next = self.rx_pin.val() | !self.started.q.val();
        self.tx_pin.next = self.tx_device.val() | !self.started.q.val();
    }
}
