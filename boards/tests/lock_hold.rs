//! The hold that keeps a PLL board's device off the serial line until the PLL has locked.

use fs_boards::lock_hold::LockHold;
use fs_hdl::sim::{prepare, settle};
use rust_hdl::prelude::*;

/// One clock cycle with `locked` on the PLL's lock and a busy line both ways (0); whether the
/// hold was running, and the lines it passed on, before the edge.
fn cycle(hold: &mut LockHold, locked: bool) -> (bool, bool, bool) {
    hold.pll_locked.next = locked;
    hold.rx_pin.next = false;
    hold.tx_device.next = false;
    settle(hold);
    let seen = (hold.running.val(), hold.rx_device.val(), hold.tx_pin.val());
    hold.clock.next = true.into();
    settle(hold);
    hold.clock.next = false.into();
    settle(hold);
    seen
}

#[test]
fn the_line_is_idle_until_the_lock_has_held_then_passes_for_good() {
    const SETTLE: u16 = 6;
    let mut hold = LockHold::new(SETTLE);
    prepare(&mut hold);
    // Before lock, and through a lock that drops a cycle before it has settled, both lines
    // are idle.
    let pattern = [false; 10]
        .into_iter()
        .chain([true; SETTLE as usize - 1])
        .chain([false; 3]);
    for locked in pattern {
        assert_eq!(cycle(&mut hold, locked), (false, true, true));
    }
    // A steady lock: two cycles to cross into the clock, SETTLE to count, one to start.
    let mut held = 0;
    while !cycle(&mut hold, true).0 {
        held += 1;
        assert!(held < 100, "never started");
    }
    assert_eq!(held, 2 + SETTLE as usize + 1);
    // Running: both lines pass (the busy 0s), and stay passing when the lock drops.
    for locked in [true, false, false, true] {
        assert_eq!(cycle(&mut hold, locked), (true, false, false));
    }
}

#[test]
fn generates_verilog_yosys_accepts() {
    let mut hold = LockHold::for_clock(100_000_000);
    prepare(&mut hold);
    yosys_validate("fs_boards_lock_hold", &generate_verilog(&hold)).unwrap();
}

#[test]
fn settles_for_a_tenth_of_a_millisecond() {
    assert_eq!(LockHold::settle_cycles(100_000_000), 10_000);
    assert_eq!(LockHold::settle_cycles(45_000_000), 4_500);
    // Long enough to overflow 16 bits: the counter's whole range.
    assert_eq!(LockHold::settle_cycles(10_000_000_000), u16::MAX);
}
