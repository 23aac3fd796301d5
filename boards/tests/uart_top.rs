//! The UART boards' top: the device behind the UART, spoken to bit by bit on the serial line.

use fs_boards::uart_top::UartTop;
use fs_boards::{Board, TopKind};
use fs_hdl::core::accelerator::HwConfig;
use fs_hdl::fpga::Part;
use fs_hdl::protocol::{
    Command, Frame, FrameDecoder, Identity, RESPONSE, ResultResponse, WAIT_FOR_RESULT,
    encode_image, identity,
};
use fs_hdl::sim::compare::result_difference;
use fs_hdl::sim::{prepare, settle};
use fs_model::infer::FixedEngine;
use fs_testbench::uart_line::{decode, line};
use fs_testkit::shipped::digits;

/// The board top: the device behind the UART, spoken to bit by bit on the serial line.
#[test]
fn board_top_answers_over_the_serial_line() {
    let (model, test) = digits();
    let board = Board {
        name: "test",
        part: Part::ICE40_UP5K,
        clock_hz: 5_000_000,
        baud: 1_000_000,
        leds_active_low: true,
        model: "models/digits-mlp.fsnn",
        lanes: &[2, 2],
        constraints: "",
        top: TopKind::Uart,
    };
    let cpb = board.clocks_per_bit() as usize;
    let mut top = UartTop::new(&board, &model).unwrap();
    prepare(&mut top);
    // Identify, one image, a read that waits for its result.
    let code = encode_image(test.image(3));
    let requests = [
        Frame::new(1, Command::Identify as u8, vec![]),
        Frame::new(2, Command::Classify as u8, code),
        Frame::new(3, Command::ReadResults as u8, WAIT_FOR_RESULT.to_vec()),
    ];
    let mut responses = Vec::new();
    for request in &requests {
        let bytes: Vec<_> = request
            .encode()
            .unwrap()
            .into_iter()
            .map(|b| (b, 0, false))
            .collect();
        let mut rx = line(&bytes, cpb).into_iter();
        let mut tx = Vec::new();
        let mut leds_seen = false;
        for cycle in 0..200_000 {
            top.uart_rx.next = rx.next().unwrap_or(true);
            settle(&mut top);
            tx.push(top.uart_tx.val());
            leds_seen |= !top.led_link.val();
            top.clock.next = true.into();
            settle(&mut top);
            top.clock.next = false.into();
            settle(&mut top);
            if cycle % 1000 == 999 {
                let mut decoder = FrameDecoder::new();
                decoder.push(&decode(&tx, cpb));
                if decoder.next_frame().is_some() {
                    break;
                }
            }
        }
        assert!(leds_seen, "the link LED lit (active low)");
        let mut decoder = FrameDecoder::new();
        decoder.push(&decode(&tx, cpb));
        responses.push(decoder.next_frame().expect("a response").unwrap());
    }
    let config = HwConfig::new(vec![2, 2]);
    assert_eq!(
        Identity::decode(&responses[0].payload).unwrap(),
        identity(&model, &config).unwrap()
    );
    assert_eq!(responses[1].command, Command::Classify as u8 | RESPONSE);
    let r = ResultResponse::decode(&responses[2].payload, 10).unwrap();
    let (logits, class) = r.result.expect("the result");
    assert_eq!(r.index, 0);
    let golden = FixedEngine::new(&model).run(test.image(3));
    if let Some(m) = result_difference(0, &logits, class as usize, &golden) {
        panic!("{m}");
    }
}
