//! The device behind FrontPanel-style word pipes (`fs_boards::pipe_bridge`, the XEM7010's core),
//! driven as Opal Kelly's endpoints drive it: requests written a word per clock in bursts,
//! the bytes waiting read from the wire, then read a word per clock, each sampled the clock
//! after its strobe. Responses are checked against `fs_hdl::protocol`, results against the
//! golden model.

use fs_boards::pipe_bridge::PipeBridge;
use fs_hdl::core::accelerator::HwConfig;
use fs_hdl::link::device::Device;
use fs_hdl::protocol::{
    Command, DEVICE_MAX_PAYLOAD, Frame, FrameDecoder, Identity, RESPONSE, ResultResponse,
    WAIT_FOR_RESULT, classify_payloads, encode_image, identity, pipe,
};
use fs_hdl::sim::compare::result_difference;
use fs_hdl::sim::{prepare, settle};
use fs_model::infer::FixedEngine;

struct Pipes {
    bridge: PipeBridge,
    decoder: FrameDecoder,
    sequence: u8,
    /// Every clock's inputs, `[in_write, in_word, out_read]`, to replay on the Verilog.
    vectors: Vec<Vec<u64>>,
}

impl Pipes {
    /// One clock with the given pipe inputs; returns `out_word` as it was before the edge.
    fn cycle(&mut self, write: Option<u16>, read: bool) -> u16 {
        let b = &mut self.bridge;
        b.in_write.next = write.is_some();
        b.in_word.next = (write.unwrap_or(0) as u64).into();
        b.out_read.next = read;
        self.vectors.push(vec![
            write.is_some() as u64,
            write.unwrap_or(0) as u64,
            read as u64,
        ]);
        settle(b);
        let word = b.out_word.val().index() as u16;
        b.clock.next = true.into();
        settle(b);
        b.clock.next = false.into();
        settle(b);
        word
    }

    /// Writes `bytes` as a pipe transfer: a word per clock, with a padding word inside.
    fn write(&mut self, bytes: &[u8]) {
        let words = pipe::to_words(bytes);
        for (n, pair) in words.chunks(2).enumerate() {
            if n == 1 {
                self.cycle(Some(0), false);
            }
            self.cycle(Some(u16::from_le_bytes([pair[0], pair[1]])), false);
        }
    }

    /// Reads `count` words in one burst: strobes on `count` clocks, each word sampled on the
    /// clock after its strobe.
    fn read(&mut self, count: usize) -> Vec<u8> {
        let mut words = Vec::new();
        for n in 0..=count {
            let word = self.cycle(None, n < count);
            if n > 0 {
                words.extend(word.to_le_bytes());
            }
        }
        words
    }

    /// Sends a request and polls the wire until its response has come.
    fn request(&mut self, command: Command, payload: Vec<u8>) -> Frame {
        self.sequence = self.sequence.wrapping_add(1);
        let bytes = Frame::new(self.sequence, command as u8, payload)
            .encode()
            .unwrap();
        self.write(&bytes);
        for _ in 0..100_000 {
            let waiting = self.bridge.out_waiting.val().index();
            if waiting > 0 {
                // Sometimes ask for more words than wait: the extra ones are padding.
                let words = self.read(waiting + (self.sequence % 2) as usize);
                self.decoder.push(&pipe::from_words(&words));
                if let Some(frame) = self.decoder.next_frame() {
                    let frame = frame.expect("a good frame");
                    assert_eq!(frame.sequence, self.sequence);
                    assert_eq!(frame.command, command as u8 | RESPONSE);
                    assert_eq!(self.bridge.out_waiting.val().index(), 0);
                    return frame;
                }
            }
            self.cycle(None, false);
        }
        panic!("no response to {command:?}");
    }
}

#[test]
fn the_device_answers_through_word_pipes() {
    let (model, test) = fs_testkit::shipped::digits();
    let config = HwConfig::new(vec![2, 2]);
    let mut bridge = PipeBridge::new(Device::new(&model, &config, 5000).unwrap());
    prepare(&mut bridge);
    let mut p = Pipes {
        bridge,
        decoder: FrameDecoder::new(),
        sequence: 0,
        vectors: Vec::new(),
    };
    let id = Identity::decode(&p.request(Command::Identify, vec![]).payload).unwrap();
    assert_eq!(id, identity(&model, &config).unwrap());

    // Images streamed as the host does it, then their results read one by one.
    let images: Vec<&[u8]> = (0..4).map(|i| test.image(i)).collect();
    let codes: Vec<Vec<u8>> = images.iter().map(|i| encode_image(i)).collect();
    let payloads = classify_payloads(&codes, DEVICE_MAX_PAYLOAD);
    let engine = FixedEngine::new(&model);
    let mut results = Vec::new();
    for payload in payloads {
        p.request(Command::Classify, payload);
        // Drain results until the decoder is free for the next payload.
        loop {
            let r = ResultResponse::decode(&p.request(Command::ReadResults, vec![]).payload, 10)
                .unwrap();
            if let Some(result) = r.result {
                results.push((r.index, result));
            }
            if !r.decoder_busy {
                break;
            }
        }
    }
    while results.len() < images.len() {
        let payload = p
            .request(Command::ReadResults, WAIT_FOR_RESULT.to_vec())
            .payload;
        let r = ResultResponse::decode(&payload, 10).unwrap();
        results.push((r.index, r.result.expect("a result")));
    }
    for (n, (index, (logits, class))) in results.iter().enumerate() {
        assert_eq!(*index as usize, n);
        if let Some(m) = result_difference(n, logits, *class as usize, &engine.run(images[n])) {
            panic!("{m}");
        }
    }

    // The bridge's Verilog does the same, clock for clock, under iverilog.
    use fs_testbench::{Port, cross_check};
    let trace = cross_check(
        &mut PipeBridge::new(Device::new(&model, &config, 5000).unwrap()),
        &[
            Port::new("in_write", 1),
            Port::new("in_word", 16),
            Port::new("out_read", 1),
        ],
        &[Port::new("out_word", 16), Port::new("out_waiting", 16)],
        &p.vectors,
        |u, v| {
            u.in_write.next = v[0] == 1;
            u.in_word.next = v[1].into();
            u.out_read.next = v[2] == 1;
        },
        |u| vec![u.out_word.val().into(), u.out_waiting.val().into()],
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let words = trace
        .cycles
        .iter()
        .filter(|c| c.outputs[0] & 0x100 != 0)
        .count();
    assert!(
        words > 100,
        "only {words} words offered: the session did little"
    );
}
