//! The UART and the frame CRC (the host link's blocks). The UART against a bit-level model of the line: 8N1 frames at random baud divisors, idle
//! gaps and one-clock glitches; framing errors; transmitter and receiver back to back; and both
//! blocks' Verilog against their RustHDL simulation.

use fs_hdl::link::uart_rx::UartRx;
use fs_hdl::link::uart_tx::UartTx;
use fs_hdl::sim::{prepare, settle};
use fs_testbench::uart_line::line;
use fs_testbench::{Port, cross_check};
use proptest::prelude::*;

/// Feeds `levels` to a receiver; returns the bytes and the number of framing errors.
fn receive(cpb: u16, levels: &[bool]) -> (Vec<u8>, usize) {
    let mut uut = UartRx::new(cpb);
    prepare(&mut uut);
    let (mut bytes, mut errors) = (Vec::new(), 0);
    for &level in levels.iter().chain(&vec![true; 4 * cpb as usize]) {
        uut.rx.next = level;
        settle(&mut uut);
        if uut.valid.val() {
            bytes.push(uut.data.val().to_u64() as u8);
        }
        errors += uut.framing_error.val() as usize;
        uut.clock.next = true.into();
        settle(&mut uut);
        uut.clock.next = false.into();
        settle(&mut uut);
    }
    (bytes, errors)
}

proptest! {
    #[test]
    fn receiver_decodes_frames_and_ignores_glitches(
        cpb in 4u16..40,
        frames in proptest::collection::vec((any::<u8>(), 0usize..30), 1..12),
        glitches in proptest::collection::vec(any::<u16>(), 0..4),
    ) {
        let frames: Vec<_> = frames.into_iter().map(|(b, g)| (b, g, false)).collect();
        let mut levels = line(&frames, cpb as usize);
        // One-clock glitches, three clocks apart at least, in the idle time before the first
        // frame.
        for g in glitches {
            let at = 3 * (g as usize % (2 * cpb as usize / 3));
            levels[at] = false;
        }
        let (bytes, errors) = receive(cpb, &levels);
        prop_assert_eq!(bytes, frames.iter().map(|f| f.0).collect::<Vec<_>>());
        prop_assert_eq!(errors, 0);
    }

    #[test]
    fn a_low_stop_bit_is_a_framing_error_and_the_next_byte_arrives(
        cpb in 4u16..24, first in any::<u8>(), second in any::<u8>(),
    ) {
        let levels = line(&[(first, 5, true), (second, 5, false)], cpb as usize);
        let (bytes, errors) = receive(cpb, &levels);
        prop_assert_eq!(errors, 1);
        prop_assert_eq!(bytes, vec![second]);
    }

    #[test]
    fn transmitter_sends_8n1_and_the_receiver_reads_it(
        cpb in 4u16..24,
        bytes in proptest::collection::vec(any::<u8>(), 1..8),
        stalls in proptest::collection::vec(0usize..40, 8),
    ) {
        let mut tx = UartTx::new(cpb);
        prepare(&mut tx);
        let (mut levels, mut next, mut wait) = (Vec::new(), 0, stalls[0]);
        while next < bytes.len() || !tx.ready.val() || levels.len() < 20 {
            let offer = next < bytes.len() && wait == 0;
            tx.valid.next = offer;
            tx.data.next = (bytes.get(next).copied().unwrap_or(0) as u64).into();
            settle(&mut tx);
            levels.push(tx.tx.val());
            if offer && tx.ready.val() {
                next += 1;
                wait = stalls[next % stalls.len()];
            } else {
                wait = wait.saturating_sub(1);
            }
            tx.clock.next = true.into();
            settle(&mut tx);
            tx.clock.next = false.into();
            settle(&mut tx);
        }
        // Every bit lasts exactly `cpb` clocks: sample the model's way, at each bit's middle.
        let mut decoded = Vec::new();
        let mut i = 0;
        while i < levels.len() {
            if !levels[i] {
                let bit = |k: usize| levels[i + k * cpb as usize + cpb as usize / 2];
                prop_assert!(bit(9), "stop bit");
                decoded.push((1..=8).fold(0u8, |b, k| b | (bit(k) as u8) << (k - 1)));
                i += 10 * cpb as usize;
            } else {
                i += 1;
            }
        }
        prop_assert_eq!(&decoded, &bytes);
        let (received, errors) = receive(cpb, &levels);
        prop_assert_eq!(received, bytes);
        prop_assert_eq!(errors, 0);
    }
}

#[test]
fn receiver_verilog_agrees() {
    let cpb = 6;
    let frames: Vec<_> = (0..40u8)
        .map(|i| (i.wrapping_mul(37), (i % 5) as usize, i % 7 == 3))
        .collect();
    let vectors: Vec<Vec<u64>> = line(&frames, cpb).iter().map(|&l| vec![l as u64]).collect();
    let trace = cross_check(
        &mut UartRx::new(cpb as u16),
        &[Port::new("rx", 1)],
        &[
            Port::new("data", 8),
            Port::new("valid", 1),
            Port::new("framing_error", 1),
        ],
        &vectors,
        |u, v| u.rx.next = v[0] == 1,
        |u| {
            vec![
                u.data.val().into(),
                u.valid.val() as u64,
                u.framing_error.val() as u64,
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let count = |port: usize| trace.cycles.iter().filter(|c| c.outputs[port] == 1).count();
    assert_eq!((count(1), count(2)), (34, 6));
}

#[test]
fn transmitter_verilog_agrees() {
    let vectors: Vec<Vec<u64>> = (0..3000u64)
        .map(|c| vec![(c * 7919 % 251) & 0xff, (c % 3 != 0) as u64])
        .collect();
    let trace = cross_check(
        &mut UartTx::new(5),
        &[Port::new("data", 8), Port::new("valid", 1)],
        &[Port::new("ready", 1), Port::new("tx", 1)],
        &vectors,
        |u, v| {
            u.data.next = v[0].into();
            u.valid.next = v[1] == 1;
        },
        |u| vec![u.ready.val() as u64, u.tx.val() as u64],
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let low = trace.cycles.iter().filter(|c| c.outputs[1] == 0).count();
    assert!(low > 500, "{low} low cycles");
}

#[test]
fn crc16_verilog_agrees_and_checks_frames() {
    use fs_hdl::link::crc16::Crc16;
    use fs_hdl::protocol::crc16;
    // Frames of random bytes, each after a clear; the CRC after each frame is the protocol's.
    let mut vectors = Vec::new();
    let mut frames = Vec::new();
    let mut seed = 12345u64;
    for n in 0..30 {
        let frame: Vec<u8> = (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 56) as u8
            })
            .collect();
        vectors.push(vec![1, 0, 0]);
        for &b in &frame {
            vectors.push(vec![0, b as u64, 1]);
        }
        frames.push((vectors.len(), crc16(&frame)));
    }
    vectors.push(vec![0, 0, 0]);
    let trace = cross_check(
        &mut Crc16::default(),
        &[
            Port::new("clear", 1),
            Port::new("data", 8),
            Port::new("data_valid", 1),
        ],
        &[Port::new("crc", 16)],
        &vectors,
        |u, v| {
            u.clear.next = v[0] == 1;
            u.data.next = v[1].into();
            u.data_valid.next = v[2] == 1;
        },
        |u| vec![u.crc.val().into()],
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    // The CRC shows in the cycle after a frame's last byte.
    for (end, crc) in frames {
        assert_eq!(
            trace.cycles[end].outputs[0], crc as u64,
            "frame ending at {end}"
        );
    }
}
