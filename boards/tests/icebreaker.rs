//! The iCEBreaker's top: its pins and its PLL.

use crate::top_ports;
use fs_boards::icebreaker::{CLOCK_HZ, IcebreakerTop};
use fs_boards::uart_top::UartTop;
use fs_boards::{TopKind, by_name};
use fs_testkit::root;
use rust_hdl::prelude::*;

fn icebreaker() -> IcebreakerTop {
    let board = by_name("icebreaker").unwrap();
    assert_eq!(board.top, TopKind::Icebreaker);
    assert_eq!(board.clock_hz as u64, CLOCK_HZ);
    let model = fs_model::modelfile::load(&root().join(board.model)).unwrap();
    let mut top = IcebreakerTop::new(UartTop::new(board, &model).unwrap()).unwrap();
    fs_hdl::sim::checked(&mut top).unwrap();
    top
}

#[test]
fn the_pin_file_places_every_port_of_the_top_and_nothing_else() {
    let mut ports = top_ports(&generate_verilog(&icebreaker()));
    ports.sort();
    let file = std::fs::read_to_string(root().join("constraints/icebreaker.pcf")).unwrap();
    let mut placed: Vec<String> = file
        .lines()
        .filter_map(|l| l.strip_prefix("set_io -nowarn "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    placed.sort();
    assert_eq!(ports, placed);
}

#[test]
fn the_pll_takes_the_oscillators_pad_and_makes_the_boards_clock() {
    // 12 MHz / 1 x 64 / 2^5 = 24 MHz, the VCO at 768 MHz.
    let verilog = generate_verilog(&icebreaker());
    for setting in [
        "SB_PLL40_PAD #(",
        ".DIVR(0)",
        ".DIVF(63)",
        ".DIVQ(5)",
        ".FILTER_RANGE(1)",
        ".PACKAGEPIN(clock_pin)",
    ] {
        assert!(verilog.contains(setting), "{setting}");
    }
}
