//! The Alchitry Cu's top: its pin file and its PLL.

use fs_boards::alchitry_cu::{AlchitryCuTop, CLOCK_HZ};
use fs_boards::uart_top::UartTop;
use fs_boards::{BOARDS, TopKind};
use fs_testkit::root;
use rust_hdl::fpga::toolchains::icestorm::generate_pcf;
use rust_hdl::prelude::*;

fn cu() -> AlchitryCuTop {
    let board = BOARDS
        .iter()
        .find(|b| b.top == TopKind::AlchitryCu)
        .unwrap();
    assert_eq!(board.clock_hz as u64, CLOCK_HZ);
    let model = fs_model::modelfile::load(&root().join(board.model)).unwrap();
    let mut top = AlchitryCuTop::new(UartTop::new(board, &model).unwrap());
    fs_hdl::sim::checked(&mut top).unwrap();
    top
}

#[test]
fn the_pin_file_is_the_tops_pin_locations() {
    let file = std::fs::read_to_string(root().join("constraints/alchitry-cu.pcf")).unwrap();
    let committed: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
    let generated = generate_pcf(&cu());
    assert_eq!(committed, generated.lines().collect::<Vec<_>>());
}

#[test]
fn the_pll_makes_the_boards_clock_exactly() {
    // DIVR 4, DIVF 35, DIVQ 4: 100 MHz / 5 * 36 / 16 = 45 MHz.
    let verilog = generate_verilog(&cu());
    for setting in [".DIVR(32'h4)", ".DIVF(32'h23)", ".DIVQ(32'h4)"] {
        assert!(verilog.contains(setting), "{setting}");
    }
}
