//! The ULX3S's top: its pins, its PLL, its boards' UART rates.

use crate::top_ports;
use fs_boards::uart_top::UartTop;
use fs_boards::ulx3s::Ulx3sTop;
use fs_boards::{BOARDS, TopKind, by_name};
use fs_testkit::root;
use rust_hdl::prelude::*;

fn ulx3s() -> Ulx3sTop {
    let board = by_name("ulx3s").unwrap();
    assert_eq!(board.top, TopKind::Ulx3s);
    let model = fs_model::modelfile::load(&root().join(board.model)).unwrap();
    let mut top = Ulx3sTop::new(board, UartTop::new(board, &model).unwrap()).unwrap();
    fs_hdl::sim::checked(&mut top).unwrap();
    top
}

#[test]
fn the_pin_file_places_every_port_of_the_top_and_nothing_else() {
    let verilog = generate_verilog(&ulx3s());
    let mut ports = top_ports(&verilog);
    ports.sort();
    let file = std::fs::read_to_string(root().join("constraints/ulx3s.lpf")).unwrap();
    let mut located: Vec<String> = file
        .lines()
        .filter_map(|l| l.strip_prefix("LOCATE COMP \""))
        .map(|l| l[..l.find('"').unwrap()].to_string())
        .collect();
    located.sort();
    assert_eq!(ports, located);
}

#[test]
fn the_pll_makes_the_boards_clock_from_the_oscillator() {
    // 25 MHz / 1 x 4 = 100 MHz, the VCO at 600 MHz (divider 6).
    let verilog = generate_verilog(&ulx3s());
    for setting in [
        ".CLKI_DIV(1)",
        ".CLKFB_DIV(4)",
        ".CLKOP_DIV(6)",
        "FREQUENCY_PIN_CLKI=\"25\"",
        "FREQUENCY_PIN_CLKOP=\"100\"",
        ".LOCK(locked)",
    ] {
        assert!(verilog.contains(setting), "{setting}");
    }
}

#[test]
fn every_boards_uart_is_within_the_frames_tolerance() {
    for board in BOARDS {
        let error = board.baud_error();
        assert!(board.clocks_per_bit() >= 4, "{}", board.name);
        assert!(error.abs() <= 0.015, "{}: {error}", board.name);
    }
    // The ULX3S at 100 MHz and 3 Mbaud: 33 clocks a bit, 1.0% fast (well inside the ~4% an
    // 8N1 frame tolerates between the two ends).
    let ulx3s = by_name("ulx3s").unwrap();
    assert_eq!(ulx3s.clocks_per_bit(), 33);
    assert!(
        (ulx3s.baud_error() - 0.0101).abs() < 0.0001,
        "{}",
        ulx3s.baud_error()
    );
}
